//! JWK sets: fetching them (through the issuer's discovery document), turning JWKs into
//! verification keys, and keeping each issuer's key set fresh.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use crate::fetch::{self, Discovery, DiscoveryDocument, FetchError, HttpClient};

/// Timeout for each outbound discovery/JWKS request.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// Most keys taken from one JWKS document.
const MAX_KEYS: usize = 64;
/// Cached keys older than this are refreshed opportunistically (still at most once per
/// refetch interval), so keys removed at the provider stop working without restarts.
const KEY_MAX_AGE: Duration = Duration::from_secs(15 * 60);
/// While an issuer has no keys at all, retry a failing provider at most this often.
const EMPTY_RETRY: Duration = Duration::from_secs(2);

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
struct RawJwks {
    keys: Vec<serde_json::Value>,
}

/// The JWKS URI of a discovery document: an absolute http(s) URL.
fn jwks_uri(doc: DiscoveryDocument) -> Result<String, FetchError> {
    let uri = doc.jwks_uri.ok_or(FetchError::BadEndpoint("jwks_uri"))?;
    match url::Url::parse(&uri) {
        Ok(u) if matches!(u.scheme(), "https" | "http") => Ok(uri),
        _ => Err(FetchError::BadEndpoint("jwks_uri")),
    }
}

/// Fetches a JWKS and keeps the usable signature keys, by `kid`.
async fn fetch_keys(
    http: &HttpClient,
    jwks_uri: &str,
) -> Result<HashMap<String, CachedKey>, FetchError> {
    let raw: RawJwks = fetch::get_json(http, jwks_uri, HTTP_TIMEOUT).await?;
    let keys = parse_keys(raw.keys);
    if keys.is_empty() {
        return Err(FetchError::NoKeys);
    }
    Ok(keys)
}

/// An issuer's keys as last fetched.
pub(crate) struct KeySet {
    keys: HashMap<String, CachedKey>,
    fetched_at: DateTime<Utc>,
}

/// How long ago `then` was, by the injected clock's `now` (never negative).
fn since(now: DateTime<Utc>, then: DateTime<Utc>) -> Duration {
    (now - then).to_std().unwrap_or(Duration::ZERO)
}

impl KeySet {
    pub(crate) fn get(&self, kid: &str) -> Option<&CachedKey> {
        self.keys.get(kid)
    }

    #[cfg(test)]
    pub(crate) fn empty_at(fetched_at: DateTime<Utc>) -> Self {
        KeySet {
            keys: HashMap::new(),
            fetched_at,
        }
    }
}

/// Why a refresh is attempted.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// A token named a `kid` we do not have.
    UnknownKid,
    /// Cached keys are old; refresh if nobody else is doing it.
    Stale,
    /// Startup warm-up or readiness.
    WarmUp,
}

/// One issuer's signing keys, kept fresh: fetched through discovery on first use, refetched
/// when a token names an unknown `kid` or the set is older than [`KEY_MAX_AGE`], at most once
/// per refetch interval. A failed fetch keeps the previous set.
pub(crate) struct IssuerKeys {
    issuer: String,
    /// The `jwks_uri`, kept until a JWKS fetch from it fails for another reason than the
    /// network (the provider may have moved it).
    discovery: Discovery<String>,
    keys: RwLock<Option<Arc<KeySet>>>,
    /// Serialises refreshes; holds the time of the last attempt.
    last_attempt: tokio::sync::Mutex<Option<DateTime<Utc>>>,
    jwks_fetches: AtomicU64,
}

impl IssuerKeys {
    pub(crate) fn new(issuer: &str, discovery_url: Option<&str>) -> Self {
        IssuerKeys {
            issuer: issuer.to_owned(),
            discovery: Discovery::new(issuer, discovery_url, HTTP_TIMEOUT, None, jwks_uri),
            keys: RwLock::new(None),
            last_attempt: tokio::sync::Mutex::new(None),
            jwks_fetches: AtomicU64::new(0),
        }
    }

    pub(crate) fn cached(&self) -> Option<Arc<KeySet>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Outbound discovery + JWKS requests made so far.
    pub(crate) fn fetch_count(&self) -> u64 {
        self.jwks_fetches.load(Ordering::Relaxed) + self.discovery.fetch_count()
    }

    /// A key set for a token naming `kid`, refetching (rate-limited) when `kid` is not in the
    /// cache or the cache is old. `None` while no key set could ever be fetched.
    pub(crate) async fn with_kid(
        &self,
        http: &HttpClient,
        kid: &str,
        min_refetch: Duration,
        now: DateTime<Utc>,
    ) -> Option<Arc<KeySet>> {
        if let Some(keys) = self.cached() {
            if keys.keys.contains_key(kid) {
                if since(now, keys.fetched_at) > KEY_MAX_AGE {
                    self.refresh(http, Trigger::Stale, min_refetch, now).await;
                    return self.cached();
                }
                return Some(keys);
            }
        }
        self.refresh(http, Trigger::UnknownKid, min_refetch, now)
            .await;
        self.cached()
    }

    /// Fetches the keys unless the rate limit forbids it. A successful fetch replaces the key
    /// set; a failed one keeps whatever was cached.
    pub(crate) async fn refresh(
        &self,
        http: &HttpClient,
        trigger: Trigger,
        min_refetch: Duration,
        now: DateTime<Utc>,
    ) {
        let mut last_attempt = match trigger {
            // Somebody is already refreshing: keep serving the (still valid) cache.
            Trigger::Stale => match self.last_attempt.try_lock() {
                Ok(g) => g,
                Err(_) => return,
            },
            Trigger::UnknownKid | Trigger::WarmUp => self.last_attempt.lock().await,
        };
        let cached = self.cached();
        let interval = match &cached {
            Some(_) => min_refetch,
            None => min_refetch.min(EMPTY_RETRY),
        };
        if last_attempt.is_some_and(|last| since(now, last) < interval) {
            return;
        }
        if trigger == Trigger::Stale
            && cached
                .as_ref()
                .is_some_and(|k| since(now, k.fetched_at) <= KEY_MAX_AGE)
        {
            return;
        }
        *last_attempt = Some(now);
        match self.fetch(http).await {
            Ok(keys) => {
                tracing::debug!(issuer = %self.issuer, keys = keys.len(), "refreshed JWKS");
                let set = Arc::new(KeySet {
                    keys,
                    fetched_at: now,
                });
                *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Some(set);
            }
            Err(e) => {
                tracing::warn!(
                    issuer = %self.issuer,
                    error = %e,
                    have_cached_keys = cached.is_some(),
                    "JWKS refresh failed"
                );
            }
        }
    }

    async fn fetch(&self, http: &HttpClient) -> Result<HashMap<String, CachedKey>, FetchError> {
        if let Some(uri) = self.discovery.cached() {
            self.jwks_fetches.fetch_add(1, Ordering::Relaxed);
            match fetch_keys(http, &uri).await {
                Ok(keys) => return Ok(keys),
                // Unreachable provider: rediscovering would only double the wait.
                Err(e @ FetchError::Http(_)) => return Err(e),
                // The provider may have moved its JWKS; rediscover below.
                Err(e) => {
                    tracing::debug!(issuer = %self.issuer, error = %e, "JWKS fetch failed; rediscovering")
                }
            }
            let uri = self.discovery.refetch(http).await?;
            self.jwks_fetches.fetch_add(1, Ordering::Relaxed);
            return fetch_keys(http, &uri).await;
        }
        let uri = self.discovery.get(http).await?;
        self.jwks_fetches.fetch_add(1, Ordering::Relaxed);
        fetch_keys(http, &uri).await
    }
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
