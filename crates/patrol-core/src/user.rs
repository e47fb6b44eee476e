//! Users, organizations and the audit record.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// A person known to Patrol, keyed by `(issuer, subject)` where subject is
/// the issuer's subject claim (`sub`, or `oid` for Microsoft Entra) — never
/// by email or username. `id` stands for that key and never changes: it is
/// the identity other services authorise on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: Uuid,
    pub issuer: String,
    pub subject: String,
    /// For display only: the user may change it at the identity provider.
    pub display_name: String,
    pub email: Option<String>,
    /// Whether the issuer vouched for `email` at the last sign-in
    /// (`email_verified`, or an issuer configured as verifying). Only a
    /// vouched-for email is handed to other services.
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
    pub last_sign_in: DateTime<Utc>,
    pub disabled: bool,
}

impl User {
    /// The email address to hand to other services: only one the issuer
    /// vouched for. An unverified address could be anybody's.
    pub fn verified_email(&self) -> Option<&str> {
        self.email.as_deref().filter(|_| self.email_verified)
    }
}

/// What a sign-in tells us about a user; applied on every valid sign-in.
#[derive(Debug, Clone)]
pub struct UserClaims {
    pub issuer: String,
    pub subject: String,
    pub display_name: String,
    pub email: Option<String>,
    /// The issuer vouches for `email` (false when there is none).
    pub email_verified: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
}

/// Organization names: 1–50 characters, letters, digits and `-`, not
/// starting or ending with `-` (Azure DevOps' rule), compared case-insensitively.
pub fn valid_org_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 50
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Outcome of an audited action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// One audit record: who did what to which token, from where, and how it went.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEvent {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    /// `pat.create`, `pat.update`, `pat.regenerate`, `pat.revoke`, `pat.verify`, `auth.reject`, …
    pub action: String,
    pub actor_user: Option<Uuid>,
    /// `issuer|subject` of the caller, or a service name.
    pub actor: String,
    pub client_id: Option<String>,
    pub target_pat: Option<Uuid>,
    pub target_user: Option<Uuid>,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
    pub outcome: Outcome,
    /// A short machine-readable reason (never a secret).
    pub detail: Option<String>,
}

impl AuditEvent {
    /// A record with a fresh id; every optional field empty, to be filled
    /// with struct-update syntax (`AuditEvent { target_pat: …, ..AuditEvent::new(…) }`).
    pub fn new(
        action: &str,
        at: DateTime<Utc>,
        actor: impl Into<String>,
        outcome: Outcome,
    ) -> Self {
        Self {
            id: Uuid::new_v4(),
            at,
            action: action.to_owned(),
            actor_user: None,
            actor: actor.into(),
            client_id: None,
            target_pat: None,
            target_user: None,
            source_ip: None,
            request_id: None,
            outcome,
            detail: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_vouched_for_email_is_handed_on() {
        let mut u = User {
            id: Uuid::new_v4(),
            issuer: "i".into(),
            subject: "s".into(),
            display_name: "A".into(),
            email: Some("a@example.test".into()),
            email_verified: false,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            last_sign_in: DateTime::<Utc>::UNIX_EPOCH,
            disabled: false,
        };
        assert_eq!(u.verified_email(), None);
        u.email_verified = true;
        assert_eq!(u.verified_email(), Some("a@example.test"));
        u.email = None;
        assert_eq!(u.verified_email(), None);
    }

    #[test]
    fn org_names() {
        assert!(valid_org_name("fabrikam"));
        assert!(valid_org_name("Contoso-1"));
        assert!(!valid_org_name(""));
        assert!(!valid_org_name("-a"));
        assert!(!valid_org_name("a-"));
        assert!(!valid_org_name("a b"));
        assert!(!valid_org_name("_apis"));
        assert!(!valid_org_name(&"a".repeat(51)));
    }
}
