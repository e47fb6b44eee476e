//! Azure DevOps wire types for the PAT Lifecycle API, defined once, with the
//! leniency real clients need (string booleans, zone-less dates, …) — and
//! not one bit more: each accepted form is the one the OpenAPI document
//! states, so the parsers here and the schemas beside them agree.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use patrol_core::pat::{OrgTarget, Pat};

pub use patrol_core::paging::{decode_continuation, encode_continuation, CONTINUATION_PATTERN};

mod lenient;
pub use lenient::*;

/// `PatToken`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatToken {
    pub display_name: String,
    #[serde(with = "ado_date")]
    #[schema(value_type = String, format = DateTime)]
    pub valid_to: DateTime<Utc>,
    /// Space-separated scopes, or `app_token` (full access).
    pub scope: String,
    /// The organization ids it is valid in; `null` for a global PAT.
    #[schema(required = true)]
    pub target_accounts: Option<Vec<Uuid>>,
    #[serde(with = "ado_date")]
    #[schema(value_type = String, format = DateTime)]
    pub valid_from: DateTime<Utc>,
    pub authorization_id: Uuid,
    /// The secret: only in the create and regenerate answers, else `null`.
    #[schema(required = true)]
    pub token: Option<String>,
    /// Patrol extension: when the PAT was last used (absent if never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, format = DateTime)]
    pub last_used_at: Option<DateTime<Utc>>,
    /// Patrol extension: the address it was last used from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    pub last_used_ip: Option<String>,
    /// Patrol extension: the user agent it was last used with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    pub last_used_user_agent: Option<String>,
    /// Patrol extension: when the PAT was revoked (absent unless it was), so
    /// that a client can tell a revoked PAT from an active or expired one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<DateTime<Utc>>,
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
            revoked_at: p.revoked_at,
        }
    }
}

/// The `patTokenError` values Patrol answers (`docs/ado-wire-contract.md`
/// §4.3); `none` on success. Refusals are HTTP 200 with `patToken: null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum PatTokenError {
    None,
    DisplayNameRequired,
    InvalidDisplayName,
    InvalidValidTo,
    InvalidScope,
    InvalidTargetAccounts,
    InvalidToken,
    TokenNotFound,
    InvalidAuthorizationId,
    PatLifespanPolicyViolation,
    GlobalPatPolicyViolation,
    FullScopePatPolicyViolation,
    DisablePatCreationPolicyViolation,
}

/// `PatTokenResult`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatTokenResult {
    /// The PAT, or `null` on a refusal.
    #[schema(required = true)]
    pub pat_token: Option<PatToken>,
    pub pat_token_error: PatTokenError,
}

impl PatTokenResult {
    pub fn ok(token: PatToken) -> Self {
        Self {
            pat_token: Some(token),
            pat_token_error: PatTokenError::None,
        }
    }

    pub fn refused(error: PatTokenError) -> Self {
        Self {
            pat_token: None,
            pat_token_error: error,
        }
    }
}

/// `PagedPatTokens`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PagedPatTokens {
    /// `""` on the last page.
    pub continuation_token: String,
    pub pat_tokens: Vec<PatToken>,
}

/// What `GET …/tokens/pats` answers: a page of PATs, or with
/// `?authorizationId=` one PAT (or its `patTokenError`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum PatsGetAnswer {
    Page(PagedPatTokens),
    One(PatTokenResult),
}

/// `PatTokenCreateRequest`. Unknown fields are ignored, never applied.
/// Serialized as clients send it (`patrol token create`): absent fields left out.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatTokenCreateRequest {
    /// Absent, null or empty: a new GUID. Refusals are `patTokenError`s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Space-separated scopes; absent, null or blank: full access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_date",
        serialize_with = "optional_date",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(schema_with = valid_to_schema)]
    pub valid_to: Option<DateTime<Utc>>,
    #[serde(
        default,
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(schema_with = all_orgs_schema)]
    pub all_orgs: Option<bool>,
}

/// `PatTokenUpdateRequest`. Absent or null fields stay as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatTokenUpdateRequest {
    #[serde(
        default,
        deserialize_with = "lenient_uuid",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(schema_with = body_authorization_id_schema)]
    pub authorization_id: Option<Uuid>,
    /// Null or empty: unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Null: unchanged; blank is `invalidScope`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_date",
        serialize_with = "optional_date",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(schema_with = valid_to_schema)]
    pub valid_to: Option<DateTime<Utc>>,
    #[serde(
        default,
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(schema_with = all_orgs_schema)]
    pub all_orgs: Option<bool>,
}

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
        assert!(parse_date(" 2026-01-02").is_none());
        for s in [
            "1-1-1",
            "2026-1-02",
            "2026-01-02T3:04:05Z",
            "+2026-01-02",
            "2026-01-02T03:04:05.Z",
            "2026-01-02T03:04:05+0",
            "2026-01-02 ",
            "2026-01-02T03",
        ] {
            assert!(parse_date(s).is_none(), "{s}");
        }
        for s in [
            "2026-01-02T03:04:05.1234567-07:00",
            "2026-01-02T03:04:05-0700",
            "2026-01-02 03:04:05.5",
            "2026-01-02T03:04",
            "2026-01-02t03:04:05z",
            "2016-12-31T23:59:60Z",
        ] {
            assert!(parse_date(s).is_some(), "{s}");
        }
        assert!(parse_date("2026-01-02T03:04:05Z ").is_none());
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
        let create = |body: &str| serde_json::from_str::<PatTokenCreateRequest>(body);
        for (body, all) in [
            (r#"{"allOrgs":1}"#, Some(true)),
            (r#"{"allOrgs":0.0}"#, Some(false)),
            (r#"{"allOrgs":"0"}"#, Some(false)),
            (r#"{"allOrgs":"FALSE"}"#, Some(false)),
            (r#"{"allOrgs":""}"#, None),
        ] {
            assert_eq!(create(body).unwrap().all_orgs, all, "{body}");
        }
        for body in [
            r#"{"allOrgs":2}"#,
            r#"{"allOrgs":" true"}"#,
            r#"{"allOrgs":"yes"}"#,
            r#"{"allOrgs":[]}"#,
            r#"{"validTo":" "}"#,
            r#"{"validTo":" 2026-01-02"}"#,
            r#"{"validTo":5}"#,
        ] {
            assert!(create(body).is_err(), "{body}");
        }
        assert_eq!(create(r#"{"validTo":""}"#).unwrap().valid_to, None);
        let update = |body: &str| serde_json::from_str::<PatTokenUpdateRequest>(body);
        for body in [
            r#"{"authorizationId":" 3d3a4c4e-1c8c-4f5e-9a55-4f6c7d0b9a11"}"#,
            r#"{"authorizationId":"{3d3a4c4e-1c8c-4f5e-9a55-4f6c7d0b9a11}"}"#,
            r#"{"authorizationId":"3d3a4c4e1c8c4f5e9a554f6c7d0b9a11"}"#,
            r#"{"authorizationId":7}"#,
        ] {
            assert!(update(body).is_err(), "{body}");
        }
        assert!(
            update(r#"{"authorizationId":"3D3A4C4E-1C8C-4F5E-9A55-4F6C7D0B9A11"}"#)
                .unwrap()
                .authorization_id
                .is_some()
        );
    }

    #[test]
    fn requests_serialize_as_clients_send_them_and_read_back() {
        let valid_to = Utc.with_ymd_and_hms(2027, 1, 31, 0, 0, 0).unwrap();
        let create = PatTokenCreateRequest {
            display_name: Some("ci".into()),
            scope: Some("vso.code".into()),
            valid_to: Some(valid_to),
            all_orgs: Some(false),
        };
        let v = serde_json::to_value(&create).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"displayName": "ci", "scope": "vso.code",
                "validTo": "2027-01-31T00:00:00Z", "allOrgs": false})
        );
        let back: PatTokenCreateRequest = serde_json::from_value(v).unwrap();
        assert_eq!(back.valid_to, Some(valid_to));
        let id = Uuid::new_v4();
        let update = PatTokenUpdateRequest {
            authorization_id: Some(id),
            scope: Some("vso.build".into()),
            ..Default::default()
        };
        let v = serde_json::to_value(&update).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"authorizationId": id, "scope": "vso.build"})
        );
        let back: PatTokenUpdateRequest = serde_json::from_value(v).unwrap();
        assert_eq!(back.authorization_id, Some(id));
        assert!(back.valid_to.is_none() && back.all_orgs.is_none());
    }

    proptest::proptest! {
        #[test]
        fn guid_pattern_is_what_parse_guid_accepts(s in "[0-9a-fA-F{}g -]{30,40}") {
            let pattern = regex::Regex::new(GUID_PATTERN).unwrap();
            proptest::prop_assert_eq!(pattern.is_match(&s), parse_guid(&s).is_some());
        }

        #[test]
        fn every_guid_of_the_pattern_parses(
            s in GUID_PATTERN.trim_start_matches('^').trim_end_matches('$')
        ) {
            proptest::prop_assert!(parse_guid(&s).is_some());
        }

        #[test]
        fn bool_pattern_is_what_parse_bool_accepts(s in "[tTrRuUeEfFaAlLsS01 ]{0,6}") {
            let pattern = regex::Regex::new(BOOL_TEXT_PATTERN).unwrap();
            proptest::prop_assert_eq!(pattern.is_match(&s), parse_bool(&s).is_some());
        }
    }
}
