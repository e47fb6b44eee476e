//! Fetching OIDC discovery documents and JWK sets, and turning JWKs into verification keys.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

/// Timeout for each outbound discovery/JWKS request.
pub(crate) const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest discovery or JWKS document we are willing to read.
const MAX_DOC_BYTES: usize = 512 * 1024;
/// Most keys taken from one JWKS document.
const MAX_KEYS: usize = 64;

/// The kind of public key, to match against a token's `alg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Rsa,
    EcP256,
}

pub(crate) struct CachedKey {
    pub(crate) key: DecodingKey,
    pub(crate) kind: KeyKind,
    /// The JWK's own `alg`, when it pins one.
    pub(crate) alg: Option<Algorithm>,
}

impl CachedKey {
    /// Whether this key may verify a token signed with `alg`.
    pub(crate) fn accepts(&self, alg: Algorithm) -> bool {
        if self.alg.is_some_and(|a| a != alg) {
            return false;
        }
        match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => self.kind == KeyKind::Rsa,
            Algorithm::ES256 => self.kind == KeyKind::EcP256,
            _ => false,
        }
    }
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<serde_json::Value>,
}

/// Why a fetch failed; logged, never shown to clients.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("http error: {0}")]
    Http(#[from] reqwest::Error),
    #[error("unexpected status {0}")]
    Status(u16),
    #[error("document too large")]
    TooLarge,
    #[error("malformed document: {0}")]
    Json(#[from] serde_json::Error),
    #[error("discovery issuer mismatch")]
    IssuerMismatch,
    #[error("invalid jwks_uri")]
    BadJwksUri,
    #[error("no usable signing keys")]
    NoKeys,
}

/// Fetches a JSON document with a short timeout and a size cap.
async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    counter: &AtomicU64,
) -> Result<T, FetchError> {
    counter.fetch_add(1, Ordering::Relaxed);
    let mut resp = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .timeout(HTTP_TIMEOUT)
        .send()
        .await?;
    if !resp.status().is_success() {
        return Err(FetchError::Status(resp.status().as_u16()));
    }
    if resp
        .content_length()
        .is_some_and(|l| l > MAX_DOC_BYTES as u64)
    {
        return Err(FetchError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > MAX_DOC_BYTES {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(serde_json::from_slice(&body)?)
}

/// Reads the discovery document and returns its `jwks_uri`, checking that the document's
/// `issuer` is exactly the configured one (OpenID Connect Discovery §4.3).
pub(crate) async fn discover_jwks_uri(
    http: &reqwest::Client,
    discovery_url: &str,
    expected_issuer: &str,
    counter: &AtomicU64,
) -> Result<String, FetchError> {
    let doc: Discovery = get_json(http, discovery_url, counter).await?;
    if doc.issuer != expected_issuer {
        return Err(FetchError::IssuerMismatch);
    }
    let uri = url::Url::parse(&doc.jwks_uri).map_err(|_| FetchError::BadJwksUri)?;
    if !matches!(uri.scheme(), "https" | "http") {
        return Err(FetchError::BadJwksUri);
    }
    Ok(doc.jwks_uri)
}

/// Fetches a JWKS and keeps the usable signature keys, by `kid`.
pub(crate) async fn fetch_keys(
    http: &reqwest::Client,
    jwks_uri: &str,
    counter: &AtomicU64,
) -> Result<HashMap<String, CachedKey>, FetchError> {
    let raw: RawJwks = get_json(http, jwks_uri, counter).await?;
    let keys = parse_keys(raw.keys);
    if keys.is_empty() {
        return Err(FetchError::NoKeys);
    }
    Ok(keys)
}

/// Turns raw JWK objects into verification keys. Keys without `kid`, encryption keys, symmetric
/// (`oct`) keys and unsupported types or curves are skipped, never trusted.
pub(crate) fn parse_keys(raw: Vec<serde_json::Value>) -> HashMap<String, CachedKey> {
    let mut out = HashMap::new();
    for value in raw.into_iter().take(MAX_KEYS) {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
            continue;
        };
        if let Some(key) = convert(&jwk) {
            if let Some(kid) = jwk.common.key_id.filter(|k| !k.is_empty()) {
                out.insert(kid, key);
            }
        }
    }
    out
}

fn convert(jwk: &Jwk) -> Option<CachedKey> {
    use jsonwebtoken::jwk::PublicKeyUse;
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return None;
    }
    let alg = match jwk.common.key_algorithm {
        None => None,
        Some(a) => Some(a.to_string().parse::<Algorithm>().ok()?),
    };
    let (key, kind) = match &jwk.algorithm {
        AlgorithmParameters::RSA(p) => (
            DecodingKey::from_rsa_components(&p.n, &p.e).ok()?,
            KeyKind::Rsa,
        ),
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => (
            DecodingKey::from_ec_components(&p.x, &p.y).ok()?,
            KeyKind::EcP256,
        ),
        _ => return None,
    };
    Some(CachedKey { key, kind, alg })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_keys_skips_unusable() {
        let keys = parse_keys(vec![
            json!({"kty":"RSA","kid":"rsa1","use":"sig","alg":"RS256","n":"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw","e":"AQAB"}),
            json!({"kty":"RSA","kid":"enc1","use":"enc","n":"sXch","e":"AQAB"}),
            json!({"kty":"oct","kid":"hmac","k":"c2VjcmV0"}),
            json!({"kty":"RSA","n":"sXch","e":"AQAB"}),
            json!({"kty":"weird","kid":"w"}),
            json!("not an object"),
        ]);
        assert_eq!(keys.len(), 1);
        let k = keys.get("rsa1").unwrap();
        assert!(k.accepts(Algorithm::RS256));
        assert!(!k.accepts(Algorithm::RS384));
        assert!(!k.accepts(Algorithm::ES256));
        assert!(!k.accepts(Algorithm::HS256));
    }
}
