//! OidcVerifier against a mock provider: the negative matrix, issuer/tenant allow-list,
//! leeway, and ID-token time rules on the injected clock. JWKS behaviour is in `jwks`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use patrol_auth::{AuthError, IssuerConfig, PrincipalKind};
use serde_json::{json, Value};

use crate::common::*;

fn with(mut claims: Value, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    if let Some(obj) = claims.as_object_mut() {
        edit(obj);
    }
    claims
}

#[tokio::test]
async fn good_token_verifies() {
    let idp = MockIdp::start(&[key_a()]).await;
    let v = verifier(vec![idp.config()]);
    let ok = v
        .verify(&sign(key_a(), &good_claims(&idp.issuer)))
        .await
        .unwrap();
    assert_eq!(ok.issuer, idp.issuer);
    assert_eq!(
        ok.subject, "user-1",
        "sub keys users of an issuer without tenant_id"
    );
    assert_eq!(ok.claims.oid.as_deref(), Some("oid-1"));
    assert_eq!(ok.principal, PrincipalKind::User);
    assert!(v.has_keys());
    // `application/at+jwt` is the same typ.
    let claims = with(good_claims(&idp.issuer), |c| {
        c.remove("oid");
    });
    let t = sign_with(key_a(), &claims, |h| {
        h.typ = Some("application/AT+JWT".into())
    });
    assert_eq!(v.verify(&t).await.unwrap().subject, "user-1");
    // aud as an array with one allowed member.
    let claims = with(good_claims(&idp.issuer), |c| {
        c.insert("aud".into(), json!(["other", AUD]));
    });
    assert!(v.verify(&sign(key_a(), &claims)).await.is_ok());
}

/// The subject claim is the issuer's setting (default `sub`; `oid` for issuers with a
/// `tenant_id`), never a fallback from one to the other: a custom `oid` claim on a
/// non-Entra issuer cannot pick another user's key, and an Entra token without `oid` is refused.
#[tokio::test]
async fn subject_claim_is_per_issuer_without_fallback() {
    let idp = MockIdp::start(&[key_a()]).await;
    let plain = verifier(vec![idp.config()]);
    // User B carries user A's sub as `oid`: B is still B.
    let b_as_a = with(good_claims(&idp.issuer), |c| {
        c.insert("sub".into(), json!("user-b"));
        c.insert("oid".into(), json!("user-a"));
    });
    let t = sign(key_a(), &b_as_a);
    assert_eq!(plain.verify(&t).await.unwrap().subject, "user-b");

    let entra = verifier(vec![IssuerConfig {
        tenant_id: Some("tenant-1".into()),
        ..idp.config()
    }]);
    assert_eq!(entra.verify(&t).await.unwrap().subject, "user-a");
    let no_oid = with(good_claims(&idp.issuer), |c| {
        c.remove("oid");
    });
    let t = sign(key_a(), &no_oid);
    assert_eq!(invalid_reason(entra.verify(&t).await), "missing oid");
    let t = sign(
        key_a(),
        &with(no_oid.clone(), |c| {
            c.insert("oid".into(), json!(""));
        }),
    );
    assert_eq!(invalid_reason(entra.verify(&t).await), "missing oid");
    // A client-credentials token without oid is still verified as what it is, a machine (the
    // management API then answers 403 for service principals); it never keys a user.
    let robot = with(no_oid.clone(), |c| {
        c.insert("sub".into(), json!("some-client"));
    });
    let v = entra.verify(&sign(key_a(), &robot)).await.unwrap();
    assert!(matches!(v.principal, PrincipalKind::NonHuman(_)));
    assert_eq!(v.subject, "some-client");
    // Set explicitly, both ways.
    let entra_by_sub = verifier(vec![IssuerConfig {
        tenant_id: Some("tenant-1".into()),
        subject_claim: Some(patrol_auth::SubjectClaim::Sub),
        ..idp.config()
    }]);
    let t = sign(key_a(), &good_claims(&idp.issuer));
    assert_eq!(entra_by_sub.verify(&t).await.unwrap().subject, "user-1");
    let plain_by_oid = verifier(vec![IssuerConfig {
        subject_claim: Some(patrol_auth::SubjectClaim::Oid),
        ..idp.config()
    }]);
    assert_eq!(plain_by_oid.verify(&t).await.unwrap().subject, "oid-1");
    let t = sign(key_a(), &no_oid);
    assert_eq!(invalid_reason(plain_by_oid.verify(&t).await), "missing oid");
}

/// Whether the issuer vouches for the token's email: `email_verified: true` in the token, or
/// an issuer configured (or preset, with `tenant_id`) as verifying its emails.
#[tokio::test]
async fn email_is_vouched_for_by_the_token_or_the_issuer() {
    let idp = MockIdp::start(&[key_a()]).await;
    let plain = verifier(vec![idp.config()]);
    let entra = verifier(vec![IssuerConfig {
        tenant_id: Some("tenant-1".into()),
        ..idp.config()
    }]);
    let vouching = verifier(vec![IssuerConfig {
        emails_verified: Some(true),
        ..idp.config()
    }]);
    let email = |verified: Option<bool>| {
        sign(
            key_a(),
            &with(good_claims(&idp.issuer), |c| {
                c.insert("email".into(), json!("a@example.test"));
                if let Some(v) = verified {
                    c.insert("email_verified".into(), json!(v));
                }
            }),
        )
    };
    let verified = |v: &patrol_auth::OidcVerifier, t: String| {
        let v = v.clone();
        async move { v.verify(&t).await.unwrap().email_verified }
    };
    assert!(!verified(&plain, email(None)).await);
    assert!(!verified(&plain, email(Some(false))).await);
    assert!(verified(&plain, email(Some(true))).await);
    assert!(verified(&entra, email(None)).await);
    assert!(!verified(&entra, email(Some(false))).await);
    assert!(verified(&vouching, email(None)).await);
}

#[tokio::test]
async fn negative_matrix() {
    let idp = MockIdp::start(&[key_a()]).await;
    let v = verifier(vec![idp.config()]);
    let iss = idp.issuer.as_str();
    let a = key_a();
    let now = now();
    let good = good_claims(iss);
    let good_token = sign(a, &good);
    let (head, rest) = good_token.split_once('.').unwrap();
    let (body, sig) = rest.split_once('.').unwrap();
    // Change a character in the middle (the last one may only carry padding bits).
    let mut flipped_sig = sig.to_string();
    let other = if &flipped_sig[100..101] == "A" {
        "Q"
    } else {
        "A"
    };
    flipped_sig.replace_range(100..101, other);
    let swapped_body = URL_SAFE_NO_PAD.encode(
        with(good.clone(), |c| {
            c.insert("sub".into(), json!("admin"));
        })
        .to_string(),
    );
    let hs256 = |secret: &[u8]| {
        let mut h = Header::new(Algorithm::HS256);
        h.typ = Some("at+jwt".into());
        h.kid = Some(a.kid.clone());
        jsonwebtoken::encode(&h, &good, &EncodingKey::from_secret(secret)).unwrap()
    };
    let mut padded = good.clone();
    padded["pad"] = json!("x".repeat(MAX));
    const MAX: usize = patrol_auth::MAX_TOKEN_BYTES;

    let cases: Vec<(&str, String, &str)> = vec![
        (
            "alg none",
            raw_token(&json!({"alg":"none","typ":"at+jwt","kid":a.kid}), &good, ""),
            "malformed or unsupported header",
        ),
        (
            "alg None, signature kept",
            raw_token(
                &json!({"alg":"None","typ":"at+jwt","kid":a.kid}),
                &good,
                sig,
            ),
            "malformed or unsupported header",
        ),
        (
            "HS256 with the RSA public key PEM as secret",
            hs256(a.public_pem.as_bytes()),
            "algorithm not allowed",
        ),
        (
            "HS256 with the JWK modulus as secret",
            hs256(a.jwk["n"].as_str().unwrap().as_bytes()),
            "algorithm not allowed",
        ),
        (
            "RS384 when pinned to RS256",
            sign_with(a, &good, |h| h.alg = Algorithm::RS384),
            "algorithm not allowed",
        ),
        (
            "signature flipped",
            format!("{head}.{body}.{flipped_sig}"),
            "bad signature",
        ),
        (
            "signature stripped",
            format!("{head}.{body}."),
            "bad signature",
        ),
        (
            "signed by another key under our kid",
            sign_with(key_b(), &good, |h| h.kid = Some(a.kid.clone())),
            "bad signature",
        ),
        (
            "claims swapped after signing",
            format!("{head}.{swapped_body}.{sig}"),
            "bad signature",
        ),
        (
            "unknown kid",
            sign_with(a, &good, |h| h.kid = Some("nope".into())),
            "unknown kid",
        ),
        (
            "missing kid",
            sign_with(a, &good, |h| h.kid = None),
            "missing kid",
        ),
        (
            "unknown issuer",
            sign(
                a,
                &with(good.clone(), |c| {
                    c.insert("iss".into(), json!("https://evil.example"));
                }),
            ),
            "unknown issuer",
        ),
        (
            "issuer with trailing slash",
            sign(
                a,
                &with(good.clone(), |c| {
                    c.insert("iss".into(), json!(format!("{iss}/")));
                }),
            ),
            "unknown issuer",
        ),
        (
            "iss as array",
            sign(
                a,
                &with(good.clone(), |c| {
                    c.insert("iss".into(), json!([iss]));
                }),
            ),
            "malformed iss",
        ),
        (
            "missing iss",
            sign(
                a,
                &with(good.clone(), |c| {
                    c.remove("iss");
                }),
            ),
            "missing iss",
        ),
        (
            "wrong aud",
            sign(
                a,
                &with(good.clone(), |c| {
                    c.insert("aud".into(), json!("api://other"));
                }),
            ),
            "wrong audience",
        ),
        (
            "aud array without ours",
            sign(
                a,
                &with(good.clone(), |c| {
                    c.insert("aud".into(), json!(["x", "y"]));
                }),
            ),
            "wrong audience",
        ),
        (
            "missing aud",
            sign(
                a,
                &with(good.clone(), |c| {
                    c.remove("aud");
                }),
            ),
            "missing aud",
        ),
        (
            "ID token shaped (typ JWT, aud = client id)",
            sign_with(
                a,
                &with(good.clone(), |c| {
                    c.insert("aud".into(), json!("some-client"));
                    c.insert("nonce".into(), json!("n"));
                }),
                |h| h.typ = Some("JWT".into()),
            ),
            "wrong typ",
        ),
        (
            "typ JWT with the right aud",
            sign_with(a, &good, |h| h.typ = Some("JWT".into())),
            "wrong typ",
        ),
        (
            "typ missing",
            sign_with(a, &good, |h| h.typ = None),
            "wrong typ",
        ),
        (
            "expired beyond leeway",
            sign(
                a,
                &with(good.clone(), |c| {
                    c.insert("exp".into(), json!(now - 61));
                }),
            ),
            "expired",
        ),
        (
            "expired long ago",
            sign(
                a,
                &with(good.clone(), |c| {
                    c.insert("exp".into(), json!(now - 86_400));
                }),
            ),
            "expired",
        ),
        (
            "nbf in the future",
            sign(
                a,
                &with(good.clone(), |c| {
                    c.insert("nbf".into(), json!(now + 120));
                }),
            ),
            "not yet valid",
        ),
        (
            "missing exp",
            sign(
                a,
                &with(good.clone(), |c| {
                    c.remove("exp");
                }),
            ),
            "missing exp",
        ),
        (
            "exp as string",
            sign(
                a,
                &with(good.clone(), |c| {
                    c.insert("exp".into(), json!("tomorrow"));
                }),
            ),
            "malformed claims",
        ),
        (
            "missing sub",
            sign(
                a,
                &with(good.clone(), |c| {
                    c.remove("sub");
                }),
            ),
            "missing sub",
        ),
        (
            "empty sub",
            sign(
                a,
                &with(good.clone(), |c| {
                    c.insert("sub".into(), json!(""));
                }),
            ),
            "missing sub",
        ),
        (
            "crit header",
            sign_with(a, &good, |h| h.crit = Some(vec!["exp".into()])),
            "unsupported crit header",
        ),
        (
            "oversized (>16 KB) signed token",
            sign(a, &padded),
            "token too large",
        ),
        ("oversized garbage", "a".repeat(MAX + 1), "token too large"),
    ];
    for (name, token, want) in &cases {
        assert_eq!(invalid_reason(v.verify(token).await), *want, "case: {name}");
    }

    let garbage = [
        "",
        ".",
        "..",
        "...",
        "a",
        "a.b",
        "a.b.c",
        "a.b.c.d",
        "Bearer x",
        "\u{0}\u{1}.\u{2}.",
        "eyJ.eyJ.",
        "é.ü.ß",
        "eyJhbGciOiJSUzI1NiJ9.e30.",
        "eyJhbGciOlsiUlMyNTYiXX0.e30.x",
        "e30.e30.e30",
        "bnVsbA.bnVsbA.bnVsbA",
        "W10.W10.W10",
    ];
    for g in garbage {
        assert!(
            matches!(v.verify(g).await, Err(AuthError::Invalid(_))),
            "garbage {g:?}"
        );
    }
    let mut long_header = json!({"alg":"RS256","kid":a.kid,"typ":"at+jwt"});
    long_header["x"] = json!("é".repeat(1000));
    assert!(matches!(
        v.verify(&raw_token(&long_header, &good, "AAAA")).await,
        Err(AuthError::Invalid(_))
    ));
    // Nothing above was accepted, and the good token still is.
    assert!(v.verify(&good_token).await.is_ok());
}

#[tokio::test]
async fn tenant_and_issuer_allow_list() {
    let idp1 = MockIdp::start(&[key_a()]).await;
    let idp2 = MockIdp::start(&[key_b()]).await;
    let cfg1 = IssuerConfig {
        tenant_id: Some("tenant-1".into()),
        ..idp1.config()
    };
    let only1 = verifier(vec![cfg1.clone()]);
    assert!(only1
        .verify(&sign(key_a(), &good_claims(&idp1.issuer)))
        .await
        .is_ok());
    // A token that is perfectly valid at another provider is refused.
    let other = sign(key_b(), &good_claims(&idp2.issuer));
    assert_eq!(invalid_reason(only1.verify(&other).await), "unknown issuer");
    let wrong_tid = with(good_claims(&idp1.issuer), |c| {
        c.insert("tid".into(), json!("tenant-2"));
    });
    assert_eq!(
        invalid_reason(only1.verify(&sign(key_a(), &wrong_tid)).await),
        "wrong tenant"
    );
    let no_tid = with(good_claims(&idp1.issuer), |c| {
        c.remove("tid");
    });
    assert_eq!(
        invalid_reason(only1.verify(&sign(key_a(), &no_tid)).await),
        "wrong tenant"
    );

    // Trusting both: provider 2 cannot mint for provider 1 with its own key.
    let both = verifier(vec![cfg1, idp2.config()]);
    assert!(both.verify(&other).await.is_ok());
    let forged = sign(key_b(), &good_claims(&idp1.issuer));
    assert_eq!(invalid_reason(both.verify(&forged).await), "unknown kid");
}

#[tokio::test]
async fn leeway_boundaries_and_clamp() {
    let idp = MockIdp::start(&[key_a()]).await;
    let at = |exp: i64| {
        sign(
            key_a(),
            &with(good_claims(&idp.issuer), |c| {
                c.insert("exp".into(), json!(exp));
            }),
        )
    };
    let v30 = verifier(vec![IssuerConfig {
        leeway_secs: 30,
        ..idp.config()
    }]);
    assert!(
        v30.verify(&at(now() - 25)).await.is_ok(),
        "expired, but within the leeway"
    );
    assert_eq!(invalid_reason(v30.verify(&at(now() - 35)).await), "expired");
    let nbf = |nbf: i64| {
        sign(
            key_a(),
            &with(good_claims(&idp.issuer), |c| {
                c.insert("nbf".into(), json!(nbf));
            }),
        )
    };
    assert!(v30.verify(&nbf(now() + 25)).await.is_ok());
    assert_eq!(
        invalid_reason(v30.verify(&nbf(now() + 35)).await),
        "not yet valid"
    );

    // Leeway is clamped to 60 s whatever the configuration says.
    let v_big = verifier(vec![IssuerConfig {
        leeway_secs: 3600,
        ..idp.config()
    }]);
    assert!(v_big.verify(&at(now() - 55)).await.is_ok());
    assert_eq!(
        invalid_reason(v_big.verify(&at(now() - 65)).await),
        "expired"
    );
    let v0 = verifier(vec![IssuerConfig {
        leeway_secs: 0,
        ..idp.config()
    }]);
    assert_eq!(invalid_reason(v0.verify(&at(now() - 5)).await), "expired");
}

/// jsonwebtoken's public ES256 test key pair (not a secret).
const EC_PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgWTFfCGljY6aw3Hrt
kHmPRiazukxPLb6ilpRAewjW8nihRANCAATDskChT+Altkm9X7MI69T3IUmrQU0L
950IxEzvw/x5BMEINRMrXLBJhqzO9Bm+d6JbqA21YQmd1Kt4RzLJR1W+
-----END PRIVATE KEY-----
";

#[tokio::test]
async fn es256_only_when_pinned() {
    let idp = MockIdp::start(&[]).await;
    idp.set_raw_keys(vec![
        json!({"kty":"EC","crv":"P-256","kid":"ec1","use":"sig","alg":"ES256",
            "x":"w7JAoU_gJbZJvV-zCOvU9yFJq0FNC_edCMRM78P8eQQ",
            "y":"wQg1EytcsEmGrM70Gb53oluoDbVhCZ3Uq3hHMslHVb4"}),
        key_a().jwk.clone(),
    ]);
    let ec_key = EncodingKey::from_ec_pem(EC_PRIVATE_PEM.as_bytes()).unwrap();
    let es256 = |kid: &str| {
        let mut h = Header::new(Algorithm::ES256);
        h.typ = Some("at+jwt".into());
        h.kid = Some(kid.into());
        jsonwebtoken::encode(&h, &good_claims(&idp.issuer), &ec_key).unwrap()
    };
    let rs_only = verifier(vec![idp.config()]);
    assert_eq!(
        invalid_reason(rs_only.verify(&es256("ec1")).await),
        "algorithm not allowed"
    );
    let both = verifier(vec![IssuerConfig {
        algorithms: vec!["RS256".into(), "ES256".into()],
        ..idp.config()
    }]);
    assert!(both.verify(&es256("ec1")).await.is_ok());
    assert!(both
        .verify(&sign(key_a(), &good_claims(&idp.issuer)))
        .await
        .is_ok());
    // Algorithm/key confusion: ES256 header naming the RSA key, RS256 naming the EC key.
    assert_eq!(
        invalid_reason(both.verify(&es256(&key_a().kid)).await),
        "key does not match algorithm"
    );
    let rs_on_ec = sign_with(key_a(), &good_claims(&idp.issuer), |h| {
        h.kid = Some("ec1".into())
    });
    assert_eq!(
        invalid_reason(both.verify(&rs_on_ec).await),
        "key does not match algorithm"
    );
}
