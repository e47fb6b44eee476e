//! The leniency real clients need, and not one bit more: how dates, booleans
//! and GUIDs are read and written on the wire, and the OpenAPI schemas that
//! state exactly those forms (so the parsers and the document agree).

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer};
use utoipa::openapi::schema::{AnyOfBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};
use uuid::Uuid;

/// An optional date written as [`format_date`] writes it.
pub(crate) fn optional_date<S: serde::Serializer>(
    d: &Option<DateTime<Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&format_date(d)),
        None => s.serialize_none(),
    }
}

/// A GUID as every client writes it: 32 hex digits in the 8-4-4-4-12 form,
/// any case. (`docs/ado-wire-contract.md` §3.8.)
pub const GUID_PATTERN: &str =
    "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$";

/// A GUID in the form of [`GUID_PATTERN`], and only that form.
pub fn parse_guid(s: &str) -> Option<Uuid> {
    let hyphens_only_at = |i: usize, b: u8| (b == b'-') == matches!(i, 8 | 13 | 18 | 23);
    let shaped = s.len() == 36
        && s.bytes()
            .enumerate()
            .all(|(i, b)| hyphens_only_at(i, b) && (b == b'-' || b.is_ascii_hexdigit()));
    shaped.then(|| Uuid::parse_str(s).ok()).flatten()
}

/// `"true"`/`"false"` in any case, or `"1"`/`"0"`.
pub const BOOL_TEXT_PATTERN: &str = "^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|1|0)$";

pub(crate) fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

pub(crate) fn null() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Null)
}

/// The empty string, which several fields and parameters read as "not given".
pub fn empty_string() -> ObjectBuilder {
    string().enum_values(Some([""]))
}

pub fn guid_schema() -> ObjectBuilder {
    string()
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
        .pattern(Some(GUID_PATTERN))
}

pub(crate) fn any_of<const N: usize>(
    description: &str,
    items: [ObjectBuilder; N],
) -> RefOr<Schema> {
    items
        .into_iter()
        .fold(AnyOfBuilder::new(), |b, item| b.item(item))
        .description(Some(description))
        .into()
}

pub(crate) fn valid_to_schema() -> RefOr<Schema> {
    any_of(
        "The expiry: an RFC 3339 date-time (`Z` or an offset), the same without a zone (read as \
         UTC), or a date (midnight UTC). Null, empty or `0001-01-01T00:00:00`: the default lifetime \
         on create, unchanged on update. Beyond the maximum lifetime it is capped; not in the \
         future it is `invalidValidTo`.",
        [
            string().format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
            string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Date))),
            empty_string(),
            null(),
        ],
    )
}

pub(crate) fn all_orgs_schema() -> RefOr<Schema> {
    any_of(
        "`true`: every organization (a global PAT); `false`: only the organization in the URL. \
         Also the strings `true`/`false` in any case, `1`/`0` as numbers or strings; null or empty: \
         false on create, unchanged on update.",
        [
            ObjectBuilder::new().schema_type(Type::Boolean),
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .enum_values(Some([0, 1])),
            string().pattern(Some(BOOL_TEXT_PATTERN)),
            empty_string(),
            null(),
        ],
    )
}

pub(crate) fn body_authorization_id_schema() -> RefOr<Schema> {
    any_of(
        "The PAT to change. Absent, null or the nil GUID: `invalidAuthorizationId`.",
        [guid_schema(), null()],
    )
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

/// The shape of every date [`parse_date`] reads: `YYYY-MM-DD`, optionally
/// followed by `T` (or a space) `hh:mm`, `:ss`, a fraction, and `Z` or an
/// offset. Checked before chrono, whose format parser would also take
/// `2026-1-2` or ` 2026-01-02`.
pub(crate) fn iso_shaped(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |from: usize, to: usize| {
        b.get(from..to)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(digits(0, 4) && at(4, b'-') && digits(5, 7) && at(7, b'-') && digits(8, 10)) {
        return false;
    }
    if b.len() == 10 {
        return true;
    }
    let time = matches!(b.get(10), Some(b'T' | b't' | b' '))
        && digits(11, 13)
        && at(13, b':')
        && digits(14, 16);
    if !time {
        return false;
    }
    let mut i = 16;
    if at(i, b':') {
        if !digits(i + 1, i + 3) {
            return false;
        }
        i += 3;
        if at(i, b'.') {
            let n = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return false;
            }
            i += 1 + n;
        }
    }
    match &b[i..] {
        [] | [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] | [b'+' | b'-', h1, h2, m1, m2] => {
            [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
        }
        _ => false,
    }
}

/// Accepts `Z`, an offset, or no zone (UTC), with any fraction; also a bare
/// date. Nothing around it, and every field at its full width.
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    if !iso_shaped(s) {
        return None;
    }
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

pub(crate) fn lenient_date<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) if s.is_empty() => Ok(None),
        Some(serde_json::Value::String(s)) => parse_date(&s).map(Some).ok_or_else(|| {
            serde::de::Error::custom(format!("validTo '{}' is not a date", truncate(&s)))
        }),
        Some(_) => Err(serde::de::Error::custom("validTo must be a date string")),
    }
}

/// `true`, `"true"`, `"True"`, `"TRUE"`, `1`, and their negatives
/// ([`BOOL_TEXT_PATTERN`]).
pub fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") || s == "1" {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") || s == "0" {
        Some(false)
    } else {
        None
    }
}

pub(crate) fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let refused = || serde::de::Error::custom("allOrgs must be true or false");
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Bool(b)) => Ok(Some(b)),
        Some(serde_json::Value::String(s)) if s.is_empty() => Ok(None),
        Some(serde_json::Value::String(s)) => parse_bool(&s).map(Some).ok_or_else(refused),
        // JSON Schema's integers 0 and 1 include `0.0` and `1.0`.
        Some(serde_json::Value::Number(n)) => match n.as_f64() {
            Some(0.0) => Ok(Some(false)),
            Some(1.0) => Ok(Some(true)),
            _ => Err(refused()),
        },
        Some(_) => Err(refused()),
    }
}

pub(crate) fn lenient_uuid<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Uuid>, D::Error> {
    let refused = || serde::de::Error::custom("authorizationId is not a valid Guid");
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => parse_guid(&s).map(Some).ok_or_else(refused),
        Some(_) => Err(refused()),
    }
}

pub(crate) fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}
