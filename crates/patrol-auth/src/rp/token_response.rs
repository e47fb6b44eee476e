//! The token endpoint's answer (RFC 6749 §5.1, §5.2).

use secrecy::SecretString;
use serde::Deserialize;

use super::error::{error_response, oauth_error};
use super::RpError;

/// Tokens from a token response. `Debug` redacts every token.
#[derive(Clone)]
pub struct TokenSet {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub id_token: Option<SecretString>,
    pub expires_in: Option<u64>,
    pub scope: Option<String>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let present = |t: &Option<SecretString>| if t.is_some() { "[redacted]" } else { "None" };
        f.debug_struct("TokenSet")
            .field("access_token", &"[redacted]")
            .field("refresh_token", &present(&self.refresh_token))
            .field("id_token", &present(&self.id_token))
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

#[derive(Deserialize)]
struct RawTokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

fn parse_expires_in(v: Option<serde_json::Value>) -> Result<Option<u64>, RpError> {
    let bad = RpError::Invalid("malformed expires_in");
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(u), _) => Ok(Some(u)),
            (None, Some(f)) if f.is_finite() && f >= 0.0 && f <= u64::MAX as f64 => {
                Ok(Some(f as u64))
            }
            _ => Err(bad),
        },
        Some(serde_json::Value::String(s)) => s.trim().parse::<u64>().map(Some).map_err(|_| bad),
        Some(_) => Err(bad),
    }
}

/// Interprets a token-endpoint response. `sent` lists the secrets of the request, scrubbed
/// from any error text.
pub(crate) fn parse_token_response(
    status: u16,
    body: &[u8],
    sent: &[&str],
) -> Result<TokenSet, RpError> {
    if !(200..300).contains(&status) {
        return Err(error_response(status, body, sent, "token"));
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| RpError::Invalid("token response is not JSON"))?;
    if value.get("access_token").is_none() && value.get("error").is_some() {
        // Some providers answer errors with 200.
        return Err(
            oauth_error(body, sent).unwrap_or(RpError::Invalid("malformed token error response"))
        );
    }
    // serde messages may quote values, so they are never surfaced.
    let raw: RawTokenResponse =
        serde_json::from_value(value).map_err(|_| RpError::Invalid("malformed token response"))?;
    if raw.access_token.is_empty() {
        return Err(RpError::Invalid("token response without access_token"));
    }
    if raw
        .token_type
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
    {
        return Err(RpError::Invalid("token_type is not Bearer"));
    }
    let secret = |t: Option<String>| t.filter(|t| !t.is_empty()).map(SecretString::from);
    Ok(TokenSet {
        expires_in: parse_expires_in(raw.expires_in)?,
        access_token: SecretString::from(raw.access_token),
        refresh_token: secret(raw.refresh_token),
        id_token: secret(raw.id_token),
        scope: raw.scope.filter(|s| !s.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    #[test]
    fn token_set_debug_is_redacted() {
        let body = br#"{"access_token":"AT-secret-1","token_type":"Bearer","expires_in":"3600",
            "refresh_token":"RT-secret-2","id_token":"ID-secret-3","scope":"openid vso.pats"}"#;
        let t = parse_token_response(200, body, &[]).unwrap();
        assert_eq!(t.access_token.expose_secret(), "AT-secret-1");
        assert_eq!(
            t.refresh_token.as_ref().unwrap().expose_secret(),
            "RT-secret-2"
        );
        assert_eq!(t.id_token.as_ref().unwrap().expose_secret(), "ID-secret-3");
        assert_eq!(t.expires_in, Some(3600));
        assert_eq!(t.scope.as_deref(), Some("openid vso.pats"));
        let dbg = format!("{t:?} {:?}", t.clone());
        assert!(!dbg.contains("secret"), "{dbg}");
        assert!(dbg.contains("[redacted]") && dbg.contains("3600"));
    }

    #[test]
    fn token_response_shapes() {
        let ok = |body: &str| parse_token_response(200, body.as_bytes(), &[]);
        let t = ok(r#"{"access_token":"a","token_type":"bearer","expires_in":60}"#).unwrap();
        assert_eq!(t.expires_in, Some(60));
        assert!(t.refresh_token.is_none() && t.id_token.is_none() && t.scope.is_none());
        assert_eq!(
            ok(r#"{"access_token":"a","expires_in":59.9}"#)
                .unwrap()
                .expires_in,
            Some(59)
        );
        assert_eq!(
            ok(r#"{"access_token":"a","refresh_token":""}"#)
                .unwrap()
                .refresh_token
                .map(|_| ()),
            None
        );
        for bad in [
            r#"{"access_token":"a","expires_in":-1}"#,
            r#"{"access_token":"a","expires_in":"soon"}"#,
            r#"{"access_token":"a","expires_in":[1]}"#,
            r#"{"access_token":"a","token_type":"DPoP"}"#,
            r#"{"access_token":""}"#,
            r#"{"access_token":7}"#,
            r#"{"token_type":"Bearer"}"#,
            r#"not json"#,
            r#"[]"#,
        ] {
            assert!(matches!(ok(bad), Err(RpError::Invalid(_))), "{bad}");
        }
        // An error with status 200.
        assert!(ok(r#"{"error":"invalid_grant"}"#)
            .unwrap_err()
            .is_invalid_grant());
    }

    #[test]
    fn error_responses_are_sanitized() {
        let long = "x".repeat(500);
        let body = format!(
            r#"{{"error":"invalid_grant\u0007\"\\","error_description":"bad code CODE-123456 \n\r\u001b[31m{long}"}}"#
        );
        let e = parse_token_response(400, body.as_bytes(), &["CODE-123456"]).unwrap_err();
        let RpError::Rejected { error, description } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(error, "invalid_grant");
        let d = description.as_deref().unwrap();
        assert!(d.starts_with("bad code [redacted] [31mxxx"), "{d}");
        assert_eq!(d.chars().count(), 200);
        let shown = e.to_string();
        assert!(!shown.contains("CODE-123456") && !shown.chars().any(char::is_control));
        assert!(shown.starts_with("identity provider rejected the request: invalid_grant ("));

        assert!(matches!(
            parse_token_response(503, br#"{"error":"temporarily_unavailable"}"#, &[]),
            Err(RpError::Unavailable(_))
        ));
        assert!(matches!(
            parse_token_response(429, b"", &[]),
            Err(RpError::Unavailable(_))
        ));
        assert!(matches!(
            parse_token_response(400, b"<html>nope</html>", &[]),
            Err(RpError::Invalid(_))
        ));
        assert!(matches!(
            parse_token_response(302, b"", &[]),
            Err(RpError::Invalid(_))
        ));
        let e = parse_token_response(401, br#"{"error":"invalid_client"}"#, &[]).unwrap_err();
        assert_eq!(e.oauth_error(), Some("invalid_client"));
        assert_eq!(
            e.to_string(),
            "identity provider rejected the request: invalid_client"
        );
    }
}
