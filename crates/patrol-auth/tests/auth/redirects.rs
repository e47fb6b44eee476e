//! No identity-provider request follows a redirect. A 307/308 from the token endpoint would
//! make a following client re-send the code and PKCE verifier, the refresh token or the
//! client secret to whatever host the `Location` names; discovery and JWKS redirects would let
//! another host choose the endpoints and keys. Every test uses the production client
//! ([`patrol_auth::http_client`]) and checks that the redirect target saw nothing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use patrol_auth::rp::{ClientAuth, RelyingParty, RpConfig, RpError};
use secrecy::SecretString;
use serde_json::json;

use crate::common::{
    bind, client, good_claims, invalid_reason, key_a, sign, spawn, system_clock, verifier, AUD,
};

/// A listener that counts every request it receives.
async fn thief() -> (String, Arc<AtomicUsize>) {
    let (listener, base) = bind().await;
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let router = Router::new().fallback(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Json(json!({"access_token": "stolen", "token_type": "Bearer"})) }
    });
    spawn(listener, router);
    (base, hits)
}

fn redirect_to(status: StatusCode, location: String) -> impl IntoResponse {
    (status, [("location", location)])
}

/// A provider whose discovery document is fine but whose token, revocation and JWKS endpoints
/// all answer `307 Location: <thief>/steal`.
async fn redirecting_provider(thief: &str) -> String {
    let (listener, base) = bind().await;
    let steal = format!("{thief}/steal");
    let doc = json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "revocation_endpoint": format!("{base}/revoke"),
        "jwks_uri": format!("{base}/keys"),
    });
    let (s1, s2, s3) = (steal.clone(), steal.clone(), steal);
    let router = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move { Json(doc) }),
        )
        .route(
            "/token",
            post(move || async move { redirect_to(StatusCode::TEMPORARY_REDIRECT, s1) }),
        )
        .route(
            "/revoke",
            post(move || async move { redirect_to(StatusCode::TEMPORARY_REDIRECT, s2) }),
        )
        .route(
            "/keys",
            get(move || async move { redirect_to(StatusCode::TEMPORARY_REDIRECT, s3) }),
        );
    spawn(listener, router);
    base
}

/// A provider whose discovery document itself answers `308 Location: <thief>/steal`.
async fn redirecting_discovery(thief: &str) -> String {
    let (listener, base) = bind().await;
    let steal = format!("{thief}/steal");
    let router = Router::new().route(
        "/.well-known/openid-configuration",
        get(move || async move { redirect_to(StatusCode::PERMANENT_REDIRECT, steal) }),
    );
    spawn(listener, router);
    base
}

fn rp(issuer: &str, client_auth: ClientAuth) -> RelyingParty {
    RelyingParty::new(
        RpConfig {
            issuer: issuer.to_owned(),
            discovery_url: None,
            client_id: "patrol-web".to_owned(),
            client_auth,
            redirect_uri: "https://patrol.example/signin/callback".to_owned(),
            scopes: "openid offline_access".to_owned(),
            resource: None,
            extra_authorize_params: Vec::new(),
        },
        client(),
        system_clock(),
    )
}

fn redirected(r: Result<impl std::fmt::Debug, RpError>) {
    match r {
        Err(RpError::Invalid("the endpoint redirected the request")) => {}
        other => panic!("expected a refused redirect, got {other:?}"),
    }
}

#[tokio::test]
async fn token_refresh_and_revocation_redirects_are_not_followed() {
    let (thief, hits) = thief().await;
    let issuer = redirecting_provider(&thief).await;
    for auth in [
        ClientAuth::SecretPost(SecretString::from("client-secret-in-the-body")),
        ClientAuth::SecretBasic(SecretString::from("client-secret-in-the-header")),
        ClientAuth::None,
    ] {
        let rp = rp(&issuer, auth);
        redirected(rp.exchange_code("the-code", "the-pkce-verifier").await);
        redirected(rp.refresh("the-refresh-token").await);
        redirected(rp.revoke_refresh_token("the-refresh-token").await);
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the redirect target saw nothing"
    );
}

#[tokio::test]
async fn discovery_and_jwks_redirects_are_not_followed() {
    let (thief, hits) = thief().await;

    // The relying party's discovery.
    let moved = redirecting_discovery(&thief).await;
    match rp(&moved, ClientAuth::None).refresh("rt").await {
        Err(RpError::Unavailable(why)) => assert!(why.contains("redirect"), "{why}"),
        other => panic!("{other:?}"),
    }

    // The verifier's discovery, and its JWKS.
    let token = |issuer: &str| sign(key_a(), &good_claims(issuer));
    let cfg = |issuer: &str| patrol_auth::IssuerConfig {
        issuer: issuer.to_owned(),
        discovery_url: None,
        audiences: vec![AUD.to_owned()],
        algorithms: vec!["RS256".to_owned()],
        leeway_secs: 60,
        required_typ: Some("at+jwt".to_owned()),
        tenant_id: None,
        service_account_username_prefix: None,
        subject_claim: None,
        emails_verified: None,
        allowed_client_ids: None,
    };
    let v = verifier(vec![cfg(&moved)]);
    assert_eq!(
        invalid_reason(v.verify(&token(&moved)).await),
        "UNAVAILABLE"
    );
    let keys_moved = redirecting_provider(&thief).await;
    let v = verifier(vec![cfg(&keys_moved)]);
    assert_eq!(
        invalid_reason(v.verify(&token(&keys_moved)).await),
        "UNAVAILABLE"
    );
    assert!(!v.has_keys());
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the redirect target saw nothing"
    );
}
