//! The one place where failures become HTTP: Azure DevOps `WrappedException`
//! bodies, RFC 6750 challenges, and `patTokenError` values.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::ToSchema;

use patrol_core::pat::PatRuleError;
use patrol_core::policy::Violation;

use super::wire::PatTokenError;
use crate::app::AppError;

pub const REALM: &str = "patrol";
pub const SP_MESSAGE: &str = "Service principals are not allowed to perform this action.";

/// Azure DevOps' error body (`docs/ado-wire-contract.md` §3.7).
#[derive(Debug, Serialize, ToSchema)]
pub struct WrappedException {
    /// Always `"1"`.
    #[serde(rename = "$id")]
    pub id: &'static str,
    /// Always `null`.
    #[serde(rename = "innerException")]
    #[schema(schema_with = null_schema, required = true)]
    pub inner_exception: Option<()>,
    pub message: String,
    /// The .NET type, e.g. `System.ArgumentException, mscorlib`.
    #[serde(rename = "typeName")]
    pub type_name: String,
    /// The exception name clients dispatch on, e.g. `VssVersionOutOfRangeException`.
    #[serde(rename = "typeKey")]
    pub type_key: &'static str,
    /// Always 0.
    #[serde(rename = "errorCode")]
    pub error_code: i32,
    /// Always 3000.
    #[serde(rename = "eventId")]
    pub event_id: i32,
}

fn null_schema() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Null)
}

/// Every refusal the HTTP layer can produce.
#[derive(Debug)]
pub enum ApiError {
    /// No credentials at all.
    Unauthenticated,
    /// A PAT (Basic or Bearer) on an API that needs an OIDC token.
    PatNotAccepted,
    /// A JWT that failed validation (reason kept for logs only).
    InvalidToken,
    /// A valid user token without the delegated scope.
    InsufficientScope(&'static str),
    /// Service principal, managed identity, client-credentials token.
    NonHuman,
    /// The identity provider cannot be reached and no keys are cached.
    IdpUnavailable,
    /// A 400 in the ADO shape.
    BadRequest {
        type_key: &'static str,
        message: String,
    },
    NotFound {
        type_key: &'static str,
        message: String,
    },
    Forbidden {
        type_key: &'static str,
        message: String,
    },
    /// Too many failed attempts from this address; retry after this many seconds.
    TooManyRequests(u64),
    /// The body exceeds `server.max_body_bytes`.
    PayloadTooLarge,
    /// The route exists but not for this method.
    MethodNotAllowed,
    /// 5xx: the cause is logged, the body stays generic.
    Internal(String),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            type_key: "ArgumentException",
            message: message.into(),
        }
    }
}

/// 503 in the Azure DevOps shape, with `Retry-After`.
pub fn unavailable(message: &str, retry_after_secs: u32) -> Response {
    let mut r = wrapped(
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailableException",
        message.to_owned(),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    r
}

fn wrapped(status: StatusCode, type_key: &'static str, message: String) -> Response {
    let type_name = match type_key {
        "ArgumentException" | "ArgumentNullException" | "FormatException" => format!("System.{type_key}, mscorlib"),
        _ => format!("Microsoft.VisualStudio.Services.WebApi.{type_key}, Microsoft.VisualStudio.Services.WebApi"),
    };
    let body = WrappedException {
        id: "1",
        inner_exception: None,
        message,
        type_name,
        type_key,
        error_code: 0,
        event_id: 3000,
    };
    let mut resp = (status, axum::Json(body)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

fn challenge(extra: &str) -> HeaderValue {
    let v = if extra.is_empty() {
        format!("Bearer realm=\"{REALM}\"")
    } else {
        format!("Bearer realm=\"{REALM}\", {extra}")
    };
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

/// 401s carry a `text/plain` body so the Python SDK raises its
/// authentication error rather than a generic service error.
fn unauthorized(www: HeaderValue, text: &'static str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [
            (header::WWW_AUTHENTICATE, www),
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
        ],
        text,
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Unauthenticated => unauthorized(challenge(""), "Authentication required."),
            ApiError::PatNotAccepted => unauthorized(
                challenge(
                    "error=\"invalid_token\", error_description=\"OIDC access token required\"",
                ),
                "OIDC access token required.",
            ),
            ApiError::InvalidToken => unauthorized(
                challenge(
                    "error=\"invalid_token\", error_description=\"The access token is invalid\"",
                ),
                "The access token is invalid.",
            ),
            ApiError::InsufficientScope(scope) => {
                let mut r = wrapped(
                    StatusCode::FORBIDDEN,
                    "InvalidAccessException",
                    format!("The access token lacks the required scope '{scope}'."),
                );
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    challenge(&format!("error=\"insufficient_scope\", scope=\"{scope}\"")),
                );
                r
            }
            ApiError::NonHuman => wrapped(
                StatusCode::FORBIDDEN,
                "InvalidAccessException",
                SP_MESSAGE.into(),
            ),
            ApiError::IdpUnavailable => {
                let mut r = wrapped(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailableException",
                    "The identity provider cannot be reached; try again later.".into(),
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
                r
            }
            ApiError::BadRequest { type_key, message } => {
                wrapped(StatusCode::BAD_REQUEST, type_key, message)
            }
            ApiError::NotFound { type_key, message } => {
                wrapped(StatusCode::NOT_FOUND, type_key, message)
            }
            ApiError::Forbidden { type_key, message } => {
                wrapped(StatusCode::FORBIDDEN, type_key, message)
            }
            ApiError::TooManyRequests(secs) => {
                let mut r = wrapped(
                    StatusCode::TOO_MANY_REQUESTS,
                    "RequestLimitExceededException",
                    "Too many failed authentication attempts; try again later.".into(),
                );
                if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                r
            }
            ApiError::PayloadTooLarge => wrapped(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestTooLargeException",
                "The request body is too large.".into(),
            ),
            ApiError::MethodNotAllowed => wrapped(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowedException",
                "The requested HTTP method is not allowed for this resource.".into(),
            ),
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                wrapped(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServerError",
                    "An internal error occurred.".into(),
                )
            }
        }
    }
}

/// Use-case failures that are not `patTokenError` answers.
impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::OrgNotFound(name) => ApiError::NotFound {
                type_key: "OrganizationNotFoundException",
                message: format!("The organization '{name}' does not exist."),
            },
            AppError::NotAMember(name) => ApiError::Forbidden {
                type_key: "InvalidAccessException",
                message: format!("You are not a member of the organization '{name}'."),
            },
            AppError::TokenNotFound => ApiError::NotFound {
                type_key: "SessionTokenNotFoundException",
                message: "The personal access token was not found.".into(),
            },
            AppError::Internal(cause) => ApiError::Internal(cause),
            AppError::NonHuman => ApiError::NonHuman,
            AppError::MissingScope(needed) => ApiError::InsufficientScope(needed),
            AppError::ClientNotAllowed(client) => ApiError::Forbidden {
                type_key: "InvalidAccessException",
                message: match client {
                    Some(c) => format!(
                        "The application '{c}' is not allowed to manage personal access tokens."
                    ),
                    None => "An access token that names no application (azp, appid or client_id) \
                             is not allowed to manage personal access tokens."
                        .into(),
                },
            },
            AppError::UserDisabled => ApiError::Forbidden {
                type_key: "InvalidAccessException",
                message: "This user is disabled.".into(),
            },
            e @ (AppError::CannotMoveOrganization | AppError::NoOrganization) => {
                ApiError::bad_request(e.to_string())
            }
            e @ AppError::TooManyTokens(_) => ApiError::BadRequest {
                type_key: "SessionTokenCreateException",
                message: e.to_string(),
            },
            AppError::Rule(r) => ApiError::bad_request(r.to_string()),
            AppError::Scope(s) => ApiError::bad_request(s.to_string()),
            AppError::TokenRevoked => {
                ApiError::bad_request("The personal access token is revoked.")
            }
            AppError::WrongOrganization => {
                ApiError::bad_request("The personal access token belongs to another organization.")
            }
            AppError::Store(s) => ApiError::Internal(s.to_string()),
            // Outside the PAT API (whose answers carry `patTokenError`).
            e @ AppError::Policy(_) => ApiError::BadRequest {
                type_key: "InvalidPolicyException",
                message: e.to_string(),
            },
            AppError::InvalidPolicy(p) => ApiError::bad_request(p.to_string()),
            // SCIM answers its own error shape (http/scim/); elsewhere a plain 400.
            AppError::Scim(e) => ApiError::bad_request(e.to_string()),
            AppError::InvalidNotification(m) => ApiError::bad_request(m),
            AppError::NotAnAdmin(what) => ApiError::Forbidden {
                type_key: "InvalidAccessException",
                message: format!("You are not an administrator of {what}."),
            },
            AppError::UserNotFound => ApiError::NotFound {
                type_key: "IdentityNotFoundException",
                message: "The user was not found.".into(),
            },
        }
    }
}

/// The `patTokenError` value of a policy refusal (docs/ado-wire-contract.md §4.3).
pub fn policy_error(v: &Violation) -> PatTokenError {
    match v {
        Violation::GlobalPat => PatTokenError::GlobalPatPolicyViolation,
        Violation::FullScopePat => PatTokenError::FullScopePatPolicyViolation,
        Violation::Lifespan { .. } => PatTokenError::PatLifespanPolicyViolation,
        Violation::OrgCreation { .. } => PatTokenError::DisablePatCreationPolicyViolation,
    }
}

/// The `patTokenError` value for failures that Azure DevOps answers with
/// `200 {"patToken": null, "patTokenError": …}`; `None` for the others.
/// Exhaustive on purpose: a new variant needs a decision here.
pub fn pat_token_error(e: &AppError) -> Option<PatTokenError> {
    Some(match e {
        AppError::Rule(PatRuleError::DisplayNameRequired) => PatTokenError::DisplayNameRequired,
        AppError::Rule(PatRuleError::InvalidDisplayName(_)) => PatTokenError::InvalidDisplayName,
        AppError::Rule(PatRuleError::InvalidValidTo) => PatTokenError::InvalidValidTo,
        AppError::Rule(PatRuleError::BeyondMaxLifetime { .. }) => {
            PatTokenError::PatLifespanPolicyViolation
        }
        AppError::Scope(_) => PatTokenError::InvalidScope,
        AppError::TokenNotFound => PatTokenError::TokenNotFound,
        AppError::TokenRevoked => PatTokenError::InvalidToken,
        AppError::WrongOrganization | AppError::CannotMoveOrganization => {
            PatTokenError::InvalidTargetAccounts
        }
        AppError::Policy(v) => policy_error(v),
        AppError::OrgNotFound(_)
        | AppError::InvalidPolicy(_)
        | AppError::Scim(_)
        | AppError::InvalidNotification(_)
        | AppError::NotAnAdmin(_)
        | AppError::UserNotFound
        | AppError::NotAMember(_)
        | AppError::NoOrganization
        | AppError::TooManyTokens(_)
        | AppError::NonHuman
        | AppError::MissingScope(_)
        | AppError::ClientNotAllowed(_)
        | AppError::UserDisabled
        | AppError::Internal(_)
        | AppError::Store(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_mapping_table() {
        let cases: Vec<(ApiError, StatusCode)> = vec![
            (ApiError::Unauthenticated, StatusCode::UNAUTHORIZED),
            (ApiError::PatNotAccepted, StatusCode::UNAUTHORIZED),
            (ApiError::InvalidToken, StatusCode::UNAUTHORIZED),
            (
                ApiError::InsufficientScope("vso.pats"),
                StatusCode::FORBIDDEN,
            ),
            (ApiError::NonHuman, StatusCode::FORBIDDEN),
            (ApiError::IdpUnavailable, StatusCode::SERVICE_UNAVAILABLE),
            (ApiError::bad_request("x"), StatusCode::BAD_REQUEST),
            (
                ApiError::Internal("boom".into()),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (e, s) in cases {
            assert_eq!(e.into_response().status(), s);
        }
    }

    #[test]
    fn challenges() {
        let r = ApiError::Unauthenticated.into_response();
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"patrol\""
        );
        let r = ApiError::PatNotAccepted.into_response();
        let v = r.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(v.contains("error=\"invalid_token\"") && v.contains("OIDC access token required"));
        let r = ApiError::InsufficientScope("vso.pats_manage").into_response();
        let v = r.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(v.contains("insufficient_scope") && v.contains("scope=\"vso.pats_manage\""));
    }

    #[test]
    fn pat_token_errors() {
        let wire = |e: &AppError| pat_token_error(e).map(|c| serde_json::to_value(c).unwrap());
        assert_eq!(wire(&AppError::TokenNotFound), Some("tokenNotFound".into()));
        assert_eq!(wire(&AppError::TokenRevoked), Some("invalidToken".into()));
        assert_eq!(
            wire(&AppError::WrongOrganization),
            Some("invalidTargetAccounts".into())
        );
        assert_eq!(pat_token_error(&AppError::OrgNotFound("x".into())), None);
        let org = uuid::Uuid::nil();
        for (v, word) in [
            (Violation::GlobalPat, "globalPatPolicyViolation"),
            (Violation::FullScopePat, "fullScopePatPolicyViolation"),
            (
                Violation::Lifespan { max_days: 30 },
                "patLifespanPolicyViolation",
            ),
            (
                Violation::OrgCreation { org },
                "disablePatCreationPolicyViolation",
            ),
        ] {
            assert_eq!(wire(&AppError::Policy(v)), Some(word.into()));
        }
        let r = ApiError::from(AppError::not_admin_of("fabrikam")).into_response();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
}
