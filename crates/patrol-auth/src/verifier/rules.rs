//! The per-token rules of [`super::OidcVerifier`] that need no keys and no I/O.

use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use serde::Deserialize;
#[cfg(feature = "net")]
use sha2::Digest as _;

use super::AuthError;
#[cfg(feature = "net")]
use crate::claims::Claims;

/// Reads `iss` from the (not yet verified) payload, only to pick the issuer configuration.
pub(super) fn unverified_issuer(payload_b64: &str) -> Result<String, AuthError> {
    #[derive(Deserialize)]
    struct IssOnly {
        iss: Option<serde_json::Value>,
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload_b64.trim_end_matches('='))
        .map_err(|_| AuthError::Invalid("malformed payload"))?;
    let p: IssOnly =
        serde_json::from_slice(&bytes).map_err(|_| AuthError::Invalid("malformed payload"))?;
    match p.iss {
        Some(serde_json::Value::String(s)) => Ok(s),
        Some(_) => Err(AuthError::Invalid("malformed iss")),
        None => Err(AuthError::Invalid("missing iss")),
    }
}

/// The ID-token rules jsonwebtoken does not cover (OpenID Connect Core §3.1.3.7, §15.5.2):
/// `azp`, `iat` not in the future (at `now`, with `leeway`), and `nonce`.
#[cfg(feature = "net")]
pub(super) fn check_id_token(
    claims: &Claims,
    client_id: &str,
    expected_nonce: &str,
    leeway: u64,
    now: i64,
) -> Result<(), AuthError> {
    use subtle::ConstantTimeEq as _;
    if !claims.aud.iter().any(|a| a == client_id) {
        return Err(AuthError::Invalid("wrong audience"));
    }
    match claims.azp.as_deref() {
        Some(azp) if azp != client_id => return Err(AuthError::Invalid("wrong azp")),
        None if claims.aud.len() > 1 => return Err(AuthError::Invalid("missing azp")),
        _ => {}
    }
    let leeway = i64::try_from(leeway).unwrap_or(0);
    match claims.iat {
        Some(iat) if iat <= now.saturating_add(leeway) => {}
        Some(_) => return Err(AuthError::Invalid("issued in the future")),
        None => return Err(AuthError::Invalid("missing iat")),
    }
    let nonce = match claims.extra.get("nonce") {
        Some(serde_json::Value::String(n)) if !n.is_empty() => n,
        Some(_) => return Err(AuthError::Invalid("malformed nonce")),
        None => return Err(AuthError::Invalid("missing nonce")),
    };
    // Compare digests so that neither content nor length leaks through timing.
    let a = sha2::Sha256::digest(nonce.as_bytes());
    let b = sha2::Sha256::digest(expected_nonce.as_bytes());
    if !bool::from(a.ct_eq(&b)) {
        return Err(AuthError::Invalid("wrong nonce"));
    }
    Ok(())
}

pub(super) fn typ_matches(typ: Option<&str>, required: &str) -> bool {
    let Some(typ) = typ else { return false };
    let typ = typ.trim();
    let required = required.trim();
    if typ.eq_ignore_ascii_case(required) {
        return true;
    }
    match (typ.get(..12), typ.get(12..)) {
        (Some(prefix), Some(rest)) => {
            prefix.eq_ignore_ascii_case("application/") && rest.eq_ignore_ascii_case(required)
        }
        _ => false,
    }
}

pub(super) fn reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::ExpiredSignature => "expired",
        ErrorKind::ImmatureSignature => "not yet valid",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::MissingRequiredClaim(c) => match c.as_str() {
            "exp" => "missing exp",
            "sub" => "missing sub",
            "aud" => "missing aud",
            _ => "missing required claim",
        },
        ErrorKind::InvalidClaimFormat(_) => "malformed claim",
        ErrorKind::InvalidAlgorithm => "algorithm not allowed",
        ErrorKind::Json(_) => "malformed claims",
        _ => "malformed token",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_matching() {
        assert!(typ_matches(Some("at+jwt"), "at+jwt"));
        assert!(typ_matches(Some("AT+JWT"), "at+jwt"));
        assert!(typ_matches(Some("application/at+jwt"), "at+jwt"));
        assert!(typ_matches(Some("Application/AT+JWT"), "at+jwt"));
        assert!(!typ_matches(Some("JWT"), "at+jwt"));
        assert!(!typ_matches(Some("application/jwt"), "at+jwt"));
        assert!(!typ_matches(Some("applicationXat+jwt"), "at+jwt"));
        assert!(!typ_matches(None, "at+jwt"));
        assert!(!typ_matches(Some("é"), "at+jwt"));
    }

    #[test]
    fn id_token_iat_is_judged_at_now() {
        let claims: Claims = serde_json::from_value(serde_json::json!({
            "iss": "https://idp", "aud": "web", "sub": "s", "nonce": "n", "iat": 1_000_000,
        }))
        .unwrap();
        let check = |now| check_id_token(&claims, "web", "n", 60, now);
        assert!(check(1_000_000).is_ok());
        assert!(check(999_940).is_ok(), "within the leeway");
        assert!(matches!(
            check(999_939),
            Err(AuthError::Invalid("issued in the future"))
        ));
    }

    #[test]
    fn unverified_issuer_shapes() {
        let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        assert_eq!(unverified_issuer(&enc(r#"{"iss":"x"}"#)).unwrap(), "x");
        assert!(unverified_issuer(&enc(r#"{"iss":["x"]}"#)).is_err());
        assert!(unverified_issuer(&enc(r#"{}"#)).is_err());
        assert!(unverified_issuer("!!!").is_err());
        assert!(unverified_issuer(&enc("[1,2]")).is_err());
    }
}
