//! `GET|HEAD /patrol/v1/verify`: credentials, identity headers, scopes and
//! organizations, uniform failures, format rejection before the store.

use crate::support::{basic, days, flipped, manual_clock, unknown_token, TestApp};

#[tokio::test]
async fn basic_with_any_user_name_and_bearer() {
    let app = TestApp::spawn().await;
    let (pat, id) = app.create_pat("vso.code", false).await;
    for auth in [
        basic("", &pat),
        basic("git", &pat),
        basic("alice@example.com", &pat),
        basic(&pat, ""),
        format!("Bearer {pat}"),
    ] {
        let r = app
            .verify(Some(&auth), "?scope=vso.code&org=fabrikam", None)
            .await;
        assert_eq!(r.status(), 200);
        let h = r.headers();
        assert_eq!(h["x-patrol-user"], "Alice Example");
        assert_eq!(h["x-patrol-user-email"], "alice@example.com");
        assert_eq!(h["x-patrol-authorization-id"], id.to_string().as_str());
        assert_eq!(h["x-patrol-scopes"], "vso.code");
        assert!(!h["x-patrol-user-id"].is_empty());
        assert_eq!(h["x-patrol-user-issuer"], "patrol-dev");
        assert_eq!(
            h["x-patrol-user-subject"],
            patrol_auth::dev_issuer::dev_user("alice").unwrap().oid
        );
        assert_eq!(h["cache-control"], "no-store");
        let body = r.text().await.unwrap();
        assert!(!body.contains(&pat));
    }
    // HEAD works as well (nginx and Traefik may use it).
    let r = app
        .client
        .head(format!("{}/patrol/v1/verify", app.base))
        .header("authorization", basic("git", &pat))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn missing_or_invalid_credentials_are_challenged() {
    let app = TestApp::spawn().await;
    let r = app.verify(None, "", None).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"patrol\"");
    assert_eq!(r.headers()["cache-control"], "no-store");
    for auth in ["Basic !!!", "Negotiate abc", "Bearer ", "Basic Og=="] {
        let r = app.verify(Some(auth), "", None).await;
        assert_eq!(r.status(), 401, "{auth}");
        assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"patrol\"");
    }
    // A PAT in the query string is never a credential.
    let (pat, _) = app.create_pat("vso.code", false).await;
    assert_eq!(
        app.verify(None, &format!("?token={pat}&access_token={pat}"), None)
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn flipped_character_is_refused_without_store_access() {
    let app = TestApp::spawn().await;
    let (pat, _) = app.create_pat("vso.code", false).await;
    let before = app.stats();
    let r = app
        .verify(Some(&basic("git", &flipped(&pat))), "", Some("192.0.2.1"))
        .await;
    assert_eq!(r.status(), 401);
    let after = app.stats();
    assert_eq!(after.format_rejects, before.format_rejects + 1);
    assert_eq!(
        after.store_lookups, before.store_lookups,
        "no store lookup for a malformed token"
    );
    // Not a token at all, and a token of another provider signature: the same.
    let other = patrol_core::token::mint(
        chrono::Utc::now(),
        &patrol_core::token::MintOptions::with_signature("ZZZZ".parse().unwrap()),
        &mut rand::rngs::OsRng,
    )
    .unwrap();
    for bad in ["password123", other.expose()] {
        assert_eq!(app.verify_status(bad, "").await, 401);
    }
    let last = app.stats();
    assert_eq!(last.format_rejects, after.format_rejects + 2);
    assert_eq!(last.store_lookups, before.store_lookups);
    // A well-formed unknown token does reach the store.
    assert_eq!(app.verify_status(&unknown_token(), "").await, 401);
    assert_eq!(app.stats().store_lookups, before.store_lookups + 1);
    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("patrol_verify_format_rejects_total"));
    assert!(metrics.contains("patrol_verify_total{result=\"invalid\"}"));
    assert!(metrics.contains("patrol_verify_duration_seconds"));
}

#[tokio::test]
async fn wrong_scope_or_organization_is_forbidden() {
    let app = TestApp::spawn().await;
    let (pat, id) = app.create_pat("vso.code vso.packaging", false).await;
    assert_eq!(
        app.verify_status(&pat, "?scope=vso.code&org=fabrikam")
            .await,
        200
    );
    assert_eq!(
        app.verify_status(&pat, "?scope=vso.code,vso.packaging")
            .await,
        200
    );
    assert_eq!(
        app.verify_status(&pat, "?scope=vso.code%20vso.packaging&org=Fabrikam")
            .await,
        200
    );
    assert_eq!(app.verify_status(&pat, "?scope=vso.code_write").await, 403);
    assert_eq!(
        app.verify_status(&pat, "?scope=vso.code&scope=vso.build")
            .await,
        403
    );
    assert_eq!(app.verify_status(&pat, "?org=contoso").await, 403);
    assert_eq!(app.verify_status(&pat, "?org=nowhere").await, 403);
    // Forwarded-header requirements add to the query's, never replace them.
    let r = app
        .client
        .get(format!("{}/patrol/v1/verify?org=fabrikam", app.base))
        .header("authorization", basic("git", &pat))
        .header("x-patrol-org", "contoso")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = app
        .client
        .get(format!("{}/patrol/v1/verify", app.base))
        .header("authorization", basic("git", &pat))
        .header("x-patrol-scope", "vso.code_write")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("www-authenticate").is_none());
    // An unknown scope name is a proxy configuration error.
    assert_eq!(app.verify_status(&pat, "?scope=vso.bogus").await, 400);
    // The owner can see why.
    let details = app.verify_audit(id).await;
    assert!(
        details.iter().any(|d| d == "missing scope vso.code_write"),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d == "not valid in organization contoso"),
        "{details:?}"
    );

    // Write implies read; app_token grants everything; a global PAT works everywhere.
    let (write, _) = app.create_pat("vso.code_write", true).await;
    assert_eq!(
        app.verify_status(&write, "?scope=vso.code&org=contoso")
            .await,
        200
    );
    let (full, _) = app.create_pat("app_token", false).await;
    assert_eq!(
        app.verify_status(
            &full,
            "?scope=vso.code_manage,vso.packaging_write&org=fabrikam"
        )
        .await,
        200
    );
}

#[tokio::test]
async fn failures_look_the_same() {
    let clock = manual_clock();
    let app = TestApp::spawn_with_clock(clock.clone(), |_| {}).await;
    // Never used for 100 days: inactive. Created 10 days ago, valid for 9: expired.
    let (inactive, _) = app.create_pat_until(app.now() + days(110)).await;
    clock.advance(days(90));
    let (expired, _) = app.create_pat_until(app.now() + days(9)).await;
    clock.advance(days(10));
    let (revoked, rid) = app.create_pat("vso.code", false).await;
    app.revoke(rid).await;
    let (old_secret, gid) = app.create_pat("vso.code", false).await;
    let _new_secret = app.regenerate(gid).await;
    let mut answers = Vec::new();
    let pats = [
        unknown_token(),
        revoked,
        old_secret,
        expired,
        inactive,
        flipped(&unknown_token()),
    ];
    for (i, pat) in pats.iter().enumerate() {
        // One client address per token, so the failure limit stays out of it.
        let from = format!("192.0.2.{}", i + 1);
        for auth in [basic("git", pat), format!("Bearer {pat}")] {
            let r = app
                .verify(Some(&auth), "?scope=vso.code", Some(&from))
                .await;
            let h = r.headers().clone();
            let head = (
                r.status().as_u16(),
                h.get("www-authenticate").cloned(),
                h.get("content-type").cloned(),
                h.get("cache-control").cloned(),
            );
            answers.push((head, r.bytes().await.unwrap()));
        }
    }
    assert_eq!(answers[0].0 .0, 401);
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
}

/// Thousands of `org=` values are refused before any dedup work grows with
/// them (the check stops at the first value past the limit), without a
/// lookup, and the valid token still works with a sane request.
#[tokio::test]
async fn thousands_of_requirements_are_refused_cheaply() {
    let app = TestApp::spawn().await;
    let (pat, _) = app.create_pat("vso.code", true).await;
    let orgs: Vec<String> = (0..5_000).map(|i| format!("org=o{i}")).collect();
    let before = app.stats().store_lookups;
    let r = app
        .verify(
            Some(&basic("git", &pat)),
            &format!("?{}", orgs.join("&")),
            None,
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        app.stats().store_lookups,
        before,
        "refused before the store"
    );
    assert_eq!(
        app.verify_status(&pat, "?org=fabrikam&scope=vso.code")
            .await,
        200
    );
}

/// `/metrics` is unauthenticated: each scrape must not scan the tokens
/// table. Counts are read at most every 30 s; scrapes in between reuse them.
#[tokio::test]
async fn metrics_scrapes_reuse_recent_token_counts() {
    let app = TestApp::spawn().await;
    let first = app.state.app.token_counts().await.unwrap();
    app.create_pat("vso.code", false).await;
    for _ in 0..3 {
        let r = app
            .client
            .get(format!("{}/metrics", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    assert_eq!(
        app.state.app.token_counts().await.unwrap(),
        first,
        "a recent read is reused, so the new token is not counted yet"
    );
    let direct = app.store.count_by_status(chrono::Utc::now()).await.unwrap();
    assert_eq!(direct.active, first.active + 1, "while the store has it");
}
