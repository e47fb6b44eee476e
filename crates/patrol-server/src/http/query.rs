//! Query strings, decoded once, with case-insensitive keys (clients differ:
//! `authorizationId`, `AuthorizationId`, `api-Version`, …).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::convert::Infallible;

/// A decoded query string whose keys compare case-insensitively; also an
/// extractor that never fails.
#[derive(Debug, Default)]
pub struct CiQuery(Vec<(String, String)>);

impl CiQuery {
    pub fn parse(raw: Option<&str>) -> Self {
        Self(
            raw.map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default(),
        )
    }

    pub fn from_parts(parts: &Parts) -> Self {
        Self::parse(parts.uri.query())
    }

    /// The first value for `key`, compared case-insensitively.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CiQuery {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Self::from_parts(parts))
    }
}
