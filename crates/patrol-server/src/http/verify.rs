//! The verify path's HTTP edges: forward-auth for reverse proxies
//! (`GET|HEAD /patrol/v1/verify`) and RFC 7662 introspection for registered
//! resource servers (`POST /patrol/v1/introspect`, in [`introspect`]).
//! Handlers translate; the decisions are `App::verify_pat`'s.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{Ref, RefOr, Required, Schema};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use patrol_core::credential::{self, CredentialError};
use patrol_core::scope;

use super::client_ip::client_ip;
use super::docs::any_case;
use super::docs::responses::{ForwardAuthOk, ForwardAuthRefusals};
use super::error::REALM;
use super::AppState;
use crate::app::{App, VerifiedPat, VerifyFailure, VerifyRequest};

pub mod introspect;

/// What the verify handlers need: one `Arc` to clone per request, not the
/// whole [`AppState`] (this path answers on every request of other services).
pub struct VerifyEdge {
    pub app: App,
    pub trusted_proxies: Arc<Vec<IpAddr>>,
}

/// `/patrol/v1/verify` (GET, HEAD) and `/patrol/v1/introspect` (POST).
pub fn router(state: &AppState) -> OpenApiRouter {
    let edge = Arc::new(VerifyEdge {
        app: state.app.clone(),
        trusted_proxies: state.trusted_proxies.clone(),
    });
    // No answer of the verify path may be stored by a cache.
    let no_store =
        |name, value| SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value));
    OpenApiRouter::new()
        .routes(routes!(forward_auth))
        .routes(routes!(introspect::introspect))
        .layer(no_store(header::CACHE_CONTROL, "no-store"))
        .layer(no_store(header::PRAGMA, "no-cache"))
        .with_state(edge)
}

/// The owner's display name: for display only (the user can change it).
pub const X_PATROL_USER: HeaderName = HeaderName::from_static("x-patrol-user");
/// The owner's Patrol user id: stable and unforgeable, the header to authorise on.
pub const X_PATROL_USER_ID: HeaderName = HeaderName::from_static("x-patrol-user-id");
/// The issuer and subject the user id stands for (the user's key at the identity provider).
pub const X_PATROL_USER_ISSUER: HeaderName = HeaderName::from_static("x-patrol-user-issuer");
pub const X_PATROL_USER_SUBJECT: HeaderName = HeaderName::from_static("x-patrol-user-subject");
/// Only an email the issuer vouched for.
pub const X_PATROL_USER_EMAIL: HeaderName = HeaderName::from_static("x-patrol-user-email");
pub const X_PATROL_AUTHORIZATION_ID: HeaderName =
    HeaderName::from_static("x-patrol-authorization-id");
pub const X_PATROL_SCOPES: HeaderName = HeaderName::from_static("x-patrol-scopes");
/// Required scopes, as a forwarded header (alternative to `?scope=`).
pub const X_PATROL_SCOPE: HeaderName = HeaderName::from_static("x-patrol-scope");
/// Required organization, as a forwarded header (alternative to `?org=`).
pub const X_PATROL_ORG: HeaderName = HeaderName::from_static("x-patrol-org");

/// Most scopes / organizations one request may require.
const MAX_REQUIREMENTS: usize = 32;

/// The requirements of a forward-auth request: scopes and organizations from
/// the query (`scope`, `org`; may repeat; scopes space- or comma-separated)
/// and from `X-Patrol-Scope` / `X-Patrol-Org`. All of them must hold, so a
/// client that adds its own headers can only make the check stricter.
fn requirements(parts: &Parts) -> Result<(Vec<String>, Vec<String>), &'static str> {
    let mut scopes: Vec<String> = Vec::new();
    let mut orgs: Vec<String> = Vec::new();
    let mut add_scopes = |text: &str| -> Result<(), &'static str> {
        for name in text.split([' ', ',', '\t']).filter(|s| !s.is_empty()) {
            let info = scope::lookup(name).ok_or("unknown scope")?;
            if !scopes.iter().any(|s| s == info.name) {
                if scopes.len() == MAX_REQUIREMENTS {
                    return Err("too many requirements");
                }
                scopes.push(info.name.to_owned());
            }
        }
        Ok(())
    };
    let mut org_values: Vec<String> = Vec::new();
    if let Some(q) = parts.uri.query() {
        for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
            if k.eq_ignore_ascii_case("scope") {
                add_scopes(&v)?;
            } else if k.eq_ignore_ascii_case("org") {
                org_values.push(v.into_owned());
            }
        }
    }
    for v in parts.headers.get_all(&X_PATROL_SCOPE) {
        add_scopes(v.to_str().map_err(|_| "unreadable X-Patrol-Scope")?)?;
    }
    for v in parts.headers.get_all(&X_PATROL_ORG) {
        org_values.push(
            v.to_str()
                .map_err(|_| "unreadable X-Patrol-Org")?
                .to_owned(),
        );
    }
    // Each check below scans at most MAX_REQUIREMENTS entries: a request
    // naming thousands of organizations is refused in linear time.
    for o in org_values {
        let o = o.trim();
        if !o.is_empty() && !orgs.iter().any(|x| x.eq_ignore_ascii_case(o)) {
            if orgs.len() == MAX_REQUIREMENTS {
                return Err("too many requirements");
            }
            orgs.push(o.to_owned());
        }
    }
    Ok((scopes, orgs))
}

/// Separators between required scopes.
const SCOPE_SEPARATORS: &str = "[ ,\\t]";

/// A list of required scopes as [`requirements`] reads it: catalogue names in
/// any case, separated by spaces, commas or tabs, at most 32 per value.
pub fn scope_requirement_schema() -> ObjectBuilder {
    let names: Vec<String> = scope::catalog().iter().map(|s| any_case(s.name)).collect();
    let one = format!("({})", names.join("|"));
    let sep = SCOPE_SEPARATORS;
    let max_more = MAX_REQUIREMENTS - 1;
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!(
            "^{sep}*({one}({sep}+{one}){{0,{max_more}}}{sep}*)?$"
        )))
        .description(Some(
            "Scope names of the catalogue (docs/ado-wire-contract.md §12.1) in any case, separated by \
             spaces, commas or tabs. The query and the header together may name at most 32 different \
             scopes.",
        ))
}

fn forward_auth_param(
    name: &str,
    place: ParameterIn,
    description: &str,
    schema: impl Into<RefOr<Schema>>,
) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(place)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

/// What a proxy may require of the PAT: in the query and in headers.
pub struct ForwardAuthParams;

impl IntoParams for ForwardAuthParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let scopes = || RefOr::Ref(Ref::from_schema_name("ScopeRequirement"));
        let text = || ObjectBuilder::new().schema_type(Type::String);
        vec![
            forward_auth_param(
                "scope",
                ParameterIn::Query,
                "Required scopes; the PAT must hold each of them (scopes it implies count). May repeat.",
                scopes(),
            ),
            forward_auth_param(
                "org",
                ParameterIn::Query,
                "An organization the PAT must be valid in (any case; blank is ignored). May repeat; \
                 with the header, at most 32 different ones.",
                text(),
            ),
            forward_auth_param(
                "X-Patrol-Scope",
                ParameterIn::Header,
                "More required scopes, as the proxy forwards them.",
                scopes(),
            ),
            forward_auth_param(
                "X-Patrol-Org",
                ParameterIn::Header,
                "Another required organization, as the proxy forwards it.",
                text().pattern(Some("^[\\t\\x20-\\x7e]*$")),
            ),
        ]
    }
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn text(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// The one answer for every invalid or missing credential, so git and
/// browsers prompt for a user name and password.
fn unauthorized() -> Response {
    let mut r = text(StatusCode::UNAUTHORIZED, "Unauthorized");
    let challenge = format!("Basic realm=\"{REALM}\"");
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

pub(crate) fn too_many(retry_after_secs: u64, mut r: Response) -> Response {
    *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Display names may be any Unicode: sent as UTF-8 bytes (RFC 9110 obs-text);
/// a value that cannot be a header is left out.
fn put(r: &mut Response, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
        r.headers_mut().insert(name, v);
    }
}

fn identity(v: &VerifiedPat) -> Response {
    let mut r = StatusCode::OK.into_response();
    let owner = v.owner();
    put(&mut r, X_PATROL_USER_ID, v.owner_id_text());
    put(&mut r, X_PATROL_USER_ISSUER, &owner.issuer);
    put(&mut r, X_PATROL_USER_SUBJECT, &owner.subject);
    put(&mut r, X_PATROL_USER, &owner.display_name);
    if let Some(email) = owner.verified_email() {
        put(&mut r, X_PATROL_USER_EMAIL, email);
    }
    put(&mut r, X_PATROL_AUTHORIZATION_ID, v.authorization_id_text());
    put(&mut r, X_PATROL_SCOPES, v.scope());
    r
}

/// Forward-auth for nginx `auth_request`, Traefik `ForwardAuth` and Caddy
/// `forward_auth`: checks the original request's `Authorization` (Basic with
/// any user name, or Bearer) against the required scopes and organization.
#[utoipa::path(
    method(get, head),
    path = "/patrol/v1/verify",
    tag = "verify",
    params(ForwardAuthParams),
    responses(ForwardAuthOk, ForwardAuthRefusals),
    security(("pat_basic" = []), ("pat_bearer" = []))
)]
pub async fn forward_auth(State(state): State<Arc<VerifyEdge>>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let (required_scopes, orgs) = match requirements(&parts) {
        Ok(r) => r,
        Err(why) => {
            tracing::warn!(why, "forward-auth request with bad requirements");
            return text(StatusCode::BAD_REQUEST, "Bad Request");
        }
    };
    let auth = parts
        .headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""));
    let presented = match credential::parse_authorization(auth) {
        Ok(secret) => Some(secret),
        // No credentials yet: challenge, without counting a failure.
        Err(CredentialError::Missing) => return unauthorized(),
        Err(_) => None,
    };
    let request = VerifyRequest {
        required_scopes,
        orgs,
        source_ip: client_ip(&parts, &state.trusted_proxies),
        user_agent: header_text(&parts.headers, header::USER_AGENT),
        client_id: None,
        request_id: super::request_id(&parts.headers),
    };
    let token = presented.as_ref().map(|s| s.expose()).unwrap_or("");
    match state.app.verify_pat(token, &request).await {
        Ok(v) => identity(&v),
        Err(VerifyFailure::Invalid(_)) => unauthorized(),
        Err(VerifyFailure::Forbidden(_)) => text(StatusCode::FORBIDDEN, "Forbidden"),
        Err(VerifyFailure::Limited { retry_after_secs }) => too_many(
            retry_after_secs,
            text(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests"),
        ),
        Err(VerifyFailure::Unavailable) => {
            text(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request as HttpRequest;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = HttpRequest::builder().uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn requirements_from_query_and_headers() {
        let p = parts(
            "/patrol/v1/verify?scope=vso.code%20VSO.packaging,vso.code&scope=vso.build&org=Fabrikam",
            &[("x-patrol-scope", "vso.work"), ("x-patrol-org", "fabrikam")],
        );
        let (s, o) = requirements(&p).unwrap();
        assert_eq!(s, ["vso.code", "vso.packaging", "vso.build", "vso.work"]);
        assert_eq!(o, ["Fabrikam"]);
        let p = parts("/patrol/v1/verify?org=a&org=b", &[]);
        assert_eq!(requirements(&p).unwrap().1, ["a", "b"]);
        assert!(requirements(&parts("/patrol/v1/verify?scope=vso.bogus", &[])).is_err());
        assert_eq!(
            requirements(&parts("/patrol/v1/verify", &[])).unwrap(),
            (vec![], vec![])
        );
        let many: Vec<String> = (0..MAX_REQUIREMENTS + 1)
            .map(|i| format!("org=o{i}"))
            .collect();
        let p = parts(&format!("/patrol/v1/verify?{}", many.join("&")), &[]);
        assert_eq!(requirements(&p), Err("too many requirements"));
        let same = vec!["org=o"; 5_000].join("&");
        let p = parts(&format!("/patrol/v1/verify?{same}"), &[]);
        assert_eq!(
            requirements(&p).unwrap().1,
            ["o"],
            "repeats are one requirement"
        );
    }

    /// The published pattern accepts exactly what `requirements` accepts
    /// (for one value of at most 32 names).
    #[test]
    fn the_scope_pattern_is_what_requirements_reads() {
        let schema = serde_json::to_value(scope_requirement_schema().build()).unwrap();
        let re = regex::Regex::new(schema["pattern"].as_str().unwrap()).unwrap();
        let names: Vec<&str> = scope::catalog().iter().map(|s| s.name).collect();
        let many = names[..MAX_REQUIREMENTS].join(" ");
        let too_many = names[..MAX_REQUIREMENTS + 1].join(",");
        let accepted = |v: &str| {
            let q: String = url::form_urlencoded::byte_serialize(v.as_bytes()).collect();
            requirements(&parts(&format!("/patrol/v1/verify?scope={q}"), &[])).is_ok()
        };
        for v in [
            "",
            " ",
            "vso.code",
            "VSO.Code, vso.build",
            "\tvso.code,,vso.code ",
            "app_token vso.pats",
            many.as_str(),
        ] {
            assert!(re.is_match(v) && accepted(v), "{v:?}");
        }
        for v in [
            "vso.bogus",
            "vso.code;vso.build",
            "vso.code\n",
            "vso. code",
            too_many.as_str(),
        ] {
            assert!(!re.is_match(v) && !accepted(v), "{v:?}");
        }
    }

    #[test]
    fn answers() {
        let r = unauthorized();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            "Basic realm=\"patrol\""
        );
        let r = too_many(7, text(StatusCode::OK, "x"));
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "7");
    }
}
