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

use super::pages::{error_page, render, SignedOutPage};
use super::session::{cookie_value, WebForm, SEAL_LOGIN};
use super::WebCtx;
use crate::app::{AppError, AuthFailure, Edge, Presented};

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

/// `GET /signin`: start the authorization-code flow.
pub async fn signin(
    State(ctx): State<WebCtx>,
    headers: HeaderMap,
    Query(q): Query<SigninQuery>,
) -> Response {
    let web = &ctx.web;
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
        started: ctx.app().now().timestamp(),
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

/// A sign-in that did not complete, as a page that says so, marked so the
/// callback counts it against the address (a failed authentication).
#[derive(Clone, Copy)]
struct SignInFailure(&'static str);

fn failed(status: StatusCode, message: &str, reason: &'static str) -> Response {
    let mut page = error_page(status, message);
    page.extensions_mut().insert(SignInFailure(reason));
    page
}

/// `GET /signin/callback`: check state, redeem the code, check both tokens,
/// open a session. Failed callbacks count against the address, and past the
/// limit the callback answers 429 before any request to the provider.
pub async fn callback(
    State(ctx): State<WebCtx>,
    parts: axum::http::request::Parts,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let web = &ctx.web;
    let clear_login = web.clear_cookie(web.login_cookie());
    let request = ctx.core.request_ctx(&parts);
    let app = ctx.app();
    let result = match app.check_auth_limit(&request) {
        Err(secs) => {
            let mut page = error_page(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many sign-ins failed from your address. Wait a minute, then start again.",
            );
            if let Ok(v) = secs.to_string().parse() {
                page.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Err(page)
        }
        Ok(()) => finish(&ctx, &parts, q).await,
    };
    if let Err(page) = &result {
        if let Some(SignInFailure(why)) = page.extensions().get::<SignInFailure>() {
            tracing::info!(reason = why, "web sign-in failed");
            app.note_auth_failure(AuthFailure::SignInFailed(why), &request)
                .await;
        }
    }
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
    ctx: &WebCtx,
    parts: &axum::http::request::Parts,
    q: CallbackQuery,
) -> Result<(String, String), Response> {
    let web = &ctx.web;
    let verifier = &ctx.core.verifier;
    let headers = &parts.headers;
    let app = ctx.app();
    let now = app.now();
    let login: LoginState = cookie_value(headers, web.login_cookie())
        .and_then(|c| web.sealer.open_text(SEAL_LOGIN, &c))
        .and_then(|raw| serde_json::from_slice(&raw).ok())
        .filter(|l: &LoginState| now.timestamp() - l.started <= LOGIN_TTL_SECS)
        .ok_or_else(|| {
            failed(
                StatusCode::BAD_REQUEST,
                "This sign-in has expired or was started in another browser window. Start again.",
                "web sign-in: no valid sign-in state",
            )
        })?;
    let state_ok = q
        .state
        .as_deref()
        .is_some_and(|s| bool::from(s.as_bytes().ct_eq(login.state.as_bytes())));
    if !state_ok {
        return Err(failed(
            StatusCode::BAD_REQUEST,
            "The sign-in response does not match the sign-in this browser started. Start again.",
            "web sign-in: state mismatch",
        ));
    }
    if let Some(err) = q.error.as_deref() {
        let err: String = err
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        return Err(failed(
            StatusCode::FORBIDDEN,
            &format!("The identity provider did not sign you in ({err})."),
            "web sign-in: the identity provider answered an error",
        ));
    }
    let Some(code) = q
        .code
        .as_deref()
        .filter(|c| !c.is_empty() && c.len() <= 4096)
    else {
        return Err(failed(
            StatusCode::BAD_REQUEST,
            "The sign-in response carries no authorization code. Start again.",
            "web sign-in: no authorization code",
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
                failed(
                    StatusCode::FORBIDDEN,
                    "The identity provider refused this sign-in. Start again.",
                    "web sign-in: authorization code refused",
                )
            }
        })?;
    let refused = |why: &'static str| {
        tracing::info!(reason = why, "web sign-in refused");
        failed(
            StatusCode::FORBIDDEN,
            "This sign-in cannot be accepted.",
            "web sign-in: tokens not acceptable",
        )
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
    let id = match verifier
        .verify_id_token(id_token.expose_secret(), web.rp.client_id(), &login.nonce)
        .await
    {
        Ok(v) => v,
        Err(AuthError::Unavailable) => return Err(unavailable()),
        Err(AuthError::Invalid(why)) => return Err(refused(why)),
    };
    let access = match verifier.verify(tokens.access_token.expose_secret()).await {
        Ok(v) => v,
        Err(AuthError::Unavailable) => return Err(unavailable()),
        Err(AuthError::Invalid(why)) => return Err(refused(why)),
    };
    if id.issuer != access.issuer
        || id.subject != access.subject
        || (id.claims.sub.is_some()
            && access.claims.sub.is_some()
            && id.claims.sub != access.claims.sub)
    {
        return Err(refused("id token and access token name different users"));
    }
    let presented = Presented {
        access: &access,
        id_token: Some(&id),
        client_id: Some(web.rp.client_id().to_owned()),
        needed: "vso.pats_manage",
        edge: Edge::WebSignIn,
    };
    let storage_down = || {
        error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Patrol's storage is not answering. Try again shortly.",
        )
    };
    let caller = match app.admit(presented, &ctx.core.request_ctx(parts)).await {
        Ok(c) => c,
        Err(AppError::NonHuman) => {
            return Err(error_page(
                StatusCode::FORBIDDEN,
                "Service principals are not allowed to perform this action.",
            ))
        }
        Err(AppError::MissingScope(_)) => {
            return Err(error_page(
                StatusCode::FORBIDDEN,
                "The identity provider did not grant Patrol the vso.pats_manage scope, which managing tokens needs.",
            ))
        }
        Err(AppError::UserDisabled) => {
            return Err(error_page(StatusCode::FORBIDDEN, "This user is disabled."))
        }
        Err(AppError::ClientNotAllowed(_)) => {
            return Err(error_page(
                StatusCode::FORBIDDEN,
                "The identity provider issued this sign-in to an application that is not allowed to manage tokens.",
            ))
        }
        Err(_) => return Err(storage_down()),
    };
    let opened = app
        .open_web_session(
            &caller,
            &access,
            tokens.expires_in,
            tokens.refresh_token.as_ref(),
        )
        .await
        .map_err(|_| storage_down())?;
    let max_age = (opened.expires_at - now).num_seconds();
    Ok((
        web.set_cookie(web.session_cookie(), &opened.cookie_value, Some(max_age)),
        safe_return_to(Some(&login.return_to)),
    ))
}

/// `POST /signout`: end the server session (and, where the provider offers
/// it, revoke the refresh token), then clear the cookie.
pub async fn signout(State(ctx): State<WebCtx>, form: WebForm) -> Response {
    let web = &ctx.web;
    let user = form.user;
    if ctx
        .app()
        .sign_out(&web.idp, &user.caller, &user.key)
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
pub async fn signed_out(State(ctx): State<WebCtx>, Query(q): Query<SignedOutQuery>) -> Response {
    let provider_done = q.state.as_deref() == Some("provider");
    let web = &ctx.web;
    let provider_signout = match provider_done {
        false => web
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
        true => None,
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
