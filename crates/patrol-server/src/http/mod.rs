//! HTTP adapters: the router, its middleware, and the state handlers share.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderName, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, on, MethodFilter};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use patrol_auth::verifier::OidcVerifier;

use crate::app::{App, RequestCtx};

pub mod admin;
pub mod ado;
pub mod auth;
pub mod cli_config;
pub mod client_ip;
pub mod docs;
pub mod error;
pub mod location;
pub mod ops;
pub mod query;
pub mod tokenadmin;
pub mod verify;
pub mod version;
pub mod web;
pub mod wire;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub verifier: OidcVerifier,
    pub metrics: PrometheusHandle,
    pub trusted_proxies: Arc<Vec<IpAddr>>,
    pub public_url: Option<String>,
    /// `GET /patrol/v1/cli-config`; `None` answers 404.
    pub cli: Option<Arc<crate::config::CliLogin>>,
}

impl AppState {
    /// The client address and request id of a request, for limits and audit.
    pub fn request_ctx(&self, parts: &axum::http::request::Parts) -> RequestCtx {
        RequestCtx {
            source_ip: client_ip::client_ip(parts, &self.trusted_proxies),
            request_id: request_id(&parts.headers),
        }
    }
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id the middleware set (or the client sent), for audit records.
pub fn request_id(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Path segments matched case-insensitively (clients send `/_apis/Tokens/Pats`).
const KEYWORDS: &[&str] = &[
    "_apis",
    "tokens",
    "pats",
    "regenerate",
    "resourceareas",
    "connectiondata",
    "tokenadmin",
    "personalaccesstokens",
    "revocations",
    "revocationrules",
];

/// Lower-case the API keywords after `_apis` and drop a trailing slash, so
/// routing ignores case the way Azure DevOps does (other segments keep theirs).
pub fn normalize_path(path: &str) -> Option<String> {
    let mut out = String::with_capacity(path.len());
    let mut in_api = false;
    let mut changed = false;
    // Only API paths lose a trailing slash (`/_apis/` from .NET); others, like
    // the docs UI at `/docs/`, keep theirs.
    let is_api = path.split('/').any(|s| s.eq_ignore_ascii_case("_apis"));
    let trimmed = if is_api && path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    if trimmed.len() != path.len() {
        changed = true;
    }
    for (i, seg) in trimmed.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let lower = seg.to_ascii_lowercase();
        if lower == "_apis" {
            in_api = true;
        }
        if in_api && KEYWORDS.contains(&lower.as_str()) && lower != seg {
            out.push_str(&lower);
            changed = true;
        } else {
            out.push_str(seg);
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    changed.then_some(out)
}

/// Rewrites the request URI before routing (see [`normalize_path`]).
pub fn rewrite_request_uri<B>(mut req: axum::http::Request<B>) -> axum::http::Request<B> {
    if let Some(p) = normalize_path(req.uri().path()) {
        let pq = match req.uri().query() {
            Some(q) => format!("{p}?{q}"),
            None => p,
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = pq.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}

async fn track_metrics(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    let labels = [("route", route), ("method", method), ("status", status)];
    metrics::counter!("patrol_http_requests_total", &labels).increment(1);
    metrics::histogram!("patrol_http_request_duration_seconds", &labels[..2])
        .record(start.elapsed().as_secs_f64());
    resp
}

/// Read a request's body in full before routing. A handler that refuses a
/// request without reading its body (401, 403, …) would otherwise leave it
/// unread, and hyper then closes the keep-alive connection right after the
/// response — racing the client's next request on it ("connection reset").
/// Bodies are small (`max_body_bytes`); bodiless requests (the verify path)
/// pass straight through.
async fn read_body_first(State(max_body): State<usize>, req: Request, next: Next) -> Response {
    let has_body = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0")
        || req.headers().contains_key(header::TRANSFER_ENCODING);
    if !has_body {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, max_body).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
        // The rest of the body stays unread, so the connection cannot be
        // reused: say so, or the client sends its next request into it.
        Err(_) => {
            let mut resp = error::ApiError::PayloadTooLarge.into_response();
            resp.headers_mut().insert(
                header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
            resp
        }
    }
}

async fn not_found() -> Response {
    error::ApiError::NotFound {
        type_key: "NotFoundException",
        message: "The resource cannot be found.".into(),
    }
    .into_response()
}

async fn method_not_allowed() -> Response {
    error::ApiError::MethodNotAllowed.into_response()
}

/// The whole HTTP surface: the API, the verify path, the docs, the web page
/// when it is enabled, and `extra` routes mounted beside them (the dev issuer).
pub fn router(
    state: AppState,
    max_body: usize,
    request_timeout: std::time::Duration,
    web: Option<Arc<web::WebState>>,
    extra: Option<Router>,
) -> Router {
    let options = MethodFilter::OPTIONS;
    let api = Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/_apis", on(options, location::options))
        .route("/{organization}/_apis", on(options, location::options))
        .route("/_apis/{area}", on(options, location::options))
        .route(
            "/{organization}/_apis/{area}",
            on(options, location::options),
        )
        .route("/_apis/resourceareas", get(location::resource_areas))
        .route(
            "/{organization}/_apis/resourceareas",
            get(location::resource_areas),
        )
        .route(
            "/_apis/resourceareas/{area_id}",
            get(location::resource_area),
        )
        .route(
            "/{organization}/_apis/resourceareas/{area_id}",
            get(location::resource_area),
        )
        .route("/_apis/connectiondata", get(location::connection_data))
        .route(
            "/{organization}/_apis/connectiondata",
            get(location::connection_data),
        )
        .route_layer(middleware::from_fn(track_metrics))
        .with_state(state.clone());
    // PAT API answers may carry a secret (create, regenerate): none is cached.
    let set = |name, value| {
        tower_http::set_header::SetResponseHeaderLayer::overriding(
            name,
            axum::http::HeaderValue::from_static(value),
        )
    };
    // Documented routes are registered through `OpenApiRouter`, so none
    // can be served without its OpenAPI description.
    let pat_api = OpenApiRouter::with_openapi(docs::ApiDoc::openapi())
        .routes(routes!(
            ado::get_or_list,
            ado::create,
            ado::update,
            ado::revoke
        ))
        .routes(routes!(ado::regenerate))
        .route_layer(middleware::from_fn(track_metrics))
        .route_layer(set(header::CACHE_CONTROL, "no-store"))
        .route_layer(set(header::PRAGMA, "no-cache"))
        .with_state(state.clone());
    // The Token Admin API and Patrol's admin API: no answer is stored either.
    let admin_api = OpenApiRouter::with_openapi(admin::AdminDoc::openapi())
        .routes(routes!(tokenadmin::list))
        .routes(routes!(tokenadmin::revocations))
        .routes(routes!(tokenadmin::revocation_rules))
        .routes(routes!(admin::get_policies))
        .routes(routes!(admin::put_tenant_policy))
        .routes(routes!(admin::put_org_policy))
        .routes(routes!(admin::dry_run))
        .routes(routes!(admin::list_users))
        .routes(routes!(admin::list_members))
        .routes(routes!(admin::add_member, admin::remove_member))
        .routes(routes!(admin::user_tokens))
        .routes(routes!(admin::revoke_token))
        .routes(routes!(admin::list_rules, admin::create_rule))
        .routes(routes!(admin::audit::audit_log))
        .route_layer(middleware::from_fn(track_metrics))
        .route_layer(set(header::CACHE_CONTROL, "no-store"))
        .route_layer(set(header::PRAGMA, "no-cache"))
        .with_state(state.clone());
    let verify = verify::router(&state).route_layer(middleware::from_fn(track_metrics));
    let cli = cli_config::router(&state).route_layer(middleware::from_fn(track_metrics));
    let (documented, openapi) = pat_api
        .merge(verify)
        .merge(admin_api)
        .merge(cli)
        .split_for_parts();
    let mut app = api.merge(documented).merge(docs::router(openapi));
    if let Some(web) = web {
        app = app.merge(web::router(&state, web).route_layer(middleware::from_fn(track_metrics)));
    }
    if let Some(extra) = extra {
        app = app.merge(extra);
    }
    let sensitive: Arc<[HeaderName]> = Arc::from(vec![
        header::AUTHORIZATION,
        header::PROXY_AUTHORIZATION,
        header::COOKIE,
        header::SET_COOKIE,
    ]);
    app.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(max_body, read_body_first))
        // Slow bodies included: a request is answered within the bound (408).
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let id = req.headers().get(&X_REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
                    // The path only: query strings may carry ids, never logged.
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                })
                .on_response(|resp: &Response, latency: std::time::Duration, _span: &tracing::Span| {
                    tracing::info!(status = resp.status().as_u16(), latency_ms = latency.as_millis() as u64, "response");
                }),
        )
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
        .layer(SetRequestIdLayer::new(X_REQUEST_ID, MakeRequestUuid))
        .layer(SetSensitiveRequestHeadersLayer::from_shared(sensitive))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_normalisation() {
        assert_eq!(
            normalize_path("/MyOrg/_apis/Tokens/Pats").as_deref(),
            Some("/MyOrg/_apis/tokens/pats")
        );
        assert_eq!(normalize_path("/myorg/_apis/tokens/pats"), None);
        assert_eq!(
            normalize_path("/myorg/_APIS/").as_deref(),
            Some("/myorg/_apis")
        );
        assert_eq!(
            normalize_path("/_apis/ResourceAreas").as_deref(),
            Some("/_apis/resourceareas")
        );
        assert_eq!(normalize_path("/oidc/Authorize"), None);
        assert_eq!(normalize_path("/"), None);
        assert_eq!(normalize_path("/docs/"), None);
        assert_eq!(normalize_path("/_apis/").as_deref(), Some("/_apis"));
        assert_eq!(
            normalize_path("/Org/_apis/TokenAdmin/PersonalAccessTokens/aad.AbC").as_deref(),
            Some("/Org/_apis/tokenadmin/personalaccesstokens/aad.AbC")
        );
        assert_eq!(
            normalize_path("/o/_apis/TokenAdmin/RevocationRules").as_deref(),
            Some("/o/_apis/tokenadmin/revocationrules")
        );
        assert_eq!(
            normalize_path("/o/_apis/TokenAdmin/Revocations").as_deref(),
            Some("/o/_apis/tokenadmin/revocations")
        );
    }
}
