//! Azure DevOps wire types for the PAT Lifecycle API, defined once, with the
//! leniency real clients need (string booleans, zone-less dates, …).

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use patrol_core::pat::{OrgTarget, Pat};

/// `PatToken`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatToken {
    pub display_name: String,
    #[serde(with = "ado_date")]
    #[schema(value_type = String, format = DateTime)]
    pub valid_to: DateTime<Utc>,
    pub scope: String,
    /// The organization ids it is valid in; `null` for a global PAT.
    pub target_accounts: Option<Vec<Uuid>>,
    #[serde(with = "ado_date")]
    #[schema(value_type = String, format = DateTime)]
    pub valid_from: DateTime<Utc>,
    pub authorization_id: Uuid,
    /// The secret: only in the create and regenerate answers.
    pub token: Option<String>,
    /// Patrol extension: when the PAT was last used (absent if never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<DateTime<Utc>>,
    /// Patrol extension: the address it was last used from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_ip: Option<String>,
    /// Patrol extension: the user agent it was last used with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_user_agent: Option<String>,
}

impl PatToken {
    pub fn from_pat(p: &Pat, token: Option<String>) -> Self {
        Self {
            display_name: p.display_name.clone(),
            valid_to: p.valid_to,
            scope: p.scopes.as_string(),
            target_accounts: match &p.target {
                OrgTarget::All => None,
                OrgTarget::Orgs(ids) => Some(ids.clone()),
            },
            valid_from: p.valid_from,
            authorization_id: p.authorization_id,
            token,
            last_used_at: p.last_used.as_ref().map(|u| u.at),
            last_used_ip: p.last_used.as_ref().and_then(|u| u.source_ip.clone()),
            last_used_user_agent: p.last_used.as_ref().and_then(|u| u.user_agent.clone()),
        }
    }
}

/// `PatTokenResult`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatTokenResult {
    pub pat_token: Option<PatToken>,
    /// `none` on success, else a `SessionTokenError` value in camelCase.
    pub pat_token_error: String,
}

/// `PagedPatTokens`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PagedPatTokens {
    /// `""` on the last page.
    pub continuation_token: String,
    pub pat_tokens: Vec<PatToken>,
}

/// `PatTokenCreateRequest`. Unknown fields are ignored, never applied.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatTokenCreateRequest {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default, deserialize_with = "lenient_date")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub valid_to: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_bool")]
    #[schema(value_type = Option<bool>)]
    pub all_orgs: Option<bool>,
}

/// `PatTokenUpdateRequest`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatTokenUpdateRequest {
    #[serde(default, deserialize_with = "lenient_uuid")]
    #[schema(value_type = Option<Uuid>)]
    pub authorization_id: Option<Uuid>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default, deserialize_with = "lenient_date")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub valid_to: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_bool")]
    #[schema(value_type = Option<bool>)]
    pub all_orgs: Option<bool>,
}

/// Dates as Azure DevOps writes them: UTC, up to 7 fractional digits with
/// trailing zeros trimmed, `Z`.
pub fn format_date(d: &DateTime<Utc>) -> String {
    let s = d.to_rfc3339_opts(SecondsFormat::Micros, true);
    // "2020-11-02T22:56:52.103300Z" -> "2020-11-02T22:56:52.1033Z"
    match s.strip_suffix('Z').and_then(|b| b.split_once('.')) {
        Some((head, frac)) => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                format!("{head}Z")
            } else {
                format!("{head}.{frac}Z")
            }
        }
        None => s,
    }
}

/// Accepts `Z`, an offset, or no zone (UTC), with any fraction; also a bare date.
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.to_utc());
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, f) {
            return Some(n.and_utc());
        }
    }
    if let Ok(d) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(d.to_utc());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc())
}

pub mod ado_date {
    use super::*;
    pub fn serialize<S: serde::Serializer>(d: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_date(d))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        parse_date(&s).ok_or_else(|| serde::de::Error::custom("invalid date"))
    }
}

fn lenient_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(serde_json::Value::String(s)) => parse_date(&s).map(Some).ok_or_else(|| {
            serde::de::Error::custom(format!("validTo '{}' is not a date", truncate(&s)))
        }),
        Some(_) => Err(serde::de::Error::custom("validTo must be a date string")),
    }
}

/// `true`, `"true"`, `"True"`, `"TRUE"`, `1`, and their negatives.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Bool(b)) => Ok(Some(b)),
        Some(serde_json::Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(serde_json::Value::String(s)) => parse_bool(&s)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("allOrgs must be true or false")),
        Some(serde_json::Value::Number(n)) => match n.as_i64() {
            Some(0) => Ok(Some(false)),
            Some(1) => Ok(Some(true)),
            _ => Err(serde::de::Error::custom("allOrgs must be true or false")),
        },
        Some(_) => Err(serde::de::Error::custom("allOrgs must be true or false")),
    }
}

fn lenient_uuid<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Uuid>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Uuid::parse_str(s.trim())
            .map(Some)
            .map_err(|_| serde::de::Error::custom("authorizationId is not a valid Guid")),
        Some(_) => Err(serde::de::Error::custom(
            "authorizationId is not a valid Guid",
        )),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

pub use patrol_core::paging::{decode_continuation, encode_continuation};

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn dates_out() {
        let d = Utc.with_ymd_and_hms(2020, 11, 2, 22, 56, 52).unwrap()
            + chrono::Duration::microseconds(103_300);
        assert_eq!(format_date(&d), "2020-11-02T22:56:52.1033Z");
        let d = Utc.with_ymd_and_hms(2018, 7, 19, 0, 0, 0).unwrap();
        assert_eq!(format_date(&d), "2018-07-19T00:00:00Z");
    }

    #[test]
    fn dates_in() {
        let z = parse_date("2026-01-02T03:04:05.000Z").unwrap();
        assert_eq!(z, Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap());
        assert_eq!(parse_date("2026-01-02T03:04:05").unwrap(), z);
        assert_eq!(parse_date("2026-01-02T04:04:05+01:00").unwrap(), z);
        assert_eq!(
            parse_date("2018-07-18T00:51:26.5557358-07:00")
                .unwrap()
                .timestamp(),
            Utc.with_ymd_and_hms(2018, 7, 18, 7, 51, 26)
                .unwrap()
                .timestamp()
        );
        assert!(parse_date("0001-01-01T00:00:00").is_some());
        assert!(parse_date("2026-02-30").is_none());
        assert!(parse_date("tomorrow").is_none());
    }

    #[test]
    fn loose_bodies() {
        let r: PatTokenCreateRequest = serde_json::from_str(
            r#"{"displayName":"x","allOrgs":"True","validTo":null,"owner":"evil"}"#,
        )
        .unwrap();
        assert_eq!(r.all_orgs, Some(true));
        let r: PatTokenCreateRequest = serde_json::from_str(r#"{"allOrgs":false}"#).unwrap();
        assert_eq!(r.all_orgs, Some(false));
        assert!(serde_json::from_str::<PatTokenCreateRequest>(r#"{"allOrgs":"maybe"}"#).is_err());
        let u: PatTokenUpdateRequest = serde_json::from_str(
            r#"{"authorizationId":"3d3a4c4e-1c8c-4f5e-9a55-4f6c7d0b9a11","validTo":"0001-01-01T00:00:00"}"#,
        )
        .unwrap();
        assert!(u.authorization_id.is_some());
        assert!(patrol_core::pat::is_unset_date(&u.valid_to.unwrap()));
        assert!(
            serde_json::from_str::<PatTokenUpdateRequest>(r#"{"authorizationId":"nope"}"#).is_err()
        );
    }
}
