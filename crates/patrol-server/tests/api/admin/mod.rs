//! Administration through the real HTTP surface: roles, memberships,
//! policies and the dry run, the Token Admin API, Patrol's admin API and
//! the audit log (docs/admin.md). Under the test harness (`patrol dev`'s
//! issuer) `admin` is a tenant administrator; alice and bob are not.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use patrol_auth::dev_issuer::dev_user;
use patrol_core::user::AuditAction;
use patrol_store::AuditQuery;

use crate::support::{TestApp, API};

mod audit;
mod members;
mod policies;
mod token_admin;

/// What an administrator's token carries.
pub const ADMIN_SCOPES: &str = "vso.tokenadministration vso.pats vso.pats_manage";
/// What a user's token carries.
pub const USER_SCOPES: &str = "vso.pats vso.pats_manage";

/// `patrol-dev|<oid>`.
pub fn key(user: &str) -> String {
    format!("patrol-dev|{}", dev_user(user).unwrap().oid)
}

pub fn oid(user: &str) -> &'static str {
    dev_user(user).unwrap().oid
}

/// Make `bob` an administrator of `org`.
pub fn bob_administers(cfg: &mut patrol_server::config::Config, org: &str) {
    cfg.roles
        .org_admins
        .insert(org.to_owned(), vec![key("bob")]);
}

/// One request with `jwt` (no credentials when empty); the status and the
/// JSON answer (`Null` when there is none).
pub async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    jwt: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app.client.request(method, format!("{}{path}", app.base));
    if !jwt.is_empty() {
        req = req.bearer_auth(jwt);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The PAT API (`/{org}/_apis/tokens/pats{suffix}`) as `user`.
pub async fn pats(
    app: &TestApp,
    user: &str,
    method: Method,
    org: &str,
    suffix: &str,
    body: Option<Value>,
) -> Value {
    let sep = if suffix.contains('?') { '&' } else { '?' };
    let path = format!("/{org}/_apis/tokens/pats{suffix}{sep}{API}");
    let (status, v) = send(app, method, &path, &app.user_jwt(user, USER_SCOPES), body).await;
    assert_eq!(status, StatusCode::OK, "{path}: {v}");
    v
}

/// Create a PAT as `user` through `org`; the whole `PatTokenResult`.
pub async fn create(app: &TestApp, user: &str, org: &str, body: Value) -> Value {
    pats(app, user, Method::POST, org, "", Some(body)).await
}

/// Create a PAT that must succeed: (secret, id).
pub async fn create_ok(app: &TestApp, user: &str, org: &str, body: Value) -> (String, Uuid) {
    let r = create(app, user, org, body).await;
    assert_eq!(r["patTokenError"], "none", "{r}");
    let t = &r["patToken"];
    (
        t["token"].as_str().unwrap().to_owned(),
        t["authorizationId"].as_str().unwrap().parse().unwrap(),
    )
}

/// A PAT body: name, scope, all organizations or not.
pub fn pat_body(name: &str, scope: &str, all_orgs: bool) -> Value {
    json!({"displayName": name, "scope": scope, "allOrgs": all_orgs})
}

/// The Patrol user id of a dev user (who has called the API at least once).
pub async fn user_id(app: &TestApp, user: &str) -> Uuid {
    let (status, v) = send(
        app,
        Method::GET,
        "/patrol/v1/admin/users?top=1000",
        &app.user_jwt("admin", ADMIN_SCOPES),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let k = key(user);
    let u = v["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["key"] == k.as_str())
        .unwrap_or_else(|| panic!("{user} not listed: {v}"));
    u["id"].as_str().unwrap().parse().unwrap()
}

/// Audit records of `action` so far.
pub async fn audit_of(app: &TestApp, action: AuditAction) -> Vec<patrol_core::user::AuditEvent> {
    app.state.app.flush_usage().await;
    let q = AuditQuery {
        action: Some(action),
        limit: 10_000,
        ..AuditQuery::default()
    };
    app.store.list_audit(&q).await.unwrap()
}

/// Every audit record so far.
pub async fn audit_count(app: &TestApp) -> usize {
    app.state.app.flush_usage().await;
    let q = AuditQuery {
        limit: 100_000,
        ..AuditQuery::default()
    };
    app.store.list_audit(&q).await.unwrap().len()
}
