//! The relying party against a small local provider that records what it receives: client
//! authentication (secret basic/post, `private_key_jwt` dated by the injected clock), error
//! mapping, the discovery cache.

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
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use patrol_auth::rp::{ClientAuth, ClientKey, Pkce, RelyingParty, RpConfig, RpError};
use patrol_core::clock::{Clock, ManualClock};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{json, Value};

use crate::common::{bind, client, now, query_of, spawn, system_clock};

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
        self.rp_with_clock(client_auth, system_clock())
    }

    fn rp_with_clock(&self, client_auth: ClientAuth, clock: Arc<dyn Clock>) -> RelyingParty {
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
            client(),
            clock,
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

/// The client assertion's `iat`/`exp` come from the relying party's clock.
#[tokio::test]
async fn private_key_jwt_assertions_follow_the_injected_clock() {
    let mock = Mock::start().await;
    let (ec_private, ec_public) = ec_pems();
    let key = ClientKey::from_pem(ec_private.as_bytes(), None).unwrap();
    let start = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let rp = mock.rp_with_clock(ClientAuth::PrivateKeyJwt(key), clock.clone());
    let public = DecodingKey::from_ec_pem(ec_public.as_bytes()).unwrap();
    let mut v = Validation::new(Algorithm::ES256);
    v.set_audience(&[mock.token_endpoint()]);
    v.validate_exp = false;
    let sent_claims = || {
        let r = mock.last_token_request();
        jsonwebtoken::decode::<Value>(&r.form["client_assertion"], &public, &v)
            .unwrap()
            .claims
    };
    rp.refresh("rt").await.unwrap();
    let claims = sent_claims();
    assert_eq!(claims["iat"], 1_700_000_000);
    assert_eq!(claims["exp"], 1_700_000_060);
    clock.advance(chrono::Duration::hours(1));
    rp.exchange_code("the-code", "the-verifier-0123456789")
        .await
        .unwrap();
    let claims = sent_claims();
    assert_eq!(claims["iat"], 1_700_003_600);
    assert_eq!(claims["exp"], 1_700_003_660);
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

    // A redirecting token endpoint is not followed (the `redirects` tests go further).
    mock.set_reply(200, &good_token_body());
    mock.state.lock().unwrap().token_path = "/moved";
    let sent = mock.state.lock().unwrap().token_requests.len();
    let rp_moved = RelyingParty::new(rp.config().clone(), client(), system_clock());
    assert!(matches!(
        rp_moved.refresh("rt").await,
        Err(RpError::Invalid("the endpoint redirected the request"))
    ));
    assert!(matches!(
        mock.rp(ClientAuth::None).refresh("rt").await,
        Err(RpError::Invalid(_))
    ));
    assert_eq!(mock.state.lock().unwrap().token_requests.len(), sent);

    // The token endpoint is gone entirely.
    let (listener, dead) = bind().await;
    drop(listener);
    let rp_dead = RelyingParty::new(
        RpConfig {
            issuer: dead.clone(),
            ..rp.config().clone()
        },
        client(),
        system_clock(),
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
