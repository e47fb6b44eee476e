//! `/admin/users`: find a user, list their tokens, revoke one (with a
//! confirmation, like the owner's own revoke) or all of them; disable or
//! enable the user (tenant administrators).

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use uuid::Uuid;

use patrol_core::pat::{ListFilter, OrgTarget, Pat};
use patrol_core::roles::user_key;
use patrol_core::user::Organization;

use super::super::super::session::{WebForm, WebUser};
use super::super::super::view::ConfirmPage;
use super::super::super::WebCtx;
use super::super::tokens::see_other;
use super::super::{app_error, chrome, date, render};
use super::view::{AdminTokenRow, UserRow, UserTokensPage, UsersPage};
use super::{gate, nav, query};
use crate::app::{AppError, UserSummary};

fn user_row(u: &UserSummary) -> UserRow {
    let mut roles = Vec::new();
    if u.roles.tenant_admin {
        roles.push("tenant administrator".to_owned());
    }
    roles.extend(
        u.roles
            .org_admin
            .iter()
            .map(|o| format!("administrator of {o}")),
    );
    UserRow {
        id: u.user.id.to_string(),
        name: u.user.display_name.clone(),
        key: user_key(&u.user.issuer, &u.user.subject),
        email: u.user.email.clone().unwrap_or_default(),
        orgs: u
            .member_of
            .iter()
            .map(|o| o.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        roles: roles.join(", "),
        disabled: u.user.disabled,
    }
}

/// `GET /admin/users[?q=]`: the users the caller administers, by name.
pub async fn search(State(ctx): State<WebCtx>, user: WebUser, RawQuery(raw): RawQuery) -> Response {
    if let Err(r) = gate(&ctx, &user).await {
        return r;
    }
    let q = query(raw.as_deref()).remove("q").unwrap_or_default();
    let found = match ctx.app().find_users(&user.caller, &q).await {
        Ok(f) => f,
        Err(e) => return app_error(&user, &e),
    };
    render(
        StatusCode::OK,
        &UsersPage {
            chrome: chrome(&user),
            nav: nav("/admin/users"),
            searched: !q.trim().is_empty(),
            q,
            users: found.iter().map(user_row).collect(),
        },
    )
}

fn org_names(target: &OrgTarget, orgs: &[Organization]) -> String {
    match target {
        OrgTarget::All => "All accessible organizations".into(),
        OrgTarget::Orgs(ids) => ids
            .iter()
            .map(|id| {
                orgs.iter()
                    .find(|o| o.id == *id)
                    .map_or("(removed)", |o| o.name.as_str())
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn token_row(ctx: &WebCtx, p: &Pat, orgs: &[Organization]) -> AdminTokenRow {
    let app = ctx.app();
    let status = p.status(app.now(), app.policy().inactive_after);
    AdminTokenRow {
        id: p.authorization_id.to_string(),
        name: p.display_name.clone(),
        orgs: org_names(&p.target, orgs),
        scopes: if p.scopes.is_full_access() {
            "Full access".into()
        } else {
            p.scopes
                .infos()
                .map(|i| i.title)
                .collect::<Vec<_>>()
                .join(", ")
        },
        created: date(p.created_at),
        expires: date(p.valid_to),
        status: status.as_str(),
        revocable: p.revoked_at.is_none(),
    }
}

fn parse_id(user: &WebUser, id: &str, missing: AppError) -> Result<Uuid, Response> {
    Uuid::parse_str(id).map_err(|_| app_error(user, &missing))
}

/// `GET /admin/users/{id}[?status=all&notice=]`: a user's tokens.
pub async fn tokens(
    State(ctx): State<WebCtx>,
    user: WebUser,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Err(r) = gate(&ctx, &user).await {
        return r;
    }
    let id = match parse_id(&user, &id, AppError::UserNotFound) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let q = query(raw.as_deref());
    let show_all = q.get("status").is_some_and(|s| s == "all");
    let filter = if show_all {
        ListFilter::All
    } else {
        ListFilter::Active
    };
    let app = ctx.app();
    let (summary, pats) = match app.admin_user_pats(&user.caller, id, filter).await {
        Ok(r) => r,
        Err(e) => return app_error(&user, &e),
    };
    let orgs = match app.list_orgs().await {
        Ok(o) => o,
        Err(e) => return app_error(&user, &e),
    };
    let tokens: Vec<AdminTokenRow> = pats.iter().map(|p| token_row(&ctx, p, &orgs)).collect();
    let n = q.get("n").and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
    let notice = match q.get("notice").map(String::as_str) {
        Some("revoked") => {
            Some("The token was revoked. It stopped working at once; its owner can see who revoked it on the token's activity page.".to_owned())
        }
        Some("disabled") => Some(format!(
            "{} is disabled: {n} token{} revoked, their web sessions ended, and they cannot sign in.",
            summary.user.display_name,
            if n == 1 { " was" } else { "s were" },
        )),
        Some("enabled") => Some(format!(
            "{} is enabled again. Tokens revoked earlier stay revoked.",
            summary.user.display_name
        )),
        Some("revoked-all") => Some(format!(
            "{n} token{} revoked. {} stopped working at once.",
            if n == 1 { " was" } else { "s were" },
            if n == 1 { "It" } else { "They" }
        )),
        _ => None,
    };
    render(
        StatusCode::OK,
        &UserTokensPage {
            chrome: chrome(&user),
            nav: nav("/admin/users"),
            notice,
            descriptor: summary.descriptor.to_string(),
            user: user_row(&summary),
            show_all,
            any_active: tokens.iter().any(|t| t.revocable),
            can_disable: user.caller.is_tenant_admin(),
            tokens,
        },
    )
}

/// `GET /admin/tokens/{id}/revoke`: a confirmation only.
pub async fn confirm_revoke(
    State(ctx): State<WebCtx>,
    user: WebUser,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = gate(&ctx, &user).await {
        return r;
    }
    let id = match parse_id(&user, &id, AppError::TokenNotFound) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let pat = match ctx.app().admin_pat(&user.caller, id).await {
        Ok(p) => p,
        Err(e) => return app_error(&user, &e),
    };
    render(
        StatusCode::OK,
        &ConfirmPage {
            chrome: chrome(&user),
            form_id: "confirm-admin-revoke",
            action: format!("/admin/tokens/{id}/revoke"),
            title: format!("Revoke “{}”?", pat.display_name),
            message: "Anything using this token loses access at once. This cannot be undone. \
                      The owner sees in the token's activity that an administrator revoked it."
                .into(),
            button: "Revoke",
            danger: true,
            cancel: format!("/admin/users/{}", pat.owner),
        },
    )
}

/// `POST /admin/tokens/{id}/revoke`.
pub async fn revoke(State(ctx): State<WebCtx>, Path(id): Path<String>, form: WebForm) -> Response {
    let user = form.user;
    if let Err(r) = gate(&ctx, &user).await {
        return r;
    }
    let id = match parse_id(&user, &id, AppError::TokenNotFound) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let app = ctx.app();
    let pat = match app.admin_pat(&user.caller, id).await {
        Ok(p) => p,
        Err(e) => return app_error(&user, &e),
    };
    match app.admin_revoke_pat(&user.caller, id).await {
        Ok(()) => see_other(&format!("/admin/users/{}?notice=revoked", pat.owner)),
        Err(e) => app_error(&user, &e),
    }
}

/// `GET /admin/users/{id}/revoke-all`: a confirmation only.
pub async fn confirm_revoke_all(
    State(ctx): State<WebCtx>,
    user: WebUser,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = gate(&ctx, &user).await {
        return r;
    }
    let id = match parse_id(&user, &id, AppError::UserNotFound) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let (summary, pats) = match ctx
        .app()
        .admin_user_pats(&user.caller, id, ListFilter::Active)
        .await
    {
        Ok(r) => r,
        Err(e) => return app_error(&user, &e),
    };
    let n = pats.len();
    render(
        StatusCode::OK,
        &ConfirmPage {
            chrome: chrome(&user),
            form_id: "confirm-revoke-all",
            action: format!("/admin/users/{id}/revoke-all"),
            title: format!(
                "Revoke all {n} active token{} of {}?",
                if n == 1 { "" } else { "s" },
                summary.user.display_name
            ),
            message: "Everything using them loses access at once. This cannot be undone.".into(),
            button: "Revoke all",
            danger: true,
            cancel: format!("/admin/users/{id}"),
        },
    )
}

/// `POST /admin/users/{id}/revoke-all`.
pub async fn revoke_all(
    State(ctx): State<WebCtx>,
    Path(id): Path<String>,
    form: WebForm,
) -> Response {
    let user = form.user;
    if let Err(r) = gate(&ctx, &user).await {
        return r;
    }
    let id = match parse_id(&user, &id, AppError::UserNotFound) {
        Ok(i) => i,
        Err(r) => return r,
    };
    match ctx.app().admin_revoke_user_pats(&user.caller, id).await {
        Ok(n) => see_other(&format!("/admin/users/{id}?notice=revoked-all&n={n}")),
        Err(e) => app_error(&user, &e),
    }
}

/// `GET /admin/users/{id}/disable` or `/enable`: a confirmation only.
async fn confirm_access(ctx: &WebCtx, user: &WebUser, id: &str, disable: bool) -> Response {
    if let Err(r) = gate(ctx, user).await {
        return r;
    }
    let id = match parse_id(user, id, AppError::UserNotFound) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let (summary, _) = match ctx
        .app()
        .admin_user_pats(&user.caller, id, ListFilter::Active)
        .await
    {
        Ok(r) => r,
        Err(e) => return app_error(user, &e),
    };
    let name = &summary.user.display_name;
    let (verb, title, message, button) = if disable {
        (
            "disable",
            format!("Disable {name}?"),
            "Every token of theirs is revoked at once, their web sessions end, and they \
             cannot sign in until an administrator enables them again. Revoked tokens stay \
             revoked.",
            "Disable",
        )
    } else {
        (
            "enable",
            format!("Enable {name} again?"),
            "They can sign in and create tokens again. Tokens revoked when they were \
             disabled stay revoked.",
            "Enable",
        )
    };
    render(
        StatusCode::OK,
        &ConfirmPage {
            chrome: chrome(user),
            form_id: if disable {
                "confirm-disable"
            } else {
                "confirm-enable"
            },
            action: format!("/admin/users/{id}/{verb}"),
            title,
            message: message.into(),
            button,
            danger: disable,
            cancel: format!("/admin/users/{id}"),
        },
    )
}

pub async fn confirm_disable(
    State(ctx): State<WebCtx>,
    user: WebUser,
    Path(id): Path<String>,
) -> Response {
    confirm_access(&ctx, &user, &id, true).await
}

pub async fn confirm_enable(
    State(ctx): State<WebCtx>,
    user: WebUser,
    Path(id): Path<String>,
) -> Response {
    confirm_access(&ctx, &user, &id, false).await
}

/// `POST /admin/users/{id}/disable` or `/enable` (the same use case as the
/// admin API's and SCIM's).
async fn set_access(ctx: &WebCtx, id: &str, form: WebForm, disable: bool) -> Response {
    let user = form.user;
    if let Err(r) = gate(ctx, &user).await {
        return r;
    }
    let id = match parse_id(&user, id, AppError::UserNotFound) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let app = ctx.app();
    let before = if disable {
        match app
            .admin_user_pats(&user.caller, id, ListFilter::Active)
            .await
        {
            Ok((_, pats)) => pats.len(),
            Err(e) => return app_error(&user, &e),
        }
    } else {
        0
    };
    match app.admin_set_disabled(&user.caller, id, disable).await {
        Ok(_) if disable => see_other(&format!("/admin/users/{id}?notice=disabled&n={before}")),
        Ok(_) => see_other(&format!("/admin/users/{id}?notice=enabled")),
        Err(e) => app_error(&user, &e),
    }
}

pub async fn disable(State(ctx): State<WebCtx>, Path(id): Path<String>, form: WebForm) -> Response {
    set_access(&ctx, &id, form, true).await
}

pub async fn enable(State(ctx): State<WebCtx>, Path(id): Path<String>, form: WebForm) -> Response {
    set_access(&ctx, &id, form, false).await
}
