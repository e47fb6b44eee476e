//! Test fixtures, shared by every crate's tests through the `test-support`
//! feature: one way to write "some valid PAT" and "its audit record".
#![allow(clippy::expect_used)]

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::pat::{OrgTarget, Pat};
use crate::scope::ScopeSet;
use crate::user::{AuditAction, AuditEvent, Outcome, User};

impl Pat {
    /// An active PAT of `owner`, created at `now`: fresh id, display name
    /// `"ci"`, scope `vso.code`, every organization, valid for 30 days,
    /// never used. Change what a test needs with struct-update syntax.
    pub fn fixture(owner: Uuid, now: DateTime<Utc>) -> Pat {
        Pat {
            authorization_id: Uuid::new_v4(),
            owner,
            display_name: "ci".into(),
            scopes: ScopeSet::parse("vso.code").expect("vso.code is in the catalog"),
            target: OrgTarget::All,
            valid_from: now,
            valid_to: now + Duration::days(30),
            created_at: now,
            revoked_at: None,
            last_used: None,
        }
    }
}

impl AuditEvent {
    /// A successful `action` on `pat` by its owner, at the PAT's creation time.
    pub fn for_pat(action: AuditAction, pat: &Pat, actor: &str) -> AuditEvent {
        AuditEvent {
            actor_user: Some(pat.owner),
            target_pat: Some(pat.authorization_id),
            target_user: Some(pat.owner),
            ..AuditEvent::new(action, pat.created_at, actor, Outcome::Success)
        }
    }
}

impl User {
    /// An enabled user `<issuer>|<subject>` first seen at `now`, with a fresh id.
    pub fn fixture(issuer: &str, subject: &str, now: DateTime<Utc>) -> User {
        User {
            id: Uuid::new_v4(),
            issuer: issuer.into(),
            subject: subject.into(),
            display_name: subject.into(),
            email: None,
            email_verified: false,
            created_at: now,
            last_sign_in: now,
            disabled: false,
        }
    }
}
