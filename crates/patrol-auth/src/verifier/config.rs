//! What the verifier is configured with and answers, free of any I/O: the
//! issuer settings, the refusal reasons, a verified token. Built without the
//! `net` feature too (the `jwt` fuzz target, `docs/fuzzing.md`).

use std::time::Duration;

use jsonwebtoken::Algorithm;

use crate::claims::{Claims, PrincipalKind};

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
    pub(crate) fn pinned_algorithms(&self) -> Vec<Algorithm> {
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

/// What a JWT is being validated as.
#[derive(Clone, Copy)]
// Only the verifier (`net`) checks ID tokens.
#[cfg_attr(not(feature = "net"), allow(dead_code))]
pub(crate) enum Purpose<'a> {
    /// A bearer access token for the API.
    Access,
    /// An OpenID Connect ID token for the relying party `client_id`.
    IdToken { client_id: &'a str, nonce: &'a str },
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
