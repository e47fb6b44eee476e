//! Credentials as presented in an `Authorization` header, before any check:
//! `Basic base64(user:PAT)` (any user name, as Azure DevOps accepts; git
//! sends exactly this) or `Bearer PAT`.
//!
//! Pure parsing: no I/O, no token validation (that is [`crate::token`]).
//! Errors never carry header text, and the decoded bytes are wiped.

use base64::Engine;
use secrecy::zeroize::Zeroize;

use crate::secret::PatSecret;

/// Longest `Authorization` value considered (a PAT in Basic is ~120 bytes).
pub const MAX_AUTHORIZATION_BYTES: usize = 4096;

/// Why a header yields no credential. Never contains the header's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// No `Authorization` header at all: the caller should be challenged.
    #[error("no credentials were presented")]
    Missing,
    /// A scheme other than Basic or Bearer.
    #[error("unsupported authorization scheme")]
    UnsupportedScheme,
    /// Not valid base64 / UTF-8, too long, or otherwise unreadable.
    #[error("the authorization header is malformed")]
    Malformed,
    /// The scheme was given but the credential is empty.
    #[error("the credential is empty")]
    Empty,
}

/// `Basic` user name and password, both as sent (no percent-decoding).
pub struct BasicCredentials {
    pub username: String,
    pub password: PatSecret,
}

impl std::fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("username", &self.username)
            .field("password", &"[REDACTED]")
            .finish()
    }
}

/// Splits `Scheme rest` (scheme case-insensitive, any run of spaces or tabs).
fn split_scheme(value: &str) -> (&str, &str) {
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    match value.find([' ', '\t']) {
        Some(i) => (
            &value[..i],
            value[i..].trim_matches(|c| c == ' ' || c == '\t'),
        ),
        None => (value, ""),
    }
}

/// Decodes an RFC 7617 `Basic` credential (`rest` is the part after the scheme).
fn decode_basic(rest: &str) -> Result<BasicCredentials, CredentialError> {
    if rest.is_empty() {
        return Err(CredentialError::Empty);
    }
    let mut raw = base64::engine::general_purpose::STANDARD
        .decode(rest)
        .map_err(|_| CredentialError::Malformed)?;
    let text = match String::from_utf8(raw) {
        Ok(t) => t,
        Err(e) => {
            raw = e.into_bytes();
            raw.zeroize();
            return Err(CredentialError::Malformed);
        }
    };
    let mut text = text;
    let (user, pass) = match text.split_once(':') {
        Some((u, p)) => (u.to_owned(), PatSecret::new(p.to_owned())),
        None => (String::new(), PatSecret::new(text.clone())),
    };
    text.zeroize();
    Ok(BasicCredentials {
        username: user,
        password: pass,
    })
}

/// The `Basic` credentials of an `Authorization` value (for resource servers
/// authenticating with `client_secret_basic`).
pub fn parse_basic(value: Option<&str>) -> Result<BasicCredentials, CredentialError> {
    let value = value.ok_or(CredentialError::Missing)?;
    if value.len() > MAX_AUTHORIZATION_BYTES {
        return Err(CredentialError::Malformed);
    }
    let (scheme, rest) = split_scheme(value);
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(CredentialError::UnsupportedScheme);
    }
    decode_basic(rest)
}

/// The PAT presented in an `Authorization` value.
///
/// * `Basic base64(user:PAT)`: any user name (also empty). When the password
///   is empty, the user name is taken as the token (`https://PAT@host/…`).
///   Without a colon, the whole decoded text is the token.
/// * `Bearer PAT`.
pub fn parse_authorization(value: Option<&str>) -> Result<PatSecret, CredentialError> {
    parse_authorization_limited(value, MAX_AUTHORIZATION_BYTES)
}

/// [`parse_authorization`] with another size limit: the management API
/// reads OIDC access tokens the same way, and those can be far longer
/// than a PAT.
pub fn parse_authorization_limited(
    value: Option<&str>,
    max_bytes: usize,
) -> Result<PatSecret, CredentialError> {
    let value = value.ok_or(CredentialError::Missing)?;
    if value.len() > max_bytes {
        return Err(CredentialError::Malformed);
    }
    let (scheme, rest) = split_scheme(value);
    let secret = if scheme.eq_ignore_ascii_case("basic") {
        let BasicCredentials {
            mut username,
            password,
        } = decode_basic(rest)?;
        if password.expose().is_empty() {
            let s = PatSecret::new(username.clone());
            username.zeroize();
            s
        } else {
            password
        }
    } else if scheme.eq_ignore_ascii_case("bearer") {
        PatSecret::new(rest.to_owned())
    } else {
        return Err(CredentialError::UnsupportedScheme);
    };
    if secret.expose().is_empty() {
        return Err(CredentialError::Empty);
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAT: &str =
        "SyntheticTestKeyForPatServiceDoNotUse0123456789abcdeJQQJ99BFACAAAAASNFZ4AAASAZDO10AW";

    fn basic(s: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
    }

    #[test]
    fn basic_with_any_user_name() {
        for user in ["", "git", "alice@example.com", "x y"] {
            let h = basic(&format!("{user}:{PAT}"));
            assert_eq!(parse_authorization(Some(&h)).unwrap().expose(), PAT);
        }
        // Scheme is case-insensitive; extra blanks are tolerated.
        let h = format!(
            "bAsIc \t {}",
            base64::engine::general_purpose::STANDARD.encode(format!(":{PAT}"))
        );
        assert_eq!(parse_authorization(Some(&h)).unwrap().expose(), PAT);
    }

    #[test]
    fn basic_with_token_as_user_or_without_colon() {
        assert_eq!(
            parse_authorization(Some(&basic(&format!("{PAT}:"))))
                .unwrap()
                .expose(),
            PAT
        );
        assert_eq!(
            parse_authorization(Some(&basic(PAT))).unwrap().expose(),
            PAT
        );
        // The password wins when both are given; colons after the first stay in it.
        assert_eq!(
            parse_authorization(Some(&basic("u:a:b"))).unwrap().expose(),
            "a:b"
        );
    }

    #[test]
    fn bearer() {
        assert_eq!(
            parse_authorization(Some(&format!("Bearer {PAT}")))
                .unwrap()
                .expose(),
            PAT
        );
        assert_eq!(
            parse_authorization(Some(&format!("bearer   {PAT} ")))
                .unwrap()
                .expose(),
            PAT
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(
            parse_authorization(None).err(),
            Some(CredentialError::Missing)
        );
        assert_eq!(
            parse_authorization(Some("Negotiate abc")).err(),
            Some(CredentialError::UnsupportedScheme)
        );
        assert_eq!(
            parse_authorization(Some("Basic !!!")).err(),
            Some(CredentialError::Malformed)
        );
        assert_eq!(
            parse_authorization(Some("Basic")).err(),
            Some(CredentialError::Empty)
        );
        assert_eq!(
            parse_authorization(Some("Bearer ")).err(),
            Some(CredentialError::Empty)
        );
        assert_eq!(
            parse_authorization(Some(&basic(":"))).err(),
            Some(CredentialError::Empty)
        );
        let invalid_utf8 = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe, b':'])
        );
        assert_eq!(
            parse_authorization(Some(&invalid_utf8)).err(),
            Some(CredentialError::Malformed)
        );
        let long = format!("Bearer {}", "a".repeat(MAX_AUTHORIZATION_BYTES));
        assert_eq!(
            parse_authorization(Some(&long)).err(),
            Some(CredentialError::Malformed)
        );
        assert_eq!(
            parse_authorization(Some("")).err(),
            Some(CredentialError::UnsupportedScheme)
        );
    }

    #[test]
    fn basic_for_clients() {
        let c = parse_basic(Some(&basic("gateway:s3cret:x"))).unwrap();
        assert_eq!(c.username, "gateway");
        assert_eq!(c.password.expose(), "s3cret:x");
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(
            parse_basic(Some("Bearer x")).err(),
            Some(CredentialError::UnsupportedScheme)
        );
        assert_eq!(parse_basic(None).err(), Some(CredentialError::Missing));
    }

    #[test]
    fn errors_never_echo_input() {
        let e = parse_authorization(Some(&format!("Weird {PAT}"))).unwrap_err();
        assert!(!format!("{e} {e:?}").contains(PAT));
    }
}
