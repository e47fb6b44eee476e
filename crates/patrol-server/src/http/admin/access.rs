//! Disabling and enabling a user (tenant administrators): the same effect
//! as the provisioning client's deactivation (docs/scim.md) — every PAT
//! revoked, every web session ended; enabling does not revive revoked PATs.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use uuid::Uuid;

use super::super::auth::Administrator;
use super::super::error::ApiError;
use super::super::tokenadmin::json;
use super::super::AppState;
use super::wire::UserDoc;

/// Disable a user: their PATs are revoked (refused on the very next
/// verify), their web sessions end, and they cannot sign in.
#[utoipa::path(
    post,
    path = "/patrol/v1/admin/users/{userId}/disable",
    tag = "admin",
    params(("userId" = Uuid, Path, description = "Patrol user id")),
    responses(
        (status = 200, description = "The user, disabled (also when they already were)", body = UserDoc),
        (status = 403, description = "Not a tenant administrator"),
        (status = 404, description = "No such user"),
    ),
    security(("bearer" = []))
)]
pub async fn disable_user(
    State(state): State<AppState>,
    Administrator(caller): Administrator,
    Path(user): Path<Uuid>,
) -> Result<Response, ApiError> {
    let summary = state.app.admin_set_disabled(&caller, user, true).await?;
    Ok(json(StatusCode::OK, &UserDoc::from(summary)))
}

/// Enable a disabled user again; PATs revoked when they were disabled stay revoked.
#[utoipa::path(
    post,
    path = "/patrol/v1/admin/users/{userId}/enable",
    tag = "admin",
    params(("userId" = Uuid, Path, description = "Patrol user id")),
    responses(
        (status = 200, description = "The user, enabled", body = UserDoc),
        (status = 403, description = "Not a tenant administrator"),
        (status = 404, description = "No such user"),
    ),
    security(("bearer" = []))
)]
pub async fn enable_user(
    State(state): State<AppState>,
    Administrator(caller): Administrator,
    Path(user): Path<Uuid>,
) -> Result<Response, ApiError> {
    let summary = state.app.admin_set_disabled(&caller, user, false).await?;
    Ok(json(StatusCode::OK, &UserDoc::from(summary)))
}
