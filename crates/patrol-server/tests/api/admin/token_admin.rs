//! The Token Admin API (docs/ado-wire-contract.md §5): a user's PATs by
//! subject descriptor, a page at a time with GUID continuation tokens;
//! revocations seen by the very next verify; revocation rules.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use patrol_core::user::{AuditAction, Outcome};

use super::{
    audit_count, audit_of, bob_administers, create_ok, oid, pat_body, send, user_id, ADMIN_SCOPES,
};
use crate::support::{TestApp, API};

fn aad(user: &str) -> String {
    format!("aad.{}", URL_SAFE_NO_PAD.encode(oid(user)))
}

async fn list(
    app: &TestApp,
    jwt: &str,
    org: &str,
    descriptor: &str,
    query: &str,
) -> (StatusCode, Value) {
    let path = format!("/{org}/_apis/TokenAdmin/PersonalAccessTokens/{descriptor}?{API}{query}");
    send(app, Method::GET, &path, jwt, None).await
}

#[tokio::test]
async fn a_users_tokens_are_listed_by_descriptor_a_page_at_a_time() {
    let app = TestApp::spawn().await;
    let mut in_fabrikam = Vec::new();
    for i in 0..5 {
        let (_, id) = create_ok(
            &app,
            "alice",
            "fabrikam",
            pat_body(&format!("t{i}"), "vso.code", false),
        )
        .await;
        in_fabrikam.push(id);
    }
    let (_, global) = create_ok(&app, "alice", "contoso", pat_body("g", "vso.work", true)).await;
    in_fabrikam.push(global);
    create_ok(
        &app,
        "alice",
        "contoso",
        pat_body("elsewhere", "vso.code", false),
    )
    .await;
    create_ok(
        &app,
        "bob",
        "fabrikam",
        pat_body("bob's", "vso.code", false),
    )
    .await;
    in_fabrikam.sort();
    let admin = app.user_jwt("admin", ADMIN_SCOPES);

    // The descriptor is the one the users listing shows.
    let (_, users) = send(&app, Method::GET, "/patrol/v1/admin/users", &admin, None).await;
    let alice = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["subject"] == oid("alice"))
        .unwrap();
    assert_eq!(alice["descriptor"], aad("alice"));

    let mut seen: Vec<Uuid> = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let q = format!("&pageSize=2&continuationToken={token}");
        let (s, v) = list(&app, &admin, "fabrikam", &aad("alice"), &q).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        pages += 1;
        for t in v["value"].as_array().unwrap() {
            assert_eq!(t["token"], Value::Null);
            assert_eq!(t["isPublic"], false);
            assert_eq!(t["isValid"], true);
            seen.push(t["authorizationId"].as_str().unwrap().parse().unwrap());
        }
        match &v["continuationToken"] {
            Value::Null => break,
            Value::String(next) => {
                Uuid::parse_str(next).expect("a GUID");
                token = next.clone();
            }
            other => panic!("continuationToken {other}"),
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen, in_fabrikam,
        "fabrikam's and global tokens, by id, each once"
    );
    // The Patrol descriptor names the same user.
    let id = user_id(&app, "alice").await;
    let native = format!("patrol.{}", URL_SAFE_NO_PAD.encode(id.to_string()));
    let (s, v) = list(&app, &admin, "fabrikam", &native, "&pageSize=100").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["value"].as_array().unwrap().len(), 6);
    assert_eq!(v["value"][0]["userId"], id.to_string());
    // SSH keys: none.
    let (_, v) = list(&app, &admin, "fabrikam", &aad("alice"), "&isPublic=true").await;
    assert_eq!(v, json!({"continuationToken": null, "value": []}));
    // Refusals.
    for (descriptor, query, status) in [
        ("msa.abc", "", StatusCode::BAD_REQUEST),
        ("aad.!!", "", StatusCode::BAD_REQUEST),
        (
            aad("alice").as_str(),
            "&pageSize=0",
            StatusCode::BAD_REQUEST,
        ),
        (
            aad("alice").as_str(),
            "&continuationToken=nope",
            StatusCode::BAD_REQUEST,
        ),
        (
            &format!("aad.{}", URL_SAFE_NO_PAD.encode(Uuid::new_v4().to_string())),
            "",
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (s, v) = list(&app, &admin, "fabrikam", descriptor, query).await;
        assert_eq!(s, status, "{descriptor}{query}: {v}");
    }
    let (s, _) = list(&app, &admin, "nowhere", &aad("alice"), "").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_revocation_is_refused_by_the_very_next_verify() {
    let app = TestApp::spawn().await;
    let (secret, id) = create_ok(&app, "alice", "fabrikam", pat_body("r", "vso.code", false)).await;
    let (other, other_id) =
        create_ok(&app, "alice", "contoso", pat_body("c", "vso.code", false)).await;
    assert_eq!(app.verify_status(&secret, "").await, 200);
    assert_eq!(app.verify_status(&secret, "").await, 200, "now cached");
    let admin = app.user_jwt("admin", ADMIN_SCOPES);
    let path = format!("/fabrikam/_apis/tokenadmin/revocations?{API}");
    // All or nothing: an id that does not reach fabrikam revokes nothing.
    let both = json!([{"authorizationId": id}, {"authorizationId": other_id}]);
    let (s, _) = send(&app, Method::POST, &path, &admin, Some(both)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(app.verify_status(&secret, "").await, 200);
    for bad in [
        json!([{}]),
        json!({"authorizationId": id}),
        json!([{"authorizationId": "x"}]),
    ] {
        let (s, v) = send(&app, Method::POST, &path, &admin, Some(bad.clone())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
    let before = audit_count(&app).await;
    let (s, v) = send(
        &app,
        Method::POST,
        &path,
        &admin,
        Some(json!([{"authorizationId": id}])),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    // One record: a revocation by the administrator, about alice's token.
    assert_eq!(audit_count(&app).await, before + 1);
    assert_eq!(app.verify_status(&secret, "").await, 401);
    assert_eq!(app.verify_status(&other, "").await, 200);
    let alice = user_id(&app, "alice").await;
    let rec = audit_of(&app, AuditAction::PatRevoke).await;
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0].target_pat, Some(id));
    assert_eq!(rec[0].target_user, Some(alice));
    assert_eq!(rec[0].actor, super::key("admin"));
}

#[tokio::test]
async fn a_revocation_rule_revokes_what_grants_its_scopes_and_is_kept() {
    let app = TestApp::spawn_with(|c| bob_administers(c, "fabrikam")).await;
    let mut revoked = Vec::new();
    let mut kept = Vec::new();
    for (user, org, scope, all, hit) in [
        ("alice", "fabrikam", "vso.code", false, true),
        ("alice", "fabrikam", "vso.code_write", false, true),
        ("alice", "fabrikam", "app_token", false, true),
        ("alice", "fabrikam", "vso.work", false, false),
        ("alice", "contoso", "vso.code", false, false),
        ("bob", "contoso", "vso.code vso.work", true, true),
    ] {
        let (secret, id) = create_ok(&app, user, org, pat_body(scope, scope, all)).await;
        if hit {
            revoked.push((secret, id))
        } else {
            kept.push((secret, id))
        }
    }
    let bob = app.user_jwt("bob", ADMIN_SCOPES);
    let path = format!("/fabrikam/_apis/tokenadmin/revocationrules?{API}");
    // Nothing was created before yesterday.
    let yesterday = (Utc::now() - Duration::days(1)).to_rfc3339();
    let (s, _) = send(
        &app,
        Method::POST,
        &path,
        &bob,
        Some(json!({"scopes": "vso.code", "createdBefore": yesterday})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    for (secret, _) in revoked.iter().chain(&kept) {
        assert_eq!(app.verify_status(secret, "").await, 200);
    }
    let (s, v) = send(
        &app,
        Method::POST,
        &path,
        &bob,
        Some(json!({"scopes": "vso.code"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(v, Value::Null, "an empty body");
    for (secret, _) in &revoked {
        assert_eq!(app.verify_status(secret, "").await, 401);
    }
    for (secret, _) in &kept {
        assert_eq!(app.verify_status(secret, "").await, 200);
    }
    let rules = audit_of(&app, AuditAction::AdminRevocationRule).await;
    assert_eq!(rules.len(), 2);
    let revokes = audit_of(&app, AuditAction::PatRevoke).await;
    assert_eq!(revokes.len(), revoked.len(), "one record per token revoked");
    assert!(revokes.iter().all(|e| e.outcome == Outcome::Success
        && e.detail
            .as_deref()
            .unwrap_or("")
            .starts_with("revocation rule")));
    // Kept for the record: listed with what they revoked.
    let (s, v) = send(
        &app,
        Method::GET,
        "/patrol/v1/admin/revocation-rules",
        &bob,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let listed: Vec<u64> = v["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["revoked"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, [4, 0], "newest first");
    assert_eq!(v["rules"][0]["organization"], "fabrikam");
    // Bob does not administer contoso; scopes are required and must be known.
    let contoso = format!("/contoso/_apis/tokenadmin/revocationrules?{API}");
    let (s, _) = send(
        &app,
        Method::POST,
        &contoso,
        &bob,
        Some(json!({"scopes": "vso.code"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    for bad in [
        json!({}),
        json!({"scopes": " "}),
        json!({"scopes": "vso.nope"}),
    ] {
        let (s, _) = send(&app, Method::POST, &path, &bob, Some(bad.clone())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn organization_administrators_reach_their_organization_only() {
    let app = TestApp::spawn_with(|c| bob_administers(c, "fabrikam")).await;
    let (_, in_contoso) =
        create_ok(&app, "alice", "contoso", pat_body("c", "vso.code", false)).await;
    let bob = app.user_jwt("bob", ADMIN_SCOPES);
    let (s, v) = list(&app, &bob, "fabrikam", &aad("alice"), "").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["value"], json!([]));
    let (s, _) = list(&app, &bob, "contoso", &aad("alice"), "").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let path = format!("/fabrikam/_apis/tokenadmin/revocations?{API}");
    let (s, _) = send(
        &app,
        Method::POST,
        &path,
        &bob,
        Some(json!([{"authorizationId": in_contoso}])),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = send(
        &app,
        Method::DELETE,
        &format!("/patrol/v1/admin/tokens/{in_contoso}"),
        &bob,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // The same with a tenant administrator works.
    let admin = app.user_jwt("admin", ADMIN_SCOPES);
    let (s, _) = send(
        &app,
        Method::DELETE,
        &format!("/patrol/v1/admin/tokens/{in_contoso}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
}
