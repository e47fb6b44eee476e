//! What real provisioning clients send: Entra ID's and Okta's exact request
//! shapes, users provisioned before their first sign-in, bad requests, and
//! the provisioning secret's refusals.

use reqwest::{Method, StatusCode};
use serde_json::json;

use patrol_core::user::AuditAction;

use super::{
    assert_error, entra_active, entra_create, joined, ok, scim, scim_on, PATCH, SECRET, USER,
};
use crate::admin::{audit_of, user_id};
use crate::support::{OtherIssuer, TestApp};

#[tokio::test]
async fn entra_id_request_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with(|c| scim_on(c, dir.path())).await;
    // Entra first asks whether the user exists, by userName.
    let q = "/Users?filter=userName+eq+%22alice%40example.com%22";
    let none = ok(&app, Method::GET, q, None).await;
    assert_eq!(none["totalResults"], 0);
    assert_eq!(none["Resources"], json!([]));
    let created = ok(&app, Method::POST, "/Users", Some(entra_create("alice"))).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["userName"], "alice@example.com");
    assert_eq!(created["name"]["givenName"], "alice");
    assert!(created
        .get("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        .is_none());
    // Joined to alice at once: her subject is the externalId.
    let alice = user_id(&app, "alice").await;
    assert_eq!(joined(&app, alice).await.unwrap().id.to_string(), id);
    // Found by userName (any case) and by externalId.
    let found = ok(
        &app,
        Method::GET,
        "/Users?filter=userName%20eq%20%22ALICE%40example.com%22",
        None,
    )
    .await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["id"], id.as_str());
    let by_ext = format!(
        "/Users?filter=externalId+eq+%22{}%22",
        crate::admin::oid("alice")
    );
    assert_eq!(
        ok(&app, Method::GET, &by_ext, None).await["totalResults"],
        1
    );
    // A second create of the same userName: 409 uniqueness.
    let (status, _, v) = scim(
        &app,
        SECRET,
        Method::POST,
        "/Users",
        Some(entra_create("alice")),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&v, 409, Some("uniqueness"));
    // Entra's attribute updates: path-less value objects with dotted keys,
    // filtered paths for values that do not exist yet.
    let patch = json!({"schemas": [PATCH], "Operations": [
        {"op": "Replace", "value": {"displayName": "Alice E.", "name.familyName": "Example-Smith"}},
        {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0100"},
        {"op": "Add", "path": "addresses[type eq \"work\"].formatted", "value": "kept nowhere"},
    ]});
    let patched = ok(&app, Method::PATCH, &format!("/Users/{id}"), Some(patch)).await;
    assert_eq!(patched["displayName"], "Alice E.");
    assert_eq!(patched["name"]["familyName"], "Example-Smith");
    assert_eq!(
        patched["phoneNumbers"],
        json!([{"type": "mobile", "value": "+1 555 0100"}])
    );
    assert!(patched.get("addresses").is_none());
    // Deactivation the way Entra sends it.
    let off = ok(
        &app,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(entra_active("False")),
    )
    .await;
    assert_eq!(off["active"], false);
    let u = app.store.get_user(alice).await.unwrap().unwrap();
    assert!(u.disabled);
    // Bad requests answer in the SCIM error shape with the right scimType.
    let cases = [
        (
            Method::GET,
            "/Users?filter=userName+xx+%22a%22".to_owned(),
            None,
            400,
            Some("invalidFilter"),
        ),
        (
            Method::GET,
            "/Users?count=abc".to_owned(),
            None,
            400,
            Some("invalidValue"),
        ),
        (
            Method::POST,
            "/Users".to_owned(),
            Some(json!({"schemas": [USER], "displayName": "no name"})),
            400,
            Some("invalidValue"),
        ),
        (
            Method::PATCH,
            format!("/Users/{id}"),
            Some(json!({"schemas": [PATCH], "Operations": [{"op": "remove"}]})),
            400,
            Some("noTarget"),
        ),
        (
            Method::PATCH,
            format!("/Users/{id}"),
            Some(
                json!({"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "emails[[", "value": 1}]}),
            ),
            400,
            Some("invalidPath"),
        ),
        (
            Method::PATCH,
            format!("/Users/{id}"),
            Some(json!({"Operations": [{"op": "Replace", "path": "active", "value": "maybe"}]})),
            400,
            Some("invalidValue"),
        ),
        (
            Method::GET,
            format!("/Users/{}", uuid::Uuid::new_v4()),
            None,
            404,
            None,
        ),
        (Method::GET, "/Users/not-a-uuid".to_owned(), None, 404, None),
    ];
    for (method, path, body, want, scim_type) in cases {
        let (status, ct, v) = scim(&app, SECRET, method, &path, body, None).await;
        assert_eq!(status.as_u16(), want, "{path}: {v}");
        assert_eq!(ct, "application/scim+json");
        assert_error(&v, want, scim_type);
    }
    let (status, _, v) = scim(&app, SECRET, Method::POST, "/Users", None, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_error(&v, 400, Some("invalidSyntax"));
}

#[tokio::test]
async fn okta_request_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with(|c| scim_on(c, dir.path())).await;
    let bob = user_id(&app, "bob").await;
    // Okta's lookup (paged) and create: the whole user, a password it
    // generated (ignored), no externalId — bob is matched by email.
    let q = "/Users?filter=userName%20eq%20%22bob%40example.com%22&startIndex=1&count=100";
    assert_eq!(ok(&app, Method::GET, q, None).await["totalResults"], 0);
    let okta_user = json!({
        "schemas": [USER],
        "userName": "bob@example.com",
        "name": {"givenName": "Bob", "familyName": "Example"},
        "emails": [{"primary": true, "value": "bob@example.com", "type": "work"}],
        "displayName": "Bob Example",
        "locale": "en-US",
        "externalId": "00u1abcdEFGHijklm0h7",
        "groups": [],
        "password": "gPz9-random",
        "active": true,
    });
    let created = ok(&app, Method::POST, "/Users", Some(okta_user.clone())).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(created.get("password").is_none());
    assert_eq!(joined(&app, bob).await.unwrap().id.to_string(), id);
    let page = ok(&app, Method::GET, q, None).await;
    assert_eq!(page["totalResults"], 1);
    assert_eq!(page["startIndex"], 1);
    assert_eq!(page["itemsPerPage"], 1);
    // Okta deactivates with a PUT of the whole user.
    let mut off = okta_user.clone();
    off["id"] = json!(id);
    off["active"] = json!(false);
    let put = ok(&app, Method::PUT, &format!("/Users/{id}"), Some(off)).await;
    assert_eq!(put["active"], false);
    assert_eq!(put["meta"]["version"], "W/\"2\"");
    assert!(app.store.get_user(bob).await.unwrap().unwrap().disabled);
    // Reactivates the same way; then deletes.
    let mut on = okta_user;
    on["active"] = json!(true);
    ok(&app, Method::PUT, &format!("/Users/{id}"), Some(on)).await;
    assert!(!app.store.get_user(bob).await.unwrap().unwrap().disabled);
    ok(&app, Method::DELETE, &format!("/Users/{id}"), None).await;
    let (status, _, v) = scim(
        &app,
        SECRET,
        Method::GET,
        &format!("/Users/{id}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&v, 404, None);
    // Deleting a user disables them.
    assert!(app.store.get_user(bob).await.unwrap().unwrap().disabled);
    let deletes = audit_of(&app, AuditAction::ScimUserDelete).await;
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0].actor, "scim|token-1");
    assert_eq!(deletes[0].target_user, Some(bob));
    // Paging over several records.
    for i in 0..5 {
        ok(
            &app,
            Method::POST,
            "/Users",
            Some(json!({"userName": format!("p{i}@example.com")})),
        )
        .await;
    }
    let page = ok(
        &app,
        Method::GET,
        "/Users?startIndex=2&count=2&filter=userName+sw+%22p%22",
        None,
    )
    .await;
    assert_eq!(page["totalResults"], 5);
    assert_eq!(page["itemsPerPage"], 2);
    assert_eq!(page["Resources"][0]["userName"], "p1@example.com");
    let page = ok(
        &app,
        Method::GET,
        "/Users?attributes=userName&count=1",
        None,
    )
    .await;
    let first = page["Resources"][0].as_object().unwrap();
    let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["id", "schemas", "userName"]);
}

#[tokio::test]
async fn a_user_provisioned_before_first_sign_in_joins_at_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let other = OtherIssuer::start().await;
    let app = TestApp::spawn_with(|c| {
        scim_on(c, dir.path());
        c.auth.issuers.push(other.config());
    })
    .await;
    // carol: known by her subject, provisioned inactive; dave: by user name, active.
    ok(&app, Method::POST, "/Users", Some(json!({
        "schemas": [USER], "userName": "carol@contoso.test", "externalId": "carol-sub", "active": false,
    }))).await;
    let dave_rec = ok(
        &app,
        Method::POST,
        "/Users",
        Some(json!({
            "schemas": [USER], "userName": "dave@contoso.test", "active": true,
        })),
    )
    .await;
    let list = |jwt: String| {
        let app = &app;
        async move {
            app.client
                .get(format!(
                    "{}/fabrikam/_apis/tokens/pats?{}",
                    app.base,
                    crate::support::API
                ))
                .bearer_auth(jwt)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // carol's first sign-in joins her record, which says she is inactive.
    let carol = other.jwt(
        "carol-sub",
        json!({"preferred_username": "carol@contoso.test"}),
    );
    assert_eq!(list(carol.clone()).await, StatusCode::FORBIDDEN);
    let users = app
        .store
        .list_users(&patrol_store::UserQuery {
            subject: Some("carol-sub".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let carol_user = users[0].user.clone();
    assert!(carol_user.disabled);
    assert!(joined(&app, carol_user.id).await.is_some());
    // dave: joined by his preferred_username, allowed in.
    let dave = other.jwt(
        "dave-sub",
        json!({"preferred_username": "DAVE@contoso.test"}),
    );
    assert!(list(dave).await.is_success());
    let users = app
        .store
        .list_users(&patrol_store::UserQuery {
            subject: Some("dave-sub".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let rec = joined(&app, users[0].user.id).await.unwrap();
    assert_eq!(rec.id.to_string(), dave_rec["id"].as_str().unwrap());
    // An unverified email does not join a record (anyone can claim one).
    ok(
        &app,
        Method::POST,
        "/Users",
        Some(json!({"userName": "erin@contoso.test", "active": false})),
    )
    .await;
    let erin = other.jwt(
        "erin-sub",
        json!({"email": "erin@contoso.test", "email_verified": false}),
    );
    assert!(list(erin).await.is_success());
    // Reactivating carol lets her in.
    let rec = joined(&app, carol_user.id).await.unwrap();
    ok(
        &app,
        Method::PATCH,
        &format!("/Users/{}", rec.id),
        Some(entra_active("True")),
    )
    .await;
    assert!(list(carol).await.is_success());
}

#[tokio::test]
async fn wrong_or_missing_secrets_are_refused_limited_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with(|c| {
        scim_on(c, dir.path());
        c.auth.max_failures_per_ip = 3;
    })
    .await;
    let from = Some("203.0.113.9");
    for secret in ["", "wrong-secret", &SECRET[..SECRET.len() - 1]] {
        let (status, ct, v) = scim(&app, secret, Method::GET, "/Users", None, from).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{secret}");
        assert_eq!(ct, "application/scim+json");
        assert_error(&v, 401, None);
    }
    // The address has used up its failures: even the right secret waits.
    let (status, _, v) = scim(&app, SECRET, Method::GET, "/Users", None, from).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_error(&v, 429, Some("tooMany"));
    // Another address is not affected.
    let (status, _, _) = scim(
        &app,
        SECRET,
        Method::GET,
        "/Users",
        None,
        Some("203.0.113.10"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let rejects = audit_of(&app, AuditAction::AuthReject).await;
    assert!(!rejects.is_empty());
    assert!(rejects
        .iter()
        .all(|e| e.source_ip.as_deref() == Some("203.0.113.9")));
    assert!(rejects.iter().any(|e| e
        .detail
        .as_deref()
        .unwrap_or("")
        .contains("SCIM provisioning secret")));
}
