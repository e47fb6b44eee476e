//! One in-process Patrol per test: `Application::builder` on 127.0.0.1:0 with
//! a temporary SQLite file, the development issuer (for user JWTs), and one
//! registered resource server. 127.0.0.1 is a trusted proxy, so tests play
//! different client addresses with `X-Forwarded-For`.
//!
//! Configuration is the typed [`Config`], changed in place by the test
//! (`TestApp::spawn_with(|c| c.verify.cache_ttl_secs = 2)`), and resolved
//! exactly as at start-up — without the process environment.
//!
//! Time: `spawn_with_clock` hands the application a [`ManualClock`] that the
//! test moves; expiry, inactivity, cache and limiter windows then follow it.
//! Outside parties keep the wall clock: the development issuer stamps the
//! JWTs it mints with it and the OIDC verifier checks them against it, so the
//! management API keeps working however far the application's clock moves.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{json, Value};
use uuid::Uuid;

use patrol_auth::dev_issuer::{
    dev_user, DevIssuer, DEV_AUDIENCE, DEV_PUBLIC_CLIENT_ID, DEV_TENANT_ID,
};
use patrol_auth::IssuerConfig;
use patrol_core::clock::{Clock, ManualClock, SystemClock};
use patrol_core::hashing::{ServerKey, TokenHasher};
use patrol_core::token::{self, MintOptions};
use patrol_core::user::{AuditAction, Outcome};
use patrol_server::app::verify::VerifyStats;
use patrol_server::config::{Config, Env, KeyRef, ResourceServerRef, SecretSource};
use patrol_server::http::AppState;
use patrol_server::{Application, DevMode};
use patrol_store::{AuditQuery, PostgresOptions, PostgresStore, SqliteStore, Store};

pub const API: &str = "api-version=7.1-preview.1";
pub const RS_ID: &str = "git-gateway";
pub const RS_SECRET: &str = "gateway-secret-0123456789abcdef";

/// The development issuer's key is generated once per test run (RSA is slow).
fn issuer_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("patrol-server-api-issuer");
        DevIssuer::load_or_create(&dir).unwrap();
        dir
    })
}

/// Signs `claims` with the development issuer's key, exactly as it signs its
/// own access tokens (RS256, its `kid`, `typ: at+jwt`): a token carrying any
/// claims a test needs, valid at the test app's development issuer and at an
/// [`OtherIssuer`] (both publish this key).
pub fn sign_as_dev_issuer(claims: &Value) -> String {
    let dev = DevIssuer::load_or_create(issuer_dir()).unwrap();
    let pem = std::fs::read(issuer_dir().join("dev-issuer-key.pem")).unwrap();
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(dev.kid().to_owned());
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// `overrides` merged over `claims`; a `null` removes the claim.
fn merged(mut claims: Value, overrides: Value) -> Value {
    let (Some(c), Value::Object(o)) = (claims.as_object_mut(), overrides) else {
        panic!("claims must be objects");
    };
    for (k, v) in o {
        if v.is_null() {
            c.remove(&k);
        } else {
            c.insert(k, v);
        }
    }
    claims
}

/// A second trusted issuer shaped like Keycloak or Auth0 — no `tenant_id`,
/// so `sub` keys its users and its emails count only with
/// `email_verified: true`: the development issuer's routes on a port of
/// their own, trusted through ordinary discovery and JWKS. Add
/// [`OtherIssuer::config`] (with any per-issuer settings) to `auth.issuers`.
pub struct OtherIssuer {
    pub url: String,
}

impl OtherIssuer {
    pub async fn start() -> OtherIssuer {
        let dev = DevIssuer::load_or_create(issuer_dir()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = DevIssuer::issuer_url(&format!("http://{}", listener.local_addr().unwrap()));
        let router = axum::Router::new().nest("/oidc", dev.router(url.clone()));
        tokio::spawn(async move { axum::serve(listener, router).await });
        OtherIssuer { url }
    }

    /// Its `[[auth.issuers]]` entry with the defaults.
    pub fn config(&self) -> IssuerConfig {
        IssuerConfig {
            issuer: self.url.clone(),
            discovery_url: None,
            audiences: vec![DEV_AUDIENCE.to_owned()],
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

    /// A user access token for `sub` (scopes `vso.pats vso.pats_manage`,
    /// client `patrol-cli`), with `overrides` merged over its claims.
    pub fn jwt(&self, sub: &str, overrides: Value) -> String {
        let now = Utc::now().timestamp();
        let claims = json!({
            "iss": self.url, "aud": DEV_AUDIENCE, "sub": sub, "azp": "patrol-cli",
            "scp": "vso.pats vso.pats_manage", "name": format!("User {sub}"),
            "iat": now, "nbf": now, "exp": now + 3600,
        });
        sign_as_dev_issuer(&merged(claims, overrides))
    }
}

/// A clock standing at the wall clock's now, for a test to move.
pub fn manual_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Utc::now()))
}

pub struct TestApp {
    pub base: String,
    pub state: AppState,
    /// The same database, opened beside the server: tests inspect and
    /// prepare rows here (the server's own store is private to its `App`).
    pub store: Arc<dyn Store>,
    /// The server's key, for hashing secrets written straight to the store.
    pub hasher: TokenHasher,
    pub client: reqwest::Client,
    jwt: String,
    issuer_url: String,
    /// The server's job runner, ticked by hand in tests.
    pub jobs: Arc<patrol_server::notify::Jobs>,
    /// The PostgreSQL database this server runs on (`None`: SQLite).
    pub pg_url: Option<String>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

pub fn basic(user: &str, pat: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pat}"))
    )
}

/// A checksum-valid token of the configured format that no PAT has.
pub fn unknown_token() -> String {
    token::mint(Utc::now(), &MintOptions::default(), &mut rand::rngs::OsRng)
        .unwrap()
        .expose()
        .to_owned()
}

/// The same token with its first character changed: the checksum breaks.
pub fn flipped(t: &str) -> String {
    let first = if t.starts_with('a') { 'b' } else { 'a' };
    format!("{first}{}", &t[1..])
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// On a fresh PostgreSQL database (`patrol_store::test_support`)
    /// instead of SQLite; its URL is returned for more servers to share it.
    pub async fn spawn_on_postgres() -> (TestApp, String) {
        let url = patrol_store::test_support::fresh_database_url()
            .await
            .expect("a fresh PostgreSQL database for the server tests");
        let app = Self::spawn_on(&url).await;
        (app, url)
    }

    /// On the PostgreSQL database at `url` (another replica).
    pub async fn spawn_on(url: &str) -> TestApp {
        let url = url.to_owned();
        Self::spawn_with(move |c| c.database.url = Some(url)).await
    }

    /// With the configuration changed by `configure` (the wall clock).
    pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> TestApp {
        Self::start(Arc::new(SystemClock), configure).await
    }

    /// On `clock`, which the test moves (see [`manual_clock`]).
    pub async fn spawn_with_clock(
        clock: Arc<ManualClock>,
        configure: impl FnOnce(&mut Config),
    ) -> TestApp {
        Self::start(clock, configure).await
    }

    async fn start(clock: Arc<dyn Clock>, configure: impl FnOnce(&mut Config)) -> TestApp {
        Self::start_in(tempfile::tempdir().unwrap(), clock, configure).await
    }

    /// Stop this server and start another on the same database (the wall
    /// clock), configured afresh by `configure` — a restart.
    pub async fn restart_with(mut self, configure: impl FnOnce(&mut Config)) -> TestApp {
        self.begin_shutdown();
        self.stopped().await.unwrap().unwrap();
        let dir = std::mem::replace(&mut self._dir, tempfile::tempdir().unwrap());
        Self::start_in(dir, Arc::new(SystemClock), configure).await
    }

    /// Stop this server and start another on the same database and `clock`.
    pub async fn restart_on(
        mut self,
        clock: Arc<ManualClock>,
        configure: impl FnOnce(&mut Config),
    ) -> TestApp {
        self.begin_shutdown();
        self.stopped().await.unwrap().unwrap();
        let dir = std::mem::replace(&mut self._dir, tempfile::tempdir().unwrap());
        Self::start_in(dir, clock, configure).await
    }

    /// This server's SQLite database file.
    pub fn db_path(&self) -> PathBuf {
        self._dir.path().join("patrol.db")
    }

    /// Where this server writes its emails (no SMTP server in these tests).
    pub fn mail_dir(&self) -> PathBuf {
        self._dir.path().join("outbox")
    }

    async fn start_in(
        dir: tempfile::TempDir,
        clock: Arc<dyn Clock>,
        configure: impl FnOnce(&mut Config),
    ) -> TestApp {
        let secret_file = dir.path().join("rs-secret");
        std::fs::write(&secret_file, format!("{RS_SECRET}\n")).unwrap();
        let key_file = dir.path().join("server-key");
        std::fs::write(&key_file, "07".repeat(32)).unwrap();
        let mut config = Config::default();
        config.server.listen = "127.0.0.1:0".parse().unwrap();
        config.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        config.database.sqlite_path = dir.path().join("patrol.db");
        config.keys.server_keys = vec![KeyRef {
            id: "test".into(),
            secret: SecretSource::File(key_file),
        }];
        config.verify.usage_flush_interval_ms = 50;
        config.smtp.outbox_dir = Some(dir.path().join("outbox"));
        config.verify.resource_servers = vec![ResourceServerRef {
            client_id: RS_ID.into(),
            secret: SecretSource::File(secret_file),
        }];
        configure(&mut config);
        // PATROL_TEST_STORE=postgres: the same tests on a fresh PostgreSQL
        // database each (kept in the test's directory, so a restart reopens
        // it); scripts/test.sh runs this suite on both stores.
        if config.database.url.is_none()
            && std::env::var("PATROL_TEST_STORE").is_ok_and(|s| s == "postgres")
        {
            let kept = dir.path().join("postgres-url");
            let url = match std::fs::read_to_string(&kept) {
                Ok(url) => url,
                Err(_) => {
                    let url = patrol_store::test_support::fresh_database_url()
                        .await
                        .expect("a fresh PostgreSQL database for the server tests");
                    std::fs::write(&kept, &url).unwrap();
                    url
                }
            };
            config.database.url = Some(url);
        }
        let db_path = config.database.sqlite_path.clone();
        let pg_url = config.database.url.clone();
        let settings = config.resolve(&Env::default()).unwrap();
        let dev = DevMode {
            data_dir: issuer_dir().to_owned(),
        };
        let app = Application::builder(settings)
            .clock(clock)
            .dev(dev)
            .build()
            .await
            .unwrap();
        let base = format!("http://{}", app.local_addr());
        let issuer_url = app.dev_issuer.clone().unwrap();
        let state = app.state.clone();
        let jobs = app.jobs.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(app.run(async move {
            let _ = stopped.await;
        }));
        let jwt = DevIssuer::load_or_create(issuer_dir())
            .unwrap()
            .mint_user_token(
                &issuer_url,
                dev_user("alice").unwrap(),
                "vso.pats vso.pats_manage",
                3600,
            )
            .unwrap();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let store: Arc<dyn Store> = match pg_url.clone() {
            Some(url) => {
                Arc::new(PostgresStore::connect(&url, PostgresOptions::default()).unwrap())
            }
            None => Arc::new(SqliteStore::open(&db_path).await.unwrap()),
        };
        let hasher = TokenHasher::new(vec![ServerKey::new("test", vec![7; 32]).unwrap()]).unwrap();
        TestApp {
            base,
            state,
            store,
            hasher,
            client,
            jwt,
            issuer_url,
            jobs,
            stop: Some(stop),
            served: Some(served),
            pg_url,
            _dir: dir,
        }
    }

    /// Start shutting the server down, as SIGTERM does.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// The server's `run` after [`TestApp::begin_shutdown`]: resolves when it returns.
    pub fn stopped(&mut self) -> tokio::task::JoinHandle<anyhow::Result<()>> {
        self.served.take().expect("stopped() once")
    }

    /// The application's now (its clock's).
    pub fn now(&self) -> DateTime<Utc> {
        self.state.app.now()
    }

    /// The owner's OIDC access token (for the no-secrets-in-logs check).
    pub fn jwt(&self) -> &str {
        &self.jwt
    }

    /// An app-only (service principal) access token from the same issuer.
    pub fn service_principal_jwt(&self) -> String {
        DevIssuer::load_or_create(issuer_dir())
            .unwrap()
            .mint_sp_token(&self.issuer_url, 3600)
            .unwrap()
    }

    /// A user's access token with the given scopes.
    pub fn user_jwt(&self, user: &str, scope: &str) -> String {
        DevIssuer::load_or_create(issuer_dir())
            .unwrap()
            .mint_user_token(&self.issuer_url, dev_user(user).unwrap(), scope, 3600)
            .unwrap()
    }

    /// An access token of this app's development issuer for alice, shaped
    /// like Entra's (as [`DevIssuer::mint_user_token`] makes them), with
    /// `overrides` merged over its claims (`null` removes one).
    pub fn alice_jwt_with(&self, overrides: Value) -> String {
        let alice = dev_user("alice").unwrap();
        let now = Utc::now().timestamp();
        let claims = json!({
            "iss": self.issuer_url, "aud": DEV_AUDIENCE, "sub": alice.oid, "oid": alice.oid,
            "tid": DEV_TENANT_ID, "idtyp": "user", "name": alice.name,
            "preferred_username": alice.email, "email": alice.email,
            "azp": DEV_PUBLIC_CLIENT_ID, "scp": "vso.pats vso.pats_manage",
            "iat": now, "nbf": now, "exp": now + 3600,
        });
        sign_as_dev_issuer(&merged(claims, overrides))
    }

    /// `method /{org}/_apis/tokens/pats{path}` with `jwt` as the bearer token.
    pub async fn api_as(
        &self,
        jwt: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = format!("{}/fabrikam/_apis/tokens/pats{path}{sep}{API}", self.base);
        let mut req = self.client.request(method, url).bearer_auth(jwt);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    pub fn stats(&self) -> VerifyStats {
        self.state.app.verify_stats()
    }

    // --- the PAT API, as alice ---

    pub async fn pats(
        &self,
        method: reqwest::Method,
        org: &str,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let url = format!("{}/{org}/_apis/tokens/pats{path}", self.base);
        let url = if url.contains('?') {
            format!("{url}&{API}")
        } else {
            format!("{url}?{API}")
        };
        let mut req = self.client.request(method, url).bearer_auth(&self.jwt);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        assert!(
            resp.status().is_success(),
            "PAT API answered {}",
            resp.status()
        );
        if resp.status() == reqwest::StatusCode::NO_CONTENT {
            return Value::Null;
        }
        resp.json().await.unwrap()
    }

    /// Create a PAT in fabrikam; returns (secret, authorization id).
    pub async fn create_pat(&self, scope: &str, all_orgs: bool) -> (String, Uuid) {
        self.create(json!({"displayName": "ci", "scope": scope, "allOrgs": all_orgs}))
            .await
    }

    /// Create a `vso.code` PAT in fabrikam valid until `valid_to`.
    pub async fn create_pat_until(&self, valid_to: DateTime<Utc>) -> (String, Uuid) {
        self.create(json!({
            "displayName": "ci",
            "scope": "vso.code",
            "validTo": valid_to.to_rfc3339(),
            "allOrgs": false,
        }))
        .await
    }

    async fn create(&self, body: Value) -> (String, Uuid) {
        let r = self
            .pats(reqwest::Method::POST, "fabrikam", "", Some(body))
            .await;
        assert_eq!(r["patTokenError"], "none", "{r}");
        let token = r["patToken"]["token"].as_str().unwrap().to_owned();
        let id = r["patToken"]["authorizationId"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        (token, id)
    }

    pub async fn get_pat(&self, id: Uuid) -> Value {
        let r = self
            .pats(
                reqwest::Method::GET,
                "fabrikam",
                &format!("?authorizationId={id}"),
                None,
            )
            .await;
        r["patToken"].clone()
    }

    pub async fn revoke(&self, id: Uuid) {
        self.pats(
            reqwest::Method::DELETE,
            "fabrikam",
            &format!("?authorizationId={id}"),
            None,
        )
        .await;
    }

    pub async fn update_scope(&self, id: Uuid, scope: &str) {
        let body = json!({"authorizationId": id, "scope": scope});
        let r = self
            .pats(reqwest::Method::PUT, "fabrikam", "", Some(body))
            .await;
        assert_eq!(r["patTokenError"], "none", "{r}");
    }

    pub async fn regenerate(&self, id: Uuid) -> String {
        let r = self
            .pats(
                reqwest::Method::POST,
                "fabrikam",
                &format!("/regenerate?authorizationId={id}"),
                None,
            )
            .await;
        assert_eq!(r["patTokenError"], "none", "{r}");
        r["patToken"]["token"].as_str().unwrap().to_owned()
    }

    /// The `pat.verify` audit details recorded for a PAT (after a flush).
    pub async fn verify_audit(&self, id: Uuid) -> Vec<String> {
        self.state.app.flush_usage().await;
        let q = AuditQuery {
            target_pat: Some(id),
            action: Some(AuditAction::PatVerify),
            limit: 50,
            ..Default::default()
        };
        let events = self.store.list_audit(&q).await.unwrap();
        assert!(events.iter().all(|e| e.outcome == Outcome::Failure));
        events.into_iter().filter_map(|e| e.detail).collect()
    }

    // --- the verify path ---

    /// `GET /patrol/v1/verify{query}` with an optional `Authorization` and client address.
    pub async fn verify(
        &self,
        auth: Option<&str>,
        query: &str,
        from: Option<&str>,
    ) -> reqwest::Response {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert("authorization", HeaderValue::from_str(a).unwrap());
        }
        if let Some(ip) = from {
            h.insert("x-forwarded-for", HeaderValue::from_str(ip).unwrap());
        }
        self.client
            .get(format!("{}/patrol/v1/verify{query}", self.base))
            .headers(h)
            .send()
            .await
            .unwrap()
    }

    pub async fn verify_status(&self, pat: &str, query: &str) -> u16 {
        self.verify(Some(&basic("git", pat)), query, None)
            .await
            .status()
            .as_u16()
    }

    /// `POST /patrol/v1/introspect` with the given client credentials and form.
    pub async fn introspect(
        &self,
        client: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self
            .client
            .post(format!("{}/patrol/v1/introspect", self.base))
            .form(form);
        if let Some((id, secret)) = client {
            req = req.basic_auth(id, Some(secret));
        }
        req.send().await.unwrap()
    }
}

pub fn days(n: i64) -> Duration {
    Duration::days(n)
}
