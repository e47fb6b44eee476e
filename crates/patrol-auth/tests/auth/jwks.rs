//! JWKS handling: rotation without restart, rate-limited unknown-kid refetches, provider
//! outages with and without cached keys, key removal.

use std::time::Duration;

use crate::common::*;
use patrol_auth::{AuthError, IssuerConfig, OidcVerifier};

#[tokio::test]
async fn new_kid_after_rotation_without_restart() {
    let idp = MockIdp::start(&[key_a()]).await;
    let clock = manual_clock();
    let v = verifier_on(vec![idp.config()], clock.clone())
        .with_min_refetch_interval(Duration::from_millis(800));
    let claims = good_claims(&idp.issuer);
    let (by_a, by_b) = (sign(key_a(), &claims), sign(key_b(), &claims));
    assert!(v.verify(&by_a).await.is_ok());
    idp.set_keys(&[key_a(), key_b()]);
    // Inside the refetch interval the new kid is not fetched yet...
    assert_eq!(invalid_reason(v.verify(&by_b).await), "unknown kid");
    clock.advance(chrono::Duration::milliseconds(900));
    // ...after it, one refetch picks it up; the old key keeps working.
    assert!(v.verify(&sign(key_b(), &claims)).await.is_ok());
    assert!(v.verify(&sign(key_a(), &claims)).await.is_ok());
}

#[tokio::test]
async fn unknown_kid_flood_refetches_at_most_once() {
    let idp = MockIdp::start(&[key_a()]).await;
    let claims = good_claims(&idp.issuer);
    // Signed up front, so that the floods below take no CPU time inside the refetch interval.
    let random_kids = || -> Vec<String> {
        (0..50)
            .map(|_| {
                sign_with(key_a(), &claims, |h| {
                    h.kid = Some(uuid::Uuid::new_v4().to_string())
                })
            })
            .collect()
    };
    let floods = [random_kids(), random_kids(), random_kids()];
    let clock = manual_clock();
    let v = verifier_on(vec![idp.config()], clock.clone())
        .with_min_refetch_interval(Duration::from_millis(1000));
    v.refresh_all().await;
    assert!(v.has_keys());
    let warm = v.jwks_fetch_count();
    assert_eq!(warm, 2, "discovery + JWKS");
    clock.advance(chrono::Duration::milliseconds(1100));
    let flood = |v: OidcVerifier, tokens: &Vec<String>| {
        let tasks: Vec<_> = tokens
            .iter()
            .map(|t| {
                let (v, t) = (v.clone(), t.clone());
                tokio::spawn(async move { v.verify(&t).await })
            })
            .collect();
        async move {
            for t in tasks {
                assert_eq!(invalid_reason(t.await.unwrap()), "unknown kid");
            }
        }
    };
    flood(v.clone(), &floods[0]).await;
    assert_eq!(
        v.jwks_fetch_count() - warm,
        1,
        "one JWKS refetch for 50 random kids"
    );
    flood(v.clone(), &floods[1]).await;
    assert_eq!(
        v.jwks_fetch_count() - warm,
        1,
        "no refetch within the interval"
    );
    // Default interval is 60 s: a fresh verifier refetches nothing after its first fetch.
    let v60 = verifier(vec![idp.config()]);
    flood(v60.clone(), &floods[2]).await;
    assert_eq!(
        v60.jwks_fetch_count(),
        2,
        "cold start: a single discovery + JWKS fetch"
    );
    assert!(v60.verify(&sign(key_a(), &claims)).await.is_ok());
    assert_eq!(v60.jwks_fetch_count(), 2);
}

#[tokio::test]
async fn concurrent_cold_start_fetches_once() {
    let idp = MockIdp::start(&[key_a()]).await;
    let v = verifier(vec![idp.config()]);
    let token = sign(key_a(), &good_claims(&idp.issuer));
    let tasks: Vec<_> = (0..30)
        .map(|_| {
            let (v, t) = (v.clone(), token.clone());
            tokio::spawn(async move { v.verify(&t).await.is_ok() })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap());
    }
    assert_eq!(v.jwks_fetch_count(), 2);
}

#[tokio::test]
async fn provider_down_keeps_cached_keys() {
    let idp = MockIdp::start(&[key_a()]).await;
    let v = verifier(vec![idp.config()]).with_min_refetch_interval(Duration::ZERO);
    let claims = good_claims(&idp.issuer);
    assert!(v.verify(&sign(key_a(), &claims)).await.is_ok());
    idp.set_up(false);
    // A refetch attempt fails, the cache survives, known keys keep working.
    let unknown = sign_with(key_a(), &claims, |h| h.kid = Some("rotated?".into()));
    assert_eq!(invalid_reason(v.verify(&unknown).await), "unknown kid");
    assert!(v.verify(&sign(key_a(), &claims)).await.is_ok());
    v.refresh_all().await;
    assert!(v.has_keys());
    assert!(v.verify(&sign(key_a(), &claims)).await.is_ok());
}

#[tokio::test]
async fn no_keys_and_provider_down_is_unavailable() {
    let idp = MockIdp::start(&[key_a()]).await;
    idp.set_up(false);
    let v = verifier(vec![idp.config()]);
    v.refresh_all().await;
    assert!(!v.has_keys());
    let token = sign(key_a(), &good_claims(&idp.issuer));
    assert!(matches!(
        v.verify(&token).await,
        Err(AuthError::Unavailable)
    ));
    assert!(matches!(
        v.verify(&token).await,
        Err(AuthError::Unavailable)
    ));
    // Token problems that need no keys are still reported as invalid.
    assert!(matches!(
        v.verify("garbage").await,
        Err(AuthError::Invalid(_))
    ));

    // Provider reachable on a closed port: same answer, never acceptance.
    let (listener, base) = bind().await;
    drop(listener);
    let closed = verifier(vec![IssuerConfig {
        issuer: base.clone(),
        ..idp.config()
    }]);
    let token = sign(key_a(), &good_claims(&base));
    assert!(matches!(
        closed.verify(&token).await,
        Err(AuthError::Unavailable)
    ));

    // A discovery document naming another issuer is not trusted either.
    idp.set_up(true);
    idp.set_discovery_issuer("https://someone-else.example");
    let mismatched = verifier(vec![idp.config()]);
    let token = sign(key_a(), &good_claims(&idp.issuer));
    assert!(matches!(
        mismatched.verify(&token).await,
        Err(AuthError::Unavailable)
    ));
}

#[tokio::test]
async fn removed_key_rejected_after_refetch() {
    let idp = MockIdp::start(&[key_a(), key_b()]).await;
    let clock = manual_clock();
    let v = verifier_on(vec![idp.config()], clock.clone())
        .with_min_refetch_interval(Duration::from_millis(300));
    let claims = good_claims(&idp.issuer);
    assert!(v.verify(&sign(key_b(), &claims)).await.is_ok());
    idp.set_keys(&[key_a()]);
    clock.advance(chrono::Duration::milliseconds(400));
    // Any unknown kid triggers a refetch, which replaces the whole set.
    let probe = sign_with(key_a(), &claims, |h| h.kid = Some("probe".into()));
    assert_eq!(invalid_reason(v.verify(&probe).await), "unknown kid");
    assert_eq!(
        invalid_reason(v.verify(&sign(key_b(), &claims)).await),
        "unknown kid"
    );
    assert!(v.verify(&sign(key_a(), &claims)).await.is_ok());
}

#[tokio::test]
async fn a_token_accepted_before_is_still_refused_once_expired() {
    let idp = MockIdp::start(&[key_a()]).await;
    let v = verifier(vec![IssuerConfig {
        leeway_secs: 0,
        ..idp.config()
    }]);
    let mut claims = good_claims(&idp.issuer);
    claims["exp"] = serde_json::json!(now() + 1);
    let token = sign(key_a(), &claims);
    assert!(v.verify(&token).await.is_ok());
    assert!(v.verify(&token).await.is_ok(), "accepted again");
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(invalid_reason(v.verify(&token).await), "expired");
}
