//! The SQLite implementation: WAL, foreign keys, embedded migrations, a
//! database file only its owner can read. The SQL lives in one module per
//! table group; rows turn into domain types in `crate::rows`.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    Sqlite, SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::SqlitePool;
use uuid::Uuid;

use patrol_core::hashing::KeyedHash;
use patrol_core::pat::Pat;
use patrol_core::session::{SessionKey, WebSession};
use patrol_core::user::{AuditEvent, Organization, User, UserClaims};

use patrol_core::policy::Policies;
use patrol_core::revocation::RevocationRule;
use patrol_core::roles::RememberedClaims;

use crate::{
    AdminPatQuery, AuditQuery, PatQuery, PolicyChange, StatusCounts, Store, StoreError,
    StoreResult, UsageRecord, UserEntry, UserQuery, VerifyRecord,
};

mod admin;
mod audit;
mod pats;
mod policies;
mod sessions;
mod users;
mod verify;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

/// One write statement, as [`with_audit`] takes it.
type Write<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>;

/// What [`with_audit`] does when the write changed no row.
enum IfUnchanged {
    /// Keep the audit record anyway (e.g. revoking what already was revoked).
    Commit,
    /// Roll back and answer this error.
    Refuse(StoreError),
}

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
        audit::insert(&mut *tx, a).await?;
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
            MIGRATOR.run(&mut conn).await.map_err(migration_failed)?;
            conn.close().await?;
        }
        Self::connect(opts).await
    }

    /// Open from a `sqlite:` URL (e.g. `sqlite::memory:` in tests).
    pub async fn open_url(url: &str) -> StoreResult<Self> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        Self::connect(opts).await
    }

    async fn connect(opts: SqliteConnectOptions) -> StoreResult<Self> {
        let in_memory = opts.get_filename().as_os_str() == ":memory:";
        let pool = SqlitePoolOptions::new()
            // An in-memory database exists per connection: keep exactly one.
            .max_connections(if in_memory { 1 } else { 8 })
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts)
            .await?;
        MIGRATOR.run(&pool).await.map_err(migration_failed)?;
        Ok(Self { pool })
    }

    /// The journal mode in effect (`wal` for file databases).
    pub async fn journal_mode(&self) -> StoreResult<String> {
        Ok(sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&self.pool)
            .await?)
    }
}

/// Each method hands over to the module that holds its SQL.
#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn upsert_user(&self, c: &UserClaims, now: DateTime<Utc>) -> StoreResult<User> {
        users::upsert(&self.pool, c, now).await
    }

    async fn get_user(&self, id: Uuid) -> StoreResult<Option<User>> {
        users::get(&self.pool, id).await
    }

    async fn user_by_subject(&self, issuer: &str, subject: &str) -> StoreResult<Option<User>> {
        users::by_subject(&self.pool, issuer, subject).await
    }

    async fn set_user_disabled(&self, id: Uuid, disabled: bool) -> StoreResult<()> {
        users::set_disabled(&self.pool, id, disabled).await
    }

    async fn ensure_org(&self, name: &str, now: DateTime<Utc>) -> StoreResult<Organization> {
        users::ensure_org(&self.pool, name, now).await
    }

    async fn org_by_name(&self, name: &str) -> StoreResult<Option<Organization>> {
        users::org_by_name(&self.pool, name).await
    }

    async fn list_orgs(&self) -> StoreResult<Vec<Organization>> {
        users::list_orgs(&self.pool).await
    }

    async fn add_member(&self, user: Uuid, org: Uuid) -> StoreResult<()> {
        users::add_member(&self.pool, user, org).await
    }

    async fn is_member(&self, user: Uuid, org: Uuid) -> StoreResult<bool> {
        users::is_member(&self.pool, user, org).await
    }

    async fn member_orgs(&self, user: Uuid) -> StoreResult<Vec<Organization>> {
        users::member_orgs(&self.pool, user).await
    }

    async fn create_pat(
        &self,
        pat: &Pat,
        hash: &KeyedHash,
        audit: &AuditEvent,
        max_active: Option<u64>,
    ) -> StoreResult<()> {
        pats::create(&self.pool, pat, hash, audit, max_active).await
    }

    async fn get_pat(&self, id: Uuid) -> StoreResult<Option<Pat>> {
        pats::get(&self.pool, id).await
    }

    async fn list_pats(&self, q: &PatQuery) -> StoreResult<Vec<Pat>> {
        pats::list(&self.pool, q).await
    }

    async fn update_pat(&self, pat: &Pat, audit: &AuditEvent) -> StoreResult<()> {
        pats::update(&self.pool, pat, audit).await
    }

    async fn replace_secret(
        &self,
        id: Uuid,
        hash: &KeyedHash,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        pats::replace_secret(&self.pool, id, hash, audit).await
    }

    async fn revoke_pat(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> StoreResult<bool> {
        pats::revoke(&self.pool, id, at, audit).await
    }

    async fn find_by_hash(
        &self,
        candidates: &[KeyedHash],
    ) -> StoreResult<Option<(Pat, KeyedHash)>> {
        pats::find_by_hash(&self.pool, candidates).await
    }

    async fn find_for_verify(&self, candidates: &[KeyedHash]) -> StoreResult<Option<VerifyRecord>> {
        verify::find_for_verify(&self.pool, candidates).await
    }

    async fn record_usage(&self, batch: &[UsageRecord]) -> StoreResult<()> {
        pats::record_usage(&self.pool, batch).await
    }

    async fn count_by_status(&self, now: DateTime<Utc>) -> StoreResult<StatusCounts> {
        pats::count_by_status(&self.pool, now).await
    }

    async fn count_active_for_owner(&self, owner: Uuid, now: DateTime<Utc>) -> StoreResult<u64> {
        pats::count_active_for_owner(&self.pool, owner, now).await
    }

    async fn create_session(&self, s: &WebSession, audit: &AuditEvent) -> StoreResult<()> {
        sessions::create(&self.pool, s, audit).await
    }

    async fn get_session(&self, key: &SessionKey) -> StoreResult<Option<WebSession>> {
        sessions::get(&self.pool, key).await
    }

    async fn update_session(&self, s: &WebSession) -> StoreResult<()> {
        sessions::update(&self.pool, s).await
    }

    async fn delete_session(
        &self,
        key: &SessionKey,
        audit: Option<&AuditEvent>,
    ) -> StoreResult<bool> {
        sessions::delete(&self.pool, key, audit).await
    }

    async fn purge_sessions(
        &self,
        now: DateTime<Utc>,
        idle_before: DateTime<Utc>,
    ) -> StoreResult<u64> {
        sessions::purge(&self.pool, now, idle_before).await
    }

    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        audit::insert(&self.pool, event).await
    }

    async fn list_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        audit::list(&self.pool, q).await
    }

    async fn user_claims(&self, user: Uuid) -> StoreResult<RememberedClaims> {
        admin::user_claims(&self.pool, user).await
    }

    async fn set_user_claims(
        &self,
        user: Uuid,
        claims: &RememberedClaims,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        admin::set_user_claims(&self.pool, user, claims, now).await
    }

    async fn list_users(&self, q: &UserQuery) -> StoreResult<Vec<UserEntry>> {
        admin::list_users(&self.pool, q).await
    }

    async fn admin_add_member(
        &self,
        user: Uuid,
        org: Uuid,
        audit: &AuditEvent,
    ) -> StoreResult<bool> {
        admin::admin_add_member(&self.pool, user, org, audit).await
    }

    async fn admin_remove_member(
        &self,
        user: Uuid,
        org: Uuid,
        audit: &AuditEvent,
    ) -> StoreResult<bool> {
        admin::admin_remove_member(&self.pool, user, org, audit).await
    }

    async fn join_unless_removed(&self, user: Uuid, org: Uuid) -> StoreResult<bool> {
        admin::join_unless_removed(&self.pool, user, org).await
    }

    async fn join_all_unless_removed(&self, org: Uuid) -> StoreResult<u64> {
        admin::join_all_unless_removed(&self.pool, org).await
    }

    async fn policies(&self) -> StoreResult<Policies> {
        policies::policies(&self.pool).await
    }

    async fn set_policy(
        &self,
        change: PolicyChange<'_>,
        now: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        policies::set_policy(&self.pool, change, now, audit).await
    }

    async fn list_pats_admin(&self, q: &AdminPatQuery) -> StoreResult<Vec<Pat>> {
        pats::list_admin(&self.pool, q).await
    }

    async fn revoke_many(
        &self,
        at: DateTime<Utc>,
        revocations: &[(Uuid, AuditEvent)],
        rule: Option<(&RevocationRule, &AuditEvent)>,
    ) -> StoreResult<u64> {
        policies::revoke_many(&self.pool, at, revocations, rule).await
    }

    async fn list_revocation_rules(&self) -> StoreResult<Vec<RevocationRule>> {
        policies::list_revocation_rules(&self.pool).await
    }
}
