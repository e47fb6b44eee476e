//! Credentials as presented in an `Authorization` header, before any check:
//!
//! * [`parse_authorization`]: the PAT of `Basic base64(user:PAT)` (any user
//!   name, as Azure DevOps accepts; git sends exactly this) or `Bearer PAT`.
//! * [`parse_basic`]: a `Basic` user name and password, taken as sent.
//! * [`parse_client_basic`]: OAuth client credentials (`client_secret_basic`,
//!   RFC 6749 §2.3.1), whose id and secret are form-urlencoded before base64.
//!
//! Pure parsing: no I/O, no token validation (that is [`crate::token`]).
//! Errors never carry header text, and the decoded bytes are wiped.

use base64::Engine;
use secrecy::zeroize::Zeroize;
use secrecy::SecretString;

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

/// The base64-decoded text of an RFC 7617 `Basic` credential (`rest` is the
/// part after the scheme). The caller wipes it.
fn decode_basic_text(rest: &str) -> Result<String, CredentialError> {
    if rest.is_empty() {
        return Err(CredentialError::Empty);
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest)
        .map_err(|_| CredentialError::Malformed)?;
    String::from_utf8(raw).map_err(|e| {
        e.into_bytes().zeroize();
        CredentialError::Malformed
    })
}

/// Decodes an RFC 7617 `Basic` credential (`rest` is the part after the scheme).
fn decode_basic(rest: &str) -> Result<BasicCredentials, CredentialError> {
    let mut text = decode_basic_text(rest)?;
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

/// The part after `Basic` of an `Authorization` value.
fn basic_rest(value: Option<&str>) -> Result<&str, CredentialError> {
    let value = value.ok_or(CredentialError::Missing)?;
    if value.len() > MAX_AUTHORIZATION_BYTES {
        return Err(CredentialError::Malformed);
    }
    let (scheme, rest) = split_scheme(value);
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(CredentialError::UnsupportedScheme);
    }
    Ok(rest)
}

/// The `Basic` user name and password of an `Authorization` value, both as
/// sent (no percent-decoding). Without a colon, the whole text is the password.
/// For OAuth client authentication use [`parse_client_basic`].
pub fn parse_basic(value: Option<&str>) -> Result<BasicCredentials, CredentialError> {
    decode_basic(basic_rest(value)?)
}

/// OAuth client credentials sent with HTTP Basic (`client_secret_basic`).
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: SecretString,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .finish()
    }
}

/// The OAuth client credentials of an `Authorization: Basic` value, as RFC
/// 6749 §2.3.1 has clients send them:
/// `Basic base64(form_urlencode(client_id) ":" form_urlencode(client_secret))`.
///
/// The text is split at its first colon (an encoded id has none) and both
/// parts are decoded with [`form_urldecode`]. Refusals:
/// * [`CredentialError::Missing`]: no header value;
/// * [`CredentialError::UnsupportedScheme`]: not `Basic`;
/// * [`CredentialError::Empty`]: nothing after `Basic`, or an empty client id;
/// * [`CredentialError::Malformed`]: bad base64, no colon, a `%` not followed
///   by two hex digits, or text that is not UTF-8 (before or after decoding).
///
/// The secret may be empty (RFC 6749 §2.3.1 allows an empty secret); whether
/// it is acceptable is the caller's decision.
pub fn parse_client_basic(value: Option<&str>) -> Result<ClientCredentials, CredentialError> {
    let mut text = decode_basic_text(basic_rest(value)?)?;
    let parsed = match text.split_once(':') {
        None => Err(CredentialError::Malformed),
        Some((id, secret)) => match (form_urldecode(id), form_urldecode(secret)) {
            (Some(id), Some(mut secret)) if id.is_empty() => {
                secret.zeroize();
                Err(CredentialError::Empty)
            }
            (Some(client_id), Some(secret)) => Ok(ClientCredentials {
                client_id,
                client_secret: SecretString::from(secret),
            }),
            (_, secret) => {
                if let Some(mut secret) = secret {
                    secret.zeroize();
                }
                Err(CredentialError::Malformed)
            }
        },
    };
    text.zeroize();
    parsed
}

/// Decodes one `application/x-www-form-urlencoded` component (WHATWG URL,
/// RFC 6749 Appendix B): `+` is a space, `%XX` is the byte `XX`. Strict:
/// `None` when a `%` is not followed by two hex digits or the decoded bytes
/// are not UTF-8 (never a guess at what was meant).
pub fn form_urldecode(component: &str) -> Option<String> {
    let bytes = component.as_bytes();
    let escapes_ok = bytes.iter().enumerate().all(|(i, b)| {
        *b != b'%'
            || bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if !escapes_ok {
        return None;
    }
    let mut spaced: Vec<u8> = bytes
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    let decoded: Vec<u8> = percent_encoding::percent_decode(&spaced).collect();
    spaced.zeroize();
    String::from_utf8(decoded)
        .map_err(|e| e.into_bytes().zeroize())
        .ok()
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
    fn form_urldecoding() {
        assert_eq!(form_urldecode("plain-id").as_deref(), Some("plain-id"));
        assert_eq!(form_urldecode("a%20b+c").as_deref(), Some("a b c"));
        assert_eq!(form_urldecode("a%3Ab%2Bc").as_deref(), Some("a:b+c"));
        assert_eq!(form_urldecode("%C3%A9%c3%a9").as_deref(), Some("éé"));
        assert_eq!(form_urldecode("%25").as_deref(), Some("%"));
        assert_eq!(form_urldecode("").as_deref(), Some(""));
        for bad in ["%", "%4", "%+1", "%zz", "100%", "a%2", "%ff", "%C3"] {
            assert_eq!(form_urldecode(bad), None, "{bad}");
        }
    }

    #[test]
    fn client_credentials_are_form_decoded() {
        use secrecy::ExposeSecret as _;
        // RFC 6749 §2.3.1 example.
        let c =
            parse_client_basic(Some("Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3")).unwrap();
        assert_eq!(c.client_id, "s6BhdRkqt3");
        assert_eq!(c.client_secret.expose_secret(), "7Fjfp0ZBr1KtDRbnfVdmIw");
        // Reserved characters arrive encoded: the encoded colon stays in the id.
        let c =
            parse_client_basic(Some(&basic("my+client%3A1:p%40ss%3Aw%2Frd%2B%25%C3%A9"))).unwrap();
        assert_eq!(c.client_id, "my client:1");
        assert_eq!(c.client_secret.expose_secret(), "p@ss:w/rd+%é");
        // The first colon splits; later raw colons belong to the secret.
        let c = parse_client_basic(Some(&basic("gateway:s3cret:x"))).unwrap();
        assert_eq!(c.client_secret.expose_secret(), "s3cret:x");
        // An empty secret is the caller's decision.
        let c = parse_client_basic(Some(&basic("public-client:"))).unwrap();
        assert_eq!(c.client_id, "public-client");
        assert_eq!(c.client_secret.expose_secret(), "");
        assert!(!format!(
            "{:?}",
            parse_client_basic(Some(&basic("id:t0psecret"))).unwrap()
        )
        .contains("t0psecret"));
    }

    #[test]
    fn client_credentials_refusals() {
        let cases = [
            (None, CredentialError::Missing),
            (
                Some("Bearer abc".to_owned()),
                CredentialError::UnsupportedScheme,
            ),
            (Some("Basic".to_owned()), CredentialError::Empty),
            (Some(basic(":secret")), CredentialError::Empty),
            (Some("Basic !!!".to_owned()), CredentialError::Malformed),
            (Some(basic("no-colon")), CredentialError::Malformed),
            (Some(basic("id%4:secret")), CredentialError::Malformed),
            (Some(basic("id:100%")), CredentialError::Malformed),
            (Some(basic("id:%ff")), CredentialError::Malformed),
            (
                Some(format!("Basic {}", "A".repeat(MAX_AUTHORIZATION_BYTES))),
                CredentialError::Malformed,
            ),
        ];
        for (value, want) in cases {
            assert_eq!(
                parse_client_basic(value.as_deref()).err(),
                Some(want),
                "{value:?}"
            );
        }
        let e = parse_client_basic(Some(&basic("id:%zz-t0psecret"))).unwrap_err();
        assert!(!format!("{e} {e:?}").contains("t0psecret"));
    }

    #[test]
    fn errors_never_echo_input() {
        let e = parse_authorization(Some(&format!("Weird {PAT}"))).unwrap_err();
        assert!(!format!("{e} {e:?}").contains(PAT));
    }
}
