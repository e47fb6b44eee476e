//! How the command line fails: one line in plain words, and an exit code a
//! script can branch on (documented in docs/cli.md):
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done |
//! | 1 | refused: the server (or the identity provider) answered no |
//! | 2 | usage or local error: bad arguments, no sign-in, a file that cannot be written |
//! | 3 | cannot reach the server or the identity provider (or it is temporarily unavailable) |
//!
//! Everything a server sends that ends up in a message goes through
//! [`sanitize`] first: no control characters (terminal escapes) and a
//! bounded length.

use reqwest::header::{HeaderMap, RETRY_AFTER, WWW_AUTHENTICATE};
use serde::Deserialize;

pub const EXIT_REFUSED: u8 = 1;
pub const EXIT_LOCAL: u8 = 2;
pub const EXIT_UNREACHABLE: u8 = 3;

/// Longest server-provided text put in a message.
const MAX_SERVER_TEXT: usize = 300;

/// Why a command failed. `Display` is the one line printed after `error: `;
/// it never contains a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server or the identity provider answered and refused (exit 1).
    Refused(String),
    /// Bad usage or a local problem (exit 2).
    Local(String),
    /// The server or the identity provider cannot be reached (exit 3).
    Unreachable(String),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Refused(_) => EXIT_REFUSED,
            Failure::Local(_) => EXIT_LOCAL,
            Failure::Unreachable(_) => EXIT_UNREACHABLE,
        }
    }

    pub fn local(message: impl Into<String>) -> Self {
        Failure::Local(message.into())
    }

    pub fn refused(message: impl Into<String>) -> Self {
        Failure::Refused(message.into())
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Refused(m) | Failure::Local(m) | Failure::Unreachable(m) => f.write_str(m),
        }
    }
}

/// Server-provided text made safe to print on one terminal line.
pub fn sanitize(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_SERVER_TEXT)
        .collect();
    if text.chars().count() > MAX_SERVER_TEXT {
        out.push('…');
    }
    out.trim().to_owned()
}

/// A request that never got an answer: what went wrong, in words.
pub fn unreachable(what: &str, url: &str, e: &reqwest::Error) -> Failure {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    // The innermost cause says the most ("Connection refused (os error 111)").
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let detail = sanitize(&cause.to_string());
    let detail = if detail.is_empty() || e.is_timeout() {
        String::new()
    } else {
        format!(": {detail}")
    };
    Failure::Unreachable(format!("cannot reach {what} at {url} ({kind}{detail})"))
}

/// Azure DevOps' error body (`WrappedException`), the fields we read.
#[derive(Deserialize)]
struct Wrapped {
    message: Option<String>,
    #[serde(rename = "typeKey")]
    type_key: Option<String>,
}

/// A parameter of an RFC 6750 `WWW-Authenticate: Bearer …` challenge.
pub fn challenge_param(header: &str, name: &str) -> Option<String> {
    let rest = header.trim_start();
    let rest = rest
        .get(..6)
        .filter(|s| s.eq_ignore_ascii_case("bearer"))
        .and_then(|_| rest.get(6..))?;
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ','))
            .collect::<String>()
            .trim()
            .to_owned();
        if key.is_empty() {
            return None;
        }
        if chars.next() != Some('=') {
            continue;
        }
        let value = if chars.peek() == Some(&'"') {
            chars.next();
            let mut v = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => v.extend(chars.next()),
                    '"' => break,
                    c => v.push(c),
                }
            }
            v
        } else {
            std::iter::from_fn(|| chars.next_if(|c| *c != ','))
                .collect::<String>()
                .trim()
                .to_owned()
        };
        if key.eq_ignore_ascii_case(name) {
            return Some(value);
        }
    }
}

/// How a token from `source` ("the stored sign-in", "PATROL_ACCESS_TOKEN")
/// is to be renewed, for the hint after a 401.
pub struct AuthHint<'a> {
    pub source: &'a str,
    pub remedy: &'a str,
}

/// A non-2xx answer of the Patrol server as a failure in plain words: the
/// `WrappedException` message, the RFC 6750 challenge of a 401 or of a
/// missing scope, and `Retry-After` when there is one.
pub fn from_answer(status: u16, headers: &HeaderMap, body: &[u8], hint: &AuthHint<'_>) -> Failure {
    let wrapped: Option<Wrapped> = serde_json::from_slice(body).ok();
    let message = wrapped
        .as_ref()
        .and_then(|w| w.message.as_deref())
        .map(sanitize)
        .filter(|m| !m.is_empty());
    let type_key = wrapped
        .as_ref()
        .and_then(|w| w.type_key.as_deref())
        .map(sanitize)
        .filter(|m| !m.is_empty());
    let challenge = headers
        .get(WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let retry = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(|s| format!(" (retry after {} s)", sanitize(s)))
        .unwrap_or_default();
    if status == 401 {
        let why = challenge_param(challenge, "error_description")
            .or_else(|| challenge_param(challenge, "error"))
            .map(|d| format!(": {}", sanitize(&d)))
            .unwrap_or_default();
        return Failure::Refused(format!(
            "the server did not accept {}{why}; {}",
            hint.source, hint.remedy
        ));
    }
    if status == 403 && challenge_param(challenge, "error").as_deref() == Some("insufficient_scope")
    {
        let scope = challenge_param(challenge, "scope")
            .map(|s| sanitize(&s))
            .unwrap_or_else(|| "?".into());
        return Failure::Refused(format!(
            "the access token lacks the scope '{scope}' this operation needs (insufficient_scope); \
             use a token whose scopes include it"
        ));
    }
    let said = match (&message, &type_key) {
        (Some(m), Some(t)) => format!("{m} ({t}, HTTP {status})"),
        (Some(m), None) => format!("{m} (HTTP {status})"),
        _ => format!("HTTP {status}"),
    };
    if matches!(status, 502..=504) {
        return Failure::Unreachable(format!(
            "the server is temporarily unavailable: {said}{retry}; try again later"
        ));
    }
    Failure::Refused(format!("refused by the server: {said}{retry}"))
}

/// A `patTokenError` value in words (docs/ado-wire-contract.md §4.3).
pub fn pat_token_error(value: &str) -> String {
    let words = match value {
        "displayNameRequired" => "the name must not be only spaces",
        "invalidDisplayName" => {
            "the name is not allowed (over 256 characters, control characters, or text that is a token)"
        }
        "invalidValidTo" => "the expiration must be in the future",
        "invalidScope" => "a scope is unknown or cannot be put on a personal access token",
        "tokenNotFound" => "no token with this id (or it is not yours)",
        "invalidToken" => "the token is revoked; a revoked token cannot be changed",
        "invalidTargetAccounts" => {
            "the token belongs to another organization: use --org with its organization"
        }
        "invalidAuthorizationId" => "the token id is missing or not valid",
        "accessDenied" => "access denied",
        "userIdRequired" | "invalidUserId" | "invalidUserType" => "the caller's identity is not valid",
        "failedToIssueAccessToken" | "failedToUpdateAccessToken" => "the server could not save the token",
        "failedToReadTenantPolicy" | "failedToReadOrgPolicy" => "the server could not read its policies",
        "globalPatPolicyViolation" | "globalPATCreationBlocked" => {
            "policy: tokens for all organizations are not allowed (leave out --all-orgs)"
        }
        "fullScopePatPolicyViolation" => {
            "policy: full-access tokens are not allowed (name the scopes with --scope)"
        }
        "patLifespanPolicyViolation" => {
            "policy: the lifetime is longer than the maximum allowed (choose an earlier expiration)"
        }
        "disablePatCreationPolicyViolation" => "policy: creating tokens is turned off",
        "expiredPatCannotBeExtended" => "policy: an expired token cannot be extended",
        _ => "the server refused the request",
    };
    format!("{words} ({})", sanitize(value))
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    const HINT: AuthHint<'static> = AuthHint {
        source: "the stored sign-in",
        remedy: "run `patrol login`",
    };

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn exit_codes() {
        assert_eq!(Failure::refused("x").exit_code(), 1);
        assert_eq!(Failure::local("x").exit_code(), 2);
        assert_eq!(Failure::Unreachable("x".into()).exit_code(), 3);
        assert_eq!(Failure::refused("words").to_string(), "words");
    }

    #[test]
    fn challenge_parameters() {
        let h = r#"Bearer realm="patrol", error="insufficient_scope", scope="vso.pats_manage""#;
        assert_eq!(
            challenge_param(h, "scope").as_deref(),
            Some("vso.pats_manage")
        );
        assert_eq!(
            challenge_param(h, "ERROR").as_deref(),
            Some("insufficient_scope")
        );
        assert_eq!(challenge_param(h, "realm").as_deref(), Some("patrol"));
        assert_eq!(challenge_param(h, "missing"), None);
        let odd = r#"bearer error=invalid_token,error_description="a \"quoted\", comma""#;
        assert_eq!(
            challenge_param(odd, "error").as_deref(),
            Some("invalid_token")
        );
        assert_eq!(
            challenge_param(odd, "error_description").as_deref(),
            Some(r#"a "quoted", comma"#)
        );
        assert_eq!(challenge_param("Basic realm=\"x\"", "realm"), None);
        assert_eq!(challenge_param("", "realm"), None);
        assert_eq!(challenge_param("Bearer", "realm"), None);
    }

    #[test]
    fn answers_in_words() {
        let body = br#"{"$id":"1","message":"You may hold at most 2 active tokens.","typeKey":"SessionTokenCreateException"}"#;
        let f = from_answer(400, &HeaderMap::new(), body, &HINT);
        assert_eq!(f.exit_code(), 1);
        assert_eq!(
            f.to_string(),
            "refused by the server: You may hold at most 2 active tokens. (SessionTokenCreateException, HTTP 400)"
        );
        let f = from_answer(
            403,
            &headers(&[(
                "www-authenticate",
                r#"Bearer realm="patrol", error="insufficient_scope", scope="vso.pats_manage""#,
            )]),
            br#"{"message":"The access token lacks the required scope 'vso.pats_manage'."}"#,
            &HINT,
        );
        assert!(
            f.to_string().contains("lacks the scope 'vso.pats_manage'"),
            "{f}"
        );
        let f = from_answer(
            401,
            &headers(&[(
                "www-authenticate",
                r#"Bearer realm="patrol", error="invalid_token", error_description="The access token is invalid""#,
            )]),
            b"The access token is invalid.",
            &HINT,
        );
        assert_eq!(
            f.to_string(),
            "the server did not accept the stored sign-in: The access token is invalid; run `patrol login`"
        );
        let f = from_answer(
            503,
            &headers(&[("retry-after", "30")]),
            br#"{"message":"The identity provider cannot be reached; try again later.","typeKey":"ServiceUnavailableException"}"#,
            &HINT,
        );
        assert_eq!(f.exit_code(), 3);
        assert!(f.to_string().contains("retry after 30 s"), "{f}");
        let f = from_answer(500, &HeaderMap::new(), b"<html>oops</html>", &HINT);
        assert_eq!(f.to_string(), "refused by the server: HTTP 500");
    }

    #[test]
    fn server_text_cannot_drive_the_terminal() {
        let body = br#"{"message":"bad\u001b[2J\u001b]0;owned\u0007 news","typeKey":"X"}"#;
        let f = from_answer(400, &HeaderMap::new(), body, &HINT).to_string();
        assert!(!f.chars().any(char::is_control), "{f:?}");
        let long = "x".repeat(1000);
        assert_eq!(sanitize(&long).chars().count(), MAX_SERVER_TEXT + 1);
    }

    #[test]
    fn pat_token_errors_in_words() {
        assert_eq!(
            pat_token_error("tokenNotFound"),
            "no token with this id (or it is not yours) (tokenNotFound)"
        );
        assert!(pat_token_error("fullScopePatPolicyViolation").starts_with("policy:"));
        assert!(pat_token_error("somethingNew").contains("(somethingNew)"));
    }
}
