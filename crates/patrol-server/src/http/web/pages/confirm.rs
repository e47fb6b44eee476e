//! Regenerate and revoke: a confirmation page on GET (which changes
//! nothing), the change on POST.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use uuid::Uuid;

use super::super::session::{WebForm, WebUser};
use super::super::view::ConfirmPage;
use super::super::WebCtx;
use super::tokens::{created, see_other};
use super::{app_error, chrome, render};
use crate::app::{AppError, Via};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Confirm {
    Regenerate,
    Revoke,
}

/// The confirmation page of a regenerate or revoke: GET only asks, its
/// button posts. A revoked token cannot be regenerated, so it is not asked.
async fn confirm_page(ctx: &WebCtx, user: &WebUser, id: &str, kind: Confirm) -> Response {
    let Ok(id) = Uuid::parse_str(id) else {
        return app_error(user, &AppError::TokenNotFound);
    };
    let pat = match ctx.app().get_pat(&user.caller, Via::Unspecified, id).await {
        Ok(p) => p,
        Err(e) => return app_error(user, &e),
    };
    let name = &pat.display_name;
    let page = match kind {
        Confirm::Regenerate => {
            if pat.revoked_at.is_some() {
                return app_error(user, &AppError::TokenRevoked);
            }
            ConfirmPage {
                chrome: chrome(user),
                form_id: "confirm-regenerate",
                action: format!("/tokens/{id}/regenerate"),
                title: format!("Regenerate “{name}”?"),
                message: "A new secret replaces the current one, with the same name, scopes and \
                          expiration. The current secret stops working at once: update every \
                          place that uses it."
                    .into(),
                button: "Regenerate",
                danger: false,
                cancel: "/tokens".into(),
            }
        }
        Confirm::Revoke => ConfirmPage {
            chrome: chrome(user),
            form_id: "confirm-revoke",
            action: format!("/tokens/{id}/revoke"),
            title: format!("Revoke “{name}”?"),
            message: "Anything using this token loses access at once. This cannot be undone."
                .into(),
            button: "Revoke",
            danger: true,
            cancel: "/tokens".into(),
        },
    };
    render(StatusCode::OK, &page)
}

/// `GET /tokens/{id}/regenerate`: a confirmation only; GET changes nothing.
pub async fn confirm_regenerate(
    State(ctx): State<WebCtx>,
    user: WebUser,
    Path(id): Path<String>,
) -> Response {
    confirm_page(&ctx, &user, &id, Confirm::Regenerate).await
}

/// `GET /tokens/{id}/revoke`: a confirmation only.
pub async fn confirm_revoke(
    State(ctx): State<WebCtx>,
    user: WebUser,
    Path(id): Path<String>,
) -> Response {
    confirm_page(&ctx, &user, &id, Confirm::Revoke).await
}

/// `POST /tokens/{id}/regenerate`.
pub async fn regenerate(
    State(ctx): State<WebCtx>,
    Path(id): Path<String>,
    form: WebForm,
) -> Response {
    let user = form.user;
    let Ok(id) = Uuid::parse_str(&id) else {
        return app_error(&user, &AppError::TokenNotFound);
    };
    match ctx
        .app()
        .regenerate_pat(&user.caller, Via::Unspecified, id)
        .await
    {
        Ok((pat, secret)) => created(&user, "Token regenerated", &pat, secret.expose().to_owned()),
        Err(e) => app_error(&user, &e),
    }
}

/// `POST /tokens/{id}/revoke`.
pub async fn revoke(State(ctx): State<WebCtx>, Path(id): Path<String>, form: WebForm) -> Response {
    let user = form.user;
    let Ok(id) = Uuid::parse_str(&id) else {
        return app_error(&user, &AppError::TokenNotFound);
    };
    match ctx
        .app()
        .revoke_pat(&user.caller, Via::Unspecified, id)
        .await
    {
        Ok(()) => see_other(&format!("/tokens?notice=revoked&id={id}")),
        Err(e) => app_error(&user, &e),
    }
}
