//! Query strings, decoded once, with case-insensitive keys (clients differ).

use axum::http::request::Parts;

#[derive(Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
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
