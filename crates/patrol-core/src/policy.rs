//! Token policies, set by administrators (docs/admin.md), and the one pure
//! rule that decides whether a token's shape is allowed under them.
//!
//! Tenant policies: restrict global (all-organizations) PATs, restrict
//! full-scope (`app_token`) PATs, a maximum lifespan — each with an
//! allow-list of exempt users and groups — and leaked-PAT auto-revocation
//! (stored here, applied by the leak work). Organization policy: restrict PAT
//! creation in the organization to an allow-list, optionally letting everyone
//! else create packaging-only PATs.
//!
//! [`Policies::evaluate`] is asked with the token as it would be stored —
//! after a create, an update or a regenerate — so enforcement and the dry run
//! (which asks it about every active token) cannot disagree. Tokens nobody
//! touches are never re-evaluated: switching a policy on leaves them alone.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::pat::{OrgTarget, Pat};
use crate::scope::ScopeSet;

/// Most entries one allow-list may hold (users and groups together).
pub const MAX_ALLOW_ENTRIES: usize = 1000;
/// Longest allow-list entry, in bytes.
pub const MAX_ENTRY_BYTES: usize = 512;
/// The longest maximum lifespan a policy may set, in days.
pub const MAX_LIFESPAN_DAYS: u32 = 3650;

/// The scopes a "packaging-only" PAT may hold.
pub const PACKAGING_SCOPES: [&str; 3] = [
    "vso.packaging",
    "vso.packaging_write",
    "vso.packaging_manage",
];

/// Users (by key, `<issuer>|<subject>`) and groups (as the issuer's groups
/// claim names them) a restriction does not apply to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AllowList {
    pub users: Vec<String>,
    pub groups: Vec<String>,
}

impl AllowList {
    /// Is `who` on the list, by user key or by any of their groups?
    pub fn admits(&self, who: &Principal<'_>) -> bool {
        self.users.iter().any(|u| u == who.key)
            || self
                .groups
                .iter()
                .any(|g| who.groups.iter().any(|h| h == g))
    }

    fn validate(&self, what: &'static str) -> Result<(), PolicyError> {
        if self.users.len() + self.groups.len() > MAX_ALLOW_ENTRIES {
            return Err(PolicyError::TooManyEntries(what));
        }
        for e in self.users.iter().chain(&self.groups) {
            if e.trim().is_empty() || e.len() > MAX_ENTRY_BYTES || e.chars().any(char::is_control) {
                return Err(PolicyError::BadEntry(what));
            }
        }
        if let Some(u) = self.users.iter().find(|u| !u.contains('|')) {
            return Err(PolicyError::NotAUserKey(what, echo(u)));
        }
        Ok(())
    }
}

/// An on/off restriction with its exemptions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Restriction {
    pub enabled: bool,
    pub allow: AllowList,
}

impl Restriction {
    fn applies_to(&self, who: &Principal<'_>) -> bool {
        self.enabled && !self.allow.admits(who)
    }
}

/// "Enforce a maximum PAT lifespan".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct LifespanRestriction {
    pub enabled: bool,
    pub max_days: u32,
    pub allow: AllowList,
}

impl Default for LifespanRestriction {
    fn default() -> Self {
        Self {
            enabled: false,
            max_days: 30,
            allow: AllowList::default(),
        }
    }
}

/// The tenant's policies (one set for every organization).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TenantPolicy {
    pub restrict_global_pats: Restriction,
    pub restrict_full_scope_pats: Restriction,
    pub max_lifespan: LifespanRestriction,
    /// Revoke PATs found leaked in public places (on unless turned off).
    pub revoke_leaked_pats: bool,
}

impl Default for TenantPolicy {
    fn default() -> Self {
        Self {
            restrict_global_pats: Restriction::default(),
            restrict_full_scope_pats: Restriction::default(),
            max_lifespan: LifespanRestriction::default(),
            revoke_leaked_pats: true,
        }
    }
}

/// One organization's policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct OrgPolicy {
    /// Only the allow-list may create PATs that reach this organization.
    pub restrict_pat_creation: bool,
    pub allow: AllowList,
    /// Everyone else may still create packaging-only PATs.
    pub allow_packaging_pats: bool,
}

/// Why a policy document cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the maximum lifespan must be between 1 and {MAX_LIFESPAN_DAYS} days")]
    LifespanOutOfRange,
    #[error("the allow-list of {0} has more than {MAX_ALLOW_ENTRIES} entries")]
    TooManyEntries(&'static str),
    #[error("the allow-list of {0} has an empty, over-long or unprintable entry")]
    BadEntry(&'static str),
    #[error("the allow-list of {0} names '{1}', which is not a user key (<issuer>|<subject>)")]
    NotAUserKey(&'static str, String),
}

impl TenantPolicy {
    pub fn validate(&self) -> Result<(), PolicyError> {
        self.restrict_global_pats
            .allow
            .validate("restrictGlobalPats")?;
        self.restrict_full_scope_pats
            .allow
            .validate("restrictFullScopePats")?;
        self.max_lifespan.allow.validate("maxLifespan")?;
        if !(1..=MAX_LIFESPAN_DAYS).contains(&self.max_lifespan.max_days) {
            return Err(PolicyError::LifespanOutOfRange);
        }
        Ok(())
    }

    /// The longest lifetime `who` may give a token, when a policy caps it.
    pub fn lifespan_cap(&self, who: &Principal<'_>) -> Option<Duration> {
        let l = &self.max_lifespan;
        (l.enabled && !l.allow.admits(who)).then(|| Duration::days(i64::from(l.max_days)))
    }
}

impl OrgPolicy {
    pub fn validate(&self) -> Result<(), PolicyError> {
        self.allow.validate("restrictPatCreation")
    }
}

/// Who a token is for: the owner's key and groups.
#[derive(Debug, Clone, Copy)]
pub struct Principal<'a> {
    /// `<issuer>|<subject>`.
    pub key: &'a str,
    pub groups: &'a [String],
}

/// What the policies look at in a token.
#[derive(Debug, Clone)]
pub struct TokenShape<'a> {
    pub scopes: &'a ScopeSet,
    /// Valid in every organization its owner belongs to.
    pub global: bool,
    /// The organizations it reaches: its own, or for a global token every
    /// organization its owner belongs to.
    pub orgs: Vec<Uuid>,
    pub valid_to: DateTime<Utc>,
}

impl<'a> TokenShape<'a> {
    /// The shape of `pat`, whose owner belongs to `owner_orgs`. The one way
    /// enforcement and the dry run describe a token.
    pub fn of(pat: &'a Pat, owner_orgs: &[Uuid]) -> Self {
        let (global, orgs) = match &pat.target {
            OrgTarget::All => (true, owner_orgs.to_vec()),
            OrgTarget::Orgs(ids) => (false, ids.clone()),
        };
        Self {
            scopes: &pat.scopes,
            global,
            orgs,
            valid_to: pat.valid_to,
        }
    }
}

/// Which policy refused a token; each maps to one `patTokenError` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// `globalPatPolicyViolation`.
    #[error("policy 'restrict global PAT creation' refuses tokens for all organizations")]
    GlobalPat,
    /// `fullScopePatPolicyViolation`.
    #[error("policy 'restrict full-scope PAT creation' refuses full-access tokens")]
    FullScopePat,
    /// `patLifespanPolicyViolation`.
    #[error("policy 'maximum PAT lifespan' allows at most {max_days} days")]
    Lifespan { max_days: u32 },
    /// `disablePatCreationPolicyViolation`.
    #[error("the organization's policy 'restrict PAT creation' refuses this token")]
    OrgCreation { org: Uuid },
}

/// Every policy in force: the tenant's and each organization's (by id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policies {
    pub tenant: TenantPolicy,
    pub orgs: BTreeMap<Uuid, OrgPolicy>,
}

fn packaging_only(scopes: &ScopeSet) -> bool {
    scopes.names().all(|n| PACKAGING_SCOPES.contains(&n))
}

impl Policies {
    /// May `who` hold a token shaped like `shape`, at `now`? The first
    /// violation in a fixed order: global, full scope, lifespan, then each
    /// organization the token reaches (in the order given).
    pub fn evaluate(
        &self,
        who: &Principal<'_>,
        shape: &TokenShape<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), Violation> {
        let t = &self.tenant;
        if shape.global && t.restrict_global_pats.applies_to(who) {
            return Err(Violation::GlobalPat);
        }
        if shape.scopes.is_full_access() && t.restrict_full_scope_pats.applies_to(who) {
            return Err(Violation::FullScopePat);
        }
        if let Some(cap) = t.lifespan_cap(who) {
            if shape.valid_to > now + cap {
                return Err(Violation::Lifespan {
                    max_days: t.max_lifespan.max_days,
                });
            }
        }
        for org in &shape.orgs {
            let Some(p) = self.orgs.get(org) else {
                continue;
            };
            let refused = p.restrict_pat_creation
                && !p.allow.admits(who)
                && !(p.allow_packaging_pats && packaging_only(shape.scopes));
            if refused {
                return Err(Violation::OrgCreation { org: *org });
            }
        }
        Ok(())
    }
}

fn echo(s: &str) -> String {
    s.chars().take(64).filter(|c| !c.is_control()).collect()
}

#[cfg(test)]
mod tests;
