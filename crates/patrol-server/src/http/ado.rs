//! `/{organization}/_apis/tokens/pats`: the Azure DevOps PAT Lifecycle API,
//! plus Patrol's one-call regenerate. Handlers translate, nothing more.

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use uuid::Uuid;

use patrol_core::pat::{ExpiryChoice, ListFilter, SortBy};

use super::auth::Owner;
use super::error::{pat_token_error, ApiError};
use super::query::CiQuery;
use super::version::negotiate;
use super::wire::{
    decode_continuation, encode_continuation, parse_bool, PagedPatTokens, PatToken,
    PatTokenCreateRequest, PatTokenResult, PatTokenUpdateRequest,
};
use super::AppState;
use crate::app::{AppError, CreatePat, ListRequest, OrgChoice, UpdatePat, Via};

/// The Pats resource accepts api-version 6.1 to 7.2 (always preview in ADO).
pub struct PatsVersion;

impl<S: Send + Sync> FromRequestParts<S> for PatsVersion {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        negotiate(parts, (6, 1), (7, 2)).map(|_| PatsVersion)
    }
}

fn json<T: serde::Serialize>(status: StatusCode, body: &T) -> Response {
    let mut r = (status, Json(body)).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn ok_result(token: PatToken) -> Response {
    json(
        StatusCode::OK,
        &PatTokenResult {
            pat_token: Some(token),
            pat_token_error: "none".into(),
        },
    )
}

/// `patTokenError` failures are 200s in Azure DevOps; the rest are HTTP errors.
fn result_error(e: AppError) -> Result<Response, ApiError> {
    match pat_token_error(&e) {
        Some(code) => Ok(json(
            StatusCode::OK,
            &PatTokenResult {
                pat_token: None,
                pat_token_error: code.into(),
            },
        )),
        None => Err(e.into()),
    }
}

fn authorization_id(q: &CiQuery) -> Result<Option<Uuid>, ApiError> {
    match q.get("authorizationId") {
        None => Ok(None),
        Some(s) => match Uuid::parse_str(s.trim()) {
            Ok(id) if !id.is_nil() => Ok(Some(id)),
            _ => Err(ApiError::bad_request(
                "authorizationId is not a valid Guid.",
            )),
        },
    }
}

/// The raw body; extraction failures (e.g. too large) become ADO-shaped errors.
pub type RawBody = Result<Bytes, axum::extract::rejection::BytesRejection>;

fn parse_body<T: serde::de::DeserializeOwned>(body: RawBody) -> Result<T, ApiError> {
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
    let bad = |e: serde_json::Error| ApiError::BadRequest {
        type_key: "JsonReaderException",
        message: format!("The request body is not valid: {e}"),
    };
    // Only a JSON object is a request (serde would otherwise fill structs from arrays).
    let value: serde_json::Value = serde_json::from_slice(&body).map_err(bad)?;
    if !value.is_object() {
        return Err(ApiError::BadRequest {
            type_key: "JsonReaderException",
            message: "The request body must be a JSON object.".into(),
        });
    }
    serde_json::from_value(value).map_err(bad)
}

/// `validTo` as sent: an exact instant, capped to the maximum lifetime.
fn expiry(valid_to: Option<chrono::DateTime<chrono::Utc>>) -> ExpiryChoice {
    valid_to.map_or(ExpiryChoice::Unset, ExpiryChoice::Until)
}

/// `allOrgs`: all organizations, or the one the request came through.
fn target(all_orgs: bool, org_name: &str) -> OrgChoice {
    if all_orgs {
        OrgChoice::All
    } else {
        OrgChoice::Org(org_name.to_owned())
    }
}

/// List the caller's PATs, or get one with `?authorizationId=`.
#[utoipa::path(
    get,
    path = "/{organization}/_apis/tokens/pats",
    tag = "pats",
    params(
        ("organization" = String, Path, description = "Organization name"),
        ("authorizationId" = Option<Uuid>, Query, description = "Get this one PAT instead of listing"),
        ("displayFilterOption" = Option<String>, Query, description = "active (default) | revoked | expired | all"),
        ("sortByOption" = Option<String>, Query, description = "displayName (default) | displayDate | status"),
        ("isSortAscending" = Option<bool>, Query, description = "default true"),
        ("continuationToken" = Option<String>, Query, description = "From the previous page; empty = first page"),
        ("$top" = Option<u32>, Query, description = "Page size, 1–100, default 20"),
        ("api-version" = Option<String>, Query, description = "6.1-preview … 7.2-preview.1 (or in Accept)"),
    ),
    responses(
        (status = 200, description = "PagedPatTokens (list) or PatTokenResult (get)", body = PagedPatTokens),
        (status = 400, description = "Bad parameters (WrappedException)"),
        (status = 401, description = "No or invalid OIDC access token"),
        (status = 403, description = "Missing scope vso.pats, or a service principal"),
    ),
    security(("bearer" = []))
)]
pub async fn get_or_list(
    State(state): State<AppState>,
    Owner(caller): Owner,
    _v: PatsVersion,
    Path(org_name): Path<String>,
    q: CiQuery,
) -> Result<Response, ApiError> {
    let via = Via::Org(&org_name);
    if let Some(id) = authorization_id(&q)? {
        return match state.app.get_pat(&caller, via, id).await {
            Ok(p) => Ok(ok_result(PatToken::from_pat(&p, None))),
            Err(e) => result_error(e),
        };
    }
    let filter = match q.get("displayFilterOption").filter(|s| !s.is_empty()) {
        None => ListFilter::default(),
        Some(s) => ListFilter::parse(s)
            .ok_or_else(|| ApiError::bad_request("displayFilterOption is not valid."))?,
    };
    let sort = match q.get("sortByOption").filter(|s| !s.is_empty()) {
        None => SortBy::default(),
        Some(s) => {
            SortBy::parse(s).ok_or_else(|| ApiError::bad_request("sortByOption is not valid."))?
        }
    };
    let ascending = match q.get("isSortAscending").filter(|s| !s.is_empty()) {
        None => true,
        Some(s) => {
            parse_bool(s).ok_or_else(|| ApiError::bad_request("isSortAscending is not valid."))?
        }
    };
    let offset = decode_continuation(q.get("continuationToken").unwrap_or(""))
        .ok_or_else(|| ApiError::bad_request("continuationToken is not valid."))?;
    let limit = match q.get("$top").filter(|s| !s.is_empty()) {
        None => 20,
        Some(s) => match s.trim().parse::<i64>() {
            Ok(n) if n >= 1 => u32::try_from(n.min(100)).unwrap_or(100),
            _ => return Err(ApiError::bad_request("$top must be a positive integer.")),
        },
    };
    let page = state
        .app
        .list_pats(
            &caller,
            via,
            ListRequest {
                filter,
                sort,
                ascending,
                offset,
                limit,
            },
        )
        .await?;
    let body = PagedPatTokens {
        continuation_token: page
            .next_offset
            .map(encode_continuation)
            .unwrap_or_default(),
        pat_tokens: page
            .pats
            .iter()
            .map(|p| PatToken::from_pat(p, None))
            .collect(),
    };
    Ok(json(StatusCode::OK, &body))
}

/// Create a PAT. The answer is the only time its secret is shown.
#[utoipa::path(
    post,
    path = "/{organization}/_apis/tokens/pats",
    tag = "pats",
    params(("organization" = String, Path, description = "Organization name")),
    request_body = PatTokenCreateRequest,
    responses(
        (status = 200, description = "PatTokenResult; `token` holds the secret, `patTokenError` any refusal", body = PatTokenResult),
        (status = 400, description = "Malformed body"),
        (status = 401, description = "No or invalid OIDC access token"),
        (status = 403, description = "Missing scope vso.pats_manage, or a service principal"),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    Owner(caller): Owner,
    _v: PatsVersion,
    Path(org_name): Path<String>,
    body: RawBody,
) -> Result<Response, ApiError> {
    let req: PatTokenCreateRequest = parse_body(body)?;
    let create = CreatePat {
        display_name: req.display_name,
        scope: req.scope,
        expiry: expiry(req.valid_to),
        target: target(req.all_orgs.unwrap_or(false), &org_name),
    };
    match state
        .app
        .create_pat(&caller, Via::Org(&org_name), create)
        .await
    {
        Ok((pat, secret)) => Ok(ok_result(PatToken::from_pat(
            &pat,
            Some(secret.expose().to_owned()),
        ))),
        Err(e) => result_error(e),
    }
}

/// Update name, scopes, expiry or organizations. The secret does not change.
#[utoipa::path(
    put,
    path = "/{organization}/_apis/tokens/pats",
    tag = "pats",
    params(("organization" = String, Path, description = "Organization name")),
    request_body = PatTokenUpdateRequest,
    responses(
        (status = 200, description = "PatTokenResult (token is null)", body = PatTokenResult),
        (status = 400, description = "Malformed body"),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    Owner(caller): Owner,
    _v: PatsVersion,
    Path(org_name): Path<String>,
    body: RawBody,
) -> Result<Response, ApiError> {
    let req: PatTokenUpdateRequest = parse_body(body)?;
    let Some(id) = req.authorization_id.filter(|id| !id.is_nil()) else {
        return Ok(json(
            StatusCode::OK,
            &PatTokenResult {
                pat_token: None,
                pat_token_error: "invalidAuthorizationId".into(),
            },
        ));
    };
    let update = UpdatePat {
        authorization_id: id,
        display_name: req.display_name,
        scope: req.scope,
        expiry: expiry(req.valid_to),
        target: req.all_orgs.map(|all| target(all, &org_name)),
    };
    match state
        .app
        .update_pat(&caller, Via::Org(&org_name), update)
        .await
    {
        Ok(p) => Ok(ok_result(PatToken::from_pat(&p, None))),
        Err(e) => result_error(e),
    }
}

/// Revoke. Works through any organization; answers 204 with an empty body.
#[utoipa::path(
    delete,
    path = "/{organization}/_apis/tokens/pats",
    tag = "pats",
    params(
        ("organization" = String, Path, description = "Organization name"),
        ("authorizationId" = Uuid, Query, description = "The PAT to revoke"),
    ),
    responses(
        (status = 204, description = "Revoked (also when it already was)"),
        (status = 404, description = "No such PAT of yours"),
    ),
    security(("bearer" = []))
)]
pub async fn revoke(
    State(state): State<AppState>,
    Owner(caller): Owner,
    _v: PatsVersion,
    Path(org_name): Path<String>,
    q: CiQuery,
) -> Result<Response, ApiError> {
    let id = authorization_id(&q)?
        .ok_or_else(|| ApiError::bad_request("authorizationId is required."))?;
    state
        .app
        .revoke_pat(&caller, Via::Org(&org_name), id)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Patrol extension: a new secret for the same PAT in one call; the old secret
/// stops working at once. Organization-scoped PATs only through their own organization.
#[utoipa::path(
    post,
    path = "/{organization}/_apis/tokens/pats/regenerate",
    tag = "pats",
    params(
        ("organization" = String, Path, description = "Organization name"),
        ("authorizationId" = Uuid, Query, description = "The PAT to regenerate"),
    ),
    responses((status = 200, description = "PatTokenResult with the new secret", body = PatTokenResult)),
    security(("bearer" = []))
)]
pub async fn regenerate(
    State(state): State<AppState>,
    Owner(caller): Owner,
    _v: PatsVersion,
    Path(org_name): Path<String>,
    q: CiQuery,
) -> Result<Response, ApiError> {
    let Some(id) = authorization_id(&q)? else {
        return Ok(json(
            StatusCode::OK,
            &PatTokenResult {
                pat_token: None,
                pat_token_error: "invalidAuthorizationId".into(),
            },
        ));
    };
    match state
        .app
        .regenerate_pat(&caller, Via::Org(&org_name), id)
        .await
    {
        Ok((pat, secret)) => Ok(ok_result(PatToken::from_pat(
            &pat,
            Some(secret.expose().to_owned()),
        ))),
        Err(e) => result_error(e),
    }
}
