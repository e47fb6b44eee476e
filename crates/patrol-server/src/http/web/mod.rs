//! The web page: what Azure DevOps users know as *User settings → Personal
//! access tokens*, served by Patrol itself. Server-rendered (askama), little
//! JavaScript, every asset embedded in the binary. It calls the same use
//! cases as the REST API.
//!
//! Security (`docs/security.md` items 23–25): OIDC code + PKCE S256 + state + nonce with
//! the IdP tokens kept server-side; an opaque `HttpOnly; SameSite=Lax`
//! session cookie (`__Host-` and `Secure` on https); an anti-CSRF token on
//! every form plus a `Sec-Fetch-Site`/`Origin` check on every POST; strict
//! security headers on every page; nothing changes on GET.

// Page helpers return the page to show instead as their error: a `Response`.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

use patrol_auth::rp::RelyingParty;
use patrol_auth::verifier::OidcVerifier;

use super::AppState;
use crate::app::{App, Sealer};

mod idp;
mod pages;
mod session;
mod signin;
mod view;

pub use idp::WebIdp;
pub use session::WebUser;

/// Everything the web page needs beyond the application core.
pub struct WebState {
    pub rp: RelyingParty,
    /// The identity provider as the session use cases see it.
    pub idp: WebIdp,
    /// `scheme://host[:port]` of the public URL, no trailing slash.
    pub public_origin: String,
    /// `host[:port]` of the public URL, to compare with `Host`.
    pub public_host: String,
    pub secure_cookies: bool,
    /// Seals the sign-in state cookie.
    pub sealer: Sealer,
    pub csrf_key: [u8; 32],
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
        verifier: OidcVerifier,
        public_url: &str,
        app: &App,
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
            idp: WebIdp::new(rp.clone(), verifier),
            rp,
            public_origin: u.origin().ascii_serialization(),
            public_host,
            secure_cookies: u.scheme() == "https",
            sealer: Sealer::new(app.derive_key("patrol web seal v1")),
            csrf_key: app.derive_key("patrol web csrf v1"),
        })
    }
}

/// The web routes' state: the application core and the web page's own parts.
#[derive(Clone)]
pub struct WebCtx {
    pub core: AppState,
    pub web: Arc<WebState>,
}

impl WebCtx {
    pub fn app(&self) -> &App {
        &self.core.app
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

/// Security headers on every page (docs/security.md, item 25). Pages are
/// never cached: some show a token, all show personal data.
fn with_page_headers(routes: Router<WebCtx>) -> Router<WebCtx> {
    let h = |name, value: &'static str| {
        SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
    };
    routes.layer(
        tower::ServiceBuilder::new()
            .layer(h(header::CONTENT_SECURITY_POLICY, CSP))
            .layer(h(
                header::STRICT_TRANSPORT_SECURITY,
                "max-age=31536000; includeSubDomains",
            ))
            .layer(h(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .layer(h(header::X_FRAME_OPTIONS, "DENY"))
            // Not `no-referrer`: with it, browsers send `Origin: null` on the
            // page's own form posts, which the same-origin check must refuse.
            .layer(h(header::REFERRER_POLICY, "same-origin"))
            .layer(h(
                header::HeaderName::from_static("cross-origin-opener-policy"),
                "same-origin",
            ))
            .layer(h(header::CACHE_CONTROL, "no-store")),
    )
}

/// Refuse any form post a browser says came from another site, or whose
/// `Origin` is not ours, before any handler runs (the anti-CSRF token is
/// checked again in each handler).
async fn same_origin_posts(State(ctx): State<WebCtx>, req: Request, next: Next) -> Response {
    if req.method() == Method::POST {
        let h = req.headers();
        let site = h
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let cross_site = matches!(site, "cross-site" | "same-site");
        let origin_ok = match h.get(header::ORIGIN) {
            None => true,
            // Privacy settings can blank the origin; the browser still vouches.
            Some(o) if o == "null" => site == "same-origin",
            Some(o) => o.to_str().is_ok_and(|o| o == ctx.web.public_origin),
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

/// The web routes (mounted when the web page is enabled).
pub fn router(state: &AppState, web: Arc<WebState>) -> Router {
    let ctx = WebCtx {
        core: state.clone(),
        web,
    };
    let pages = Router::new()
        .route("/", get(home))
        .route("/_usersSettings/tokens", get(home))
        .route("/{organization}/_usersSettings/tokens", get(home))
        .route("/signin", get(signin::signin))
        .route("/signin/callback", get(signin::callback))
        .route("/signout", post(signin::signout))
        .route("/signed-out", get(signin::signed_out))
        .route("/tokens", get(pages::list))
        .route(
            "/notifications",
            get(pages::notifications).post(pages::save_notifications),
        )
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
        .route("/tokens/{id}/activity", get(pages::token_activity))
        .merge(pages::admin_routes())
        .layer(middleware::from_fn_with_state(
            ctx.clone(),
            same_origin_posts,
        ));
    let pages = with_page_headers(pages).with_state(ctx);
    let assets = Router::new()
        .route("/static/patrol.css", get(css))
        .route("/static/patrol.js", get(js));
    pages.merge(assets)
}
