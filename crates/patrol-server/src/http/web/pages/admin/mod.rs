//! The admin pages (docs/admin.md, "The admin pages"): policies with the
//! dry run, an organization's members, a user's tokens with revoke,
//! revocation rules, and the audit log. Linked only for administrators;
//! every route answers anyone else with a 403 page. Each handler gates
//! through `App::require_admin` and then calls the same use case the admin
//! API calls, so the rules (who administers what, audit records) are the
//! use cases'.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};

use patrol_core::user::Organization;

use super::super::session::WebUser;
use super::super::WebCtx;
use super::{app_error, titled_error};
use crate::app::AppError;

mod audit;
mod members;
mod policies;
mod policy_form;
mod rules;
mod users;
mod view;

pub use audit::token_activity;
use view::{NavItem, SelectOption};

/// The admin routes (merged into the web page's router).
pub fn routes() -> Router<WebCtx> {
    Router::new()
        .route("/admin", get(home))
        .route("/admin/policies", get(policies::show))
        .route("/admin/policies/tenant", post(policies::post_tenant))
        .route(
            "/admin/policies/organizations/{org}",
            post(policies::post_org),
        )
        .route("/admin/members", get(members::show))
        .route("/admin/members/{org}/add", post(members::add))
        .route("/admin/members/{org}/remove", post(members::remove))
        .route("/admin/users", get(users::search))
        .route("/admin/users/{id}", get(users::tokens))
        .route(
            "/admin/users/{id}/revoke-all",
            get(users::confirm_revoke_all).post(users::revoke_all),
        )
        .route(
            "/admin/users/{id}/disable",
            get(users::confirm_disable).post(users::disable),
        )
        .route(
            "/admin/users/{id}/enable",
            get(users::confirm_enable).post(users::enable),
        )
        .route(
            "/admin/tokens/{id}/revoke",
            get(users::confirm_revoke).post(users::revoke),
        )
        .route(
            "/admin/revocation-rules",
            get(rules::show).post(rules::create),
        )
        .route("/admin/audit", get(audit::show))
        .route("/admin/audit/export", get(audit::export))
}

const NAV: [(&str, &str, &str); 5] = [
    ("nav-policies", "/admin/policies", "Policies"),
    ("nav-members", "/admin/members", "Members"),
    ("nav-users", "/admin/users", "Users and tokens"),
    ("nav-rules", "/admin/revocation-rules", "Revocation rules"),
    ("nav-audit", "/admin/audit", "Audit log"),
];

fn nav(current: &str) -> Vec<NavItem> {
    NAV.iter()
        .map(|&(id, href, label)| NavItem {
            id,
            href,
            label,
            current: href == current,
        })
        .collect()
}

/// Administrators only: anyone else gets a 403 page (never a redirect).
async fn gate(ctx: &WebCtx, user: &WebUser) -> Result<(), Response> {
    match ctx.app().require_admin(&user.caller).await {
        Ok(()) => Ok(()),
        Err(AppError::NotAnAdmin(_)) => Err(titled_error(
            super::chrome(user),
            StatusCode::FORBIDDEN,
            "These pages are for administrators of the tenant or of an organization, and you are neither. Nothing was shown or changed.".into(),
        )),
        Err(e) => Err(app_error(user, &e)),
    }
}

/// `GET /admin`: to the policies (administrators only).
async fn home(State(ctx): State<WebCtx>, user: WebUser) -> Response {
    if let Err(r) = gate(&ctx, &user).await {
        return r;
    }
    super::tokens::see_other("/admin/policies")
}

/// The organizations the caller administers.
async fn administered(ctx: &WebCtx, user: &WebUser) -> Result<Vec<Organization>, Response> {
    ctx.app()
        .administered_orgs(&user.caller)
        .await
        .map_err(|e| app_error(user, &e))
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn org_options(orgs: &[Organization], selected: &str) -> Vec<SelectOption> {
    orgs.iter()
        .map(|o| SelectOption {
            value: o.name.clone(),
            label: o.name.clone(),
            selected: o.name.eq_ignore_ascii_case(selected),
        })
        .collect()
}

/// A query string's parameters (last one wins; unknown ones ignored by callers).
fn query(raw: Option<&str>) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// `s` percent-encoded for a query string.
fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
