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
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::ToSchema;
use uuid::Uuid;

use patrol_core::credential;

use super::super::client_ip::client_ip;
use super::super::docs::responses::IntrospectionRefusals;
use super::super::error::REALM;
use super::{too_many, VerifyEdge};
use crate::app::verify::ClientAuthFailure;
use crate::app::{VerifiedPat, VerifyFailure, VerifyRequest};

/// Largest introspection request body read.
const MAX_BODY: usize = 16 * 1024;

/// An active PAT, as RFC 7662 describes it (plus Patrol's fields).
#[derive(Debug, Serialize, ToSchema)]
pub struct Introspection {
    /// Always `true`.
    #[schema(schema_with = always_true)]
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

fn constant(value: bool) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Boolean)
        .enum_values(Some([value]))
}

fn always_true() -> ObjectBuilder {
    constant(true)
}

fn always_false() -> ObjectBuilder {
    constant(false)
}

/// Anything not valid — unknown, revoked, expired, inactive, malformed, not
/// allowed in the asked organization: only this.
#[derive(Debug, Serialize, ToSchema)]
pub struct Inactive {
    /// Always `false`.
    #[schema(schema_with = always_false)]
    pub active: bool,
}

/// What introspection answers with 200 (a schema for the document only;
/// never built, so its variants' sizes do not matter).
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)]
pub enum IntrospectionAnswer {
    Active(Introspection),
    Inactive(Inactive),
}

/// The error codes of introspection's refusals.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    TooManyRequests,
    TemporarilyUnavailable,
}

/// An RFC 6749 §5.2-style error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthError {
    pub error: OAuthErrorCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    pub error_description: Option<&'static str>,
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

fn answer<T: Serialize>(status: StatusCode, body: T) -> Response {
    (status, Json(body)).into_response()
}

fn error(status: StatusCode, error: OAuthErrorCode, description: Option<&'static str>) -> Response {
    answer(
        status,
        OAuthError {
            error,
            error_description: description,
        },
    )
}

fn invalid_client() -> Response {
    let mut r = error(
        StatusCode::UNAUTHORIZED,
        OAuthErrorCode::InvalidClient,
        None,
    );
    if let Ok(v) = HeaderValue::from_str(&format!("Basic realm=\"{REALM}\"")) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

fn invalid_request(description: &'static str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        OAuthErrorCode::InvalidRequest,
        Some(description),
    )
}

fn inactive() -> Response {
    answer(StatusCode::OK, Inactive { active: false })
}

/// The form introspection reads (RFC 7662 §2.1, plus `org`); unknown fields
/// are ignored, and for a repeated `token` the first counts.
#[derive(Debug, ToSchema)]
pub struct IntrospectionForm {
    /// The PAT to check.
    pub token: String,
    /// Ignored (there is one kind of token).
    #[schema(value_type = String, required = false)]
    pub token_type_hint: Option<String>,
    /// Organizations the PAT must be valid in (may repeat); otherwise it is inactive.
    #[schema(schema_with = one_or_more_orgs, required = false)]
    pub org: Option<Vec<String>>,
}

/// `org=a` or `org=a&org=b`: on the wire one value and a list of one are the same.
fn one_or_more_orgs() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    let text = || ObjectBuilder::new().schema_type(Type::String);
    utoipa::openapi::schema::AnyOfBuilder::new()
        .item(text())
        .item(utoipa::openapi::schema::ArrayBuilder::new().items(text()))
        .into()
}

/// RFC 7662 introspection: `token` (required), `token_type_hint` (ignored),
/// `org` (Patrol: inactive unless the PAT may be used there).
#[utoipa::path(
    post,
    path = "/patrol/v1/introspect",
    tag = "verify",
    request_body(
        content = IntrospectionForm,
        content_type = "application/x-www-form-urlencoded",
    ),
    responses(
        (status = 200, description = "The PAT's facts, or only `{\"active\": false}`", body = IntrospectionAnswer),
        IntrospectionRefusals,
    ),
    security(("resource_server" = []))
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
                        error(StatusCode::OK, OAuthErrorCode::TooManyRequests, None),
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
        Ok(v) => answer(StatusCode::OK, Introspection::new(&v, client_id)),
        Err(VerifyFailure::Unavailable) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            OAuthErrorCode::TemporarilyUnavailable,
            None,
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
