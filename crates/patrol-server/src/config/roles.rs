//! `[roles]`: who administers Patrol (docs/admin.md). Tenant and
//! organization administrators by user key, claim rules that grant a role
//! to tokens carrying a claim value, and the claim holding each issuer's
//! groups (for policy allow-lists).

use std::collections::BTreeMap;

use serde::Deserialize;

use patrol_core::roles::{ClaimRule, Grant, RoleRules};
use patrol_core::user::valid_org_name;

use super::settings::invalid;
use super::ConfigError;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RolesSection {
    /// User keys, `"<issuer>|<subject>"`.
    pub tenant_admins: Vec<String>,
    /// Organization name → user keys of its administrators.
    pub org_admins: BTreeMap<String, Vec<String>>,
    /// Roles granted by a claim value in the user's tokens.
    pub claims: Vec<ClaimRuleSection>,
    /// Per issuer: the claim listing its users' groups.
    pub issuers: Vec<IssuerRolesSection>,
}

/// `[[roles.claims]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimRuleSection {
    /// The issuer as user keys name it.
    pub issuer: String,
    /// A claim holding a string or a list of strings (`wids`, `roles`, `groups`, …).
    pub claim: String,
    pub value: String,
    /// `tenant_admin` or `org_admin:<organization>`.
    pub grants: String,
}

/// `[[roles.issuers]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerRolesSection {
    pub issuer: String,
    pub groups_claim: String,
}

/// `<issuer>|<subject>`, both parts non-empty and printable.
fn user_key(key: &str, at: &str) -> Result<String, ConfigError> {
    let ok = key
        .split_once('|')
        .is_some_and(|(i, s)| !i.trim().is_empty() && !s.trim().is_empty())
        && !key.chars().any(char::is_control);
    if !ok {
        return Err(invalid(
            at,
            format!("'{key}' is not a user key (<issuer>|<subject>)"),
        ));
    }
    Ok(key.to_owned())
}

fn non_empty(value: &str, at: &str) -> Result<String, ConfigError> {
    if value.trim().is_empty() || value.chars().any(char::is_control) {
        return Err(invalid(at, "must be a non-empty, printable string"));
    }
    Ok(value.to_owned())
}

impl RolesSection {
    /// Check every key and value; resolve into the rules roles are read with.
    pub fn resolve(&self) -> Result<RoleRules, ConfigError> {
        let mut rules = RoleRules::default();
        for k in &self.tenant_admins {
            rules
                .tenant_admins
                .insert(user_key(k, "roles.tenant_admins")?);
        }
        for (org, keys) in &self.org_admins {
            if !valid_org_name(org) {
                return Err(invalid(
                    "roles.org_admins",
                    format!("'{org}' is not a valid organization name"),
                ));
            }
            let admins = rules
                .org_admins
                .entry(org.to_ascii_lowercase())
                .or_default();
            for k in keys {
                admins.insert(user_key(k, "roles.org_admins")?);
            }
        }
        for c in &self.claims {
            let grants = Grant::parse(&c.grants).ok_or_else(|| {
                invalid(
                    "roles.claims",
                    format!(
                        "grants = '{}': expected tenant_admin or org_admin:<organization>",
                        c.grants
                    ),
                )
            })?;
            rules.claim_rules.push(ClaimRule {
                issuer: non_empty(&c.issuer, "roles.claims.issuer")?,
                claim: non_empty(&c.claim, "roles.claims.claim")?,
                value: non_empty(&c.value, "roles.claims.value")?,
                grants,
            });
        }
        for i in &self.issuers {
            let issuer = non_empty(&i.issuer, "roles.issuers.issuer")?;
            let claim = non_empty(&i.groups_claim, "roles.issuers.groups_claim")?;
            if rules.groups_claims.insert(issuer.clone(), claim).is_some() {
                return Err(invalid(
                    "roles.issuers",
                    format!("issuer '{issuer}' is listed twice"),
                ));
            }
        }
        Ok(rules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(text: &str) -> Result<RoleRules, String> {
        let s: RolesSection = toml::from_str(text).map_err(|e| e.to_string())?;
        s.resolve().map_err(|e| e.to_string())
    }

    #[test]
    fn roles_resolve() {
        let r = resolve(
            r#"
            tenant_admins = ["https://idp|root"]
            org_admins = { Fabrikam = ["https://idp|bob"] }
            [[claims]]
            issuer = "https://idp"
            claim = "wids"
            value = "62e90394-69f5-4237-9190-012177145e10"
            grants = "tenant_admin"
            [[claims]]
            issuer = "https://idp"
            claim = "groups"
            value = "contoso-admins"
            grants = "org_admin:contoso"
            [[issuers]]
            issuer = "https://idp"
            groups_claim = "groups"
            "#,
        )
        .unwrap();
        assert!(r.tenant_admins.contains("https://idp|root"));
        assert!(r.org_admins["fabrikam"].contains("https://idp|bob"));
        assert_eq!(r.claim_rules.len(), 2);
        assert_eq!(r.claim_rules[1].grants, Grant::OrgAdmin("contoso".into()));
        assert_eq!(r.groups_claims["https://idp"], "groups");
    }

    #[test]
    fn bad_roles_are_refused_by_key() {
        for (text, key) in [
            (r#"tenant_admins = ["root"]"#, "roles.tenant_admins"),
            (r#"tenant_admins = ["|root"]"#, "roles.tenant_admins"),
            (r#"org_admins = { "no spaces" = [] }"#, "roles.org_admins"),
            (r#"org_admins = { a = ["x"] }"#, "roles.org_admins"),
            (
                "[[claims]]\nissuer = \"i\"\nclaim = \"c\"\nvalue = \"v\"\ngrants = \"admin\"",
                "roles.claims",
            ),
            (
                "[[claims]]\nissuer = \"i\"\nclaim = \"\"\nvalue = \"v\"\ngrants = \"tenant_admin\"",
                "roles.claims.claim",
            ),
            (
                "[[issuers]]\nissuer = \"i\"\ngroups_claim = \"g\"\n[[issuers]]\nissuer = \"i\"\ngroups_claim = \"h\"",
                "roles.issuers",
            ),
        ] {
            let e = resolve(text).unwrap_err();
            assert!(e.starts_with(key), "{text}: {e}");
        }
    }
}
