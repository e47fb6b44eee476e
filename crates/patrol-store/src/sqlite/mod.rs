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

use patrol_core::scim::ScimUser;

use crate::{
    AccessChange, AdminPatQuery, AuditQuery, PatQuery, PolicyChange, ScimLookup, StatusCounts,
    Store, StoreError, StoreResult, UsageRecord, UserEntry, UserQuery, VerifyRecord,
};
use crate::{NewOutboxItem, OutboxCounts, OutboxItem, OutboxState, PendingNotice, Webhook};

mod admin;
mod audit;
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
        let mut tx = self.pool.begin().await?;
        audit::insert(&mut tx, event, true).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn pending_notices(&self, limit: u32) -> StoreResult<Vec<PendingNotice>> {
        audit::pending_notices(&self.pool, limit).await
    }

    async fn notice_intent(&self, audit_id: Uuid) -> StoreResult<Option<String>> {
        audit::notice_intent(&self.pool, audit_id).await
    }

    async fn clear_notice(&self, audit_id: Uuid) -> StoreResult<()> {
        audit::clear_notice(&self.pool, audit_id).await
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

    async fn create_scim_user(&self, u: &ScimUser, audit: &AuditEvent) -> StoreResult<()> {
        scim::create(&self.pool, u, audit).await
    }

    async fn get_scim_user(&self, id: Uuid) -> StoreResult<Option<ScimUser>> {
        scim::get(&self.pool, id).await
    }

    async fn list_scim_users(&self, lookup: &ScimLookup) -> StoreResult<Vec<ScimUser>> {
        scim::list(&self.pool, lookup).await
    }

    async fn update_scim_user(&self, u: &ScimUser, audit: &AuditEvent) -> StoreResult<()> {
        scim::update(&self.pool, u, audit).await
    }

    async fn delete_scim_user(&self, id: Uuid, audit: &AuditEvent) -> StoreResult<bool> {
        scim::delete(&self.pool, id, audit).await
    }

    async fn user_for_scim_record(
        &self,
        external_id: Option<&str>,
        user_name: &str,
    ) -> StoreResult<Option<User>> {
        scim::user_for_record(&self.pool, external_id, user_name).await
    }

    async fn scim_record_for_user(
        &self,
        subject: &str,
        names: &[String],
    ) -> StoreResult<Option<ScimUser>> {
        scim::record_for_user(&self.pool, subject, names).await
    }

    async fn join_scim_user(&self, id: Uuid, user: Uuid) -> StoreResult<bool> {
        scim::join(&self.pool, id, user).await
    }

    async fn set_user_access(&self, change: &AccessChange<'_>) -> StoreResult<(Vec<Uuid>, u64)> {
        scim::set_access(&self.pool, change).await
    }

    async fn record_interactive_sign_in(&self, user: Uuid, at: DateTime<Utc>) -> StoreResult<()> {
        scim::record_interactive_sign_in(&self.pool, user, at).await
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        jobs::acquire_lease(&self.pool, name, holder, now, until).await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()> {
        jobs::release_lease(&self.pool, name, holder).await
    }

    async fn claim_schedule(
        &self,
        name: &str,
        now: DateTime<Utc>,
        next: DateTime<Utc>,
    ) -> StoreResult<bool> {
        jobs::claim_schedule(&self.pool, name, now, next).await
    }

    async fn enqueue(&self, item: &NewOutboxItem) -> StoreResult<bool> {
        jobs::enqueue(&self.pool, item).await
    }

    async fn due_outbox(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<OutboxItem>> {
        jobs::due(&self.pool, now, limit).await
    }

    async fn outbox_attempted(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        state: &OutboxState,
    ) -> StoreResult<()> {
        jobs::attempted(&self.pool, id, at, state).await
    }

    async fn outbox_for_user(&self, user: Uuid, limit: u32) -> StoreResult<Vec<OutboxItem>> {
        jobs::for_user(&self.pool, user, limit).await
    }

    async fn outbox_counts(&self) -> StoreResult<OutboxCounts> {
        jobs::counts(&self.pool).await
    }

    async fn pats_expiring(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<Vec<Pat>> {
        jobs::pats_expiring(&self.pool, after, until).await
    }

    async fn purge_pats(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        jobs::purge_pats(&self.pool, before).await
    }

    async fn notice_prefs(&self, user: Uuid) -> StoreResult<Vec<(String, bool)>> {
        jobs::prefs(&self.pool, user).await
    }

    async fn set_notice_pref(&self, user: Uuid, kind: &str, enabled: bool) -> StoreResult<()> {
        jobs::set_pref(&self.pool, user, kind, enabled).await
    }

    async fn create_webhook(&self, hook: &Webhook) -> StoreResult<()> {
        jobs::create_webhook(&self.pool, hook).await
    }

    async fn list_webhooks(&self, owner: Option<Uuid>) -> StoreResult<Vec<Webhook>> {
        jobs::list_webhooks(&self.pool, owner).await
    }

    async fn get_webhook(&self, id: Uuid) -> StoreResult<Option<Webhook>> {
        jobs::get_webhook(&self.pool, id).await
    }

    async fn delete_webhook(&self, id: Uuid) -> StoreResult<bool> {
        jobs::delete_webhook(&self.pool, id).await
    }
}
