//! Roles, memberships and users; a non-administrator is refused (403) on
//! every admin route; every admin operation leaves exactly one audit record.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use patrol_core::user::AuditAction;

use super::{
    audit_count, audit_of, bob_administers, create_ok, key, pat_body, pats, send, user_id,
    ADMIN_SCOPES, USER_SCOPES,
};
use crate::support::{TestApp, API};

#[tokio::test]
async fn roles_come_from_configuration_and_patrol_dev_makes_admin_a_tenant_admin() {
    let app = TestApp::spawn_with(|c| bob_administers(c, "Fabrikam")).await;
    let (s, v) = send(
        &app,
        Method::GET,
        "/patrol/v1/admin/users",
        &app.user_jwt("admin", ADMIN_SCOPES),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let roles = |user: &str| {
        let k = key(user);
        v["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["key"] == k.as_str())
            .unwrap()["roles"]
            .clone()
    };
    assert_eq!(roles("admin"), json!({"tenantAdmin": true, "orgAdmin": []}));
    assert_eq!(
        roles("bob"),
        json!({"tenantAdmin": false, "orgAdmin": ["fabrikam"]})
    );
    assert_eq!(
        roles("alice"),
        json!({"tenantAdmin": false, "orgAdmin": []})
    );
    let alice = v["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["key"] == key("alice").as_str())
        .unwrap();
    assert_eq!(alice["disabled"], false);
    assert_eq!(alice["organizations"], json!(["contoso", "fabrikam"]));
    assert!(alice["descriptor"].as_str().unwrap().starts_with("aad."));
    // Bob lists fabrikam's members, not everyone.
    let bob = app.user_jwt("bob", ADMIN_SCOPES);
    let (s, _) = send(
        &app,
        Method::GET,
        "/patrol/v1/admin/organizations/fabrikam/members",
        &bob,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = send(&app, Method::GET, "/patrol/v1/admin/users", &bob, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = send(
        &app,
        Method::GET,
        "/patrol/v1/admin/users?organization=contoso",
        &bob,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn administrators_manage_members_and_a_removal_sticks_through_auto_join() {
    let app = TestApp::spawn().await;
    let (pinned, _) = create_ok(&app, "alice", "contoso", pat_body("c", "vso.code", false)).await;
    let (global, _) = create_ok(&app, "alice", "fabrikam", pat_body("g", "vso.code", true)).await;
    assert_eq!(app.verify_status(&pinned, "?org=contoso").await, 200);
    assert_eq!(app.verify_status(&global, "?org=contoso").await, 200);
    let alice = user_id(&app, "alice").await;
    let admin = app.user_jwt("admin", ADMIN_SCOPES);
    let member = format!("/patrol/v1/admin/organizations/contoso/members/{alice}");
    let (s, _) = send(&app, Method::DELETE, &member, &admin, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // Her tokens stop working there at once; she can no longer act through it.
    assert_eq!(app.verify_status(&pinned, "?org=contoso").await, 403);
    assert_eq!(app.verify_status(&global, "?org=contoso").await, 403);
    assert_eq!(app.verify_status(&global, "?org=fabrikam").await, 200);
    let path = format!("/contoso/_apis/tokens/pats?{API}");
    let (s, _) = send(
        &app,
        Method::GET,
        &path,
        &app.user_jwt("alice", USER_SCOPES),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // A restart with a new organization: auto-join adds everyone to it,
    // but does not undo the removal.
    let app = app
        .restart_with(|c| c.organizations.names = vec!["neworg".into()])
        .await;
    let admin = app.user_jwt("admin", ADMIN_SCOPES);
    let (_, v) = send(
        &app,
        Method::GET,
        "/patrol/v1/admin/users?top=100",
        &admin,
        None,
    )
    .await;
    let orgs = v["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == alice.to_string())
        .unwrap()["organizations"]
        .clone();
    assert_eq!(orgs, json!(["fabrikam", "neworg"]));
    // Added back by an administrator.
    let (s, _) = send(&app, Method::PUT, &member, &admin, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(app.verify_status(&pinned, "?org=contoso").await, 200);
    pats(&app, "alice", Method::GET, "contoso", "", None).await;
    // Unknown users and organizations.
    let nobody = uuid::Uuid::new_v4();
    let (s, _) = send(
        &app,
        Method::PUT,
        &format!("/patrol/v1/admin/organizations/contoso/members/{nobody}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = send(
        &app,
        Method::PUT,
        &format!("/patrol/v1/admin/organizations/nowhere/members/{alice}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// Every admin route, with a body that would be accepted.
fn admin_routes(alice: uuid::Uuid, token: uuid::Uuid) -> Vec<(Method, String, Option<Value>)> {
    let ta = |r: &str| format!("/fabrikam/_apis/tokenadmin/{r}?{API}");
    let descriptor = format!(
        "personalaccesstokens/aad.{}",
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            super::oid("alice")
        )
    );
    vec![
        (Method::GET, ta(&descriptor), None),
        (
            Method::POST,
            ta("revocations"),
            Some(json!([{"authorizationId": token}])),
        ),
        (
            Method::POST,
            ta("revocationrules"),
            Some(json!({"scopes": "vso.code"})),
        ),
        (Method::GET, "/patrol/v1/admin/policies".into(), None),
        (
            Method::PUT,
            "/patrol/v1/admin/policies/tenant".into(),
            Some(json!({})),
        ),
        (
            Method::PUT,
            "/patrol/v1/admin/policies/organizations/fabrikam".into(),
            Some(json!({})),
        ),
        (
            Method::POST,
            "/patrol/v1/admin/policies/dry-run".into(),
            Some(json!({})),
        ),
        (Method::GET, "/patrol/v1/admin/users".into(), None),
        (
            Method::GET,
            "/patrol/v1/admin/organizations/fabrikam/members".into(),
            None,
        ),
        (
            Method::PUT,
            format!("/patrol/v1/admin/organizations/fabrikam/members/{alice}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/patrol/v1/admin/organizations/fabrikam/members/{alice}"),
            None,
        ),
        (
            Method::GET,
            format!("/patrol/v1/admin/users/{alice}/tokens"),
            None,
        ),
        (
            Method::DELETE,
            format!("/patrol/v1/admin/tokens/{token}"),
            None,
        ),
        (
            Method::GET,
            "/patrol/v1/admin/revocation-rules".into(),
            None,
        ),
        (
            Method::POST,
            "/patrol/v1/admin/revocation-rules".into(),
            Some(json!({"scopes": "vso.code"})),
        ),
    ]
}

#[tokio::test]
async fn a_non_administrator_gets_403_on_every_admin_route() {
    let app = TestApp::spawn_with(|c| {
        bob_administers(c, "contoso");
        // Refused admissions count as failed authentications; this test makes many.
        c.auth.max_failures_per_ip = 1000;
    })
    .await;
    let (secret, token) =
        create_ok(&app, "alice", "fabrikam", pat_body("t", "vso.code", false)).await;
    let alice = user_id(&app, "alice").await;
    let before = audit_count(&app).await;
    let callers = [
        (
            "alice with the admin scope",
            app.user_jwt("alice", ADMIN_SCOPES),
        ),
        ("alice without it", app.user_jwt("alice", USER_SCOPES)),
        (
            "admin without the admin scope",
            app.user_jwt("admin", USER_SCOPES),
        ),
    ];
    let bob = app.user_jwt("bob", ADMIN_SCOPES);
    for (method, path, body) in admin_routes(alice, token) {
        let (s, v) = send(&app, method.clone(), &path, "", body.clone()).await;
        assert_eq!(
            s,
            StatusCode::UNAUTHORIZED,
            "{method} {path} without credentials: {v}"
        );
        for (who, jwt) in &callers {
            let (s, v) = send(&app, method.clone(), &path, jwt, body.clone()).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path} as {who}: {v}");
            assert_eq!(
                v["typeKey"], "InvalidAccessException",
                "{method} {path} as {who}"
            );
        }
        // Bob administers contoso: fabrikam's and the tenant's routes are not his.
        let tenant_wide = path == "/patrol/v1/admin/users"
            || path.ends_with("/policies/tenant")
            || (path.ends_with("/revocation-rules") && method == Method::POST);
        if path.contains("fabrikam") || tenant_wide {
            let (s, v) = send(&app, method.clone(), &path, &bob, body.clone()).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path} as bob: {v}");
        }
    }
    // Nothing changed; only refusals were recorded.
    assert_eq!(app.verify_status(&secret, "").await, 200);
    let rejects = audit_of(&app, AuditAction::AuthReject).await;
    assert!(rejects
        .iter()
        .any(|e| e.detail.as_deref() == Some("not an administrator of the tenant")));
    let changes = audit_count(&app).await - before - rejects.len();
    assert_eq!(changes, 0, "no state change was recorded");
}

#[tokio::test]
async fn every_admin_operation_leaves_exactly_one_audit_record() {
    let app = TestApp::spawn().await;
    let (_, token) = create_ok(&app, "alice", "fabrikam", pat_body("t", "vso.code", false)).await;
    let (_, second) = create_ok(&app, "alice", "fabrikam", pat_body("u", "vso.code", false)).await;
    let alice = user_id(&app, "alice").await;
    let admin = app.user_jwt("admin", ADMIN_SCOPES);
    let ta = |r: &str| format!("/fabrikam/_apis/tokenadmin/{r}?{API}");
    let ops: Vec<(Method, String, Option<Value>, AuditAction)> = vec![
        (
            Method::PUT,
            "/patrol/v1/admin/policies/tenant".into(),
            Some(json!({})),
            AuditAction::AdminPolicySet,
        ),
        (
            Method::PUT,
            "/patrol/v1/admin/policies/organizations/fabrikam".into(),
            Some(json!({})),
            AuditAction::AdminPolicySet,
        ),
        (
            Method::DELETE,
            format!("/patrol/v1/admin/organizations/contoso/members/{alice}"),
            None,
            AuditAction::AdminMemberRemove,
        ),
        (
            Method::DELETE,
            format!("/patrol/v1/admin/organizations/contoso/members/{alice}"),
            None,
            AuditAction::AdminMemberRemove,
        ),
        (
            Method::PUT,
            format!("/patrol/v1/admin/organizations/contoso/members/{alice}"),
            None,
            AuditAction::AdminMemberAdd,
        ),
        (
            Method::PUT,
            format!("/patrol/v1/admin/organizations/contoso/members/{alice}"),
            None,
            AuditAction::AdminMemberAdd,
        ),
        (
            Method::DELETE,
            format!("/patrol/v1/admin/tokens/{token}"),
            None,
            AuditAction::PatRevoke,
        ),
        (
            Method::DELETE,
            format!("/patrol/v1/admin/tokens/{token}"),
            None,
            AuditAction::PatRevoke,
        ),
        (
            Method::POST,
            ta("revocations"),
            Some(json!([{"authorizationId": second}])),
            AuditAction::PatRevoke,
        ),
        (
            Method::POST,
            ta("revocationrules"),
            Some(json!({"scopes": "vso.work"})),
            AuditAction::AdminRevocationRule,
        ),
        (
            Method::POST,
            "/patrol/v1/admin/revocation-rules".into(),
            Some(json!({"scopes": "vso.work"})),
            AuditAction::AdminRevocationRule,
        ),
    ];
    for (method, path, body, action) in ops {
        let before = audit_count(&app).await;
        let of_action = audit_of(&app, action).await.len();
        let (s, v) = send(&app, method.clone(), &path, &admin, body).await;
        assert!(s.is_success(), "{method} {path}: {s} {v}");
        assert_eq!(audit_count(&app).await, before + 1, "{method} {path}");
        let after = audit_of(&app, action).await;
        assert_eq!(after.len(), of_action + 1, "{method} {path}");
        let newest = &after[0];
        assert_eq!(newest.actor, key("admin"), "{method} {path}");
    }
    // Reads leave none.
    let before = audit_count(&app).await;
    for path in [
        "/patrol/v1/admin/policies",
        "/patrol/v1/admin/users",
        "/patrol/v1/admin/revocation-rules",
        "/patrol/v1/audit",
    ] {
        let (s, _) = send(&app, Method::GET, path, &admin, None).await;
        assert_eq!(s, StatusCode::OK, "{path}");
    }
    assert_eq!(audit_count(&app).await, before);
}
