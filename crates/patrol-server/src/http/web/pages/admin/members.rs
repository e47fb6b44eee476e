//! `/admin/members`: an organization's members, with add and remove
//! (`App::add_member` / `App::remove_member`, one audit record each).

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use uuid::Uuid;

use patrol_core::roles::user_key;

use super::super::super::field;
use super::super::super::session::{WebForm, WebUser};
use super::super::super::WebCtx;
use super::super::tokens::see_other;
use super::super::{app_error, chrome, render};
use super::view::{MemberRow, MembersPage, SelectOption};
use super::{administered, enc, gate, nav, org_options, query};
use crate::app::{AppError, UsersRequest};

const PAGE_SIZE: u32 = 50;

fn members_href(org: &str, page: u64) -> String {
    format!("/admin/members?org={}&page={page}", enc(org))
}

/// `GET /admin/members[?org=&page=&notice=]`.
pub async fn show(State(ctx): State<WebCtx>, user: WebUser, RawQuery(raw): RawQuery) -> Response {
    if let Err(r) = gate(&ctx, &user).await {
        return r;
    }
    let q = query(raw.as_deref());
    let orgs = match administered(&ctx, &user).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let Some(org) = q
        .get("org")
        .cloned()
        .or_else(|| orgs.first().map(|o| o.name.clone()))
    else {
        return app_error(&user, &AppError::NoOrganization);
    };
    let page = q
        .get("page")
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(1)
        .clamp(1, 100_000);
    let app = ctx.app();
    let req = UsersRequest {
        org: Some(org.clone()),
        offset: (page - 1) * u64::from(PAGE_SIZE),
        limit: PAGE_SIZE,
    };
    let listed = match app.admin_users(&user.caller, req).await {
        Ok(l) => l,
        Err(e) => return app_error(&user, &e),
    };
    let everyone = match app.find_users(&user.caller, "").await {
        Ok(u) => u,
        Err(e) => return app_error(&user, &e),
    };
    let candidates = everyone
        .iter()
        .filter(|u| {
            !u.member_of
                .iter()
                .any(|o| o.name.eq_ignore_ascii_case(&org))
        })
        .map(|u| SelectOption {
            value: u.user.id.to_string(),
            label: match &u.user.email {
                Some(m) => format!("{} <{m}>", u.user.display_name),
                None => u.user.display_name.clone(),
            },
            selected: false,
        })
        .collect();
    let members = listed
        .users
        .iter()
        .map(|u| MemberRow {
            id: u.user.id.to_string(),
            name: u.user.display_name.clone(),
            key: user_key(&u.user.issuer, &u.user.subject),
            email: u.user.email.clone().unwrap_or_default(),
        })
        .collect();
    let notice = match q.get("notice").map(String::as_str) {
        Some("added") => Some(format!("The user is now a member of “{org}”.")),
        Some("already") => Some(format!("The user was already a member of “{org}”.")),
        Some("removed") => Some(format!(
            "The user is no longer a member of “{org}”: their tokens stopped working there at once, and signing in again does not add them back."
        )),
        Some("not-member") => Some(format!("The user was not a member of “{org}”.")),
        _ => None,
    };
    render(
        StatusCode::OK,
        &MembersPage {
            chrome: chrome(&user),
            nav: nav("/admin/members"),
            notice,
            orgs: org_options(&orgs, &org),
            members,
            candidates,
            prev: (page > 1).then(|| members_href(&org, page - 1)),
            next: listed.next_offset.map(|_| members_href(&org, page + 1)),
            org,
        },
    )
}

fn target(fields: &[(String, String)]) -> Option<Uuid> {
    field(fields, "user").and_then(|u| Uuid::parse_str(u.trim()).ok())
}

/// `POST /admin/members/{org}/add` (`user` = a user id).
pub async fn add(State(ctx): State<WebCtx>, Path(org): Path<String>, form: WebForm) -> Response {
    let user = form.user;
    if let Err(r) = gate(&ctx, &user).await {
        return r;
    }
    let Some(id) = target(&form.fields) else {
        return app_error(&user, &AppError::UserNotFound);
    };
    match ctx.app().add_member(&user.caller, &org, id).await {
        Ok(added) => see_other(&format!(
            "/admin/members?org={}&notice={}",
            enc(&org),
            if added { "added" } else { "already" }
        )),
        Err(e) => app_error(&user, &e),
    }
}

/// `POST /admin/members/{org}/remove` (`user` = a user id).
pub async fn remove(State(ctx): State<WebCtx>, Path(org): Path<String>, form: WebForm) -> Response {
    let user = form.user;
    if let Err(r) = gate(&ctx, &user).await {
        return r;
    }
    let Some(id) = target(&form.fields) else {
        return app_error(&user, &AppError::UserNotFound);
    };
    match ctx.app().remove_member(&user.caller, &org, id).await {
        Ok(removed) => see_other(&format!(
            "/admin/members?org={}&notice={}",
            enc(&org),
            if removed { "removed" } else { "not-member" }
        )),
        Err(e) => app_error(&user, &e),
    }
}
