//! Shared helpers: real servers on 127.0.0.1:0, the dev issuer served over HTTP, a mock
//! identity provider with switchable keys, and hand-forged tokens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use patrol_auth::{AuthError, DevIssuer, HttpClient, IssuerConfig, OidcVerifier, VerifiedToken};
use patrol_core::clock::{Clock, ManualClock, SystemClock};
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::pkcs8::{EncodePublicKey as _, LineEnding};
use rsa::traits::PublicKeyParts as _;
use serde_json::{json, Value};

pub const AUD: &str = "api://patrol";

/// Binds 127.0.0.1:0 and returns the listener and its base URL.
pub async fn bind() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    (listener, base)
}

pub fn spawn(listener: tokio::net::TcpListener, router: Router) {
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
}

/// The tests' own HTTP client (playing browser or client application): ignores proxy
/// settings and does not follow redirects.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The client the verifier and the relying party get in production.
pub fn client() -> HttpClient {
    patrol_auth::http_client(Duration::from_secs(10)).unwrap()
}

pub fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// A verifier for `cfgs` with the production client and the system clock.
pub fn verifier(cfgs: Vec<IssuerConfig>) -> OidcVerifier {
    OidcVerifier::new(cfgs, client(), system_clock())
}

/// A verifier whose refetch limits follow `clock` (a test moves it instead
/// of sleeping, so timing on a loaded machine cannot decide the outcome).
pub fn verifier_on(cfgs: Vec<IssuerConfig>, clock: Arc<ManualClock>) -> OidcVerifier {
    OidcVerifier::new(cfgs, client(), clock)
}

/// A manual clock standing at the wall clock's now (tokens are still signed
/// and checked for `exp` against the wall clock).
pub fn manual_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(chrono::Utc::now()))
}

/// The refusal reason, or `UNAVAILABLE` / `ACCEPTED`.
pub fn invalid_reason(r: Result<VerifiedToken, AuthError>) -> &'static str {
    match r {
        Err(AuthError::Invalid(reason)) => reason,
        Err(AuthError::Unavailable) => "UNAVAILABLE",
        Ok(_) => "ACCEPTED",
    }
}

/// The query parameters of a URL.
pub fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A fresh directory under the system temp dir.
pub fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("patrol-auth-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The built-in dev issuer served at `<base>/oidc`, as `patrol dev` mounts it.
pub struct DevServer {
    pub dev: DevIssuer,
    pub base: String,
    pub issuer: String,
}

impl DevServer {
    /// A fresh dev issuer (new key) on a free port.
    pub async fn start() -> DevServer {
        let dir = temp_dir();
        let dev = DevIssuer::load_or_create(&dir).unwrap();
        let _ = std::fs::remove_dir_all(dir); // the key now lives in memory
        DevServer::serve(dev).await
    }

    /// Serves `dev` on a free port.
    pub async fn serve(dev: DevIssuer) -> DevServer {
        let (listener, base) = bind().await;
        let issuer = DevIssuer::issuer_url(&base);
        spawn(
            listener,
            Router::new().nest("/oidc", dev.router(issuer.clone())),
        );
        DevServer { dev, base, issuer }
    }

    /// A verifier trusting this issuer, through HTTP discovery + JWKS.
    pub fn verifier(&self) -> OidcVerifier {
        verifier(vec![DevIssuer::verifier_config(&self.issuer)])
    }
}

/// An RSA signing key with its public JWK.
pub struct TestKey {
    pub kid: String,
    pub enc: EncodingKey,
    pub jwk: Value,
    pub public_pem: String,
}

fn make_key(kid: &str) -> TestKey {
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let der = key.to_pkcs1_der().unwrap();
    let public_pem = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    TestKey {
        kid: kid.to_owned(),
        enc: EncodingKey::from_rsa_der(der.as_bytes()),
        jwk: json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
        }),
        public_pem,
    }
}

pub fn key_a() -> &'static TestKey {
    static K: OnceLock<TestKey> = OnceLock::new();
    K.get_or_init(|| make_key("key-a"))
}

pub fn key_b() -> &'static TestKey {
    static K: OnceLock<TestKey> = OnceLock::new();
    K.get_or_init(|| make_key("key-b"))
}

/// Claims of a good user access token from `issuer`.
pub fn good_claims(issuer: &str) -> Value {
    let now = now();
    json!({
        "iss": issuer, "aud": AUD, "sub": "user-1", "oid": "oid-1", "tid": "tenant-1",
        "scp": "vso.pats", "azp": "some-client", "iat": now, "nbf": now, "exp": now + 300,
    })
}

/// Signs `claims` with `key` (RS256, `typ: at+jwt`, `kid` = the key's kid), after letting
/// `edit` change the header.
pub fn sign_with(key: &TestKey, claims: &Value, edit: impl FnOnce(&mut Header)) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(key.kid.clone());
    edit(&mut header);
    jsonwebtoken::encode(&header, claims, &key.enc).unwrap()
}

pub fn sign(key: &TestKey, claims: &Value) -> String {
    sign_with(key, claims, |_| {})
}

/// A token assembled by hand from a raw header and claims and an arbitrary signature.
pub fn raw_token(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        signature
    )
}

/// A minimal OpenID provider: discovery + JWKS, with switchable keys and availability.
#[derive(Clone)]
pub struct MockIdp {
    pub issuer: String,
    state: Arc<Mutex<MockState>>,
}

struct MockState {
    base: String,
    issuer: String,
    keys: Vec<Value>,
    up: bool,
}

async fn mock_discovery(State(s): State<Arc<Mutex<MockState>>>) -> Response {
    let st = s.lock().unwrap();
    if !st.up {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    Json(json!({"issuer": st.issuer, "jwks_uri": format!("{}/keys", st.base)})).into_response()
}

async fn mock_jwks(State(s): State<Arc<Mutex<MockState>>>) -> Response {
    let st = s.lock().unwrap();
    if !st.up {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    Json(json!({"keys": st.keys})).into_response()
}

impl MockIdp {
    pub async fn start(keys: &[&TestKey]) -> MockIdp {
        let (listener, base) = bind().await;
        let state = Arc::new(Mutex::new(MockState {
            base: base.clone(),
            issuer: base.clone(),
            keys: keys.iter().map(|k| k.jwk.clone()).collect(),
            up: true,
        }));
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(mock_discovery))
            .route("/keys", get(mock_jwks))
            .with_state(state.clone());
        spawn(listener, router);
        MockIdp {
            issuer: base,
            state,
        }
    }

    pub fn set_keys(&self, keys: &[&TestKey]) {
        self.state.lock().unwrap().keys = keys.iter().map(|k| k.jwk.clone()).collect();
    }

    pub fn set_raw_keys(&self, keys: Vec<Value>) {
        self.state.lock().unwrap().keys = keys;
    }

    pub fn set_up(&self, up: bool) {
        self.state.lock().unwrap().up = up;
    }

    /// Makes the discovery document claim another issuer.
    pub fn set_discovery_issuer(&self, issuer: &str) {
        self.state.lock().unwrap().issuer = issuer.to_owned();
    }

    pub fn config(&self) -> IssuerConfig {
        IssuerConfig {
            issuer: self.issuer.clone(),
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
        }
    }
}
