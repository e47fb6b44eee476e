//! Revocation rules: "revoke every token that grants any of these scopes
//! and was created before this date" (docs/ado-wire-contract.md §5). A rule
//! acts once, when it is made, and is kept for the record.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::pat::Pat;
use crate::scope::ScopeSet;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevocationRule {
    pub id: Uuid,
    /// The organization whose tokens it revokes (its own and global ones);
    /// `None`: every organization.
    pub org: Option<Uuid>,
    pub scopes: ScopeSet,
    pub created_before: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// `<issuer>|<subject>` of the administrator who made it.
    pub created_by: String,
    /// How many tokens it revoked.
    pub revoked: u64,
}

impl RevocationRule {
    /// Does the rule revoke `pat`? Not yet revoked (expired tokens too: an
    /// update could extend them), created before the rule's date, pinned to
    /// its organization or global, and granting any of its scopes —
    /// `vso.code` catches `vso.code_write` and full-access tokens, which can
    /// do what it names. (A global token counts in the organizations its
    /// owner belongs to: callers offer only those.)
    pub fn matches(&self, pat: &Pat) -> bool {
        pat.revoked_at.is_none()
            && pat.created_at < self.created_before
            && self.org.is_none_or(|o| pat.target.allows(o))
            && self.scopes.names().any(|s| pat.scopes.grants(s))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::pat::OrgTarget;

    #[test]
    fn rules_match_by_scope_grant_date_and_organization() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let fabrikam = Uuid::from_bytes([1; 16]);
        let contoso = Uuid::from_bytes([2; 16]);
        let rule = RevocationRule {
            id: Uuid::new_v4(),
            org: Some(fabrikam),
            scopes: ScopeSet::parse("vso.code vso.packaging").unwrap(),
            created_before: t0,
            created_at: t0,
            created_by: "i|admin".into(),
            revoked: 0,
        };
        let pat = |scope: &str, created: i64, target: OrgTarget| Pat {
            scopes: ScopeSet::parse(scope).unwrap(),
            target,
            ..Pat::fixture(Uuid::new_v4(), t0 + Duration::days(created))
        };
        let here = || OrgTarget::Orgs(vec![fabrikam]);
        assert!(rule.matches(&pat("vso.code", -1, here())));
        assert!(rule.matches(&pat("vso.code_write", -1, here())));
        assert!(rule.matches(&pat("app_token", -1, here())));
        assert!(rule.matches(&pat("vso.packaging_manage vso.work", -1, OrgTarget::All)));
        assert!(!rule.matches(&pat("vso.work", -1, here())));
        assert!(
            !rule.matches(&pat("vso.code", 0, here())),
            "created at the date"
        );
        assert!(!rule.matches(&pat("vso.code", -1, OrgTarget::Orgs(vec![contoso]))));
        let mut revoked = pat("vso.code", -1, here());
        revoked.revoked_at = Some(t0);
        assert!(!rule.matches(&revoked));
        let mut expired = pat("vso.code", -40, here());
        expired.valid_to = t0 - Duration::days(1);
        assert!(rule.matches(&expired));
        let everywhere = RevocationRule { org: None, ..rule };
        assert!(everywhere.matches(&pat("vso.code", -1, OrgTarget::Orgs(vec![contoso]))));
    }
}
