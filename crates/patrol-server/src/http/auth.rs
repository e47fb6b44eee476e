//! Who may call the management API: OIDC access tokens issued on behalf of a
//! user, with the delegated scope. Never a PAT, never a service principal.
//! The extractor verifies the JWT and hands it to `App::admit`, which holds
//! the rule; this file only translates.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method};

use patrol_auth::AuthError;
use patrol_core::credential::{self, CredentialError};

use super::error::ApiError;
use super::AppState;
use crate::app::{AuthFailure, Caller, Edge, Presented, RequestCtx};

/// The authenticated owner of the request.
pub struct Owner(pub Caller);

fn looks_like_jwt(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts[..2].iter().all(|p| !p.is_empty())
        && parts.iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The JWT presented as `Bearer JWT`, or as a Basic password (`az devops`
/// sends an Entra token that way).
fn presented_jwt(parts: &Parts) -> Result<String, ApiError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{0}"));
    // Room for the largest token the verifier reads, Base64-wrapped.
    match credential::parse_authorization_limited(value, patrol_auth::MAX_TOKEN_BYTES * 2) {
        Ok(cred) if looks_like_jwt(cred.expose()) => Ok(cred.expose().to_owned()),
        Ok(_) => {
            tracing::info!("refused a non-OIDC credential on the management API");
            Err(ApiError::PatNotAccepted)
        }
        Err(CredentialError::Missing | CredentialError::Empty) => Err(ApiError::Unauthenticated),
        Err(_) => Err(ApiError::InvalidToken),
    }
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
        let ctx = state.request_ctx(parts);
        state
            .app
            .check_auth_limit(&ctx)
            .map_err(ApiError::TooManyRequests)?;
        let result = authenticate(parts, state, &ctx).await;
        let failure = match &result {
            Err(ApiError::InvalidToken) => Some(AuthFailure::InvalidToken),
            Err(ApiError::PatNotAccepted) => Some(AuthFailure::PatPresented),
            _ => None,
        };
        if let Some(f) = failure {
            state.app.note_auth_failure(f, &ctx).await;
        }
        result
    }
}

/// Verify the bearer token, then let the app admit its user.
async fn authenticate(
    parts: &Parts,
    state: &AppState,
    ctx: &RequestCtx,
) -> Result<Owner, ApiError> {
    let jwt = presented_jwt(parts)?;
    let verified = match state.verifier.verify(&jwt).await {
        Ok(v) => v,
        Err(AuthError::Invalid(reason)) => {
            tracing::info!(reason, "refused an invalid access token");
            return Err(ApiError::InvalidToken);
        }
        Err(AuthError::Unavailable) => return Err(ApiError::IdpUnavailable),
    };
    let presented = Presented {
        access: &verified,
        id_token: None,
        client_id: verified.claims.client_id().map(str::to_owned),
        needed: required_scope(&parts.method),
        edge: Edge::Api,
    };
    let caller = state.app.admit(presented, ctx).await?;
    Ok(Owner(caller))
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
