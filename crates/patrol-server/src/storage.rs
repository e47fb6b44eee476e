//! Opening the configured store and setting it up: the schema (migrated at
//! start-up, or checked when `[database] migrate_on_start = false`), the
//! configured organizations, `patrol dev`'s users. On PostgreSQL a server
//! whose database is unreachable at start-up still starts: it answers
//! `/healthz`, reports `/readyz` 503 and retries the set-up in the
//! background with backoff until the database answers (docs/deployment.md).
//! Also `patrol migrate` and the copy of a SQLite database into PostgreSQL.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;
use tokio::sync::watch;

use patrol_auth::dev_issuer;
use patrol_core::clock::Clock;
use patrol_core::user::UserClaims;
use patrol_store::copy::CopiedTable;
pub use patrol_store::Migration;
use patrol_store::{PostgresStore, SqliteStore, Store};

use crate::config::DatabaseSettings;
use crate::dev;

/// The first wait between two set-up attempts; it doubles up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// An opened store, by backend (migrations are not part of [`Store`]).
#[derive(Clone)]
pub enum Opened {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl Opened {
    /// Open without touching the schema. PostgreSQL connects lazily: this
    /// fails only for a bad URL, never because the database is down.
    pub async fn open(database: &DatabaseSettings) -> anyhow::Result<Self> {
        Ok(match database {
            DatabaseSettings::Sqlite(path) => Self::Sqlite(
                SqliteStore::open_unmigrated(path)
                    .await
                    .with_context(|| format!("opening {}", path.display()))?,
            ),
            DatabaseSettings::Postgres {
                url,
                password,
                options,
            } => {
                let password = password.as_ref().map(|p| p.expose_secret());
                Self::Postgres(
                    PostgresStore::connect_with_password(url.expose_secret(), password, *options)
                        .with_context(|| format!("database.url: {}", database.describe()))?,
                )
            }
        })
    }

    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            Self::Sqlite(s) => Arc::new(s.clone()),
            Self::Postgres(s) => Arc::new(s.clone()),
        }
    }

    /// Apply the pending migrations; those applied.
    pub async fn migrate(&self) -> anyhow::Result<Vec<Migration>> {
        Ok(match self {
            Self::Sqlite(s) => s.migrate().await?,
            Self::Postgres(s) => s.migrate().await?,
        })
    }

    pub async fn pending_migrations(&self) -> anyhow::Result<Vec<Migration>> {
        Ok(match self {
            Self::Sqlite(s) => s.pending_migrations().await?,
            Self::Postgres(s) => s.pending_migrations().await?,
        })
    }
}

/// Migrations left for `patrol migrate`: the error `patrol serve` stops with
/// when `[database] migrate_on_start = false`.
#[derive(Debug, thiserror::Error)]
#[error(
    "the database schema is not up to date: {} migration(s) pending ({}). \
     Run `patrol migrate` with this configuration first \
     (or set [database] migrate_on_start = true)",
    .0.len(),
    .0.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
)]
pub struct MigrationsPending(pub Vec<Migration>);

/// What setting the store up does besides the schema.
pub struct SetUp {
    pub migrate_on_start: bool,
    pub organizations: Vec<String>,
    pub auto_join: bool,
    /// `patrol dev`: its users join every organization.
    pub dev_users: bool,
    pub clock: Arc<dyn Clock>,
}

impl SetUp {
    /// Schema, organizations, dev users: every step safe to repeat.
    pub async fn run(&self, opened: &Opened) -> anyhow::Result<()> {
        if self.migrate_on_start {
            for m in opened.migrate().await.context("migrating the schema")? {
                tracing::info!(migration = %m, "migration applied");
            }
        } else {
            let pending = opened.pending_migrations().await?;
            if !pending.is_empty() {
                return Err(MigrationsPending(pending).into());
            }
        }
        let store = opened.store();
        let now = self.clock.now();
        for name in &self.organizations {
            let org = store
                .ensure_org(name, now)
                .await
                .with_context(|| format!("creating organization {name}"))?;
            // Known users join an organization added after they first signed
            // in — except those an administrator removed from it.
            if self.auto_join {
                store.join_all_unless_removed(org.id).await?;
            }
        }
        if self.dev_users {
            let orgs = store.list_orgs().await?;
            for u in dev_issuer::dev_users() {
                let claims = UserClaims {
                    issuer: dev::USER_ISSUER.to_owned(),
                    subject: u.oid.to_owned(),
                    display_name: u.name.to_owned(),
                    email: Some(u.email.to_owned()),
                    email_verified: true,
                };
                let user = store.upsert_user(&claims, now).await?;
                for o in &orgs {
                    store.join_unless_removed(user.id, o.id).await?;
                }
            }
        }
        Ok(())
    }
}

/// Set the store up now, or — PostgreSQL not answering — in the background:
/// the receiver turns true once it is done; the task, if one was started.
pub async fn set_up(
    opened: &Opened,
    database: &DatabaseSettings,
    set_up: SetUp,
) -> anyhow::Result<(watch::Receiver<bool>, Option<tokio::task::JoinHandle<()>>)> {
    let reachable = match opened {
        Opened::Sqlite(_) => true,
        Opened::Postgres(s) => s.ping().await.is_ok(),
    };
    if reachable {
        set_up.run(opened).await?;
        tracing::info!(database = %database.describe(), "store open");
        return Ok((watch::channel(true).1, None));
    }
    let shown = database.describe();
    tracing::warn!(
        database = %shown,
        "the database does not answer: serving, not ready, until it does"
    );
    let (tx, rx) = watch::channel(false);
    let opened = opened.clone();
    let task = tokio::spawn(async move {
        let mut wait = RETRY_FIRST;
        loop {
            tokio::time::sleep(wait).await;
            // A ping answers (or not) within its own short timeout.
            let attempt = match opened.store().ping().await {
                Ok(()) => set_up.run(&opened).await,
                Err(e) => Err(e.into()),
            };
            match attempt {
                Ok(()) => {
                    tracing::info!(database = %shown, "store open: ready");
                    let _ = tx.send(true);
                    return;
                }
                Err(e) if e.is::<MigrationsPending>() => {
                    tracing::error!(database = %shown, error = %format!("{e:#}"), "not ready");
                }
                Err(e) => {
                    tracing::warn!(
                        database = %shown,
                        error = %format!("{e:#}"),
                        retry_in_ms = wait.as_millis() as u64,
                        "store set-up failed; retrying"
                    );
                }
            }
            wait = (wait * 2).min(RETRY_MAX);
        }
    });
    Ok((rx, Some(task)))
}

/// `patrol migrate`: apply the pending migrations; those applied.
pub async fn migrate(database: &DatabaseSettings) -> anyhow::Result<Vec<Migration>> {
    let opened = Opened::open(database).await?;
    opened
        .migrate()
        .await
        .with_context(|| format!("migrating {}", database.describe()))
}

/// `patrol migrate --from-sqlite PATH`: migrate both databases, then copy
/// every row of the SQLite one into the (empty) PostgreSQL one.
pub async fn copy_from_sqlite(
    database: &DatabaseSettings,
    sqlite: &Path,
) -> anyhow::Result<(Vec<Migration>, Vec<CopiedTable>)> {
    let Opened::Postgres(to) = Opened::open(database).await? else {
        anyhow::bail!(
            "--from-sqlite copies into PostgreSQL: set [database] url (or PATROL_DATABASE_URL)"
        );
    };
    if !sqlite.is_file() {
        anyhow::bail!("{}: no such SQLite database file", sqlite.display());
    }
    let from = SqliteStore::open(sqlite)
        .await
        .with_context(|| format!("opening {}", sqlite.display()))?;
    let applied = to
        .migrate()
        .await
        .with_context(|| format!("migrating {}", database.describe()))?;
    let copied = patrol_store::copy::sqlite_to_postgres(&from, &to)
        .await
        .with_context(|| format!("copying {} into {}", sqlite.display(), database.describe()))?;
    Ok((applied, copied))
}
