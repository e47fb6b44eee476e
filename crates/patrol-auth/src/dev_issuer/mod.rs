//! The built-in development OIDC issuer behind `patrol dev` (like `vault server -dev`).
//!
//! A small but real OpenID provider served by the Patrol process itself: discovery, JWKS, an
//! authorization endpoint where you pick a dev user (no password), a token endpoint with
//! authorization_code + PKCE (S256 only), refresh-token rotation and client_credentials for one
//! demo service principal, and RFC 7009 revocation of refresh tokens. The server validates its
//! tokens through the ordinary [`crate::OidcVerifier`] over HTTP discovery + JWKS, exactly like
//! any other issuer.
//!
//! Development only: anyone who can reach it can sign in as any dev user.

mod grants;
mod page;
mod routes;
mod token;

use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, LineEnding};
use rsa::traits::PublicKeyParts as _;
use rsa::RsaPrivateKey;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::rp::random_value;
use crate::verifier::IssuerConfig;

/// The Azure DevOps resource id, used as the audience like Microsoft Entra does.
pub const DEV_AUDIENCE: &str = "499b84ac-1321-427f-aa17-267ca6975798";
/// The fixed tenant id (`tid`) of the dev issuer.
pub const DEV_TENANT_ID: &str = "7a3f2c1e-5b8d-4e6f-9a0b-1c2d3e4f5a6b";
/// Public client (authorization code + PKCE, no secret).
pub const DEV_PUBLIC_CLIENT_ID: &str = "patrol-dev-cli";
/// Confidential demo service principal (client_credentials).
pub const DEV_SP_CLIENT_ID: &str = "patrol-demo-sp";
/// Object id (`oid` and `sub`) of the demo service principal.
pub const DEV_SP_OBJECT_ID: &str = "5e7f1ce0-0000-4000-8000-000000000099";
/// App role carried by the demo service principal's tokens.
pub const DEV_SP_ROLE: &str = "Patrol.Demo";
/// `scp` granted when the authorize request names no API scope.
pub const DEV_DEFAULT_SCOPE: &str = "vso.pats vso.pats_manage";
/// Lifetime of access and ID tokens issued by the token endpoint.
pub const DEV_ACCESS_TOKEN_SECS: i64 = 3600;

const KEY_FILE: &str = "dev-issuer-key.pem";
const SECRET_FILE: &str = "dev-sp-secret";

/// A built-in development user.
#[derive(Clone, Debug)]
pub struct DevUser {
    pub username: &'static str,
    pub oid: &'static str,
    pub name: &'static str,
    pub email: &'static str,
    pub tenant_admin: bool,
}

static DEV_USERS: [DevUser; 3] = [
    DevUser {
        username: "alice",
        oid: "a11ce000-0000-4000-8000-000000000001",
        name: "Alice Example",
        email: "alice@example.com",
        tenant_admin: false,
    },
    DevUser {
        username: "bob",
        oid: "b0b00000-0000-4000-8000-000000000002",
        name: "Bob Example",
        email: "bob@example.com",
        tenant_admin: false,
    },
    DevUser {
        username: "admin",
        oid: "ad000000-0000-4000-8000-000000000003",
        name: "Admin Example",
        email: "admin@example.com",
        tenant_admin: true,
    },
];

/// alice, bob and admin (the tenant admin).
pub fn dev_users() -> &'static [DevUser] {
    &DEV_USERS
}

/// Looks a dev user up by username.
pub fn dev_user(username: &str) -> Option<&'static DevUser> {
    DEV_USERS.iter().find(|u| u.username == username)
}

#[derive(Debug, thiserror::Error)]
pub enum DevIssuerError {
    #[error("dev issuer I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("dev issuer key error: {0}")]
    Key(String),
    #[error("dev issuer could not sign a token")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

struct Inner {
    encoding_key: EncodingKey,
    kid: String,
    n: String,
    e: String,
    sp_secret: String,
    grants: Mutex<grants::Grants>,
}

/// The development issuer: its signing key, the demo SP secret and in-memory grants.
#[derive(Clone)]
pub struct DevIssuer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevIssuer")
            .field("kid", &self.inner.kid)
            .field("sp_secret", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl DevIssuer {
    /// Loads the signing key (`dev-issuer-key.pem`, PKCS#8, mode 0600) and the demo SP secret
    /// (`dev-sp-secret`, mode 0600) from `data_dir`, creating them on first use.
    pub fn load_or_create(data_dir: &Path) -> Result<DevIssuer, DevIssuerError> {
        std::fs::create_dir_all(data_dir)?;
        let key = load_or_create_key(&data_dir.join(KEY_FILE))?;
        let sp_secret = load_or_create_secret(&data_dir.join(SECRET_FILE))?;
        let der = key
            .to_pkcs1_der()
            .map_err(|e| DevIssuerError::Key(e.to_string()))?;
        let encoding_key = EncodingKey::from_rsa_der(der.as_bytes());
        let n = URL_SAFE_NO_PAD.encode(key.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(key.e().to_bytes_be());
        // RFC 7638 JWK thumbprint: SHA-256 over the required members in lexicographic order.
        let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        Ok(DevIssuer {
            inner: Arc::new(Inner {
                encoding_key,
                kid,
                n,
                e,
                sp_secret,
                grants: Mutex::new(grants::Grants::default()),
            }),
        })
    }

    /// `http://127.0.0.1:8080` -> `http://127.0.0.1:8080/oidc`.
    pub fn issuer_url(base: &str) -> String {
        format!("{}/oidc", base.trim_end_matches('/'))
    }

    /// The verifier configuration that trusts this issuer (discovery at the default location).
    pub fn verifier_config(issuer: &str) -> IssuerConfig {
        IssuerConfig {
            issuer: issuer.to_owned(),
            discovery_url: None,
            audiences: vec![DEV_AUDIENCE.to_owned()],
            algorithms: vec!["RS256".to_owned()],
            leeway_secs: 60,
            required_typ: Some("at+jwt".to_owned()),
            tenant_id: Some(DEV_TENANT_ID.to_owned()),
            service_account_username_prefix: None,
            subject_claim: None,
            emails_verified: None,
            allowed_client_ids: None,
        }
    }

    /// The key id of the signing key (its RFC 7638 thumbprint).
    pub fn kid(&self) -> &str {
        &self.inner.kid
    }

    /// The public JWKS document.
    pub fn jwks(&self) -> serde_json::Value {
        json!({"keys": [{
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.inner.kid,
            "n": self.inner.n,
            "e": self.inner.e,
        }]})
    }

    /// The HTTP routes, relative to `/oidc` (mount with `.nest("/oidc", router)`). `issuer` is
    /// the full issuer URL, e.g. from [`DevIssuer::issuer_url`].
    pub fn router(&self, issuer: String) -> axum::Router {
        routes::router(self.clone(), issuer)
    }

    /// The demo service principal's client secret.
    pub fn sp_secret(&self) -> String {
        self.inner.sp_secret.clone()
    }

    /// Mints a user access token shaped like an Entra v2 delegated token (`typ: at+jwt`).
    pub fn mint_user_token(
        &self,
        issuer: &str,
        user: &DevUser,
        scope: &str,
        lifetime_secs: i64,
    ) -> Result<String, DevIssuerError> {
        let now = chrono::Utc::now().timestamp();
        let mut claims = json!({
            "iss": issuer,
            "aud": DEV_AUDIENCE,
            "sub": user.oid,
            "oid": user.oid,
            "tid": DEV_TENANT_ID,
            "idtyp": "user",
            "name": user.name,
            "preferred_username": user.email,
            "email": user.email,
            "azp": DEV_PUBLIC_CLIENT_ID,
            "iat": now,
            "nbf": now,
            "exp": now.saturating_add(lifetime_secs),
            "jti": uuid::Uuid::new_v4().to_string(),
            "ver": "2.0",
        });
        let scope = scope.split_whitespace().collect::<Vec<_>>().join(" ");
        if !scope.is_empty() {
            claims["scp"] = json!(scope);
        }
        if user.tenant_admin {
            claims["wids"] = json!(["62e90394-69f5-4237-9190-012177145e10"]);
        }
        self.sign("at+jwt", &claims)
    }

    /// Mints an app-only token for the demo service principal (`idtyp: app`, roles, no `scp`).
    pub fn mint_sp_token(
        &self,
        issuer: &str,
        lifetime_secs: i64,
    ) -> Result<String, DevIssuerError> {
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "iss": issuer,
            "aud": DEV_AUDIENCE,
            "sub": DEV_SP_OBJECT_ID,
            "oid": DEV_SP_OBJECT_ID,
            "tid": DEV_TENANT_ID,
            "idtyp": "app",
            "roles": [DEV_SP_ROLE],
            "azp": DEV_SP_CLIENT_ID,
            "iat": now,
            "nbf": now,
            "exp": now.saturating_add(lifetime_secs),
            "jti": uuid::Uuid::new_v4().to_string(),
            "ver": "2.0",
        });
        self.sign("at+jwt", &claims)
    }

    /// Mints an OpenID Connect ID token for the public client.
    pub(crate) fn mint_id_token(
        &self,
        issuer: &str,
        user: &DevUser,
        nonce: Option<&str>,
        auth_time: i64,
        lifetime_secs: i64,
    ) -> Result<String, DevIssuerError> {
        let now = chrono::Utc::now().timestamp();
        let mut claims = json!({
            "iss": issuer,
            "aud": DEV_PUBLIC_CLIENT_ID,
            "sub": user.oid,
            "oid": user.oid,
            "tid": DEV_TENANT_ID,
            "name": user.name,
            "preferred_username": user.email,
            "email": user.email,
            "auth_time": auth_time,
            "iat": now,
            "exp": now.saturating_add(lifetime_secs),
            "ver": "2.0",
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        self.sign("JWT", &claims)
    }

    fn sign(&self, typ: &str, claims: &serde_json::Value) -> Result<String, DevIssuerError> {
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some(typ.to_owned());
        header.kid = Some(self.inner.kid.clone());
        Ok(jsonwebtoken::encode(
            &header,
            claims,
            &self.inner.encoding_key,
        )?)
    }

    pub(crate) fn grants(&self) -> std::sync::MutexGuard<'_, grants::Grants> {
        self.inner.grants.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Constant-time check of the demo SP secret.
    pub(crate) fn sp_secret_matches(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq as _;
        let a = Sha256::digest(presented.as_bytes());
        let b = Sha256::digest(self.inner.sp_secret.as_bytes());
        bool::from(a.ct_eq(&b))
    }
}

/// Creates `path` with mode 0600 and `contents`, failing if it already exists.
fn create_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut file = opts.open(path)?;
    let written = file.write_all(contents).and_then(|()| file.sync_all());
    if let Err(e) = written {
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(())
}

/// Reads a private file, tightening its permissions to 0600 if they are looser.
fn read_private_file(path: &Path) -> std::io::Result<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let meta = std::fs::metadata(path)?;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "tightening permissions of dev issuer file to 0600");
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    std::fs::read_to_string(path)
}

fn load_or_create_key(path: &Path) -> Result<RsaPrivateKey, DevIssuerError> {
    if !path.exists() {
        let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
            .map_err(|e| DevIssuerError::Key(e.to_string()))?;
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| DevIssuerError::Key(e.to_string()))?;
        match create_private_file(path, pem.as_bytes()) {
            Ok(()) => {
                tracing::info!(path = %path.display(), "created dev issuer signing key");
                return Ok(key);
            }
            // Another process won the race: use its key.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
    }
    let pem = read_private_file(path)?;
    let key = RsaPrivateKey::from_pkcs8_pem(&pem)
        .map_err(|_| DevIssuerError::Key(format!("{} is not a PKCS#8 RSA key", path.display())))?;
    if key.size() < 256 {
        return Err(DevIssuerError::Key(format!(
            "{} holds an RSA key shorter than 2048 bits",
            path.display()
        )));
    }
    Ok(key)
}

fn load_or_create_secret(path: &Path) -> Result<String, DevIssuerError> {
    if !path.exists() {
        let secret = random_value();
        match create_private_file(path, secret.as_bytes()) {
            Ok(()) => return Ok(secret),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
    }
    let secret = read_private_file(path)?.trim().to_owned();
    if secret.len() < 16 {
        return Err(DevIssuerError::Key(format!(
            "{} holds an empty or too short secret",
            path.display()
        )));
    }
    Ok(secret)
}
