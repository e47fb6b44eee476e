//! The PostgreSQL implementation, for several replicas over one database:
//! a connection pool with acquire and statement timeouts, TLS when the URL
//! asks for it (`sslmode=require`, `verify-ca`, `verify-full`), embedded
//! migrations run by [`PostgresStore::migrate`] (apart from connecting, so a
//! server can start while the database is down and report not-ready).
//!
//! The schema keeps SQLite's column representation (TEXT ids, BIGINT
//! microseconds, BOOLEAN flags, BYTEA digests), so rows turn into domain
//! types through the same `crate::rows`; the SQL lives in one module per
//! table group, as in `sqlite/`. Where SQLite's single writer made a
//! check-then-write atomic, PostgreSQL gets an explicit lock or a
//! conditional upsert (see `group.rs`, `jobs::acquire_lease`).

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions, Postgres};
use sqlx::PgPool;

use patrol_core::user::AuditEvent;

use crate::common::IfUnchanged;
use crate::{Migration, StoreError, StoreResult};

mod admin;
mod audit;
pub(crate) mod group;
mod jobs;
mod pats;
mod peers;
mod policies;
mod scim;
mod sessions;
mod users;
mod verify;

pub use peers::{
    PeerChannel, PeerEvent, PeerListener, PeerNotice, PeerSubject, MAX_NOTICES_PER_SEND,
    PEER_CHANNEL,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The organizations of the user `u.id`, one `"{id} {name}"` line each, as
/// `crate::rows` reads them (SQLite's is `rows::MEMBER_OF_SQL`).
pub(crate) const MEMBER_OF_SQL: &str =
    "(SELECT string_agg(o.id || ' ' || o.name, E'\\n') FROM memberships m \
     JOIN organizations o ON o.id = m.org_id WHERE m.user_id = u.id)";

/// The longest [`crate::Store::ping`] waits for the database.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// How to pool connections to PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostgresOptions {
    /// Connections per replica.
    pub max_connections: u32,
    /// How long a request waits for a free (or new) connection before failing.
    pub acquire_timeout: Duration,
    /// The server cancels a statement running longer than this.
    pub statement_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
    /// Creates are committed in groups (`group.rs`); the committing task
    /// starts with the first create (the pool itself may be built before a
    /// runtime runs).
    creates: std::sync::Arc<std::sync::OnceLock<crate::group::Creates>>,
}

/// One write statement, as [`with_audit`] takes it.
type Write<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

/// A state change and its audit record, in one transaction: either both are
/// stored or neither is. Returns the number of rows the write changed.
async fn with_audit(
    pool: &PgPool,
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

/// Run `write` — one whole transaction — again, twice at most, when the
/// database rolled it back to break a deadlock. Writes that change many
/// rows take their row locks in id order, but each row's trigger also
/// locks its owner's per-day count, in the order the rows are written, so
/// two such writes (or one and a group of creates) can still wait for each
/// other; PostgreSQL then rolls one back, which changed nothing.
async fn again_if_rolled_back<T, F, Fut>(mut write: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = StoreResult<T>>,
{
    let mut tries = 0;
    loop {
        match write().await {
            Err(StoreError::RolledBack(e)) if tries < 2 => {
                tries += 1;
                tracing::debug!(error = %e, "the database rolled a write back; running it again");
            }
            done => return done,
        }
    }
}

impl PostgresStore {
    /// A pool for the database at `url` (`postgres://user:password@host:port/db`,
    /// with `?sslmode=…` for TLS). Connections are made when first needed:
    /// this fails only for a malformed URL, never because the database is
    /// down (then [`crate::Store::ping`] fails until it is back). Run
    /// [`PostgresStore::migrate`] before use.
    pub fn connect(url: &str, options: PostgresOptions) -> StoreResult<Self> {
        Self::connect_with_password(url, None, options)
    }

    /// [`PostgresStore::connect`], with the password given apart from the
    /// URL (read from a secret), replacing any in the URL.
    pub fn connect_with_password(
        url: &str,
        password: Option<&str>,
        options: PostgresOptions,
    ) -> StoreResult<Self> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::Backend(
                "database url: not a postgres:// or postgresql:// URL".into(),
            ));
        }
        // sqlx's message names what is wrong, not the URL (nor its password).
        let mut opts = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Backend(format!("database url: {e}")))?;
        if let Some(p) = password {
            opts = opts.password(p);
        }
        Ok(Self::connect_with(opts, options))
    }

    /// A lazy pool over parsed connection options.
    fn connect_with(opts: PgConnectOptions, options: PostgresOptions) -> Self {
        let timeout_ms = options.statement_timeout.as_millis().max(1).to_string();
        // Statements are prepared once per connection and their plans
        // cached. The listings are not: a generic plan does not know whose
        // tokens a page reads (for a page by expiry one walked the expiry
        // index across every owner: 11 ms instead of 0.1 ms with 50,000
        // tokens; docs/capacity.md), so they go as unnamed statements,
        // planned for their parameters each time (`persistent(false)`).
        let opts = opts
            .application_name("patrol")
            .options([("statement_timeout", timeout_ms.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_lazy_with(opts);
        Self {
            pool,
            creates: Default::default(),
        }
    }

    /// Bring the schema up to date; the migrations this run applied (empty:
    /// it was up to date). Safe to run again, and from several replicas at
    /// once (sqlx holds an advisory lock while it migrates; a migration
    /// another replica applied meanwhile may be listed here too).
    pub async fn migrate(&self) -> StoreResult<Vec<Migration>> {
        let pending = self.pending_migrations().await?;
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))?;
        Ok(pending)
    }

    /// The embedded migrations this database has not applied yet.
    pub async fn pending_migrations(&self) -> StoreResult<Vec<Migration>> {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
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

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Where creates go to be committed in groups (`group.rs`).
    fn creates(&self) -> &crate::group::Creates {
        self.creates.get_or_init(|| {
            crate::group::Creates::start(group::Writer {
                pool: self.pool.clone(),
            })
        })
    }

    /// Readiness answers within [`PING_TIMEOUT`] even while the database is
    /// unreachable (a probe must not wait out the pool's acquire timeout).
    async fn ping_database(&self) -> StoreResult<()> {
        let ping = sqlx::query("SELECT 1").execute(&self.pool);
        match tokio::time::timeout(PING_TIMEOUT, ping).await {
            Ok(done) => done.map(|_| ()).map_err(StoreError::from),
            Err(_) => Err(StoreError::Backend(format!(
                "no answer from the database within {} ms",
                PING_TIMEOUT.as_millis()
            ))),
        }
    }

    /// Close every connection (waiting for those in use to come back).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

// Each method hands over to the module that holds its SQL.
crate::delegate::delegate_store!(PostgresStore);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The pool's sessions carry the configured statement timeout: a
    /// statement running longer is cancelled by the server.
    #[tokio::test]
    async fn statements_past_the_timeout_are_cancelled() {
        let url = crate::test_support::fresh_database_url().await.unwrap();
        let options = PostgresOptions {
            statement_timeout: Duration::from_millis(200),
            ..PostgresOptions::default()
        };
        let store = PostgresStore::connect(&url, options).unwrap();
        let shown: String = sqlx::query_scalar("SHOW statement_timeout")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(shown, "200ms");
        let e = sqlx::query("SELECT pg_sleep(5)")
            .execute(&store.pool)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("statement timeout"), "{e}");
    }
}
