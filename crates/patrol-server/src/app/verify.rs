//! The verify use case: "is this PAT valid, whose is it, what does it grant?"
//! — asked by reverse proxies (forward-auth) and resource servers
//! (introspection) on every request.
//!
//! Order of work: failure limits → format and checksum (no store access) →
//! keyed-hash lookup through the cache → status, owner, organization and
//! scope checks → last use recorded in the background. Every failure looks
//! the same to the caller; when the PAT was found, its owner can read the
//! reason in the audit log (`pat.verify`, outcome failure).

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};

use patrol_core::hashing::TokenDigest;
use patrol_core::pat::{LastUse, Pat, PatStatus};
use patrol_core::scope;
use patrol_core::token;
use patrol_core::user::{AuditAction, AuditEvent, Organization, Outcome, User};
use patrol_store::UsageRecord;

use super::App;

mod cache;
mod clients;
mod limiter;
mod measures;
mod peers;
mod usage;

pub use cache::CachedPat;
pub use clients::ResourceServers;
pub use limiter::{ip_key, FailureLimiter};
pub use peers::{Forget, NoPeers, Peers};
pub use usage::{spawn as spawn_usage_writer, UsageFlusher, UsageSender};

use cache::VerifyCache;
use measures::LazyMeasures;
use peers::Hearing;

/// The verify path's settings, resolved from `[verify]` once (`config::Settings`).
#[derive(Debug, Clone, Copy)]
pub struct VerifySettings {
    pub cache_capacity: usize,
    pub cache_ttl: Duration,
    pub max_failures_per_ip: u32,
    pub max_failures_per_token: u32,
    pub failure_window: Duration,
    pub limiter_capacity: usize,
}

#[derive(Default)]
struct Counters {
    format_rejects: AtomicU64,
    store_lookups: AtomicU64,
    cache_hits: AtomicU64,
    unknown: AtomicU64,
}

/// Counts for tests and operators (also exported as metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifyStats {
    /// Presented tokens refused on format or checksum, before any lookup.
    pub format_rejects: u64,
    /// Keyed-hash lookups that went to the store (cache misses).
    pub store_lookups: u64,
    pub cache_hits: u64,
    /// Well-formed tokens that match no stored PAT.
    pub unknown_tokens: u64,
    /// Last-use and audit records dropped because the writer fell behind.
    pub usage_dropped: u64,
    pub cached_entries: usize,
    /// Addresses and tokens currently counted by the failure limits.
    pub limited_keys: usize,
}

/// The verify path's shared state: cache, failure limits, the background
/// writer's channel and the registered resource servers.
pub struct VerifyState {
    cache: VerifyCache,
    by_ip: FailureLimiter<IpAddr>,
    by_token: FailureLimiter<[u8; 32]>,
    usage: UsageSender,
    resource_servers: ResourceServers,
    counters: Counters,
    measures: LazyMeasures,
    /// Where forgotten entries are told to the other replicas.
    peers: Arc<dyn Peers>,
    hearing: Hearing,
}

impl VerifyState {
    pub fn new(
        settings: VerifySettings,
        resource_servers: ResourceServers,
        usage: UsageSender,
    ) -> Self {
        Self {
            cache: VerifyCache::new(settings.cache_capacity, settings.cache_ttl),
            by_ip: FailureLimiter::new(
                settings.max_failures_per_ip,
                settings.failure_window,
                settings.limiter_capacity,
            ),
            by_token: FailureLimiter::new(
                settings.max_failures_per_token,
                settings.failure_window,
                settings.limiter_capacity,
            ),
            usage,
            resource_servers,
            counters: Counters::default(),
            measures: LazyMeasures::default(),
            peers: Arc::new(NoPeers),
            hearing: Hearing::default(),
        }
    }

    /// Tell `peers` what this replica forgets (several replicas).
    pub fn with_peers(mut self, peers: Arc<dyn Peers>) -> Self {
        self.peers = peers;
        self
    }

    pub fn stats(&self) -> VerifyStats {
        let c = &self.counters;
        VerifyStats {
            format_rejects: c.format_rejects.load(Ordering::Relaxed),
            store_lookups: c.store_lookups.load(Ordering::Relaxed),
            cache_hits: c.cache_hits.load(Ordering::Relaxed),
            unknown_tokens: c.unknown.load(Ordering::Relaxed),
            usage_dropped: self.usage.dropped(),
            cached_entries: self.cache.len(),
            limited_keys: self.by_ip.len() + self.by_token.len(),
        }
    }
}

/// What the caller requires besides a valid PAT, and where it comes from.
#[derive(Debug, Clone, Default)]
pub struct VerifyRequest {
    /// Every one must be granted (`app_token` grants all).
    pub required_scopes: Vec<String>,
    /// Every one must be an organization the PAT may be used in.
    pub orgs: Vec<String>,
    /// The end client's address, when known (failure limits, last use).
    pub source_ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// The resource server asking (introspection); `None` for forward-auth.
    pub client_id: Option<String>,
    pub request_id: Option<String>,
}

/// A PAT that passed every check.
#[derive(Debug, Clone)]
pub struct VerifiedPat(Arc<CachedPat>);

impl VerifiedPat {
    pub fn pat(&self) -> &Pat {
        &self.0.pat
    }
    pub fn owner(&self) -> &User {
        &self.0.owner
    }
    /// The organizations it may be used in.
    pub fn organizations(&self) -> &[Organization] {
        &self.0.organizations
    }
    /// Its scopes, space-separated.
    pub fn scope(&self) -> &str {
        &self.0.scope
    }
    /// The owner's user id as text (kept formatted for the hot path).
    pub fn owner_id_text(&self) -> &str {
        &self.0.owner_id
    }
    /// The PAT's authorization id as text.
    pub fn authorization_id_text(&self) -> &str {
        &self.0.authorization_id
    }
}

/// Why a presented PAT is not valid. The caller never learns which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidReason {
    /// Wrong length, characters, signature or checksum; or no credential.
    Malformed,
    /// Well-formed but matches no stored PAT (unknown, or a replaced secret).
    Unknown,
    Revoked,
    Expired,
    /// Never used within the inactivity window after creation.
    Inactive,
    OwnerDisabled,
    /// The owner has not signed in interactively within
    /// `require_interactive_signin_days`.
    SignInOverdue,
}

impl InvalidReason {
    pub fn as_str(self) -> &'static str {
        match self {
            InvalidReason::Malformed => "malformed",
            InvalidReason::Unknown => "unknown",
            InvalidReason::Revoked => "revoked",
            InvalidReason::Expired => "expired",
            InvalidReason::Inactive => "inactive",
            InvalidReason::OwnerDisabled => "owner disabled",
            InvalidReason::SignInOverdue => "owner's interactive sign-in overdue",
        }
    }
}

/// A valid PAT that does not allow what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forbidden {
    MissingScope(String),
    OrganizationNotAllowed(String),
}

impl Forbidden {
    /// For the audit log; only catalogue scope names and valid organization
    /// names are echoed.
    fn detail(&self) -> String {
        match self {
            Forbidden::MissingScope(s) => match scope::lookup(s) {
                Some(info) => format!("missing scope {}", info.name),
                None => "missing an unknown scope".into(),
            },
            Forbidden::OrganizationNotAllowed(o) if patrol_core::user::valid_org_name(o) => {
                format!("not valid in organization {o}")
            }
            Forbidden::OrganizationNotAllowed(_) => {
                "not valid in the requested organization".into()
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyFailure {
    /// 401 to the caller, whatever the reason.
    Invalid(InvalidReason),
    /// 403: valid, but lacking a scope or organization.
    Forbidden(Forbidden),
    /// 429: too many failures from this address or with this token.
    Limited { retry_after_secs: u64 },
    /// The store could not be asked; fail closed.
    Unavailable,
}

/// Why a resource server was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthFailure {
    Invalid,
    Limited { retry_after_secs: u64 },
}

impl App {
    /// Verify a presented PAT (the secret as sent; an unreadable credential
    /// is presented as `""` and fails the format check like any malformed one).
    pub async fn verify_pat(
        &self,
        presented: &str,
        req: &VerifyRequest,
    ) -> Result<VerifiedPat, VerifyFailure> {
        let started = Instant::now();
        let result = self.verify_inner(presented, req).await;
        let m = self.verify.measures.get();
        let total = match &result {
            Ok(_) => &m.ok,
            Err(VerifyFailure::Invalid(_)) => &m.invalid,
            Err(VerifyFailure::Forbidden(_)) => &m.forbidden,
            Err(VerifyFailure::Limited { .. }) => &m.limited,
            Err(VerifyFailure::Unavailable) => &m.error,
        };
        total.increment(1);
        m.duration.record(started.elapsed().as_secs_f64());
        result
    }

    async fn verify_inner(
        &self,
        presented: &str,
        req: &VerifyRequest,
    ) -> Result<VerifiedPat, VerifyFailure> {
        let v = &self.verify;
        let now = self.now();
        let ip = req.source_ip.map(ip_key);
        if let Some(ip) = &ip {
            v.by_ip.check(ip, now).map_err(|s| VerifyFailure::Limited {
                retry_after_secs: s,
            })?;
        }
        // (a) Format and checksum: refused before any store access.
        if token::validate_for(presented, &self.policy.mint.signature).is_err() {
            v.counters.format_rejects.fetch_add(1, Ordering::Relaxed);
            v.measures.get().format_rejects.increment(1);
            self.count_failure(ip, None, now);
            return Err(VerifyFailure::Invalid(InvalidReason::Malformed));
        }
        // (b) Keyed-hash lookup, through the cache.
        let candidates = self.hasher.candidates(presented);
        let Some(digest) = candidates.first().map(|c| c.digest) else {
            return Err(VerifyFailure::Unavailable);
        };
        v.by_token
            .check(digest.as_bytes(), now)
            .map_err(|s| VerifyFailure::Limited {
                retry_after_secs: s,
            })?;
        let cached = match v.cache.get(&digest, now) {
            Some(c) => {
                v.counters.cache_hits.fetch_add(1, Ordering::Relaxed);
                c
            }
            None => match self.lookup(&candidates, digest, now).await? {
                Some(c) => c,
                None => {
                    v.counters.unknown.fetch_add(1, Ordering::Relaxed);
                    self.count_failure(ip, Some(digest), now);
                    return Err(VerifyFailure::Invalid(InvalidReason::Unknown));
                }
            },
        };
        // (c) Status, owner, organization, scopes.
        let invalid = match cached.pat.status(now, self.policy.inactive_after) {
            PatStatus::Active if cached.owner.disabled => Some(InvalidReason::OwnerDisabled),
            PatStatus::Active if self.sign_in_overdue(&cached.owner, now) => {
                Some(InvalidReason::SignInOverdue)
            }
            PatStatus::Active => None,
            PatStatus::Revoked => Some(InvalidReason::Revoked),
            PatStatus::Expired => Some(InvalidReason::Expired),
            PatStatus::Inactive => Some(InvalidReason::Inactive),
        };
        if let Some(reason) = invalid {
            self.count_failure(ip, Some(digest), now);
            self.audit_verify_failure(&cached, req, now, reason.as_str().to_owned());
            return Err(VerifyFailure::Invalid(reason));
        }
        let forbidden = req
            .orgs
            .iter()
            .find(|o| !cached.allows_org(o))
            .map(|o| Forbidden::OrganizationNotAllowed(o.clone()))
            .or_else(|| {
                req.required_scopes
                    .iter()
                    .find(|s| !cached.pat.scopes.grants(s))
                    .map(|s| Forbidden::MissingScope(s.clone()))
            });
        if let Some(f) = forbidden {
            self.audit_verify_failure(&cached, req, now, f.detail());
            return Err(VerifyFailure::Forbidden(f));
        }
        // (d) Success: it proves this token good, not the address's other
        // attempts, so only the token's failures clear. Note the use off the hot path.
        v.by_token.reset(digest.as_bytes());
        if cached.note_use(now) {
            v.usage.used(UsageRecord {
                authorization_id: cached.pat.authorization_id,
                last_use: LastUse {
                    at: now,
                    source_ip: req.source_ip.map(|i| i.to_string()),
                    user_agent: req.user_agent.as_deref().map(bounded_agent),
                },
            });
        }
        Ok(VerifiedPat(cached))
    }

    /// A cache miss: ask the store, and cache what it says (also a revoked
    /// or expired PAT, so hammering one does not reach the store).
    async fn lookup(
        &self,
        candidates: &[patrol_core::hashing::KeyedHash],
        digest: TokenDigest,
        now: DateTime<Utc>,
    ) -> Result<Option<Arc<CachedPat>>, VerifyFailure> {
        let v = &self.verify;
        let epoch = v.cache.epoch();
        v.counters.store_lookups.fetch_add(1, Ordering::Relaxed);
        v.measures.get().store_lookups.increment(1);
        let unavailable = |e: patrol_store::StoreError| {
            tracing::error!(error = %e, "verify: store lookup failed");
            VerifyFailure::Unavailable
        };
        let Some(found) = self
            .store
            .find_for_verify(candidates)
            .await
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        let cached = Arc::new(CachedPat::new(found.pat, found.owner, found.member_of));
        v.cache.insert(digest, cached.clone(), now, epoch);
        Ok(Some(cached))
    }

    /// The periodic sign-in rule: on when configured, and the owner's last
    /// interactive sign-in (none counts as overdue) is older than allowed.
    pub(crate) fn sign_in_overdue(&self, owner: &User, now: DateTime<Utc>) -> bool {
        match self.policy.require_interactive_signin {
            None => false,
            Some(max) => owner
                .last_interactive_sign_in
                .is_none_or(|at| now - at > max),
        }
    }

    fn count_failure(&self, ip: Option<IpAddr>, digest: Option<TokenDigest>, now: DateTime<Utc>) {
        if let Some(ip) = ip {
            self.verify.by_ip.record_failure(ip, now);
        }
        if let Some(d) = digest {
            self.verify.by_token.record_failure(*d.as_bytes(), now);
        }
    }

    /// The owner's record of why a use of their PAT failed (written in the
    /// background, so a found token answers as fast as an unknown one).
    fn audit_verify_failure(
        &self,
        cached: &CachedPat,
        req: &VerifyRequest,
        now: DateTime<Utc>,
        detail: String,
    ) {
        let actor = match &req.client_id {
            Some(c) => format!("resource-server|{c}"),
            None => "forward-auth".to_owned(),
        };
        self.verify.usage.audit(AuditEvent {
            client_id: req.client_id.clone(),
            target_pat: Some(cached.pat.authorization_id),
            target_user: Some(cached.owner.id),
            source_ip: req.source_ip.map(|i| i.to_string()),
            request_id: req.request_id.clone(),
            detail: Some(detail),
            ..AuditEvent::new(AuditAction::PatVerify, now, actor, Outcome::Failure)
        });
    }

    /// A resource server authenticating itself (introspection). Failures
    /// count against the source address like failed PATs do.
    pub fn authenticate_resource_server(
        &self,
        client_id: &str,
        secret: &str,
        source_ip: Option<IpAddr>,
    ) -> Result<String, ClientAuthFailure> {
        let v = &self.verify;
        let now = self.now();
        let ip = source_ip.map(ip_key);
        if let Some(ip) = &ip {
            v.by_ip
                .check(ip, now)
                .map_err(|s| ClientAuthFailure::Limited {
                    retry_after_secs: s,
                })?;
        }
        match v.resource_servers.authenticate(client_id, secret) {
            Some(id) => Ok(id.to_owned()),
            None => {
                self.count_failure(ip, None, now);
                v.measures.get().client_failures.increment(1);
                Err(ClientAuthFailure::Invalid)
            }
        }
    }

    /// The verify path's counters (for tests and operators).
    pub fn verify_stats(&self) -> VerifyStats {
        self.verify.stats()
    }

    /// Write queued last-use and verify audit records now (tests, shutdown).
    pub async fn flush_usage(&self) {
        self.verify.usage.flush().await;
    }
}

/// User agents are stored for the owner to read: bounded, printable.
fn bounded_agent(ua: &str) -> String {
    ua.chars().filter(|c| !c.is_control()).take(256).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_details() {
        assert_eq!(
            Forbidden::MissingScope("VSO.CODE_WRITE".into()).detail(),
            "missing scope vso.code_write"
        );
        assert_eq!(
            Forbidden::MissingScope("x\ny".into()).detail(),
            "missing an unknown scope"
        );
        assert_eq!(
            Forbidden::OrganizationNotAllowed("contoso".into()).detail(),
            "not valid in organization contoso"
        );
        assert_eq!(
            Forbidden::OrganizationNotAllowed("a b\r\n".into()).detail(),
            "not valid in the requested organization"
        );
        assert_eq!(bounded_agent("git/2.47\r\nX: y"), "git/2.47X: y");
        assert_eq!(bounded_agent(&"a".repeat(1000)).len(), 256);
    }
}
