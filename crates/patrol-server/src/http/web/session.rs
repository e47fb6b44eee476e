//! Who is signed in: the session cookie, the anti-CSRF token, and the
//! extractors that resume a session through `App::resume_session` (which
//! holds the rules: liveness, disabled owners, silent refresh).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use patrol_core::session::SessionKey;

use super::pages::{csrf_refused, error_page};
use super::{WebCtx, WebState};
use crate::app::{Caller, SessionEnd};

pub const SEAL_LOGIN: &str = "patrol web login state v1";

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
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value_trimmed().to_owned())
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

impl FromRequestParts<WebCtx> for WebUser {
    type Rejection = NotSignedIn;

    async fn from_request_parts(parts: &mut Parts, ctx: &WebCtx) -> Result<Self, NotSignedIn> {
        let web = &ctx.web;
        let away = || {
            if parts.method == Method::GET || parts.method == Method::HEAD {
                NotSignedIn::Redirect(signin_redirect(parts))
            } else {
                NotSignedIn::Refuse(error_page(
                    StatusCode::FORBIDDEN,
                    "Your session has ended. Sign in again, then repeat the change.",
                ))
            }
        };
        let Some(cookie) = cookie_value(&parts.headers, web.session_cookie()) else {
            return Err(away());
        };
        let request = ctx.core.request_ctx(parts);
        match ctx.app().resume_session(&web.idp, &cookie, &request).await {
            Ok(r) => Ok(WebUser {
                csrf: web.csrf_for(&cookie),
                caller: r.caller,
                key: r.key,
            }),
            Err(SessionEnd::SignInAgain) => Err(away()),
            Err(SessionEnd::UserDisabled) => Err(NotSignedIn::Refuse(error_page(
                StatusCode::FORBIDDEN,
                "This user is disabled.",
            ))),
            Err(SessionEnd::StoreUnavailable) => Err(NotSignedIn::Refuse(error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Patrol's storage is not answering. Try again shortly.",
            ))),
            Err(SessionEnd::IdpUnavailable) => Err(NotSignedIn::Refuse(error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The identity provider is not answering, so your session cannot be renewed. Try again shortly.",
            ))),
        }
    }
}

/// A form post from a signed-in user whose anti-CSRF token checked out:
/// handlers that change anything take this instead of [`WebUser`].
pub struct WebForm {
    pub user: WebUser,
    pub fields: Vec<(String, String)>,
}

impl axum::extract::FromRequest<WebCtx> for WebForm {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, ctx: &WebCtx) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let user = WebUser::from_request_parts(&mut parts, ctx)
            .await
            .map_err(IntoResponse::into_response)?;
        let req = axum::extract::Request::from_parts(parts, body);
        let bytes = axum::body::Bytes::from_request(req, ctx)
            .await
            .map_err(IntoResponse::into_response)?;
        let fields = super::form_fields(&bytes);
        if !user.csrf_ok(super::field(&fields, "csrf")) {
            return Err(csrf_refused());
        }
        Ok(WebForm { user, fields })
    }
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
        h.insert(header::COOKIE, "patrol_session=\"q\"".parse().unwrap());
        assert_eq!(cookie_value(&h, "patrol_session").as_deref(), Some("q"));
    }
}
