//! The token pages: list, create, edit, regenerate, revoke. Each handler
//! extracts, checks the anti-CSRF token on changes, calls the same use case
//! the REST API calls, and renders the result in plain words.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use uuid::Uuid;

use patrol_core::pat::{ListFilter, OrgTarget, Pat, PatRuleError, PatStatus, SortBy};
use patrol_core::scope::{self, ScopeSet, FULL_ACCESS};
use patrol_core::user::Organization;

use super::session::{WebForm, WebUser};
pub use super::view::SignedOutPage;
use super::view::{
    Choice, Chrome, ConfirmPage, CreatedPage, ErrorPage, FormPage, ListPage, Row, ScopeArea,
    ScopeChoice, SortLink, Tab,
};
use crate::app::{AppError, CreatePat, ListRequest, UpdatePat};
use crate::http::AppState;

const PAGE_SIZE: u32 = 20;
const ALL_ORGS: &str = "__all__";
const PRESETS: [i64; 4] = [7, 30, 60, 90];
/// Areas shown before "Show all scopes", as Azure DevOps does.
const COMMON_AREAS: [&str; 6] = [
    "Build",
    "Code",
    "Packaging",
    "Release",
    "Work Items",
    "Project and Team",
];

pub fn render<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be rendered.",
            )
                .into_response()
        }
    }
}

pub fn error_page(status: StatusCode, message: &str) -> Response {
    titled_error(None, status, message.into())
}

/// An error page, titled by its status, with or without the signed-in frame.
fn titled_error(chrome: Option<Chrome>, status: StatusCode, message: String) -> Response {
    let title = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::SERVICE_UNAVAILABLE => "Try again shortly",
        s if s.is_client_error() => "That did not work",
        _ => "Something went wrong",
    };
    render(
        status,
        &ErrorPage {
            chrome,
            title: title.into(),
            message,
        },
    )
}

/// A form post from another site (by `Sec-Fetch-Site` or `Origin`).
pub fn cross_site_refused() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "This form was sent from another site, so nothing was changed. Make changes from Patrol's own pages.",
    )
}

/// A form post without a valid anti-CSRF token.
pub fn csrf_refused() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "This form was not sent from Patrol's own page (its anti-forgery token is missing or wrong), so nothing was changed. Reload the page and try again.",
    )
}

fn chrome(u: &WebUser) -> Option<Chrome> {
    Some(Chrome {
        user_name: u.caller.user.display_name.clone(),
        csrf: u.csrf.clone(),
    })
}

/// An [`AppError`] as a page, in plain words.
fn app_error(u: &WebUser, e: &AppError) -> Response {
    let (status, msg) = plain(e);
    titled_error(chrome(u), status, msg)
}

fn plain(e: &AppError) -> (StatusCode, String) {
    match e {
        AppError::Rule(PatRuleError::DisplayNameRequired) => {
            (StatusCode::BAD_REQUEST, "Give the token a name.".into())
        }
        AppError::Rule(PatRuleError::InvalidDisplayName(why)) => (
            StatusCode::BAD_REQUEST,
            format!("That name cannot be used: {why}."),
        ),
        AppError::Rule(PatRuleError::InvalidValidTo) => (
            StatusCode::BAD_REQUEST,
            "The expiration date must be in the future.".into(),
        ),
        AppError::Scope(e) => (
            StatusCode::BAD_REQUEST,
            format!("Those scopes are not valid: {e}."),
        ),
        AppError::TokenNotFound => (
            StatusCode::NOT_FOUND,
            "This token does not exist, or it is not yours.".into(),
        ),
        AppError::TokenRevoked => (
            StatusCode::CONFLICT,
            "This token is revoked. Revoked tokens cannot be changed or regenerated.".into(),
        ),
        AppError::WrongOrganization => (
            StatusCode::FORBIDDEN,
            "This token belongs to another organization; change it from that organization.".into(),
        ),
        AppError::OrgNotFound(o) => (
            StatusCode::BAD_REQUEST,
            format!("There is no organization called “{o}”."),
        ),
        AppError::NotAMember(o) => (
            StatusCode::FORBIDDEN,
            format!("You are not a member of organization “{o}”."),
        ),
        AppError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
        AppError::TooManyTokens(n) => (
            StatusCode::BAD_REQUEST,
            format!("Policy “maximum active tokens per user”: you already have {n} active tokens, the most allowed. Revoke one you no longer need first."),
        ),
        AppError::Store(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Patrol's storage is not answering, so nothing was changed. Try again shortly.".into(),
        ),
    }
}

fn date(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn status_word(s: PatStatus) -> &'static str {
    match s {
        PatStatus::Active => "active",
        PatStatus::Expired => "expired",
        PatStatus::Revoked => "revoked",
        PatStatus::Inactive => "inactive",
    }
}

fn scopes_summary(scopes: &ScopeSet) -> (String, String) {
    if scopes.is_full_access() {
        return ("Full access".into(), "Full access".into());
    }
    let titles: Vec<&str> = scopes.infos().map(|i| i.title).collect();
    let all = titles.join(", ");
    let short = if titles.len() > 3 {
        format!("{} +{} more", titles[..3].join(", "), titles.len() - 3)
    } else {
        all.clone()
    };
    (short, all)
}

fn org_names(target: &OrgTarget, orgs: &[Organization]) -> String {
    match target {
        OrgTarget::All => "All accessible organizations".into(),
        OrgTarget::Orgs(ids) => ids
            .iter()
            .map(|id| {
                orgs.iter()
                    .find(|o| o.id == *id)
                    .map(|o| o.name.clone())
                    .unwrap_or_else(|| "(removed)".into())
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The list's query string; anything unknown or malformed is ignored.
#[derive(Default)]
struct ListQuery {
    status: Option<String>,
    sort: Option<String>,
    dir: Option<String>,
    page: Option<u64>,
    notice: Option<String>,
    /// The token a notice is about (the caller's own; its name is looked up).
    about: Option<Uuid>,
}

impl ListQuery {
    fn parse(raw: Option<&str>) -> Self {
        let mut q = ListQuery::default();
        for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let v = Some(v.into_owned());
            match k.as_ref() {
                "status" => q.status = v,
                "sort" => q.sort = v,
                "dir" => q.dir = v,
                "page" => q.page = v.and_then(|p| p.parse().ok()),
                "notice" => q.notice = v,
                "id" => q.about = v.and_then(|i| Uuid::parse_str(&i).ok()),
                _ => {}
            }
        }
        q
    }
}

fn list_href(status: &str, sort: &str, dir: &str, page: u64) -> String {
    format!("/tokens?status={status}&sort={sort}&dir={dir}&page={page}")
}

/// `GET /tokens`.
pub async fn list(
    State(state): State<AppState>,
    user: WebUser,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = ListQuery::parse(raw.as_deref());
    let (status, filter) = match q.status.as_deref() {
        Some("expired") => ("expired", ListFilter::Expired),
        Some("revoked") => ("revoked", ListFilter::Revoked),
        Some("all") => ("all", ListFilter::All),
        _ => ("active", ListFilter::Active),
    };
    let (sort, sort_by) = match q.sort.as_deref() {
        Some("expires") => ("expires", SortBy::DisplayDate),
        Some("status") => ("status", SortBy::Status),
        _ => ("name", SortBy::DisplayName),
    };
    let dir = if q.dir.as_deref() == Some("desc") {
        "desc"
    } else {
        "asc"
    };
    let page = q.page.unwrap_or(1).clamp(1, 100_000);
    let app = &state.app;
    let result = app
        .list_pats(
            &user.caller,
            ListRequest {
                filter,
                sort: sort_by,
                ascending: dir == "asc",
                offset: (page - 1) * u64::from(PAGE_SIZE),
                limit: PAGE_SIZE,
            },
        )
        .await;
    let listed = match result {
        Ok(l) => l,
        Err(e) => return app_error(&user, &e),
    };
    let orgs = match app.store.list_orgs().await {
        Ok(o) => o,
        Err(e) => return app_error(&user, &AppError::Store(e)),
    };
    let now = app.now();
    let inactive_after = app.policy.inactive_after;
    let rows = listed
        .pats
        .iter()
        .map(|p| {
            let st = p.status(now, inactive_after);
            let (scopes, scopes_title) = scopes_summary(&p.scopes);
            Row {
                id: p.authorization_id.to_string(),
                name: p.display_name.clone(),
                orgs: org_names(&p.target, &orgs),
                scopes,
                scopes_title,
                expires: date(p.valid_to),
                expires_iso: p.valid_to.to_rfc3339(),
                expires_soon: st == PatStatus::Active && p.valid_to - now <= Duration::days(7),
                status: status_word(st),
                last_used: p
                    .last_used
                    .as_ref()
                    .map(|u| match &u.source_ip {
                        Some(ip) => format!("{} from {ip}", when(u.at)),
                        None => when(u.at),
                    })
                    .unwrap_or_else(|| "Never".into()),
                changeable: p.revoked_at.is_none(),
            }
        })
        .collect();
    let tabs = [
        ("active", "Active"),
        ("expired", "Expired"),
        ("revoked", "Revoked"),
        ("all", "All"),
    ]
    .into_iter()
    .map(|(s, label)| Tab {
        status: s,
        label,
        href: list_href(s, sort, dir, 1),
        current: s == status,
    })
    .collect();
    let sorts = [
        ("name", "Name"),
        ("expires", "Expires"),
        ("status", "Status"),
    ]
    .into_iter()
    .map(|(k, label)| {
        let current = k == sort;
        let next_dir = if current && dir == "asc" {
            "desc"
        } else {
            "asc"
        };
        SortLink {
            key: k,
            label,
            href: list_href(status, k, next_dir, 1),
            aria_sort: match (current, dir) {
                (false, _) => "none",
                (true, "asc") => "ascending",
                (true, _) => "descending",
            },
            arrow: match (current, dir) {
                (false, _) => "",
                (true, "asc") => "↑",
                (true, _) => "↓",
            },
        }
    })
    .collect();
    // The name comes from the caller's own token, never from the URL.
    let name = match q.about {
        Some(id) => app
            .get_pat(&user.caller, id)
            .await
            .ok()
            .map(|p| format!("“{}”", p.display_name)),
        None => None,
    }
    .unwrap_or_else(|| "The token".to_owned());
    let notice = match q.notice.as_deref() {
        Some("updated") => Some(format!("{name} was updated.")),
        Some("revoked") => Some(format!("{name} was revoked. It stopped working at once.")),
        _ => None,
    };
    render(
        StatusCode::OK,
        &ListPage {
            chrome: chrome(&user),
            tabs,
            sorts,
            rows,
            status_label: match status {
                "all" => "",
                s => s,
            },
            prev: (page > 1).then(|| list_href(status, sort, dir, page - 1)),
            next: listed
                .next_offset
                .map(|_| list_href(status, sort, dir, page + 1)),
            page,
            notice,
        },
    )
}

/// What a token form submitted (create and edit share it).
struct Submitted {
    name: String,
    org: String,
    expiry: String,
    expiry_date: String,
    full_access: bool,
    scopes: Vec<String>,
}

fn submitted(fields: &[(String, String)]) -> Submitted {
    let get = |k: &str| {
        fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    Submitted {
        name: get("name"),
        org: get("org"),
        expiry: get("expiry"),
        expiry_date: get("expiry_date"),
        full_access: get("scope_mode") != "custom",
        scopes: fields
            .iter()
            .filter(|(n, _)| n == "scope")
            .map(|(_, v)| v.clone())
            .collect(),
    }
}

impl Submitted {
    /// What create and edit both check before calling the use case: a name,
    /// an expiry within policy, and scopes. `allow_keep`: "keep the current
    /// expiry" is a choice (edit only).
    fn checked(
        &self,
        now: DateTime<Utc>,
        max: Duration,
        allow_keep: bool,
    ) -> Result<(Option<DateTime<Utc>>, String), String> {
        if self.name.trim().is_empty() {
            return Err("Give the token a name.".into());
        }
        Ok((
            requested_expiry(self, now, max, allow_keep)?,
            requested_scope(self)?,
        ))
    }
}

/// The expiry asked for: `None` keeps the current one (edit only).
fn requested_expiry(
    s: &Submitted,
    now: DateTime<Utc>,
    max: Duration,
    allow_keep: bool,
) -> Result<Option<DateTime<Utc>>, String> {
    let max_days = max.num_days();
    let cap_msg = || {
        format!(
            "Policy “maximum token lifetime” allows at most {max_days} days: pick a date on or before {}.",
            date(now + max)
        )
    };
    match s.expiry.as_str() {
        "keep" if allow_keep => Ok(None),
        "custom" => {
            let d = NaiveDate::parse_from_str(s.expiry_date.trim(), "%Y-%m-%d")
                .map_err(|_| "Pick a custom expiration date.".to_owned())?;
            let t = d
                .and_hms_opt(23, 59, 59)
                .map(|t| t.and_utc())
                .ok_or_else(|| "Pick a custom expiration date.".to_owned())?;
            if t <= now {
                return Err("The expiration date must be in the future.".into());
            }
            if t > now + max + Duration::days(1) {
                return Err(cap_msg());
            }
            Ok(Some(t.min(now + max)))
        }
        other => {
            let days: i64 = other
                .parse()
                .ok()
                .filter(|d| PRESETS.contains(d))
                .ok_or_else(|| "Pick an expiration.".to_owned())?;
            if days > max_days {
                return Err(cap_msg());
            }
            Ok(Some(now + Duration::days(days)))
        }
    }
}

/// The scope string asked for: full access, or the boxes ticked.
fn requested_scope(s: &Submitted) -> Result<String, String> {
    if s.full_access {
        return Ok(FULL_ACCESS.to_owned());
    }
    if s.scopes.is_empty() {
        return Err("Pick at least one scope, or choose Full access.".into());
    }
    for name in &s.scopes {
        if !scope::lookup(name).is_some_and(|i| i.is_selectable()) {
            return Err(format!("“{name}” is not a scope you can choose."));
        }
    }
    Ok(s.scopes.join(" "))
}

struct FormState<'a> {
    heading: String,
    action: String,
    submit_label: &'static str,
    name: String,
    org_choices: Vec<Choice>,
    org_locked_note: Option<String>,
    expiry_selected: String,
    custom_date: String,
    allow_keep: bool,
    current_expiry: Option<DateTime<Utc>>,
    full_access: bool,
    checked: &'a [String],
    error: Option<String>,
}

fn form_page(state: &AppState, user: &WebUser, f: FormState<'_>) -> FormPage {
    let now = state.app.now();
    let max = state.app.policy.lifetime.max_lifetime;
    let max_days = max.num_days();
    let mut expiry = Vec::new();
    if f.allow_keep {
        expiry.push(Choice {
            value: "keep".into(),
            label: "Keep the current expiration".into(),
            selected: f.expiry_selected == "keep",
            disabled: false,
        });
    }
    for d in PRESETS {
        expiry.push(Choice {
            value: d.to_string(),
            label: format!("{d} days ({})", date(now + Duration::days(d))),
            selected: f.expiry_selected == d.to_string(),
            disabled: d > max_days,
        });
    }
    expiry.push(Choice {
        value: "custom".into(),
        label: "Custom date".into(),
        selected: f.expiry_selected == "custom",
        disabled: false,
    });
    let mut common = Vec::new();
    let mut other: Vec<ScopeArea> = Vec::new();
    let mut others_open = false;
    for info in scope::selectable().filter(|i| !i.is_full_access()) {
        let checked = !f.full_access && f.checked.iter().any(|c| c == info.name);
        let is_common = COMMON_AREAS.contains(&info.area);
        others_open |= checked && !is_common;
        let list = if is_common { &mut common } else { &mut other };
        let choice = ScopeChoice {
            name: info.name,
            title: info.title,
            description: info.description,
            checked,
        };
        match list
            .iter_mut()
            .find(|a: &&mut ScopeArea| a.name == info.area)
        {
            Some(a) => a.scopes.push(choice),
            None => list.push(ScopeArea {
                name: info.area,
                scopes: vec![choice],
            }),
        }
    }
    common.sort_by_key(|a| a.name);
    other.sort_by_key(|a| a.name);
    FormPage {
        chrome: chrome(user),
        heading: f.heading,
        action: f.action,
        submit_label: f.submit_label,
        name: f.name,
        orgs: f.org_choices,
        org_locked_note: f.org_locked_note,
        expiry,
        custom_date: f.custom_date,
        min_date: date(now + Duration::days(1)),
        max_date: date(now + max),
        max_days,
        current_expiry: f.current_expiry.map(date),
        full_access: f.full_access,
        common_areas: common,
        other_areas: other,
        others_open,
        error: f.error,
    }
}

fn org_choices(member: &[Organization], selected: &str, with_all: bool) -> Vec<Choice> {
    let mut out: Vec<Choice> = member
        .iter()
        .map(|o| Choice {
            value: o.name.clone(),
            label: o.name.clone(),
            selected: o.name.eq_ignore_ascii_case(selected),
            disabled: false,
        })
        .collect();
    if with_all {
        out.push(Choice {
            value: ALL_ORGS.into(),
            label: "All accessible organizations".into(),
            selected: selected == ALL_ORGS,
            disabled: false,
        });
    }
    out
}

async fn member_orgs(state: &AppState, user: &WebUser) -> Result<Vec<Organization>, AppError> {
    Ok(state.app.store.member_orgs(user.caller.user.id).await?)
}

/// `GET /tokens/new`.
pub async fn new_form(State(state): State<AppState>, user: WebUser) -> Response {
    let member = match member_orgs(&state, &user).await {
        Ok(m) => m,
        Err(e) => return app_error(&user, &e),
    };
    let first = member.first().map(|o| o.name.clone()).unwrap_or_default();
    let page = form_page(
        &state,
        &user,
        FormState {
            heading: "New personal access token".into(),
            action: "/tokens/new".into(),
            submit_label: "Create",
            name: String::new(),
            org_choices: org_choices(&member, &first, true),
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

fn no_store(mut r: Response) -> Response {
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    r
}

fn created(user: &WebUser, heading: &'static str, pat: &Pat, token: String) -> Response {
    no_store(render(
        StatusCode::OK,
        &CreatedPage {
            chrome: chrome(user),
            heading,
            name: pat.display_name.clone(),
            token,
            expires: date(pat.valid_to),
        },
    ))
}

/// `POST /tokens/new`.
pub async fn create(State(state): State<AppState>, form: WebForm) -> Response {
    let user = form.user;
    let s = submitted(&form.fields);
    let member = match member_orgs(&state, &user).await {
        Ok(m) => m,
        Err(e) => return app_error(&user, &e),
    };
    let app = &state.app;
    let now = app.now();
    let again = |error: String, status: StatusCode| {
        let page = form_page(
            &state,
            &user,
            FormState {
                heading: "New personal access token".into(),
                action: "/tokens/new".into(),
                submit_label: "Create",
                name: s.name.clone(),
                org_choices: org_choices(&member, &s.org, true),
                org_locked_note: None,
                expiry_selected: s.expiry.clone(),
                custom_date: s.expiry_date.clone(),
                allow_keep: false,
                current_expiry: None,
                full_access: s.full_access,
                checked: &s.scopes,
                error: Some(error),
            },
        );
        render(status, &page)
    };
    let (valid_to, scope) = match s.checked(now, app.policy.lifetime.max_lifetime, false) {
        Ok(v) => v,
        Err(m) => return again(m, StatusCode::BAD_REQUEST),
    };
    let all_orgs = s.org == ALL_ORGS;
    let org_name = if all_orgs {
        match member.first() {
            Some(o) => o.name.clone(),
            None => {
                return again(
                    "You are not a member of any organization yet.".into(),
                    StatusCode::FORBIDDEN,
                )
            }
        }
    } else {
        s.org.clone()
    };
    let org = match app.resolve_org(&user.caller, &org_name).await {
        Ok(o) => o,
        Err(e) => {
            let (st, m) = plain(&e);
            return again(m, st);
        }
    };
    match app
        .create_pat(
            &user.caller,
            &org,
            CreatePat {
                display_name: Some(s.name.clone()),
                scope: Some(scope),
                valid_to,
                all_orgs,
            },
        )
        .await
    {
        Ok((pat, secret)) => created(&user, "Token created", &pat, secret.expose().to_owned()),
        Err(e) => {
            let (st, m) = plain(&e);
            if st == StatusCode::SERVICE_UNAVAILABLE {
                return app_error(&user, &e);
            }
            again(m, st)
        }
    }
}

fn parse_id(raw: &str) -> Option<Uuid> {
    Uuid::parse_str(raw).ok()
}

/// The PAT (the caller's own) and the organization to act through: its own
/// organization when it has one (an org-scoped PAT is changed only there).
async fn owned_with_org(
    state: &AppState,
    user: &WebUser,
    raw_id: &str,
) -> Result<(Pat, Vec<Organization>, Option<Organization>), Response> {
    let Some(id) = parse_id(raw_id) else {
        return Err(app_error(user, &AppError::TokenNotFound));
    };
    let pat = state
        .app
        .get_pat(&user.caller, id)
        .await
        .map_err(|e| app_error(user, &e))?;
    let member = member_orgs(state, user)
        .await
        .map_err(|e| app_error(user, &e))?;
    let own = match &pat.target {
        OrgTarget::Orgs(ids) => member.iter().find(|o| ids.contains(&o.id)).cloned(),
        OrgTarget::All => None,
    };
    Ok((pat, member, own))
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
    let (org_choices, note) = match own {
        // An org-scoped token stays in its organization, or widens to all.
        Some(o) => (
            org_choices(std::slice::from_ref(o), s.map(|s| s.org.as_str()).unwrap_or(&current_org), true),
            Some(format!("This token belongs to {}: it can stay there or be widened to all your organizations.", o.name)),
        ),
        None => (
            org_choices(member, s.map(|s| s.org.as_str()).unwrap_or(&current_org), true),
            None,
        ),
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
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
) -> Response {
    let (pat, member, own) = match owned_with_org(&state, &user, &id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if pat.revoked_at.is_some() {
        return app_error(&user, &AppError::TokenRevoked);
    }
    let checked: Vec<String> = pat.scopes.names().map(str::to_owned).collect();
    let fs = edit_form_state(&pat, &member, own.as_ref(), None, &checked, None);
    render(StatusCode::OK, &form_page(&state, &user, fs))
}

/// `POST /tokens/{id}/edit`.
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: WebForm,
) -> Response {
    let WebForm { user, fields } = form;
    let (pat, member, own) = match owned_with_org(&state, &user, &id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let s = submitted(&fields);
    let app = &state.app;
    let now = app.now();
    let again = |error: String, status: StatusCode| {
        let fs = edit_form_state(&pat, &member, own.as_ref(), Some(&s), &[], Some(error));
        render(status, &form_page(&state, &user, fs))
    };
    let (valid_to, scope) = match s.checked(now, app.policy.lifetime.max_lifetime, true) {
        Ok(v) => v,
        Err(m) => return again(m, StatusCode::BAD_REQUEST),
    };
    let all_orgs = s.org == ALL_ORGS;
    // Act through the token's own organization, else the one chosen.
    let acting = match (&own, all_orgs) {
        (Some(o), _) => o.name.clone(),
        (None, false) => s.org.clone(),
        (None, true) => member.first().map(|o| o.name.clone()).unwrap_or_default(),
    };
    if !all_orgs
        && own
            .as_ref()
            .is_some_and(|o| !o.name.eq_ignore_ascii_case(&s.org))
    {
        return again(
            "An organization's token can stay in its organization or be widened to all; it cannot move to another one.".into(),
            StatusCode::BAD_REQUEST,
        );
    }
    let org = match app.resolve_org(&user.caller, &acting).await {
        Ok(o) => o,
        Err(e) => {
            let (st, m) = plain(&e);
            return again(m, st);
        }
    };
    let result = app
        .update_pat(
            &user.caller,
            &org,
            UpdatePat {
                authorization_id: pat.authorization_id,
                display_name: Some(s.name.clone()),
                scope: Some(scope),
                valid_to,
                all_orgs: Some(all_orgs),
            },
        )
        .await;
    match result {
        Ok(p) => see_other(&format!("/tokens?notice=updated&id={}", p.authorization_id)),
        Err(e) => {
            let (st, m) = plain(&e);
            if st == StatusCode::SERVICE_UNAVAILABLE || st == StatusCode::NOT_FOUND {
                return app_error(&user, &e);
            }
            again(m, st)
        }
    }
}

fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Confirm {
    Regenerate,
    Revoke,
}

/// The confirmation page of a regenerate or revoke: GET only asks, its
/// button posts. A revoked token cannot be regenerated, so it is not asked.
async fn confirm_page(state: &AppState, user: &WebUser, id: &str, kind: Confirm) -> Response {
    let (pat, _, _) = match owned_with_org(state, user, id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let id = pat.authorization_id;
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
        },
    };
    render(StatusCode::OK, &page)
}

/// `GET /tokens/{id}/regenerate`: a confirmation only; GET changes nothing.
pub async fn confirm_regenerate(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
) -> Response {
    confirm_page(&state, &user, &id, Confirm::Regenerate).await
}

/// `GET /tokens/{id}/revoke`: a confirmation only.
pub async fn confirm_revoke(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
) -> Response {
    confirm_page(&state, &user, &id, Confirm::Revoke).await
}

/// `POST /tokens/{id}/regenerate`.
pub async fn regenerate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: WebForm,
) -> Response {
    let user = form.user;
    let (pat, member, own) = match owned_with_org(&state, &user, &id).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(org) = own.or_else(|| member.first().cloned()) else {
        return app_error(&user, &AppError::WrongOrganization);
    };
    match state
        .app
        .regenerate_pat(&user.caller, &org, pat.authorization_id)
        .await
    {
        Ok((pat, secret)) => created(&user, "Token regenerated", &pat, secret.expose().to_owned()),
        Err(e) => app_error(&user, &e),
    }
}

/// `POST /tokens/{id}/revoke`.
pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: WebForm,
) -> Response {
    let user = form.user;
    let Some(id) = parse_id(&id) else {
        return app_error(&user, &AppError::TokenNotFound);
    };
    match state.app.revoke_pat(&user.caller, id).await {
        Ok(()) => see_other(&format!("/tokens?notice=revoked&id={id}")),
        Err(e) => app_error(&user, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{field, form_fields as form_fields_list};
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
    }

    fn sub(expiry: &str, date: &str) -> Submitted {
        Submitted {
            name: "n".into(),
            org: "o".into(),
            expiry: expiry.into(),
            expiry_date: date.into(),
            full_access: false,
            scopes: vec![],
        }
    }

    #[test]
    fn expiry_presets_custom_and_policy_cap() {
        let max = Duration::days(60);
        assert_eq!(
            requested_expiry(&sub("30", ""), now(), max, false).unwrap(),
            Some(now() + Duration::days(30))
        );
        let err = requested_expiry(&sub("90", ""), now(), max, false).unwrap_err();
        assert!(
            err.contains("maximum token lifetime") && err.contains("60 days"),
            "{err}"
        );
        assert!(
            requested_expiry(&sub("45", ""), now(), max, false).is_err(),
            "only presets"
        );
        assert_eq!(
            requested_expiry(&sub("custom", "2026-12-01"), now(), max, false).unwrap(),
            Some(Utc.with_ymd_and_hms(2026, 12, 1, 23, 59, 59).unwrap())
        );
        assert!(requested_expiry(&sub("custom", "2026-11-20"), now(), max, false).is_err());
        assert!(
            requested_expiry(&sub("custom", "2027-06-01"), now(), max, false)
                .unwrap_err()
                .contains("maximum token lifetime")
        );
        assert!(requested_expiry(&sub("custom", "garbage"), now(), max, false).is_err());
        assert_eq!(
            requested_expiry(&sub("keep", ""), now(), max, true).unwrap(),
            None
        );
        assert!(requested_expiry(&sub("keep", ""), now(), max, false).is_err());
    }

    #[test]
    fn scope_choices() {
        let mut s = sub("30", "");
        assert!(requested_scope(&s)
            .unwrap_err()
            .contains("at least one scope"));
        s.scopes = vec!["vso.code".into(), "vso.packaging".into()];
        assert_eq!(requested_scope(&s).unwrap(), "vso.code vso.packaging");
        s.scopes = vec!["vso.pats".into()];
        assert!(requested_scope(&s).is_err(), "not a PAT scope");
        s.scopes = vec!["vso.governance".into()];
        assert!(requested_scope(&s).is_err(), "hidden scope");
        s.full_access = true;
        assert_eq!(requested_scope(&s).unwrap(), FULL_ACCESS);
    }

    #[test]
    fn repeated_fields_are_kept() {
        let f = form_fields_list(b"scope=vso.code&scope=vso.build&name=a+b&csrf=x%2By");
        let s = submitted(&f);
        assert_eq!(s.scopes, ["vso.code", "vso.build"]);
        assert_eq!(s.name, "a b");
        assert_eq!(field(&f, "csrf"), Some("x+y"));
    }
}
