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

impl ApiVersion {
    /// `7.1`, `7.1-preview`, `7.1-preview.1`, `6.1-Preview.1`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (num, rest) = match s.split_once('-') {
            Some((n, r)) => (n, Some(r)),
            None => (s, None),
        };
        let (major, minor) = match num.split_once('.') {
            Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
            None => (num.parse().ok()?, 0),
        };
        let preview = match rest {
            None => false,
            Some(r) => {
                let lower = r.to_ascii_lowercase();
                let tail = lower.strip_prefix("preview")?;
                if !(tail.is_empty()
                    || tail
                        .strip_prefix('.')
                        .is_some_and(|n| n.parse::<u32>().is_ok()))
                {
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
        ] {
            assert!(ApiVersion::parse(s).is_some(), "{s}");
        }
        for s in ["", "x", "7.1-beta", "7.1-preview.x", "7.x"] {
            assert!(ApiVersion::parse(s).is_none(), "{s}");
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
