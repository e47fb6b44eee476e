//! Use cases: every state change goes through exactly one function here,
//! whichever edge (ADO API, web page, admin API, CLI) asked for it. Audit
//! records are written here, once, in the same transaction as the change.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use patrol_core::clock::Clock;
use patrol_core::hashing::TokenHasher;
use patrol_core::pat::LifetimePolicy;
use patrol_core::token::MintOptions;
use patrol_core::user::{AuditAction, AuditEvent, Outcome, User, UserClaims};
use patrol_store::{Store, StoreError};

mod error;
mod pats;
mod sessions;
pub mod verify;

pub use error::AppError;
pub use pats::{CreatePat, ListPage, ListRequest, UpdatePat};
pub use verify::{VerifiedPat, VerifyFailure, VerifyRequest};

/// Settings the use cases need, resolved from configuration once.
#[derive(Debug, Clone)]
pub struct Policy {
    pub mint: MintOptions,
    pub lifetime: LifetimePolicy,
    pub inactive_after: Option<Duration>,
    pub auto_join: bool,
    pub max_active_per_user: u64,
}

/// The application core: store, keys, clock and policy.
#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn Store>,
    pub hasher: Arc<TokenHasher>,
    pub clock: Arc<dyn Clock>,
    pub policy: Arc<Policy>,
    /// The verify path: cache, failure limits, last-use writer, resource servers.
    pub verify: Arc<verify::VerifyState>,
}

/// Who is asking, and from where; every use case takes one.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
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

/// A rejected caller, for the audit log (no user record exists for it).
#[derive(Debug, Clone)]
pub struct Rejection {
    pub actor: String,
    pub client_id: Option<String>,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
    pub reason: String,
}

impl App {
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// A valid user sign-in: create the user on first sight, refresh name and
    /// email afterwards, and join the configured organizations.
    pub async fn sign_in(&self, claims: &UserClaims) -> Result<User, AppError> {
        let now = self.now();
        let user = self.store.upsert_user(claims, now).await?;
        if user.created_at == user.last_sign_in && self.policy.auto_join {
            for org in self.store.list_orgs().await? {
                self.store.add_member(user.id, org.id).await?;
            }
        }
        Ok(user)
    }

    /// Record a refused request (non-human caller, missing scope, …).
    pub async fn record_rejection(&self, r: &Rejection) {
        let ev = AuditEvent {
            client_id: r.client_id.clone(),
            source_ip: r.source_ip.clone(),
            request_id: r.request_id.clone(),
            detail: Some(r.reason.clone()),
            ..AuditEvent::new(
                AuditAction::AuthReject,
                self.now(),
                r.actor.clone(),
                Outcome::Failure,
            )
        };
        if let Err(e) = self.store.append_audit(&ev).await {
            tracing::warn!(error = %e, "could not write audit record for a rejection");
        }
    }

    /// Store reachable?
    pub async fn ready(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }
}
