//! The PAT API's parameters, read exactly as the OpenAPI document describes
//! them: each parser sits beside the schema it publishes, and the tests check
//! that the two accept the same strings (`docs/ado-wire-contract.md` §4.4).

use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Required, Schema};
use utoipa::IntoParams;
use uuid::Uuid;

use patrol_core::pat::{ListFilter, SortBy};

use super::super::docs::any_case;
use super::super::error::ApiError;
use super::super::query::CiQuery;
use super::super::version::PATS_VERSION_PATTERN;
use super::super::wire::{
    decode_continuation, empty_string, guid_schema, parse_bool, parse_guid, CONTINUATION_PATTERN,
    GUID_PATTERN,
};

/// Page size when `$top` is not given, and the largest one served.
pub const DEFAULT_TOP: u32 = 20;
pub const MAX_TOP: u32 = 100;

/// `^(word|word|…|[1-n])$`: the names in any case, or their .NET ordinals.
fn enum_pattern(names: &[&str]) -> String {
    let words: Vec<String> = names.iter().map(|w| any_case(w)).collect();
    format!("^({}|[1-{}])$", words.join("|"), names.len())
}

const FILTERS: [&str; 4] = ["active", "revoked", "expired", "all"];
const SORTS: [&str; 3] = ["displayName", "displayDate", "status"];

pub fn filter_pattern() -> String {
    enum_pattern(&FILTERS)
}

pub fn sort_pattern() -> String {
    enum_pattern(&SORTS)
}

/// An enum value as [`enum_pattern`] describes it: letters and digits only
/// (no padding), then the domain's case-insensitive name-or-ordinal parse.
fn enum_value<T>(s: &str, parse: fn(&str) -> Option<T>) -> Option<T> {
    if s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        parse(s)
    } else {
        None
    }
}

/// `$top`: decimal digits naming at least 1; above [`MAX_TOP`] is served as
/// [`MAX_TOP`] (Azure DevOps' limit).
pub fn top(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = s.trim_start_matches('0');
    if digits.is_empty() {
        return None;
    }
    Some(digits.parse::<u32>().map_or(MAX_TOP, |n| n.min(MAX_TOP)))
}

/// `authorizationId` in the query: a GUID ([`GUID_PATTERN`]), not nil.
pub fn authorization_id(q: &CiQuery) -> Result<Option<Uuid>, ApiError> {
    match q.get("authorizationId") {
        None => Ok(None),
        Some(s) => match parse_guid(s) {
            Some(id) if !id.is_nil() => Ok(Some(id)),
            _ => Err(ApiError::bad_request(
                "authorizationId is not a valid Guid.",
            )),
        },
    }
}

/// What a list request asks for.
#[derive(Debug, PartialEq, Eq)]
pub struct ListQuery {
    pub filter: ListFilter,
    pub sort: SortBy,
    pub ascending: bool,
    pub offset: u64,
    pub limit: u32,
}

/// Each list parameter: absent or empty means its default.
pub fn list_query(q: &CiQuery) -> Result<ListQuery, ApiError> {
    fn given<'q>(q: &'q CiQuery, name: &str) -> Option<&'q str> {
        q.get(name).filter(|s| !s.is_empty())
    }
    fn read<T>(
        q: &CiQuery,
        name: &'static str,
        default: T,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T, ApiError> {
        match given(q, name) {
            None => Ok(default),
            Some(s) => {
                parse(s).ok_or_else(|| ApiError::bad_request(format!("{name} is not valid.")))
            }
        }
    }
    Ok(ListQuery {
        filter: read(q, "displayFilterOption", ListFilter::default(), |s| {
            enum_value(s, ListFilter::parse)
        })?,
        sort: read(q, "sortByOption", SortBy::default(), |s| {
            enum_value(s, SortBy::parse)
        })?,
        ascending: read(q, "isSortAscending", true, parse_bool)?,
        offset: read(q, "continuationToken", 0, decode_continuation)?,
        limit: match given(q, "$top") {
            None => DEFAULT_TOP,
            Some(s) => {
                top(s).ok_or_else(|| ApiError::bad_request("$top must be a positive integer."))?
            }
        },
    })
}

// --- the OpenAPI side ------------------------------------------------------

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// `schema`, or the empty string (which means the default).
fn or_empty(schema: ObjectBuilder) -> RefOr<Schema> {
    AnyOfBuilder::new().item(schema).item(empty_string()).into()
}

fn param(
    name: &str,
    place: ParameterIn,
    required: bool,
    description: &str,
    schema: impl Into<RefOr<Schema>>,
) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(place)
        .required(if required {
            Required::True
        } else {
            Required::False
        })
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

fn query(
    name: &str,
    required: bool,
    description: &str,
    schema: impl Into<RefOr<Schema>>,
) -> Parameter {
    param(name, ParameterIn::Query, required, description, schema)
}

/// [`GUID_PATTERN`] without the nil GUID (a lookahead: ECMA-262 and Python
/// patterns have it, Rust's `regex` does not, so the tests check the two
/// halves apart).
pub const NOT_NIL: &str = "(?!0{8}-0{4}-0{4}-0{4}-0{12}$)";

fn id_pattern() -> String {
    format!("^{NOT_NIL}{}", GUID_PATTERN.trim_start_matches('^'))
}

/// A GUID naming a PAT; the nil GUID is refused (400).
fn id_schema() -> ObjectBuilder {
    guid_schema().pattern(Some(id_pattern()))
}

/// `{organization}` and `api-version`: every PAT API operation has both.
pub struct PatsParams;

impl IntoParams for PatsParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            param(
                "organization",
                ParameterIn::Path,
                true,
                "An organization name, in any case. An unknown one is 404 `OrganizationNotFoundException`; \
                 one the caller is not a member of is 403.",
                string().min_length(Some(1)),
            ),
            query(
                "api-version",
                true,
                "6.1 to 7.2, optionally `-preview` or `-preview.N` in any case (`7.1-preview.1`). Clients may \
                 send it instead as a parameter of `Accept` (`application/json;api-version=7.1-preview.1`, as \
                 the Azure DevOps SDKs do) or of the request's `Content-Type`; the query string is read \
                 first. Missing, malformed or out of range: 400.",
                string().pattern(Some(PATS_VERSION_PATTERN)),
            ),
        ]
    }
}

/// Get one PAT (`authorizationId`) or list (the rest).
pub struct GetOrListParams;

impl IntoParams for GetOrListParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            query(
                "authorizationId",
                false,
                "Get this one PAT instead of listing (the list parameters must still be valid).",
                id_schema(),
            ),
            query(
                "displayFilterOption",
                false,
                "`active` (default), `revoked`, `expired` or `all`, in any case, or the .NET ordinals 1–4. \
                 Empty: the default.",
                or_empty(string().pattern(Some(filter_pattern()))),
            ),
            query(
                "sortByOption",
                false,
                "`displayName` (default), `displayDate` (the expiry) or `status`, in any case, or the \
                 ordinals 1–3. Empty: the default.",
                or_empty(string().pattern(Some(sort_pattern()))),
            ),
            query(
                "isSortAscending",
                false,
                "Default true. `true`/`false` in any case, or `1`/`0`. Empty: the default.",
                or_empty(ObjectBuilder::new().schema_type(Type::Boolean)),
            ),
            query(
                "continuationToken",
                false,
                "The `continuationToken` of the previous page (base64 of `{row}-patapitoken`, with or \
                 without padding). Empty: the first page. Later pages must repeat the same filter and sort.",
                or_empty(string().pattern(Some(CONTINUATION_PATTERN))),
            ),
            query(
                "$top",
                false,
                "Page size, default 20; values above 100 are served as 100. Empty: the default.",
                or_empty(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1))),
            ),
        ]
    }
}

/// `authorizationId`, required (revoke).
pub struct RequiredIdParam;

impl IntoParams for RequiredIdParam {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![query("authorizationId", true, "The PAT.", id_schema())]
    }
}

/// `authorizationId`, optional (regenerate: without it the answer is
/// `200 invalidAuthorizationId`, as for update).
pub struct OptionalIdParam;

impl IntoParams for OptionalIdParam {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![query(
            "authorizationId",
            false,
            "The PAT. Absent: `200 invalidAuthorizationId`.",
            id_schema(),
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NIL_GUID: &str = "00000000-0000-0000-0000-000000000000";

    fn q(raw: &str) -> CiQuery {
        CiQuery::parse(Some(raw))
    }

    fn matches(pattern: &str, s: &str) -> bool {
        regex::Regex::new(pattern).unwrap().is_match(s)
    }

    #[test]
    fn enum_patterns() {
        assert_eq!(
            filter_pattern(),
            "^([Aa][Cc][Tt][Ii][Vv][Ee]|[Rr][Ee][Vv][Oo][Kk][Ee][Dd]|[Ee][Xx][Pp][Ii][Rr][Ee][Dd]|[Aa][Ll][Ll]|[1-4])$"
        );
        for s in ["active", "Active", "ALL", "4", "1", "expired", "rEvOkEd"] {
            assert!(matches(&filter_pattern(), s), "{s}");
            assert!(enum_value(s, ListFilter::parse).is_some(), "{s}");
        }
        for s in [
            " active", "active ", "5", "0", "01", "activ", "allx", "", "1 ",
        ] {
            assert!(!matches(&filter_pattern(), s), "{s:?}");
            assert!(enum_value(s, ListFilter::parse).is_none(), "{s:?}");
        }
        for s in ["displayName", "DISPLAYDATE", "Status", "3"] {
            assert!(
                matches(&sort_pattern(), s) && enum_value(s, SortBy::parse).is_some(),
                "{s}"
            );
        }
        assert!(!matches(&sort_pattern(), "4") && enum_value("4", SortBy::parse).is_none());
    }

    #[test]
    fn list_defaults_and_refusals() {
        let defaults = ListQuery {
            filter: ListFilter::default(),
            sort: SortBy::default(),
            ascending: true,
            offset: 0,
            limit: DEFAULT_TOP,
        };
        assert_eq!(list_query(&q("")).unwrap(), defaults);
        let empty = "displayFilterOption=&sortByOption=&isSortAscending=&continuationToken=&$top=";
        assert_eq!(list_query(&q(empty)).unwrap(), defaults);
        let l = list_query(&q(
            "displayFilterOption=4&sortByOption=Status&isSortAscending=False\
                              &continuationToken=MjEtcGF0YXBpdG9rZW4%3D&$top=1000",
        ))
        .unwrap();
        assert_eq!(
            (l.filter, l.sort, l.ascending, l.offset, l.limit),
            (ListFilter::All, SortBy::Status, false, 20, MAX_TOP)
        );
        for bad in [
            "displayFilterOption=bogus",
            "sortByOption=size",
            "isSortAscending=maybe",
            "isSortAscending=%20true",
            "$top=-1",
            "$top=0",
            "$top=ten",
            "$top=%205",
            "$top=1.5",
            "continuationToken=garbage",
        ] {
            assert!(list_query(&q(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn authorization_ids() {
        let id = "3d3a4c4e-1c8c-4f5e-9a55-4f6c7d0b9a11";
        assert!(authorization_id(&q(&format!("authorizationId={id}")))
            .unwrap()
            .is_some());
        assert!(
            authorization_id(&q(&format!("AuthorizationID={}", id.to_uppercase())))
                .unwrap()
                .is_some()
        );
        assert_eq!(authorization_id(&q("")).unwrap(), None);
        for bad in [
            "authorizationId=",
            "authorizationId=nope",
            "authorizationId=%203d3a4c4e-1c8c-4f5e-9a55-4f6c7d0b9a11",
            "authorizationId=%7B3d3a4c4e-1c8c-4f5e-9a55-4f6c7d0b9a11%7D",
            "authorizationId=3d3a4c4e1c8c4f5e9a554f6c7d0b9a11",
            "authorizationId=00000000-0000-0000-0000-000000000000",
        ] {
            assert!(authorization_id(&q(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_not_nil_rule_is_published() {
        let schema = serde_json::to_value(id_schema().build()).unwrap();
        let pattern = schema["pattern"].as_str().unwrap();
        assert_eq!(pattern, format!("^{NOT_NIL}{}", &GUID_PATTERN[1..]));
        assert_eq!(schema["format"], "uuid");
    }

    proptest! {
        /// The query id pattern is the GUID pattern minus the nil GUID, which
        /// is exactly what `authorization_id` accepts.
        #[test]
        fn id_pattern_is_what_authorization_id_accepts(
            s in "(00000000-0000-0000-0000-000000000000|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F{} -]{30,40})"
        ) {
            let published = matches(GUID_PATTERN, &s) && s != NIL_GUID;
            let query: String = url::form_urlencoded::byte_serialize(s.as_bytes()).collect();
            let accepted = matches!(authorization_id(&q(&format!("authorizationId={query}"))), Ok(Some(_)));
            prop_assert_eq!(published, accepted);
        }
    }

    proptest! {
        #[test]
        fn top_is_an_integer_of_at_least_one(s in "[0-9+ .e-]{0,12}") {
            let integer = s.bytes().all(|b| b.is_ascii_digit())
                && s.bytes().any(|b| b != b'0');
            prop_assert_eq!(top(&s).is_some(), integer);
            if let Some(n) = top(&s) {
                prop_assert!((1..=MAX_TOP).contains(&n));
            }
        }

        #[test]
        fn enum_patterns_are_what_the_parsers_accept(s in "[a-zA-Z0-9 ]{0,12}") {
            prop_assert_eq!(matches(&filter_pattern(), &s), enum_value(&s, ListFilter::parse).is_some());
            prop_assert_eq!(matches(&sort_pattern(), &s), enum_value(&s, SortBy::parse).is_some());
        }

        #[test]
        fn filter_words_in_any_case(i in 0..4usize, flips in proptest::collection::vec(any::<bool>(), 7)) {
            let word: String = FILTERS[i]
                .chars()
                .zip(flips.iter().cycle())
                .map(|(c, up)| if *up { c.to_ascii_uppercase() } else { c })
                .collect();
            prop_assert!(matches(&filter_pattern(), &word));
            prop_assert!(enum_value(&word, ListFilter::parse).is_some());
        }
    }
}
