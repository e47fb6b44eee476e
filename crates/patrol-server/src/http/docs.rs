//! OpenAPI 3.1 at `/openapi.json` and a Swagger UI at `/docs`, its assets
//! embedded in the binary (no CDN). The document describes what the server
//! does: every parameter's accepted strings, every status with its body
//! (shared sets in [`responses`]). The UI runs on the web page's origin, so it
//! gets its own Content-Security-Policy and frame protection
//! (`docs/security.md`, item 25).

use axum::http::{header, HeaderValue};
use axum::Router;
use serde_json::Value;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::{Config, SwaggerUi};

use super::{error, verify, wire};

pub mod responses;

struct Components;

impl Modify for Components {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let http = |scheme, format: Option<&str>, description: &str| {
            let mut b = HttpBuilder::new()
                .scheme(scheme)
                .description(Some(description));
            if let Some(f) = format {
                b = b.bearer_format(f);
            }
            SecurityScheme::Http(b.build())
        };
        components.add_security_scheme(
            "bearer",
            http(
                HttpAuthScheme::Bearer,
                Some("JWT"),
                "An OIDC access token of a trusted issuer, issued to a user (also accepted as the \
                 password of HTTP Basic, as `az devops` sends it). Never a PAT.",
            ),
        );
        components.add_security_scheme(
            "pat_basic",
            http(
                HttpAuthScheme::Basic,
                None,
                "A PAT as the password, any user name (what git sends).",
            ),
        );
        components.add_security_scheme(
            "pat_bearer",
            http(
                HttpAuthScheme::Bearer,
                Some("PAT"),
                "A PAT as a Bearer token.",
            ),
        );
        components.add_security_scheme(
            "resource_server",
            http(
                HttpAuthScheme::Basic,
                None,
                "A registered resource server's client id and secret (`client_secret_basic`, \
                 form-encoded as RFC 6749 §2.3.1 says).",
            ),
        );
        components.schemas.insert(
            "ScopeRequirement".into(),
            verify::scope_requirement_schema().into(),
        );
        responses::register(openapi);
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Patrol",
        description = "Personal access tokens, Azure DevOps-compatible. The PAT Lifecycle API accepts only OIDC \
                       access tokens issued on behalf of a user (scope vso.pats; vso.pats_manage for changes). \
                       Every answer carries `X-Request-Id`.",
        license(name = "MIT")
    ),
    components(schemas(
        wire::PatToken,
        wire::PatTokenResult,
        wire::PatTokenError,
        wire::PagedPatTokens,
        wire::PatsGetAnswer,
        wire::PatTokenCreateRequest,
        wire::PatTokenUpdateRequest,
        error::WrappedException,
        verify::introspect::Introspection,
        verify::introspect::Inactive,
        verify::introspect::IntrospectionAnswer,
        verify::introspect::OAuthError,
        crate::config::CliLogin,
    )),
    modifiers(&Components),
    tags(
        (name = "pats", description = "PAT Lifecycle Management (Azure DevOps wire contract)"),
        (name = "verify", description = "Using a PAT: forward-auth for reverse proxies, RFC 7662 introspection"),
        (name = "cli", description = "Where the `patrol` command line signs in")
    )
)]
pub struct ApiDoc;

/// A regular expression matching `word` in any ASCII case (JSON Schema
/// patterns have no case-insensitive flag).
pub fn any_case(word: &str) -> String {
    word.chars()
        .map(|c| {
            if c.is_ascii_alphabetic() {
                format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase())
            } else if ".^$|?*+()[]{}\\".contains(c) {
                format!("\\{c}")
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The document as served: utoipa's, with `required: true` on every response
/// header whose schema carries [`responses::REQUIRED_HEADER`], and link
/// objects spelled as OpenAPI spells them (utoipa 5 writes `operation_id`).
pub fn publish(openapi: &utoipa::openapi::OpenApi) -> Value {
    let mut doc = match serde_json::to_value(openapi) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "the OpenAPI document cannot be serialised");
            Value::Null
        }
    };
    lift_required_headers(&mut doc);
    camel_case_links(&mut doc);
    doc
}

fn camel_case_links(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Object(links)) = map.get_mut("links") {
                for link in links.values_mut().filter_map(Value::as_object_mut) {
                    for (from, to) in [
                        ("operation_id", "operationId"),
                        ("operation_ref", "operationRef"),
                        ("request_body", "requestBody"),
                    ] {
                        if let Some(x) = link.remove(from) {
                            link.insert(to.into(), x);
                        }
                    }
                }
            }
            map.values_mut().for_each(camel_case_links);
        }
        Value::Array(items) => items.iter_mut().for_each(camel_case_links),
        _ => {}
    }
}

fn lift_required_headers(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Object(headers)) = map.get_mut("headers") {
                for h in headers.values_mut() {
                    let marked = h
                        .get_mut("schema")
                        .and_then(Value::as_object_mut)
                        .and_then(|s| s.remove(responses::REQUIRED_HEADER))
                        .is_some_and(|m| m == Value::Bool(true));
                    if marked {
                        if let Some(h) = h.as_object_mut() {
                            h.insert("required".into(), Value::Bool(true));
                        }
                    }
                }
            }
            map.values_mut().for_each(lift_required_headers);
        }
        Value::Array(items) => items.iter_mut().for_each(lift_required_headers),
        _ => {}
    }
}

/// The Swagger UI's policy, the tightest under which it works (checked in
/// Chromium by `tests/e2e/test_openapi_contract.py`): scripts and styles only
/// from `/docs` itself, plus the one inline `<style>` of the top bar's logo
/// (by its hash; swagger-ui 5.17.14 — a new version may need a new hash, and
/// the browser test then names it); `data:` images for the icons of its CSS;
/// fetches only to this origin (`/openapi.json`, "Try it out"); no plugins,
/// no `<base>`, no form posts; and no page may frame it.
pub const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; \
style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; img-src 'self' data:; \
connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// `/docs` and `/openapi.json` for `openapi`: [`ApiDoc`] plus the paths the
/// documented routers registered.
pub fn router(openapi: utoipa::openapi::OpenApi) -> Router {
    let h = |name, value: &'static str| {
        SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
    };
    // No validator badge: it would load an image from validator.swagger.io.
    let config = Config::from("/openapi.json").validator_url("none");
    let ui = SwaggerUi::new("/docs")
        .external_url_unchecked("/openapi.json", publish(&openapi))
        .config(config);
    Router::new().merge(ui).layer(
        tower::ServiceBuilder::new()
            .layer(h(header::CONTENT_SECURITY_POLICY, DOCS_CSP))
            .layer(h(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .layer(h(header::X_FRAME_OPTIONS, "DENY")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn any_case_patterns() {
        assert_eq!(
            any_case("vso.code_write"),
            "[Vv][Ss][Oo]\\.[Cc][Oo][Dd][Ee]_[Ww][Rr][Ii][Tt][Ee]"
        );
        let re = regex::Regex::new(&format!("^{}$", any_case("a.b"))).unwrap();
        assert!(re.is_match("A.b") && !re.is_match("axb"));
    }

    #[test]
    fn required_headers_are_lifted() {
        let mut doc = json!({"a": {"headers": {
            "Retry-After": {"schema": {"type": "integer", responses::REQUIRED_HEADER: true}},
            "X-Other": {"schema": {"type": "string"}}
        }}});
        lift_required_headers(&mut doc);
        assert_eq!(
            doc,
            json!({"a": {"headers": {
                "Retry-After": {"schema": {"type": "integer"}, "required": true},
                "X-Other": {"schema": {"type": "string"}}
            }}})
        );
    }

    #[test]
    fn links_are_camel_case() {
        let mut doc = json!({"links": {"Get": {"operation_id": "get", "parameters": {"a": "$response.body#/a"}}}});
        camel_case_links(&mut doc);
        assert_eq!(
            doc,
            json!({"links": {"Get": {"operationId": "get", "parameters": {"a": "$response.body#/a"}}}})
        );
    }

    #[test]
    fn the_served_document_has_no_markers_left() {
        let text = publish(&ApiDoc::openapi()).to_string();
        assert!(text.contains("\"required\":true"));
        assert!(!text.contains(responses::REQUIRED_HEADER));
    }
}
