//! Each policy refuses and allows exactly as specified (allow-lists by user
//! and by group included), at create, update/extend and regenerate, with
//! the wire contract's `patTokenError` values; tokens issued before a
//! policy keep working; and the dry run lists exactly what enforcement
//! then refuses.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use patrol_core::user::{AuditAction, Outcome};

use super::{audit_of, create, create_ok, key, pat_body, pats, send, ADMIN_SCOPES};
use crate::support::TestApp;

/// Entra's Global Administrator role template: the dev issuer puts it in
/// `admin`'s `wids` claim, which these tests read as a groups claim.
const WIDS: &str = "62e90394-69f5-4237-9190-012177145e10";

fn groups_from_wids(cfg: &mut patrol_server::config::Config) {
    cfg.roles.issuers = vec![patrol_server::config::IssuerRolesSection {
        issuer: "patrol-dev".into(),
        groups_claim: "wids".into(),
    }];
}

async fn set_tenant(app: &TestApp, policy: Value) {
    let (s, v) = send(
        app,
        Method::PUT,
        "/patrol/v1/admin/policies/tenant",
        &app.user_jwt("admin", ADMIN_SCOPES),
        Some(policy),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

async fn set_org(app: &TestApp, org: &str, policy: Value) {
    let (s, v) = send(
        app,
        Method::PUT,
        &format!("/patrol/v1/admin/policies/organizations/{org}"),
        &app.user_jwt("admin", ADMIN_SCOPES),
        Some(policy),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

fn error_of(r: &Value) -> &str {
    r["patTokenError"].as_str().unwrap()
}

#[tokio::test]
async fn restricting_global_tokens_refuses_them_except_for_the_allow_list() {
    let app = TestApp::spawn_with(groups_from_wids).await;
    let (old_global, old_id) = create_ok(
        &app,
        "alice",
        "fabrikam",
        pat_body("before", "vso.code", true),
    )
    .await;
    set_tenant(
        &app,
        json!({"restrictGlobalPats": {"enabled": true, "allow": {"users": [key("bob")], "groups": [WIDS]}}}),
    )
    .await;
    let r = create(&app, "alice", "fabrikam", pat_body("g", "vso.code", true)).await;
    assert_eq!(
        r,
        json!({"patToken": null, "patTokenError": "globalPatPolicyViolation"})
    );
    create_ok(
        &app,
        "alice",
        "fabrikam",
        pat_body("pinned", "vso.code", false),
    )
    .await;
    create_ok(&app, "bob", "fabrikam", pat_body("g", "vso.code", true)).await;
    // By group: admin's token carries the group (read from its wids claim).
    create_ok(&app, "admin", "fabrikam", pat_body("g", "vso.code", true)).await;
    // The token made before the policy still works…
    assert_eq!(app.verify_status(&old_global, "?org=contoso").await, 200);
    // …but regenerating it is a new global token, and refused.
    let suffix = format!("/regenerate?authorizationId={old_id}");
    let r = pats(&app, "alice", Method::POST, "fabrikam", &suffix, None).await;
    assert_eq!(error_of(&r), "globalPatPolicyViolation");
    let rename = json!({"authorizationId": old_id, "displayName": "renamed"});
    let r = pats(&app, "alice", Method::PUT, "fabrikam", "", Some(rename)).await;
    assert_eq!(error_of(&r), "globalPatPolicyViolation");
    // Pinning it to one organization is allowed, and then regenerating too.
    let pin = json!({"authorizationId": old_id, "allOrgs": false});
    let r = pats(&app, "alice", Method::PUT, "fabrikam", "", Some(pin)).await;
    assert_eq!(error_of(&r), "none", "{r}");
    let r = pats(&app, "alice", Method::POST, "fabrikam", &suffix, None).await;
    assert_eq!(error_of(&r), "none", "{r}");
    // Each refusal is one audit record, outcome failure, naming the policy.
    let refused: Vec<_> = [
        AuditAction::PatCreate,
        AuditAction::PatUpdate,
        AuditAction::PatRegenerate,
    ]
    .into_iter()
    .collect();
    let mut failures = 0;
    for action in refused {
        for e in audit_of(&app, action).await {
            if e.outcome == Outcome::Failure {
                failures += 1;
                let d = e.detail.unwrap();
                assert!(d.contains("restrict global PAT creation"), "{d}");
            }
        }
    }
    assert_eq!(failures, 3);
    // The group came from admin's token and is remembered on their record
    // (web sessions and dry runs read it there).
    let admin = super::user_id(&app, "admin").await;
    let remembered = app.store.user_claims(admin).await.unwrap();
    assert_eq!(remembered.values("wids"), [WIDS]);
    let alice = super::user_id(&app, "alice").await;
    assert!(app.store.user_claims(alice).await.unwrap().is_empty());
}

#[tokio::test]
async fn restricting_full_scope_tokens_refuses_app_token_only() {
    let app = TestApp::spawn().await;
    set_tenant(
        &app,
        json!({"restrictFullScopePats": {"enabled": true, "allow": {"users": [key("bob")]}}}),
    )
    .await;
    for scope in ["app_token", ""] {
        let r = create(&app, "alice", "fabrikam", pat_body("f", scope, false)).await;
        assert_eq!(error_of(&r), "fullScopePatPolicyViolation", "{scope:?}");
    }
    let r = create(
        &app,
        "alice",
        "fabrikam",
        json!({"displayName": "no scope at all"}),
    )
    .await;
    assert_eq!(error_of(&r), "fullScopePatPolicyViolation");
    create_ok(
        &app,
        "alice",
        "fabrikam",
        pat_body("f", "vso.code_full vso.work_full", false),
    )
    .await;
    let (_, id) = create_ok(&app, "bob", "fabrikam", pat_body("f", "app_token", false)).await;
    let (_, narrow) = create_ok(&app, "alice", "fabrikam", pat_body("n", "vso.code", false)).await;
    // Widening to full access by update is refused too.
    let widen = json!({"authorizationId": narrow, "scope": "app_token"});
    let r = pats(&app, "alice", Method::PUT, "fabrikam", "", Some(widen)).await;
    assert_eq!(error_of(&r), "fullScopePatPolicyViolation");
    let suffix = format!("/regenerate?authorizationId={id}");
    let r = pats(&app, "bob", Method::POST, "fabrikam", &suffix, None).await;
    assert_eq!(error_of(&r), "none");
}

#[tokio::test]
async fn a_maximum_lifespan_refuses_longer_expiries_and_shortens_the_default() {
    let app = TestApp::spawn().await;
    set_tenant(
        &app,
        json!({"maxLifespan": {"enabled": true, "maxDays": 7, "allow": {"users": [key("bob")]}}}),
    )
    .await;
    let at = |days: i64| (Utc::now() + Duration::days(days)).to_rfc3339();
    let body = |days| json!({"displayName": "l", "scope": "vso.code", "validTo": at(days)});
    let r = create(&app, "alice", "fabrikam", body(8)).await;
    assert_eq!(error_of(&r), "patLifespanPolicyViolation");
    // Beyond even the server's maximum: the policy still speaks (not capped).
    let r = create(&app, "alice", "fabrikam", body(1000)).await;
    assert_eq!(error_of(&r), "patLifespanPolicyViolation");
    let (_, id) = create_ok(&app, "alice", "fabrikam", body(6)).await;
    create_ok(&app, "bob", "fabrikam", body(300)).await;
    // No expiry asked: the default (30 days) shortened to the policy's 7.
    let r = create(&app, "alice", "fabrikam", pat_body("d", "vso.code", false)).await;
    let valid_to = chrono::DateTime::parse_from_rfc3339(r["patToken"]["validTo"].as_str().unwrap())
        .unwrap()
        .to_utc();
    let left = valid_to - Utc::now();
    assert!(
        left <= Duration::days(7) && left > Duration::days(7) - Duration::minutes(5),
        "{r}"
    );
    // Extending beyond the maximum is refused; within it, allowed.
    let extend = |days| json!({"authorizationId": id, "validTo": at(days)});
    let r = pats(&app, "alice", Method::PUT, "fabrikam", "", Some(extend(30))).await;
    assert_eq!(error_of(&r), "patLifespanPolicyViolation");
    let r = pats(&app, "alice", Method::PUT, "fabrikam", "", Some(extend(7))).await;
    assert_eq!(error_of(&r), "none", "{r}");
}

#[tokio::test]
async fn an_organization_can_restrict_creation_to_an_allow_list() {
    let app = TestApp::spawn().await;
    set_org(
        &app,
        "fabrikam",
        json!({"restrictPatCreation": true, "allow": {"users": [key("bob")]}}),
    )
    .await;
    let r = create(&app, "alice", "fabrikam", pat_body("o", "vso.code", false)).await;
    assert_eq!(error_of(&r), "disablePatCreationPolicyViolation");
    // A global token reaches fabrikam (alice is a member): refused too.
    let r = create(&app, "alice", "contoso", pat_body("o", "vso.code", true)).await;
    assert_eq!(error_of(&r), "disablePatCreationPolicyViolation");
    // Another organization is not concerned.
    create_ok(&app, "alice", "contoso", pat_body("o", "vso.code", false)).await;
    create_ok(&app, "bob", "fabrikam", pat_body("o", "vso.code", true)).await;
    let r = create(
        &app,
        "alice",
        "fabrikam",
        pat_body("p", "vso.packaging", false),
    )
    .await;
    assert_eq!(error_of(&r), "disablePatCreationPolicyViolation");
    // Packaging-only tokens, once the organization allows them.
    set_org(
        &app,
        "fabrikam",
        json!({"restrictPatCreation": true, "allowPackagingPats": true, "allow": {"users": [key("bob")]}}),
    )
    .await;
    create_ok(
        &app,
        "alice",
        "fabrikam",
        pat_body("p", "vso.packaging_write vso.packaging", false),
    )
    .await;
    for scope in ["vso.packaging vso.code", "app_token", "vso.profile"] {
        let r = create(&app, "alice", "fabrikam", pat_body("p", scope, false)).await;
        assert_eq!(error_of(&r), "disablePatCreationPolicyViolation", "{scope}");
    }
}

#[tokio::test]
async fn invalid_policy_documents_are_refused() {
    let app = TestApp::spawn().await;
    let jwt = app.user_jwt("admin", ADMIN_SCOPES);
    for (path, body) in [
        (
            "/patrol/v1/admin/policies/tenant",
            json!({"maxLifespan": {"maxDays": 0}}),
        ),
        (
            "/patrol/v1/admin/policies/tenant",
            json!({"restrictGlobalPat": true}),
        ),
        (
            "/patrol/v1/admin/policies/tenant",
            json!({"restrictGlobalPats": {"allow": {"users": ["alice"]}}}),
        ),
        (
            "/patrol/v1/admin/policies/organizations/fabrikam",
            json!({"allow": {"groups": [""]}}),
        ),
    ] {
        let (s, v) = send(&app, Method::PUT, path, &jwt, Some(body.clone())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
    }
    let (s, _) = send(
        &app,
        Method::PUT,
        "/patrol/v1/admin/policies/organizations/nowhere",
        &jwt,
        Some(json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = send(&app, Method::GET, "/patrol/v1/admin/policies", &jwt, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["tenant"]["revokeLeakedPats"], true, "on by default: {v}");
    assert_eq!(v["organizations"].as_array().unwrap().len(), 2);
}

/// A token, and the organization to regenerate it through.
struct Made {
    id: Uuid,
    owner: &'static str,
    org: &'static str,
}

/// The dry run, then the same policies switched on: the tokens the dry run
/// listed (with the same `patTokenError`) are exactly those a regenerate
/// refuses — for each of several policy sets over the same tokens.
#[tokio::test]
async fn the_dry_run_lists_exactly_what_enforcement_refuses() {
    let app = TestApp::spawn_with(groups_from_wids).await;
    let mut made = Vec::new();
    let in_days = |d: i64| (Utc::now() + Duration::days(d)).to_rfc3339();
    for (owner, org, scope, all, days) in [
        ("alice", "fabrikam", "vso.code", false, 5),
        ("alice", "fabrikam", "app_token", false, 100),
        ("alice", "contoso", "vso.packaging", true, 20),
        ("alice", "contoso", "vso.packaging", false, 200),
        ("bob", "fabrikam", "app_token", true, 300),
        ("bob", "contoso", "vso.work", false, 3),
        ("admin", "fabrikam", "vso.code vso.packaging", true, 60),
        ("admin", "contoso", "app_token", false, 10),
    ] {
        let body = json!({"displayName": format!("{owner}-{scope}"), "scope": scope,
                          "allOrgs": all, "validTo": in_days(days)});
        let (_, id) = create_ok(&app, owner, org, body).await;
        made.push(Made { id, owner, org });
    }
    let allow_bob = json!({"users": [key("bob")]});
    let proposals = [
        json!({"tenant": {"restrictGlobalPats": {"enabled": true}}}),
        json!({"tenant": {"restrictGlobalPats": {"enabled": true, "allow": {"groups": [WIDS]}},
                          "restrictFullScopePats": {"enabled": true, "allow": allow_bob}}}),
        json!({"tenant": {"maxLifespan": {"enabled": true, "maxDays": 30}}}),
        json!({"tenant": {"maxLifespan": {"enabled": true, "maxDays": 90, "allow": allow_bob}}}),
        json!({"organizations": {"contoso": {"restrictPatCreation": true, "allowPackagingPats": true}}}),
        json!({"organizations": {"fabrikam": {"restrictPatCreation": true, "allow": allow_bob}},
               "tenant": {"restrictFullScopePats": {"enabled": true}}}),
    ];
    let admin = app.user_jwt("admin", ADMIN_SCOPES);
    for proposal in proposals {
        let (s, v) = send(
            &app,
            Method::POST,
            "/patrol/v1/admin/policies/dry-run",
            &admin,
            Some(proposal.clone()),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let listed: BTreeMap<String, String> = v["refused"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["token"]["authorizationId"].as_str().unwrap().to_owned(),
                    r["patTokenError"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert!(
            !listed.is_empty(),
            "every proposal refuses something: {proposal}"
        );
        // Switch the proposal on, and regenerate every token.
        if let Some(t) = proposal.get("tenant") {
            set_tenant(&app, t.clone()).await;
        }
        for (org, p) in proposal
            .get("organizations")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            set_org(&app, org, p.clone()).await;
        }
        let mut refused = BTreeMap::new();
        for m in &made {
            let suffix = format!("/regenerate?authorizationId={}", m.id);
            let r = pats(&app, m.owner, Method::POST, m.org, &suffix, None).await;
            let e = error_of(&r);
            if e != "none" {
                refused.insert(m.id.to_string(), e.to_owned());
            }
        }
        assert_eq!(listed, refused, "{proposal}");
        // Back to no policies for the next proposal.
        set_tenant(&app, json!({})).await;
        for org in ["fabrikam", "contoso"] {
            set_org(&app, org, json!({})).await;
        }
    }
    // Nothing about the dry run changed a token or wrote a policy record.
    let sets = audit_of(&app, AuditAction::AdminPolicySet).await.len();
    let (s, _) = send(
        &app,
        Method::POST,
        "/patrol/v1/admin/policies/dry-run",
        &admin,
        Some(json!({"tenant": {"restrictGlobalPats": {"enabled": true}}})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        audit_of(&app, AuditAction::AdminPolicySet).await.len(),
        sets
    );
    // An organization administrator may try their organization only.
    let bob = app.user_jwt("bob", ADMIN_SCOPES);
    let (s, _) = send(
        &app,
        Method::POST,
        "/patrol/v1/admin/policies/dry-run",
        &bob,
        Some(json!({"organizations": {"fabrikam": {}}})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "bob administers nothing here");
}
