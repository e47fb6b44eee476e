//! Validation of OIDC access tokens from configured issuers (discovery + JWKS).
//!
//! security.md items 10 and 13-15. Nothing here ever logs a token or a claim value that could
//! be one; failure reasons are static strings.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use sha2::Digest as _;

use crate::claims::{classify, classify_id_token, Claims, PrincipalKind};
use crate::jwks::{self, CachedKey};

/// Tokens longer than this are rejected before any parsing.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Upper bound for the configurable clock-skew leeway.
pub const MAX_LEEWAY_SECS: u64 = 60;
/// Default minimum interval between unknown-`kid` refetches, per issuer.
pub const DEFAULT_MIN_REFETCH: Duration = Duration::from_secs(60);
/// Cached keys older than this are refreshed opportunistically (still at most once per
/// refetch interval), so keys removed at the provider stop working without restarts.
const KEY_MAX_AGE: Duration = Duration::from_secs(15 * 60);
/// While an issuer has no keys at all, retry a failing provider at most this often.
const EMPTY_RETRY: Duration = Duration::from_secs(2);

/// Algorithms an issuer may be pinned to.
const SUPPORTED_ALGS: [Algorithm; 5] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
];

fn default_algs() -> Vec<String> {
    vec!["RS256".to_string()]
}

fn default_leeway() -> u64 {
    MAX_LEEWAY_SECS
}

/// One trusted token issuer.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// Exact expected `iss`.
    pub issuer: String,
    /// Defaults to `issuer` + `/.well-known/openid-configuration`.
    #[serde(default)]
    pub discovery_url: Option<String>,
    /// Allowed `aud` values (any match).
    pub audiences: Vec<String>,
    /// Pinned algorithms; default `["RS256"]`. Supported: RS256, RS384, RS512, PS256, ES256.
    #[serde(default = "default_algs")]
    pub algorithms: Vec<String>,
    /// Clock-skew leeway in seconds, clamped to at most 60; default 60.
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
    /// If set (e.g. `at+jwt`), the header `typ` must match, case-insensitively, also as
    /// `application/at+jwt`.
    #[serde(default)]
    pub required_typ: Option<String>,
    /// If set, `tid` must equal it.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Keycloak-style rule: `preferred_username` starting with this marks a service account.
    #[serde(default)]
    pub service_account_username_prefix: Option<String>,
}

impl IssuerConfig {
    /// The discovery document URL.
    pub fn discovery_url(&self) -> String {
        match &self.discovery_url {
            Some(u) => u.clone(),
            None => format!(
                "{}/.well-known/openid-configuration",
                self.issuer.trim_end_matches('/')
            ),
        }
    }

    /// The pinned algorithms this crate supports (unknown names are ignored).
    fn pinned_algorithms(&self) -> Vec<Algorithm> {
        let mut out = Vec::new();
        for name in &self.algorithms {
            match name.trim().parse::<Algorithm>() {
                Ok(a) if SUPPORTED_ALGS.contains(&a) => out.push(a),
                _ => tracing::warn!(
                    issuer = %self.issuer,
                    algorithm = %name,
                    "ignoring unsupported JWT algorithm in issuer configuration"
                ),
            }
        }
        out
    }
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The token is not acceptable. The reason is for logs and audit, never for clients.
    #[error("invalid token")]
    Invalid(&'static str),
    /// No verification keys could be obtained (the server answers 503; fail closed).
    #[error("identity provider unavailable")]
    Unavailable,
}

/// A token that passed every check.
#[derive(Clone, Debug)]
pub struct VerifiedToken {
    pub issuer: String,
    /// `oid` if present, else `sub`. Together with `issuer` this keys the user.
    pub subject: String,
    pub claims: Claims,
    pub principal: PrincipalKind,
}

struct KeySet {
    keys: HashMap<String, CachedKey>,
    fetched_at: Instant,
}

#[derive(Default)]
struct RefreshState {
    last_attempt: Option<Instant>,
    jwks_uri: Option<String>,
}

struct IssuerState {
    cfg: IssuerConfig,
    algorithms: Vec<Algorithm>,
    leeway: u64,
    keys: RwLock<Option<Arc<KeySet>>>,
    refresh: tokio::sync::Mutex<RefreshState>,
}

impl IssuerState {
    fn cached(&self) -> Option<Arc<KeySet>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

struct Inner {
    issuers: Vec<IssuerState>,
    http: reqwest::Client,
    min_refetch_ms: AtomicU64,
    fetch_count: AtomicU64,
}

/// Validates bearer access tokens against the configured issuers. Cheap to clone.
#[derive(Clone)]
pub struct OidcVerifier {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let issuers: Vec<&str> = self
            .inner
            .issuers
            .iter()
            .map(|i| i.cfg.issuer.as_str())
            .collect();
        f.debug_struct("OidcVerifier")
            .field("issuers", &issuers)
            .finish()
    }
}

/// What a JWT is being validated as.
#[derive(Clone, Copy)]
enum Purpose<'a> {
    /// A bearer access token for the API.
    Access,
    /// An OpenID Connect ID token for the relying party `client_id`.
    IdToken { client_id: &'a str, nonce: &'a str },
}

/// `mode` of a refresh attempt.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// A token named a `kid` we do not have.
    UnknownKid,
    /// Cached keys are old; refresh if nobody else is doing it.
    Stale,
    /// `refresh_all`.
    WarmUp,
}

impl OidcVerifier {
    pub fn new(issuers: Vec<IssuerConfig>, http: reqwest::Client) -> Self {
        let issuers = issuers
            .into_iter()
            .map(|cfg| IssuerState {
                algorithms: cfg.pinned_algorithms(),
                leeway: cfg.leeway_secs.min(MAX_LEEWAY_SECS),
                cfg,
                keys: RwLock::new(None),
                refresh: tokio::sync::Mutex::new(RefreshState::default()),
            })
            .collect();
        OidcVerifier {
            inner: Arc::new(Inner {
                issuers,
                http,
                min_refetch_ms: AtomicU64::new(DEFAULT_MIN_REFETCH.as_millis() as u64),
                fetch_count: AtomicU64::new(0),
            }),
        }
    }

    /// Unknown-`kid` refetches happen at most once per this interval per issuer (default 60 s).
    pub fn with_min_refetch_interval(self, d: Duration) -> Self {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.inner.min_refetch_ms.store(ms, Ordering::Relaxed);
        self
    }

    fn min_refetch(&self) -> Duration {
        Duration::from_millis(self.inner.min_refetch_ms.load(Ordering::Relaxed))
    }

    /// Best-effort key fetch for every issuer (startup warm-up, readiness). Issuers fetched
    /// within the refetch interval are skipped.
    pub async fn refresh_all(&self) {
        for state in &self.inner.issuers {
            self.refresh(state, Trigger::WarmUp).await;
        }
    }

    /// True when every configured issuer has a cached key set.
    pub fn has_keys(&self) -> bool {
        self.inner.issuers.iter().all(|s| s.cached().is_some())
    }

    /// Outbound discovery + JWKS requests made so far.
    pub fn jwks_fetch_count(&self) -> u64 {
        self.inner.fetch_count.load(Ordering::Relaxed)
    }

    /// Validates a bearer access token.
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, AuthError> {
        self.verify_jwt(token, Purpose::Access).await
    }

    /// Validates an OpenID Connect ID token from a configured issuer, for the relying party
    /// (web sign-in).
    ///
    /// Signature with that issuer's JWKS (same cache and refetch rules as access tokens, same
    /// pinned algorithms); `iss` exact; `aud` contains `client_id`, and when `aud` has several
    /// values or `azp` is present, `azp == client_id`; `exp`/`nbf`/`iat` with the issuer's
    /// leeway; `nonce` present and equal to `expected_nonce` (constant time); `tid` when the
    /// issuer pins a tenant. The issuer's `required_typ` is not applied; instead a header
    /// `typ` of `at+jwt` / `application/at+jwt` is refused (an access token is not an ID token).
    ///
    /// `subject` is computed as for access tokens (`oid`, else `sub`), so a web sign-in and an
    /// API call by the same person resolve to the same user.
    pub async fn verify_id_token(
        &self,
        id_token: &str,
        client_id: &str,
        expected_nonce: &str,
    ) -> Result<VerifiedToken, AuthError> {
        if client_id.is_empty() {
            return Err(AuthError::Invalid(
                "no client_id to check the audience against",
            ));
        }
        if expected_nonce.is_empty() {
            return Err(AuthError::Invalid("no expected nonce"));
        }
        self.verify_jwt(
            id_token,
            Purpose::IdToken {
                client_id,
                nonce: expected_nonce,
            },
        )
        .await
    }

    async fn verify_jwt(
        &self,
        token: &str,
        purpose: Purpose<'_>,
    ) -> Result<VerifiedToken, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Invalid("token too large"));
        }
        let mut parts = token.split('.');
        let (Some(_), Some(payload), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Invalid("not a JWS compact token"));
        };
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthError::Invalid("malformed or unsupported header"))?;
        let iss = unverified_issuer(payload)?;
        let state = self
            .inner
            .issuers
            .iter()
            .find(|s| s.cfg.issuer == iss)
            .ok_or(AuthError::Invalid("unknown issuer"))?;
        if !state.algorithms.contains(&header.alg) {
            return Err(AuthError::Invalid("algorithm not allowed"));
        }
        match purpose {
            Purpose::Access => {
                if let Some(required) = &state.cfg.required_typ {
                    if !typ_matches(header.typ.as_deref(), required) {
                        return Err(AuthError::Invalid("wrong typ"));
                    }
                }
            }
            Purpose::IdToken { .. } => {
                if typ_matches(header.typ.as_deref(), "at+jwt") {
                    return Err(AuthError::Invalid("access token presented as ID token"));
                }
            }
        }
        if header.crit.is_some() {
            return Err(AuthError::Invalid("unsupported crit header"));
        }
        let kid = header
            .kid
            .as_deref()
            .filter(|k| !k.is_empty())
            .ok_or(AuthError::Invalid("missing kid"))?;
        let keys = self.keys_with(state, kid).await?;
        let key = keys
            .keys
            .get(kid)
            .ok_or(AuthError::Invalid("unknown kid"))?;
        if !key.accepts(header.alg) {
            return Err(AuthError::Invalid("key does not match algorithm"));
        }

        let mut validation = Validation::new(header.alg);
        validation.leeway = state.leeway;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_issuer(&[state.cfg.issuer.as_str()]);
        match purpose {
            Purpose::Access => {
                validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
                validation.set_audience(&state.cfg.audiences);
            }
            Purpose::IdToken { client_id, .. } => {
                // `iat` is checked in `check_id_token`.
                validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
                validation.set_audience(&[client_id]);
            }
        }
        let data = jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
            .map_err(|e| AuthError::Invalid(reason(e.kind())))?;
        let claims = data.claims;

        // Belt and braces on top of jsonwebtoken's checks.
        if claims.iss != state.cfg.issuer {
            return Err(AuthError::Invalid("wrong issuer"));
        }
        if claims.exp.is_none() {
            return Err(AuthError::Invalid("missing exp"));
        }
        let sub = match claims.sub.as_deref() {
            Some(s) if !s.is_empty() => s,
            _ => return Err(AuthError::Invalid("missing sub")),
        };
        if let Some(tid) = &state.cfg.tenant_id {
            if claims.tid.as_deref() != Some(tid.as_str()) {
                return Err(AuthError::Invalid("wrong tenant"));
            }
        }
        let principal = match purpose {
            Purpose::Access => classify(&claims, &state.cfg),
            Purpose::IdToken { client_id, nonce } => {
                check_id_token(&claims, client_id, nonce, state.leeway)?;
                classify_id_token(&claims, &state.cfg)
            }
        };
        let subject = match claims.oid.as_deref() {
            Some(o) if !o.is_empty() => o.to_owned(),
            _ => sub.to_owned(),
        };
        Ok(VerifiedToken {
            issuer: state.cfg.issuer.clone(),
            subject,
            claims,
            principal,
        })
    }

    /// Returns a key set for `state`, refetching (rate-limited) when `kid` is not in the cache.
    async fn keys_with(&self, state: &IssuerState, kid: &str) -> Result<Arc<KeySet>, AuthError> {
        if let Some(keys) = state.cached() {
            if keys.keys.contains_key(kid) {
                if keys.fetched_at.elapsed() > KEY_MAX_AGE {
                    self.refresh(state, Trigger::Stale).await;
                    return state.cached().ok_or(AuthError::Unavailable);
                }
                return Ok(keys);
            }
        }
        self.refresh(state, Trigger::UnknownKid).await;
        state.cached().ok_or(AuthError::Unavailable)
    }

    /// Fetches the issuer's keys unless the rate limit forbids it. A successful fetch replaces
    /// the key set; a failed one keeps whatever was cached.
    async fn refresh(&self, state: &IssuerState, trigger: Trigger) {
        let mut guard = match trigger {
            // Somebody is already refreshing: keep serving the (still valid) cache.
            Trigger::Stale => match state.refresh.try_lock() {
                Ok(g) => g,
                Err(_) => return,
            },
            Trigger::UnknownKid | Trigger::WarmUp => state.refresh.lock().await,
        };
        let cached = state.cached();
        let interval = match &cached {
            Some(_) => self.min_refetch(),
            None => self.min_refetch().min(EMPTY_RETRY),
        };
        if let Some(last) = guard.last_attempt {
            if last.elapsed() < interval {
                return;
            }
        }
        if trigger == Trigger::Stale
            && cached
                .as_ref()
                .is_some_and(|k| k.fetched_at.elapsed() <= KEY_MAX_AGE)
        {
            return;
        }
        guard.last_attempt = Some(Instant::now());
        match self.fetch(state, &mut guard).await {
            Ok(keys) => {
                tracing::debug!(issuer = %state.cfg.issuer, keys = keys.len(), "refreshed JWKS");
                let set = Arc::new(KeySet {
                    keys,
                    fetched_at: Instant::now(),
                });
                *state.keys.write().unwrap_or_else(|e| e.into_inner()) = Some(set);
            }
            Err(e) => {
                tracing::warn!(
                    issuer = %state.cfg.issuer,
                    error = %e,
                    have_cached_keys = cached.is_some(),
                    "JWKS refresh failed"
                );
            }
        }
    }

    async fn fetch(
        &self,
        state: &IssuerState,
        rs: &mut RefreshState,
    ) -> Result<HashMap<String, CachedKey>, jwks::FetchError> {
        let http = &self.inner.http;
        let counter = &self.inner.fetch_count;
        if let Some(uri) = rs.jwks_uri.clone() {
            match jwks::fetch_keys(http, &uri, counter).await {
                Ok(keys) => return Ok(keys),
                // Unreachable provider: rediscovering would only double the wait.
                Err(e @ jwks::FetchError::Http(_)) => return Err(e),
                // The provider may have moved its JWKS; rediscover below.
                Err(e) => {
                    tracing::debug!(issuer = %state.cfg.issuer, error = %e, "JWKS fetch failed; rediscovering")
                }
            }
        }
        let uri =
            jwks::discover_jwks_uri(http, &state.cfg.discovery_url(), &state.cfg.issuer, counter)
                .await?;
        rs.jwks_uri = Some(uri.clone());
        jwks::fetch_keys(http, &uri, counter).await
    }
}

/// Reads `iss` from the (not yet verified) payload, only to pick the issuer configuration.
fn unverified_issuer(payload_b64: &str) -> Result<String, AuthError> {
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
/// `azp`, `iat` not in the future, and `nonce`.
fn check_id_token(
    claims: &Claims,
    client_id: &str,
    expected_nonce: &str,
    leeway: u64,
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
    let now = chrono::Utc::now().timestamp();
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

fn typ_matches(typ: Option<&str>, required: &str) -> bool {
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

fn reason(kind: &ErrorKind) -> &'static str {
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
    fn config_defaults_and_algorithms() {
        let cfg: IssuerConfig =
            serde_json::from_str(r#"{"issuer":"https://idp/","audiences":["a"]}"#).unwrap();
        assert_eq!(cfg.algorithms, vec!["RS256"]);
        assert_eq!(cfg.leeway_secs, 60);
        assert_eq!(
            cfg.discovery_url(),
            "https://idp/.well-known/openid-configuration"
        );
        let cfg = IssuerConfig {
            algorithms: vec![
                "HS256".into(),
                "none".into(),
                "ES256".into(),
                "PS256".into(),
            ],
            ..cfg
        };
        assert_eq!(
            cfg.pinned_algorithms(),
            vec![Algorithm::ES256, Algorithm::PS256]
        );
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
