//! `[database]`: SQLite (the default, one file) or PostgreSQL (`url`, for
//! several replicas; docs/postgres.md), and the PostgreSQL pool's limits.
//!
//! The URL may carry a password (`postgres://user:password@host/db`, or
//! `password=` in its query): it is kept as a secret, and shown only as
//! [`DatabaseSettings::describe`] redacts it. A password may also come from
//! `password = { env = "…" }` or `{ file = "…" }`.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use patrol_store::PostgresOptions;

use super::secrets::SecretSource;
use super::settings::{between, invalid};
use super::{ConfigError, Env};

/// Sets `database.url` too (the conventional name; `PATROL_DATABASE__URL`
/// is the one rule's spelling of the same key).
pub(super) const URL_SHORTCUT: &str = "PATROL_DATABASE_URL";

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSection {
    /// Path of the SQLite database file (used when `url` is not set).
    pub sqlite_path: PathBuf,
    /// `postgres://user@host:port/database` (`?sslmode=require` for TLS):
    /// PostgreSQL instead of SQLite.
    pub url: Option<String>,
    /// The PostgreSQL password, when not in the URL.
    pub password: Option<SecretSource>,
    /// PostgreSQL connections per replica.
    pub max_connections: u32,
    /// How long a request waits for a PostgreSQL connection.
    pub acquire_timeout_secs: u64,
    /// PostgreSQL cancels a statement running longer than this.
    pub statement_timeout_secs: u64,
    /// Bring the schema up to date when `patrol serve` starts (default). When
    /// false, `patrol serve` refuses to start while migrations are pending:
    /// `patrol migrate` applies them.
    pub migrate_on_start: bool,
}

impl Default for DatabaseSection {
    fn default() -> Self {
        let pg = PostgresOptions::default();
        Self {
            sqlite_path: PathBuf::from("patrol.db"),
            url: None,
            password: None,
            max_connections: pg.max_connections,
            acquire_timeout_secs: pg.acquire_timeout.as_secs(),
            statement_timeout_secs: pg.statement_timeout.as_secs(),
            migrate_on_start: true,
        }
    }
}

/// Which store the application opens.
pub enum DatabaseSettings {
    Sqlite(PathBuf),
    Postgres {
        /// May hold a password: never logged as is (see [`Self::describe`]).
        url: SecretString,
        password: Option<SecretString>,
        options: PostgresOptions,
    },
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl DatabaseSettings {
    /// What to log: the SQLite path, or the PostgreSQL URL without its
    /// password (in the authority or the query) — `postgres://user:***@host/db`.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("SQLite {}", path.display()),
            Self::Postgres { url, .. } => format!("PostgreSQL {}", redact(url.expose_secret())),
        }
    }
}

/// `url` with any password replaced by `***`; unparsable: only its scheme.
pub fn redact(url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else {
        return "(unparsable URL)".into();
    };
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if k.eq_ignore_ascii_case("password") {
                    "***".to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.into()
}

impl DatabaseSection {
    pub(super) fn resolve(self, env: &Env) -> Result<DatabaseSettings, ConfigError> {
        let Some(url) = self.url else {
            if self.sqlite_path.as_os_str().is_empty() {
                return Err(invalid("database.sqlite_path", "must not be empty"));
            }
            if self.password.is_some() {
                return Err(invalid("database.password", "only with database.url"));
            }
            return Ok(DatabaseSettings::Sqlite(self.sqlite_path));
        };
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(invalid(
                "database.url",
                format!(
                    "must be a postgres:// or postgresql:// URL (is {})",
                    redact(&url)
                ),
            ));
        }
        if url::Url::parse(&url).is_err() {
            return Err(invalid("database.url", "is not a URL"));
        }
        let max_connections = between("database.max_connections", self.max_connections, 1, 10_000)?;
        let acquire = between(
            "database.acquire_timeout_secs",
            self.acquire_timeout_secs,
            1,
            600,
        )?;
        let statement = between(
            "database.statement_timeout_secs",
            self.statement_timeout_secs,
            1,
            86_400,
        )?;
        let password = self
            .password
            .map(|p| p.read(env, "database.password"))
            .transpose()?;
        Ok(DatabaseSettings::Postgres {
            url: SecretString::from(url),
            password,
            options: PostgresOptions {
                max_connections,
                acquire_timeout: Duration::from_secs(acquire),
                statement_timeout: Duration::from_secs(statement),
            },
        })
    }
}

/// `PATROL_DATABASE_URL`, applied after the file and `PATROL_*__*`; setting
/// it and `PATROL_DATABASE__URL` both is an error.
pub(super) fn url_shortcut(env: &Env, section: &mut DatabaseSection) -> Result<(), ConfigError> {
    let Some(url) = env.get(URL_SHORTCUT) else {
        return Ok(());
    };
    if env.get("PATROL_DATABASE__URL").is_some() {
        return Err(ConfigError::Env {
            var: URL_SHORTCUT.to_owned(),
            message: "set PATROL_DATABASE_URL or PATROL_DATABASE__URL, not both".into(),
        });
    }
    section.url = Some(url.to_owned());
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn passwords_never_show() {
        for (url, shown) in [
            (
                "postgres://patrol:s3cret@db:5432/patrol?sslmode=require",
                "postgres://patrol:***@db:5432/patrol?sslmode=require",
            ),
            (
                "postgresql://db/patrol?user=p&password=s3cret",
                "postgresql://db/patrol?user=p&password=***",
            ),
            ("postgres://patrol@db/patrol", "postgres://patrol@db/patrol"),
            ("not a url s3cret", "(unparsable URL)"),
        ] {
            assert_eq!(redact(url), shown);
            assert!(!redact(url).contains("s3cret"));
        }
        let settings = DatabaseSection {
            url: Some("postgres://patrol:s3cret@db/patrol".into()),
            ..DatabaseSection::default()
        }
        .resolve(&Env::default())
        .unwrap();
        assert!(!format!("{settings:?}").contains("s3cret"));
        assert_eq!(
            settings.describe(),
            "PostgreSQL postgres://patrol:***@db/patrol"
        );
    }

    #[test]
    fn sqlite_unless_a_url_is_given() {
        let s = DatabaseSection::default().resolve(&Env::default()).unwrap();
        assert!(matches!(s, DatabaseSettings::Sqlite(p) if p == std::path::Path::new("patrol.db")));
        let env: Env = [("PGPASS", "pw")].into_iter().collect();
        let s = DatabaseSection {
            url: Some("postgres://patrol@db/patrol".into()),
            password: Some(SecretSource::Env("PGPASS".into())),
            max_connections: 3,
            ..DatabaseSection::default()
        }
        .resolve(&env)
        .unwrap();
        let DatabaseSettings::Postgres {
            password, options, ..
        } = s
        else {
            panic!("PostgreSQL expected");
        };
        assert_eq!(password.unwrap().expose_secret(), "pw");
        assert_eq!(options.max_connections, 3);
        assert_eq!(options.acquire_timeout, Duration::from_secs(5));
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            (
                DatabaseSection {
                    url: Some("mysql://x:s3cret@db/p".into()),
                    ..DatabaseSection::default()
                },
                "database.url",
            ),
            (
                DatabaseSection {
                    url: Some("postgres://db/p".into()),
                    max_connections: 0,
                    ..DatabaseSection::default()
                },
                "database.max_connections",
            ),
            (
                DatabaseSection {
                    password: Some(SecretSource::Env("X".into())),
                    ..DatabaseSection::default()
                },
                "database.password",
            ),
        ];
        for (section, key) in cases {
            let e = section.resolve(&Env::default()).unwrap_err();
            assert!(
                matches!(&e, ConfigError::Invalid { key: k, .. } if k == key),
                "{e}"
            );
            assert!(!e.to_string().contains("s3cret"));
        }
    }
}
