//! `POST /patrol/v1/introspect` (RFC 7662) for registered resource servers.

use serde_json::{json, Value};

use crate::support::{unknown_token, TestApp, RS_ID, RS_SECRET};

#[tokio::test]
async fn active_pat() {
    let app = TestApp::spawn().await;
    let (pat, id) = app.create_pat("vso.code vso.packaging", false).await;
    let r = app
        .introspect(
            Some((RS_ID, RS_SECRET)),
            &[("token", &pat), ("token_type_hint", "pat")],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["active"], true);
    // The stable user id, never a name or email the user could change.
    assert_eq!(v["username"], v["sub"]);
    assert_eq!(v["name"], "Alice Example");
    assert_eq!(v["email"], "alice@example.com");
    assert_eq!(v["user_issuer"], "patrol-dev");
    assert_eq!(
        v["user_subject"],
        patrol_auth::dev_issuer::dev_user("alice").unwrap().oid
    );
    assert_eq!(v["scope"], "vso.code vso.packaging");
    assert_eq!(v["organizations"], json!(["fabrikam"]));
    assert_eq!(v["client_id"], RS_ID);
    assert_eq!(v["token_type"], "pat");
    assert_eq!(v["authorization_id"], id.to_string());
    assert!(v["sub"].as_str().unwrap().parse::<uuid::Uuid>().is_ok());
    let (exp, iat) = (v["exp"].as_i64().unwrap(), v["iat"].as_i64().unwrap());
    assert!(exp > iat && iat > 0);
    assert!(!v.to_string().contains(&pat));
    // Restricted to an organization.
    let r = app
        .introspect(
            Some((RS_ID, RS_SECRET)),
            &[("token", &pat), ("org", "fabrikam")],
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["active"], true);
    let r = app
        .introspect(
            Some((RS_ID, RS_SECRET)),
            &[("token", &pat), ("org", "contoso")],
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"active": false}));
}

#[tokio::test]
async fn inactive_and_foreign_tokens_are_only_inactive() {
    let clock = crate::support::manual_clock();
    let app = TestApp::spawn_with_clock(clock.clone(), |_| {}).await;
    let (expired, _) = app
        .create_pat_until(app.now() + crate::support::days(4))
        .await;
    clock.advance(crate::support::days(5));
    let (revoked, id) = app.create_pat("vso.code", false).await;
    app.revoke(id).await;
    let foreign = patrol_core::token::mint(
        app.now(),
        &patrol_core::token::MintOptions::with_signature("GHXX".parse().unwrap()),
        &mut rand::rngs::OsRng,
    )
    .unwrap();
    for token in [
        revoked.as_str(),
        foreign.expose(),
        &unknown_token(),
        &expired,
        "not-a-token",
        "",
    ] {
        let r = app
            .introspect(Some((RS_ID, RS_SECRET)), &[("token", token)])
            .await;
        assert_eq!(r.status(), 200, "{token}");
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(r.json::<Value>().await.unwrap(), json!({"active": false}));
    }
    assert_eq!(app.verify_audit(id).await, ["revoked"]);
    let audit = app
        .store
        .list_audit(&patrol_store::AuditQuery {
            target_pat: Some(id),
            action: Some(patrol_core::user::AuditAction::PatVerify),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit[0].client_id.as_deref(), Some(RS_ID));
}

#[tokio::test]
async fn callers_must_authenticate() {
    let app = TestApp::spawn().await;
    let (pat, _) = app.create_pat("vso.code", false).await;
    for client in [
        None,
        Some((RS_ID, "wrong-secret-0123456789")),
        Some(("someone-else", RS_SECRET)),
        Some((RS_ID, "")),
    ] {
        let r = app.introspect(client, &[("token", &pat)]).await;
        assert_eq!(r.status(), 401, "{client:?}");
        assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"patrol\"");
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(
            r.json::<Value>().await.unwrap(),
            json!({"error": "invalid_client"})
        );
    }
    // A PAT is not a client credential.
    let r = app
        .client
        .post(format!("{}/patrol/v1/introspect", app.base))
        .bearer_auth(&pat)
        .form(&[("token", &pat)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Malformed requests from an authenticated caller.
    let r = app
        .introspect(Some((RS_ID, RS_SECRET)), &[("token_type_hint", "pat")])
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    let r = app
        .client
        .post(format!("{}/patrol/v1/introspect", app.base))
        .basic_auth(RS_ID, Some(RS_SECRET))
        .json(&json!({"token": pat}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn guessing_client_secrets_is_limited() {
    let app = TestApp::spawn().await;
    for _ in 0..10 {
        let r = app
            .introspect(Some((RS_ID, "guess-guess-guess-guess")), &[("token", "x")])
            .await;
        assert_eq!(r.status(), 401);
    }
    let r = app
        .introspect(Some((RS_ID, RS_SECRET)), &[("token", "x")])
        .await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
}
