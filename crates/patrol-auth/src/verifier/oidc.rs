//! The verifier itself: each configured issuer with its keys (discovery and
//! JWKS over HTTP), and the checks a token goes through.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, Validation};
use patrol_core::clock::Clock;

use super::accepted::{fingerprint, Accepted};
use super::rules::{check_id_token, reason};
use super::unverified::check_header;
use super::{
    read_unverified, AuthError, IssuerConfig, Purpose, SubjectClaim, UnverifiedJwt, VerifiedToken,
    DEFAULT_MIN_REFETCH, MAX_LEEWAY_SECS,
};
use crate::claims::{classify, classify_id_token, Claims, PrincipalKind};
use crate::fetch::HttpClient;
use crate::jwks::{IssuerKeys, KeySet, Trigger};

/// A configured issuer and its keys.
struct Issuer {
    cfg: IssuerConfig,
    algorithms: Vec<Algorithm>,
    leeway: u64,
    keys: IssuerKeys,
}

struct Inner {
    issuers: Vec<Issuer>,
    http: HttpClient,
    clock: Arc<dyn Clock>,
    min_refetch_ms: AtomicU64,
    /// Access tokens verified lately (see `accepted.rs`).
    accepted: Accepted,
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

impl OidcVerifier {
    /// A verifier trusting `issuers`, fetching their keys with `http` (see
    /// [`crate::http_client`]). `clock` judges the ID-token rule "`iat` not in the future";
    /// `exp` and `nbf` are checked by jsonwebtoken against the system time.
    pub fn new(issuers: Vec<IssuerConfig>, http: HttpClient, clock: Arc<dyn Clock>) -> Self {
        let issuers = issuers
            .into_iter()
            .map(|cfg| Issuer {
                algorithms: cfg.pinned_algorithms(),
                leeway: cfg.leeway_secs.min(MAX_LEEWAY_SECS),
                keys: IssuerKeys::new(&cfg.issuer, cfg.discovery_url.as_deref()),
                cfg,
            })
            .collect();
        OidcVerifier {
            inner: Arc::new(Inner {
                issuers,
                http,
                clock,
                min_refetch_ms: AtomicU64::new(DEFAULT_MIN_REFETCH.as_millis() as u64),
                accepted: Accepted::default(),
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
        for issuer in &self.inner.issuers {
            issuer
                .keys
                .refresh(
                    &self.inner.http,
                    Trigger::WarmUp,
                    self.min_refetch(),
                    self.inner.clock.now(),
                )
                .await;
        }
    }

    /// True when every configured issuer has a cached key set.
    pub fn has_keys(&self) -> bool {
        self.inner.issuers.iter().all(|i| i.keys.cached().is_some())
    }

    /// Outbound discovery + JWKS requests made so far.
    pub fn jwks_fetch_count(&self) -> u64 {
        self.inner
            .issuers
            .iter()
            .map(|i| i.keys.fetch_count())
            .sum()
    }

    /// Validates a bearer access token. One that passed lately is accepted
    /// again without its signature check while it has not expired and the
    /// issuer's keys have not been refetched, for at most a minute
    /// (`accepted.rs`).
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, AuthError> {
        let fp = fingerprint(token);
        let now = self.inner.clock.now();
        let current_keys = |i: usize| self.inner.issuers.get(i).and_then(|s| s.keys.cached());
        let wall_now = jsonwebtoken::get_current_timestamp() as i64;
        if let Some(v) = self.inner.accepted.get(&fp, now, wall_now, current_keys) {
            return Ok(v);
        }
        let (verified, issuer, keys) = self.verify_full(token, Purpose::Access).await?;
        let leeway = self.inner.issuers[issuer].leeway;
        self.inner
            .accepted
            .remember(fp, &verified, issuer, &keys, leeway, now);
        Ok(verified)
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
    /// `subject` is computed as for access tokens (the issuer's subject claim), so a web
    /// sign-in and an API call by the same person resolve to the same user.
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
        Ok(self.verify_full(token, purpose).await?.0)
    }

    /// Every check; on success also the issuer's index and the key set that
    /// verified the token.
    async fn verify_full(
        &self,
        token: &str,
        purpose: Purpose<'_>,
    ) -> Result<(VerifiedToken, usize, Arc<KeySet>), AuthError> {
        let UnverifiedJwt {
            header,
            issuer: iss,
        } = read_unverified(token)?;
        let (index, issuer) = self
            .inner
            .issuers
            .iter()
            .enumerate()
            .find(|(_, s)| s.cfg.issuer == iss)
            .ok_or(AuthError::Invalid("unknown issuer"))?;
        let kid = check_header(
            &header,
            &issuer.algorithms,
            issuer.cfg.required_typ.as_deref(),
            purpose,
        )?;
        let keys = issuer
            .keys
            .with_kid(
                &self.inner.http,
                kid,
                self.min_refetch(),
                self.inner.clock.now(),
            )
            .await
            .ok_or(AuthError::Unavailable)?;
        let key = keys.get(kid).ok_or(AuthError::Invalid("unknown kid"))?;
        if !key.accepts(header.alg) {
            return Err(AuthError::Invalid("key does not match algorithm"));
        }

        let mut validation = Validation::new(header.alg);
        validation.leeway = issuer.leeway;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_issuer(&[issuer.cfg.issuer.as_str()]);
        match purpose {
            Purpose::Access => {
                validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
                validation.set_audience(&issuer.cfg.audiences);
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
        if claims.iss != issuer.cfg.issuer {
            return Err(AuthError::Invalid("wrong issuer"));
        }
        if claims.exp.is_none() {
            return Err(AuthError::Invalid("missing exp"));
        }
        let sub = match claims.sub.as_deref() {
            Some(s) if !s.is_empty() => s,
            _ => return Err(AuthError::Invalid("missing sub")),
        };
        if let Some(tid) = &issuer.cfg.tenant_id {
            if claims.tid.as_deref() != Some(tid.as_str()) {
                return Err(AuthError::Invalid("wrong tenant"));
            }
        }
        let principal = match purpose {
            Purpose::Access => classify(&claims, &issuer.cfg),
            Purpose::IdToken { client_id, nonce } => {
                let now = self.inner.clock.now().timestamp();
                check_id_token(&claims, client_id, nonce, issuer.leeway, now)?;
                classify_id_token(&claims, &issuer.cfg)
            }
        };
        let subject = match issuer.cfg.user_key_claim() {
            SubjectClaim::Sub => sub.to_owned(),
            SubjectClaim::Oid => match claims.oid.as_deref() {
                Some(o) if !o.is_empty() => o.to_owned(),
                // A machine never becomes a user (admission refuses it with 403, the fixed
                // service-principal answer); its `sub` only names it in the audit record.
                _ if matches!(principal, PrincipalKind::NonHuman(_)) => sub.to_owned(),
                _ => return Err(AuthError::Invalid("missing oid")),
            },
        };
        let email_verified = claims.email_verified_by(issuer.cfg.vouches_for_emails());
        let verified = VerifiedToken {
            issuer: issuer.cfg.issuer.clone(),
            subject,
            claims,
            principal,
            email_verified,
        };
        Ok((verified, index, keys))
    }
}
