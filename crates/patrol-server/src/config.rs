//! One typed configuration: defaults → TOML file → `PATROL_*` environment.
//! Secrets (server keys) come from the environment or files, never literals.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use base64::Engine;
use serde::Deserialize;

use patrol_auth::verifier::IssuerConfig;
use patrol_core::hashing::ServerKey;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub database: DatabaseSection,
    #[serde(default)]
    pub keys: KeysSection,
    #[serde(default)]
    pub tokens: TokensSection,
    #[serde(default)]
    pub auth: AuthSection,
    #[serde(default)]
    pub organizations: OrganizationsSection,
    #[serde(default)]
    pub verify: VerifySection,
    #[serde(default)]
    pub web: WebSection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The externally visible base URL (for ResourceAreas and links).
    #[serde(default)]
    pub public_url: Option<String>,
    #[serde(default)]
    pub log_format: LogFormat,
    /// Forwarded headers are honoured only from these peers.
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Largest request body accepted, in bytes.
    #[serde(default = "default_body_limit")]
    pub max_body_bytes: usize,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_body_limit() -> usize {
    64 * 1024
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            public_url: None,
            log_format: LogFormat::Text,
            trusted_proxies: Vec::new(),
            max_body_bytes: default_body_limit(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSection {
    /// Path of the SQLite database file.
    #[serde(default = "default_db")]
    pub sqlite_path: PathBuf,
}

fn default_db() -> PathBuf {
    PathBuf::from("patrol.db")
}

impl Default for DatabaseSection {
    fn default() -> Self {
        Self {
            sqlite_path: default_db(),
        }
    }
}

/// A server key reference: the id and where its secret lives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRef {
    pub id: String,
    /// Name of an environment variable holding the key (hex or base64, ≥ 32 bytes).
    #[serde(default)]
    pub env: Option<String>,
    /// Path of a file holding the key (hex or base64, ≥ 32 bytes).
    #[serde(default)]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct KeysSection {
    /// Current key first; older keys keep verifying tokens hashed under them.
    #[serde(default)]
    pub server_keys: Vec<KeyRef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensSection {
    /// 4-character provider signature at positions 76–80 of minted tokens.
    #[serde(default = "default_signature")]
    pub signature: String,
    #[serde(default = "default_lifetime")]
    pub default_lifetime_days: i64,
    #[serde(default = "max_lifetime")]
    pub max_lifetime_days: i64,
    /// A PAT never used within this many days of creation stops working (0 = never).
    #[serde(default = "inactive_days")]
    pub inactive_after_days: i64,
    /// Most active (unrevoked, unexpired) PATs one user may hold.
    #[serde(default = "max_active")]
    pub max_active_per_user: u64,
}

fn default_signature() -> String {
    "AZDO".into()
}
fn default_lifetime() -> i64 {
    30
}
fn max_lifetime() -> i64 {
    365
}
fn max_active() -> u64 {
    500
}
fn inactive_days() -> i64 {
    90
}

impl Default for TokensSection {
    fn default() -> Self {
        Self {
            signature: default_signature(),
            default_lifetime_days: default_lifetime(),
            max_lifetime_days: max_lifetime(),
            inactive_after_days: inactive_days(),
            max_active_per_user: max_active(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// Trusted OIDC issuers for the management API.
    #[serde(default)]
    pub issuers: Vec<IssuerConfig>,
    /// Accept Entra's legacy `user_impersonation` scope in place of `vso.pats*`.
    #[serde(default)]
    pub accept_user_impersonation: bool,
    /// Failed management-API authentications (bad JWT, PAT presented) allowed
    /// per source address per minute before answering 429.
    #[serde(default = "auth_failures")]
    pub max_failures_per_ip: u32,
}

fn auth_failures() -> u32 {
    30
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationsSection {
    /// Organizations created at start-up.
    #[serde(default)]
    pub names: Vec<String>,
    /// Every signed-in user becomes a member of every organization.
    #[serde(default = "yes")]
    pub auto_join: bool,
}

fn yes() -> bool {
    true
}

impl Default for OrganizationsSection {
    fn default() -> Self {
        Self {
            names: Vec::new(),
            auto_join: true,
        }
    }
}

/// The verify path: forward-auth, introspection, cache and failure limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifySection {
    /// Verified PATs kept in memory (0 turns the cache off).
    #[serde(default = "default_cache_capacity")]
    pub cache_capacity: usize,
    /// How long a cached answer is trusted: the bound within which a change
    /// made through another replica is seen (this replica sees its own at once).
    #[serde(default = "default_cache_ttl")]
    pub cache_ttl_secs: u64,
    /// Failed verifications allowed per source address per window.
    #[serde(default = "default_ip_failures")]
    pub max_failures_per_ip: u32,
    /// Failed verifications allowed per presented token per window.
    #[serde(default = "default_token_failures")]
    pub max_failures_per_token: u32,
    /// Length of the failure-counting window.
    #[serde(default = "default_failure_window")]
    pub failure_window_secs: u64,
    /// Most addresses and tokens tracked by the failure limiter.
    #[serde(default = "default_limiter_capacity")]
    pub limiter_capacity: usize,
    /// Last-use records are written at least this often…
    #[serde(default = "default_usage_flush_ms")]
    pub usage_flush_interval_ms: u64,
    /// …or as soon as this many are waiting.
    #[serde(default = "default_usage_batch")]
    pub usage_batch_size: usize,
    /// Services allowed to call the introspection endpoint.
    #[serde(default)]
    pub resource_servers: Vec<ResourceServerRef>,
}

fn default_cache_capacity() -> usize {
    10_000
}
fn default_cache_ttl() -> u64 {
    5
}
fn default_ip_failures() -> u32 {
    10
}
fn default_token_failures() -> u32 {
    100
}
fn default_failure_window() -> u64 {
    60
}
fn default_limiter_capacity() -> usize {
    100_000
}
fn default_usage_flush_ms() -> u64 {
    1000
}
fn default_usage_batch() -> usize {
    256
}

impl Default for VerifySection {
    fn default() -> Self {
        Self {
            cache_capacity: default_cache_capacity(),
            cache_ttl_secs: default_cache_ttl(),
            max_failures_per_ip: default_ip_failures(),
            max_failures_per_token: default_token_failures(),
            failure_window_secs: default_failure_window(),
            limiter_capacity: default_limiter_capacity(),
            usage_flush_interval_ms: default_usage_flush_ms(),
            usage_batch_size: default_usage_batch(),
            resource_servers: Vec::new(),
        }
    }
}

/// How Patrol authenticates to the issuer at its token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WebClientAuth {
    /// A public client (PKCE only).
    None,
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
    /// RFC 7523 client assertion signed with `private_key_file`.
    PrivateKeyJwt,
}

/// The web page: OIDC sign-in (authorization code + PKCE) and sessions.
/// `patrol dev` turns it on by itself against the built-in issuer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSection {
    #[serde(default)]
    pub enabled: bool,
    /// The issuer users sign in with; it must also be one of `[[auth.issuers]]`,
    /// whose rules the access token is checked against, as on the API.
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub discovery_url: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_auth: WebClientAuth,
    /// Environment variable holding the client secret.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// File holding the client secret (surrounding whitespace ignored).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// PEM private key (RSA or EC P-256) for `private_key_jwt`.
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// `kid` put in the client assertion's header.
    #[serde(default)]
    pub private_key_id: Option<String>,
    /// The key's X.509 certificate (PEM), as registered with the provider:
    /// assertions then name it by thumbprint (`x5t`, `x5t#S256`), which is
    /// how Microsoft Entra finds certificate credentials.
    #[serde(default)]
    pub private_key_certificate_file: Option<PathBuf>,
    #[serde(default = "default_web_scopes")]
    pub scopes: String,
    /// RFC 8707 resource indicator sent on authorize and token requests.
    #[serde(default)]
    pub resource: Option<String>,
    /// Absolute session lifetime: no refresh extends it.
    #[serde(default = "default_session_hours")]
    pub session_max_hours: u64,
    /// A session unused this long ends.
    #[serde(default = "default_session_idle")]
    pub session_idle_minutes: u64,
}

fn default_web_scopes() -> String {
    "openid profile email offline_access vso.pats vso.pats_manage".into()
}
fn default_session_hours() -> u64 {
    12
}
fn default_session_idle() -> u64 {
    60
}

impl Default for WebSection {
    fn default() -> Self {
        Self {
            enabled: false,
            issuer: None,
            discovery_url: None,
            client_id: None,
            client_auth: WebClientAuth::default(),
            client_secret_env: None,
            client_secret_file: None,
            private_key_file: None,
            private_key_id: None,
            private_key_certificate_file: None,
            scopes: default_web_scopes(),
            resource: None,
            session_max_hours: default_session_hours(),
            session_idle_minutes: default_session_idle(),
        }
    }
}

impl WebSection {
    fn validate(&self, cfg: &Config) -> anyhow::Result<()> {
        if self.session_max_hours == 0 || self.session_max_hours > 24 * 90 {
            bail!("web.session_max_hours must be between 1 and 2160");
        }
        if self.session_idle_minutes == 0 {
            bail!("web.session_idle_minutes must be at least 1");
        }
        if !self.scopes.split_whitespace().any(|s| s == "openid") {
            bail!("web.scopes must include openid");
        }
        if !self.enabled {
            return Ok(());
        }
        let Some(issuer) = &self.issuer else {
            bail!("web.enabled needs web.issuer");
        };
        if !cfg.auth.issuers.iter().any(|i| &i.issuer == issuer) {
            bail!("web.issuer '{issuer}' must also be configured in [[auth.issuers]]");
        }
        if self.client_id.as_deref().is_none_or(str::is_empty) {
            bail!("web.enabled needs web.client_id");
        }
        match cfg.server.public_url.as_deref().map(url::Url::parse) {
            Some(Ok(u)) if u.scheme() == "https" => {}
            // Plain HTTP only where the browser itself stays on the machine:
            // session cookies would travel in clear text anywhere else.
            Some(Ok(u)) if u.scheme() == "http" => {
                let loopback = match u.host() {
                    Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                    Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                    Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                    None => false,
                };
                if !loopback {
                    bail!("web.enabled needs an https server.public_url (plain http only on localhost)");
                }
            }
            _ => bail!(
                "web.enabled needs server.public_url (https://…), the base of the redirect URI"
            ),
        }
        let secret = self.client_secret_env.is_some() || self.client_secret_file.is_some();
        if self.private_key_certificate_file.is_some()
            && self.client_auth != WebClientAuth::PrivateKeyJwt
        {
            bail!(
                "web.private_key_certificate_file is only used with client_auth = private_key_jwt"
            );
        }
        match self.client_auth {
            WebClientAuth::ClientSecretBasic | WebClientAuth::ClientSecretPost => {
                if self.client_secret_env.is_some() == self.client_secret_file.is_some() {
                    bail!("web.client_auth = {:?} needs exactly one of web.client_secret_env or web.client_secret_file", self.client_auth);
                }
            }
            WebClientAuth::PrivateKeyJwt => {
                if self.private_key_file.is_none() {
                    bail!("web.client_auth = private_key_jwt needs web.private_key_file");
                }
                if secret {
                    bail!("web: a client secret is not used with private_key_jwt; remove it");
                }
            }
            WebClientAuth::None => {
                if secret || self.private_key_file.is_some() {
                    bail!("web.client_auth = none takes no secret or key");
                }
            }
        }
        Ok(())
    }

    /// The client secret, from the environment or a file.
    pub fn client_secret(&self) -> anyhow::Result<Option<secrecy::SecretString>> {
        let text = match (&self.client_secret_env, &self.client_secret_file) {
            (Some(var), _) => std::env::var(var)
                .with_context(|| format!("web: environment variable {var} is not set"))?,
            (None, Some(path)) => std::fs::read_to_string(path)
                .with_context(|| format!("web: reading {}", path.display()))?,
            (None, None) => return Ok(None),
        };
        let secret = text.trim().to_owned();
        if secret.is_empty() {
            bail!("web: the client secret is empty");
        }
        Ok(Some(secrecy::SecretString::from(secret)))
    }
}

/// A registered resource server (introspection caller) and where its secret lives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceServerRef {
    pub client_id: String,
    /// Environment variable holding the client secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// File holding the client secret (surrounding whitespace ignored).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

impl VerifySection {
    fn validate(&self) -> anyhow::Result<()> {
        if self.cache_ttl_secs > 300 {
            bail!("verify.cache_ttl_secs must be at most 300");
        }
        if self.max_failures_per_ip == 0 || self.max_failures_per_token == 0 {
            bail!(
                "verify.max_failures_per_ip and verify.max_failures_per_token must be at least 1"
            );
        }
        if self.failure_window_secs == 0 || self.failure_window_secs > 86_400 {
            bail!("verify.failure_window_secs must be between 1 and 86400");
        }
        if self.limiter_capacity == 0 {
            bail!("verify.limiter_capacity must be at least 1");
        }
        if self.usage_flush_interval_ms == 0 || self.usage_batch_size == 0 {
            bail!("verify.usage_flush_interval_ms and verify.usage_batch_size must be at least 1");
        }
        for (i, rs) in self.resource_servers.iter().enumerate() {
            let id_ok = !rs.client_id.is_empty()
                && rs.client_id.len() <= 128
                && rs
                    .client_id
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b':');
            if !id_ok {
                bail!(
                    "verify.resource_servers: client_id '{}' is not valid",
                    rs.client_id
                );
            }
            if self.resource_servers[..i]
                .iter()
                .any(|o| o.client_id == rs.client_id)
            {
                bail!(
                    "verify.resource_servers: duplicate client_id '{}'",
                    rs.client_id
                );
            }
            if rs.secret_env.is_some() == rs.secret_file.is_some() {
                bail!(
                    "resource server '{}' needs exactly one of `secret_env` or `secret_file`",
                    rs.client_id
                );
            }
        }
        Ok(())
    }

    /// Resolve every resource server's secret: `(client_id, secret)`.
    pub fn resource_server_secrets(&self) -> anyhow::Result<Vec<(String, secrecy::SecretString)>> {
        let mut out = Vec::new();
        for rs in &self.resource_servers {
            let text = match (&rs.secret_env, &rs.secret_file) {
                (Some(var), None) => std::env::var(var).with_context(|| {
                    format!(
                        "resource server '{}': environment variable {var} is not set",
                        rs.client_id
                    )
                })?,
                (None, Some(path)) => std::fs::read_to_string(path).with_context(|| {
                    format!(
                        "resource server '{}': reading {}",
                        rs.client_id,
                        path.display()
                    )
                })?,
                _ => bail!(
                    "resource server '{}' needs exactly one of `secret_env` or `secret_file`",
                    rs.client_id
                ),
            };
            let secret = text.trim().to_owned();
            if secret.len() < 16 {
                bail!(
                    "resource server '{}': the secret must be at least 16 characters",
                    rs.client_id
                );
            }
            out.push((rs.client_id.clone(), secrecy::SecretString::from(secret)));
        }
        Ok(out)
    }
}

impl Default for AuthSection {
    fn default() -> Self {
        Self {
            issuers: Vec::new(),
            accept_user_impersonation: false,
            max_failures_per_ip: auth_failures(),
        }
    }
}

impl Config {
    /// Read a TOML file, then apply `PATROL_*` environment overrides.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let mut cfg: Config = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading config file {}", p.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("parsing config file {}", p.display()))?
            }
            None => toml::from_str("")?,
        };
        cfg.apply_env(|k| std::env::var(k).ok())?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// `PATROL_LISTEN`, `PATROL_PUBLIC_URL`, `PATROL_LOG_FORMAT`, `PATROL_DATABASE_PATH`,
    /// `PATROL_TOKEN_SIGNATURE`. (`PATROL_SERVER_KEY[_FILE]` is read by [`Config::server_keys`].)
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(v) = get("PATROL_LISTEN") {
            self.server.listen = v.parse().with_context(|| format!("PATROL_LISTEN={v}"))?;
        }
        if let Some(v) = get("PATROL_PUBLIC_URL") {
            self.server.public_url = Some(v);
        }
        if let Some(v) = get("PATROL_LOG_FORMAT") {
            self.server.log_format = match v.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => bail!("PATROL_LOG_FORMAT must be text or json"),
            };
        }
        if let Some(v) = get("PATROL_DATABASE_PATH") {
            self.database.sqlite_path = PathBuf::from(v);
        }
        if let Some(v) = get("PATROL_TOKEN_SIGNATURE") {
            self.tokens.signature = v;
        }
        Ok(())
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        patrol_core::token::ProviderSignature::parse(&self.tokens.signature)
            .map_err(|e| anyhow::anyhow!("tokens.signature: {e}"))?;
        if self.tokens.default_lifetime_days < 1 || self.tokens.max_lifetime_days < 1 {
            bail!("token lifetimes must be at least one day");
        }
        if self.tokens.default_lifetime_days > self.tokens.max_lifetime_days {
            bail!("tokens.default_lifetime_days exceeds tokens.max_lifetime_days");
        }
        for n in &self.organizations.names {
            if !patrol_core::user::valid_org_name(n) {
                bail!("organization name '{n}' is not valid");
            }
        }
        self.verify.validate()?;
        self.web.validate(self)
    }

    /// Resolve the server keys: `PATROL_SERVER_KEY` / `PATROL_SERVER_KEY_FILE`
    /// (id `PATROL_SERVER_KEY_ID`, default `k1`) come first, then `[keys]`.
    pub fn server_keys(&self) -> anyhow::Result<Vec<ServerKey>> {
        let mut keys = Vec::new();
        let env_id = std::env::var("PATROL_SERVER_KEY_ID").unwrap_or_else(|_| "k1".into());
        if let Ok(v) = std::env::var("PATROL_SERVER_KEY") {
            keys.push(ServerKey::new(&env_id, decode_key(&v)?)?);
        } else if let Ok(p) = std::env::var("PATROL_SERVER_KEY_FILE") {
            let text = std::fs::read_to_string(&p).with_context(|| format!("reading {p}"))?;
            keys.push(ServerKey::new(&env_id, decode_key(&text)?)?);
        }
        for k in &self.keys.server_keys {
            let text = match (&k.env, &k.file) {
                (Some(var), None) => std::env::var(var).with_context(|| {
                    format!(
                        "server key '{}': environment variable {var} is not set",
                        k.id
                    )
                })?,
                (None, Some(path)) => std::fs::read_to_string(path).with_context(|| {
                    format!("server key '{}': reading {}", k.id, path.display())
                })?,
                _ => bail!("server key '{}' needs exactly one of `env` or `file`", k.id),
            };
            keys.push(ServerKey::new(&k.id, decode_key(&text)?)?);
        }
        if keys.is_empty() {
            bail!("no server key configured: set PATROL_SERVER_KEY or [keys] server_keys");
        }
        Ok(keys)
    }
}

/// Hex (64+ characters) or standard base64.
pub fn decode_key(text: &str) -> anyhow::Result<Vec<u8>> {
    let t = text.trim();
    if t.len() >= 64 && t.len().is_multiple_of(2) && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        let bytes = (0..t.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&t[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()?;
        return Ok(bytes);
    }
    base64::engine::general_purpose::STANDARD
        .decode(t)
        .context("server key must be hex or base64")
}

/// The fully commented example configuration, embedded in the binary.
pub const EXAMPLE_CONFIG: &str = include_str!("../../../docs/patrol.example.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses() {
        let cfg: Config = toml::from_str(EXAMPLE_CONFIG).unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.tokens.signature, "AZDO");
        assert!(!cfg.auth.issuers.is_empty());
    }

    #[test]
    fn web_section_rules() {
        let base = |server: &str, web: &str| {
            let text = format!(
                "[server]\n{server}\n[[auth.issuers]]\nissuer = \"https://idp.test\"\naudiences = [\"api\"]\n[web]\n{web}\n"
            );
            toml::from_str::<Config>(&text).unwrap().validate()
        };
        let ok = "enabled = true\nissuer = \"https://idp.test\"\nclient_id = \"web\"\nclient_secret_env = \"X\"";
        base("public_url = \"https://patrol.test\"", ok).unwrap();
        let err = |server: &str, web: &str| base(server, web).unwrap_err().to_string();
        assert!(err("", ok).contains("public_url"));
        assert!(err("public_url = \"http://patrol.test\"", ok).contains("https"));
        base("public_url = \"http://127.0.0.1:8080\"", ok).unwrap();
        base("public_url = \"http://localhost:8080\"", ok).unwrap();
        assert!(err(
            "public_url = \"https://patrol.test\"",
            &ok.replace("https://idp.test", "https://other.test")
        )
        .contains("[[auth.issuers]]"));
        assert!(err(
            "public_url = \"https://patrol.test\"",
            &format!("{ok}\nclient_auth = \"private_key_jwt\"")
        )
        .contains("private_key_file"));
        assert!(err(
            "public_url = \"https://patrol.test\"",
            &ok.replace("client_secret_env = \"X\"", "")
        )
        .contains("client_secret"));
        assert!(err(
            "public_url = \"https://patrol.test\"",
            &format!("{ok}\nscopes = \"profile\"")
        )
        .contains("openid"));
        assert!(err(
            "public_url = \"https://patrol.test\"",
            &format!("{ok}\nprivate_key_certificate_file = \"/c.pem\"")
        )
        .contains("only used with"));
        // A literal secret is not even a key: secrets come from env or files.
        assert!(toml::from_str::<Config>("[web]\nclient_secret = \"s3cret\"").is_err());
        // Disabled: nothing else is required.
        base("", "enabled = false").unwrap();
    }

    #[test]
    fn web_client_secret_from_a_file_or_the_environment() {
        use secrecy::ExposeSecret;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "  s3cret-from-file\n").unwrap();
        let web = WebSection {
            client_secret_file: Some(file.clone()),
            ..WebSection::default()
        };
        assert_eq!(
            web.client_secret().unwrap().unwrap().expose_secret(),
            "s3cret-from-file"
        );
        std::fs::write(&file, "\n").unwrap();
        assert!(web
            .client_secret()
            .unwrap_err()
            .to_string()
            .contains("empty"));
        let web = WebSection {
            client_secret_env: Some("PATROL_TEST_SURELY_UNSET_WEB_SECRET".into()),
            ..WebSection::default()
        };
        assert!(web
            .client_secret()
            .unwrap_err()
            .to_string()
            .contains("PATROL_TEST_SURELY_UNSET_WEB_SECRET"));
        assert!(WebSection::default().client_secret().unwrap().is_none());
        // The secret never shows in Debug output of the configuration.
        assert!(!format!("{:?}", WebSection::default()).contains("s3cret"));
    }

    #[test]
    fn env_overrides_file() {
        let mut cfg: Config = toml::from_str("[server]\nlisten = \"127.0.0.1:1\"\n").unwrap();
        cfg.apply_env(|k| match k {
            "PATROL_LISTEN" => Some("127.0.0.1:2".into()),
            "PATROL_LOG_FORMAT" => Some("json".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(cfg.server.listen.port(), 2);
        assert_eq!(cfg.server.log_format, LogFormat::Json);
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        assert!(toml::from_str::<Config>("[server]\nlisen = \"x\"\n").is_err());
        let mut cfg: Config = toml::from_str("").unwrap();
        cfg.tokens.signature = "1BAD".into();
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn verify_section() {
        let cfg: Config = toml::from_str("").unwrap();
        assert_eq!(cfg.verify.cache_capacity, 10_000);
        assert_eq!(cfg.verify.cache_ttl_secs, 5);
        assert_eq!(cfg.verify.max_failures_per_ip, 10);
        assert_eq!(cfg.verify.max_failures_per_token, 100);
        let dir = std::env::temp_dir().join(format!("patrol-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("rs-secret");
        std::fs::write(&f, "0123456789abcdef-secret\n").unwrap();
        let text = format!(
            "[verify]\ncache_ttl_secs = 2\n[[verify.resource_servers]]\nclient_id = \"gw\"\nsecret_file = {:?}\n",
            f.display().to_string()
        );
        let cfg: Config = toml::from_str(&text).unwrap();
        cfg.validate().unwrap();
        let secrets = cfg.verify.resource_server_secrets().unwrap();
        assert_eq!(secrets.len(), 1);
        assert_eq!(secrets[0].0, "gw");
        let dup =
            format!("{text}[[verify.resource_servers]]\nclient_id = \"gw\"\nsecret_env = \"X\"\n");
        assert!(toml::from_str::<Config>(&dup).unwrap().validate().is_err());
        let both = "[[verify.resource_servers]]\nclient_id = \"a\"\nsecret_env = \"X\"\nsecret_file = \"y\"\n";
        assert!(toml::from_str::<Config>(both).unwrap().validate().is_err());
        assert!(
            toml::from_str::<Config>("[verify]\nmax_failures_per_ip = 0\n")
                .unwrap()
                .validate()
                .is_err()
        );
        assert!(toml::from_str::<Config>("[verify]\nbogus = 1\n").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn key_decoding() {
        assert_eq!(decode_key(&"ab".repeat(32)).unwrap(), vec![0xab; 32]);
        assert_eq!(decode_key("AAAA").unwrap(), vec![0, 0, 0]);
        assert!(decode_key("!!").is_err());
    }
}
