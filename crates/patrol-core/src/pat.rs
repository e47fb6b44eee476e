//! The personal access token model and its lifecycle rules.
//!
//! Everything here takes `now` as an argument; nothing reads the clock.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::scope::ScopeSet;

/// Which organizations a PAT is valid in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgTarget {
    /// A "global" PAT: every organization its owner belongs to.
    All,
    /// Only these organizations (Azure DevOps creates exactly one).
    Orgs(Vec<Uuid>),
}

impl OrgTarget {
    pub fn allows(&self, org: Uuid) -> bool {
        match self {
            OrgTarget::All => true,
            OrgTarget::Orgs(ids) => ids.contains(&org),
        }
    }
}

/// Where and when a PAT was last used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastUse {
    pub at: DateTime<Utc>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A PAT's metadata. The secret is never part of it: the store keeps only
/// its keyed hash, next to this record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pat {
    pub authorization_id: Uuid,
    pub owner: Uuid,
    pub display_name: String,
    pub scopes: ScopeSet,
    pub target: OrgTarget,
    pub valid_from: DateTime<Utc>,
    pub valid_to: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used: Option<LastUse>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PatStatus {
    Active,
    Expired,
    Revoked,
    /// Never used within the inactivity window after creation.
    Inactive,
}

impl PatStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PatStatus::Active => "active",
            PatStatus::Expired => "expired",
            PatStatus::Revoked => "revoked",
            PatStatus::Inactive => "inactive",
        }
    }
}

impl Pat {
    /// Status at `now`. `inactive_after`: a PAT never used within this long
    /// of its creation is inactive (`None` disables the rule).
    pub fn status(&self, now: DateTime<Utc>, inactive_after: Option<Duration>) -> PatStatus {
        if self.revoked_at.is_some() {
            return PatStatus::Revoked;
        }
        if now >= self.valid_to {
            return PatStatus::Expired;
        }
        if let Some(window) = inactive_after {
            let used_in_window = self
                .last_used
                .as_ref()
                .is_some_and(|u| u.at <= self.created_at + window);
            if !used_in_window && now >= self.created_at + window {
                return PatStatus::Inactive;
            }
        }
        PatStatus::Active
    }
}

/// Problems with what a caller asked for; each maps to one Azure DevOps
/// `patTokenError` value at the edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatRuleError {
    #[error("a display name is required")]
    DisplayNameRequired,
    #[error("the display name is not valid: {0}")]
    InvalidDisplayName(&'static str),
    #[error("validTo must be in the future")]
    InvalidValidTo,
    /// An expiry chosen by a person (days, or a calendar date) beyond the
    /// maximum lifetime: refused, so they see the limit.
    #[error("the maximum token lifetime is {max_days} days")]
    BeyondMaxLifetime { max_days: i64 },
}

pub const MAX_DISPLAY_NAME_CHARS: usize = 256;

/// A validated display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// Azure DevOps' rules: absent or empty → a new GUID string; whitespace
    /// only → required; control characters or more than 256 characters →
    /// invalid. Patrol adds: a name must not contain token text.
    pub fn parse(raw: Option<&str>) -> Result<Self, PatRuleError> {
        let raw = match raw {
            None | Some("") => return Ok(Self(Uuid::new_v4().to_string())),
            Some(s) => s,
        };
        if raw.trim().is_empty() {
            return Err(PatRuleError::DisplayNameRequired);
        }
        if raw.chars().count() > MAX_DISPLAY_NAME_CHARS {
            return Err(PatRuleError::InvalidDisplayName(
                "longer than 256 characters",
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err(PatRuleError::InvalidDisplayName(
                "contains control characters",
            ));
        }
        if contains_token_text(raw) {
            return Err(PatRuleError::InvalidDisplayName(
                "looks like it contains a token; never put secrets in names",
            ));
        }
        Ok(Self(raw.trim().to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Naming advice that is warned about rather than refused.
pub fn display_name_warnings(name: &str) -> Vec<&'static str> {
    let mut w = Vec::new();
    if name.split_whitespace().any(|word| {
        let at = word.find('@');
        at.is_some_and(|i| i > 0 && word[i + 1..].contains('.'))
    }) {
        w.push("the name seems to contain an email address; avoid personal data in names");
    }
    w
}

/// True when any whitespace-separated run of alphanumerics in `s` is a
/// checksum-valid token of either format.
fn contains_token_text(s: &str) -> bool {
    s.split(|c: char| !c.is_ascii_alphanumeric() && c != '=')
        .any(|w| matches!(w.len(), 52 | 84 | 88) && crate::token::validate(w).is_ok())
}

/// Server-wide lifetime settings (policies may tighten them later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifetimePolicy {
    /// Used when a request gives no `validTo`.
    pub default_lifetime: Duration,
    /// `validTo` beyond `now + max_lifetime` is capped there.
    pub max_lifetime: Duration,
}

impl Default for LifetimePolicy {
    fn default() -> Self {
        Self {
            default_lifetime: Duration::days(30),
            max_lifetime: Duration::days(365),
        }
    }
}

/// An expiry as asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryChoice {
    /// Nothing asked: the default on create, unchanged on update.
    Unset,
    /// An exact instant from a machine client (the Azure DevOps `validTo`):
    /// beyond the maximum it is capped silently, as Azure DevOps does.
    Until(DateTime<Utc>),
    /// A number of days from now, chosen by a person: beyond the maximum it
    /// is refused.
    Days(i64),
    /// A calendar day chosen by a person: valid to its last second (UTC).
    /// Beyond the maximum it is refused, but the day the maximum falls on is
    /// allowed and capped to the exact maximum.
    OnDate(NaiveDate),
}

/// .NET's `default(DateTime)`, which its client sends for "not set".
pub fn is_unset_date(d: &DateTime<Utc>) -> bool {
    d.timestamp() <= -62_135_596_800 + 86_400 // 0001-01-01, with a day of slack for offsets
}

impl LifetimePolicy {
    /// The same rules with the default lifetime lowered to `cap` (a policy's
    /// maximum lifespan), so a request that names no expiry gets one the
    /// policy allows.
    pub fn with_default_at_most(self, cap: Option<Duration>) -> Self {
        match cap {
            Some(c) if c < self.default_lifetime => Self {
                default_lifetime: c,
                ..self
            },
            _ => self,
        }
    }

    /// The one lifetime rule for every edge: `current` is the token's expiry
    /// on update (`None` on create).
    pub fn resolve(
        &self,
        choice: ExpiryChoice,
        current: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, PatRuleError> {
        let max = now + self.max_lifetime;
        let beyond = || PatRuleError::BeyondMaxLifetime {
            max_days: self.max_lifetime.num_days(),
        };
        match choice {
            ExpiryChoice::Unset => Ok(current.unwrap_or(now + self.default_lifetime)),
            ExpiryChoice::Until(d) if is_unset_date(&d) => {
                Ok(current.unwrap_or(now + self.default_lifetime))
            }
            ExpiryChoice::Until(d) => self.cap(d, now),
            ExpiryChoice::Days(n) if n <= 0 => Err(PatRuleError::InvalidValidTo),
            ExpiryChoice::Days(n) => {
                match Duration::try_days(n).and_then(|d| now.checked_add_signed(d)) {
                    Some(t) if t <= max => Ok(t),
                    _ => Err(beyond()),
                }
            }
            ExpiryChoice::OnDate(day) => {
                let end = day
                    .and_hms_opt(23, 59, 59)
                    .map(|t| t.and_utc())
                    .ok_or(PatRuleError::InvalidValidTo)?;
                if end <= now {
                    return Err(PatRuleError::InvalidValidTo);
                }
                if day > max.date_naive() {
                    return Err(beyond());
                }
                Ok(end.min(max))
            }
        }
    }

    fn cap(&self, d: DateTime<Utc>, now: DateTime<Utc>) -> Result<DateTime<Utc>, PatRuleError> {
        if d <= now {
            return Err(PatRuleError::InvalidValidTo);
        }
        Ok(d.min(now + self.max_lifetime))
    }
}

/// `displayFilterOption` of the list call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListFilter {
    #[default]
    Active,
    Revoked,
    Expired,
    All,
}

/// `sortByOption` of the list call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortBy {
    #[default]
    DisplayName,
    /// The expiry date (the "Expires" column).
    DisplayDate,
    Status,
}

impl ListFilter {
    /// Case-insensitive; also accepts the .NET ordinals 1–4.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "active" | "1" => Some(Self::Active),
            "revoked" | "2" => Some(Self::Revoked),
            "expired" | "3" => Some(Self::Expired),
            "all" | "4" => Some(Self::All),
            _ => None,
        }
    }
}

impl SortBy {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "displayname" | "1" => Some(Self::DisplayName),
            "displaydate" | "2" => Some(Self::DisplayDate),
            "status" | "3" => Some(Self::Status),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(days: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::days(days)
    }

    fn pat() -> Pat {
        Pat {
            scopes: ScopeSet::full_access(),
            valid_to: t(200),
            ..Pat::fixture(Uuid::new_v4(), t(0))
        }
    }

    #[test]
    fn status_transitions() {
        let mut p = pat();
        let ninety = Some(Duration::days(90));
        assert_eq!(p.status(t(1), ninety), PatStatus::Active);
        assert_eq!(p.status(t(90), ninety), PatStatus::Inactive);
        assert_eq!(p.status(t(90), None), PatStatus::Active);
        p.last_used = Some(LastUse {
            at: t(10),
            source_ip: None,
            user_agent: None,
        });
        assert_eq!(p.status(t(150), ninety), PatStatus::Active);
        assert_eq!(p.status(t(200), ninety), PatStatus::Expired);
        p.revoked_at = Some(t(5));
        assert_eq!(p.status(t(1), ninety), PatStatus::Revoked);
        assert_eq!(p.status(t(300), ninety), PatStatus::Revoked);
    }

    #[test]
    fn first_use_after_window_does_not_revive() {
        let mut p = pat();
        p.last_used = Some(LastUse {
            at: t(100),
            source_ip: None,
            user_agent: None,
        });
        assert_eq!(
            p.status(t(120), Some(Duration::days(90))),
            PatStatus::Inactive
        );
    }

    #[test]
    fn display_names() {
        assert!(Uuid::parse_str(DisplayName::parse(None).unwrap().as_str()).is_ok());
        assert!(Uuid::parse_str(DisplayName::parse(Some("")).unwrap().as_str()).is_ok());
        assert_eq!(
            DisplayName::parse(Some("   ")),
            Err(PatRuleError::DisplayNameRequired)
        );
        assert!(DisplayName::parse(Some(&"x".repeat(257))).is_err());
        assert!(DisplayName::parse(Some(&"x".repeat(256))).is_ok());
        assert!(DisplayName::parse(Some("a\u{0}b")).is_err());
        assert_eq!(DisplayName::parse(Some(" ci ")).unwrap().as_str(), "ci");
        let tok =
            "SyntheticTestKeyForPatServiceDoNotUse0123456789abcdeJQQJ99BFACAAAAASNFZ4AAASAZDO10AW";
        assert!(DisplayName::parse(Some(&format!("my token {tok}"))).is_err());
        assert!(DisplayName::parse(Some("git: https://host/org on MACHINE")).is_ok());
        assert!(!display_name_warnings("token for alice@example.com").is_empty());
        assert!(display_name_warnings("build token").is_empty());
    }

    #[test]
    fn lifetimes() {
        use ExpiryChoice::*;
        let p = LifetimePolicy::default();
        let now = t(0);
        let create = |c| p.resolve(c, None, now);
        assert_eq!(create(Unset).unwrap(), now + Duration::days(30));
        let unset = DateTime::parse_from_rfc3339("0001-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        assert!(is_unset_date(&unset));
        assert_eq!(create(Until(unset)).unwrap(), now + Duration::days(30));
        // A machine's instant is capped (Azure DevOps), a person's choice refused.
        assert_eq!(create(Until(t(1000))).unwrap(), now + Duration::days(365));
        assert_eq!(create(Until(t(7))).unwrap(), t(7));
        assert_eq!(create(Until(t(-1))), Err(PatRuleError::InvalidValidTo));
        assert_eq!(create(Days(30)).unwrap(), t(30));
        assert_eq!(create(Days(365)).unwrap(), t(365));
        let beyond = Err(PatRuleError::BeyondMaxLifetime { max_days: 365 });
        assert_eq!(create(Days(366)), beyond);
        assert_eq!(create(Days(i64::MAX)), beyond);
        assert_eq!(create(Days(0)), Err(PatRuleError::InvalidValidTo));
        let day = |d: i64| t(d).date_naive();
        assert_eq!(
            create(OnDate(day(10))).unwrap(),
            t(10) + Duration::hours(23) + Duration::minutes(59) + Duration::seconds(59)
        );
        // The day the maximum falls on is allowed, capped to the maximum.
        assert_eq!(create(OnDate(day(365))).unwrap(), t(365));
        assert_eq!(create(OnDate(day(366))), beyond);
        assert_eq!(create(OnDate(day(-1))), Err(PatRuleError::InvalidValidTo));
        let update = |c| p.resolve(c, Some(t(9)), now);
        assert_eq!(update(Unset).unwrap(), t(9));
        assert_eq!(update(Until(unset)).unwrap(), t(9));
        assert_eq!(update(Until(t(3))).unwrap(), t(3));
        assert_eq!(update(Days(3)).unwrap(), t(3));
        let capped = p.with_default_at_most(Some(Duration::days(7)));
        assert_eq!(capped.resolve(Unset, None, now).unwrap(), t(7));
        assert_eq!(capped.max_lifetime, p.max_lifetime);
        assert_eq!(p.with_default_at_most(Some(Duration::days(90))), p);
        assert_eq!(p.with_default_at_most(None), p);
    }

    #[test]
    fn lenient_enums() {
        assert_eq!(ListFilter::parse("Active"), Some(ListFilter::Active));
        assert_eq!(ListFilter::parse("ALL"), Some(ListFilter::All));
        assert_eq!(ListFilter::parse("bogus"), None);
        assert_eq!(SortBy::parse("DisplayDate"), Some(SortBy::DisplayDate));
        assert_eq!(SortBy::parse("status"), Some(SortBy::Status));
    }
}
