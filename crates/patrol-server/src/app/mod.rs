//! Use cases: every state change goes through exactly one function here,
//! whichever edge (ADO API, web page, admin API, CLI) asked for it. Audit
//! records are written here, once, in the same transaction as the change.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, PoisonError};

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use patrol_core::clock::Clock;
use patrol_core::hashing::TokenHasher;
use patrol_core::pat::LifetimePolicy;
use patrol_core::roles::RoleRules;
use patrol_core::token::MintOptions;
use patrol_core::user::{AuditAction, AuditEvent, Outcome, User, UserClaims};
use patrol_store::{StatusCounts, Store, StoreError};

mod access;
mod admin;
mod admin_tokens;
mod admission;
mod audit;
mod error;
mod jobs;
mod leaks;
mod notify;
mod pats;
mod policies;
mod provisioning;
mod seal;
mod sessions;
mod settings;
mod token_admin;
mod users;
pub mod verify;
mod webhooks;

pub use access::{Access, ADMIN_SCOPE};
pub use admin::{UserSummary, UsersPage, UsersRequest};
pub use admin_tokens::MAX_FOUND_USERS;
pub use admission::{AuthFailure, Edge, Presented, RequestCtx};
pub use audit::{AuditPage, AuditRequest, AuditView, MAX_AUDIT_PAGE};
pub use error::AppError;
pub use jobs::{backoff, warning_due, Courier, NotifyPolicy, TickReport, JOBS_LEASE};
pub use leaks::{LeakOutcome, LeakReport, LeakVerdict, LeakedPat, Reporter, MAX_LEAK_REPORTS};
pub use notify::{Blocked, EventKind, Notice, NoticeDetail, NoticePref, SentNotice, TokenFacts};
pub use pats::{CreatePat, ListPage, ListRequest, OrgChoice, UpdatePat, Via};
pub use policies::{violation_name, DryRunRefusal, PolicyProposal, PolicyView};
pub use provisioning::{
    filterable, ScimAuthFailure, ScimClient, ScimListRequest, ScimPage, MAX_SCIM_PAGE,
};
pub use seal::Sealer;
pub use sessions::{
    IdentityProvider, IdpError, OpenedSession, Refreshed, Resumed, SessionEnd, SessionPolicy,
};
pub use token_admin::{ListedRule, TokenAdminPage, MAX_PAGE_SIZE};
pub use verify::{VerifiedPat, VerifyFailure, VerifyRequest};
pub use webhooks::{CreatedSubscription, Subscription, EVENT_TYPE_PREFIX};

use sessions::SessionState;
use verify::FailureLimiter;

/// Settings the use cases need, resolved from configuration once.
#[derive(Debug, Clone)]
pub struct Policy {
    pub mint: MintOptions,
    pub lifetime: LifetimePolicy,
    pub inactive_after: Option<Duration>,
    /// PATs refuse while their owner's last interactive sign-in is older
    /// than this (`[tokens] require_interactive_signin_days`).
    pub require_interactive_signin: Option<Duration>,
    pub auto_join: bool,
    pub max_active_per_user: u64,
    /// Accept `user_impersonation` in place of `vso.pats*` (Entra's legacy scope).
    pub accept_user_impersonation: bool,
    pub session: SessionPolicy,
    /// Issuer → the only OAuth clients whose tokens may manage PATs
    /// (`allowed_client_ids`); an issuer not listed accepts any client.
    pub allowed_clients: HashMap<String, Vec<String>>,
    /// Notifications, expiry warnings and retention (`[notifications]`,
    /// `[tokens] retention_days`).
    pub notify: NotifyPolicy,
}

/// Failed management-API authentications allowed per address and window.
#[derive(Debug, Clone, Copy)]
pub struct AuthLimits {
    pub max_failures_per_ip: u32,
    pub window: Duration,
    pub capacity: usize,
}

/// The application core: store, keys, clock and policy. Its fields are
/// private: edges reach state only through the use-case methods.
#[derive(Clone)]
pub struct App {
    store: Arc<dyn Store>,
    hasher: Arc<TokenHasher>,
    clock: Arc<dyn Clock>,
    policy: Arc<Policy>,
    /// The verify path: cache, failure limits, last-use writer, resource servers.
    verify: Arc<verify::VerifyState>,
    /// Failed management-API authentications per source address.
    auth_failures: Arc<FailureLimiter<IpAddr>>,
    /// Audited refusals per (address, caller, reason), to sample the log.
    refusal_audits: Arc<FailureLimiter<[u8; 32]>>,
    /// Issuer URL → the stable name its users are keyed under.
    issuer_aliases: Arc<HashMap<String, String>>,
    sessions: Arc<SessionState>,
    /// Seals webhook signing secrets.
    webhook_seal: Arc<Sealer>,
    /// Who administers what (`[roles]`).
    roles: Arc<RoleRules>,
    /// The last token counts and when they were read (a full scan).
    counts: Arc<std::sync::Mutex<Option<(std::time::Instant, StatusCounts)>>>,
    /// Policies and webhook subscriptions as last read (`settings.rs`).
    settings: Arc<settings::Settings>,
    /// Organization names by id, as read (`App::org_names`).
    org_names: Arc<std::sync::RwLock<HashMap<Uuid, String>>>,
    /// The SCIM provisioning client's secrets; `None`: SCIM is off.
    scim: Option<Arc<verify::ResourceServers>>,
    /// True once the store is set up (schema migrated, organizations
    /// created): until then the application is not ready.
    set_up: tokio::sync::watch::Receiver<bool>,
}

/// A returning user's sign-in is written at most this often (unless their
/// name or email changed).
const SIGN_IN_WRITE_EVERY: Duration = Duration::minutes(5);

/// Token counts are read from the store at most this often, however often
/// `/metrics` is scraped (the scan grows with the table; scrapes are free).
const COUNTS_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// What [`App::new`] is built from.
pub struct AppParts {
    pub store: Arc<dyn Store>,
    pub hasher: Arc<TokenHasher>,
    pub clock: Arc<dyn Clock>,
    pub policy: Policy,
    pub verify: verify::VerifyState,
    pub auth_limits: AuthLimits,
    pub issuer_aliases: HashMap<String, String>,
    pub roles: RoleRules,
    /// `[scim]` secrets; `None`: SCIM is off.
    pub scim_tokens: Option<Vec<secrecy::SecretString>>,
}

impl App {
    pub fn new(p: AppParts) -> Self {
        let sealer = Sealer::new(p.hasher.derive_key("patrol web seal v1"));
        let webhook_seal = Sealer::new(p.hasher.derive_key("patrol webhook seal v1"));
        Self {
            store: p.store,
            hasher: p.hasher,
            clock: p.clock,
            policy: Arc::new(p.policy),
            verify: Arc::new(p.verify),
            auth_failures: Arc::new(FailureLimiter::new(
                p.auth_limits.max_failures_per_ip,
                p.auth_limits.window,
                p.auth_limits.capacity,
            )),
            refusal_audits: Arc::new(FailureLimiter::new(
                p.auth_limits.max_failures_per_ip,
                p.auth_limits.window,
                p.auth_limits.capacity,
            )),
            issuer_aliases: Arc::new(p.issuer_aliases),
            sessions: Arc::new(SessionState::new(sealer)),
            webhook_seal: Arc::new(webhook_seal),
            roles: Arc::new(p.roles),
            counts: Arc::default(),
            org_names: Arc::default(),
            settings: Arc::default(),
            scim: p
                .scim_tokens
                .map(|t| Arc::new(provisioning::scim_secrets(t))),
            set_up: tokio::sync::watch::channel(true).1,
        }
    }
}

/// Who is asking, and from where; every use case takes one.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    /// Administrator roles and groups (`access.rs`).
    pub access: Access,
    pub client_id: Option<String>,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
}

impl Caller {
    pub(crate) fn audit(
        &self,
        action: AuditAction,
        at: DateTime<Utc>,
        target_pat: Option<Uuid>,
        outcome: Outcome,
        detail: Option<String>,
    ) -> AuditEvent {
        let actor = format!("{}|{}", self.user.issuer, self.user.subject);
        AuditEvent {
            actor_user: Some(self.user.id),
            client_id: self.client_id.clone(),
            target_pat,
            target_user: Some(self.user.id),
            source_ip: self.source_ip.clone(),
            request_id: self.request_id.clone(),
            detail,
            ..AuditEvent::new(action, at, actor, outcome)
        }
    }
}

impl App {
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The settings the use cases run under (read-only, e.g. to draw forms).
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// A key for `purpose`, derived from the current server key (web page
    /// cookies and anti-CSRF tokens).
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        self.hasher.derive_key(purpose)
    }

    /// A valid user sign-in: create the user on first sight, keep name and
    /// email current, and join the configured organizations (those an
    /// administrator removed them from excepted). Management-API calls sign
    /// in on every request, so the users table is written only when
    /// something changed or [`SIGN_IN_WRITE_EVERY`] has passed (which keeps
    /// `last_sign_in` within that of the truth) — a read otherwise.
    async fn sign_in(&self, claims: &UserClaims, names: &[String]) -> Result<User, AppError> {
        let now = self.now();
        if let Some(user) = self
            .store
            .user_by_subject(&claims.issuer, &claims.subject)
            .await?
        {
            let unchanged = user.display_name == claims.display_name
                && user.email == claims.email
                && user.email_verified == (claims.email_verified && claims.email.is_some());
            if unchanged && now - user.last_sign_in < SIGN_IN_WRITE_EVERY {
                return Ok(user);
            }
        }
        let user = self.store.upsert_user(claims, now).await?;
        if user.created_at == user.last_sign_in && self.policy.auto_join {
            for org in self.store.list_orgs().await? {
                self.store.join_unless_removed(user.id, org.id).await?;
            }
        }
        // A user provisioned before (or since) their last sign-in: join the record.
        self.join_provisioned(user, names).await
    }

    /// Token counts by status (for the metrics gauge), at most
    /// [`COUNTS_EVERY`] old.
    pub async fn token_counts(&self) -> Result<StatusCounts, AppError> {
        let fresh = |c: &Option<(std::time::Instant, StatusCounts)>| {
            c.as_ref()
                .filter(|(at, _)| at.elapsed() < COUNTS_EVERY)
                .map(|(_, n)| *n)
        };
        let lock = || self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = fresh(&lock()) {
            return Ok(n);
        }
        let n = self.store.count_by_status(self.now()).await?;
        *lock() = Some((std::time::Instant::now(), n));
        Ok(n)
    }

    /// An organization by name (the location service's instance id).
    pub async fn org_by_name(
        &self,
        name: &str,
    ) -> Result<Option<patrol_core::user::Organization>, AppError> {
        Ok(self.store.org_by_name(name).await?)
    }

    /// Readiness follows `set_up` (true from the start unless given): a
    /// store still being set up in the background is not ready.
    pub fn with_set_up(mut self, set_up: tokio::sync::watch::Receiver<bool>) -> Self {
        self.set_up = set_up;
        self
    }

    /// Store set up and reachable?
    pub async fn ready(&self) -> Result<(), StoreError> {
        if !*self.set_up.borrow() {
            return Err(StoreError::Backend(
                "the store is not set up yet (database unreachable or migrations pending)".into(),
            ));
        }
        self.store.ping().await
    }
}
