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
        Self { sqlite_path: default_db() }
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
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// Trusted OIDC issuers for the management API.
    #[serde(default)]
    pub issuers: Vec<IssuerConfig>,
    /// Accept Entra's legacy `user_impersonation` scope in place of `vso.pats*`.
    #[serde(default)]
    pub accept_user_impersonation: bool,
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
        Self { names: Vec::new(), auto_join: true }
    }
}

impl Config {
    /// Read a TOML file, then apply `PATROL_*` environment overrides.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let mut cfg: Config = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading config file {}", p.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing config file {}", p.display()))?
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
        Ok(())
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
                (Some(var), None) => std::env::var(var)
                    .with_context(|| format!("server key '{}': environment variable {var} is not set", k.id))?,
                (None, Some(path)) => std::fs::read_to_string(path)
                    .with_context(|| format!("server key '{}': reading {}", k.id, path.display()))?,
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
    if t.len() >= 64 && t.len() % 2 == 0 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
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
    fn key_decoding() {
        assert_eq!(decode_key(&"ab".repeat(32)).unwrap(), vec![0xab; 32]);
        assert_eq!(decode_key("AAAA").unwrap(), vec![0, 0, 0]);
        assert!(decode_key("!!").is_err());
    }
}
