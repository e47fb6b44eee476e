//! The web page: what Azure DevOps users know as *User settings → Personal
//! access tokens*, served by Patrol itself. Server-rendered (askama), little
//! JavaScript, every asset embedded in the binary. It calls the same use
//! cases as the REST API.
//!
//! Security (security.md 23–25): OIDC code + PKCE S256 + state + nonce with
//! the IdP tokens kept server-side; an opaque `HttpOnly; SameSite=Lax`
//! session cookie (`__Host-` and `Secure` on https); an anti-CSRF token on
//! every form plus a `Sec-Fetch-Site`/`Origin` check on every POST; strict
//! security headers on every page; nothing changes on GET.

// Page helpers return the page to show instead as their error: a `Response`.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::Duration;

use patrol_auth::rp::RelyingParty;
use patrol_core::session::SessionKey;

use super::AppState;

mod pages;
mod seal;
mod session;
mod signin;
mod view;

pub use seal::Sealer;
pub use session::WebUser;

/// Everything the web page needs beyond the application core.
pub struct WebState {
    pub rp: RelyingParty,
    /// `scheme://host[:port]` of the public URL, no trailing slash.
    pub public_origin: String,
    /// `host[:port]` of the public URL, to compare with `Host`.
    pub public_host: String,
    pub secure_cookies: bool,
    pub session_max: Duration,
    pub session_idle: Duration,
    pub sealer: Sealer,
    pub csrf_key: [u8; 32],
    /// Per-session locks so concurrent requests refresh a session once.
    refresh_locks: std::sync::Mutex<HashMap<[u8; 32], Weak<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for WebState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebState")
            .field("public_origin", &self.public_origin)
            .field("secure_cookies", &self.secure_cookies)
            .finish_non_exhaustive()
    }
}

impl WebState {
    /// `public_url` is the externally visible base URL (its path is ignored).
    pub fn new(
        rp: RelyingParty,
        public_url: &str,
        session_max: Duration,
        session_idle: Duration,
        hasher: &patrol_core::hashing::TokenHasher,
    ) -> anyhow::Result<Self> {
        let u = url::Url::parse(public_url)
            .map_err(|e| anyhow::anyhow!("server.public_url '{public_url}': {e}"))?;
        let host = u
            .host_str()
            .ok_or_else(|| anyhow::anyhow!("server.public_url has no host"))?;
        let public_host = match u.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        Ok(Self {
            rp,
            public_origin: u.origin().ascii_serialization(),
            public_host,
            secure_cookies: u.scheme() == "https",
            session_max,
            session_idle,
            sealer: Sealer::new(hasher.derive_key("patrol web seal v1")),
            csrf_key: hasher.derive_key("patrol web csrf v1"),
            refresh_locks: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// The refresh lock of one session (shared while anyone holds it).
    pub fn refresh_lock(&self, key: &SessionKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .refresh_locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(l) = locks.get(&key.0).and_then(Weak::upgrade) {
            return l;
        }
        locks.retain(|_, w| w.strong_count() > 0);
        let l = Arc::new(tokio::sync::Mutex::new(()));
        locks.insert(key.0, Arc::downgrade(&l));
        l
    }
}

/// Form fields in order, repeated names kept (`scope=a&scope=b`).
pub fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Security headers on every page (security.md 25). Pages are never cached:
/// some show a token, all show personal data.
async fn page_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000; includeSubDomains"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        // Not `no-referrer`: with it, browsers send `Origin: null` on the
        // page's own form posts, which the same-origin check must refuse.
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Refuse any form post a browser says came from another site, or whose
/// `Origin` is not ours, before any handler runs (the anti-CSRF token is
/// checked again in each handler).
async fn same_origin_posts(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() == Method::POST {
        let h = req.headers();
        let site = h
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let cross_site = matches!(site, "cross-site" | "same-site");
        let origin_ok = match (h.get(header::ORIGIN), &state.web) {
            (None, _) => true,
            // Privacy settings can blank the origin; the browser still vouches.
            (Some(o), _) if o == "null" => site == "same-origin",
            (Some(o), Some(web)) => o.to_str().is_ok_and(|o| o == web.public_origin),
            (Some(_), None) => false,
        };
        if cross_site || !origin_ok {
            tracing::info!(
                sec_fetch_site = site,
                "refused a cross-site form post to the web page"
            );
            return pages::cross_site_refused();
        }
    }
    next.run(req).await
}

async fn css() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../../static/patrol.css"),
    )
}

async fn js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../../static/patrol.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

async fn home() -> Redirect {
    Redirect::to("/tokens")
}

/// The web routes (when the web page is enabled).
pub fn router(state: &AppState) -> Router {
    let pages = Router::new()
        .route("/", get(home))
        .route("/_usersSettings/tokens", get(home))
        .route("/{organization}/_usersSettings/tokens", get(home))
        .route("/signin", get(signin::signin))
        .route("/signin/callback", get(signin::callback))
        .route("/signout", post(signin::signout))
        .route("/signed-out", get(signin::signed_out))
        .route("/tokens", get(pages::list))
        .route("/tokens/new", get(pages::new_form).post(pages::create))
        .route(
            "/tokens/{id}/edit",
            get(pages::edit_form).post(pages::update),
        )
        .route(
            "/tokens/{id}/regenerate",
            get(pages::confirm_regenerate).post(pages::regenerate),
        )
        .route(
            "/tokens/{id}/revoke",
            get(pages::confirm_revoke).post(pages::revoke),
        )
        .layer(middleware::from_fn_with_state(
            state.clone(),
            same_origin_posts,
        ))
        .layer(middleware::from_fn(page_headers))
        .with_state(state.clone());
    let assets = Router::new()
        .route("/static/patrol.css", get(css))
        .route("/static/patrol.js", get(js));
    pages.merge(assets)
}
