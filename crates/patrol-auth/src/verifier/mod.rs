//! Validation of OIDC access tokens from configured issuers (discovery + JWKS).
//!
//! `docs/security.md` items 10 and 13-15. Nothing here ever logs a token or a claim value that could
//! be one; failure reasons are static strings.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod rules;
mod unverified;

use jsonwebtoken::{Algorithm, Validation};
use patrol_core::clock::Clock;

use crate::claims::{classify, classify_id_token, Claims, PrincipalKind};
use crate::fetch::HttpClient;
use crate::jwks::{IssuerKeys, Trigger};
use rules::{check_id_token, reason};
use unverified::check_header;
pub use unverified::{inspect_access_token, read_unverified, Inspection, UnverifiedJwt};

/// Tokens longer than this are rejected before any parsing.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Upper bound for the configurable clock-skew leeway.
pub const MAX_LEEWAY_SECS: u64 = 60;
/// Default minimum interval between unknown-`kid` refetches, per issuer.
pub const DEFAULT_MIN_REFETCH: Duration = Duration::from_secs(60);

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

/// One trusted token issuer. Unknown keys are an error (a misspelt `required_typ` or
/// `tenant_id` must not silently disable its check).
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
    /// The claim that, with `issuer`, keys users. Default: `oid` when `tenant_id` is set (the
    /// Microsoft Entra preset), else `sub`. A token without it is refused: there is no fallback
    /// from one claim to the other.
    #[serde(default)]
    pub subject_claim: Option<SubjectClaim>,
    /// The issuer verifies every email address it puts in tokens, so its email is passed on
    /// even without `email_verified: true` in the token (an explicit `email_verified: false`
    /// still wins). Default: true when `tenant_id` is set (the Entra preset), else false.
    #[serde(default)]
    pub emails_verified: Option<bool>,
    /// If set, only tokens issued to one of these OAuth clients (`azp`, `appid`, `client_id`)
    /// may manage PATs. Unset: any client of this issuer.
    #[serde(default)]
    pub allowed_client_ids: Option<Vec<String>>,
}

/// The claim users are keyed by (with the issuer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubjectClaim {
    /// `sub` (OpenID Connect's subject; the default).
    Sub,
    /// `oid` (Microsoft Entra's object id, the same for every application).
    Oid,
}

impl SubjectClaim {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectClaim::Sub => "sub",
            SubjectClaim::Oid => "oid",
        }
    }
}

impl IssuerConfig {
    /// The claim that keys this issuer's users: `subject_claim`, else the preset (`oid` for
    /// Entra-shaped issuers, those with a `tenant_id`; `sub` for any other).
    pub fn user_key_claim(&self) -> SubjectClaim {
        self.subject_claim.unwrap_or(if self.tenant_id.is_some() {
            SubjectClaim::Oid
        } else {
            SubjectClaim::Sub
        })
    }

    /// Whether the issuer vouches for the emails in its tokens: `emails_verified`, else the
    /// preset (true for Entra-shaped issuers: their addresses are the tenant's own).
    pub fn vouches_for_emails(&self) -> bool {
        self.emails_verified.unwrap_or(self.tenant_id.is_some())
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
    /// The issuer's subject claim ([`IssuerConfig::user_key_claim`]: `sub`, or `oid` for
    /// Entra). Together with `issuer` this keys the user. (A non-human principal, which never
    /// becomes a user, is named by `sub` when it lacks the configured claim.)
    pub subject: String,
    pub claims: Claims,
    pub principal: PrincipalKind,
    /// Whether the issuer vouches for [`Claims::email`] (see [`Claims::email_verified_by`]).
    pub email_verified: bool,
}

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
        let UnverifiedJwt {
            header,
            issuer: iss,
        } = read_unverified(token)?;
        let issuer = self
            .inner
            .issuers
            .iter()
            .find(|s| s.cfg.issuer == iss)
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
        Ok(VerifiedToken {
            issuer: issuer.cfg.issuer.clone(),
            subject,
            claims,
            principal,
            email_verified,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_algorithms() {
        let cfg: IssuerConfig =
            serde_json::from_str(r#"{"issuer":"https://idp/","audiences":["a"]}"#).unwrap();
        assert_eq!(cfg.algorithms, vec!["RS256"]);
        assert_eq!(cfg.leeway_secs, 60);
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
    fn unknown_config_keys_are_errors_naming_the_key() {
        let e = toml::from_str::<IssuerConfig>(
            "issuer = \"https://idp/\"\naudiences = [\"a\"]\nrequried_typ = \"at+jwt\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("requried_typ"), "{e}");
        let e = serde_json::from_str::<IssuerConfig>(
            r#"{"issuer":"https://idp/","audiences":["a"],"tenant":"t"}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown field `tenant`"), "{e}");
        // Every documented key is still accepted.
        toml::from_str::<IssuerConfig>(
            "issuer = \"https://idp/\"\ndiscovery_url = \"https://idp/d\"\naudiences = [\"a\"]\n\
             algorithms = [\"RS256\"]\nleeway_secs = 30\nrequired_typ = \"at+jwt\"\n\
             tenant_id = \"t\"\nservice_account_username_prefix = \"sa-\"\n\
             subject_claim = \"oid\"\nemails_verified = false\nallowed_client_ids = [\"c\"]\n",
        )
        .unwrap();
    }

    #[test]
    fn subject_claim_and_email_presets() {
        let plain: IssuerConfig =
            toml::from_str("issuer = \"https://idp/\"\naudiences = [\"a\"]\n").unwrap();
        assert_eq!(plain.user_key_claim(), SubjectClaim::Sub);
        assert!(!plain.vouches_for_emails());
        assert_eq!(plain.allowed_client_ids, None);
        let entra = IssuerConfig {
            tenant_id: Some("t".into()),
            ..plain.clone()
        };
        assert_eq!(entra.user_key_claim(), SubjectClaim::Oid);
        assert!(entra.vouches_for_emails());
        // Explicit settings win over the preset, both ways.
        let entra_by_sub = IssuerConfig {
            subject_claim: Some(SubjectClaim::Sub),
            emails_verified: Some(false),
            ..entra
        };
        assert_eq!(entra_by_sub.user_key_claim(), SubjectClaim::Sub);
        assert!(!entra_by_sub.vouches_for_emails());
        let keycloak_by_oid = IssuerConfig {
            subject_claim: Some(SubjectClaim::Oid),
            emails_verified: Some(true),
            ..plain
        };
        assert_eq!(keycloak_by_oid.user_key_claim(), SubjectClaim::Oid);
        assert!(keycloak_by_oid.vouches_for_emails());
        // Only `sub` and `oid` can key users: never a mutable claim such as email.
        let e = toml::from_str::<IssuerConfig>(
            "issuer = \"https://idp/\"\naudiences = [\"a\"]\nsubject_claim = \"email\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("expected `sub` or `oid`"), "{e}");
    }
}
