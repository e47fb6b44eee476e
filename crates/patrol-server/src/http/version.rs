//! `api-version`, read from the query, `Accept` or `Content-Type` (clients
//! differ), and checked against the range a resource supports.

use axum::http::request::Parts;
use axum::http::{header, HeaderMap};

use super::error::ApiError;
use super::query::CiQuery;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersion {
    pub major: u32,
    pub minor: u32,
    pub preview: bool,
}

/// The range of the PAT API (`docs/ado-wire-contract.md` §3.4).
pub const PATS_MIN: (u32, u32) = (6, 1);
pub const PATS_MAX: (u32, u32) = (7, 2);

/// The versions the PAT API accepts (6.1 to 7.2, preview or not), as the
/// OpenAPI document states them: exactly the strings [`negotiate`] accepts
/// for that range (checked by the tests below).
pub const PATS_VERSION_PATTERN: &str =
    "^(6\\.[1-9][0-9]{0,8}|7\\.[0-2])(-[Pp][Rr][Ee][Vv][Ii][Ee][Ww](\\.[0-9]{1,9})?)?$";

/// One version number: `0` or digits without a leading zero, at most 9 of
/// them (so it fits a `u32`).
fn number(s: &str) -> Option<u32> {
    let ok = !s.is_empty()
        && s.len() <= 9
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    if ok {
        s.parse().ok()
    } else {
        None
    }
}

impl ApiVersion {
    /// `major.minor`, optionally followed by `-preview` or `-preview.N` in any
    /// case: `7.1`, `7.1-preview`, `7.1-preview.1`, `6.1-Preview.1`. Nothing
    /// else: no sign, no leading zero, no surrounding space.
    pub fn parse(s: &str) -> Option<Self> {
        let (num, rest) = match s.split_once('-') {
            Some((n, r)) => (n, Some(r)),
            None => (s, None),
        };
        let (major, minor) = num.split_once('.')?;
        let (major, minor) = (number(major)?, number(minor)?);
        let preview = match rest {
            None => false,
            Some(r) => {
                let stage = r.get(..7)?;
                let tail = &r[7..];
                if !stage.eq_ignore_ascii_case("preview") {
                    return None;
                }
                let revision_ok = tail.is_empty()
                    || tail.strip_prefix('.').is_some_and(|n| {
                        (1..=9).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit())
                    });
                if !revision_ok {
                    return None;
                }
                true
            }
        };
        Some(Self {
            major,
            minor,
            preview,
        })
    }

    fn key(&self) -> (u32, u32) {
        (self.major, self.minor)
    }
}

fn from_media_type(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    let v = headers.get(name)?.to_str().ok()?;
    v.split([';', ','])
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("api-version"))
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
}

/// Find and check the version: missing → 400 `VssVersionNotSpecifiedException`,
/// unparsable → 400 `VssInvalidApiVersionException`, out of range → 400
/// `VssVersionOutOfRangeException`.
pub fn negotiate(parts: &Parts, min: (u32, u32), max: (u32, u32)) -> Result<ApiVersion, ApiError> {
    let query = CiQuery::from_parts(parts);
    let raw = query
        .get("api-version")
        .map(str::to_owned)
        .or_else(|| from_media_type(&parts.headers, header::ACCEPT))
        .or_else(|| from_media_type(&parts.headers, header::CONTENT_TYPE));
    let Some(raw) = raw else {
        return Err(ApiError::BadRequest {
            type_key: "VssVersionNotSpecifiedException",
            message: format!(
                "No api-version was supplied for the \"{}\" request. The version must be supplied either as part of \
                 the Accept header (e.g. \"application/json; api-version=1.0\") or as a query parameter (e.g. \
                 \"?api-version=1.0\").",
                parts.method
            ),
        });
    };
    let Some(v) = ApiVersion::parse(&raw) else {
        return Err(ApiError::BadRequest {
            type_key: "VssInvalidApiVersionException",
            message: "The api-version is not in a valid format (e.g. 7.1-preview.1).".into(),
        });
    };
    if v.key() < min || v.key() > max {
        return Err(ApiError::BadRequest {
            type_key: "VssVersionOutOfRangeException",
            message: format!(
                "The requested REST API version of {}.{} is out of range for this resource. Supported versions are \
                 {}.{} to {}.{}.",
                v.major, v.minor, min.0, min.1, max.0, max.1
            ),
        });
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(uri: &str, accept: Option<&str>, ct: Option<&str>) -> Parts {
        let mut b = Request::builder().uri(uri);
        if let Some(a) = accept {
            b = b.header(header::ACCEPT, a);
        }
        if let Some(c) = ct {
            b = b.header(header::CONTENT_TYPE, c);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn parses_every_form() {
        for s in [
            "6.1-preview",
            "6.1-preview.1",
            "7.0",
            "7.1-preview.1",
            "7.1",
            "7.2-preview.1",
            "7.1-Preview.1",
            "7.1-PREVIEW.123456789",
        ] {
            assert!(ApiVersion::parse(s).is_some(), "{s}");
        }
        for s in [
            "",
            "x",
            "7",
            "7.1-beta",
            "7.1-preview.x",
            "7.1-preview.",
            "7.1-preview.1234567890",
            "7.x",
            " 7.1",
            "7.1 ",
            "+7.1",
            "7.+1",
            "07.1",
            "7.01",
            "7.1234567890",
            "7.1-",
            "7.1-previewer",
            "7.1-preview-1",
        ] {
            assert!(ApiVersion::parse(s).is_none(), "{s:?}");
        }
    }

    /// What the document says is what the server accepts: every string the
    /// pattern matches is accepted and every other one refused.
    #[test]
    fn the_published_pattern_is_what_negotiate_accepts() {
        let pattern = regex::Regex::new(PATS_VERSION_PATTERN).unwrap();
        let accepted = |v: &str| {
            let uri = format!(
                "/x?api-version={}",
                url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
            );
            negotiate(&parts(&uri, None, None), PATS_MIN, PATS_MAX).is_ok()
        };
        let numbers = [
            "0",
            "1",
            "2",
            "3",
            "5",
            "6",
            "7",
            "8",
            "01",
            "10",
            "12",
            "99",
            "123456789",
            "1234567890",
            "+1",
            "",
        ];
        let tails = [
            "",
            "-preview",
            "-Preview",
            "-PREVIEW",
            "-preview.1",
            "-preview.0",
            "-preview.123456789",
            "-preview.1234567890",
            "-preview.",
            "-preview.x",
            "-pre",
            "-beta",
            " ",
            "-preview.1 ",
        ];
        let mut checked = 0;
        for major in numbers {
            for minor in numbers {
                for tail in tails {
                    for v in [format!("{major}.{minor}{tail}"), format!("{major}{tail}")] {
                        assert_eq!(pattern.is_match(&v), accepted(&v), "{v:?}");
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 7000);
    }

    proptest::proptest! {
        #[test]
        fn pattern_and_parser_agree_on_any_text(v in "[0-9.+ a-zA-Z-]{0,16}") {
            let pattern = regex::Regex::new(PATS_VERSION_PATTERN).unwrap();
            let uri = format!("/x?api-version={}", url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>());
            let ok = negotiate(&parts(&uri, None, None), PATS_MIN, PATS_MAX).is_ok();
            proptest::prop_assert_eq!(pattern.is_match(&v), ok);
        }

        #[test]
        fn every_string_of_the_pattern_is_accepted(v in PATS_VERSION_PATTERN.trim_start_matches('^').trim_end_matches('$')) {
            let uri = format!("/x?api-version={}", url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>());
            proptest::prop_assert!(negotiate(&parts(&uri, None, None), PATS_MIN, PATS_MAX).is_ok());
        }
    }

    #[test]
    fn three_places() {
        let r = (6, 1);
        let m = (7, 2);
        assert!(negotiate(&parts("/x?api-version=6.1-preview", None, None), r, m).is_ok());
        assert!(negotiate(
            &parts(
                "/x",
                Some("application/json;api-version=7.1-preview.1"),
                None
            ),
            r,
            m
        )
        .is_ok());
        assert!(negotiate(
            &parts(
                "/x",
                Some("application/json; api-version=7.2-preview.1"),
                None
            ),
            r,
            m
        )
        .is_ok());
        assert!(negotiate(
            &parts(
                "/x",
                Some("*/*"),
                Some("application/json; charset=utf-8; api-version=7.2-preview.1")
            ),
            r,
            m
        )
        .is_ok());
        assert!(matches!(
            negotiate(&parts("/x", None, None), r, m),
            Err(ApiError::BadRequest {
                type_key: "VssVersionNotSpecifiedException",
                ..
            })
        ));
        assert!(matches!(
            negotiate(&parts("/x?api-version=9.0", None, None), r, m),
            Err(ApiError::BadRequest {
                type_key: "VssVersionOutOfRangeException",
                ..
            })
        ));
        assert!(matches!(
            negotiate(&parts("/x?api-version=5.0", None, None), r, m),
            Err(ApiError::BadRequest {
                type_key: "VssVersionOutOfRangeException",
                ..
            })
        ));
    }
}
