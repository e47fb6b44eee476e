//! Configuration, layered: defaults → TOML file → environment → command-line
//! flags, then resolved once into the [`Settings`] the application runs with.
//!
//! One rule for the environment: `PATROL_<SECTION>__<KEY>` sets `<key>` of
//! `[<section>]` (upper case by custom, `__` between the two), e.g.
//! `PATROL_SERVER__LISTEN=0.0.0.0:8080` or `PATROL_VERIFY__CACHE_TTL_SECS=2`.
//! Values are TOML (`true`, `5`, `["a", "b"]`, `{ env = "X" }`); anything that
//! is not TOML, or a string-valued key, takes the text as it is. Other
//! `PATROL_*` names (one underscore-separated word list, no `__`) are not
//! configuration keys, except the single-key shortcuts `PATROL_SERVER_KEY` /
//! `PATROL_SERVER_KEY_FILE` (+ `PATROL_SERVER_KEY_ID`) and
//! `PATROL_DATABASE_URL` (= `PATROL_DATABASE__URL`). Unknown keys — in the
//! file or the environment — are errors that name the key.
//!
//! Secrets are never literals: see [`SecretSource`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

mod cli;
mod database;
mod leaks;
mod notify;
mod resolve;
mod roles;
mod scim;
mod secrets;
mod sections;
mod settings;
mod web;

pub use cli::{CliLogin, CliSection};
pub use database::{DatabaseSection, DatabaseSettings};
pub use leaks::{
    GitHubKey, GitHubKeyEntry, GitHubLeaksSection, GitLabLeaksSection, LeakIntake, LeaksSection,
};
pub use notify::{NotificationsSection, NotifySettings, SmtpSection, SmtpSettings};
pub use roles::{ClaimRuleSection, IssuerRolesSection, RolesSection};
pub use scim::ScimSection;
pub use secrets::{decode_key, KeyRef, SecretSource};
pub use sections::{
    AuthSection, KeysSection, LogFormat, OrganizationsSection, ResourceServerRef, ServerSection,
    TokensSection, VerifySection,
};
pub use settings::{AuthSettings, FailureLimit, Settings, UsageSettings, MAX_DAYS};
pub use web::{WebClient, WebClientAuth, WebSection, WebSettings};

/// The configuration as written: every section optional, every key defaulted.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerSection,
    pub database: DatabaseSection,
    pub keys: KeysSection,
    pub tokens: TokensSection,
    pub auth: AuthSection,
    pub organizations: OrganizationsSection,
    pub verify: VerifySection,
    pub web: WebSection,
    pub roles: RolesSection,
    pub cli: CliSection,
    pub leaks: LeaksSection,
    pub scim: ScimSection,
    pub smtp: SmtpSection,
    pub notifications: NotificationsSection,
}

/// Names of environment variables that set configuration keys start with this…
pub const ENV_PREFIX: &str = "PATROL_";
/// …and separate the section from the key with this.
pub const ENV_SEPARATOR: &str = "__";

/// Variables read before the one rule existed, and what replaces them.
const RETIRED: [(&str, &str); 5] = [
    ("PATROL_LISTEN", "PATROL_SERVER__LISTEN"),
    ("PATROL_PUBLIC_URL", "PATROL_SERVER__PUBLIC_URL"),
    ("PATROL_LOG_FORMAT", "PATROL_SERVER__LOG_FORMAT"),
    ("PATROL_DATABASE_PATH", "PATROL_DATABASE__SQLITE_PATH"),
    ("PATROL_TOKEN_SIGNATURE", "PATROL_TOKENS__SIGNATURE"),
];

/// Why the configuration cannot be used. Every message names the key, the
/// file or the variable; none contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config file {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {}: {message}", .path.display())]
    File { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
    #[error("{what}: {message}")]
    Secret { what: String, message: String },
}

/// The environment as the configuration sees it: the process's, or a list
/// (tests). `Debug` shows the names only: values may be secrets.
#[derive(Clone, Default)]
pub struct Env(BTreeMap<String, String>);

impl Env {
    /// The process environment (variables that are not UTF-8 are skipped).
    pub fn process() -> Self {
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Env {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// One `PATROL_<SECTION>__<KEY>` variable.
struct Override {
    var: String,
    path: Vec<String>,
    raw: String,
    value: toml::Value,
}

impl Override {
    fn parse(var: &str, raw: &str) -> Result<Option<Self>, ConfigError> {
        let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
            return Ok(None);
        };
        if !rest.contains(ENV_SEPARATOR) {
            return Ok(None);
        }
        let path: Vec<String> = rest
            .split(ENV_SEPARATOR)
            .map(str::to_ascii_lowercase)
            .collect();
        if path.iter().any(String::is_empty) {
            return Err(ConfigError::Env {
                var: var.to_owned(),
                message: format!("expected {ENV_PREFIX}<SECTION>{ENV_SEPARATOR}<KEY>"),
            });
        }
        let value = toml::Value::deserialize(toml::de::ValueDeserializer::new(raw))
            .unwrap_or_else(|_| toml::Value::String(raw.to_owned()));
        Ok(Some(Self {
            var: var.to_owned(),
            path,
            raw: raw.to_owned(),
            value,
        }))
    }

    /// Is the error at `at` (`server.listen`, `auth.issuers[0].issuer`) about this variable?
    fn covers(&self, at: &str) -> bool {
        let mine = self.path.join(".");
        let under = |outer: &str, inner: &str| {
            inner == outer
                || inner
                    .strip_prefix(outer)
                    .is_some_and(|r| r.starts_with('.') || r.starts_with('['))
        };
        under(&mine, at) || under(at, &mine)
    }

    fn apply(&self, table: &mut toml::Table) -> Result<(), ConfigError> {
        let Some((last, parents)) = self.path.split_last() else {
            return Ok(());
        };
        let mut t = table;
        for (i, seg) in parents.iter().enumerate() {
            let entry = t
                .entry(seg.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            t = match entry {
                toml::Value::Table(inner) => inner,
                _ => {
                    return Err(ConfigError::Env {
                        var: self.var.clone(),
                        message: format!("{} is not a table", self.path[..=i].join(".")),
                    })
                }
            };
        }
        t.insert(last.clone(), self.value.clone());
        Ok(())
    }
}

impl Config {
    /// Defaults, then the TOML file at `path` (if any), then `PATROL_*__*`
    /// variables from `env`, then the `PATROL_SERVER_KEY` and
    /// `PATROL_DATABASE_URL` shortcuts.
    pub fn load(path: Option<&Path>, env: &Env) -> Result<Self, ConfigError> {
        match path {
            None => Self::layered(None, env),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_owned(),
                    source,
                })?;
                Self::layered(Some((p, &text)), env)
            }
        }
    }

    fn layered(file: Option<(&Path, &str)>, env: &Env) -> Result<Self, ConfigError> {
        let mut table = toml::Table::new();
        if let Some((path, text)) = file {
            let in_file = |e: toml::de::Error| ConfigError::File {
                path: path.to_owned(),
                message: e.to_string(),
            };
            // The file alone first, so that its errors point at a line.
            toml::from_str::<Config>(text).map_err(in_file)?;
            table = toml::from_str(text).map_err(in_file)?;
        }
        for (old, new) in RETIRED {
            if env.get(old).is_some() {
                return Err(ConfigError::Env {
                    var: old.to_owned(),
                    message: format!("is no longer read; set {new} instead"),
                });
            }
        }
        let mut overrides = Vec::new();
        for (var, raw) in &env.0 {
            overrides.extend(Override::parse(var, raw)?);
        }
        let mut cfg: Config = loop {
            let mut merged = table.clone();
            for o in &overrides {
                o.apply(&mut merged)?;
            }
            let err = match serde_path_to_error::deserialize(toml::Value::Table(merged)) {
                Ok(cfg) => break cfg,
                Err(e) => e,
            };
            let at = err.path().to_string();
            let message = err.inner().message().to_owned();
            let Some(o) = overrides.iter_mut().find(|o| o.covers(&at)) else {
                return Err(ConfigError::Invalid { key: at, message });
            };
            if o.value.is_str() {
                return Err(ConfigError::Env {
                    var: o.var.clone(),
                    message: format!("{at}: {message}"),
                });
            }
            // `PATROL_WEB__CLIENT_ID=1234` reads as a number; a string was meant.
            o.value = toml::Value::String(o.raw.clone());
        };
        if let Some(key) = shortcut_server_key(env)? {
            cfg.keys.server_keys.insert(0, key);
        }
        database::url_shortcut(env, &mut cfg.database)?;
        Ok(cfg)
    }
}

/// `PATROL_SERVER_KEY` or `PATROL_SERVER_KEY_FILE` (not both), with the id
/// `PATROL_SERVER_KEY_ID` (default `k1`): a key placed before `[keys]`.
fn shortcut_server_key(env: &Env) -> Result<Option<KeyRef>, ConfigError> {
    const VAR: &str = "PATROL_SERVER_KEY";
    let in_env = env.get(VAR).map(|_| VAR.to_owned());
    let file = env.get("PATROL_SERVER_KEY_FILE").map(PathBuf::from);
    if in_env.is_none() && file.is_none() {
        return Ok(None);
    }
    let secret = SecretSource::new(in_env, file).map_err(|_| ConfigError::Env {
        var: VAR.to_owned(),
        message: "set PATROL_SERVER_KEY or PATROL_SERVER_KEY_FILE, not both".into(),
    })?;
    let id = env.get("PATROL_SERVER_KEY_ID").unwrap_or("k1").to_owned();
    Ok(Some(KeyRef { id, secret }))
}

/// The fully commented example configuration, embedded in the binary.
pub const EXAMPLE_CONFIG: &str = include_str!("../../../../docs/patrol.example.toml");

#[cfg(test)]
mod tests;
