//! The SQLite implementation: WAL, foreign keys, embedded migrations, a
//! database file only its owner can read. The SQL lives in one module per
//! table group; rows turn into domain types in `crate::rows`.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    Sqlite, SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::SqlitePool;

use patrol_core::user::AuditEvent;

use crate::common::IfUnchanged;
use crate::{Migration, StoreError, StoreResult};

mod admin;
mod audit;
pub(crate) mod group;
mod jobs;
mod pats;
mod policies;
mod scim;
mod sessions;
mod users;
mod verify;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Creates are committed in groups (`group.rs`).
    creates: crate::group::Creates,
}

/// One write statement, as [`with_audit`] takes it.
type Write<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>;

/// A state change and its audit record, in one transaction: either both are
/// stored or neither is. Returns the number of rows the write changed.
async fn with_audit(
    pool: &SqlitePool,
    write: Write<'_>,
    audit: Option<&AuditEvent>,
    if_unchanged: IfUnchanged,
) -> StoreResult<u64> {
    let mut tx = pool.begin().await?;
    let changed = write.execute(&mut *tx).await?.rows_affected();
    if changed == 0 {
        if let IfUnchanged::Refuse(e) = if_unchanged {
            return Err(e);
        }
    }
    if let Some(a) = audit {
        audit::insert(&mut tx, a, changed > 0).await?;
    }
    tx.commit().await?;
    Ok(changed)
}

fn migration_failed(e: sqlx::migrate::MigrateError) -> StoreError {
    StoreError::Backend(format!("migration failed: {e}"))
}

/// Create the database file readable and writable by its owner only, before
/// SQLite does (with the process umask). SQLite gives the `-wal` and `-shm`
/// files the database file's permissions. An existing file is left as is.
#[cfg(unix)]
fn create_private(path: &Path) -> StoreResult<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Backend(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
}

#[cfg(not(unix))]
fn create_private(_path: &Path) -> StoreResult<()> {
    Ok(())
}

impl SqliteStore {
    /// Open (creating if missing, mode 0600) the database at `path` and run migrations.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        Self::open_file(path, true).await
    }

    /// Open (creating if missing, mode 0600) the database at `path` without
    /// touching its schema: see [`SqliteStore::pending_migrations`] and
    /// [`SqliteStore::migrate`].
    pub async fn open_unmigrated(path: &Path) -> StoreResult<Self> {
        Self::open_file(path, false).await
    }

    async fn open_file(path: &Path, migrate: bool) -> StoreResult<Self> {
        create_private(path)?;
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // Create, switch to WAL and migrate over one connection before the
        // pool opens more: a second connection asking for WAL while the first
        // migrates gets "database is locked" at once, whatever the busy
        // timeout. Once the file is in WAL mode that request is a no-op, and
        // the pool's own migration run finds nothing left to do.
        {
            use sqlx::Connection as _;
            let mut conn = sqlx::SqliteConnection::connect_with(&opts).await?;
            if migrate {
                MIGRATOR.run(&mut conn).await.map_err(migration_failed)?;
            }
            conn.close().await?;
        }
        Self::connect(opts, migrate).await
    }

    /// Open from a `sqlite:` URL (e.g. `sqlite::memory:` in tests).
    pub async fn open_url(url: &str) -> StoreResult<Self> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        Self::connect(opts, true).await
    }

    async fn connect(opts: SqliteConnectOptions, migrate: bool) -> StoreResult<Self> {
        let in_memory = opts.get_filename().as_os_str() == ":memory:";
        let pool = SqlitePoolOptions::new()
            // An in-memory database exists per connection: keep exactly one.
            .max_connections(if in_memory { 1 } else { 8 })
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts.clone())
            .await?;
        if migrate {
            MIGRATOR.run(&pool).await.map_err(migration_failed)?;
        }
        Ok(Self {
            creates: crate::group::Creates::start(group::Writer {
                pool: pool.clone(),
                own: (!in_memory).then_some((opts, None)),
            }),
            pool,
        })
    }

    /// Bring the schema up to date; the migrations this run applied (empty:
    /// it was up to date).
    pub async fn migrate(&self) -> StoreResult<Vec<Migration>> {
        let pending = self.pending_migrations().await?;
        MIGRATOR.run(&self.pool).await.map_err(migration_failed)?;
        Ok(pending)
    }

    /// The embedded migrations this database has not applied yet.
    pub async fn pending_migrations(&self) -> StoreResult<Vec<Migration>> {
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master \
             WHERE type = 'table' AND name = '_sqlx_migrations')",
        )
        .fetch_one(&self.pool)
        .await?;
        let applied: Vec<i64> = if exists {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await?
        } else {
            Vec::new()
        };
        Ok(crate::schema::pending(
            &MIGRATOR,
            &applied.into_iter().collect(),
        ))
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Where creates go to be committed in groups (`group.rs`).
    fn creates(&self) -> &crate::group::Creates {
        &self.creates
    }

    async fn ping_database(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The journal mode in effect (`wal` for file databases).
    pub async fn journal_mode(&self) -> StoreResult<String> {
        Ok(sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&self.pool)
            .await?)
    }
}

// Each method hands over to the module that holds its SQL.
crate::delegate::delegate_store!(SqliteStore);
