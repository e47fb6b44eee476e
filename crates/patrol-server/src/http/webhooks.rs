//! `/patrol/v1/webhooks`: a user's webhook subscriptions (and, with the
//! `vso.tokenadministration` scope, a tenant administrator's tenant-wide
//! ones). Deliveries are CloudEvents 1.0 JSON, signed with the secret shown
//! once on creation (docs/notifications.md). Handlers translate only.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::Owner;
use super::error::ApiError;
use super::tokenadmin::{json, read_json};
use super::AppState;
use crate::app::{EventKind, Subscription};

use super::ado::RawBody;

/// `/patrol/v1/webhooks…`.
pub fn router(state: &AppState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(delete))
        .with_state(state.clone())
}

/// A new subscription.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewWebhook {
    /// Where deliveries are POSTed (`http` or `https`).
    pub url: String,
    /// Event kinds to deliver: created, updated, regenerated, revoked,
    /// expiring, expired, leaked. Left out or empty: all.
    #[serde(default)]
    pub events: Vec<String>,
    /// Every user's tokens (tenant administrators, with the
    /// `vso.tokenadministration` scope); default: the caller's own.
    #[serde(default)]
    pub tenant_wide: bool,
}

/// A subscription (its secret is shown once, on creation).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDoc {
    pub id: Uuid,
    pub url: String,
    /// Empty: all kinds.
    pub events: Vec<String>,
    pub tenant_wide: bool,
    pub created_at: DateTime<Utc>,
    /// The HMAC-SHA256 signing key (`X-Patrol-Signature-256`); only in
    /// the answer to the creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhooksDoc {
    pub count: usize,
    pub value: Vec<WebhookDoc>,
}

fn doc(s: Subscription, secret: Option<String>) -> WebhookDoc {
    WebhookDoc {
        id: s.id,
        url: s.url,
        events: s.events.iter().map(|e| e.as_str().to_owned()).collect(),
        tenant_wide: s.tenant_wide,
        created_at: s.created_at,
        secret,
    }
}

/// The caller's subscriptions (and the tenant-wide ones, for tenant administrators).
#[utoipa::path(
    get,
    path = "/patrol/v1/webhooks",
    tag = "webhooks",
    responses(
        (status = 200, description = "Subscriptions", body = WebhooksDoc),
        (status = 401, description = "No or invalid OIDC access token"),
        (status = 403, description = "Missing scope vso.pats"),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Owner(caller): Owner,
) -> Result<Response, ApiError> {
    let all = state.app.list_webhooks(&caller).await?;
    let value: Vec<WebhookDoc> = all.into_iter().map(|s| doc(s, None)).collect();
    Ok(json(
        StatusCode::OK,
        &WebhooksDoc {
            count: value.len(),
            value,
        },
    ))
}

/// Subscribe a URL to token events; the answer carries the signing secret, once.
#[utoipa::path(
    post,
    path = "/patrol/v1/webhooks",
    tag = "webhooks",
    request_body = NewWebhook,
    responses(
        (status = 201, description = "Created; `secret` is shown this once", body = WebhookDoc),
        (status = 400, description = "Invalid URL or event kind"),
        (status = 401, description = "No or invalid OIDC access token"),
        (status = 403, description = "Missing scope, or tenant-wide without being a tenant administrator"),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    Owner(caller): Owner,
    body: RawBody,
) -> Result<Response, ApiError> {
    let req: NewWebhook = read_json(body)?;
    let mut events = Vec::with_capacity(req.events.len());
    for e in &req.events {
        events.push(EventKind::parse(e).ok_or_else(|| {
            ApiError::bad_request(format!(
                "unknown event kind '{e}': use created, updated, regenerated, revoked, expiring, expired or leaked"
            ))
        })?);
    }
    let made = state
        .app
        .create_webhook(&caller, &req.url, &events, req.tenant_wide)
        .await?;
    Ok(json(
        StatusCode::CREATED,
        &doc(made.subscription, Some(made.secret)),
    ))
}

/// Delete a subscription (tenant-wide ones: tenant administrators).
#[utoipa::path(
    delete,
    path = "/patrol/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "Subscription id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "No such subscription of the caller's"),
        (status = 401, description = "No or invalid OIDC access token"),
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    Owner(caller): Owner,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = Uuid::parse_str(&id)
        .map_err(|_| ApiError::bad_request("The subscription id must be a GUID."))?;
    state.app.delete_webhook(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
