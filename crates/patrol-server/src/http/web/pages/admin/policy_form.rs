//! Policies as form fields and back: pure translation, no rules (the
//! documents are validated by the use cases).

use patrol_core::policy::{AllowList, LifespanRestriction, OrgPolicy, Restriction, TenantPolicy};

use super::super::super::field;
use super::view::{OrgForm, RestrictionForm, TenantForm};

/// One entry a line; blank lines dropped, whitespace trimmed.
fn lines(s: Option<&str>) -> Vec<String> {
    s.unwrap_or("")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn checked(fields: &[(String, String)], name: &str) -> bool {
    field(fields, name).is_some_and(|v| !v.is_empty())
}

fn allow(fields: &[(String, String)], key: &str) -> AllowList {
    AllowList {
        users: lines(field(fields, &format!("{key}_users"))),
        groups: lines(field(fields, &format!("{key}_groups"))),
    }
}

fn restriction(fields: &[(String, String)], key: &str) -> Restriction {
    Restriction {
        enabled: checked(fields, &format!("{key}_enabled")),
        allow: allow(fields, key),
    }
}

/// The tenant's policy as submitted; a malformed number of days is the
/// only thing refused here.
pub fn tenant_policy(fields: &[(String, String)]) -> Result<TenantPolicy, String> {
    let days = field(fields, "lifespan_days").unwrap_or("").trim();
    let max_days = if days.is_empty() {
        LifespanRestriction::default().max_days
    } else {
        days.parse::<u32>()
            .map_err(|_| "The maximum lifetime must be a whole number of days.".to_owned())?
    };
    Ok(TenantPolicy {
        restrict_global_pats: restriction(fields, "global"),
        restrict_full_scope_pats: restriction(fields, "full_scope"),
        max_lifespan: LifespanRestriction {
            enabled: checked(fields, "lifespan_enabled"),
            max_days,
            allow: allow(fields, "lifespan"),
        },
        revoke_leaked_pats: checked(fields, "revoke_leaked"),
    })
}

pub fn org_policy(fields: &[(String, String)]) -> OrgPolicy {
    OrgPolicy {
        restrict_pat_creation: checked(fields, "restrict"),
        allow: allow(fields, "org"),
        allow_packaging_pats: checked(fields, "allow_packaging"),
    }
}

fn restriction_form(
    key: &'static str,
    title: &'static str,
    description: &'static str,
    enabled: bool,
    allow: &AllowList,
) -> RestrictionForm {
    RestrictionForm {
        key,
        title,
        description,
        enabled,
        users: allow.users.join("\n"),
        groups: allow.groups.join("\n"),
    }
}

pub fn tenant_form(p: &TenantPolicy, editable: bool) -> TenantForm {
    TenantForm {
        restrictions: vec![
            restriction_form(
                "global",
                "Restrict global tokens",
                "Refuse tokens for all organizations: each token must name one.",
                p.restrict_global_pats.enabled,
                &p.restrict_global_pats.allow,
            ),
            restriction_form(
                "full_scope",
                "Restrict full-access tokens",
                "Refuse tokens with full access: each token must name its scopes.",
                p.restrict_full_scope_pats.enabled,
                &p.restrict_full_scope_pats.allow,
            ),
            restriction_form(
                "lifespan",
                "Maximum token lifetime",
                "Refuse expiration dates further away than this many days.",
                p.max_lifespan.enabled,
                &p.max_lifespan.allow,
            ),
        ],
        max_days: p.max_lifespan.max_days.to_string(),
        revoke_leaked: p.revoke_leaked_pats,
        editable,
    }
}

/// The lifespan as typed, when the submitted days were not a number.
pub fn tenant_form_as_typed(fields: &[(String, String)]) -> TenantForm {
    let mut p = TenantPolicy {
        max_lifespan: LifespanRestriction::default(),
        ..TenantPolicy::default()
    };
    if let Ok(ok) = tenant_policy(fields) {
        p = ok;
    } else {
        p.restrict_global_pats = restriction(fields, "global");
        p.restrict_full_scope_pats = restriction(fields, "full_scope");
        p.max_lifespan.enabled = checked(fields, "lifespan_enabled");
        p.max_lifespan.allow = allow(fields, "lifespan");
        p.revoke_leaked_pats = checked(fields, "revoke_leaked");
    }
    let mut form = tenant_form(&p, true);
    if let Some(d) = field(fields, "lifespan_days") {
        form.max_days = d.to_owned();
    }
    form
}

pub fn org_form(name: &str, p: &OrgPolicy) -> OrgForm {
    OrgForm {
        name: name.to_owned(),
        restrict: p.restrict_pat_creation,
        allow_packaging: p.allow_packaging_pats,
        users: p.allow.users.join("\n"),
        groups: p.allow.groups.join("\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::super::form_fields;
    use super::*;

    #[test]
    fn tenant_fields_round_trip() {
        let f = form_fields(
            b"global_enabled=on&global_users=i%7Ca%0D%0A%0D%0A++i%7Cb++&global_groups=g1\
              &lifespan_enabled=on&lifespan_days=+90+&revoke_leaked=on",
        );
        let p = tenant_policy(&f).unwrap();
        assert!(p.restrict_global_pats.enabled);
        assert_eq!(p.restrict_global_pats.allow.users, ["i|a", "i|b"]);
        assert_eq!(p.restrict_global_pats.allow.groups, ["g1"]);
        assert!(!p.restrict_full_scope_pats.enabled);
        assert!(p.max_lifespan.enabled);
        assert_eq!(p.max_lifespan.max_days, 90);
        assert!(p.revoke_leaked_pats);
        let form = tenant_form(&p, true);
        assert_eq!(form.restrictions[0].users, "i|a\ni|b");
        assert_eq!(form.max_days, "90");
        // An unticked box is absent from a form post: off.
        let p = tenant_policy(&form_fields(b"lifespan_days=")).unwrap();
        assert_eq!(
            p,
            TenantPolicy {
                revoke_leaked_pats: false,
                ..TenantPolicy::default()
            }
        );
    }

    #[test]
    fn bad_days_are_refused_and_kept_as_typed() {
        let f = form_fields(b"lifespan_enabled=on&lifespan_days=ninety&global_enabled=on");
        assert!(tenant_policy(&f).unwrap_err().contains("whole number"));
        let form = tenant_form_as_typed(&f);
        assert_eq!(form.max_days, "ninety");
        assert!(form.restrictions[0].enabled && form.restrictions[2].enabled);
    }

    #[test]
    fn org_fields() {
        let p = org_policy(&form_fields(
            b"restrict=on&allow_packaging=on&org_users=i%7Cx&org_groups=",
        ));
        assert!(p.restrict_pat_creation && p.allow_packaging_pats);
        assert_eq!(p.allow.users, ["i|x"]);
        assert!(p.allow.groups.is_empty());
        assert_eq!(org_policy(&[]), OrgPolicy::default());
        let form = org_form("fabrikam", &p);
        assert_eq!((form.users.as_str(), form.restrict), ("i|x", true));
    }
}
