//! Who may call the management API: OIDC access tokens issued on behalf of a
//! user, with the delegated scope. Never a PAT, never a service principal.
//! The extractor verifies the JWT and hands it to `App::admit`, which holds
//! the rule; this file only translates.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method};

use patrol_auth::AuthError;
use patrol_core::credential::{self, CredentialError};
use patrol_core::scope::token_scopes_grant;

use super::error::ApiError;
use super::AppState;
use crate::app::{AuthFailure, Caller, Edge, Presented, RequestCtx, ADMIN_SCOPE};

/// The authenticated owner of the request (the PAT API: `vso.pats` to
/// read, `vso.pats_manage` to change).
pub struct Owner(pub Caller);

/// A caller of the Token Admin API or Patrol's admin API: the delegated
/// scope `vso.tokenadministration` (the role is the use case's to check).
pub struct Administrator(pub Caller);

/// A reader of the audit log: administrators (with the admin scope) read
/// what their role covers, everyone else (`vso.pats`) their own events.
pub struct AuditReader(pub Caller);

/// Which delegated scope a route needs.
#[derive(Debug, Clone, Copy)]
enum Needs {
    ByMethod,
    Admin,
    AdminOrPats,
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
        extract(parts, state, Needs::ByMethod).await.map(Owner)
    }
}

impl FromRequestParts<AppState> for Administrator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        extract(parts, state, Needs::Admin).await.map(Administrator)
    }
}

impl FromRequestParts<AppState> for AuditReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        extract(parts, state, Needs::AdminOrPats)
            .await
            .map(AuditReader)
    }
}

/// Limits, verification and admission, the same for every API route.
async fn extract(parts: &Parts, state: &AppState, needs: Needs) -> Result<Caller, ApiError> {
    let ctx = state.request_ctx(parts);
    state
        .app
        .check_auth_limit(&ctx)
        .map_err(ApiError::TooManyRequests)?;
    let result = authenticate(parts, state, &ctx, needs).await;
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

/// Verify the bearer token, then let the app admit its user.
async fn authenticate(
    parts: &Parts,
    state: &AppState,
    ctx: &RequestCtx,
    needs: Needs,
) -> Result<Caller, ApiError> {
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
        needed: match needs {
            Needs::ByMethod => required_scope(&parts.method),
            Needs::Admin => ADMIN_SCOPE,
            Needs::AdminOrPats => {
                let scp = verified.claims.scp.as_deref().unwrap_or("");
                if token_scopes_grant(scp, ADMIN_SCOPE) {
                    ADMIN_SCOPE
                } else {
                    "vso.pats"
                }
            }
        },
        edge: Edge::Api,
    };
    Ok(state.app.admit(presented, ctx).await?)
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
