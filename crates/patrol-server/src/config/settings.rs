//! `Config → Settings`, once, at start-up: every range checked (so nothing
//! can overflow or panic later), every value converted to the type the
//! application runs with, every secret read from where it lives.

use chrono::Duration;
use secrecy::SecretString;

use patrol_auth::verifier::IssuerConfig;
use patrol_core::hashing::ServerKey;
use patrol_core::roles::RoleRules;

use crate::app::verify::VerifySettings;
use crate::app::{Policy, SessionPolicy};

use super::cli::CliLogin;
use super::resolve::{allowed_clients, resource_servers, server_keys, tokens, verify};
use super::sections::ServerSection;
use super::web::WebSettings;
use super::{Config, ConfigError, Env};

/// The longest token lifetime and inactivity window accepted, in days.
pub const MAX_DAYS: u32 = 3650;
/// Management-API authentication failures are counted per minute…
const AUTH_FAILURE_WINDOW_SECS: i64 = 60;
/// …for at most this many source addresses at once (bounded memory).
const AUTH_LIMITER_CAPACITY: usize = 100_000;
/// Shortest resource-server secret accepted.
pub(super) const MIN_RS_SECRET_CHARS: usize = 16;

/// What the application runs with (see [`Config::resolve`]).
#[derive(Debug)]
pub struct Settings {
    /// Listen address, public URL (checked), log format, trusted proxies, body limit.
    pub server: ServerSection,
    /// SQLite (a file) or PostgreSQL (`[database] url`).
    pub database: super::DatabaseSettings,
    /// `[database] migrate_on_start`: migrate at start-up, or refuse to start
    /// while migrations are pending.
    pub migrate_on_start: bool,
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
    /// Who may report leaked tokens (`[leaks]`).
    pub leaks: super::LeakIntake,
    /// The SCIM provisioning client's secrets (`[scim]`); `None`: SCIM is off.
    pub scim_tokens: Option<Vec<SecretString>>,
    /// SMTP and the job runner's interval (`[smtp]`, `[notifications]`).
    pub notify: super::NotifySettings,
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

pub(super) fn at_least<T>(key: &str, value: T, lo: T) -> Result<T, ConfigError>
where
    T: PartialOrd + std::fmt::Display + Copy,
{
    if value < lo {
        return Err(invalid(key, format!("must be at least {lo} (is {value})")));
    }
    Ok(value)
}

pub(super) fn seconds(s: u64) -> Duration {
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
        let smtp = self.smtp.resolve(env)?;
        let (warn_days, tick, max_attempts, retry_base) = self.notifications.resolve()?;
        let retention = between(
            "tokens.retention_days",
            self.tokens.retention_days,
            1,
            MAX_DAYS,
        )?;
        let purge_after = between(
            "tokens.purge_after_days",
            self.tokens.purge_after_days,
            0,
            MAX_DAYS,
        )?;
        let policy = Policy {
            notify: crate::app::NotifyPolicy {
                email: smtp.is_some(),
                warn_days,
                retention: Duration::days(i64::from(retention)),
                purge_after: Duration::days(i64::from(purge_after)),
                max_attempts,
                retry_base,
                lease: self.notifications.lease(),
            },
            ..policy
        };
        let roles = self.roles.resolve()?;
        let leaks = self.leaks.resolve(env)?;
        Ok(Settings {
            server_keys: server_keys(&self, env)?,
            resource_servers: resource_servers(&self.verify, env)?,
            scim_tokens: self.scim.resolve(env)?,
            server: self.server,
            migrate_on_start: self.database.migrate_on_start,
            database: self.database.resolve(env)?,
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
            leaks,
            notify: super::NotifySettings {
                smtp,
                outbox_dir: self.smtp.outbox_dir,
                from: self.smtp.from,
                tick,
            },
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
        assert_eq!(s.policy.require_interactive_signin, None, "off by default");
        assert!(s.scim_tokens.is_none(), "[scim] is off by default");
        let on = resolve("[tokens]\nrequire_interactive_signin_days = 30").unwrap();
        assert_eq!(
            on.policy.require_interactive_signin,
            Some(Duration::days(30))
        );
        assert!(resolve("[tokens]\nrequire_interactive_signin_days = 3651").is_err());
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
