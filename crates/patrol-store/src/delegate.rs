//! The `Store` trait implemented by handing each method to the backend
//! module that holds its SQL. Both backends (`sqlite/`, `postgres/`) have the
//! same modules with the same functions over their own pool, so the hand-over
//! is written once, here, and expanded in each backend's `mod.rs`.

/// `impl Store for $store` where `$store` has a `pool` field, a
/// `ping_database` method and a `creates` method (`crate::group`), and the
/// invoking module has the table-group modules (`users`, `pats`, `sessions`,
/// `audit`, `verify`, `admin`, `policies`, `scim`, `jobs`).
macro_rules! delegate_store {
    ($store:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use uuid::Uuid;

            use patrol_core::hashing::KeyedHash;
            use patrol_core::pat::Pat;
            use patrol_core::policy::Policies;
            use patrol_core::revocation::RevocationRule;
            use patrol_core::roles::RememberedClaims;
            use patrol_core::scim::ScimUser;
            use patrol_core::session::{SessionKey, WebSession};
            use patrol_core::user::{AuditEvent, Organization, User, UserClaims};

            use $crate::{
                AccessChange, AdminPatQuery, AuditQuery, NewOutboxItem, OutboxCounts, OutboxItem,
                OutboxState, PatQuery, PendingNotice, PolicyChange, ScimLookup, StatusCounts,
                Store, StoreResult, UsageRecord, UserEntry, UserQuery, VerifyRecord, Webhook,
            };

            #[async_trait]
            impl Store for $store {
                async fn ping(&self) -> StoreResult<()> {
                    self.ping_database().await
                }

                async fn upsert_user(
                    &self,
                    c: &UserClaims,
                    now: DateTime<Utc>,
                ) -> StoreResult<User> {
                    users::upsert(&self.pool, c, now).await
                }

                async fn get_user(&self, id: Uuid) -> StoreResult<Option<User>> {
                    users::get(&self.pool, id).await
                }

                async fn user_by_subject(
                    &self,
                    issuer: &str,
                    subject: &str,
                ) -> StoreResult<Option<User>> {
                    users::by_subject(&self.pool, issuer, subject).await
                }

                async fn set_user_disabled(&self, id: Uuid, disabled: bool) -> StoreResult<()> {
                    users::set_disabled(&self.pool, id, disabled).await
                }

                async fn ensure_org(
                    &self,
                    name: &str,
                    now: DateTime<Utc>,
                ) -> StoreResult<Organization> {
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

                async fn member_org(
                    &self,
                    user: Uuid,
                    name: &str,
                ) -> StoreResult<Option<(Organization, bool)>> {
                    users::member_org(&self.pool, user, name).await
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
                    let new = crate::group::NewPat::new(pat, hash, audit, max_active, None);
                    self.creates().create(new).await
                }

                async fn create_pat_telling(
                    &self,
                    pat: &Pat,
                    hash: &KeyedHash,
                    audit: &AuditEvent,
                    max_active: Option<u64>,
                    notices: &[NewOutboxItem],
                ) -> StoreResult<()> {
                    let new =
                        crate::group::NewPat::new(pat, hash, audit, max_active, Some(notices));
                    self.creates().create(new).await
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

                async fn find_for_verify(
                    &self,
                    candidates: &[KeyedHash],
                ) -> StoreResult<Option<VerifyRecord>> {
                    verify::find_for_verify(&self.pool, candidates).await
                }

                async fn record_usage(&self, batch: &[UsageRecord]) -> StoreResult<()> {
                    pats::record_usage(&self.pool, batch).await
                }

                async fn count_by_status(&self, now: DateTime<Utc>) -> StoreResult<StatusCounts> {
                    pats::count_by_status(&self.pool, now).await
                }

                async fn count_active_for_owner(
                    &self,
                    owner: Uuid,
                    now: DateTime<Utc>,
                ) -> StoreResult<u64> {
                    pats::count_active_for_owner(&self.pool, owner, now).await
                }

                async fn create_session(
                    &self,
                    s: &WebSession,
                    audit: &AuditEvent,
                ) -> StoreResult<()> {
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
                    audit::append(&self.pool, event).await
                }

                async fn pending_notices(&self, limit: u32) -> StoreResult<Vec<PendingNotice>> {
                    audit::pending_notices(&self.pool, limit).await
                }

                async fn notice_intent(&self, audit_id: Uuid) -> StoreResult<Option<String>> {
                    audit::notice_intent(&self.pool, audit_id).await
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

                async fn create_scim_user(
                    &self,
                    u: &ScimUser,
                    audit: &AuditEvent,
                ) -> StoreResult<()> {
                    scim::create(&self.pool, u, audit).await
                }

                async fn get_scim_user(&self, id: Uuid) -> StoreResult<Option<ScimUser>> {
                    scim::get(&self.pool, id).await
                }

                async fn list_scim_users(&self, lookup: &ScimLookup) -> StoreResult<Vec<ScimUser>> {
                    scim::list(&self.pool, lookup).await
                }

                async fn update_scim_user(
                    &self,
                    u: &ScimUser,
                    audit: &AuditEvent,
                ) -> StoreResult<()> {
                    scim::update(&self.pool, u, audit).await
                }

                async fn delete_scim_user(
                    &self,
                    id: Uuid,
                    audit: &AuditEvent,
                ) -> StoreResult<bool> {
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

                async fn set_user_access(
                    &self,
                    change: &AccessChange<'_>,
                ) -> StoreResult<(Vec<Uuid>, u64)> {
                    scim::set_access(&self.pool, change).await
                }

                async fn record_interactive_sign_in(
                    &self,
                    user: Uuid,
                    at: DateTime<Utc>,
                ) -> StoreResult<()> {
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

                async fn enqueue_all(
                    &self,
                    items: &[NewOutboxItem],
                    clearing: Option<Uuid>,
                ) -> StoreResult<u64> {
                    jobs::enqueue_all(&self.pool, items, clearing).await
                }

                async fn due_outbox(
                    &self,
                    now: DateTime<Utc>,
                    limit: u32,
                ) -> StoreResult<Vec<OutboxItem>> {
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

                async fn outbox_for_user(
                    &self,
                    user: Uuid,
                    limit: u32,
                ) -> StoreResult<Vec<OutboxItem>> {
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

                async fn set_notice_pref(
                    &self,
                    user: Uuid,
                    kind: &str,
                    enabled: bool,
                ) -> StoreResult<()> {
                    jobs::set_pref(&self.pool, user, kind, enabled).await
                }

                async fn create_webhook(&self, hook: &Webhook) -> StoreResult<()> {
                    jobs::create_webhook(&self.pool, hook).await
                }

                async fn list_webhooks(&self, owner: Option<Uuid>) -> StoreResult<Vec<Webhook>> {
                    jobs::list_webhooks(&self.pool, owner).await
                }

                async fn webhooks_for(&self, owner: Uuid) -> StoreResult<Vec<Webhook>> {
                    jobs::webhooks_for(&self.pool, owner).await
                }

                async fn get_webhook(&self, id: Uuid) -> StoreResult<Option<Webhook>> {
                    jobs::get_webhook(&self.pool, id).await
                }

                async fn delete_webhook(&self, id: Uuid) -> StoreResult<bool> {
                    jobs::delete_webhook(&self.pool, id).await
                }
            }
        };
    };
}

pub(crate) use delegate_store;
