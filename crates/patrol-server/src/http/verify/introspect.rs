//! RFC 7662 token introspection for registered resource servers, which
//! authenticate with HTTP Basic (`client_secret_basic`). Anything not valid —
//! unknown, revoked, expired, inactive, malformed, not allowed in the asked
//! organization — is only `{"active": false}`.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use patrol_core::credential;

use super::super::client_ip::client_ip;
use super::super::error::REALM;
use super::{too_many, VerifyEdge};
use crate::app::verify::ClientAuthFailure;
use crate::app::{VerifiedPat, VerifyFailure, VerifyRequest};

/// Largest introspection request body read.
const MAX_BODY: usize = 16 * 1024;

/// An active PAT, as RFC 7662 describes it (plus Patrol's fields).
#[derive(Debug, Serialize, ToSchema)]
pub struct Introspection {
    pub active: bool,
    /// The owner's Patrol user id: stable and unforgeable, the identity to authorise on.
    pub sub: Uuid,
    /// The owner's user id again (never a name or email the user could change).
    pub username: String,
    /// The owner's display name, for display only.
    pub name: String,
    /// The owner's email, only when the issuer vouched for it (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub email: Option<String>,
    /// The identity provider the owner signs in with.
    pub user_issuer: String,
    /// The owner's subject at `user_issuer` (with it, the user's key).
    pub user_subject: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// Names of the organizations the PAT may be used in.
    pub organizations: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    /// The resource server that asked.
    pub client_id: String,
    /// Always `pat`.
    pub token_type: &'static str,
    pub authorization_id: Uuid,
}

impl Introspection {
    fn new(v: &VerifiedPat, client_id: String) -> Self {
        let owner = v.owner();
        let pat = v.pat();
        Self {
            active: true,
            sub: owner.id,
            username: v.owner_id_text().to_owned(),
            name: owner.display_name.clone(),
            email: owner.verified_email().map(str::to_owned),
            user_issuer: owner.issuer.clone(),
            user_subject: owner.subject.clone(),
            scope: v.scope().to_owned(),
            organizations: v.organizations().iter().map(|o| o.name.clone()).collect(),
            exp: pat.valid_to.timestamp(),
            iat: pat.created_at.timestamp(),
            nbf: pat.valid_from.timestamp(),
            client_id,
            token_type: "pat",
            authorization_id: pat.authorization_id,
        }
    }
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}

fn invalid_client() -> Response {
    let mut r = answer(StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"}));
    if let Ok(v) = HeaderValue::from_str(&format!("Basic realm=\"{REALM}\"")) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

fn invalid_request(description: &'static str) -> Response {
    answer(
        StatusCode::BAD_REQUEST,
        json!({"error": "invalid_request", "error_description": description}),
    )
}

fn inactive() -> Response {
    answer(StatusCode::OK, json!({"active": false}))
}

/// RFC 7662 introspection: `token` (required), `token_type_hint` (ignored),
/// `org` (Patrol: inactive unless the PAT may be used there).
#[utoipa::path(
    post,
    path = "/patrol/v1/introspect",
    tag = "verify",
    request_body(content_type = "application/x-www-form-urlencoded", description = "token=…[&token_type_hint=…][&org=…]"),
    responses(
        (status = 200, description = "The PAT's facts, or only {\"active\": false}", body = Introspection),
        (status = 400, description = "{\"error\":\"invalid_request\"}: no token, or not a form"),
        (status = 401, description = "{\"error\":\"invalid_client\"}: the resource server is not authenticated"),
        (status = 429, description = "Too many failed client authentications from this address"),
    ),
    security(("basic" = []))
)]
pub async fn introspect(State(state): State<std::sync::Arc<VerifyEdge>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let source_ip = client_ip(&parts, &state.trusted_proxies);
    let auth = parts
        .headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""));
    let client_id = match credential::parse_client_basic(auth) {
        Err(_) => return invalid_client(),
        Ok(c) => {
            let secret = c.client_secret.expose_secret();
            match state
                .app
                .authenticate_resource_server(&c.client_id, secret, source_ip)
            {
                Ok(id) => id,
                Err(ClientAuthFailure::Invalid) => return invalid_client(),
                Err(ClientAuthFailure::Limited { retry_after_secs }) => {
                    return too_many(
                        retry_after_secs,
                        answer(StatusCode::OK, json!({"error": "too_many_requests"})),
                    )
                }
            }
        }
    };
    let form_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if !form_type {
        return invalid_request("the body must be application/x-www-form-urlencoded");
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return invalid_request("the body is too large");
    };
    let mut token = None;
    let mut orgs = Vec::new();
    for (k, v) in url::form_urlencoded::parse(&bytes) {
        match k.as_ref() {
            "token" if token.is_none() => {
                token = Some(patrol_core::secret::PatSecret::new(v.into_owned()))
            }
            "org" if !v.trim().is_empty() => orgs.push(v.trim().to_owned()),
            _ => {}
        }
    }
    let Some(token) = token else {
        return invalid_request("the token parameter is required");
    };
    let request = VerifyRequest {
        required_scopes: Vec::new(),
        orgs,
        // The end client's address is not known here; failures are limited per token.
        source_ip: None,
        user_agent: None,
        client_id: Some(client_id.clone()),
        request_id: crate::http::request_id(&parts.headers),
    };
    match state.app.verify_pat(token.expose(), &request).await {
        Ok(v) => {
            let body = serde_json::to_value(Introspection::new(&v, client_id))
                .unwrap_or_else(|_| json!({"active": false}));
            answer(StatusCode::OK, body)
        }
        Err(VerifyFailure::Unavailable) => answer(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "temporarily_unavailable"}),
        ),
        Err(_) => inactive(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals() {
        let r = invalid_client();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            "Basic realm=\"patrol\""
        );
        assert_eq!(inactive().status(), StatusCode::OK);
    }
}
