//! Sign-in (authorization code + PKCE S256 + state + nonce), the callback,
//! and sign-out. The browser only ever holds an opaque session cookie; the
//! IdP's tokens stay on the server.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use patrol_auth::rp::{random_value, Pkce, RpError};
use patrol_auth::AuthError;
use patrol_core::session::{SessionKey, WebSession};

use super::pages::{error_page, render, SignedOutPage};
use super::session::{access_expiry, cookie_value, WebForm, SEAL_LOGIN, SEAL_REFRESH};
use super::WebState;
use crate::app::{Caller, Rejection};
use crate::http::auth::{admit, Refusal};
use crate::http::client_ip::client_ip;
use crate::http::AppState;

/// A sign-in must finish within this long.
const LOGIN_TTL_SECS: i64 = 600;

/// What the sign-in cookie carries (sealed) from `/signin` to the callback.
#[derive(Serialize, Deserialize)]
struct LoginState {
    state: String,
    nonce: String,
    verifier: String,
    return_to: String,
    started: i64,
}

/// Only local paths: `/x`, never `//host` or `/\host`.
pub fn safe_return_to(raw: Option<&str>) -> String {
    match raw {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && p.len() <= 1024
                && !p.starts_with("/signin")
                && !p.chars().any(|c| c.is_control() || c == '\\') =>
        {
            p.to_owned()
        }
        _ => "/tokens".to_owned(),
    }
}

#[derive(Deserialize)]
pub struct SigninQuery {
    return_to: Option<String>,
}

fn web(state: &AppState) -> Result<std::sync::Arc<WebState>, Response> {
    state.web.clone().ok_or_else(|| {
        error_page(
            StatusCode::NOT_FOUND,
            "The web page is not enabled on this server.",
        )
    })
}

/// `GET /signin`: start the authorization-code flow.
pub async fn signin(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<SigninQuery>,
) -> Response {
    let web = match web(&state) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let return_to = safe_return_to(q.return_to.as_deref());
    // The cookie must be set on the origin the IdP will send the browser back to.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !host.is_empty() && !web.public_host.eq_ignore_ascii_case(host) {
        let to = format!(
            "{}/signin?return_to={}",
            web.public_origin,
            url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect::<String>()
        );
        return Redirect::to(&to).into_response();
    }
    let pkce = Pkce::generate();
    let login = LoginState {
        state: random_value(),
        nonce: random_value(),
        verifier: pkce.verifier.clone(),
        return_to,
        started: state.app.now().timestamp(),
    };
    let url = match web
        .rp
        .authorization_url(&login.state, &login.nonce, &pkce.challenge)
        .await
    {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start sign-in: identity provider discovery failed");
            return error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The identity provider is not answering, so you cannot sign in right now. Try again shortly.",
            );
        }
    };
    let Ok(json) = serde_json::to_vec(&login) else {
        return error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Sign-in could not start.",
        );
    };
    let cookie = web.set_cookie(
        web.login_cookie(),
        &web.sealer.seal_text(SEAL_LOGIN, &json),
        Some(LOGIN_TTL_SECS),
    );
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, url.to_string()),
            (header::SET_COOKIE, cookie),
        ],
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /signin/callback`: check state, redeem the code, check both tokens,
/// open a session.
pub async fn callback(
    State(state): State<AppState>,
    parts: axum::http::request::Parts,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let web = match web(&state) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let clear_login = web.clear_cookie(web.login_cookie());
    let result = finish(&state, &web, &parts, q).await;
    let mut resp = match result {
        Ok((session_cookie, return_to)) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, return_to),
                (header::SET_COOKIE, session_cookie),
            ],
        )
            .into_response(),
        Err(r) => r,
    };
    if let Ok(v) = clear_login.parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

async fn finish(
    state: &AppState,
    web: &WebState,
    parts: &axum::http::request::Parts,
    q: CallbackQuery,
) -> Result<(String, String), Response> {
    let headers = &parts.headers;
    let source_ip = client_ip(parts, &state.trusted_proxies).map(|i| i.to_string());
    let request_id = crate::http::request_id(headers);
    let app = &state.app;
    let now = app.now();
    let login: LoginState = cookie_value(headers, web.login_cookie())
        .and_then(|c| web.sealer.open_text(SEAL_LOGIN, &c))
        .and_then(|raw| serde_json::from_slice(&raw).ok())
        .filter(|l: &LoginState| now.timestamp() - l.started <= LOGIN_TTL_SECS)
        .ok_or_else(|| {
            error_page(
                StatusCode::BAD_REQUEST,
                "This sign-in has expired or was started in another browser window. Start again.",
            )
        })?;
    let state_ok = q
        .state
        .as_deref()
        .is_some_and(|s| bool::from(s.as_bytes().ct_eq(login.state.as_bytes())));
    if !state_ok {
        return Err(error_page(
            StatusCode::BAD_REQUEST,
            "The sign-in response does not match the sign-in this browser started. Start again.",
        ));
    }
    if let Some(err) = q.error.as_deref() {
        let err: String = err
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        return Err(error_page(
            StatusCode::FORBIDDEN,
            &format!("The identity provider did not sign you in ({err})."),
        ));
    }
    let Some(code) = q
        .code
        .as_deref()
        .filter(|c| !c.is_empty() && c.len() <= 4096)
    else {
        return Err(error_page(
            StatusCode::BAD_REQUEST,
            "The sign-in response carries no authorization code. Start again.",
        ));
    };
    let tokens = web
        .rp
        .exchange_code(code, &login.verifier)
        .await
        .map_err(|e| match e {
            RpError::Unavailable(_) => error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The identity provider is not answering. Try again shortly.",
            ),
            other => {
                tracing::info!(error = %other, "authorization code refused");
                error_page(
                    StatusCode::FORBIDDEN,
                    "The identity provider refused this sign-in. Start again.",
                )
            }
        })?;
    let refused = |why: &'static str| {
        tracing::info!(reason = why, "web sign-in refused");
        error_page(StatusCode::FORBIDDEN, "This sign-in cannot be accepted.")
    };
    let unavailable = || {
        error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The identity provider's keys cannot be fetched. Try again shortly.",
        )
    };
    let Some(id_token) = tokens.id_token.as_ref() else {
        return Err(refused("no id_token"));
    };
    let id = match state
        .verifier
        .verify_id_token(id_token.expose_secret(), web.rp.client_id(), &login.nonce)
        .await
    {
        Ok(v) => v,
        Err(AuthError::Unavailable) => return Err(unavailable()),
        Err(AuthError::Invalid(why)) => return Err(refused(why)),
    };
    let access = match state
        .verifier
        .verify(tokens.access_token.expose_secret())
        .await
    {
        Ok(v) => v,
        Err(AuthError::Unavailable) => return Err(unavailable()),
        Err(AuthError::Invalid(why)) => return Err(refused(why)),
    };
    if id.issuer != access.issuer
        || (id.claims.sub.is_some()
            && access.claims.sub.is_some()
            && id.claims.sub != access.claims.sub)
    {
        return Err(refused("id token and access token name different users"));
    }
    let refused = Rejection {
        actor: String::new(),
        client_id: Some(web.rp.client_id().to_owned()),
        source_ip: source_ip.clone(),
        request_id: request_id.clone(),
        reason: "web sign-in: ".into(),
    };
    match admit(state, &access, "vso.pats_manage", refused).await {
        Ok(()) => {}
        Err(Refusal::NonHuman) => {
            return Err(error_page(
                StatusCode::FORBIDDEN,
                "Service principals are not allowed to perform this action.",
            ))
        }
        Err(Refusal::MissingScope(_)) => {
            return Err(error_page(
                StatusCode::FORBIDDEN,
                "The identity provider did not grant Patrol the vso.pats_manage scope, which managing tokens needs.",
            ))
        }
    }
    let claims = crate::http::auth::user_claims(state, &access, Some(&id));
    let user = app.sign_in(&claims).await.map_err(|_| {
        error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Patrol's storage is not answering. Try again shortly.",
        )
    })?;
    if user.disabled {
        return Err(error_page(StatusCode::FORBIDDEN, "This user is disabled."));
    }
    let cookie_value = random_value();
    let session = WebSession {
        key: SessionKey::of(&cookie_value),
        user_id: user.id,
        created_at: now,
        expires_at: now + web.session_max,
        last_seen: now,
        access_expires_at: access_expiry(&access, tokens.expires_in, now),
        sealed_refresh_token: tokens
            .refresh_token
            .as_ref()
            .map(|rt| web.sealer.seal(SEAL_REFRESH, rt.expose_secret().as_bytes())),
    };
    let caller = Caller {
        user,
        client_id: Some(web.rp.client_id().to_owned()),
        source_ip,
        request_id,
    };
    app.open_session(&caller, &session).await.map_err(|_| {
        error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Patrol's storage is not answering. Try again shortly.",
        )
    })?;
    let max_age = (session.expires_at - now).num_seconds();
    Ok((
        web.set_cookie(web.session_cookie(), &cookie_value, Some(max_age)),
        safe_return_to(Some(&login.return_to)),
    ))
}

/// `POST /signout`: end the server session (and, where the provider offers
/// it, revoke the refresh token), then clear the cookie.
pub async fn signout(State(state): State<AppState>, form: WebForm) -> Response {
    let web = match web(&state) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let user = form.user;
    if let Ok(Some(s)) = state.app.session(&user.key).await {
        if let Some(rt) = s
            .sealed_refresh_token
            .as_deref()
            .and_then(|b| web.sealer.open(SEAL_REFRESH, b))
            .and_then(|b| String::from_utf8(b).ok())
        {
            if let Err(e) = web.rp.revoke_refresh_token(&rt).await {
                tracing::info!(error = %e, "could not revoke the refresh token at sign-out");
            }
        }
    }
    if state
        .app
        .end_session(&user.caller, &user.key, None)
        .await
        .is_err()
    {
        return error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Patrol's storage is not answering, so you are still signed in. Try again shortly.",
        );
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/signed-out".to_owned()),
            (header::SET_COOKIE, web.clear_cookie(web.session_cookie())),
        ],
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct SignedOutQuery {
    state: Option<String>,
}

/// `GET /signed-out`: and, where the provider offers RP-initiated logout, a
/// link to end the provider's session too (it sends the browser back here
/// with `state=provider`). The link carries the client id, never a token.
pub async fn signed_out(
    State(state): State<AppState>,
    Query(q): Query<SignedOutQuery>,
) -> Response {
    let provider_done = q.state.as_deref() == Some("provider");
    let provider_signout = match (&state.web, provider_done) {
        (Some(web), false) => web
            .rp
            .end_session_url(
                None,
                Some(&format!("{}/signed-out", web.public_origin)),
                Some("provider"),
            )
            .await
            .ok()
            .flatten()
            .map(|u| u.to_string()),
        _ => None,
    };
    render(
        StatusCode::OK,
        &SignedOutPage {
            chrome: None,
            provider_signout,
            provider_done,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_is_local_only() {
        assert_eq!(
            safe_return_to(Some("/tokens?status=all")),
            "/tokens?status=all"
        );
        assert_eq!(safe_return_to(Some("//evil.example/x")), "/tokens");
        assert_eq!(safe_return_to(Some("/\\evil.example")), "/tokens");
        assert_eq!(safe_return_to(Some("https://evil.example/")), "/tokens");
        assert_eq!(safe_return_to(Some("/signin/callback")), "/tokens");
        assert_eq!(safe_return_to(Some("/a\nb")), "/tokens");
        assert_eq!(safe_return_to(None), "/tokens");
    }
}
