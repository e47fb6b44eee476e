//! ID-token validation (`OidcVerifier::verify_id_token`) with hand-forged tokens, and its
//! time rule on the injected clock.

use std::sync::Arc;

use patrol_auth::{AuthError, OidcVerifier, PrincipalKind};
use patrol_core::clock::ManualClock;
use serde_json::{json, Value};

use crate::common::{client, key_a, key_b, now, sign_with, verifier, MockIdp};

fn id_claims(issuer: &str, nonce: &str) -> Value {
    let now = now();
    json!({
        "iss": issuer, "aud": "web-client", "sub": "user-1", "oid": "oid-1",
        "nonce": nonce, "iat": now, "exp": now + 300,
    })
}

#[tokio::test]
async fn id_token_rules() {
    let idp = MockIdp::start(&[key_a()]).await;
    let verifier = verifier(vec![idp.config()]);
    let id = |claims: &Value| sign_with(key_a(), claims, |h| h.typ = Some("JWT".into()));
    let check = |token: String| {
        let verifier = verifier.clone();
        async move { verifier.verify_id_token(&token, "web-client", "n-1").await }
    };

    let good = id_claims(&idp.issuer, "n-1");
    let v = check(id(&good)).await.unwrap();
    assert_eq!(
        v.subject, "user-1",
        "the issuer's subject claim, like access tokens"
    );
    let mut no_oid = good.clone();
    no_oid.as_object_mut().unwrap().remove("oid");
    assert_eq!(check(id(&no_oid)).await.unwrap().subject, "user-1");
    // An Entra-shaped issuer keys by oid: an ID token without one is refused, not keyed by sub.
    let entra = crate::common::verifier(vec![patrol_auth::IssuerConfig {
        tenant_id: Some("tenant-1".into()),
        ..idp.config()
    }]);
    let mut entra_good = good.clone();
    entra_good["tid"] = json!("tenant-1");
    let mut entra_no_oid = no_oid.clone();
    entra_no_oid["tid"] = json!("tenant-1");
    let v = entra
        .verify_id_token(&id(&entra_good), "web-client", "n-1")
        .await
        .unwrap();
    assert_eq!(v.subject, "oid-1");
    assert!(matches!(
        entra
            .verify_id_token(&id(&entra_no_oid), "web-client", "n-1")
            .await,
        Err(AuthError::Invalid("missing oid"))
    ));
    // No typ at all is fine too.
    assert!(check(sign_with(key_a(), &good, |h| h.typ = None))
        .await
        .is_ok());
    // Users with app roles (Entra puts them in ID tokens, which never carry scp) are users.
    let mut roles = good.clone();
    roles["roles"] = json!(["Patrol.Admin"]);
    assert_eq!(
        check(id(&roles)).await.unwrap().principal,
        PrincipalKind::User
    );
    // Several audiences: azp must name us.
    let mut multi = good.clone();
    multi["aud"] = json!(["web-client", "other"]);
    multi["azp"] = json!("web-client");
    assert!(check(id(&multi)).await.is_ok());

    let edit = |f: &dyn Fn(&mut Value)| {
        let mut c = good.clone();
        f(&mut c);
        c
    };
    let removed = |claim: &'static str| {
        edit(&move |c: &mut Value| {
            c.as_object_mut().unwrap().remove(claim);
        })
    };
    let cases: Vec<(&str, String)> = vec![
        (
            "access token presented as ID token",
            sign_with(key_a(), &good, |h| h.typ = Some("at+jwt".into())),
        ),
        (
            "access token presented as ID token",
            sign_with(key_a(), &good, |h| {
                h.typ = Some("application/AT+JWT".into())
            }),
        ),
        ("missing nonce", id(&removed("nonce"))),
        ("wrong nonce", id(&edit(&|c| c["nonce"] = json!("n-2")))),
        ("malformed nonce", id(&edit(&|c| c["nonce"] = json!(1)))),
        ("wrong audience", id(&edit(&|c| c["aud"] = json!("other")))),
        (
            "missing azp",
            id(&edit(&|c| c["aud"] = json!(["web-client", "other"]))),
        ),
        (
            "wrong azp",
            id(&edit(&|c| {
                c["aud"] = json!(["web-client", "other"]);
                c["azp"] = json!("other");
            })),
        ),
        ("wrong azp", id(&edit(&|c| c["azp"] = json!("other")))),
        (
            "unknown issuer",
            id(&edit(&|c| c["iss"] = json!("https://evil.example"))),
        ),
        ("expired", id(&edit(&|c| c["exp"] = json!(now() - 61)))),
        (
            "not yet valid",
            id(&edit(&|c| c["nbf"] = json!(now() + 120))),
        ),
        (
            "issued in the future",
            id(&edit(&|c| c["iat"] = json!(now() + 120))),
        ),
        ("missing iat", id(&removed("iat"))),
        ("missing sub", id(&removed("sub"))),
        ("missing exp", id(&removed("exp"))),
        (
            "bad signature",
            sign_with(key_b(), &good, |h| {
                h.typ = Some("JWT".into());
                h.kid = Some(key_a().kid.clone());
            }),
        ),
    ];
    for (expected, token) in cases {
        match check(token).await {
            Err(AuthError::Invalid(reason)) => assert_eq!(reason, expected),
            other => panic!("{expected}: must be refused, got {other:?}"),
        }
    }
    // Empty expectations are refused outright.
    assert!(verifier
        .verify_id_token(&id(&good), "", "n-1")
        .await
        .is_err());
    assert!(verifier
        .verify_id_token(&id(&good), "web-client", "")
        .await
        .is_err());
}

/// "`iat` not in the future" is judged by the verifier's clock, not the wall clock.
#[tokio::test]
async fn id_token_iat_follows_the_injected_clock() {
    let idp = MockIdp::start(&[key_a()]).await;
    let good = id_claims(&idp.issuer, "n-1");
    let iat = good["iat"].as_i64().unwrap();
    let at = |secs: i64| chrono::DateTime::from_timestamp(secs, 0).unwrap();
    let clock = Arc::new(ManualClock::new(at(iat)));
    let verifier = OidcVerifier::new(vec![idp.config()], client(), clock.clone());
    let token = sign_with(key_a(), &good, |h| h.typ = Some("JWT".into()));
    let check = || verifier.verify_id_token(&token, "web-client", "n-1");
    assert!(check().await.is_ok());
    // Move the clock back: the token is issued in the future beyond the 60 s leeway...
    clock.set(at(iat - 61));
    assert!(matches!(
        check().await,
        Err(AuthError::Invalid("issued in the future"))
    ));
    // ...and within it one second later.
    clock.advance(chrono::Duration::seconds(1));
    assert!(check().await.is_ok());
    clock.set(at(iat - 3600));
    assert!(matches!(
        check().await,
        Err(AuthError::Invalid("issued in the future"))
    ));
    // Later is fine for `iat` (`exp` is jsonwebtoken's, checked on the system time).
    clock.set(at(iat + 120));
    assert!(check().await.is_ok());
}
