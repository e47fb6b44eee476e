//! One in-process Patrol per test: `Application::build` on 127.0.0.1:0 with a
//! temporary SQLite file, the development issuer (for user JWTs), and one
//! registered resource server. 127.0.0.1 is a trusted proxy, so tests play
//! different client addresses with `X-Forwarded-For`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{json, Value};
use uuid::Uuid;

use patrol_auth::dev_issuer::{dev_user, DevIssuer};
use patrol_core::hashing::ServerKey;
use patrol_core::pat::Pat;
use patrol_core::token::{self, MintOptions};
use patrol_core::user::{AuditAction, AuditEvent, Outcome};
use patrol_server::app::verify::VerifyStats;
use patrol_server::config::Config;
use patrol_server::http::AppState;
use patrol_server::{Application, DevMode};
use patrol_store::AuditQuery;

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

pub struct TestApp {
    pub base: String,
    pub state: AppState,
    pub client: reqwest::Client,
    jwt: String,
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
        Self::spawn_with("", "").await
    }

    /// `verify` holds extra lines for the `[verify]` section, `sections`
    /// whole extra sections (e.g. `[tokens]`).
    pub async fn spawn_with(verify: &str, sections: &str) -> TestApp {
        Self::spawn_full("", verify, sections).await
    }

    /// As [`TestApp::spawn_with`], with extra `[server]` lines too.
    pub async fn spawn_full(server: &str, verify: &str, sections: &str) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let secret_file = dir.path().join("rs-secret");
        std::fs::write(&secret_file, format!("{RS_SECRET}\n")).unwrap();
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ntrusted_proxies = [\"127.0.0.1\"]\n{server}\n\
             [database]\nsqlite_path = {db:?}\n\
             [verify]\nusage_flush_interval_ms = 50\n{verify}\n\
             [[verify.resource_servers]]\nclient_id = \"{RS_ID}\"\nsecret_file = {sf:?}\n{sections}\n",
            db = dir.path().join("patrol.db").display().to_string(),
            sf = secret_file.display().to_string(),
        );
        let config: Config = toml::from_str(&text).unwrap();
        config.validate().unwrap();
        let keys = vec![ServerKey::new("test", vec![7; 32]).unwrap()];
        let dev = DevMode {
            data_dir: issuer_dir().to_owned(),
        };
        let app = Application::build(config, keys, Some(dev)).await.unwrap();
        let base = format!("http://{}", app.local_addr());
        let issuer_url = app.dev_issuer.clone().unwrap();
        let state = app.state.clone();
        tokio::spawn(app.run(std::future::pending()));
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
        TestApp {
            base,
            state,
            client,
            jwt,
            _dir: dir,
        }
    }

    /// The owner's OIDC access token (for the no-secrets-in-logs check).
    pub fn jwt(&self) -> &str {
        &self.jwt
    }

    pub fn stats(&self) -> VerifyStats {
        self.state.app.verify.stats()
    }

    // --- the PAT API, as alice ---

    async fn pats(
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
        let body = json!({"displayName": "ci", "scope": scope, "allOrgs": all_orgs});
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

    /// A PAT written straight to the store (for times the API cannot make),
    /// owned by the owner of `like`.
    pub async fn insert_pat(
        &self,
        like: Uuid,
        created_at: DateTime<Utc>,
        valid_to: DateTime<Utc>,
    ) -> (String, Uuid) {
        let store = &self.state.app.store;
        let owner = store.get_pat(like).await.unwrap().unwrap().owner;
        let secret =
            token::mint(created_at, &MintOptions::default(), &mut rand::rngs::OsRng).unwrap();
        let pat = Pat {
            display_name: "backdated".into(),
            valid_to,
            ..Pat::fixture(owner, created_at)
        };
        let audit = AuditEvent::for_pat(AuditAction::PatCreate, &pat, "test");
        store
            .create_pat(&pat, &self.state.app.hasher.hash(&secret), &audit, None)
            .await
            .unwrap();
        (secret.expose().to_owned(), pat.authorization_id)
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
        let events = self.state.app.store.list_audit(&q).await.unwrap();
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
