//! Who may call the management API: OIDC access tokens issued on behalf of a
//! user, with the delegated scope. Never a PAT, never a service principal.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method};
use base64::Engine;

use patrol_auth::{AuthError, PrincipalKind};
use patrol_core::scope::token_scopes_grant;
use patrol_core::user::UserClaims;

use super::client_ip::client_ip;
use super::error::ApiError;
use super::AppState;
use crate::app::verify::ip_key;
use crate::app::{Caller, Rejection};

/// The authenticated owner of the request.
pub struct Owner(pub Caller);

/// A credential as presented, before validation.
enum Presented {
    Jwt(String),
    NotJwt,
}

fn looks_like_jwt(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts[..2].iter().all(|p| !p.is_empty())
        && parts.iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn presented(parts: &Parts) -> Result<Presented, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::Unauthenticated);
    };
    let value = value.to_str().map_err(|_| ApiError::InvalidToken)?.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let cred = match scheme.to_ascii_lowercase().as_str() {
        "bearer" => rest.trim().to_owned(),
        "basic" => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .map_err(|_| ApiError::InvalidToken)?;
            let text = String::from_utf8(raw).map_err(|_| ApiError::InvalidToken)?;
            // `az devops` sends an Entra token as the Basic password.
            text.split_once(':')
                .map(|(_, p)| p.to_owned())
                .unwrap_or(text)
        }
        _ => return Err(ApiError::InvalidToken),
    };
    if cred.is_empty() {
        return Err(ApiError::Unauthenticated);
    }
    Ok(if looks_like_jwt(&cred) {
        Presented::Jwt(cred)
    } else {
        Presented::NotJwt
    })
}

/// Reads need `vso.pats`; changes need `vso.pats_manage`.
fn required_scope(method: &Method) -> &'static str {
    if method == Method::GET || method == Method::HEAD {
        "vso.pats"
    } else {
        "vso.pats_manage"
    }
}

impl FromRequestParts<AppState> for Owner {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ip = client_ip(parts, &state.trusted_proxies);
        let now = state.app.now();
        if let Some(ip) = ip {
            if let Err(secs) = state.auth_failures.check(&ip_key(ip), now) {
                return Err(ApiError::TooManyRequests(secs));
            }
        }
        let result = authenticate(parts, state, ip.map(|i| i.to_string())).await;
        if let (Err(e @ (ApiError::InvalidToken | ApiError::PatNotAccepted)), Some(ip)) =
            (&result, ip)
        {
            let n = state.auth_failures.record_failure(ip_key(ip), now);
            // Audited, but flood-proof: the first failure from an address in
            // each window, and the one that reaches the limit.
            let max = state.auth_failures.max();
            if n == 1 || n == max {
                let what = match e {
                    ApiError::PatNotAccepted => "a PAT presented to the management API",
                    _ => "an invalid access token",
                };
                let reason = if n == max {
                    format!("{what}; {n} failures from this address, further attempts answered 429")
                } else {
                    format!("{what} (first failure from this address in the window)")
                };
                state
                    .app
                    .record_rejection(&Rejection {
                        actor: "unauthenticated".into(),
                        client_id: None,
                        source_ip: Some(ip.to_string()),
                        request_id: super::request_id(&parts.headers),
                        reason,
                    })
                    .await;
            }
        }
        result
    }
}

/// Validate the bearer token and sign its user in.
async fn authenticate(
    parts: &Parts,
    state: &AppState,
    source_ip: Option<String>,
) -> Result<Owner, ApiError> {
    {
        let request_id = super::request_id(&parts.headers);
        let jwt = match presented(parts)? {
            Presented::Jwt(j) => j,
            Presented::NotJwt => {
                tracing::info!("refused a non-OIDC credential on the management API");
                return Err(ApiError::PatNotAccepted);
            }
        };
        let verified = match state.verifier.verify(&jwt).await {
            Ok(v) => v,
            Err(AuthError::Invalid(reason)) => {
                tracing::info!(reason, "refused an invalid access token");
                return Err(ApiError::InvalidToken);
            }
            Err(AuthError::Unavailable) => return Err(ApiError::IdpUnavailable),
        };
        let client_id = verified.claims.client_id().map(str::to_owned);
        let refused = Rejection {
            actor: String::new(),
            client_id: client_id.clone(),
            source_ip: source_ip.clone(),
            request_id: request_id.clone(),
            reason: String::new(),
        };
        match admit(state, &verified, required_scope(&parts.method), refused).await {
            Ok(()) => {}
            Err(Refusal::NonHuman) => return Err(ApiError::NonHuman),
            Err(Refusal::MissingScope(needed)) => return Err(ApiError::InsufficientScope(needed)),
        }
        let claims = user_claims(state, &verified, None);
        let user = state.app.sign_in(&claims).await.map_err(ApiError::from)?;
        if user.disabled {
            return Err(ApiError::Forbidden {
                type_key: "InvalidAccessException",
                message: "This user is disabled.".into(),
            });
        }
        Ok(Owner(Caller {
            user,
            client_id,
            source_ip,
            request_id,
        }))
    }
}

/// Why a verified token may not manage PATs.
pub(crate) enum Refusal {
    NonHuman,
    MissingScope(&'static str),
}

/// The rule every edge applies before a token's user may manage PATs: a
/// human, holding `needed` (or `user_impersonation` where accepted). A
/// refusal is audited with `refused`'s client, address and request id; its
/// `reason`, if any, prefixes the audited reason (e.g. "web sign-in: ").
pub(crate) async fn admit(
    state: &AppState,
    verified: &patrol_auth::VerifiedToken,
    needed: &'static str,
    refused: Rejection,
) -> Result<(), Refusal> {
    let (refusal, why) = match &verified.principal {
        PrincipalKind::NonHuman(why) => (Refusal::NonHuman, format!("non-human caller: {why}")),
        _ => {
            let scp = verified.claims.scp.as_deref().unwrap_or("");
            let impersonation =
                state.accept_user_impersonation && token_scopes_grant(scp, "user_impersonation");
            if token_scopes_grant(scp, needed) || impersonation {
                return Ok(());
            }
            (
                Refusal::MissingScope(needed),
                format!("missing scope {needed}"),
            )
        }
    };
    state
        .app
        .record_rejection(&Rejection {
            actor: format!("{}|{}", verified.issuer, verified.subject),
            reason: format!("{}{why}", refused.reason),
            ..refused
        })
        .await;
    Err(refusal)
}

/// Who a verified access token names, keyed as the API and the web page both
/// key users; name and email fall back to the ID token's when given.
pub(crate) fn user_claims(
    state: &AppState,
    access: &patrol_auth::VerifiedToken,
    id: Option<&patrol_auth::VerifiedToken>,
) -> UserClaims {
    let id_claims = id.map(|i| &i.claims);
    UserClaims {
        issuer: state.user_issuer(&access.issuer).to_owned(),
        subject: access.subject.clone(),
        display_name: access
            .claims
            .display_name()
            .or_else(|| id_claims.and_then(|c| c.display_name()))
            .map(str::to_owned)
            .unwrap_or_else(|| access.subject.clone()),
        email: access
            .claims
            .email()
            .or_else(|| id_claims.and_then(|c| c.email()))
            .map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_shape() {
        assert!(looks_like_jwt("eyJhbGciOi.eyJzdWIi.c2ln"));
        assert!(looks_like_jwt("eyJhbGciOi.eyJzdWIi."));
        assert!(!looks_like_jwt(
            "SyntheticTestKeyForPatServiceDoNotUse0123456789abcdeJQQJ99BFACAAAAASNFZ4AAASAZDO10AW"
        ));
        assert!(!looks_like_jwt("a.b"));
        assert!(!looks_like_jwt("a.b.c.d"));
        assert!(!looks_like_jwt("a+b.c.d"));
    }

    #[test]
    fn scopes_by_method() {
        assert_eq!(required_scope(&Method::GET), "vso.pats");
        assert_eq!(required_scope(&Method::POST), "vso.pats_manage");
        assert_eq!(required_scope(&Method::DELETE), "vso.pats_manage");
    }
}
