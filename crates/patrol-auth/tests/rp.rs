//! The OpenID Connect relying party: the whole browser sign-in against the built-in dev issuer
//! over real HTTP, ID-token validation, and client authentication / error mapping against a
//! small local token endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::{bind, http, key_a, key_b, now, sign_with, spawn, temp_dir, MockIdp};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use patrol_auth::rp::{
    random_value, ClientAuth, ClientKey, Pkce, RelyingParty, RpConfig, RpError, TokenSet,
};
use patrol_auth::{
    dev_users, AuthError, DevIssuer, OidcVerifier, PrincipalKind, DEV_PUBLIC_CLIENT_ID,
};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{json, Value};

const SCOPES: &str = "openid profile email offline_access vso.pats vso.pats_manage";

fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn rejected(r: Result<TokenSet, RpError>, code: &str) {
    match r {
        Err(RpError::Rejected { error, .. }) if error == code => {}
        other => panic!("expected Rejected({code}), got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Against the built-in dev issuer.

struct DevEnv {
    issuer: String,
    redirect_uri: String,
    rp: RelyingParty,
    verifier: OidcVerifier,
    http: reqwest::Client,
}

async fn dev_env() -> DevEnv {
    let dir = temp_dir();
    let dev = DevIssuer::load_or_create(&dir).unwrap();
    let _ = std::fs::remove_dir_all(dir);
    let (listener, base) = bind().await;
    let issuer = DevIssuer::issuer_url(&base);
    spawn(
        listener,
        Router::new().nest("/oidc", dev.router(issuer.clone())),
    );
    // The web UI's callback lives on the issuer's origin, like `patrol dev` serves it.
    let redirect_uri = format!("{base}/ui/callback");
    let rp = RelyingParty::new(
        RpConfig {
            issuer: issuer.clone(),
            discovery_url: None,
            client_id: DEV_PUBLIC_CLIENT_ID.to_owned(),
            client_auth: ClientAuth::None,
            redirect_uri: redirect_uri.clone(),
            scopes: SCOPES.to_owned(),
            resource: None,
            extra_authorize_params: vec![("prompt".into(), "consent".into())],
        },
        http(),
    );
    let verifier = OidcVerifier::new(vec![DevIssuer::verifier_config(&issuer)], http());
    DevEnv {
        issuer,
        redirect_uri,
        rp,
        verifier,
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

// ---------------------------------------------------------------------------------------------
// ID-token rules with hand-forged tokens.

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
    let verifier = OidcVerifier::new(vec![idp.config()], http());
    let id = |claims: &Value| sign_with(key_a(), claims, |h| h.typ = Some("JWT".into()));
    let check = |token: String| {
        let verifier = verifier.clone();
        async move { verifier.verify_id_token(&token, "web-client", "n-1").await }
    };

    let good = id_claims(&idp.issuer, "n-1");
    let v = check(id(&good)).await.unwrap();
    assert_eq!(v.subject, "oid-1", "oid wins over sub, like access tokens");
    let mut no_oid = good.clone();
    no_oid.as_object_mut().unwrap().remove("oid");
    assert_eq!(check(id(&no_oid)).await.unwrap().subject, "user-1");
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

// ---------------------------------------------------------------------------------------------
// Against a small local provider that records what it receives.

#[derive(Default)]
struct Recorded {
    form: HashMap<String, String>,
    authorization: Option<String>,
    content_type: Option<String>,
    accept: Option<String>,
}

struct MockState {
    base: String,
    discovery_up: bool,
    discovery_issuer: Option<String>,
    revocation: bool,
    token_path: &'static str,
    discovery_fetches: usize,
    token_reply: (u16, String),
    token_requests: Vec<Recorded>,
    revoke_requests: Vec<Recorded>,
}

type Shared = Arc<Mutex<MockState>>;

async fn discovery(State(s): State<Shared>) -> Response {
    let mut st = s.lock().unwrap();
    st.discovery_fetches += 1;
    if !st.discovery_up {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let b = st.base.clone();
    let mut doc = json!({
        "issuer": st.discovery_issuer.clone().unwrap_or_else(|| b.clone()),
        "authorization_endpoint": format!("{b}/authorize?tenant=t1"),
        "token_endpoint": format!("{b}{}", st.token_path),
        "jwks_uri": format!("{b}/keys"),
        "end_session_endpoint": format!("{b}/logout"),
    });
    if st.revocation {
        doc["revocation_endpoint"] = json!(format!("{b}/revoke"));
    }
    Json(doc).into_response()
}

fn record(headers: &HeaderMap, body: &[u8]) -> Recorded {
    let h = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    let mut form = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        assert!(
            form.insert(k.into_owned(), v.into_owned()).is_none(),
            "repeated parameter"
        );
    }
    Recorded {
        form,
        authorization: h("authorization"),
        content_type: h("content-type"),
        accept: h("accept"),
    }
}

async fn token_endpoint(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut st = s.lock().unwrap();
    st.token_requests.push(record(&headers, &body));
    let (status, body) = st.token_reply.clone();
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        body,
    )
        .into_response()
}

async fn revoke_endpoint(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    s.lock()
        .unwrap()
        .revoke_requests
        .push(record(&headers, &body));
    StatusCode::OK.into_response()
}

struct Mock {
    base: String,
    state: Shared,
}

impl Mock {
    async fn start() -> Mock {
        let (listener, base) = bind().await;
        let state = Arc::new(Mutex::new(MockState {
            base: base.clone(),
            discovery_up: true,
            discovery_issuer: None,
            revocation: false,
            token_path: "/token",
            discovery_fetches: 0,
            token_reply: (200, good_token_body()),
            token_requests: Vec::new(),
            revoke_requests: Vec::new(),
        }));
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/token", post(token_endpoint))
            .route("/revoke", post(revoke_endpoint))
            .route(
                "/moved",
                post(|| async { (StatusCode::TEMPORARY_REDIRECT, [("location", "/token")]) }),
            )
            .with_state(state.clone());
        spawn(listener, router);
        Mock { base, state }
    }

    fn rp(&self, client_auth: ClientAuth) -> RelyingParty {
        RelyingParty::new(
            RpConfig {
                issuer: self.base.clone(),
                discovery_url: None,
                client_id: "patrol web".to_owned(),
                client_auth,
                redirect_uri: "https://patrol.example/ui/callback".to_owned(),
                scopes: "openid offline_access".to_owned(),
                resource: Some("api://patrol".to_owned()),
                extra_authorize_params: Vec::new(),
            },
            http(),
        )
    }

    fn token_endpoint(&self) -> String {
        format!("{}/token", self.base)
    }

    fn set_reply(&self, status: u16, body: &str) {
        self.state.lock().unwrap().token_reply = (status, body.to_owned());
    }

    fn last_token_request(&self) -> Recorded {
        self.state.lock().unwrap().token_requests.pop().unwrap()
    }
}

fn good_token_body() -> String {
    json!({
        "access_token": "mock-access", "token_type": "Bearer", "expires_in": "300",
        "refresh_token": "mock-refresh", "scope": "openid offline_access",
    })
    .to_string()
}

fn rsa_pems() -> &'static (String, String) {
    static K: OnceLock<(String, String)> = OnceLock::new();
    K.get_or_init(|| {
        use rsa::pkcs1::EncodeRsaPrivateKey as _;
        use rsa::pkcs8::{EncodePublicKey as _, LineEnding};
        let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
        (
            key.to_pkcs1_pem(LineEnding::LF).unwrap().to_string(),
            key.to_public_key()
                .to_public_key_pem(LineEnding::LF)
                .unwrap(),
        )
    })
}

fn ec_pems() -> (String, String) {
    use p256::pkcs8::{EncodePublicKey as _, LineEnding};
    let key = p256::SecretKey::random(&mut rand::rngs::OsRng);
    (
        key.to_sec1_pem(LineEnding::LF).unwrap().to_string(),
        key.public_key().to_public_key_pem(LineEnding::LF).unwrap(),
    )
}

/// Checks the grant parameters of an authorization-code request.
fn assert_code_grant(r: &Recorded) {
    assert_eq!(r.form["grant_type"], "authorization_code");
    assert_eq!(r.form["code"], "the-code");
    assert_eq!(r.form["code_verifier"], "the-verifier-0123456789");
    assert_eq!(r.form["redirect_uri"], "https://patrol.example/ui/callback");
    assert_eq!(r.form["resource"], "api://patrol");
    assert_eq!(
        r.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(r.accept.as_deref(), Some("application/json"));
}

#[tokio::test]
async fn private_key_jwt_assertions_verify() {
    let mock = Mock::start().await;
    let (rsa_private, rsa_public) = rsa_pems();
    let (ec_private, ec_public) = ec_pems();
    let cases = [
        (
            ClientKey::from_pem(rsa_private.as_bytes(), Some("rsa-1".into())).unwrap(),
            Algorithm::RS256,
            DecodingKey::from_rsa_pem(rsa_public.as_bytes()).unwrap(),
        ),
        (
            ClientKey::from_pem(ec_private.as_bytes(), None).unwrap(),
            Algorithm::ES256,
            DecodingKey::from_ec_pem(ec_public.as_bytes()).unwrap(),
        ),
    ];
    for (key, alg, public) in cases {
        assert_eq!(key.algorithm(), alg);
        let kid = key.kid().map(str::to_owned);
        let rp = mock.rp(ClientAuth::PrivateKeyJwt(key));
        let tokens = rp
            .exchange_code("the-code", "the-verifier-0123456789")
            .await
            .unwrap();
        assert_eq!(tokens.access_token.expose_secret(), "mock-access");
        assert_eq!(tokens.expires_in, Some(300));
        let r = mock.last_token_request();
        assert_code_grant(&r);
        assert_eq!(r.authorization, None);
        assert!(!r.form.contains_key("client_secret"));
        assert_eq!(r.form["client_id"], "patrol web");
        assert_eq!(
            r.form["client_assertion_type"],
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        );
        let assertion = &r.form["client_assertion"];
        let header = jsonwebtoken::decode_header(assertion).unwrap();
        assert_eq!(header.alg, alg);
        assert_eq!(header.kid, kid);
        let mut v = Validation::new(alg);
        v.set_audience(&[mock.token_endpoint()]);
        v.set_issuer(&["patrol web"]);
        v.sub = Some("patrol web".into());
        v.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        v.leeway = 0;
        let claims = jsonwebtoken::decode::<Value>(assertion, &public, &v)
            .unwrap()
            .claims;
        let iat = claims["iat"].as_i64().unwrap();
        assert!((iat - now()).abs() <= 5);
        assert_eq!(claims["exp"].as_i64().unwrap() - iat, 60);
        assert!(claims["jti"].as_str().unwrap().len() >= 32);

        // Refresh authenticates the same way, with a fresh assertion.
        rp.refresh("old-refresh").await.unwrap();
        let r2 = mock.last_token_request();
        assert_eq!(r2.form["grant_type"], "refresh_token");
        assert_eq!(r2.form["refresh_token"], "old-refresh");
        assert_eq!(r2.form["resource"], "api://patrol");
        assert_ne!(r2.form["client_assertion"], *assertion);
        jsonwebtoken::decode::<Value>(&r2.form["client_assertion"], &public, &v).unwrap();
    }
}

#[tokio::test]
async fn client_secret_methods_and_public_client() {
    let mock = Mock::start().await;
    let secret = "s3cret:with/odd+chars é";

    let rp = mock.rp(ClientAuth::SecretBasic(SecretString::from(secret)));
    rp.exchange_code("the-code", "the-verifier-0123456789")
        .await
        .unwrap();
    let r = mock.last_token_request();
    assert_code_grant(&r);
    let basic = r.authorization.unwrap();
    let decoded = String::from_utf8(
        STANDARD
            .decode(basic.strip_prefix("Basic ").unwrap())
            .unwrap(),
    )
    .unwrap();
    let (id, pw) = decoded.split_once(':').unwrap();
    assert_eq!(id, "patrol+web");
    let dec = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .unwrap()
            .1
            .into_owned()
    };
    assert_eq!(dec(id), "patrol web");
    assert_eq!(dec(pw), secret);
    assert!(!r.form.contains_key("client_secret"));
    assert!(!r.form.contains_key("client_assertion"));

    let rp = mock.rp(ClientAuth::SecretPost(SecretString::from(secret)));
    rp.refresh("rt").await.unwrap();
    let r = mock.last_token_request();
    assert_eq!(r.authorization, None);
    assert_eq!(r.form["client_id"], "patrol web");
    assert_eq!(r.form["client_secret"], secret);

    let rp = mock.rp(ClientAuth::None);
    rp.refresh("rt").await.unwrap();
    let r = mock.last_token_request();
    assert_eq!(r.authorization, None);
    assert_eq!(r.form["client_id"], "patrol web");
    assert!(!r.form.contains_key("client_secret"));
    assert!(!r.form.contains_key("client_assertion"));

    // The authorization URL keeps the endpoint's own query and carries the resource.
    let url = rp
        .authorization_url("st", "no", &Pkce::generate().challenge)
        .await
        .unwrap();
    let q = query_of(url.as_str());
    assert_eq!(q["tenant"], "t1");
    assert_eq!(q["resource"], "api://patrol");
    assert_eq!(q["client_id"], "patrol web");
    assert!(rp.authorization_url("st", "no", "short").await.is_err());
    assert!(rp
        .authorization_url("", "no", &Pkce::generate().challenge)
        .await
        .is_err());
}

#[tokio::test]
async fn error_responses_map_to_rejected_and_unavailable() {
    let mock = Mock::start().await;
    let rp = mock.rp(ClientAuth::SecretPost(SecretString::from("pw-secret")));

    mock.set_reply(
        400,
        r#"{"error":"invalid_grant","error_description":"refresh token old-refresh-token is revoked\r\n"}"#,
    );
    let err = rp.refresh("old-refresh-token").await.unwrap_err();
    match &err {
        RpError::Rejected { error, description } => {
            assert_eq!(error, "invalid_grant");
            assert_eq!(
                description.as_deref(),
                Some("refresh token [redacted] is revoked")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(err.is_invalid_grant());
    let shown = err.to_string();
    assert!(!shown.contains("old-refresh-token") && !shown.contains("pw-secret"));

    mock.set_reply(401, r#"{"error":"invalid_client"}"#);
    let err = rp.exchange_code("c", "v").await.unwrap_err();
    assert_eq!(err.oauth_error(), Some("invalid_client"));

    mock.set_reply(503, r#"{"error":"temporarily_unavailable"}"#);
    let err = rp.refresh("rt").await.unwrap_err();
    assert!(matches!(err, RpError::Unavailable(_)), "{err:?}");

    mock.set_reply(500, "<html>oops</html>");
    assert!(matches!(
        rp.refresh("rt").await,
        Err(RpError::Unavailable(_))
    ));

    mock.set_reply(200, "<html>not json</html>");
    assert!(matches!(rp.refresh("rt").await, Err(RpError::Invalid(_))));

    mock.set_reply(
        200,
        &format!(r#"{{"access_token":"{}"}}"#, "a".repeat(70_000)),
    );
    assert!(matches!(
        rp.refresh("rt").await,
        Err(RpError::Unavailable(_))
    ));

    // A redirecting token endpoint is not trusted, even by a client that follows redirects.
    mock.set_reply(200, &good_token_body());
    mock.state.lock().unwrap().token_path = "/moved";
    let following = reqwest::Client::builder().no_proxy().build().unwrap();
    let rp_moved = RelyingParty::new(rp.config().clone(), following);
    assert!(matches!(
        rp_moved.refresh("rt").await,
        Err(RpError::Invalid("the endpoint redirected the request"))
    ));
    assert!(matches!(
        mock.rp(ClientAuth::None).refresh("rt").await,
        Err(RpError::Invalid(_))
    ));

    // The token endpoint is gone entirely.
    let (listener, dead) = bind().await;
    drop(listener);
    let rp_dead = RelyingParty::new(
        RpConfig {
            issuer: dead.clone(),
            ..rp.config().clone()
        },
        http(),
    );
    assert!(matches!(
        rp_dead.refresh("rt").await,
        Err(RpError::Unavailable(_))
    ));
}

#[tokio::test]
async fn discovery_cache_and_failures() {
    let mock = Mock::start().await;
    let rp = mock.rp(ClientAuth::None);
    let fetches = || mock.state.lock().unwrap().discovery_fetches;

    // Down: every call retries; nothing is cached.
    mock.state.lock().unwrap().discovery_up = false;
    assert!(matches!(
        rp.refresh("rt").await,
        Err(RpError::Unavailable(_))
    ));
    assert!(matches!(
        rp.authorization_url("s", "n", &Pkce::generate().challenge)
            .await,
        Err(RpError::Unavailable(_))
    ));
    assert_eq!(fetches(), 2);

    // Up: fetched once, then cached, even if it goes down again.
    mock.state.lock().unwrap().discovery_up = true;
    rp.refresh("rt").await.unwrap();
    mock.state.lock().unwrap().discovery_up = false;
    rp.refresh("rt").await.unwrap();
    rp.exchange_code("c", "v").await.unwrap();
    assert_eq!(fetches(), 3);

    // Revocation not advertised: Ok(false), nothing sent.
    assert!(!rp.revoke_refresh_token("rt").await.unwrap());
    assert!(mock.state.lock().unwrap().revoke_requests.is_empty());
    let logout = rp
        .end_session_url(Some("idt"), Some("https://patrol.example/"), Some("s"))
        .await
        .unwrap()
        .unwrap();
    let q = query_of(logout.as_str());
    assert_eq!(q["client_id"], "patrol web");
    assert_eq!(q["post_logout_redirect_uri"], "https://patrol.example/");

    // Advertised: the refresh token is sent with the client's authentication.
    {
        let mut st = mock.state.lock().unwrap();
        st.discovery_up = true;
        st.revocation = true;
    }
    let rp = mock.rp(ClientAuth::SecretBasic(SecretString::from("pw")));
    assert!(rp.revoke_refresh_token("rt-to-revoke").await.unwrap());
    let r = mock.state.lock().unwrap().revoke_requests.pop().unwrap();
    assert_eq!(r.form["token"], "rt-to-revoke");
    assert_eq!(r.form["token_type_hint"], "refresh_token");
    assert!(r.authorization.unwrap().starts_with("Basic "));

    // A discovery document for another issuer is refused.
    mock.state.lock().unwrap().discovery_issuer = Some("https://evil.example".into());
    let rp = mock.rp(ClientAuth::None);
    assert!(matches!(
        rp.refresh("rt").await,
        Err(RpError::Unavailable(_))
    ));
}
