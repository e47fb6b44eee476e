//! The Azure DevOps scope catalogue and the scope lattice.
//!
//! * [`catalog`] / [`lookup`]: every scope Patrol knows (`docs/ado-wire-contract.md` §12.1,
//!   plus `vso.governance`, the Entra-only `vso.pats`/`vso.pats_manage`/
//!   `user_impersonation`, and the [`FULL_ACCESS`] pseudo-scope `app_token`).
//! * [`ScopeSet`]: a validated, normalised set of PAT scopes (lower-cased,
//!   sorted, deduplicated) with the lattice order given by the catalogue's
//!   "Inherits from" column (`implies`): write ⊇ read, manage ⊇ write, and
//!   `app_token` ⊇ everything.
//! * [`token_scopes_grant`]: the separate check of an OAuth `scp` claim for
//!   callers of the management API.

mod catalog;

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One scope of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ScopeInfo {
    /// Canonical (lower-case) name, e.g. `"vso.code_write"`.
    pub name: &'static str,
    /// Display title, e.g. `"Code (read and write)"`.
    pub title: &'static str,
    /// What the scope grants.
    pub description: &'static str,
    /// UI grouping, e.g. `"Code"`.
    pub area: &'static str,
    /// Direct "Inherits from" targets: holding this scope also grants these.
    pub implies: &'static [&'static str],
    /// Valid, but not offered in the UI.
    pub hidden: bool,
    /// `false` for Entra (OAuth) delegated scopes that cannot be put on a PAT
    /// (`vso.pats`, `vso.pats_manage`, `user_impersonation`).
    pub pat_scope: bool,
}

impl ScopeInfo {
    /// Whether a UI should offer this scope when creating or editing a PAT.
    pub fn is_selectable(&self) -> bool {
        self.pat_scope && !self.hidden
    }

    /// Whether this is the [`FULL_ACCESS`] pseudo-scope.
    pub fn is_full_access(&self) -> bool {
        self.name == FULL_ACCESS
    }
}

/// The PAT-only "Full access" pseudo-scope.
pub const FULL_ACCESS: &str = "app_token";

/// Maximum length in bytes of a scope string accepted by [`ScopeSet::parse`].
pub const MAX_SCOPE_STRING_BYTES: usize = 4096;

/// Maximum number of (whitespace-separated) entries in a scope string.
pub const MAX_SCOPE_ENTRIES: usize = 200;

/// Longest prefix (in characters) of an unrecognised scope echoed in errors.
const MAX_ECHO_CHARS: usize = 64;

/// Every scope Patrol knows, in documentation order (grouped by area).
pub fn catalog() -> &'static [ScopeInfo] {
    catalog::CATALOG
}

/// The scopes a UI should offer for a PAT: not hidden, and PAT-grantable.
pub fn selectable() -> impl Iterator<Item = &'static ScopeInfo> {
    catalog::CATALOG.iter().filter(|s| s.is_selectable())
}

/// Finds a scope by name, case-insensitively (ASCII).
pub fn lookup(name: &str) -> Option<&'static ScopeInfo> {
    catalog::CATALOG
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(name))
}

/// Why a scope string was rejected.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ScopeError {
    #[error("scopes are required")]
    Empty,
    #[error("unknown scope '{0}'")]
    Unknown(String),
    #[error("scope '{0}' cannot be granted to a personal access token")]
    NotAPatScope(String),
    #[error("scope string too long")]
    TooLong,
}

/// A validated, normalised set of PAT scopes.
///
/// Invariants: non-empty; every name is a canonical catalogue name with
/// `pat_scope == true`; sorted and deduplicated; if it holds [`FULL_ACCESS`]
/// it holds nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct ScopeSet(Vec<&'static str>);

impl ScopeSet {
    /// Parses a space-separated (any ASCII whitespace) scope string,
    /// case-insensitively; the result is sorted and deduplicated.
    ///
    /// An empty or all-whitespace string is [`ScopeError::Empty`] (use
    /// [`ScopeSet::parse_or_full`] for ADO's Create behaviour). `app_token`
    /// together with other scopes normalises to just `app_token`.
    pub fn parse(s: &str) -> Result<ScopeSet, ScopeError> {
        if s.len() > MAX_SCOPE_STRING_BYTES {
            return Err(ScopeError::TooLong);
        }
        let mut names: Vec<&'static str> = Vec::new();
        for (i, raw) in s.split_ascii_whitespace().enumerate() {
            if i >= MAX_SCOPE_ENTRIES {
                return Err(ScopeError::TooLong);
            }
            let info = lookup(raw).ok_or_else(|| ScopeError::Unknown(echo(raw)))?;
            if !info.pat_scope {
                return Err(ScopeError::NotAPatScope(info.name.to_owned()));
            }
            names.push(info.name);
        }
        if names.is_empty() {
            return Err(ScopeError::Empty);
        }
        if names.contains(&FULL_ACCESS) {
            return Ok(ScopeSet::full_access());
        }
        names.sort_unstable();
        names.dedup();
        Ok(ScopeSet(names))
    }

    /// Like [`ScopeSet::parse`], but `None`, empty or all-whitespace input
    /// means full access (`app_token`), as on ADO's Create.
    pub fn parse_or_full(s: Option<&str>) -> Result<ScopeSet, ScopeError> {
        match s {
            None => Ok(ScopeSet::full_access()),
            Some(s) if s.len() > MAX_SCOPE_STRING_BYTES => Err(ScopeError::TooLong),
            Some(s) if s.trim_ascii().is_empty() => Ok(ScopeSet::full_access()),
            Some(s) => ScopeSet::parse(s),
        }
    }

    /// The set holding only [`FULL_ACCESS`].
    pub fn full_access() -> ScopeSet {
        ScopeSet(vec![FULL_ACCESS])
    }

    /// Whether this set is `app_token` (full access).
    pub fn is_full_access(&self) -> bool {
        self.0.as_slice() == [FULL_ACCESS]
    }

    /// The normalised, space-joined form, e.g. `"vso.code vso.packaging"`.
    pub fn as_string(&self) -> String {
        self.0.join(" ")
    }

    /// The held scope names (canonical, sorted).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().copied()
    }

    /// The catalogue entries of the held scopes.
    pub fn infos(&self) -> impl Iterator<Item = &'static ScopeInfo> + '_ {
        self.0.iter().filter_map(|n| lookup(n))
    }

    /// Number of scopes held (before expansion); never zero.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always `false`: a `ScopeSet` is never empty. Present for API symmetry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `name` is literally held (no implication), case-insensitively.
    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|n| n.eq_ignore_ascii_case(name))
    }

    /// Whether this set grants `required` (case-insensitive): always for
    /// `app_token`, otherwise when `required` is in the transitive closure of
    /// `implies` of some held scope.
    pub fn grants(&self, required: &str) -> bool {
        if self.is_full_access() {
            return true;
        }
        self.0.iter().any(|held| closure_contains(held, required))
    }

    /// Whether this set grants every scope of `required`.
    pub fn grants_all(&self, required: &ScopeSet) -> bool {
        required.0.iter().all(|r| self.grants(r))
    }

    /// Lattice order: every scope of `self` is granted by `other`. An update
    /// of a PAT to `self` never widens beyond a policy `other` when this holds.
    pub fn is_subset_of(&self, other: &ScopeSet) -> bool {
        other.grants_all(self)
    }

    /// The transitive closure of the held scopes under `implies`, sorted.
    /// `app_token` expands to just `["app_token"]`.
    pub fn expanded(&self) -> Vec<&'static str> {
        let mut out: BTreeSet<&'static str> = BTreeSet::new();
        let mut stack: Vec<&'static str> = self.0.clone();
        while let Some(name) = stack.pop() {
            // `insert` returning false guards against cycles.
            if out.insert(name) {
                if let Some(info) = lookup(name) {
                    stack.extend(info.implies.iter().copied());
                }
            }
        }
        out.into_iter().collect()
    }
}

/// Whether `required` is `start` or reachable from it through `implies`.
fn closure_contains(start: &str, required: &str) -> bool {
    let mut stack: Vec<&str> = vec![start];
    // The catalogue has no cycles; the step budget guards against one anyway.
    let mut budget = catalog::CATALOG.len().saturating_mul(4);
    while let Some(name) = stack.pop() {
        if name.eq_ignore_ascii_case(required) {
            return true;
        }
        if budget == 0 {
            return false;
        }
        budget -= 1;
        if let Some(info) = lookup(name) {
            stack.extend(info.implies.iter().copied());
        }
    }
    false
}

/// A bounded, printable echo of user input for error messages.
fn echo(raw: &str) -> String {
    let mut out: String = raw
        .chars()
        .take(MAX_ECHO_CHARS)
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect();
    if raw.chars().nth(MAX_ECHO_CHARS).is_some() {
        out.push('…');
    }
    out
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

impl FromStr for ScopeSet {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ScopeSet::parse(s)
    }
}

impl From<ScopeSet> for String {
    fn from(s: ScopeSet) -> String {
        s.as_string()
    }
}

impl TryFrom<String> for ScopeSet {
    type Error = ScopeError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        ScopeSet::parse(&s)
    }
}

impl TryFrom<&str> for ScopeSet {
    type Error = ScopeError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        ScopeSet::parse(s)
    }
}

/// The delegated (OAuth) scope check for callers of the management API:
/// splits the `scp` claim on whitespace and returns whether `required` is
/// present (case-insensitive), treating `vso.pats_manage` as also granting
/// `vso.pats` (manage implies read). No other implication is applied.
pub fn token_scopes_grant(scp: &str, required: &str) -> bool {
    if required.is_empty() {
        return false;
    }
    let wants_pats_read = required.eq_ignore_ascii_case("vso.pats");
    scp.split_ascii_whitespace().any(|held| {
        held.eq_ignore_ascii_case(required)
            || (wants_pats_read && held.eq_ignore_ascii_case("vso.pats_manage"))
    })
}

#[cfg(test)]
mod tests;
