//! Who is signed in: the session cookie, the server-side session behind it,
//! silent refresh of the IdP access token, and the anti-CSRF token.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use axum::response::{IntoResponse, Redirect, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use patrol_auth::rp::RpError;
use patrol_core::session::{SessionKey, WebSession};

use super::pages::error_page;
use super::WebState;
use crate::app::Caller;
use crate::http::client_ip::client_ip;
use crate::http::AppState;

pub const SEAL_REFRESH: &str = "patrol web refresh token v1";
pub const SEAL_LOGIN: &str = "patrol web login state v1";
/// `last_seen` is written at most this often per session.
const TOUCH_EVERY_SECS: i64 = 60;

/// Cookie names: `__Host-` (Secure, Path=/, no Domain) whenever the public
/// URL is https; plain names on a plain-HTTP development origin.
impl WebState {
    pub fn session_cookie(&self) -> &'static str {
        if self.secure_cookies {
            "__Host-patrol_session"
        } else {
            "patrol_session"
        }
    }

    pub fn login_cookie(&self) -> &'static str {
        if self.secure_cookies {
            "__Host-patrol_login"
        } else {
            "patrol_login"
        }
    }

    /// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, Secure on https.
    pub fn set_cookie(&self, name: &str, value: &str, max_age: Option<i64>) -> String {
        let mut c = cookie::Cookie::new(name.to_owned(), value.to_owned());
        c.set_http_only(true);
        c.set_same_site(cookie::SameSite::Lax);
        c.set_path("/");
        c.set_secure(self.secure_cookies);
        if let Some(secs) = max_age {
            c.set_max_age(cookie::time::Duration::seconds(secs));
        }
        c.to_string()
    }

    pub fn clear_cookie(&self, name: &str) -> String {
        self.set_cookie(name, "", Some(0))
    }

    /// The anti-CSRF token of a session: a MAC of its (secret) cookie value,
    /// so it needs no storage and cannot be computed without the cookie.
    pub fn csrf_for(&self, session_cookie_value: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.csrf_key) else {
            return String::new();
        };
        mac.update(session_cookie_value.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

/// A cookie's value from the request headers.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

/// The signed-in user of a web request.
pub struct WebUser {
    pub caller: Caller,
    pub csrf: String,
    pub key: SessionKey,
}

impl WebUser {
    /// Constant-time check of a submitted anti-CSRF token.
    pub fn csrf_ok(&self, submitted: Option<&str>) -> bool {
        submitted.is_some_and(|s| {
            !self.csrf.is_empty() && bool::from(s.as_bytes().ct_eq(self.csrf.as_bytes()))
        })
    }
}

/// Not signed in: pages send the browser to sign in, form posts get a 403.
pub enum NotSignedIn {
    Redirect(String),
    Refuse(Response),
}

impl IntoResponse for NotSignedIn {
    fn into_response(self) -> Response {
        match self {
            NotSignedIn::Redirect(to) => Redirect::to(&to).into_response(),
            NotSignedIn::Refuse(r) => r,
        }
    }
}

fn signin_redirect(parts: &Parts) -> String {
    let here = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/tokens");
    format!(
        "/signin?return_to={}",
        url::form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>()
    )
}

impl FromRequestParts<AppState> for WebUser {
    type Rejection = NotSignedIn;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, NotSignedIn> {
        let Some(web) = state.web.clone() else {
            return Err(NotSignedIn::Refuse(error_page(
                axum::http::StatusCode::NOT_FOUND,
                "The web page is not enabled on this server.",
            )));
        };
        let away = || {
            if parts.method == Method::GET || parts.method == Method::HEAD {
                NotSignedIn::Redirect(signin_redirect(parts))
            } else {
                NotSignedIn::Refuse(error_page(
                    axum::http::StatusCode::FORBIDDEN,
                    "Your session has ended. Sign in again, then repeat the change.",
                ))
            }
        };
        let Some(cookie) = cookie_value(&parts.headers, web.session_cookie()) else {
            return Err(away());
        };
        let key = SessionKey::of(&cookie);
        let app = &state.app;
        let now = app.now();
        let unavailable = |msg: &str| {
            NotSignedIn::Refuse(error_page(axum::http::StatusCode::SERVICE_UNAVAILABLE, msg))
        };
        let Some(mut session) = app
            .session(&key)
            .await
            .map_err(|_| unavailable("Patrol's storage is not answering. Try again shortly."))?
        else {
            return Err(away());
        };
        let user = match app.store.get_user(session.user_id).await {
            Ok(Some(u)) => u,
            Ok(None) => return Err(away()),
            Err(_) => return Err(unavailable("Patrol's storage is not answering.")),
        };
        let caller = Caller {
            user,
            client_id: Some(web.rp.client_id().to_owned()),
            source_ip: client_ip(parts, &state.trusted_proxies).map(|i| i.to_string()),
            request_id: crate::http::request_id(&parts.headers),
        };
        if !session.is_live(now, web.session_idle) {
            let _ = app.end_session(&caller, &key, Some("expired")).await;
            return Err(away());
        }
        if caller.user.disabled {
            let _ = app.end_session(&caller, &key, Some("user disabled")).await;
            return Err(NotSignedIn::Refuse(error_page(
                axum::http::StatusCode::FORBIDDEN,
                "This user is disabled.",
            )));
        }
        let mut dirty = now - session.last_seen >= Duration::seconds(TOUCH_EVERY_SECS);
        // One refresh per session at a time: providers rotate refresh tokens
        // and treat a second use of the old one as theft, ending the grant.
        let _refreshing;
        if session.needs_refresh(now) {
            _refreshing = web.refresh_lock(&key).lock_owned().await;
            match app.session(&key).await {
                Ok(Some(current)) => session = current,
                Ok(None) => return Err(away()),
                Err(_) => return Err(unavailable("Patrol's storage is not answering.")),
            }
        }
        if session.needs_refresh(now) {
            match refresh(state, &web, &caller.user, &mut session, now).await {
                Ok(()) => dirty = true,
                Err(Refresh::Ended(reason)) => {
                    tracing::info!(reason, "web session ended: the identity provider did not refresh it");
                    let _ = app.end_session(&caller, &key, Some(reason)).await;
                    return Err(away());
                }
                Err(Refresh::Unavailable) => {
                    return Err(unavailable(
                        "The identity provider is not answering, so your session cannot be renewed. Try again shortly.",
                    ))
                }
            }
        }
        if dirty {
            session.last_seen = now;
            if app.save_session(&session).await.is_err() {
                return Err(unavailable("Patrol's storage is not answering."));
            }
        }
        Ok(WebUser {
            csrf: web.csrf_for(&cookie),
            caller,
            key,
        })
    }
}

/// A form post from a signed-in user whose anti-CSRF token checked out:
/// handlers that change anything take this instead of [`WebUser`].
pub struct WebForm {
    pub user: WebUser,
    pub fields: Vec<(String, String)>,
}

impl axum::extract::FromRequest<AppState> for WebForm {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let user = WebUser::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let req = axum::extract::Request::from_parts(parts, body);
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let fields = super::form_fields(&bytes);
        if !user.csrf_ok(super::field(&fields, "csrf")) {
            return Err(super::pages::csrf_refused());
        }
        Ok(WebForm { user, fields })
    }
}

enum Refresh {
    Ended(&'static str),
    Unavailable,
}

/// Exchange the sealed refresh token for a new access token, check that
/// token exactly as the API would, and keep the (rotated) refresh token.
async fn refresh(
    state: &AppState,
    web: &WebState,
    user: &patrol_core::user::User,
    session: &mut WebSession,
    now: DateTime<Utc>,
) -> Result<(), Refresh> {
    let Some(sealed) = session.sealed_refresh_token.as_deref() else {
        return Err(Refresh::Ended("no refresh token"));
    };
    let Some(rt) = web.sealer.open(SEAL_REFRESH, sealed) else {
        return Err(Refresh::Ended(
            "refresh token unreadable (server key changed)",
        ));
    };
    let rt = String::from_utf8(rt).map_err(|_| Refresh::Ended("refresh token unreadable"))?;
    let tokens = match web.rp.refresh(&rt).await {
        Ok(t) => t,
        Err(RpError::Unavailable(_)) => return Err(Refresh::Unavailable),
        Err(_) => return Err(Refresh::Ended("refresh refused by the identity provider")),
    };
    let verified = match state
        .verifier
        .verify(tokens.access_token.expose_secret())
        .await
    {
        Ok(v) => v,
        Err(patrol_auth::AuthError::Unavailable) => return Err(Refresh::Unavailable),
        Err(patrol_auth::AuthError::Invalid(_)) => {
            return Err(Refresh::Ended("refreshed access token not acceptable"))
        }
    };
    let same_user =
        user.subject == verified.subject && user.issuer == state.user_issuer(&verified.issuer);
    if !same_user {
        return Err(Refresh::Ended("refreshed token names another user"));
    }
    session.access_expires_at = access_expiry(&verified, tokens.expires_in, now);
    if let Some(new_rt) = tokens.refresh_token {
        session.sealed_refresh_token = Some(
            web.sealer
                .seal(SEAL_REFRESH, new_rt.expose_secret().as_bytes()),
        );
    }
    Ok(())
}

/// When an access token runs out: its `exp`, else `expires_in`, else an hour.
pub fn access_expiry(
    verified: &patrol_auth::VerifiedToken,
    expires_in: Option<u64>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    verified
        .claims
        .exp
        .and_then(|e| DateTime::from_timestamp(e, 0))
        .or_else(|| expires_in.map(|s| now + Duration::seconds(i64::try_from(s).unwrap_or(3600))))
        .unwrap_or(now + Duration::hours(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_parsing() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; patrol_session=abc; b=2".parse().unwrap(),
        );
        h.append(header::COOKIE, "c=3".parse().unwrap());
        assert_eq!(cookie_value(&h, "patrol_session").as_deref(), Some("abc"));
        assert_eq!(cookie_value(&h, "c").as_deref(), Some("3"));
        assert_eq!(cookie_value(&h, "patrol"), None);
        h.insert(header::COOKIE, "patrol_session=".parse().unwrap());
        assert_eq!(cookie_value(&h, "patrol_session"), None);
    }
}
