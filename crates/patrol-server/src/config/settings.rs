//! `Config → Settings`, once, at start-up: every range checked (so nothing
//! can overflow or panic later), every value converted to the type the
//! application runs with, every secret read from where it lives.

use std::collections::HashMap;
use std::path::PathBuf;

use chrono::Duration;
use secrecy::{ExposeSecret, SecretString};

use patrol_auth::verifier::IssuerConfig;
use patrol_core::hashing::ServerKey;
use patrol_core::pat::LifetimePolicy;
use patrol_core::roles::RoleRules;
use patrol_core::token::MintOptions;

use crate::app::verify::VerifySettings;
use crate::app::{Policy, SessionPolicy};

use super::cli::CliLogin;
use super::sections::{ServerSection, TokensSection, VerifySection};
use super::web::WebSettings;
use super::{Config, ConfigError, Env};

/// The longest token lifetime and inactivity window accepted, in days.
pub const MAX_DAYS: u32 = 3650;
/// Management-API authentication failures are counted per minute…
const AUTH_FAILURE_WINDOW_SECS: i64 = 60;
/// …for at most this many source addresses at once (bounded memory).
const AUTH_LIMITER_CAPACITY: usize = 100_000;
/// Shortest resource-server secret accepted.
const MIN_RS_SECRET_CHARS: usize = 16;

/// What the application runs with (see [`Config::resolve`]).
#[derive(Debug)]
pub struct Settings {
    /// Listen address, public URL (checked), log format, trusted proxies, body limit.
    pub server: ServerSection,
    pub sqlite_path: PathBuf,
    /// The current key first.
    pub server_keys: Vec<ServerKey>,
    /// Organizations created at start-up.
    pub organizations: Vec<String>,
    /// Token signature, lifetimes, inactivity, auto-join, per-user limit.
    pub policy: Policy,
    pub auth: AuthSettings,
    pub verify: VerifySettings,
    pub usage: UsageSettings,
    /// Introspection callers: `(client_id, secret)`.
    pub resource_servers: Vec<(String, SecretString)>,
    pub web: WebSettings,
    /// Who administers Patrol (`[roles]`).
    pub roles: RoleRules,
    /// What `patrol login` is told to sign in with (`[cli]`); `patrol dev`
    /// fills it with the built-in issuer.
    pub cli: Option<CliLogin>,
}

/// The management API's authentication.
#[derive(Debug)]
pub struct AuthSettings {
    pub issuers: Vec<IssuerConfig>,
    /// Failed authentications per source address.
    pub failures: FailureLimit,
}

/// "At most `max` failures per key per `window`, for at most `capacity` keys."
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureLimit {
    pub max: u32,
    pub window: Duration,
    pub capacity: usize,
}

/// The background writer of last-use records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageSettings {
    pub flush_interval: std::time::Duration,
    pub batch_size: usize,
}

pub(super) fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// `value` if `lo <= value <= hi`, else an error naming the key and the range.
pub(super) fn between<T>(key: &str, value: T, lo: T, hi: T) -> Result<T, ConfigError>
where
    T: PartialOrd + std::fmt::Display + Copy,
{
    if value < lo || value > hi {
        return Err(invalid(
            key,
            format!("must be between {lo} and {hi} (is {value})"),
        ));
    }
    Ok(value)
}

fn at_least<T>(key: &str, value: T, lo: T) -> Result<T, ConfigError>
where
    T: PartialOrd + std::fmt::Display + Copy,
{
    if value < lo {
        return Err(invalid(key, format!("must be at least {lo} (is {value})")));
    }
    Ok(value)
}

fn seconds(s: u64) -> Duration {
    Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000))
}

impl Config {
    /// Check everything and convert it into [`Settings`]; secrets are read
    /// here (from `env` or files), once.
    pub fn resolve(self, env: &Env) -> Result<Settings, ConfigError> {
        let public_url = match self.server.public_url.as_deref() {
            None => None,
            Some(u) => Some(public_url(u)?),
        };
        at_least("server.max_body_bytes", self.server.max_body_bytes, 1024)?;
        let s = &self.server;
        between(
            "server.header_read_timeout_secs",
            s.header_read_timeout_secs,
            1,
            600,
        )?;
        between(
            "server.request_timeout_secs",
            s.request_timeout_secs,
            1,
            3600,
        )?;
        between("server.max_connections", s.max_connections, 1, 1_000_000)?;
        between("server.shutdown_grace_secs", s.shutdown_grace_secs, 0, 3600)?;
        if self.database.sqlite_path.as_os_str().is_empty() {
            return Err(invalid("database.sqlite_path", "must not be empty"));
        }
        for n in &self.organizations.names {
            if !patrol_core::user::valid_org_name(n) {
                return Err(invalid(
                    "organizations.names",
                    format!("'{n}' is not a valid organization name"),
                ));
            }
        }
        at_least("auth.max_failures_per_ip", self.auth.max_failures_per_ip, 1)?;
        let allowed_clients = allowed_clients(&self.auth.issuers)?;
        let web = self
            .web
            .resolve(public_url.as_ref(), &self.auth.issuers, env)?;
        let cli = self.cli.resolve(&self.auth.issuers)?;
        let policy = Policy {
            auto_join: self.organizations.auto_join,
            accept_user_impersonation: self.auth.accept_user_impersonation,
            session: SessionPolicy {
                max: web.session_max,
                idle: web.session_idle,
            },
            allowed_clients,
            ..tokens(&self.tokens)?
        };
        let (verify, usage) = verify(&self.verify)?;
        let roles = self.roles.resolve()?;
        Ok(Settings {
            server_keys: server_keys(&self, env)?,
            resource_servers: resource_servers(&self.verify, env)?,
            server: self.server,
            sqlite_path: self.database.sqlite_path,
            organizations: self.organizations.names,
            policy,
            auth: AuthSettings {
                issuers: self.auth.issuers,
                failures: FailureLimit {
                    max: self.auth.max_failures_per_ip,
                    window: Duration::seconds(AUTH_FAILURE_WINDOW_SECS),
                    capacity: AUTH_LIMITER_CAPACITY,
                },
            },
            verify,
            usage,
            web,
            roles,
            cli,
        })
    }
}

fn public_url(text: &str) -> Result<url::Url, ConfigError> {
    let bad = || {
        invalid(
            "server.public_url",
            format!("'{text}' is not an absolute http(s) URL"),
        )
    };
    let url = url::Url::parse(text).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(bad());
    }
    Ok(url)
}

/// `[tokens]` → the use cases' policy (auto-join is `[organizations]`'s).
fn tokens(t: &TokensSection) -> Result<Policy, ConfigError> {
    let max = between("tokens.max_lifetime_days", t.max_lifetime_days, 1, MAX_DAYS)?;
    let default = between(
        "tokens.default_lifetime_days",
        t.default_lifetime_days,
        1,
        max,
    )?;
    let inactive = between(
        "tokens.inactive_after_days",
        t.inactive_after_days,
        0,
        MAX_DAYS,
    )?;
    Ok(Policy {
        mint: MintOptions::with_signature(t.signature),
        lifetime: LifetimePolicy {
            default_lifetime: Duration::days(i64::from(default)),
            max_lifetime: Duration::days(i64::from(max)),
        },
        inactive_after: (inactive > 0).then(|| Duration::days(i64::from(inactive))),
        auto_join: true,
        max_active_per_user: at_least("tokens.max_active_per_user", t.max_active_per_user, 1)?,
        accept_user_impersonation: false,
        session: SessionPolicy::default(),
        allowed_clients: HashMap::new(),
    })
}

/// `[[auth.issuers]] allowed_client_ids` → issuer → accepted clients. A
/// list, when given, names at least one client (leave it out to accept any).
fn allowed_clients(issuers: &[IssuerConfig]) -> Result<HashMap<String, Vec<String>>, ConfigError> {
    let mut out = HashMap::new();
    for i in issuers {
        let Some(ids) = &i.allowed_client_ids else {
            continue;
        };
        let key = "auth.issuers.allowed_client_ids";
        if ids.is_empty() {
            return Err(invalid(
                key,
                format!(
                    "issuer '{}': name at least one client, or leave the key out to accept any",
                    i.issuer
                ),
            ));
        }
        if let Some(bad) = ids
            .iter()
            .find(|c| c.trim().is_empty() || c.trim() != c.as_str())
        {
            return Err(invalid(
                key,
                format!("issuer '{}': '{bad}' is not a client id", i.issuer),
            ));
        }
        out.insert(i.issuer.clone(), ids.clone());
    }
    Ok(out)
}

fn verify(v: &VerifySection) -> Result<(VerifySettings, UsageSettings), ConfigError> {
    between("verify.cache_ttl_secs", v.cache_ttl_secs, 0, 300)?;
    at_least("verify.max_failures_per_ip", v.max_failures_per_ip, 1)?;
    at_least("verify.max_failures_per_token", v.max_failures_per_token, 1)?;
    between(
        "verify.failure_window_secs",
        v.failure_window_secs,
        1,
        86_400,
    )?;
    at_least("verify.limiter_capacity", v.limiter_capacity, 1)?;
    between(
        "verify.usage_flush_interval_ms",
        v.usage_flush_interval_ms,
        1,
        60_000,
    )?;
    between("verify.usage_batch_size", v.usage_batch_size, 1, 100_000)?;
    for (i, rs) in v.resource_servers.iter().enumerate() {
        let id = &rs.client_id;
        let id_ok = !id.is_empty()
            && id.len() <= 128
            && id.bytes().all(|b| b.is_ascii_graphic() && b != b':');
        if !id_ok {
            return Err(invalid(
                "verify.resource_servers",
                format!("client_id '{id}' is not valid"),
            ));
        }
        if v.resource_servers[..i].iter().any(|o| &o.client_id == id) {
            return Err(invalid(
                "verify.resource_servers",
                format!("duplicate client_id '{id}'"),
            ));
        }
    }
    let settings = VerifySettings {
        cache_capacity: v.cache_capacity,
        cache_ttl: seconds(v.cache_ttl_secs),
        max_failures_per_ip: v.max_failures_per_ip,
        max_failures_per_token: v.max_failures_per_token,
        failure_window: seconds(v.failure_window_secs),
        limiter_capacity: v.limiter_capacity,
    };
    let usage = UsageSettings {
        flush_interval: std::time::Duration::from_millis(v.usage_flush_interval_ms),
        batch_size: v.usage_batch_size,
    };
    Ok((settings, usage))
}

fn server_keys(cfg: &Config, env: &Env) -> Result<Vec<ServerKey>, ConfigError> {
    let refs = &cfg.keys.server_keys;
    if refs.is_empty() {
        return Err(invalid(
            "keys.server_keys",
            "no server key configured: set PATROL_SERVER_KEY (or PATROL_SERVER_KEY_FILE) or [keys] server_keys",
        ));
    }
    for (i, k) in refs.iter().enumerate() {
        if refs[..i].iter().any(|o| o.id == k.id) {
            return Err(invalid(
                "keys.server_keys",
                format!("duplicate key id '{}'", k.id),
            ));
        }
    }
    refs.iter().map(|k| k.load(env)).collect()
}

fn resource_servers(
    v: &VerifySection,
    env: &Env,
) -> Result<Vec<(String, SecretString)>, ConfigError> {
    v.resource_servers
        .iter()
        .map(|rs| {
            let what = format!("resource server '{}'", rs.client_id);
            let secret = rs.secret.read(env, &what)?;
            if secret.expose_secret().chars().count() < MIN_RS_SECRET_CHARS {
                return Err(ConfigError::Secret {
                    what,
                    message: format!(
                        "the secret must be at least {MIN_RS_SECRET_CHARS} characters"
                    ),
                });
            }
            Ok((rs.client_id.clone(), secret))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "[keys]\nserver_keys = [{ id = \"k1\", env = \"KEY\" }]\n";

    fn env() -> Env {
        [
            ("KEY", "07".repeat(32)),
            ("RS", "0123456789abcdef-secret".into()),
        ]
        .into_iter()
        .collect()
    }

    fn resolve(text: &str) -> Result<Settings, String> {
        let cfg: Config = toml::from_str(&format!("{KEY}{text}")).map_err(|e| e.to_string())?;
        cfg.resolve(&env()).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_resolve_to_the_documented_values() {
        let s = resolve("").unwrap();
        assert_eq!(s.policy.mint.signature.to_string(), "AZDO");
        assert_eq!(s.policy.lifetime.default_lifetime, Duration::days(30));
        assert_eq!(s.policy.lifetime.max_lifetime, Duration::days(365));
        assert_eq!(s.policy.inactive_after, Some(Duration::days(90)));
        assert_eq!(s.policy.max_active_per_user, 500);
        assert!(s.policy.auto_join);
        assert_eq!(s.verify.cache_capacity, 10_000);
        assert_eq!(s.verify.cache_ttl, Duration::seconds(5));
        assert_eq!(s.verify.max_failures_per_ip, 10);
        assert_eq!(s.verify.max_failures_per_token, 100);
        assert_eq!(s.verify.failure_window, Duration::seconds(60));
        assert_eq!(s.verify.limiter_capacity, 100_000);
        assert_eq!(
            s.usage,
            UsageSettings {
                flush_interval: std::time::Duration::from_secs(1),
                batch_size: 256
            }
        );
        assert_eq!(
            s.auth.failures,
            FailureLimit {
                max: 30,
                window: Duration::minutes(1),
                capacity: 100_000
            }
        );
        assert_eq!(s.server_keys.len(), 1);
        assert_eq!(s.server_keys[0].id(), "k1");
        assert!(s.web.client.is_none());
        assert!(s.cli.is_none(), "[cli] is off by default");
        assert_eq!(s.web.session_idle, Duration::minutes(60));
        let off = resolve("[tokens]\ninactive_after_days = 0").unwrap();
        assert_eq!(off.policy.inactive_after, None);
    }

    #[test]
    fn out_of_range_values_are_refused_by_name() {
        for (text, key) in [
            (
                "[tokens]\nmax_lifetime_days = 0",
                "tokens.max_lifetime_days",
            ),
            (
                "[tokens]\nmax_lifetime_days = 4000000000",
                "tokens.max_lifetime_days",
            ),
            (
                "[tokens]\ndefault_lifetime_days = 0",
                "tokens.default_lifetime_days",
            ),
            (
                "[tokens]\ndefault_lifetime_days = 400",
                "tokens.default_lifetime_days",
            ),
            (
                "[tokens]\ninactive_after_days = 3651",
                "tokens.inactive_after_days",
            ),
            (
                "[tokens]\nmax_active_per_user = 0",
                "tokens.max_active_per_user",
            ),
            ("[server]\nmax_body_bytes = 0", "server.max_body_bytes"),
            (
                "[server]\nheader_read_timeout_secs = 0",
                "server.header_read_timeout_secs",
            ),
            (
                "[server]\nrequest_timeout_secs = 0",
                "server.request_timeout_secs",
            ),
            ("[server]\nmax_connections = 0", "server.max_connections"),
            (
                "[server]\npublic_url = \"patrol.test\"",
                "server.public_url",
            ),
            (
                "[server]\npublic_url = \"ftp://patrol.test\"",
                "server.public_url",
            ),
            ("[database]\nsqlite_path = \"\"", "database.sqlite_path"),
            (
                "[organizations]\nnames = [\"no spaces\"]",
                "organizations.names",
            ),
            (
                "[auth]\nmax_failures_per_ip = 0",
                "auth.max_failures_per_ip",
            ),
            ("[verify]\ncache_ttl_secs = 301", "verify.cache_ttl_secs"),
            (
                "[verify]\nmax_failures_per_ip = 0",
                "verify.max_failures_per_ip",
            ),
            (
                "[verify]\nmax_failures_per_token = 0",
                "verify.max_failures_per_token",
            ),
            (
                "[verify]\nfailure_window_secs = 0",
                "verify.failure_window_secs",
            ),
            (
                "[verify]\nfailure_window_secs = 86401",
                "verify.failure_window_secs",
            ),
            ("[verify]\nlimiter_capacity = 0", "verify.limiter_capacity"),
            (
                "[verify]\nusage_flush_interval_ms = 0",
                "verify.usage_flush_interval_ms",
            ),
            (
                "[verify]\nusage_flush_interval_ms = 9223372036854775807",
                "verify.usage_flush_interval_ms",
            ),
            ("[verify]\nusage_batch_size = 0", "verify.usage_batch_size"),
        ] {
            let e = resolve(text).unwrap_err();
            assert!(e.starts_with(key), "{text}: {e}");
        }
        // Not even of the right type: refused while reading the file.
        assert!(resolve("[tokens]\nsignature = \"1BAD\"")
            .unwrap_err()
            .contains("signature"));
        assert!(resolve("[tokens]\ninactive_after_days = -1")
            .unwrap_err()
            .contains("inactive_after_days"));
    }

    #[test]
    fn server_keys_and_resource_servers_are_read_once() {
        let cfg: Config = toml::from_str("").unwrap();
        let e = cfg.resolve(&env()).unwrap_err().to_string();
        assert!(e.contains("no server key"), "{e}");
        let two = "[[verify.resource_servers]]\nclient_id = \"gw\"\nsecret = { env = \"RS\" }\n";
        let s = resolve(two).unwrap();
        assert_eq!(s.resource_servers.len(), 1);
        assert_eq!(s.resource_servers[0].0, "gw");
        let dup = format!("{two}{two}");
        assert!(resolve(&dup)
            .unwrap_err()
            .contains("duplicate client_id 'gw'"));
        let short = two.replace("\"RS\"", "\"KEY_SHORT\"");
        let e = Config::resolve(
            toml::from_str(&format!("{KEY}{short}")).unwrap(),
            &[("KEY", "07".repeat(32)), ("KEY_SHORT", "short".into())]
                .into_iter()
                .collect(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("at least 16 characters"), "{e}");
        let bad_id = two.replace("\"gw\"", "\"a:b\"");
        assert!(resolve(&bad_id).unwrap_err().contains("not valid"));
    }

    #[test]
    fn client_allow_lists_per_issuer() {
        let issuer = |extra: &str| {
            format!(
                "[[auth.issuers]]\nissuer = \"https://idp.test\"\naudiences = [\"a\"]\n{extra}\n"
            )
        };
        assert!(resolve(&issuer(""))
            .unwrap()
            .policy
            .allowed_clients
            .is_empty());
        let s = resolve(&issuer("allowed_client_ids = [\"cli\", \"web\"]")).unwrap();
        assert_eq!(
            s.policy.allowed_clients.get("https://idp.test"),
            Some(&vec!["cli".to_owned(), "web".to_owned()])
        );
        // An empty list would refuse everyone: leave the key out to accept any client.
        let e = resolve(&issuer("allowed_client_ids = []")).unwrap_err();
        assert!(
            e.starts_with("auth.issuers.allowed_client_ids") && e.contains("at least one"),
            "{e}"
        );
        let e = resolve(&issuer("allowed_client_ids = [\" cli\"]")).unwrap_err();
        assert!(e.contains("not a client id"), "{e}");
    }

    #[test]
    fn duplicate_key_ids_are_refused() {
        let cfg: Config = toml::from_str(
            "[keys]\nserver_keys = [{ id = \"a\", env = \"KEY\" }, { id = \"a\", file = \"/k\" }]",
        )
        .unwrap();
        let e = cfg.resolve(&env()).unwrap_err().to_string();
        assert!(e.contains("duplicate key id 'a'"), "{e}");
    }
}
