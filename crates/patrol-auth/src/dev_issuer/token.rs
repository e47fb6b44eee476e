//! The dev issuer's token endpoint (RFC 6749 §3.2, §4.1.3, §4.4, §6; RFC 7636).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use patrol_core::credential::{parse_client_basic, CredentialError};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{json, Value};
use subtle::ConstantTimeEq as _;

use super::routes::{parse_params, scp_of, IssuerState};
use super::{DevUser, DEV_ACCESS_TOKEN_SECS, DEV_PUBLIC_CLIENT_ID, DEV_SP_CLIENT_ID};
use crate::rp::{random_value, Pkce};

/// An RFC 6749 §5.2 error response.
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: &'static str,
}

fn bad(error: &'static str, description: &'static str) -> OAuthError {
    OAuthError {
        status: StatusCode::BAD_REQUEST,
        error,
        description,
    }
}

fn invalid_client(description: &'static str) -> OAuthError {
    OAuthError {
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_client",
        description,
    }
}

fn server_error() -> OAuthError {
    OAuthError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        error: "server_error",
        description: "token issuance failed",
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        let mut resp = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"patrol-dev-issuer\""),
            );
        }
        resp
    }
}

/// The client as it authenticated, not yet checked.
struct PresentedClient {
    id: Option<String>,
    secret: Option<SecretString>,
}

/// `client_secret_basic` or `client_secret_post` (or just `client_id` for the public client).
fn client_auth(
    headers: &HeaderMap,
    p: &HashMap<String, String>,
) -> Result<PresentedClient, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(PresentedClient {
            id: p.get("client_id").cloned(),
            secret: p.get("client_secret").cloned().map(SecretString::from),
        });
    };
    let malformed = || invalid_client("malformed client authentication");
    let value = value.to_str().map_err(|_| malformed())?;
    let creds = parse_client_basic(Some(value)).map_err(|e| match e {
        CredentialError::UnsupportedScheme => {
            invalid_client("unsupported client authentication scheme")
        }
        _ => malformed(),
    })?;
    if p.contains_key("client_secret") {
        return Err(bad(
            "invalid_request",
            "use only one client authentication method",
        ));
    }
    if p.get("client_id")
        .is_some_and(|form_id| *form_id != creds.client_id)
    {
        return Err(bad("invalid_request", "client_id mismatch"));
    }
    Ok(PresentedClient {
        id: Some(creds.client_id),
        secret: Some(creds.client_secret),
    })
}

/// Grants of the user flows are only for the public client.
fn require_public_client(auth: &PresentedClient) -> Result<&'static str, OAuthError> {
    match auth.id.as_deref() {
        None => Err(bad("invalid_request", "client_id is required")),
        Some(DEV_PUBLIC_CLIENT_ID) => Ok(DEV_PUBLIC_CLIENT_ID),
        Some(DEV_SP_CLIENT_ID) => Err(bad(
            "unauthorized_client",
            "this client may only use client_credentials",
        )),
        Some(_) => Err(invalid_client("unknown client")),
    }
}

fn required<'a>(p: &'a HashMap<String, String>, name: &str) -> Result<&'a str, OAuthError> {
    p.get(name)
        .map(String::as_str)
        .ok_or_else(|| bad("invalid_request", "a required parameter is missing"))
}

fn pkce_ok(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !well_formed {
        return false;
    }
    let computed = Pkce::challenge_for(verifier);
    bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

pub(super) async fn token(
    State(s): State<IssuerState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match token_response(&s, &headers, &body) {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// RFC 7009 token revocation. Refresh tokens end their whole family; access tokens are
/// self-contained JWTs that cannot be revoked, and unknown tokens are fine (§2.2): both 200.
pub(super) async fn revoke(
    State(s): State<IssuerState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match revoke_response(&s, &headers, &body) {
        Ok(()) => Json(json!({})).into_response(),
        Err(e) => e.into_response(),
    }
}

fn revoke_response(s: &IssuerState, headers: &HeaderMap, body: &[u8]) -> Result<(), OAuthError> {
    let p = parse_params(body).map_err(|msg| bad("invalid_request", msg))?;
    let auth = client_auth(headers, &p)?;
    let client = require_public_client(&auth)?;
    let token = required(&p, "token")?;
    if s.dev.grants().revoke(token, client) {
        tracing::info!(client, "dev issuer: refresh token revoked");
    }
    Ok(())
}

fn token_response(s: &IssuerState, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
    let p = parse_params(body).map_err(|msg| bad("invalid_request", msg))?;
    let auth = client_auth(headers, &p)?;
    match required(&p, "grant_type")? {
        "authorization_code" => authorization_code_grant(s, &p, &auth),
        "refresh_token" => refresh_token_grant(s, &p, &auth),
        "client_credentials" => client_credentials_grant(s, &auth),
        _ => Err(bad("unsupported_grant_type", "unsupported grant_type")),
    }
}

fn authorization_code_grant(
    s: &IssuerState,
    p: &HashMap<String, String>,
    auth: &PresentedClient,
) -> Result<Value, OAuthError> {
    let client = require_public_client(auth)?;
    let code = required(p, "code")?;
    let redirect_uri = required(p, "redirect_uri")?;
    let verifier = required(p, "code_verifier")?;
    let invalid = || {
        bad(
            "invalid_grant",
            "authorization code is invalid, expired or already used",
        )
    };
    let grant = s.dev.grants().take_code(code).ok_or_else(invalid)?;
    if grant.client_id != client || grant.redirect_uri != redirect_uri {
        return Err(invalid());
    }
    if !pkce_ok(verifier, &grant.code_challenge) {
        return Err(bad("invalid_grant", "PKCE verification failed"));
    }
    let refresh = random_value();
    if !s
        .dev
        .grants()
        .new_family(&refresh, client, grant.user, &grant.scope, grant.auth_time)
    {
        return Err(server_error());
    }
    user_tokens(
        s,
        grant.user,
        &grant.scope,
        grant.nonce.as_deref(),
        grant.auth_time,
        refresh,
    )
}

fn refresh_token_grant(
    s: &IssuerState,
    p: &HashMap<String, String>,
    auth: &PresentedClient,
) -> Result<Value, OAuthError> {
    let client = require_public_client(auth)?;
    let old = required(p, "refresh_token")?;
    let requested = p
        .get("scope")
        .map(|s| s.split_whitespace().collect::<Vec<_>>());
    let new = random_value();
    let invalid = || {
        bad(
            "invalid_grant",
            "refresh token is invalid, expired or revoked",
        )
    };
    // Narrowing is checked before rotating, so a bad scope does not burn the token.
    // An unknown or reused token falls through to `rotate`, which detects reuse.
    if let Some(requested) = &requested {
        let original = s.dev.grants().peek_scope(old).unwrap_or_default();
        if !original.is_empty()
            && !requested
                .iter()
                .all(|r| original.split_whitespace().any(|o| o == *r))
        {
            return Err(bad("invalid_scope", "scope exceeds the original grant"));
        }
    }
    let grant = s
        .dev
        .grants()
        .rotate(old, &new, client)
        .map_err(|_| invalid())?;
    let scope = match requested {
        Some(r) => r.join(" "),
        None => grant.scope.clone(),
    };
    user_tokens(s, grant.user, &scope, None, grant.auth_time, new)
}

fn client_credentials_grant(s: &IssuerState, auth: &PresentedClient) -> Result<Value, OAuthError> {
    match auth.id.as_deref() {
        Some(DEV_SP_CLIENT_ID) => {}
        Some(DEV_PUBLIC_CLIENT_ID) => {
            return Err(bad(
                "unauthorized_client",
                "public clients cannot use client_credentials",
            ))
        }
        _ => return Err(invalid_client("client authentication failed")),
    }
    let secret = auth.secret.as_ref().map_or("", |s| s.expose_secret());
    if !s.dev.sp_secret_matches(secret) {
        return Err(invalid_client("client authentication failed"));
    }
    let token = s
        .dev
        .mint_sp_token(&s.issuer, DEV_ACCESS_TOKEN_SECS)
        .map_err(|_| server_error())?;
    tracing::info!(
        client = DEV_SP_CLIENT_ID,
        "dev issuer: issued app-only token"
    );
    Ok(json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": DEV_ACCESS_TOKEN_SECS,
    }))
}

fn user_tokens(
    s: &IssuerState,
    user: &DevUser,
    scope: &str,
    nonce: Option<&str>,
    auth_time: i64,
    refresh_token: String,
) -> Result<Value, OAuthError> {
    let access = s
        .dev
        .mint_user_token(&s.issuer, user, &scp_of(scope), DEV_ACCESS_TOKEN_SECS)
        .map_err(|_| server_error())?;
    let mut body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": DEV_ACCESS_TOKEN_SECS,
        "scope": scope,
        "refresh_token": refresh_token,
    });
    if scope.split_whitespace().any(|s| s == "openid") {
        let id_token = s
            .dev
            .mint_id_token(&s.issuer, user, nonce, auth_time, DEV_ACCESS_TOKEN_SECS)
            .map_err(|_| server_error())?;
        body["id_token"] = json!(id_token);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params() {
        assert!(parse_params(b"a=1&a=2").is_err());
        assert_eq!(parse_params(b"a=&b=2").unwrap().len(), 1);
    }

    #[test]
    fn pkce() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_ok(verifier, challenge));
        assert!(!pkce_ok(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx",
            challenge
        ));
        assert!(!pkce_ok("short", challenge));
    }
}
