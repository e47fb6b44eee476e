//! SCIM provisioning (docs/scim.md) through the real HTTP surface: Entra
//! ID's and Okta's request shapes, deactivation reaching PATs and web
//! sessions at once, the administrator's disable, the provisioning secret's
//! refusals, and the periodic interactive sign-in rule.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use patrol_server::config::{Config, SecretSource};
use patrol_store::ScimLookup;

use crate::admin::oid;
use crate::support::TestApp;

mod access;
mod clients;

pub const SECRET: &str = "scim-secret-0123456789abcdef0123456789";
pub const ROTATED: &str = "scim-secret-rotated-0123456789abcdef0123";
pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// SCIM on, with two secrets (the second as after a rotation) in files
/// under `dir`.
pub fn scim_on(c: &mut Config, dir: &std::path::Path) {
    let a = dir.join("scim-1");
    let b = dir.join("scim-2");
    std::fs::write(&a, SECRET).unwrap();
    std::fs::write(&b, format!("{ROTATED}\n")).unwrap();
    c.scim.enabled = true;
    c.scim.tokens = vec![SecretSource::File(a), SecretSource::File(b)];
}

/// One SCIM request with `secret` as the bearer (none when empty); the
/// status, the content type and the JSON answer.
pub async fn scim(
    app: &TestApp,
    secret: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    from: Option<&str>,
) -> (StatusCode, String, Value) {
    let mut req = app
        .client
        .request(method, format!("{}/scim/v2{path}", app.base));
    if !secret.is_empty() {
        req = req.bearer_auth(secret);
    }
    if let Some(ip) = from {
        req = req.header("x-forwarded-for", ip);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/scim+json")
            .body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = resp.text().await.unwrap();
    (
        status,
        ct,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

pub async fn ok(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Value {
    let (status, ct, v) = scim(app, SECRET, method, path, body, None).await;
    assert!(status.is_success(), "{path}: {status} {v}");
    if status != StatusCode::NO_CONTENT {
        assert_eq!(ct, "application/scim+json");
    }
    v
}

/// The SCIM error shape, with its status and scimType.
pub fn assert_error(v: &Value, status: u16, scim_type: Option<&str>) {
    assert_eq!(
        v["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
        "{v}"
    );
    assert_eq!(v["status"], status.to_string(), "{v}");
    match scim_type {
        Some(t) => assert_eq!(v["scimType"], t, "{v}"),
        None => assert!(v.get("scimType").is_none(), "{v}"),
    }
}

/// Entra ID's create request for a dev user, as its provisioning service sends it.
pub fn entra_create(user: &str) -> Value {
    let email = format!("{user}@example.com");
    json!({
        "schemas": [USER, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": oid(user),
        "userName": email,
        "active": true,
        "displayName": format!("{user} Example"),
        "emails": [{"primary": true, "type": "work", "value": email}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": format!("{user} Example"), "familyName": "Example", "givenName": user},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "42", "department": "R&D"},
    })
}

/// Entra ID's deactivation: a capitalised op and a boolean as a string.
pub fn entra_active(value: &str) -> Value {
    json!({"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": value}]})
}

/// The provisioned record joined to `user`, if any.
pub async fn joined(app: &TestApp, user: Uuid) -> Option<patrol_core::scim::ScimUser> {
    app.store
        .list_scim_users(&ScimLookup::JoinedTo(user))
        .await
        .unwrap()
        .pop()
}

#[tokio::test]
async fn disabled_scim_is_not_there() {
    let app = TestApp::spawn().await;
    let (status, ct, v) = scim(&app, SECRET, Method::GET, "/Users", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(ct, "application/scim+json");
    assert_error(&v, 404, None);
}

#[tokio::test]
async fn discovery_documents() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with(|c| scim_on(c, dir.path())).await;
    let spc = ok(&app, Method::GET, "/ServiceProviderConfig", None).await;
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["filter"]["supported"], true);
    assert_eq!(spc["bulk"]["supported"], false);
    assert_eq!(spc["authenticationSchemes"][0]["type"], "oauthbearertoken");
    let rts = ok(&app, Method::GET, "/ResourceTypes", None).await;
    assert_eq!(rts["Resources"][0]["endpoint"], "/Users");
    assert_eq!(rts["Resources"][0]["schema"], USER);
    let schemas = ok(&app, Method::GET, "/Schemas", None).await;
    let names: Vec<&str> = schemas["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["User", "ServiceProviderConfig", "ResourceType", "Schema"]
    );
    let user = ok(&app, Method::GET, &format!("/Schemas/{USER}"), None).await;
    let attrs: Vec<&str> = user["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    for a in ["userName", "name", "displayName", "active", "emails"] {
        assert!(attrs.contains(&a), "{a} missing: {attrs:?}");
    }
    let (status, _, v) = scim(&app, SECRET, Method::GET, "/Nonsense", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&v, 404, None);
    // The rotated secret works as well.
    let (status, _, _) = scim(&app, ROTATED, Method::GET, "/Users", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let created = ok(
        &app,
        Method::POST,
        "/Users",
        Some(json!({"schemas": [USER], "userName": "x@example.com"})),
    )
    .await;
    assert!(created["meta"]["location"]
        .as_str()
        .unwrap()
        .ends_with(&format!(
            "/scim/v2/Users/{}",
            created["id"].as_str().unwrap()
        )));
}
