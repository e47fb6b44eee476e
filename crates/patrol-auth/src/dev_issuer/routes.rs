//! HTTP endpoints of the dev issuer, relative to `/oidc`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tower::ServiceBuilder;
use tower_http::set_header::SetResponseHeaderLayer;
use url::Url;

use super::grants::{AuthCode, CODE_TTL};
use super::page::{authorize_page, error_page};
use super::{dev_user, DevIssuer, DEV_DEFAULT_SCOPE, DEV_PUBLIC_CLIENT_ID};
use crate::rp::{random_value, Pkce};

/// Scopes that are about the sign-in itself, not the API; they never appear in `scp`.
const OIDC_SCOPES: [&str; 6] = [
    "openid",
    "profile",
    "email",
    "offline_access",
    "address",
    "phone",
];
const MAX_PARAM_LEN: usize = 2048;

/// What the dev issuer's handlers share.
#[derive(Clone)]
pub(super) struct IssuerState {
    pub(super) dev: DevIssuer,
    pub(super) issuer: Arc<str>,
}

/// The sign-in page's Content-Security-Policy: its own inline style, nothing else.
const PAGE_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

fn header_layer(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
}

pub(crate) fn router(dev: DevIssuer, issuer: String) -> Router {
    let state = IssuerState {
        dev,
        issuer: issuer.into(),
    };
    // The sign-in page, its redirects and error pages: never cached, never framed.
    let page = Router::new()
        .route("/authorize", get(authorize_get).post(authorize_post))
        .layer(
            ServiceBuilder::new()
                .layer(header_layer(header::CACHE_CONTROL, "no-store"))
                .layer(header_layer(header::X_FRAME_OPTIONS, "DENY"))
                .layer(header_layer(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                // `no-referrer` would make browsers send `Origin: null` on this page's own
                // form post, which the same-origin check refuses.
                .layer(header_layer(header::REFERRER_POLICY, "same-origin"))
                .layer(header_layer(header::CONTENT_SECURITY_POLICY, PAGE_CSP)),
        );
    // Token responses, errors included, must not be cached (RFC 6749 §5.1).
    let token = Router::new()
        .route("/token", post(super::token::token))
        .route("/revoke", post(super::token::revoke))
        .layer(
            ServiceBuilder::new()
                .layer(header_layer(header::CACHE_CONTROL, "no-store"))
                .layer(header_layer(header::PRAGMA, "no-cache")),
        );
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route(
            "/jwks",
            get(jwks).layer(header_layer(header::CACHE_CONTROL, "public, max-age=60")),
        )
        .merge(page)
        .merge(token)
        .with_state(state)
}

async fn discovery(State(s): State<IssuerState>) -> Response {
    let i = &*s.issuer;
    Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "revocation_endpoint": format!("{i}/revoke"),
        "jwks_uri": format!("{i}/jwks"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access", "vso.pats", "vso.pats_manage"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "oid", "tid", "name",
            "preferred_username", "email", "scp", "roles", "idtyp", "azp", "nonce", "auth_time"],
        "authorization_response_iss_parameter_supported": true,
    }))
    .into_response()
}

async fn jwks(State(s): State<IssuerState>) -> Response {
    Json(s.dev.jwks()).into_response()
}

/// Parses an `application/x-www-form-urlencoded` string. Empty values count as omitted
/// (RFC 6749 §3.1); repeated parameters are an error.
pub(super) fn parse_params(raw: &[u8]) -> Result<HashMap<String, String>, &'static str> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw) {
        if v.is_empty() {
            continue;
        }
        if v.len() > MAX_PARAM_LEN {
            return Err("parameter too long");
        }
        if out.insert(k.into_owned(), v.into_owned()).is_some() {
            return Err("repeated parameter");
        }
    }
    Ok(out)
}

/// Loopback (`http://127.0.0.1:*`, `http://localhost:*`, `http://[::1]:*`) or the issuer's own
/// origin. No fragments, no credentials.
fn redirect_allowed(uri: &str, issuer: &str) -> Option<Url> {
    let u = Url::parse(uri).ok()?;
    if u.fragment().is_some() || !u.username().is_empty() || u.password().is_some() {
        return None;
    }
    let loopback = u.scheme() == "http"
        && match u.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
            Some(url::Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
            None => false,
        };
    if loopback {
        return Some(u);
    }
    let iss = Url::parse(issuer).ok()?;
    (u.origin() == iss.origin() && u.origin().is_tuple()).then_some(u)
}

struct AuthorizeRequest {
    redirect_uri: Url,
    scope: String,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: String,
}

enum AuthorizeError {
    /// Shown to the user; never redirected (unknown client or redirect URI).
    Page(&'static str),
    /// Sent back to the client's redirect URI.
    Redirect(Box<Url>, &'static str, &'static str, Option<String>),
}

impl AuthorizeError {
    fn into_response(self, issuer: &str) -> Response {
        match self {
            AuthorizeError::Page(msg) => error_page(StatusCode::BAD_REQUEST, msg),
            AuthorizeError::Redirect(mut url, error, description, state) => {
                {
                    let mut q = url.query_pairs_mut();
                    q.append_pair("error", error);
                    q.append_pair("error_description", description);
                    if let Some(state) = &state {
                        q.append_pair("state", state);
                    }
                    q.append_pair("iss", issuer);
                }
                found(url.as_str())
            }
        }
    }
}

fn found(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (StatusCode::FOUND, [(header::LOCATION, v)]).into_response(),
        Err(_) => error_page(StatusCode::BAD_REQUEST, "invalid redirect_uri"),
    }
}

/// `scope-token` characters (RFC 6749 §3.3).
fn valid_scope_token(s: &str) -> bool {
    s.bytes()
        .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// The scope granted for a requested one: OIDC scopes as asked, API scopes as asked (an
/// Entra-style `<audience>/` prefix and `.default` are understood), or the default API scopes.
pub(crate) fn granted_scope(requested: &str) -> String {
    let mut oidc: Vec<&str> = Vec::new();
    let mut api: Vec<&str> = Vec::new();
    for token in requested.split_whitespace() {
        let token = token
            .strip_prefix(super::DEV_AUDIENCE)
            .map(|rest| rest.trim_start_matches('/'))
            .unwrap_or(token);
        let list = if OIDC_SCOPES.contains(&token) {
            &mut oidc
        } else if token.is_empty() || token == ".default" {
            continue;
        } else {
            &mut api
        };
        if !list.contains(&token) {
            list.push(token);
        }
    }
    if api.is_empty() {
        api = DEV_DEFAULT_SCOPE.split_whitespace().collect();
    }
    oidc.into_iter().chain(api).collect::<Vec<_>>().join(" ")
}

/// The API part of a granted scope, for the `scp` claim.
pub(super) fn scp_of(granted: &str) -> String {
    granted
        .split_whitespace()
        .filter(|s| !OIDC_SCOPES.contains(s))
        .collect::<Vec<_>>()
        .join(" ")
}

fn validate_authorize(
    p: &HashMap<String, String>,
    issuer: &str,
) -> Result<AuthorizeRequest, AuthorizeError> {
    if p.get("client_id").map(String::as_str) != Some(DEV_PUBLIC_CLIENT_ID) {
        return Err(AuthorizeError::Page(
            "Unknown client_id: the dev issuer's public client is patrol-dev-cli.",
        ));
    }
    let redirect_uri = p
        .get("redirect_uri")
        .and_then(|u| redirect_allowed(u, issuer))
        .ok_or(AuthorizeError::Page(
            "redirect_uri is missing or not allowed: use http://127.0.0.1:<port>/..., \
             http://localhost:<port>/... or a URL on this server.",
        ))?;
    let state = p.get("state").cloned();
    let fail = |error, description| {
        AuthorizeError::Redirect(
            Box::new(redirect_uri.clone()),
            error,
            description,
            state.clone(),
        )
    };
    if p.get("response_type").map(String::as_str) != Some("code") {
        return Err(fail(
            "unsupported_response_type",
            "only response_type=code is supported",
        ));
    }
    let code_challenge = p
        .get("code_challenge")
        .ok_or_else(|| fail("invalid_request", "PKCE is required: send code_challenge"))?;
    if p.get("code_challenge_method").map(String::as_str) != Some("S256") {
        return Err(fail(
            "invalid_request",
            "code_challenge_method must be S256",
        ));
    }
    if !Pkce::is_well_formed_challenge(code_challenge) {
        return Err(fail("invalid_request", "malformed code_challenge"));
    }
    let requested = p.get("scope").map(String::as_str).unwrap_or("");
    if !requested.split_whitespace().all(valid_scope_token) {
        return Err(fail("invalid_scope", "malformed scope"));
    }
    Ok(AuthorizeRequest {
        scope: granted_scope(requested),
        nonce: p.get("nonce").cloned(),
        code_challenge: code_challenge.clone(),
        state,
        redirect_uri,
    })
}

async fn authorize_get(State(s): State<IssuerState>, RawQuery(query): RawQuery) -> Response {
    let params = match parse_params(query.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(msg) => return error_page(StatusCode::BAD_REQUEST, msg),
    };
    match validate_authorize(&params, &s.issuer) {
        Ok(req) => authorize_page(&params, req.redirect_uri.as_str()),
        Err(e) => e.into_response(&s.issuer),
    }
}

/// Refuses cross-site form posts (login CSRF): an `Origin` header, when sent, must be the
/// issuer's origin or match `Host`.
fn same_origin(headers: &HeaderMap, issuer: &str) -> bool {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if origin == "null" {
        // A blanked origin: trust only the browser's own same-origin claim.
        return headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"same-origin"));
    }
    if Url::parse(issuer).is_ok_and(|i| i.origin().ascii_serialization() == origin) {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match (Url::parse(origin), host) {
        (Ok(o), Some(host)) => {
            let authority = match (o.host_str(), o.port()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_owned(),
                _ => return false,
            };
            authority.eq_ignore_ascii_case(host)
        }
        _ => false,
    }
}

async fn authorize_post(State(s): State<IssuerState>, headers: HeaderMap, body: Bytes) -> Response {
    if !same_origin(&headers, &s.issuer) {
        return error_page(StatusCode::FORBIDDEN, "cross-site sign-in request refused");
    }
    let params = match parse_params(&body) {
        Ok(p) => p,
        Err(msg) => return error_page(StatusCode::BAD_REQUEST, msg),
    };
    let req = match validate_authorize(&params, &s.issuer) {
        Ok(r) => r,
        Err(e) => return e.into_response(&s.issuer),
    };
    let Some(user) = params.get("username").and_then(|u| dev_user(u)) else {
        return error_page(StatusCode::BAD_REQUEST, "unknown dev user");
    };
    let code = random_value();
    let stored = s.dev.grants().insert_code(
        &code,
        AuthCode {
            client_id: DEV_PUBLIC_CLIENT_ID.to_owned(),
            redirect_uri: req.redirect_uri.to_string(),
            code_challenge: req.code_challenge,
            user,
            scope: req.scope,
            nonce: req.nonce,
            auth_time: chrono::Utc::now().timestamp(),
            expires: Instant::now() + CODE_TTL,
        },
    );
    if !stored {
        return error_page(StatusCode::SERVICE_UNAVAILABLE, "too many pending sign-ins");
    }
    tracing::info!(user = user.username, "dev issuer: user signed in");
    let mut url = req.redirect_uri;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("code", &code);
        if let Some(state) = &req.state {
            q.append_pair("state", state);
        }
        q.append_pair("iss", &s.issuer);
    }
    found(url.as_str())
}

#[cfg(test)]
mod tests {
    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn same_origin_rules() {
        let iss = "http://127.0.0.1:8080/oidc";
        assert!(same_origin(&headers(&[]), iss));
        assert!(same_origin(
            &headers(&[("origin", "http://127.0.0.1:8080")]),
            iss
        ));
        assert!(!same_origin(
            &headers(&[("origin", "http://evil.test")]),
            iss
        ));
        assert!(!same_origin(
            &headers(&[
                ("sec-fetch-site", "cross-site"),
                ("origin", "http://127.0.0.1:8080")
            ]),
            iss
        ));
        // What a browser sends under a no-referrer policy: trusted only with Sec-Fetch-Site.
        assert!(same_origin(
            &headers(&[("origin", "null"), ("sec-fetch-site", "same-origin")]),
            iss
        ));
        assert!(!same_origin(&headers(&[("origin", "null")]), iss));
        assert!(!same_origin(
            &headers(&[("origin", "null"), ("sec-fetch-site", "same-site")]),
            iss
        ));
    }

    use super::*;

    #[test]
    fn scopes() {
        assert_eq!(
            granted_scope("openid profile vso.pats vso.pats_manage offline_access"),
            "openid profile offline_access vso.pats vso.pats_manage"
        );
        assert_eq!(granted_scope("openid"), "openid vso.pats vso.pats_manage");
        assert_eq!(granted_scope(""), "vso.pats vso.pats_manage");
        assert_eq!(
            granted_scope("499b84ac-1321-427f-aa17-267ca6975798/.default openid"),
            "openid vso.pats vso.pats_manage"
        );
        assert_eq!(
            granted_scope("499b84ac-1321-427f-aa17-267ca6975798/vso.pats vso.pats"),
            "vso.pats"
        );
        assert_eq!(scp_of("openid offline_access vso.pats"), "vso.pats");
        assert!(valid_scope_token("vso.pats"));
        assert!(!valid_scope_token("a\"b"));
    }

    #[test]
    fn redirect_rules() {
        let iss = "http://patrol.test:8080/oidc";
        for ok in [
            "http://127.0.0.1:5000/cb",
            "http://localhost:1/x?y=1",
            "http://[::1]:9/cb",
            "http://127.0.0.1/cb",
            "http://patrol.test:8080/ui/callback",
        ] {
            assert!(redirect_allowed(ok, iss).is_some(), "{ok}");
        }
        for bad in [
            "https://evil.example/cb",
            "http://127.0.0.1.evil.example/cb",
            "http://patrol.test:8081/ui/callback",
            "https://patrol.test:8080/ui/callback",
            "http://127.0.0.1:5000/cb#frag",
            "http://user:pw@127.0.0.1/cb",
            "https://127.0.0.1/cb",
            "javascript:alert(1)",
            "not a url",
        ] {
            assert!(redirect_allowed(bad, iss).is_none(), "{bad}");
        }
    }
}
