//! Administrator roles and groups: who is a tenant admin, who administers
//! which organization, and which groups a user is in — from configuration
//! (by user key) and from claims the identity provider put in the user's
//! tokens, remembered from their last sign-in (docs/admin.md).
//!
//! Pure: the claims come in as [`RememberedClaims`], the rules as
//! [`RoleRules`]; nothing here reads a token or the database.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Most values remembered per claim (Entra puts at most 200 groups in a token).
pub const MAX_VALUES_PER_CLAIM: usize = 500;
/// Longest claim value remembered, in bytes; longer values are dropped.
pub const MAX_VALUE_BYTES: usize = 256;

/// What a claim rule grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    TenantAdmin,
    /// Administrator of this organization (name, compared case-insensitively).
    OrgAdmin(String),
}

impl Grant {
    /// `tenant_admin` or `org_admin:<organization>`.
    pub fn parse(s: &str) -> Option<Grant> {
        match s.trim() {
            "tenant_admin" => Some(Grant::TenantAdmin),
            other => other
                .strip_prefix("org_admin:")
                .filter(|o| crate::user::valid_org_name(o))
                .map(|o| Grant::OrgAdmin(o.to_ascii_lowercase())),
        }
    }
}

/// "A token from `issuer` whose `claim` holds `value` grants `grants`."
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRule {
    /// The issuer as user keys name it (the `iss` URL; `patrol-dev` under `patrol dev`).
    pub issuer: String,
    pub claim: String,
    pub value: String,
    pub grants: Grant,
}

/// Every source of roles and groups, resolved from configuration once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleRules {
    /// User keys (`<issuer>|<subject>`).
    pub tenant_admins: BTreeSet<String>,
    /// Organization name (lower case) → user keys.
    pub org_admins: BTreeMap<String, BTreeSet<String>>,
    pub claim_rules: Vec<ClaimRule>,
    /// Issuer → the claim listing its users' groups.
    pub groups_claims: BTreeMap<String, String>,
}

/// A user's roles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Roles {
    pub tenant_admin: bool,
    /// Organizations (lower-case names) the user administers.
    pub org_admin: BTreeSet<String>,
}

impl Roles {
    /// Tenant admin, or administrator of `org` (any case).
    pub fn administers(&self, org: &str) -> bool {
        self.tenant_admin || self.org_admin.contains(&org.to_ascii_lowercase())
    }

    /// Any administrator role at all.
    pub fn is_admin(&self) -> bool {
        self.tenant_admin || !self.org_admin.is_empty()
    }
}

/// The claims role rules and group lists read, as of a user's last sign-in:
/// claim name → its string values (a string claim is one value).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RememberedClaims(pub BTreeMap<String, Vec<String>>);

impl RememberedClaims {
    /// Keep `values` of `claim`, bounded: at most [`MAX_VALUES_PER_CLAIM`],
    /// none longer than [`MAX_VALUE_BYTES`] or holding control characters;
    /// sorted and deduplicated, so equal claims compare equal.
    pub fn insert(&mut self, claim: &str, values: impl IntoIterator<Item = String>) {
        let mut v: Vec<String> = values
            .into_iter()
            .filter(|s| !s.is_empty() && s.len() <= MAX_VALUE_BYTES)
            .filter(|s| !s.chars().any(char::is_control))
            .collect();
        v.sort();
        v.dedup();
        v.truncate(MAX_VALUES_PER_CLAIM);
        if !v.is_empty() {
            self.0.entry(claim.to_owned()).or_default().extend(v);
            if let Some(all) = self.0.get_mut(claim) {
                all.sort();
                all.dedup();
                all.truncate(MAX_VALUES_PER_CLAIM);
            }
        }
    }

    pub fn values(&self, claim: &str) -> &[String] {
        self.0.get(claim).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl RoleRules {
    /// The claims worth remembering for users of `issuer`: those a claim
    /// rule or the groups claim reads. Empty: nothing to remember.
    pub fn claims_read(&self, issuer: &str) -> BTreeSet<&str> {
        let mut out: BTreeSet<&str> = self
            .claim_rules
            .iter()
            .filter(|r| r.issuer == issuer)
            .map(|r| r.claim.as_str())
            .collect();
        out.extend(self.groups_claims.get(issuer).map(String::as_str));
        out
    }

    /// The roles of the user `<issuer>|<subject>` with these remembered claims.
    pub fn roles(&self, issuer: &str, subject: &str, claims: &RememberedClaims) -> Roles {
        let key = user_key(issuer, subject);
        let mut roles = Roles {
            tenant_admin: self.tenant_admins.contains(&key),
            org_admin: self
                .org_admins
                .iter()
                .filter(|(_, users)| users.contains(&key))
                .map(|(org, _)| org.clone())
                .collect(),
        };
        for rule in self.claim_rules.iter().filter(|r| r.issuer == issuer) {
            if claims.values(&rule.claim).iter().any(|v| v == &rule.value) {
                match &rule.grants {
                    Grant::TenantAdmin => roles.tenant_admin = true,
                    Grant::OrgAdmin(org) => {
                        roles.org_admin.insert(org.clone());
                    }
                }
            }
        }
        roles
    }

    /// The groups of a user of `issuer`, from its groups claim.
    pub fn groups(&self, issuer: &str, claims: &RememberedClaims) -> Vec<String> {
        self.groups_claims
            .get(issuer)
            .map(|c| claims.values(c).to_vec())
            .unwrap_or_default()
    }
}

/// `<issuer>|<subject>`: how configuration, allow-lists and audit records name a user.
pub fn user_key(issuer: &str, subject: &str) -> String {
    format!("{issuer}|{subject}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIDS: &str = "62e90394-69f5-4237-9190-012177145e10";

    fn rules() -> RoleRules {
        RoleRules {
            tenant_admins: ["iss|root".to_owned()].into(),
            org_admins: [("fabrikam".to_owned(), ["iss|bob".to_owned()].into())].into(),
            claim_rules: vec![
                ClaimRule {
                    issuer: "iss".into(),
                    claim: "wids".into(),
                    value: WIDS.into(),
                    grants: Grant::TenantAdmin,
                },
                ClaimRule {
                    issuer: "iss".into(),
                    claim: "groups".into(),
                    value: "contoso-admins".into(),
                    grants: Grant::OrgAdmin("contoso".into()),
                },
                ClaimRule {
                    issuer: "other".into(),
                    claim: "roles".into(),
                    value: "Patrol.Admin".into(),
                    grants: Grant::TenantAdmin,
                },
            ],
            groups_claims: [("iss".to_owned(), "groups".to_owned())].into(),
        }
    }

    fn claims(pairs: &[(&str, &[&str])]) -> RememberedClaims {
        let mut c = RememberedClaims::default();
        for (k, vs) in pairs {
            c.insert(k, vs.iter().map(|s| (*s).to_owned()));
        }
        c
    }

    #[test]
    fn roles_from_configuration_by_user_key() {
        let r = rules();
        let none = RememberedClaims::default();
        assert!(r.roles("iss", "root", &none).tenant_admin);
        let bob = r.roles("iss", "bob", &none);
        assert!(!bob.tenant_admin);
        assert!(bob.administers("Fabrikam") && !bob.administers("contoso"));
        assert!(bob.is_admin());
        // The same subject at another issuer is another user.
        assert_eq!(r.roles("other", "root", &none), Roles::default());
        assert!(!r.roles("iss", "alice", &none).is_admin());
    }

    #[test]
    fn roles_from_claims_only_for_their_issuer() {
        let r = rules();
        let admin = claims(&[("wids", &[WIDS, "other-role"])]);
        assert!(r.roles("iss", "alice", &admin).tenant_admin);
        assert!(!r.roles("elsewhere", "alice", &admin).tenant_admin);
        let groups = claims(&[("groups", &["contoso-admins", "devs"])]);
        let alice = r.roles("iss", "alice", &groups);
        assert!(alice.administers("CONTOSO") && !alice.tenant_admin);
        assert_eq!(r.groups("iss", &groups), ["contoso-admins", "devs"]);
        assert!(r.groups("other", &groups).is_empty());
        let app_role = claims(&[("roles", &["Patrol.Admin"])]);
        assert!(r.roles("other", "x", &app_role).tenant_admin);
        // A value must match exactly.
        let near = claims(&[("roles", &["patrol.admin"])]);
        assert!(!r.roles("other", "x", &near).tenant_admin);
    }

    #[test]
    fn only_the_claims_rules_read_are_remembered() {
        let r = rules();
        assert_eq!(
            r.claims_read("iss").into_iter().collect::<Vec<_>>(),
            ["groups", "wids"]
        );
        assert_eq!(
            r.claims_read("other").into_iter().collect::<Vec<_>>(),
            ["roles"]
        );
        assert!(r.claims_read("nobody").is_empty());
    }

    #[test]
    fn remembered_values_are_bounded_and_normalised() {
        let mut c = RememberedClaims::default();
        c.insert("g", ["b", "a", "b", "", "x\u{0}"].map(String::from));
        c.insert("g", (0..600).map(|i| format!("v{i:03}")));
        c.insert("long", ["x".repeat(MAX_VALUE_BYTES + 1)]);
        assert_eq!(c.values("g")[..2], ["a", "b"]);
        assert_eq!(c.values("g").len(), MAX_VALUES_PER_CLAIM);
        assert!(c.values("long").is_empty() && !c.0.contains_key("long"));
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<RememberedClaims>(&json).unwrap(), c);
    }

    #[test]
    fn grants_parse() {
        assert_eq!(Grant::parse("tenant_admin"), Some(Grant::TenantAdmin));
        assert_eq!(
            Grant::parse("org_admin:Fabrikam"),
            Some(Grant::OrgAdmin("fabrikam".into()))
        );
        for bad in [
            "",
            "admin",
            "org_admin:",
            "org_admin:no spaces",
            "tenant-admin",
        ] {
            assert_eq!(Grant::parse(bad), None, "{bad}");
        }
    }
}
