//! Users, organizations and the audit record.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
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
    /// The last interactive sign-in (the web page's), for the periodic
    /// sign-in rule; `None` when there was none yet. Management-API calls
    /// do not count.
    pub last_interactive_sign_in: Option<DateTime<Utc>>,
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

impl FromStr for Outcome {
    type Err = UnknownWord;

    /// Exactly the words [`Outcome::as_str`] writes; anything else is an error.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "success" => Ok(Outcome::Success),
            "failure" => Ok(Outcome::Failure),
            _ => Err(UnknownWord(s.to_owned())),
        }
    }
}

/// A stored word (audit action or outcome) that names nothing this version knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown word '{0}'")]
pub struct UnknownWord(pub String);

/// What an audit record is about: a closed set, stored and serialized as the
/// dotted words of [`AuditAction::as_str`] (which never change once written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuditAction {
    #[serde(rename = "pat.create")]
    PatCreate,
    #[serde(rename = "pat.update")]
    PatUpdate,
    #[serde(rename = "pat.regenerate")]
    PatRegenerate,
    #[serde(rename = "pat.revoke")]
    PatRevoke,
    /// A refused verification (successes are counted, not audited).
    #[serde(rename = "pat.verify")]
    PatVerify,
    /// A management-API or sign-in caller refused at admission.
    #[serde(rename = "auth.reject")]
    AuthReject,
    #[serde(rename = "web.signin")]
    WebSignIn,
    #[serde(rename = "web.signout")]
    WebSignOut,
    /// A web session ended without the user asking (expiry, failed refresh, …).
    #[serde(rename = "web.session_end")]
    WebSessionEnd,
    /// An administrator added a member to an organization.
    #[serde(rename = "admin.member_add")]
    AdminMemberAdd,
    /// An administrator removed a member from an organization.
    #[serde(rename = "admin.member_remove")]
    AdminMemberRemove,
    /// An administrator set the tenant's or an organization's policy.
    #[serde(rename = "admin.policy_set")]
    AdminPolicySet,
    /// An administrator made a revocation rule (each token it revoked has
    /// its own `pat.revoke` record).
    #[serde(rename = "admin.revocation_rule")]
    AdminRevocationRule,
    /// A PAT was reported leaked (where, by whom; never the secret). The
    /// revocation it may cause has its own `pat.revoke` record.
    #[serde(rename = "pat.leaked")]
    PatLeaked,
    /// A user was disabled (by an administrator or the provisioning client):
    /// their PATs revoked (each with its `pat.revoke` record) and web sessions ended.
    #[serde(rename = "user.disable")]
    UserDisable,
    /// A disabled user was enabled again (revoked PATs stay revoked).
    #[serde(rename = "user.enable")]
    UserEnable,
    /// The provisioning client (SCIM) created, changed or deleted a user record.
    #[serde(rename = "scim.user_create")]
    ScimUserCreate,
    #[serde(rename = "scim.user_update")]
    ScimUserUpdate,
    #[serde(rename = "scim.user_delete")]
    ScimUserDelete,
}

impl AuditAction {
    /// Every action, in declaration order.
    pub const ALL: [AuditAction; 19] = [
        AuditAction::PatCreate,
        AuditAction::PatUpdate,
        AuditAction::PatRegenerate,
        AuditAction::PatRevoke,
        AuditAction::PatVerify,
        AuditAction::AuthReject,
        AuditAction::WebSignIn,
        AuditAction::WebSignOut,
        AuditAction::WebSessionEnd,
        AuditAction::AdminMemberAdd,
        AuditAction::AdminMemberRemove,
        AuditAction::AdminPolicySet,
        AuditAction::AdminRevocationRule,
        AuditAction::PatLeaked,
        AuditAction::UserDisable,
        AuditAction::UserEnable,
        AuditAction::ScimUserCreate,
        AuditAction::ScimUserUpdate,
        AuditAction::ScimUserDelete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::PatCreate => "pat.create",
            AuditAction::PatUpdate => "pat.update",
            AuditAction::PatRegenerate => "pat.regenerate",
            AuditAction::PatRevoke => "pat.revoke",
            AuditAction::PatVerify => "pat.verify",
            AuditAction::AuthReject => "auth.reject",
            AuditAction::WebSignIn => "web.signin",
            AuditAction::WebSignOut => "web.signout",
            AuditAction::WebSessionEnd => "web.session_end",
            AuditAction::AdminMemberAdd => "admin.member_add",
            AuditAction::AdminMemberRemove => "admin.member_remove",
            AuditAction::AdminPolicySet => "admin.policy_set",
            AuditAction::AdminRevocationRule => "admin.revocation_rule",
            AuditAction::PatLeaked => "pat.leaked",
            AuditAction::UserDisable => "user.disable",
            AuditAction::UserEnable => "user.enable",
            AuditAction::ScimUserCreate => "scim.user_create",
            AuditAction::ScimUserUpdate => "scim.user_update",
            AuditAction::ScimUserDelete => "scim.user_delete",
        }
    }
}

impl FromStr for AuditAction {
    type Err = UnknownWord;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownWord(s.to_owned()))
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One audit record: who did what to which token, from where, and how it went.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEvent {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub action: AuditAction,
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
    /// What the change promises to tell people (the application's notice
    /// intent, opaque here). A store keeps it beside the record, in the same
    /// transaction, and only when the change took effect, until the notifier
    /// has put the notices in the outbox: a crash between the commit and
    /// that step loses no notice. Not part of the record itself.
    #[serde(skip)]
    pub notice: Option<String>,
}

impl AuditEvent {
    /// A record with a fresh id; every optional field empty, to be filled
    /// with struct-update syntax (`AuditEvent { target_pat: …, ..AuditEvent::new(…) }`).
    pub fn new(
        action: AuditAction,
        at: DateTime<Utc>,
        actor: impl Into<String>,
        outcome: Outcome,
    ) -> Self {
        Self {
            id: Uuid::new_v4(),
            at,
            action,
            actor_user: None,
            actor: actor.into(),
            client_id: None,
            target_pat: None,
            target_user: None,
            source_ip: None,
            request_id: None,
            outcome,
            detail: None,
            notice: None,
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
            last_interactive_sign_in: None,
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

    #[test]
    fn audit_actions_are_stored_and_serialized_as_their_dotted_words() {
        let words = [
            "pat.create",
            "pat.update",
            "pat.regenerate",
            "pat.revoke",
            "pat.verify",
            "auth.reject",
            "web.signin",
            "web.signout",
            "web.session_end",
            "admin.member_add",
            "admin.member_remove",
            "admin.policy_set",
            "admin.revocation_rule",
            "pat.leaked",
            "user.disable",
            "user.enable",
            "scim.user_create",
            "scim.user_update",
            "scim.user_delete",
        ];
        assert_eq!(AuditAction::ALL.map(AuditAction::as_str), words);
        for a in AuditAction::ALL {
            assert_eq!(a.as_str().parse::<AuditAction>(), Ok(a));
            assert_eq!(a.to_string(), a.as_str());
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{}\"", a.as_str()));
            assert_eq!(serde_json::from_str::<AuditAction>(&json).unwrap(), a);
        }
        for bad in ["", "pat", "PAT.CREATE", "pat.create ", "web.sign_in"] {
            assert_eq!(bad.parse::<AuditAction>(), Err(UnknownWord(bad.to_owned())));
        }
    }

    #[test]
    fn outcomes_parse_strictly() {
        for o in [Outcome::Success, Outcome::Failure] {
            assert_eq!(o.as_str().parse::<Outcome>(), Ok(o));
        }
        assert!("Success".parse::<Outcome>().is_err());
        assert!("".parse::<Outcome>().is_err());
    }
}
