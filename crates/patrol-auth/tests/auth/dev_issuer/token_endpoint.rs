//! The dev issuer's token endpoint: authorization code + PKCE, refresh-token rotation,
//! client credentials (secret post and basic).

use serde_json::Value;

use super::*;

async fn token(env: &Env, form: &[(&str, &str)]) -> (u16, Value) {
    let resp = env
        .http
        .post(format!("{}/token", env.issuer))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    assert_eq!(resp.headers()[reqwest::header::CACHE_CONTROL], "no-store");
    assert_eq!(resp.headers()[reqwest::header::PRAGMA], "no-cache");
    (status, resp.json().await.unwrap())
}

fn refs<'a>(form: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    form.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn authorization_code_pkce_flow() {
    let env = start().await;
    let (verifier, challenge) = pkce_pair();
    let page = env
        .http
        .get(format!("{}/authorize", env.issuer))
        .query(&authorize_params(&challenge))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    for (name, value) in [
        ("content-type", "text/html; charset=utf-8"),
        ("cache-control", "no-store"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        (
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
    ] {
        assert_eq!(page.headers()[name], value, "{name}");
    }
    let html = page.text().await.unwrap();
    for u in ["alice", "bob", "admin"] {
        assert!(html.contains(&format!("value=\"{u}\"")), "{u}");
    }
    assert!(html.contains("st&#60;&#38;&#34;ate&#62;"), "state escaped");
    assert!(!html.contains("st<&\"ate>"));

    let code = sign_in(&env, "alice", &challenge).await;
    // Wrong verifier: refused, and the code is burnt.
    let (other_verifier, _) = pkce_pair();
    let exchange = |code: String, verifier: String| {
        vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code),
            ("redirect_uri", REDIRECT.to_string()),
            ("client_id", DEV_PUBLIC_CLIENT_ID.to_string()),
            ("code_verifier", verifier),
        ]
    };
    let form = exchange(code.clone(), other_verifier);
    let (status, body) = token(&env, &refs(&form)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let form = exchange(code, verifier.clone());
    let (status, body) = token(&env, &refs(&form)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "code burnt"
    );

    // Fresh code, right verifier.
    let code = sign_in(&env, "alice", &challenge).await;
    let form = exchange(code.clone(), verifier.clone());
    let (status, body) = token(&env, &refs(&form)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let at = body["access_token"].as_str().unwrap();
    let ok = env.verifier.verify(at).await.unwrap();
    assert_eq!(ok.subject, alice().oid);
    assert_eq!(ok.principal, PrincipalKind::User);
    assert_eq!(ok.claims.scp.as_deref(), Some("vso.pats vso.pats_manage"));
    let id = body["id_token"].as_str().unwrap();
    assert_eq!(jwt_part(id, 0)["typ"], "JWT");
    let id_claims = jwt_part(id, 1);
    assert_eq!(id_claims["aud"], DEV_PUBLIC_CLIENT_ID);
    assert_eq!(id_claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(id_claims["sub"], alice().oid);
    // The ID token is not an access token.
    assert!(matches!(
        env.verifier.verify(id).await,
        Err(AuthError::Invalid("wrong typ"))
    ));
    assert!(body["refresh_token"]
        .as_str()
        .is_some_and(|r| r.len() >= 43));

    // Reusing the code fails.
    let (status, body) = token(&env, &refs(&form)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // A different redirect_uri fails.
    let code = sign_in(&env, "bob", &challenge).await;
    let mut form = exchange(code, verifier);
    form[2].1 = "http://127.0.0.1:53682/other".into();
    let (status, body) = token(&env, &refs(&form)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

async fn refresh(env: &Env, rt: &str) -> (u16, Value) {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt),
        ("client_id", DEV_PUBLIC_CLIENT_ID),
    ];
    token(env, &form).await
}

#[tokio::test]
async fn refresh_token_rotation() {
    let env = start().await;
    let (verifier, challenge) = pkce_pair();
    let code = sign_in(&env, "admin", &challenge).await;
    let (status, body) = token(
        &env,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", DEV_PUBLIC_CLIENT_ID),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let r1 = body["refresh_token"].as_str().unwrap().to_owned();
    let (status, body) = refresh(&env, &r1).await;
    assert_eq!(status, 200, "{body}");
    let r2 = body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2);
    let ok = env
        .verifier
        .verify(body["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(ok.subject, dev_users()[2].oid);
    assert!(body["id_token"].is_string());
    // Narrowing is allowed; widening is refused without burning the token.
    let widen = [
        ("grant_type", "refresh_token"),
        ("refresh_token", r2.as_str()),
        ("client_id", DEV_PUBLIC_CLIENT_ID),
        ("scope", "vso.pats vso.admin"),
    ];
    let (status, body) = token(&env, &widen).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let mut narrow = widen;
    narrow[3].1 = "vso.pats";
    let (status, body) = token(&env, &narrow).await;
    assert_eq!(status, 200, "{body}");
    let ok = env
        .verifier
        .verify(body["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(ok.claims.scp.as_deref(), Some("vso.pats"));
    let r3 = body["refresh_token"].as_str().unwrap().to_owned();
    // The narrowed rotation keeps the original grant for later refreshes.
    let (status, body) = refresh(&env, &r3).await;
    assert_eq!(status, 200);
    let ok = env
        .verifier
        .verify(body["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(ok.claims.scp.as_deref(), Some("vso.pats vso.pats_manage"));
    let r4 = body["refresh_token"].as_str().unwrap().to_owned();
    // The rotated-out token is refused (and revokes the family, so r2 dies too).
    let (status, body) = refresh(&env, &r1).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = refresh(&env, &r4).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn client_credentials() {
    let env = start().await;
    let secret = env.dev.sp_secret();
    // client_secret_post
    let (status, body) = token(
        &env,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEV_SP_CLIENT_ID),
            ("client_secret", &secret),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("refresh_token").is_none());
    let ok = env
        .verifier
        .verify(body["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert!(matches!(ok.principal, PrincipalKind::NonHuman(_)));
    // client_secret_basic
    let resp = env
        .http
        .post(format!("{}/token", env.issuer))
        .basic_auth(DEV_SP_CLIENT_ID, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Wrong secret, both ways.
    let (status, body) = token(
        &env,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEV_SP_CLIENT_ID),
            ("client_secret", "wrong"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let resp = env
        .http
        .post(format!("{}/token", env.issuer))
        .basic_auth(DEV_SP_CLIENT_ID, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().contains_key("www-authenticate"));
    // RFC 6749 §2.3.1: id and secret are form-urlencoded before base64; what the relying
    // party sends is what the issuer reads. Broken escapes are refused.
    let basic = |value: String| {
        env.http
            .post(format!("{}/token", env.issuer))
            .header("authorization", value)
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    let encoded = patrol_auth::rp::basic_authorization(
        DEV_SP_CLIENT_ID,
        &secrecy::SecretString::from(secret.clone()),
    );
    assert_eq!(basic(encoded).await.unwrap().status(), 200);
    let broken = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{DEV_SP_CLIENT_ID}:{secret}%"))
    );
    let resp = basic(broken).await.unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_description"], "malformed client authentication");
    // The public client cannot use client_credentials; unknown grants are refused.
    let (status, body) = token(
        &env,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEV_PUBLIC_CLIENT_ID),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    let (status, body) = token(
        &env,
        &[
            ("grant_type", "password"),
            ("client_id", DEV_PUBLIC_CLIENT_ID),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
}
