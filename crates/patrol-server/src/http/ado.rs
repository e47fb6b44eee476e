//! `/{organization}/_apis/tokens/pats`: the Azure DevOps PAT Lifecycle API,
//! plus Patrol's one-call regenerate. Handlers translate, nothing more.

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use patrol_core::pat::ExpiryChoice;

use super::auth::Owner;
use super::docs::responses::PatApiRefusals;
use super::error::{pat_token_error, ApiError, WrappedException};
use super::query::CiQuery;
use super::version::{negotiate, PATS_MAX, PATS_MIN};
use super::wire::{
    encode_continuation, PagedPatTokens, PatToken, PatTokenCreateRequest, PatTokenError,
    PatTokenResult, PatTokenUpdateRequest, PatsGetAnswer,
};
use super::AppState;
use crate::app::{AppError, CreatePat, ListRequest, OrgChoice, UpdatePat, Via};

mod params;

use params::{
    authorization_id, list_query, GetOrListParams, OptionalIdParam, PatsParams, RequiredIdParam,
};

/// The Pats resource accepts api-version 6.1 to 7.2 (always preview in ADO).
pub struct PatsVersion;

impl<S: Send + Sync> FromRequestParts<S> for PatsVersion {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        negotiate(parts, PATS_MIN, PATS_MAX).map(|_| PatsVersion)
    }
}

/// The `{organization}` path segment. One that does not decode (e.g. `%FF`)
/// is refused in the API's own error shape, not axum's plain text.
pub struct Org(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Org {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(name)) => Ok(Org(name)),
            Err(_) => Err(ApiError::bad_request("The organization name is not valid.")),
        }
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
    json(StatusCode::OK, &PatTokenResult::ok(token))
}

fn refused(error: PatTokenError) -> Response {
    json(StatusCode::OK, &PatTokenResult::refused(error))
}

/// `patTokenError` failures are 200s in Azure DevOps; the rest are HTTP errors.
fn result_error(e: AppError) -> Result<Response, ApiError> {
    match pat_token_error(&e) {
        Some(code) => Ok(refused(code)),
        None => Err(e.into()),
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
    params(PatsParams, GetOrListParams),
    responses(
        (status = 200, description = "A page of PATs (`PagedPatTokens`), or with `authorizationId` one \
            PAT (`PatTokenResult`; someone else's or an unknown id is `tokenNotFound`)", body = PatsGetAnswer),
        PatApiRefusals,
    ),
    security(("bearer" = []))
)]
pub async fn get_or_list(
    State(state): State<AppState>,
    Owner(caller): Owner,
    _v: PatsVersion,
    Org(org_name): Org,
    q: CiQuery,
) -> Result<Response, ApiError> {
    let via = Via::Org(&org_name);
    // Every parameter is checked, also those a get by id does not use.
    let list = list_query(&q)?;
    if let Some(id) = authorization_id(&q)? {
        return match state.app.get_pat(&caller, via, id).await {
            Ok(p) => Ok(ok_result(PatToken::from_pat(&p, None))),
            Err(e) => result_error(e),
        };
    }
    let page = state
        .app
        .list_pats(
            &caller,
            via,
            ListRequest {
                filter: list.filter,
                sort: list.sort,
                ascending: list.ascending,
                offset: list.offset,
                limit: list.limit,
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
    params(PatsParams),
    request_body = PatTokenCreateRequest,
    responses(
        (status = 200, description = "`PatTokenResult`: the new PAT with its secret in `token`, or a \
            `patTokenError` (`displayNameRequired`, `invalidDisplayName`, `invalidValidTo`, `invalidScope`)",
            body = PatTokenResult,
            links(
                ("GetPat" = (operation_id = "get_or_list", parameters(
                    ("organization" = "$request.path.organization"),
                    ("authorizationId" = "$response.body#/patToken/authorizationId")
                ))),
                ("RegeneratePat" = (operation_id = "regenerate", parameters(
                    ("organization" = "$request.path.organization"),
                    ("authorizationId" = "$response.body#/patToken/authorizationId")
                ))),
                ("RevokePat" = (operation_id = "revoke", parameters(
                    ("organization" = "$request.path.organization"),
                    ("authorizationId" = "$response.body#/patToken/authorizationId")
                )))
            ),
        ),
        PatApiRefusals,
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    Owner(caller): Owner,
    _v: PatsVersion,
    Org(org_name): Org,
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
    params(PatsParams),
    request_body = PatTokenUpdateRequest,
    responses(
        (status = 200, description = "`PatTokenResult` (`token` is null), or a `patTokenError` \
            (`invalidAuthorizationId`, `tokenNotFound`, `invalidToken` for a revoked PAT, \
            `invalidTargetAccounts`, and the create refusals)", body = PatTokenResult),
        PatApiRefusals,
    ),
    security(("bearer" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    Owner(caller): Owner,
    _v: PatsVersion,
    Org(org_name): Org,
    body: RawBody,
) -> Result<Response, ApiError> {
    let req: PatTokenUpdateRequest = parse_body(body)?;
    let Some(id) = req.authorization_id.filter(|id| !id.is_nil()) else {
        return Ok(refused(PatTokenError::InvalidAuthorizationId));
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
    params(PatsParams, RequiredIdParam),
    responses(
        (status = 204, description = "Revoked (also when it already was)"),
        PatApiRefusals,
        (status = 404, description = "No such PAT of yours (`SessionTokenNotFoundException`, the same \
            for someone else's), or no such organization (`OrganizationNotFoundException`)",
            body = WrappedException),
    ),
    security(("bearer" = []))
)]
pub async fn revoke(
    State(state): State<AppState>,
    Owner(caller): Owner,
    _v: PatsVersion,
    Org(org_name): Org,
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
    params(PatsParams, OptionalIdParam),
    responses(
        (status = 200, description = "`PatTokenResult` with the new secret, or a `patTokenError` \
            (`invalidAuthorizationId`, `tokenNotFound`, `invalidToken`, `invalidTargetAccounts`)",
            body = PatTokenResult,
            links(
                ("GetPat" = (operation_id = "get_or_list", parameters(
                    ("organization" = "$request.path.organization"),
                    ("authorizationId" = "$response.body#/patToken/authorizationId")
                ))),
                ("RegeneratePat" = (operation_id = "regenerate", parameters(
                    ("organization" = "$request.path.organization"),
                    ("authorizationId" = "$response.body#/patToken/authorizationId")
                ))),
                ("RevokePat" = (operation_id = "revoke", parameters(
                    ("organization" = "$request.path.organization"),
                    ("authorizationId" = "$response.body#/patToken/authorizationId")
                )))
            ),
        ),
        PatApiRefusals,
    ),
    security(("bearer" = []))
)]
pub async fn regenerate(
    State(state): State<AppState>,
    Owner(caller): Owner,
    _v: PatsVersion,
    Org(org_name): Org,
    q: CiQuery,
) -> Result<Response, ApiError> {
    let Some(id) = authorization_id(&q)? else {
        return Ok(refused(PatTokenError::InvalidAuthorizationId));
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
