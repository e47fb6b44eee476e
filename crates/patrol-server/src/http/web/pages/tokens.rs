//! Creating and editing a token: the form pages and their posts.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use uuid::Uuid;

use patrol_core::pat::{display_name_warnings, OrgTarget, Pat, PatRuleError};
use patrol_core::user::Organization;

use super::super::session::{WebForm, WebUser};
use super::super::view::CreatedPage;
use super::super::WebCtx;
use super::form::{form_page, org_choices, submitted, FormState, Submitted, ALL_ORGS};
use super::{app_error, app_error_message, chrome, date, render};
use crate::app::{App, AppError, CreatePat, UpdatePat, Via};
use patrol_core::policy::Violation;

/// A refusal to show on the form itself; storage failures and missing
/// tokens get an error page instead.
fn on_form(app: &App, e: &AppError) -> Option<(StatusCode, String)> {
    let (status, message) = app_error_message(e);
    if status == StatusCode::SERVICE_UNAVAILABLE
        || status == StatusCode::NOT_FOUND
        || status.is_server_error()
    {
        return None;
    }
    let max_days = match e {
        AppError::Rule(PatRuleError::BeyondMaxLifetime { max_days }) => Some(*max_days),
        AppError::Policy(Violation::Lifespan { max_days }) => Some(i64::from(*max_days)),
        _ => None,
    };
    if let Some(max_days) = max_days {
        let last = date(app.now() + Duration::days(max_days));
        return Some((
            status,
            format!("Policy “maximum token lifetime” allows at most {max_days} days: pick a date on or before {last}."),
        ));
    }
    Some((status, message))
}

/// The page that shows a new secret, once (never cached).
pub fn created(user: &WebUser, heading: &'static str, pat: &Pat, token: String) -> Response {
    render(
        StatusCode::OK,
        &CreatedPage {
            chrome: chrome(user),
            heading,
            name: pat.display_name.clone(),
            name_warnings: display_name_warnings(&pat.display_name),
            token,
            expires: date(pat.valid_to),
        },
    )
}

fn new_form_state<'a>(member: &[Organization], s: &'a Submitted, error: String) -> FormState<'a> {
    FormState {
        heading: "New personal access token".into(),
        action: "/tokens/new".into(),
        submit_label: "Create",
        name: s.name.clone(),
        org_choices: org_choices(member, &s.org),
        org_locked_note: None,
        expiry_selected: s.expiry.clone(),
        custom_date: s.expiry_date.clone(),
        allow_keep: false,
        current_expiry: None,
        full_access: s.full_access,
        checked: &s.scopes,
        error: Some(error),
    }
}

/// `GET /tokens/new`.
pub async fn new_form(State(ctx): State<WebCtx>, user: WebUser) -> Response {
    let member = match ctx.app().member_orgs(&user.caller).await {
        Ok(m) => m,
        Err(e) => return app_error(&user, &e),
    };
    let first = member.first().map(|o| o.name.clone()).unwrap_or_default();
    let page = form_page(
        ctx.app(),
        &user,
        FormState {
            heading: "New personal access token".into(),
            action: "/tokens/new".into(),
            submit_label: "Create",
            name: String::new(),
            org_choices: org_choices(&member, &first),
            org_locked_note: None,
            expiry_selected: "30".into(),
            custom_date: String::new(),
            allow_keep: false,
            current_expiry: None,
            full_access: false,
            checked: &[],
            error: None,
        },
    );
    render(StatusCode::OK, &page)
}

/// `POST /tokens/new`.
pub async fn create(State(ctx): State<WebCtx>, form: WebForm) -> Response {
    let user = form.user;
    let s = submitted(&form.fields);
    let app = ctx.app();
    let member = match app.member_orgs(&user.caller).await {
        Ok(m) => m,
        Err(e) => return app_error(&user, &e),
    };
    let redisplay_form = |error: String, status: StatusCode| {
        render(
            status,
            &form_page(app, &user, new_form_state(&member, &s, error)),
        )
    };
    let asked = match s.asked(false) {
        Ok(a) => a,
        Err(m) => return redisplay_form(m, StatusCode::BAD_REQUEST),
    };
    let create = CreatePat {
        display_name: Some(s.name.clone()),
        scope: Some(asked.scope),
        expiry: asked.expiry,
        target: asked.target,
    };
    match app.create_pat(&user.caller, Via::Unspecified, create).await {
        Ok((pat, secret)) => created(&user, "Token created", &pat, secret.expose().to_owned()),
        Err(e) => match on_form(app, &e) {
            Some((status, m)) => redisplay_form(m, status),
            None => app_error(&user, &e),
        },
    }
}

/// The caller's token, its organization (when it has one the caller still
/// belongs to), and the caller's organizations.
async fn token_and_orgs(
    app: &App,
    user: &WebUser,
    raw_id: &str,
) -> Result<(Pat, Option<Organization>, Vec<Organization>), Response> {
    let Ok(id) = Uuid::parse_str(raw_id) else {
        return Err(app_error(user, &AppError::TokenNotFound));
    };
    let pat = app
        .get_pat(&user.caller, Via::Unspecified, id)
        .await
        .map_err(|e| app_error(user, &e))?;
    let member = app
        .member_orgs(&user.caller)
        .await
        .map_err(|e| app_error(user, &e))?;
    let own = match &pat.target {
        OrgTarget::Orgs(ids) => member.iter().find(|o| ids.contains(&o.id)).cloned(),
        OrgTarget::All => None,
    };
    Ok((pat, own, member))
}

fn edit_form_state<'a>(
    pat: &Pat,
    member: &[Organization],
    own: Option<&Organization>,
    s: Option<&'a Submitted>,
    checked_default: &'a [String],
    error: Option<String>,
) -> FormState<'a> {
    let current_org = match (&pat.target, own) {
        (OrgTarget::All, _) => ALL_ORGS.to_owned(),
        (OrgTarget::Orgs(_), Some(o)) => o.name.clone(),
        (OrgTarget::Orgs(_), None) => String::new(),
    };
    let selected = s.map(|s| s.org.as_str()).unwrap_or(&current_org);
    let (org_choices, note) = match own {
        // An organization's token stays there, or widens to all.
        Some(o) => (
            org_choices(std::slice::from_ref(o), selected),
            Some(format!("This token belongs to {}: it can stay there or be widened to all your organizations.", o.name)),
        ),
        None => (org_choices(member, selected), None),
    };
    FormState {
        heading: format!("Edit “{}”", pat.display_name),
        action: format!("/tokens/{}/edit", pat.authorization_id),
        submit_label: "Save",
        name: s
            .map(|s| s.name.clone())
            .unwrap_or_else(|| pat.display_name.clone()),
        org_choices,
        org_locked_note: note,
        expiry_selected: s.map(|s| s.expiry.clone()).unwrap_or_else(|| "keep".into()),
        custom_date: s.map(|s| s.expiry_date.clone()).unwrap_or_default(),
        allow_keep: true,
        current_expiry: Some(pat.valid_to),
        full_access: s
            .map(|s| s.full_access)
            .unwrap_or_else(|| pat.scopes.is_full_access()),
        checked: s.map(|s| s.scopes.as_slice()).unwrap_or(checked_default),
        error,
    }
}

/// `GET /tokens/{id}/edit`.
pub async fn edit_form(
    State(ctx): State<WebCtx>,
    user: WebUser,
    Path(id): Path<String>,
) -> Response {
    let (pat, own, member) = match token_and_orgs(ctx.app(), &user, &id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if pat.revoked_at.is_some() {
        return app_error(&user, &AppError::TokenRevoked);
    }
    let checked: Vec<String> = pat.scopes.names().map(str::to_owned).collect();
    let fs = edit_form_state(&pat, &member, own.as_ref(), None, &checked, None);
    render(StatusCode::OK, &form_page(ctx.app(), &user, fs))
}

/// `POST /tokens/{id}/edit`.
pub async fn update(State(ctx): State<WebCtx>, Path(id): Path<String>, form: WebForm) -> Response {
    let WebForm { user, fields } = form;
    let app = ctx.app();
    let (pat, own, member) = match token_and_orgs(app, &user, &id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let s = submitted(&fields);
    let redisplay_form = |error: String, status: StatusCode| {
        let fs = edit_form_state(&pat, &member, own.as_ref(), Some(&s), &[], Some(error));
        render(status, &form_page(app, &user, fs))
    };
    let asked = match s.asked(true) {
        Ok(a) => a,
        Err(m) => return redisplay_form(m, StatusCode::BAD_REQUEST),
    };
    let update = UpdatePat {
        authorization_id: pat.authorization_id,
        display_name: Some(s.name.clone()),
        scope: Some(asked.scope),
        expiry: asked.expiry,
        target: Some(asked.target),
    };
    match app.update_pat(&user.caller, Via::Unspecified, update).await {
        Ok(p) => see_other(&format!("/tokens?notice=updated&id={}", p.authorization_id)),
        Err(e) => match on_form(app, &e) {
            Some((status, m)) => redisplay_form(m, status),
            None => app_error(&user, &e),
        },
    }
}

pub fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}
