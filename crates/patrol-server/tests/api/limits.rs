//! Failed-auth limits: per source address and per token, 429 + Retry-After,
//! other addresses unaffected, success resets, recovery after the window.

use crate::support::{basic, manual_clock, unknown_token, TestApp};

#[tokio::test]
async fn eleventh_failure_from_an_address_is_limited() {
    let app = TestApp::spawn().await;
    let (pat, _) = app.create_pat("vso.code", false).await;
    let attacker = Some("203.0.113.7");
    for i in 0..10 {
        let bad = if i % 2 == 0 {
            unknown_token()
        } else {
            format!("garbage{i}")
        };
        let r = app.verify(Some(&basic("git", &bad)), "", attacker).await;
        assert_eq!(r.status(), 401, "failure {}", i + 1);
    }
    let r = app
        .verify(Some(&basic("git", &unknown_token())), "", attacker)
        .await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(r.headers()["cache-control"], "no-store");
    // Even a valid PAT is refused from there until the window ends…
    assert_eq!(
        app.verify(Some(&basic("git", &pat)), "", attacker)
            .await
            .status(),
        429
    );
    // …while other addresses are unaffected.
    assert_eq!(
        app.verify(Some(&basic("git", &pat)), "", Some("203.0.113.8"))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.verify(Some(&basic("git", &pat)), "", Some("2001:db8::1"))
            .await
            .status(),
        200
    );
    // A forwarded address from an untrusted peer would be ignored; the
    // trusted peer itself (127.0.0.1) is a different client.
    assert_eq!(
        app.verify(Some(&basic("git", &pat)), "", None)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn one_valid_pat_does_not_reopen_an_address_and_limits_recover() {
    let clock = manual_clock();
    let app = TestApp::spawn_with_clock(clock.clone(), |c| c.verify.failure_window_secs = 2).await;
    let (pat, _) = app.create_pat("vso.code", false).await;
    let from = Some("198.51.100.9");
    // 9 guesses, the attacker's own valid PAT, 9 more guesses, … : the
    // success proves that PAT, not the guesses, so the count goes on.
    let mut refused_in_round = None;
    'rounds: for round in 1..=5 {
        for _ in 0..9 {
            let s = app
                .verify(Some(&basic("git", "nope")), "", from)
                .await
                .status();
            if s == 429 {
                refused_in_round = Some(round);
                break 'rounds;
            }
            assert_eq!(s, 401);
        }
        let s = app
            .verify(Some(&basic("git", &pat)), "", from)
            .await
            .status();
        if s == 429 {
            refused_in_round = Some(round);
            break;
        }
        assert_eq!(s, 200);
    }
    assert!(
        refused_in_round.is_some_and(|r| r <= 2),
        "limited by the second round, was {refused_in_round:?}"
    );
    let r = app.verify(Some(&basic("git", &pat)), "", from).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry <= 2);
    clock.advance(chrono::Duration::milliseconds(2100));
    assert_eq!(
        app.verify(Some(&basic("git", &pat)), "", from)
            .await
            .status(),
        200
    );
}

/// Behind a proxy that appends to `X-Forwarded-For` (nginx
/// `$proxy_add_x_forwarded_for`, cloud load balancers), what a client writes
/// itself stands left of its real address: garbage there must not move its
/// failures onto the proxy's address, which every client behind it shares.
#[tokio::test]
async fn client_written_forwarding_garbage_cannot_lock_out_the_proxy() {
    let app = TestApp::spawn().await;
    let (pat, _) = app.create_pat("vso.code", false).await;
    for _ in 0..11 {
        let s = app
            .verify(Some(&basic("git", "nope")), "", Some("junk, 203.0.113.9"))
            .await
            .status();
        assert!(s == 401 || s == 429);
    }
    // The attacker's own address is limited, wherever its header pointed…
    assert_eq!(
        app.verify(Some(&basic("git", &pat)), "", Some("203.0.113.9"))
            .await
            .status(),
        429
    );
    assert_eq!(
        app.verify(Some(&basic("git", &pat)), "", Some("203.0.113.9:5555"))
            .await
            .status(),
        429,
        "a hop with a port is the same address"
    );
    // …while the proxy's own address (all the others behind it) is not.
    assert_eq!(
        app.verify(Some(&basic("git", &pat)), "", None)
            .await
            .status(),
        200
    );
    assert_eq!(
        app.verify(Some(&basic("git", &pat)), "", Some("x, 198.51.100.7"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_token_failing_from_many_addresses_is_limited() {
    let app = TestApp::spawn_with(|c| c.verify.max_failures_per_token = 3).await;
    let (pat, id) = app.create_pat("vso.code", false).await;
    app.revoke(id).await;
    for i in 0..3 {
        let ip = format!("192.0.2.{}", 10 + i);
        assert_eq!(
            app.verify(Some(&basic("git", &pat)), "", Some(&ip))
                .await
                .status(),
            401
        );
    }
    let r = app
        .verify(Some(&basic("git", &pat)), "", Some("192.0.2.99"))
        .await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    // Other tokens from that address are fine.
    let (other, _) = app.create_pat("vso.code", false).await;
    assert_eq!(
        app.verify(Some(&basic("git", &other)), "", Some("192.0.2.99"))
            .await
            .status(),
        200
    );
}

/// The management API limits failed authentications per address too
/// (`docs/security.md` §1: too many failed authentications → 429 + Retry-After).
#[tokio::test]
async fn management_api_limits_failed_authentication_per_address() {
    let app = TestApp::spawn().await;
    let url = format!(
        "{}/fabrikam/_apis/tokens/pats?api-version=7.1-preview.1",
        app.base
    );
    let (pat, _) = app.create_pat("vso.code", false).await;
    let send = |auth: String, from: &'static str| {
        app.client
            .get(&url)
            .header("authorization", auth)
            .header("x-forwarded-for", from)
            .send()
    };
    for i in 0..30 {
        let auth = if i % 2 == 0 {
            "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln".to_owned()
        } else {
            basic("", &pat)
        };
        let r = send(auth, "198.51.100.9").await.unwrap();
        assert_eq!(r.status(), 401, "failure {}", i + 1);
    }
    let r = send(format!("Bearer {}", app.jwt()), "198.51.100.9")
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["typeKey"], "RequestLimitExceededException");
    // Another address is unaffected.
    let r = send(format!("Bearer {}", app.jwt()), "198.51.100.10")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Audited (`docs/security.md` item 26) without letting a flood flood the log:
    // the first failure from the address, and the one that hit the limit.
    let events = app
        .store
        .list_audit(&patrol_store::AuditQuery {
            action: Some(patrol_core::user::AuditAction::AuthReject),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let from: Vec<_> = events
        .iter()
        .filter(|e| e.source_ip.as_deref() == Some("198.51.100.9"))
        .collect();
    assert_eq!(from.len(), 2, "{from:?}");
    let details: Vec<&str> = from.iter().filter_map(|e| e.detail.as_deref()).collect();
    assert!(
        details.iter().any(|d| d.contains("first failure")),
        "{details:?}"
    );
    assert!(
        details.iter().any(|d| d.contains("30 failures")),
        "{details:?}"
    );
    assert!(from
        .iter()
        .all(|e| e.actor == "unauthenticated" && e.outcome == patrol_core::user::Outcome::Failure));
    for e in &from {
        assert!(
            !e.detail.as_deref().unwrap_or("").contains(&pat),
            "no secret in the audit log"
        );
    }
}

/// `POST` creating a PAT named `name` in fabrikam, as alice.
fn create_request(app: &TestApp, name: &str) -> reqwest::RequestBuilder {
    let url = format!(
        "{}/fabrikam/_apis/tokens/pats?api-version=7.1-preview.1",
        app.base
    );
    app.client
        .post(url)
        .bearer_auth(app.jwt())
        .json(&serde_json::json!({"displayName": name, "scope": "vso.code"}))
}

/// The answer to a create beyond `max_active_per_user = 2`.
fn assert_too_many_tokens(status: reqwest::StatusCode, body: &serde_json::Value) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["typeKey"], "SessionTokenCreateException");
    assert!(body["message"].as_str().unwrap().contains("2 active"));
}

/// `docs/security.md` item 21: a user cannot hold unboundedly many active PATs.
#[tokio::test]
async fn active_pats_per_user_are_capped() {
    let app = TestApp::spawn_with(|c| c.tokens.max_active_per_user = 2).await;
    let (_, first) = app.create_pat("vso.code", false).await;
    app.create_pat("vso.code", false).await;
    let third = create_request(&app, "third").send().await.unwrap();
    let status = third.status();
    assert_too_many_tokens(status, &third.json().await.unwrap());
    // Revoking one makes room again.
    app.revoke(first).await;
    app.create_pat("vso.code", false).await;
}

/// The cap holds under concurrent creates: 20 parallel POSTs against
/// `max_active_per_user = 2` store exactly 2 PATs; every other answer is the
/// usual too-many-tokens refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn active_pats_cap_holds_under_parallel_creates() {
    let app = TestApp::spawn_with(|c| c.tokens.max_active_per_user = 2).await;
    // The first PAT made in the usual way signs alice in (and joins her to
    // the organizations); revoking it leaves the cap's whole room free.
    let (_, first) = app.create_pat("vso.code", false).await;
    app.revoke(first).await;
    let posts: Vec<_> = (0..20)
        .map(|i| {
            let req = create_request(&app, &format!("racer {i}"));
            tokio::spawn(async move {
                let r = req.send().await.unwrap();
                (r.status(), r.json::<serde_json::Value>().await.unwrap())
            })
        })
        .collect();
    let mut created = Vec::new();
    for post in posts {
        let (status, body) = post.await.unwrap();
        match body["patToken"]["authorizationId"].as_str() {
            Some(id) if status == 200 => created.push(id.parse().unwrap()),
            _ => assert_too_many_tokens(status, &body),
        }
    }
    assert_eq!(created.len(), 2);
    let store = &app.store;
    let owner = store.get_pat(created[0]).await.unwrap().unwrap().owner;
    let now = chrono::Utc::now();
    assert_eq!(store.count_active_for_owner(owner, now).await.unwrap(), 2);
}

/// A refused request whose body was never read must not cost the client its
/// keep-alive connection: hyper closes a connection with an unread body,
/// racing the client's next request on it (seen as "connection reset").
#[tokio::test]
async fn refused_requests_with_bodies_keep_the_connection_alive() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn().await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let body = format!("{{\"displayName\":\"{}\"}}", "x".repeat(2000));
    for i in 0..3 {
        // No credentials: refused with 401 before anything reads the body.
        let req = format!(
            "POST /fabrikam/_apis/tokens/pats?api-version=7.1-preview.1 HTTP/1.1\r\nHost: {addr}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        // Headers first, the body a moment later, as clients often write them:
        // the refusal is ready before the body has arrived.
        let (head, tail) = req.split_at(req.len() - body.len());
        conn.write_all(head.as_bytes()).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        conn.write_all(tail.as_bytes()).await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = tokio::time::timeout(std::time::Duration::from_secs(5), conn.read(&mut buf))
                .await
                .expect("a response")
                .unwrap();
            assert!(n > 0, "request {i}: the server closed the connection");
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got);
            if let Some(end) = text.find("\r\n\r\n") {
                let len: usize = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if got.len() >= end + 4 + len {
                    break;
                }
            }
        }
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 401"), "{text}");
        assert!(
            !text.to_ascii_lowercase().contains("connection: close"),
            "{text}"
        );
    }
}

/// Too large a body is refused without reading the rest, so the response
/// tells the client the connection ends with it.
#[tokio::test]
async fn oversized_bodies_close_the_connection_openly() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .post(format!(
            "{}/fabrikam/_apis/tokens/pats?api-version=7.1-preview.1",
            app.base
        ))
        .bearer_auth(app.jwt())
        .header("content-type", "application/json")
        .body(format!("{{\"displayName\":\"{}\"}}", "x".repeat(200_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(r.headers()["connection"], "close");
    // The next request (a new connection) works.
    let (_, id) = app.create_pat("vso.code", false).await;
    assert_eq!(app.get_pat(id).await["authorizationId"], id.to_string());
}

/// A valid token that may not act (a service principal, a user token
/// without the scope) is an attempt too: refusals count against the
/// address and are audited flood-proof (first and at-limit per address,
/// caller and reason), so a looping robot can neither fill the audit log
/// nor call without limit.
#[tokio::test]
async fn refused_valid_tokens_are_counted_and_sampled_in_the_audit_log() {
    let app = TestApp::spawn().await;
    let url = format!(
        "{}/fabrikam/_apis/tokens/pats?api-version=7.1-preview.1",
        app.base
    );
    let robot = app.service_principal_jwt();
    let mut statuses = Vec::new();
    for _ in 0..100 {
        let r = app
            .client
            .get(&url)
            .bearer_auth(&robot)
            .header("x-forwarded-for", "198.51.100.20")
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert!(statuses[..30].iter().all(|s| *s == 403), "{statuses:?}");
    assert!(statuses[30..].iter().all(|s| *s == 429), "{statuses:?}");
    let rejects = |ip: &'static str| {
        let store = app.store.clone();
        async move {
            store
                .list_audit(&patrol_store::AuditQuery {
                    action: Some(patrol_core::user::AuditAction::AuthReject),
                    limit: 500,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_iter()
                .filter(|e| e.source_ip.as_deref() == Some(ip))
                .collect::<Vec<_>>()
        }
    };
    let rows = rejects("198.51.100.20").await;
    assert_eq!(
        rows.len(),
        2,
        "first refusal and the one at the limit: {rows:?}"
    );
    assert!(rows
        .iter()
        .all(|e| e.detail.as_deref().unwrap_or("").contains("non-human")));
    assert!(rows
        .iter()
        .any(|e| e.detail.as_deref().unwrap_or("").contains("30 times")));

    // A user without the scope: the same rule, its own audit key.
    let read_only = app.user_jwt("bob", "vso.pats");
    for _ in 0..5 {
        let r = app
            .client
            .post(&url)
            .bearer_auth(&read_only)
            .header("x-forwarded-for", "198.51.100.21")
            .json(&serde_json::json!({"displayName": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
    }
    assert_eq!(rejects("198.51.100.21").await.len(), 1);
    // The owner, from elsewhere, is unaffected.
    let r = app
        .client
        .get(&url)
        .bearer_auth(app.jwt())
        .header("x-forwarded-for", "198.51.100.22")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
