//! The dev issuer's token endpoint (RFC 6749 §3.2, §4.1.3, §4.4, §6; RFC 7636).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::routes::{parse_params, scp_of, AppState};
use super::{random_token, DevUser, DEV_ACCESS_TOKEN_SECS, DEV_PUBLIC_CLIENT_ID, DEV_SP_CLIENT_ID};

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
        let mut resp = no_store_json(self.status, body);
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"patrol-dev-issuer\""),
            );
        }
        resp
    }
}

fn no_store_json(status: StatusCode, body: Value) -> Response {
    let mut resp = (status, Json(body)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

/// Decodes one `application/x-www-form-urlencoded` component (RFC 6749 §2.3.1).
fn form_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

struct ClientAuth {
    id: Option<String>,
    secret: Option<String>,
}

/// `client_secret_basic` or `client_secret_post` (or just `client_id` for the public client).
fn client_auth(headers: &HeaderMap, p: &HashMap<String, String>) -> Result<ClientAuth, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(ClientAuth {
            id: p.get("client_id").cloned(),
            secret: p.get("client_secret").cloned(),
        });
    };
    let malformed = || invalid_client("malformed client authentication");
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, creds) = value.split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(invalid_client("unsupported client authentication scheme"));
    }
    let decoded = STANDARD.decode(creds.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let id = form_decode(id).ok_or_else(malformed)?;
    let secret = form_decode(secret).ok_or_else(malformed)?;
    if p.contains_key("client_secret") {
        return Err(bad(
            "invalid_request",
            "use only one client authentication method",
        ));
    }
    if p.get("client_id").is_some_and(|form_id| *form_id != id) {
        return Err(bad("invalid_request", "client_id mismatch"));
    }
    Ok(ClientAuth {
        id: Some(id),
        secret: Some(secret),
    })
}

/// Grants of the user flows are only for the public client.
fn require_public_client(auth: &ClientAuth) -> Result<&'static str, OAuthError> {
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
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

pub(super) async fn token(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match token_response(&s, &headers, &body) {
        Ok(v) => no_store_json(StatusCode::OK, v),
        Err(e) => e.into_response(),
    }
}

/// RFC 7009 token revocation. Refresh tokens end their whole family; access tokens are
/// self-contained JWTs that cannot be revoked, and unknown tokens are fine (§2.2): both 200.
pub(super) async fn revoke(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match revoke_response(&s, &headers, &body) {
        Ok(()) => no_store_json(StatusCode::OK, json!({})),
        Err(e) => e.into_response(),
    }
}

fn revoke_response(s: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), OAuthError> {
    let p = parse_params(body).map_err(|msg| bad("invalid_request", msg))?;
    let auth = client_auth(headers, &p)?;
    let client = require_public_client(&auth)?;
    let token = required(&p, "token")?;
    if s.dev.grants().revoke(token, client) {
        tracing::info!(client, "dev issuer: refresh token revoked");
    }
    Ok(())
}

fn token_response(s: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
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
    s: &AppState,
    p: &HashMap<String, String>,
    auth: &ClientAuth,
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
    let refresh = random_token();
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
    s: &AppState,
    p: &HashMap<String, String>,
    auth: &ClientAuth,
) -> Result<Value, OAuthError> {
    let client = require_public_client(auth)?;
    let old = required(p, "refresh_token")?;
    let requested = p
        .get("scope")
        .map(|s| s.split_whitespace().collect::<Vec<_>>());
    let new = random_token();
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

fn client_credentials_grant(s: &AppState, auth: &ClientAuth) -> Result<Value, OAuthError> {
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
    let secret = auth.secret.as_deref().unwrap_or("");
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
    s: &AppState,
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
    fn params_and_decoding() {
        assert!(parse_params(b"a=1&a=2").is_err());
        assert_eq!(parse_params(b"a=&b=2").unwrap().len(), 1);
        assert_eq!(form_decode("a%20b+c").as_deref(), Some("a b c"));
        assert_eq!(form_decode("%+1"), None);
        assert_eq!(form_decode("%4"), None);
        assert_eq!(form_decode("%C3%A9").as_deref(), Some("é"));
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
