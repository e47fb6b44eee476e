//! The token form (create and edit share it): what it submitted, turned into
//! the use case's terms, and the form page drawn from a [`FormState`].

use chrono::{DateTime, Duration, NaiveDate, Utc};

use patrol_core::pat::ExpiryChoice;
use patrol_core::scope::{self, FULL_ACCESS};
use patrol_core::user::Organization;

use super::super::session::WebUser;
use super::super::view::{Choice, FormPage, ScopeArea, ScopeChoice};
use super::{chrome, date};
use crate::app::{App, OrgChoice};

/// The value of the "all organizations" choice.
pub const ALL_ORGS: &str = "__all__";
/// The lifetimes offered, in days (more by a custom date).
const PRESETS: [i64; 4] = [7, 30, 60, 90];
/// Areas shown before "Show all scopes", as Azure DevOps does.
const COMMON_AREAS: [&str; 6] = [
    "Build",
    "Code",
    "Packaging",
    "Release",
    "Work Items",
    "Project and Team",
];

/// What a token form submitted.
pub struct Submitted {
    pub name: String,
    pub org: String,
    pub expiry: String,
    pub expiry_date: String,
    pub full_access: bool,
    pub scopes: Vec<String>,
}

pub fn submitted(fields: &[(String, String)]) -> Submitted {
    let get = |k: &str| {
        fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    Submitted {
        name: get("name"),
        org: get("org"),
        expiry: get("expiry"),
        expiry_date: get("expiry_date"),
        full_access: get("scope_mode") != "custom",
        scopes: fields
            .iter()
            .filter(|(n, _)| n == "scope")
            .map(|(_, v)| v.clone())
            .collect(),
    }
}

/// The submission in the use case's terms; `Err` is the message to show.
pub struct Asked {
    pub expiry: ExpiryChoice,
    pub scope: String,
    pub target: OrgChoice,
}

impl Submitted {
    /// Check what only the form can get wrong (a required name, one of the
    /// offered expirations, chosen scopes). `allow_keep`: "keep the current
    /// expiration" is a choice (edit only). Lifetime limits and everything
    /// else are the use case's to decide.
    pub fn asked(&self, allow_keep: bool) -> Result<Asked, String> {
        if self.name.trim().is_empty() {
            return Err("Give the token a name.".into());
        }
        Ok(Asked {
            expiry: self.expiry_choice(allow_keep)?,
            scope: self.scope()?,
            target: if self.org == ALL_ORGS {
                OrgChoice::All
            } else {
                OrgChoice::Org(self.org.clone())
            },
        })
    }

    fn expiry_choice(&self, allow_keep: bool) -> Result<ExpiryChoice, String> {
        match self.expiry.as_str() {
            "keep" if allow_keep => Ok(ExpiryChoice::Unset),
            "custom" => NaiveDate::parse_from_str(self.expiry_date.trim(), "%Y-%m-%d")
                .map(ExpiryChoice::OnDate)
                .map_err(|_| "Pick a custom expiration date.".to_owned()),
            other => other
                .parse()
                .ok()
                .filter(|d| PRESETS.contains(d))
                .map(ExpiryChoice::Days)
                .ok_or_else(|| "Pick an expiration.".to_owned()),
        }
    }

    /// Full access, or the boxes ticked (only scopes the page offers).
    fn scope(&self) -> Result<String, String> {
        if self.full_access {
            return Ok(FULL_ACCESS.to_owned());
        }
        if self.scopes.is_empty() {
            return Err("Pick at least one scope, or choose Full access.".into());
        }
        for name in &self.scopes {
            if !scope::lookup(name).is_some_and(|i| i.is_selectable()) {
                return Err(format!("“{name}” is not a scope you can choose."));
            }
        }
        Ok(self.scopes.join(" "))
    }
}

/// Everything that varies between the create and edit forms.
pub struct FormState<'a> {
    pub heading: String,
    pub action: String,
    pub submit_label: &'static str,
    pub name: String,
    pub org_choices: Vec<Choice>,
    pub org_locked_note: Option<String>,
    pub expiry_selected: String,
    pub custom_date: String,
    pub allow_keep: bool,
    pub current_expiry: Option<DateTime<Utc>>,
    pub full_access: bool,
    pub checked: &'a [String],
    pub error: Option<String>,
}

pub fn form_page(app: &App, user: &WebUser, f: FormState<'_>) -> FormPage {
    let now = app.now();
    let max = app.policy().lifetime.max_lifetime;
    let max_days = max.num_days();
    let mut expiry = Vec::new();
    if f.allow_keep {
        expiry.push(Choice {
            value: "keep".into(),
            label: "Keep the current expiration".into(),
            selected: f.expiry_selected == "keep",
            disabled: false,
        });
    }
    for d in PRESETS {
        expiry.push(Choice {
            value: d.to_string(),
            label: format!("{d} days ({})", date(now + Duration::days(d))),
            selected: f.expiry_selected == d.to_string(),
            disabled: d > max_days,
        });
    }
    expiry.push(Choice {
        value: "custom".into(),
        label: "Custom date".into(),
        selected: f.expiry_selected == "custom",
        disabled: false,
    });
    let (common, other, others_open) = scope_areas(f.full_access, f.checked);
    FormPage {
        chrome: chrome(user),
        heading: f.heading,
        action: f.action,
        submit_label: f.submit_label,
        name: f.name,
        orgs: f.org_choices,
        org_locked_note: f.org_locked_note,
        expiry,
        custom_date: f.custom_date,
        min_date: date(now + Duration::days(1)),
        max_date: date(now + max),
        max_days,
        current_expiry: f.current_expiry.map(date),
        full_access: f.full_access,
        common_areas: common,
        other_areas: other,
        others_open,
        error: f.error,
    }
}

/// The selectable scopes by area: common areas, the others, and whether
/// the others must start open (one of them is ticked).
fn scope_areas(full_access: bool, ticked: &[String]) -> (Vec<ScopeArea>, Vec<ScopeArea>, bool) {
    let mut common = Vec::new();
    let mut other: Vec<ScopeArea> = Vec::new();
    let mut others_open = false;
    for info in scope::selectable().filter(|i| !i.is_full_access()) {
        let checked = !full_access && ticked.iter().any(|c| c == info.name);
        let is_common = COMMON_AREAS.contains(&info.area);
        others_open |= checked && !is_common;
        let list = if is_common { &mut common } else { &mut other };
        let choice = ScopeChoice {
            name: info.name,
            title: info.title,
            description: info.description,
            checked,
        };
        match list.iter_mut().find(|a| a.name == info.area) {
            Some(a) => a.scopes.push(choice),
            None => list.push(ScopeArea {
                name: info.area,
                scopes: vec![choice],
            }),
        }
    }
    common.sort_by_key(|a| a.name);
    other.sort_by_key(|a| a.name);
    (common, other, others_open)
}

pub fn org_choices(member: &[Organization], selected: &str) -> Vec<Choice> {
    let mut out: Vec<Choice> = member
        .iter()
        .map(|o| Choice {
            value: o.name.clone(),
            label: o.name.clone(),
            selected: o.name.eq_ignore_ascii_case(selected),
            disabled: false,
        })
        .collect();
    out.push(Choice {
        value: ALL_ORGS.into(),
        label: "All accessible organizations".into(),
        selected: selected == ALL_ORGS,
        disabled: false,
    });
    out
}

#[cfg(test)]
mod tests {
    use super::super::super::{field, form_fields};
    use super::*;

    fn sub(expiry: &str, date: &str) -> Submitted {
        Submitted {
            name: "n".into(),
            org: "o".into(),
            expiry: expiry.into(),
            expiry_date: date.into(),
            full_access: false,
            scopes: vec!["vso.code".into()],
        }
    }

    #[test]
    fn expiry_choices() {
        let choice = |e: &str, d: &str, keep| sub(e, d).asked(keep).map(|a| a.expiry);
        assert_eq!(choice("30", "", false), Ok(ExpiryChoice::Days(30)));
        assert!(choice("45", "", false).is_err(), "only presets");
        assert_eq!(
            choice("custom", "2026-12-01", false),
            Ok(ExpiryChoice::OnDate(
                NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
            ))
        );
        assert!(choice("custom", "garbage", false).is_err());
        assert_eq!(choice("keep", "", true), Ok(ExpiryChoice::Unset));
        assert!(choice("keep", "", false).is_err());
    }

    #[test]
    fn scope_choices() {
        let mut s = sub("30", "");
        s.scopes = vec![];
        assert!(s.scope().unwrap_err().contains("at least one scope"));
        s.scopes = vec!["vso.code".into(), "vso.packaging".into()];
        assert_eq!(s.scope().unwrap(), "vso.code vso.packaging");
        s.scopes = vec!["vso.pats".into()];
        assert!(s.scope().is_err(), "not a PAT scope");
        s.scopes = vec!["vso.governance".into()];
        assert!(s.scope().is_err(), "hidden scope");
        s.full_access = true;
        assert_eq!(s.scope().unwrap(), FULL_ACCESS);
    }

    #[test]
    fn names_and_organizations() {
        let mut s = sub("30", "");
        assert_eq!(s.asked(false).unwrap().target, OrgChoice::Org("o".into()));
        s.org = ALL_ORGS.into();
        assert_eq!(s.asked(false).unwrap().target, OrgChoice::All);
        s.name = "  ".into();
        assert_eq!(
            s.asked(false).err().as_deref(),
            Some("Give the token a name.")
        );
    }

    #[test]
    fn repeated_fields_are_kept() {
        let f = form_fields(b"scope=vso.code&scope=vso.build&name=a+b&csrf=x%2By");
        let s = submitted(&f);
        assert_eq!(s.scopes, ["vso.code", "vso.build"]);
        assert_eq!(s.name, "a b");
        assert_eq!(field(&f, "csrf"), Some("x+y"));
    }
}
