//! The audit log's read side: filters, keyset pages, JSON lines, and who
//! sees what (tenant administrators everything, an organization's
//! administrators its members' events, owners their own tokens' events).

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::{bob_administers, create_ok, key, pat_body, send, user_id, ADMIN_SCOPES, USER_SCOPES};
use crate::support::{basic, TestApp};

fn ids(v: &Value) -> Vec<String> {
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn administrators_filter_and_page_the_log_and_export_it_as_json_lines() {
    let app = TestApp::spawn().await;
    let (secret, id) = create_ok(&app, "alice", "fabrikam", pat_body("a", "vso.code", false)).await;
    create_ok(&app, "bob", "fabrikam", pat_body("b", "vso.code", false)).await;
    // A refused verification and a refused caller are in the log too.
    assert_eq!(app.verify_status(&secret, "?scope=vso.work").await, 403);
    let sp = app.service_principal_jwt();
    let (s, _) = send(
        &app,
        Method::GET,
        "/fabrikam/_apis/tokens/pats?api-version=7.1",
        &sp,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    app.state.app.flush_usage().await;
    let admin = app.user_jwt("admin", ADMIN_SCOPES);
    let get = |q: String| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let (s, v) = send(
                app,
                Method::GET,
                &format!("/patrol/v1/audit{q}"),
                &admin,
                None,
            )
            .await;
            assert_eq!(s, StatusCode::OK, "{q}: {v}");
            v
        }
    };
    let all = get(String::new()).await;
    assert_eq!(all["view"], "tenant");
    let n = ids(&all).len();
    assert!(n >= 4, "{all}");
    let v = get(format!("?token={id}")).await;
    let actions: Vec<_> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["pat.verify", "pat.create"], "newest first");
    let v = get("?action=auth.reject".into()).await;
    assert_eq!(ids(&v).len(), 1);
    assert!(v["events"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("non-human"));
    let v = get(format!("?actor={}", urlencode(&key("bob")))).await;
    assert_eq!(ids(&v).len(), 1);
    let alice = user_id(&app, "alice").await;
    let v = get(format!("?user={alice}&action=pat.create")).await;
    assert_eq!(ids(&v).len(), 1);
    let v = get("?since=2999-01-01".into()).await;
    assert_eq!(ids(&v).len(), 0);
    let v = get("?until=2000-01-01".into()).await;
    assert_eq!(ids(&v).len(), 0);
    // Pages of one cover the same events, once each.
    let mut paged = Vec::new();
    let mut token = String::new();
    loop {
        let v = get(format!("?top=1&continuationToken={token}")).await;
        paged.extend(ids(&v));
        match v["continuationToken"].as_str() {
            Some(t) => token = t.to_owned(),
            None => break,
        }
    }
    assert_eq!(paged, ids(&all));
    // JSON lines: by query or by Accept, one event per line.
    let r = app
        .client
        .get(format!("{}/patrol/v1/audit?format=jsonl", app.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let text = r.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), n);
    let r = app
        .client
        .get(format!("{}/patrol/v1/audit?top=1", app.base))
        .header("accept", "application/x-ndjson")
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert!(r.headers().contains_key("x-ms-continuationtoken"));
    assert_eq!(r.text().await.unwrap().lines().count(), 1);
    for bad in [
        "?user=x",
        "?action=pat.nope",
        "?since=yesterday",
        "?continuationToken=!!",
        "?format=xml",
        "?top=0",
    ] {
        let (s, _) = send(
            &app,
            Method::GET,
            &format!("/patrol/v1/audit{bad}"),
            &admin,
            None,
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn owners_see_their_own_tokens_events_and_org_admins_their_members() {
    let app = TestApp::spawn_with(|c| bob_administers(c, "contoso")).await;
    let (secret, mine) =
        create_ok(&app, "alice", "fabrikam", pat_body("a", "vso.code", false)).await;
    create_ok(&app, "admin", "fabrikam", pat_body("x", "vso.code", false)).await;
    // An administrator revokes alice's token: alice sees that too.
    let admin = app.user_jwt("admin", ADMIN_SCOPES);
    let (s, _) = send(
        &app,
        Method::DELETE,
        &format!("/patrol/v1/admin/tokens/{mine}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        app.verify(Some(&basic("git", &secret)), "", None)
            .await
            .status(),
        401
    );
    app.state.app.flush_usage().await;
    let (s, v) = send(
        &app,
        Method::GET,
        "/patrol/v1/audit",
        &app.user_jwt("alice", USER_SCOPES),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["view"], "own");
    let actions: Vec<_> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["pat.verify", "pat.revoke", "pat.create"]);
    assert_eq!(v["events"][1]["actor"], key("admin"));
    // Asking about someone else's token shows nothing of it.
    let admins: Vec<_> = {
        let (_, all) = send(
            &app,
            Method::GET,
            "/patrol/v1/audit?action=pat.create",
            &admin,
            None,
        )
        .await;
        all["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["actor"] == key("admin").as_str())
            .map(|e| e["targetPat"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, v) = send(
        &app,
        Method::GET,
        &format!("/patrol/v1/audit?token={}", admins[0]),
        &app.user_jwt("alice", USER_SCOPES),
        None,
    )
    .await;
    assert_eq!(ids(&v).len(), 0);
    // Bob administers contoso: its members' events (alice, admin, bob are all members).
    let (s, v) = send(
        &app,
        Method::GET,
        "/patrol/v1/audit",
        &app.user_jwt("bob", ADMIN_SCOPES),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["view"], "organizations");
    assert!(ids(&v).len() >= 4);
    // Without the admin scope bob reads only his own.
    let (_, v) = send(
        &app,
        Method::GET,
        "/patrol/v1/audit",
        &app.user_jwt("bob", USER_SCOPES),
        None,
    )
    .await;
    assert_eq!(v["view"], "own");
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
