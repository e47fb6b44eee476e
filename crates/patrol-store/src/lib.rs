//! Persistence behind one object-safe trait, so the application holds an
//! `Arc<dyn Store>` whichever backend it opened: [`SqliteStore`] (one file,
//! the default) or [`PostgresStore`] (one database for several replicas;
//! docs/postgres.md).
//!
//! A PAT's plaintext never reaches this crate: only its keyed hash.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use patrol_core::hashing::KeyedHash;
use patrol_core::pat::{LastUse, ListFilter, Pat, SortBy};
use patrol_core::policy::{OrgPolicy, Policies, TenantPolicy};
use patrol_core::revocation::RevocationRule;
use patrol_core::roles::RememberedClaims;
use patrol_core::scim::ScimUser;
use patrol_core::session::{SessionKey, WebSession};
use patrol_core::user::{AuditAction, AuditEvent, Organization, User, UserClaims};

mod common;
pub mod copy;
mod delegate;
mod group;
mod jobs;
mod postgres;
mod rows;
mod schema;
mod sqlite;
#[cfg(feature = "test-support")]
pub mod test_support;
pub use jobs::{NewOutboxItem, OutboxCounts, OutboxItem, OutboxState, PendingNotice, Webhook};
pub use postgres::{
    PeerChannel, PeerEvent, PeerListener, PeerNotice, PeerSubject, PostgresOptions, PostgresStore,
    MAX_NOTICES_PER_SEND, PEER_CHANNEL,
};
pub use schema::Migration;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    /// The stored data could not be read back into domain types.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Backend(String),
    /// A capped insert found the cap already reached; nothing was written.
    #[error("limit reached")]
    LimitReached,
    /// The database rolled the transaction back to break a deadlock (or a
    /// serialization conflict): nothing of it was written, and running it
    /// again may succeed.
    #[error("transaction rolled back by the database: {0}")]
    RolledBack(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict(d.message().to_owned())
            }
            // PostgreSQL: deadlock_detected, serialization_failure.
            sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("40P01" | "40001")) => {
                StoreError::RolledBack(d.message().to_owned())
            }
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                StoreError::Corrupt(e.to_string())
            }
            _ => StoreError::Backend(e.to_string()),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// One page request for a user's PATs.
#[derive(Debug, Clone, Copy)]
pub struct PatQuery {
    pub owner: Uuid,
    pub filter: ListFilter,
    pub sort: SortBy,
    pub ascending: bool,
    /// Rows to skip (0-based).
    pub offset: u64,
    pub limit: u32,
    /// Decides which tokens count as expired.
    pub now: DateTime<Utc>,
    /// Retention: tokens revoked or expired before this are no longer
    /// listed (`None`: every token is).
    pub ended_after: Option<DateTime<Utc>>,
}

/// A batch item for last-use bookkeeping.
#[derive(Debug, Clone)]
pub struct UsageRecord {
    pub authorization_id: Uuid,
    pub last_use: LastUse,
}

/// What verifying a presented secret needs from the store.
#[derive(Debug, Clone)]
pub struct VerifyRecord {
    pub pat: Pat,
    pub owner: User,
    /// The owner's organizations, by name.
    pub member_of: Vec<Organization>,
}

/// Token counts by status, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    pub active: u64,
    pub expired: u64,
    pub revoked: u64,
}

/// Filter for reading the audit log, newest first. Every field set must
/// match.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub actor_user: Option<Uuid>,
    pub target_pat: Option<Uuid>,
    pub action: Option<AuditAction>,
    /// The actor as recorded (`<issuer>|<subject>`, `unauthenticated`, …).
    pub actor: Option<String>,
    /// Events by this user or about them.
    pub user: Option<Uuid>,
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
    /// Only events older than this one (the previous page's last): keyset paging.
    pub after: Option<AuditCursor>,
    /// An owner's view: events by them, about them, or about their PATs.
    pub visible_to: Option<Uuid>,
    /// An organization administrator's view: events by or about members of
    /// these organizations (empty: no such restriction).
    pub members_of: Vec<Uuid>,
    pub limit: u32,
}

/// Where a page of the audit log ended: the last event's time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor {
    pub at: DateTime<Utc>,
    pub id: Uuid,
}

/// A user with what administration shows and needs of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEntry {
    pub user: User,
    /// The claims remembered from their last sign-in.
    pub claims: RememberedClaims,
    /// Their organizations, by name.
    pub member_of: Vec<Organization>,
}

/// Which users to list, ordered by display name (then id).
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// Only members of this organization.
    pub org: Option<Uuid>,
    /// Only users with this subject (compared case-insensitively).
    pub subject: Option<String>,
    pub offset: u64,
    pub limit: u32,
}

/// PATs across owners, for administrators, ordered by `authorization_id`.
#[derive(Debug, Clone)]
pub struct AdminPatQuery {
    /// Only these owners' (empty: every owner's).
    pub owners: Vec<Uuid>,
    /// Only PATs that reach this organization: its own, and global ones of
    /// its members.
    pub org: Option<Uuid>,
    pub filter: ListFilter,
    /// Decides which PATs count as expired.
    pub now: DateTime<Utc>,
    /// Only PATs whose id is at or after this one (keyset paging).
    pub from: Option<Uuid>,
    pub limit: u32,
}

/// A policy being stored.
#[derive(Debug, Clone, Copy)]
pub enum PolicyChange<'a> {
    Tenant(&'a TenantPolicy),
    Org(Uuid, &'a OrgPolicy),
}

/// Which provisioned users to read (oldest first).
#[derive(Debug, Clone)]
pub enum ScimLookup {
    All,
    /// `userName`, compared case-insensitively.
    UserName(String),
    ExternalId(String),
    /// The record joined to this Patrol user.
    JoinedTo(Uuid),
}

/// A user's access turned off or on ([`Store::set_user_access`]).
#[derive(Debug, Clone)]
pub struct AccessChange<'a> {
    pub user: Uuid,
    pub disabled: bool,
    pub at: DateTime<Utc>,
    /// `user.disable` / `user.enable`, naming who did it.
    pub audit: &'a AuditEvent,
    /// The `pat.revoke` record each revoked PAT gets (its id and target PAT filled in).
    pub revoke_audit: &'a AuditEvent,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Is the database reachable?
    async fn ping(&self) -> StoreResult<()>;

    // --- users and organizations ---
    /// Create the user on first sign-in, refresh name and email afterwards.
    async fn upsert_user(&self, claims: &UserClaims, now: DateTime<Utc>) -> StoreResult<User>;
    async fn get_user(&self, id: Uuid) -> StoreResult<Option<User>>;
    /// The user keyed by `(issuer, subject)`, if known.
    async fn user_by_subject(&self, issuer: &str, subject: &str) -> StoreResult<Option<User>>;
    async fn set_user_disabled(&self, id: Uuid, disabled: bool) -> StoreResult<()>;
    async fn ensure_org(&self, name: &str, now: DateTime<Utc>) -> StoreResult<Organization>;
    /// Case-insensitive.
    async fn org_by_name(&self, name: &str) -> StoreResult<Option<Organization>>;
    async fn list_orgs(&self) -> StoreResult<Vec<Organization>>;
    async fn add_member(&self, user: Uuid, org: Uuid) -> StoreResult<()>;
    async fn is_member(&self, user: Uuid, org: Uuid) -> StoreResult<bool>;
    /// The organization named `name` (case-insensitive) and whether `user`
    /// is a member: [`Store::org_by_name`] and [`Store::is_member`] in one
    /// round trip.
    async fn member_org(&self, user: Uuid, name: &str)
        -> StoreResult<Option<(Organization, bool)>>;
    /// The organizations `user` belongs to, by name.
    async fn member_orgs(&self, user: Uuid) -> StoreResult<Vec<Organization>>;

    // --- PATs; each change is written together with its audit record ---
    /// Store a new PAT. With `max_active`, refuse with
    /// [`StoreError::LimitReached`] (writing nothing) when the owner already
    /// holds that many PATs active at `pat.created_at`; the count and the
    /// insert are one atomic step, so concurrent creates cannot exceed it.
    async fn create_pat(
        &self,
        pat: &Pat,
        hash: &KeyedHash,
        audit: &AuditEvent,
        max_active: Option<u64>,
    ) -> StoreResult<()>;
    /// [`Store::create_pat`], with the notices `audit` promised already
    /// rendered: `notices` go into the outbox (each unless its `dedupe_key`
    /// is taken) in the same transaction, in place of the record's notice
    /// intent, which is not kept.
    async fn create_pat_telling(
        &self,
        pat: &Pat,
        hash: &KeyedHash,
        audit: &AuditEvent,
        max_active: Option<u64>,
        notices: &[NewOutboxItem],
    ) -> StoreResult<()>;
    async fn get_pat(&self, id: Uuid) -> StoreResult<Option<Pat>>;
    async fn list_pats(&self, q: &PatQuery) -> StoreResult<Vec<Pat>>;
    /// Replace the mutable metadata (name, scopes, target, validTo).
    async fn update_pat(&self, pat: &Pat, audit: &AuditEvent) -> StoreResult<()>;
    /// Swap the secret's hash; the old secret stops matching at once.
    async fn replace_secret(
        &self,
        id: Uuid,
        hash: &KeyedHash,
        audit: &AuditEvent,
    ) -> StoreResult<()>;
    /// Mark revoked at `at`; false when it does not exist or already was.
    async fn revoke_pat(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> StoreResult<bool>;
    /// Look a presented secret up by its candidate hashes (one per server key).
    async fn find_by_hash(&self, candidates: &[KeyedHash])
        -> StoreResult<Option<(Pat, KeyedHash)>>;
    /// The verify path's lookup: the PAT the candidate hashes match, its
    /// owner and the owner's organizations. Backends answer it in one round
    /// trip; this default takes three.
    async fn find_for_verify(&self, candidates: &[KeyedHash]) -> StoreResult<Option<VerifyRecord>> {
        let Some((pat, _)) = self.find_by_hash(candidates).await? else {
            return Ok(None);
        };
        let Some(owner) = self.get_user(pat.owner).await? else {
            return Ok(None);
        };
        let member_of = self.member_orgs(owner.id).await?;
        Ok(Some(VerifyRecord {
            pat,
            owner,
            member_of,
        }))
    }
    async fn record_usage(&self, batch: &[UsageRecord]) -> StoreResult<()>;
    async fn count_by_status(&self, now: DateTime<Utc>) -> StoreResult<StatusCounts>;
    /// The owner's PATs that are neither revoked nor expired at `now`.
    async fn count_active_for_owner(&self, owner: Uuid, now: DateTime<Utc>) -> StoreResult<u64>;

    // --- web sessions ---
    /// Store a new session, with its audit record (sign-in).
    async fn create_session(&self, s: &WebSession, audit: &AuditEvent) -> StoreResult<()>;
    async fn get_session(&self, key: &SessionKey) -> StoreResult<Option<WebSession>>;
    /// Save `last_seen`, `access_expires_at` and the sealed refresh token.
    async fn update_session(&self, s: &WebSession) -> StoreResult<()>;
    /// Remove a session (sign-out, expiry, failed refresh); the audit record
    /// is written with it when given. False when there was none.
    async fn delete_session(
        &self,
        key: &SessionKey,
        audit: Option<&AuditEvent>,
    ) -> StoreResult<bool>;
    /// Remove sessions past their absolute expiry or idle since `idle_before`.
    async fn purge_sessions(
        &self,
        now: DateTime<Utc>,
        idle_before: DateTime<Utc>,
    ) -> StoreResult<u64>;

    // --- audit ---
    /// Store one record alone (with its notice intent, in one transaction).
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()>;
    async fn list_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditEvent>>;
    /// Notice intents not handled yet, oldest first. Every write that takes
    /// an `AuditEvent` keeps its `notice` in the same transaction, and only
    /// when the change took effect.
    async fn pending_notices(&self, limit: u32) -> StoreResult<Vec<PendingNotice>>;
    /// The intent kept with this record, if it is still pending.
    async fn notice_intent(&self, audit_id: Uuid) -> StoreResult<Option<String>>;

    // --- administration ---
    /// The claims remembered from the user's last sign-in (empty if none).
    async fn user_claims(&self, user: Uuid) -> StoreResult<RememberedClaims>;
    /// Remember these claims (replacing what was remembered).
    async fn set_user_claims(
        &self,
        user: Uuid,
        claims: &RememberedClaims,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn list_users(&self, q: &UserQuery) -> StoreResult<Vec<UserEntry>>;
    /// An administrator makes `user` a member of `org`, undoing a removal.
    /// The audit record is kept even when they already were; false then.
    async fn admin_add_member(
        &self,
        user: Uuid,
        org: Uuid,
        audit: &AuditEvent,
    ) -> StoreResult<bool>;
    /// An administrator removes `user` from `org`; `auto_join` never adds
    /// them back. The audit record is kept even when they were not a member.
    async fn admin_remove_member(
        &self,
        user: Uuid,
        org: Uuid,
        audit: &AuditEvent,
    ) -> StoreResult<bool>;
    /// `auto_join`: `user` joins `org` unless an administrator removed them.
    async fn join_unless_removed(&self, user: Uuid, org: Uuid) -> StoreResult<bool>;
    /// `auto_join` at start-up: every known user not removed from `org` joins it.
    async fn join_all_unless_removed(&self, org: Uuid) -> StoreResult<u64>;
    /// The tenant's policy (its default when never set) and every
    /// organization's that was set.
    async fn policies(&self) -> StoreResult<Policies>;
    async fn set_policy(
        &self,
        change: PolicyChange<'_>,
        now: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> StoreResult<()>;
    async fn list_pats_admin(&self, q: &AdminPatQuery) -> StoreResult<Vec<Pat>>;
    /// Revoke each PAT with its audit record, and store `rule` with its own
    /// record when given: one transaction. Already revoked PATs stay as they
    /// were (their records are kept). Returns how many were revoked.
    async fn revoke_many(
        &self,
        at: DateTime<Utc>,
        revocations: &[(Uuid, AuditEvent)],
        rule: Option<(&RevocationRule, &AuditEvent)>,
    ) -> StoreResult<u64>;
    /// Every revocation rule, newest first.
    async fn list_revocation_rules(&self) -> StoreResult<Vec<RevocationRule>>;

    // --- provisioning (SCIM) and access ---
    /// Store a provisioned user with its audit record; a taken `userName`
    /// (case-insensitive) is a [`StoreError::Conflict`].
    async fn create_scim_user(&self, u: &ScimUser, audit: &AuditEvent) -> StoreResult<()>;
    async fn get_scim_user(&self, id: Uuid) -> StoreResult<Option<ScimUser>>;
    async fn list_scim_users(&self, lookup: &ScimLookup) -> StoreResult<Vec<ScimUser>>;
    /// Save a changed record with its audit record (`NotFound` when gone,
    /// `Conflict` when its new `userName` is taken).
    async fn update_scim_user(&self, u: &ScimUser, audit: &AuditEvent) -> StoreResult<()>;
    /// False when there was none (nothing written then).
    async fn delete_scim_user(&self, id: Uuid, audit: &AuditEvent) -> StoreResult<bool>;
    /// The signed-in user a new record names (subject = `external_id`, else
    /// a vouched-for email = `user_name`), not yet joined to another record.
    async fn user_for_scim_record(
        &self,
        external_id: Option<&str>,
        user_name: &str,
    ) -> StoreResult<Option<User>>;
    /// The unjoined record a signing-in user matches (`externalId` =
    /// `subject`, else `userName` = one of `names`).
    async fn scim_record_for_user(
        &self,
        subject: &str,
        names: &[String],
    ) -> StoreResult<Option<ScimUser>>;
    /// Join an unjoined record to `user`; false when it was joined already.
    async fn join_scim_user(&self, id: Uuid, user: Uuid) -> StoreResult<bool>;
    /// Disable (revoking every PAT, ending every web session) or enable a
    /// user, with the audit records, in one transaction. Returns the PATs
    /// revoked and the sessions ended.
    async fn set_user_access(&self, change: &AccessChange<'_>) -> StoreResult<(Vec<Uuid>, u64)>;
    /// The user signed in on the web page (the periodic sign-in rule).
    async fn record_interactive_sign_in(&self, user: Uuid, at: DateTime<Utc>) -> StoreResult<()>;
    // --- lifecycle jobs: lease, schedules, outbox, preferences, webhooks ---
    /// Take or renew the lease `name` for `holder` until `until`: granted
    /// when nobody holds it, `holder` already does, or the holder's lease
    /// ended before `now`. One conditional upsert, so two runners never both
    /// hold it.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Give the lease up (only if `holder` holds it).
    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()>;
    /// Is the schedule `name` due at `now`? If so (or it never ran), it is
    /// moved to `next` and true is answered.
    async fn claim_schedule(
        &self,
        name: &str,
        now: DateTime<Utc>,
        next: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Store each of `items` unless its `dedupe_key` is taken and, with
    /// `clearing`, forget that record's notice intent (its notices are in
    /// the outbox now), all in one transaction; how many items were stored.
    async fn enqueue_all(
        &self,
        items: &[NewOutboxItem],
        clearing: Option<Uuid>,
    ) -> StoreResult<u64>;
    /// Notices neither sent nor given up, due at `now`, oldest first.
    async fn due_outbox(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<OutboxItem>>;
    /// Record a delivery attempt: sent, retry at a later time, or given up.
    async fn outbox_attempted(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        state: &OutboxState,
    ) -> StoreResult<()>;
    /// A user's email notices, newest first.
    async fn outbox_for_user(&self, user: Uuid, limit: u32) -> StoreResult<Vec<OutboxItem>>;
    async fn outbox_counts(&self) -> StoreResult<OutboxCounts>;
    /// Unrevoked PATs whose expiry is in `(after, until]`.
    async fn pats_expiring(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<Vec<Pat>>;
    /// Delete PATs revoked or expired before `before` (audit records stay).
    async fn purge_pats(&self, before: DateTime<Utc>) -> StoreResult<u64>;
    /// The notice kinds `user` switched on or off (kinds not listed: on).
    async fn notice_prefs(&self, user: Uuid) -> StoreResult<Vec<(String, bool)>>;
    async fn set_notice_pref(&self, user: Uuid, kind: &str, enabled: bool) -> StoreResult<()>;
    async fn create_webhook(&self, hook: &Webhook) -> StoreResult<()>;
    /// `owner` `Some`: that user's; `None`: the tenant-wide ones.
    async fn list_webhooks(&self, owner: Option<Uuid>) -> StoreResult<Vec<Webhook>>;
    /// The subscriptions an event about `owner`'s token goes to: theirs,
    /// then the tenant-wide ones.
    async fn webhooks_for(&self, owner: Uuid) -> StoreResult<Vec<Webhook>>;
    async fn get_webhook(&self, id: Uuid) -> StoreResult<Option<Webhook>>;
    async fn delete_webhook(&self, id: Uuid) -> StoreResult<bool>;
}
