//! `/{organization}/_apis/tokenadmin/…`: Azure DevOps' Token Admin API
//! (docs/ado-wire-contract.md §5), as the official clients call it — list a
//! user's PATs by subject descriptor, revoke authorizations, revocation
//! rules. Handlers translate, nothing more.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use patrol_core::descriptor::SubjectDescriptor;
use patrol_core::pat::{OrgTarget, Pat, PatStatus};

use super::auth::Administrator;
use super::error::ApiError;
use super::query::CiQuery;
use super::version::negotiate;
use super::wire::{ado_date, parse_bool, parse_date};
use super::AppState;
use crate::app::App;

/// The Token Admin resources accept api-version 5.0 to 7.2.
pub struct TokenAdminVersion;

impl<S: Send + Sync> FromRequestParts<S> for TokenAdminVersion {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        negotiate(parts, (5, 0), (7, 2)).map(|_| TokenAdminVersion)
    }
}

/// `SessionToken`: one PAT as the Token Admin API shows it (`token` is
/// never returned).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionToken {
    pub access_id: Uuid,
    pub alternate_token: Option<String>,
    pub authorization_id: Uuid,
    pub claims: Option<HashMap<String, String>>,
    /// The nil GUID: PATs belong to no OAuth client.
    pub client_id: Uuid,
    pub display_name: String,
    pub host_authorization_id: Uuid,
    pub is_public: bool,
    /// Active now: not revoked, not expired, not inactive.
    pub is_valid: bool,
    pub public_data: Option<String>,
    pub scope: String,
    pub source: Option<String>,
    /// The organization ids it is valid in; `null` for a global PAT.
    pub target_accounts: Option<Vec<Uuid>>,
    pub token: Option<String>,
    /// The owner's Patrol user id.
    pub user_id: Uuid,
    #[serde(with = "ado_date")]
    #[schema(value_type = String, format = DateTime)]
    pub valid_from: DateTime<Utc>,
    #[serde(with = "ado_date")]
    #[schema(value_type = String, format = DateTime)]
    pub valid_to: DateTime<Utc>,
}

impl SessionToken {
    pub fn from_pat(p: &Pat, status: PatStatus) -> Self {
        Self {
            access_id: p.authorization_id,
            alternate_token: None,
            authorization_id: p.authorization_id,
            claims: None,
            client_id: Uuid::nil(),
            display_name: p.display_name.clone(),
            host_authorization_id: Uuid::nil(),
            is_public: false,
            is_valid: status == PatStatus::Active,
            public_data: None,
            scope: p.scopes.as_string(),
            source: None,
            target_accounts: match &p.target {
                OrgTarget::All => None,
                OrgTarget::Orgs(ids) => Some(ids.clone()),
            },
            token: None,
            user_id: p.owner,
            valid_from: p.valid_from,
            valid_to: p.valid_to,
        }
    }
}

/// `TokenAdminPagedSessionTokens`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenAdminPagedSessionTokens {
    /// The id the next page starts at; `null` on the last page.
    pub continuation_token: Option<Uuid>,
    pub value: Vec<SessionToken>,
}

/// `TokenAdminRevocation`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenAdminRevocation {
    #[serde(default, deserialize_with = "lenient_uuid")]
    #[schema(value_type = Uuid)]
    pub authorization_id: Option<Uuid>,
}

/// `TokenAdminRevocationRule`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenAdminRevocationRule {
    /// Space-separated scopes; a token granting any of them is revoked.
    #[serde(default)]
    pub scopes: Option<String>,
    /// Default: when the rule is made.
    #[serde(default, deserialize_with = "lenient_date")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub created_before: Option<DateTime<Utc>>,
}

fn lenient_uuid<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Uuid>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => Uuid::parse_str(s.trim())
            .map(Some)
            .map_err(|_| serde::de::Error::custom("authorizationId is not a valid Guid")),
    }
}

fn lenient_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => parse_date(&s)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("createdBefore is not a date")),
    }
}

pub(crate) fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let mut r = (status, Json(body)).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

/// The body as JSON of type `T`; ADO-shaped 400s otherwise.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<T, ApiError> {
    let body = body.map_err(|e| match e {
        axum::extract::rejection::BytesRejection::FailedToBufferBody(_) => {
            ApiError::PayloadTooLarge
        }
        other => ApiError::bad_request(other.body_text()),
    })?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest {
            type_key: "ArgumentNullException",
            message: "Value cannot be null. Parameter name: request body".into(),
        });
    }
    serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest {
        type_key: "JsonReaderException",
        message: format!("The request body is not valid: {e}"),
    })
}

fn bool_param(q: &CiQuery, key: &str) -> Result<bool, ApiError> {
    match q.get(key).filter(|s| !s.is_empty()) {
        None => Ok(false),
        Some(s) => {
            parse_bool(s).ok_or_else(|| ApiError::bad_request(format!("{key} is not valid.")))
        }
    }
}

fn session_tokens(app: &App, pats: &[Pat]) -> Vec<SessionToken> {
    pats.iter()
        .map(|p| SessionToken::from_pat(p, app.pat_status(p)))
        .collect()
}

/// List a user's PATs that reach the organization, by id, a page at a time.
#[utoipa::path(
    get,
    path = "/{organization}/_apis/tokenadmin/personalaccesstokens/{subjectDescriptor}",
    tag = "tokenadmin",
    params(
        ("organization" = String, Path, description = "Organization name"),
        ("subjectDescriptor" = String, Path, description = "aad.<base64url(object id)> or patrol.<base64url(user id)>"),
        ("pageSize" = Option<u32>, Query, description = "1–1000, default 100"),
        ("continuationToken" = Option<Uuid>, Query, description = "From the previous page"),
        ("isPublic" = Option<bool>, Query, description = "true: SSH keys (Patrol has none)"),
        ("api-version" = Option<String>, Query, description = "5.0 … 7.2-preview.1 (or in Accept)"),
    ),
    responses(
        (status = 200, description = "TokenAdminPagedSessionTokens", body = TokenAdminPagedSessionTokens),
        (status = 400, description = "Bad descriptor, page size or continuation token"),
        (status = 401, description = "No or invalid OIDC access token"),
        (status = 403, description = "Missing scope vso.tokenadministration, or not an administrator of the organization"),
        (status = 404, description = "Unknown organization or user"),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Administrator(caller): Administrator,
    _v: TokenAdminVersion,
    Path((org, descriptor)): Path<(String, String)>,
    q: CiQuery,
) -> Result<Response, ApiError> {
    let descriptor = SubjectDescriptor::parse(&descriptor)
        .ok_or_else(|| ApiError::bad_request("subjectDescriptor is not a valid descriptor."))?;
    let page_size = match q.get("pageSize").filter(|s| !s.is_empty()) {
        None => 100,
        Some(s) => match s.trim().parse::<i64>() {
            Ok(n) if n >= 1 => u32::try_from(n).unwrap_or(u32::MAX),
            _ => {
                return Err(ApiError::bad_request(
                    "pageSize must be a positive integer.",
                ))
            }
        },
    };
    let from = match q.get("continuationToken").map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(
            Uuid::parse_str(s)
                .map_err(|_| ApiError::bad_request("continuationToken is not valid."))?,
        ),
    };
    let public = bool_param(&q, "isPublic")?;
    let page = state
        .app
        .token_admin_list(&caller, &org, &descriptor, page_size, from)
        .await?;
    let body = if public {
        TokenAdminPagedSessionTokens {
            continuation_token: None,
            value: Vec::new(),
        }
    } else {
        TokenAdminPagedSessionTokens {
            continuation_token: page.next,
            value: session_tokens(&state.app, &page.pats),
        }
    };
    Ok(json(StatusCode::OK, &body))
}

/// Revoke the listed PATs (any user's, reaching the organization): all or nothing.
#[utoipa::path(
    post,
    path = "/{organization}/_apis/tokenadmin/revocations",
    tag = "tokenadmin",
    params(
        ("organization" = String, Path, description = "Organization name"),
        ("isPublic" = Option<bool>, Query, description = "true: SSH keys (Patrol has none)"),
    ),
    request_body = Vec<TokenAdminRevocation>,
    responses(
        (status = 204, description = "Revoked (also those already revoked)"),
        (status = 400, description = "Not a list, or an entry without authorizationId"),
        (status = 403, description = "Missing scope vso.tokenadministration, or not an administrator of the organization"),
        (status = 404, description = "An id that does not exist or does not reach the organization; nothing was revoked"),
    ),
    security(("bearer" = []))
)]
pub async fn revocations(
    State(state): State<AppState>,
    Administrator(caller): Administrator,
    _v: TokenAdminVersion,
    Path(org): Path<String>,
    q: CiQuery,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let list: Vec<TokenAdminRevocation> = read_json(body)?;
    let ids = list
        .iter()
        .map(|r| r.authorization_id.filter(|id| !id.is_nil()))
        .collect::<Option<Vec<Uuid>>>()
        .ok_or_else(|| ApiError::bad_request("authorizationId is required."))?;
    if bool_param(&q, "isPublic")? {
        // SSH keys: Patrol has none, so a listed id names nothing. The
        // caller must still administer the organization.
        state.app.token_admin_revoke(&caller, &org, &[]).await?;
        if !ids.is_empty() {
            return Err(crate::app::AppError::TokenNotFound.into());
        }
    } else {
        state.app.token_admin_revoke(&caller, &org, &ids).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Revoke every PAT reaching the organization that grants any of the
/// scopes and was created before the date; the rule is kept for the record.
#[utoipa::path(
    post,
    path = "/{organization}/_apis/tokenadmin/revocationrules",
    tag = "tokenadmin",
    params(("organization" = String, Path, description = "Organization name")),
    request_body = TokenAdminRevocationRule,
    responses(
        (status = 201, description = "The rule was made and applied (empty body)"),
        (status = 400, description = "No or unknown scopes"),
        (status = 403, description = "Missing scope vso.tokenadministration, or not an administrator of the organization"),
    ),
    security(("bearer" = []))
)]
pub async fn revocation_rules(
    State(state): State<AppState>,
    Administrator(caller): Administrator,
    _v: TokenAdminVersion,
    Path(org): Path<String>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let rule: TokenAdminRevocationRule = read_json(body)?;
    let scopes = rule
        .scopes
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("scopes is required."))?;
    state
        .app
        .create_revocation_rule(&caller, Some(&org), &scopes, rule.created_before)
        .await?;
    Ok(StatusCode::CREATED.into_response())
}
