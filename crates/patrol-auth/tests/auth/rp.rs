//! The OpenID Connect relying party: the whole browser sign-in against the built-in dev
//! issuer over real HTTP (code + PKCE, ID token, refresh rotation, revocation).

use patrol_auth::rp::{random_value, ClientAuth, Pkce, RelyingParty, RpConfig, RpError, TokenSet};
use patrol_auth::{dev_users, AuthError, OidcVerifier, PrincipalKind, DEV_PUBLIC_CLIENT_ID};
use secrecy::ExposeSecret as _;

use crate::common::{client, http, query_of, system_clock, DevServer};

const SCOPES: &str = "openid profile email offline_access vso.pats vso.pats_manage";

fn rejected(r: Result<TokenSet, RpError>, code: &str) {
    match r {
        Err(RpError::Rejected { error, .. }) if error == code => {}
        other => panic!("expected Rejected({code}), got {other:?}"),
    }
}

struct DevEnv {
    issuer: String,
    redirect_uri: String,
    rp: RelyingParty,
    verifier: OidcVerifier,
    http: reqwest::Client,
}

async fn dev_env() -> DevEnv {
    let server = DevServer::start().await;
    // The web UI's callback lives on the issuer's origin, like `patrol dev` serves it.
    let redirect_uri = format!("{}/ui/callback", server.base);
    let rp = RelyingParty::new(
        RpConfig {
            issuer: server.issuer.clone(),
            discovery_url: None,
            client_id: DEV_PUBLIC_CLIENT_ID.to_owned(),
            client_auth: ClientAuth::None,
            redirect_uri: redirect_uri.clone(),
            scopes: SCOPES.to_owned(),
            resource: None,
            extra_authorize_params: vec![("prompt".into(), "consent".into())],
        },
        client(),
        system_clock(),
    );
    DevEnv {
        verifier: server.verifier(),
        issuer: server.issuer,
        redirect_uri,
        rp,
        http: http(),
    }
}

/// What the browser does: follow the authorization URL, pick `username` on the dev issuer's
/// page (a same-origin form POST), come back with a code. Returns (code, state from redirect).
async fn sign_in(env: &DevEnv, auth_url: &url::Url, username: &str) -> (String, String) {
    let mut form: Vec<(String, String)> = auth_url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    form.push(("username".into(), username.into()));
    let mut endpoint = auth_url.clone();
    endpoint.set_query(None);
    let resp = env.http.post(endpoint).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    let location = resp.headers()[reqwest::header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(location.starts_with(&env.redirect_uri), "{location}");
    let q = query_of(&location);
    assert_eq!(q["iss"], env.issuer);
    (q["code"].clone(), q["state"].clone())
}

#[tokio::test]
async fn dev_issuer_sign_in_refresh_and_reuse() {
    let env = dev_env().await;
    let alice = &dev_users()[0];
    let (state, nonce, pkce) = (random_value(), random_value(), Pkce::generate());

    let auth_url = env
        .rp
        .authorization_url(&state, &nonce, &pkce.challenge)
        .await
        .unwrap();
    assert!(auth_url
        .as_str()
        .starts_with(&format!("{}/authorize?", env.issuer)));
    let q = query_of(auth_url.as_str());
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], DEV_PUBLIC_CLIENT_ID);
    assert_eq!(q["redirect_uri"], env.redirect_uri);
    assert_eq!(q["scope"], SCOPES);
    assert_eq!(q["state"], state);
    assert_eq!(q["nonce"], nonce);
    assert_eq!(q["code_challenge"], pkce.challenge);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["prompt"], "consent");
    assert!(!q.contains_key("resource"));
    assert!(!auth_url.as_str().contains(&pkce.verifier));

    let (code, returned_state) = sign_in(&env, &auth_url, "alice").await;
    assert_eq!(returned_state, state);

    // A wrong PKCE verifier is refused (and burns the code, as codes are single use).
    let (code2, _) = sign_in(&env, &auth_url, "alice").await;
    rejected(
        env.rp
            .exchange_code(&code2, &Pkce::generate().verifier)
            .await,
        "invalid_grant",
    );

    let tokens = env.rp.exchange_code(&code, &pkce.verifier).await.unwrap();
    assert_eq!(tokens.expires_in, Some(3600));
    assert!(tokens.scope.as_deref().unwrap().contains("openid"));
    let debug = format!("{tokens:?}");
    assert!(!debug.contains(tokens.access_token.expose_secret()));
    // Codes are single use.
    rejected(
        env.rp.exchange_code(&code, &pkce.verifier).await,
        "invalid_grant",
    );

    // The ID token.
    let id_token = tokens.id_token.as_ref().unwrap().expose_secret().to_owned();
    let id = env
        .verifier
        .verify_id_token(&id_token, DEV_PUBLIC_CLIENT_ID, &nonce)
        .await
        .unwrap();
    assert_eq!(id.issuer, env.issuer);
    assert_eq!(id.subject, alice.oid);
    assert_eq!(id.principal, PrincipalKind::User);
    assert_eq!(id.claims.email.as_deref(), Some(alice.email));
    for (client_id, nonce, why) in [
        (DEV_PUBLIC_CLIENT_ID, random_value(), "wrong nonce"),
        (DEV_PUBLIC_CLIENT_ID, format!("{nonce}x"), "wrong nonce"),
        ("another-client", nonce.clone(), "wrong audience"),
        (DEV_PUBLIC_CLIENT_ID, String::new(), "no expected nonce"),
    ] {
        match env
            .verifier
            .verify_id_token(&id_token, client_id, &nonce)
            .await
        {
            Err(AuthError::Invalid(reason)) => assert_eq!(reason, why),
            other => panic!("{why}: {other:?}"),
        }
    }
    // Neither token passes for the other.
    assert!(env.verifier.verify(&id_token).await.is_err());
    let access = tokens.access_token.expose_secret();
    assert!(matches!(
        env.verifier
            .verify_id_token(access, DEV_PUBLIC_CLIENT_ID, &nonce)
            .await,
        Err(AuthError::Invalid("access token presented as ID token"))
    ));

    // The access token still verifies as before, and names the same user.
    let at = env.verifier.verify(access).await.unwrap();
    assert_eq!(at.subject, id.subject);
    assert_eq!(at.issuer, id.issuer);

    // Refresh: new access token, rotated refresh token.
    let rt1 = tokens.refresh_token.as_ref().unwrap().expose_secret();
    let refreshed = env.rp.refresh(rt1).await.unwrap();
    let rt2 = refreshed.refresh_token.as_ref().unwrap().expose_secret();
    assert_ne!(rt1, rt2);
    assert_ne!(access, refreshed.access_token.expose_secret());
    let at2 = env
        .verifier
        .verify(refreshed.access_token.expose_secret())
        .await
        .unwrap();
    assert_eq!(at2.subject, alice.oid);

    // The rotated-out refresh token is refused (and, by reuse detection, ends the family).
    let err = env.rp.refresh(rt1).await.unwrap_err();
    assert!(err.is_invalid_grant(), "{err:?}");
    assert!(!err.to_string().contains(rt1));
    rejected(env.rp.refresh(rt2).await, "invalid_grant");

    // The dev issuer has no end-session endpoint.
    assert!(env
        .rp
        .end_session_url(Some(&id_token), None, None)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn dev_issuer_revocation() {
    let env = dev_env().await;
    let (state, nonce, pkce) = (random_value(), random_value(), Pkce::generate());
    let url = env
        .rp
        .authorization_url(&state, &nonce, &pkce.challenge)
        .await
        .unwrap();
    let (code, _) = sign_in(&env, &url, "bob").await;
    let tokens = env.rp.exchange_code(&code, &pkce.verifier).await.unwrap();
    let rt = tokens.refresh_token.unwrap();
    let meta = env.rp.metadata().await.unwrap();
    assert_eq!(
        meta.revocation_endpoint.as_ref().unwrap().as_str(),
        format!("{}/revoke", env.issuer)
    );
    assert!(env
        .rp
        .revoke_refresh_token(rt.expose_secret())
        .await
        .unwrap());
    rejected(env.rp.refresh(rt.expose_secret()).await, "invalid_grant");
    // Revoking again (an unknown token) is still fine (RFC 7009 §2.2).
    assert!(env
        .rp
        .revoke_refresh_token(rt.expose_secret())
        .await
        .unwrap());
}
