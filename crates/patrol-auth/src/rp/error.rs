//! Relying-party errors, and OAuth error responses (RFC 6749 §5.2) turned into them.

use serde::Deserialize;

use crate::fetch::sanitize;

/// Longest `error` / `error_description` kept from an OAuth error response.
const MAX_ERROR_CHARS: usize = 200;

/// Why a relying-party operation failed. `Display` never contains a token, secret or code.
#[derive(Debug, thiserror::Error)]
pub enum RpError {
    /// Network error, timeout, 5xx or 429, unusable discovery document. Retry later.
    #[error("identity provider unavailable: {0}")]
    Unavailable(String),
    /// An OAuth error response (`invalid_grant` etc.), sanitized: control characters removed,
    /// at most 200 characters each.
    #[error("identity provider rejected the request: {error}{}", describe(.description))]
    Rejected {
        error: String,
        description: Option<String>,
    },
    /// A malformed response, a redirect, or a bad configuration.
    #[error("invalid identity provider response or relying-party configuration: {0}")]
    Invalid(&'static str),
}

fn describe(description: &Option<String>) -> String {
    match description {
        Some(d) => format!(" ({d})"),
        None => String::new(),
    }
}

impl RpError {
    /// The OAuth `error` code of a [`RpError::Rejected`].
    pub fn oauth_error(&self) -> Option<&str> {
        match self {
            RpError::Rejected { error, .. } => Some(error),
            _ => None,
        }
    }

    /// `invalid_grant`: the code or refresh token is invalid, expired, used or revoked, so
    /// the user must sign in again.
    pub fn is_invalid_grant(&self) -> bool {
        self.oauth_error() == Some("invalid_grant")
    }
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<serde_json::Value>,
}

/// An OAuth error body as [`RpError::Rejected`], scrubbed of every value in `sent`.
pub(crate) fn oauth_error(body: &[u8], sent: &[&str]) -> Option<RpError> {
    let e: OAuthErrorBody = serde_json::from_slice(body).ok()?;
    // RFC 6749 §5.2: `error` is %x20-21 / %x23-5B / %x5D-7E.
    let error: String = sanitize(&e.error, sent, MAX_ERROR_CHARS)
        .chars()
        .filter(|c| matches!(*c, ' '..='~') && *c != '"' && *c != '\\')
        .collect();
    if error.is_empty() {
        return None;
    }
    let description = match e.error_description {
        Some(serde_json::Value::String(d)) => Some(sanitize(&d, sent, MAX_ERROR_CHARS)),
        _ => None,
    }
    .filter(|d| !d.is_empty());
    Some(RpError::Rejected { error, description })
}

/// Maps a non-success response of the `what` endpoint to an error.
pub(crate) fn error_response(status: u16, body: &[u8], sent: &[&str], what: &str) -> RpError {
    if status >= 500 || status == 429 {
        return RpError::Unavailable(format!("{what} endpoint returned status {status}"));
    }
    if (400..500).contains(&status) {
        if let Some(e) = oauth_error(body, sent) {
            return e;
        }
    }
    RpError::Invalid("unexpected response from the identity provider")
}
