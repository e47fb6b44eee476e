//! The SCIM 2.0 service provider at `/scim/v2` (docs/scim.md): wire ⇄
//! domain only. The rules — matching, deactivation's effects, audit — are
//! `app/provisioning.rs`'s; parsing filters and PATCH is `patrol_core::scim`'s.
//! Every route needs the provisioning client's bearer secret.

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use patrol_core::scim::filter::Filter;
use patrol_core::scim::{patch, ScimError, UserData};

use super::AppState;
use crate::app::{ScimAuthFailure, ScimClient, ScimListRequest};

mod wire;

use wire::{Projection, Scim, ScimFailure};

pub const PREFIX: &str = "/scim/v2";

pub fn router(state: &AppState) -> Router {
    Router::new()
        .route(
            "/scim/v2/ServiceProviderConfig",
            get(service_provider_config),
        )
        .route("/scim/v2/ResourceTypes", get(resource_types))
        .route("/scim/v2/ResourceTypes/{id}", get(resource_type))
        .route("/scim/v2/Schemas", get(schemas))
        .route("/scim/v2/Schemas/{id}", get(schema))
        .route("/scim/v2/Users", get(list_users).post(create_user))
        .route("/scim/v2/Users/.search", post(search_users))
        .route(
            "/scim/v2/Users/{id}",
            get(get_user)
                .put(replace_user)
                .patch(patch_user)
                .delete(delete_user),
        )
        // Users are the only resource type: searching them all is searching Users.
        .route("/scim/v2/.search", post(search_users))
        .route("/scim/v2", axum::routing::any(unknown))
        .route("/scim/v2/{*rest}", axum::routing::any(unknown))
        .with_state(state.clone())
}

/// The authenticated provisioning client, and where `meta.location` points.
pub struct Client {
    client: ScimClient,
    base: String,
}

impl FromRequestParts<AppState> for Client {
    type Rejection = ScimFailure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ScimFailure> {
        let ctx = state.request_ctx(parts);
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            });
        let client = state
            .app
            .authenticate_scim(bearer, &ctx)
            .await
            .map_err(|f| match f {
                ScimAuthFailure::Disabled => ScimFailure::not_found("SCIM endpoint"),
                ScimAuthFailure::Invalid => ScimFailure::new(
                    StatusCode::UNAUTHORIZED,
                    None,
                    "a valid provisioning bearer secret is required",
                ),
                ScimAuthFailure::Limited { retry_after_secs } => ScimFailure {
                    retry_after: Some(retry_after_secs),
                    ..ScimFailure::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        Some("tooMany"),
                        "too many failed authentications from this address",
                    )
                },
            })?;
        Ok(Client {
            client,
            base: base_url(state, &parts.headers),
        })
    }
}

fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    let root = state.public_url.clone().unwrap_or_else(|| {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        format!("http://{host}")
    });
    format!("{}{PREFIX}", root.trim_end_matches('/'))
}

type Answer = Result<Response, ScimFailure>;

fn ok(v: Value) -> Answer {
    Ok(Scim(StatusCode::OK, v).into_response())
}

fn json_body(body: &Bytes) -> Result<Value, ScimFailure> {
    serde_json::from_slice(body)
        .map_err(|e| ScimError::InvalidSyntax(format!("the body is not valid JSON: {e}")).into())
}

fn user_id(id: &str) -> Result<Uuid, ScimFailure> {
    Uuid::parse_str(id).map_err(|_| ScimFailure::not_found("User"))
}

async fn unknown(_c: Client) -> ScimFailure {
    ScimFailure::not_found("resource")
}

async fn service_provider_config(c: Client) -> Answer {
    ok(wire::service_provider_config(&c.base))
}

async fn resource_types(c: Client) -> Answer {
    ok(wire::list_response(
        1,
        1,
        vec![wire::user_resource_type(&c.base)],
    ))
}

async fn resource_type(c: Client, Path(id): Path<String>) -> Answer {
    if id != "User" {
        return Err(ScimFailure::not_found("ResourceType"));
    }
    ok(wire::user_resource_type(&c.base))
}

async fn schemas(c: Client) -> Answer {
    let all = wire::schemas(&c.base);
    ok(wire::list_response(all.len() as u64, 1, all))
}

async fn schema(c: Client, Path(id): Path<String>) -> Answer {
    wire::schemas(&c.base)
        .into_iter()
        .find(|s| s.get("id").and_then(Value::as_str) == Some(id.as_str()))
        .map_or_else(|| Err(ScimFailure::not_found("Schema")), ok)
}

/// List parameters, as query strings or a `.search` body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListParams {
    filter: Option<String>,
    start_index: Option<String>,
    count: Option<String>,
    attributes: Option<String>,
    excluded_attributes: Option<String>,
}

fn number(name: &str, v: Option<&str>, default: u64) -> Result<u64, ScimFailure> {
    match v {
        None => Ok(default),
        Some(s) => match s.trim().parse::<i64>() {
            Ok(n) => Ok(u64::try_from(n).unwrap_or(0)),
            Err(_) => Err(ScimError::InvalidValue(format!("{name} must be an integer")).into()),
        },
    }
}

async fn list(state: &AppState, c: &Client, p: &ListParams) -> Answer {
    let filter = p.filter.as_deref().map(Filter::parse).transpose()?;
    let req = ScimListRequest {
        filter,
        start_index: number("startIndex", p.start_index.as_deref(), 1)?.max(1),
        count: number("count", p.count.as_deref(), crate::app::MAX_SCIM_PAGE)?,
    };
    let page = state.app.scim_list(&c.client, &req).await?;
    let projection = Projection::parse(p.attributes.as_deref(), p.excluded_attributes.as_deref());
    let resources = page
        .users
        .iter()
        .map(|u| projection.apply(wire::user_resource(u, &c.base)))
        .collect();
    ok(wire::list_response(page.total, page.start_index, resources))
}

async fn list_users(
    State(state): State<AppState>,
    c: Client,
    Query(p): Query<ListParams>,
) -> Answer {
    list(&state, &c, &p).await
}

/// `POST /Users/.search` (RFC 7644 §3.4.3): the list parameters in a body.
async fn search_users(State(state): State<AppState>, c: Client, body: Bytes) -> Answer {
    let v = json_body(&body)?;
    let text = |k: &str| match patrol_core::scim::filter::get_ci_value(&v, k) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Array(a)) => Some(
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
        ),
        _ => None,
    };
    let p = ListParams {
        filter: text("filter"),
        start_index: text("startIndex"),
        count: text("count"),
        attributes: text("attributes"),
        excluded_attributes: text("excludedAttributes"),
    };
    list(&state, &c, &p).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Projected {
    attributes: Option<String>,
    excluded_attributes: Option<String>,
}

fn one(u: &patrol_core::scim::ScimUser, c: &Client, status: StatusCode, p: &Projected) -> Answer {
    let projection = Projection::parse(p.attributes.as_deref(), p.excluded_attributes.as_deref());
    let mut resp = Scim(status, projection.apply(wire::user_resource(u, &c.base))).into_response();
    if let Ok(v) = HeaderValue::from_str(&wire::etag(u)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    if status == StatusCode::CREATED {
        if let Ok(v) = HeaderValue::from_str(&format!("{}/Users/{}", c.base, u.id)) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
    }
    Ok(resp)
}

async fn get_user(
    State(state): State<AppState>,
    c: Client,
    Path(id): Path<String>,
    Query(p): Query<Projected>,
) -> Answer {
    let u = state.app.scim_get(&c.client, user_id(&id)?).await?;
    one(&u, &c, StatusCode::OK, &p)
}

async fn create_user(
    State(state): State<AppState>,
    c: Client,
    Query(p): Query<Projected>,
    body: Bytes,
) -> Answer {
    let data = UserData::from_resource(&json_body(&body)?)?;
    let u = state.app.scim_create(&c.client, data).await?;
    one(&u, &c, StatusCode::CREATED, &p)
}

async fn replace_user(
    State(state): State<AppState>,
    c: Client,
    Path(id): Path<String>,
    Query(p): Query<Projected>,
    body: Bytes,
) -> Answer {
    let id = user_id(&id)?;
    let data = UserData::from_resource(&json_body(&body)?)?;
    let u = state.app.scim_replace(&c.client, id, data).await?;
    one(&u, &c, StatusCode::OK, &p)
}

async fn patch_user(
    State(state): State<AppState>,
    c: Client,
    Path(id): Path<String>,
    Query(p): Query<Projected>,
    body: Bytes,
) -> Answer {
    let id = user_id(&id)?;
    let ops = patch::parse_request(&json_body(&body)?)?;
    let u = state.app.scim_patch(&c.client, id, &ops).await?;
    one(&u, &c, StatusCode::OK, &p)
}

async fn delete_user(State(state): State<AppState>, c: Client, Path(id): Path<String>) -> Answer {
    state.app.scim_delete(&c.client, user_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
