//! The audit log as pages: `/admin/audit` (filters, pages, a JSON lines
//! export at `/admin/audit/export`) for administrators, and
//! `/tokens/{id}/activity` — an owner's view of the events of one of their
//! own tokens. Both read through `App::audit_log`, which decides who sees
//! what.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use uuid::Uuid;

use patrol_core::user::{AuditAction, AuditEvent};

use super::super::super::super::admin::audit::{decode_cursor, encode_cursor};
use super::super::super::super::admin::wire::AuditEventDoc;
use super::super::super::session::WebUser;
use super::super::super::WebCtx;
use super::super::{app_error, chrome, render, titled_error};
use super::view::{AuditFilters, AuditPage, EventRow, SelectOption};
use super::{enc, gate, nav, query, when};
use crate::app::{AppError, AuditRequest, AuditView, Via, MAX_AUDIT_PAGE};

const PAGE_SIZE: u32 = 50;

fn row(e: &AuditEvent) -> EventRow {
    let id = |u: Option<Uuid>| u.map(|u| u.to_string()).unwrap_or_default();
    EventRow {
        at: when(e.at),
        at_iso: e.at.to_rfc3339(),
        action: e.action.as_str(),
        outcome: e.outcome.as_str(),
        actor: e.actor.clone(),
        user: id(e.target_user),
        token: id(e.target_pat),
        source_ip: e.source_ip.clone().unwrap_or_default(),
        detail: e.detail.clone().unwrap_or_default(),
    }
}

fn date(s: &str, what: &str) -> Result<Option<DateTime<Utc>>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Some(t.and_utc()))
        .ok_or_else(|| format!("“{what}” must be a date (YYYY-MM-DD)."))
}

fn id(s: &str, what: &str) -> Result<Option<Uuid>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    Uuid::parse_str(s)
        .map(Some)
        .map_err(|_| format!("“{what}” must be an id like 0f8fad5b-d9cb-469f-a165-70867728950e."))
}

/// The filters as typed, and as a request (or why they are not one).
fn parse_filters(
    q: &std::collections::HashMap<String, String>,
    limit: u32,
) -> (AuditFilters, Result<AuditRequest, String>) {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let f = AuditFilters {
        actor: get("actor"),
        user: get("user"),
        token: get("token"),
        action: get("action"),
        since: get("since"),
        until: get("until"),
    };
    let req = (|| {
        let action = match f.action.trim() {
            "" => None,
            a => Some(
                a.parse::<AuditAction>()
                    .map_err(|_| "Pick an action from the list.".to_owned())?,
            ),
        };
        let after = match q.get("after").map(|s| s.trim()) {
            None | Some("") => None,
            Some(s) => Some(decode_cursor(s).ok_or("That page link is not valid.")?),
        };
        Ok(AuditRequest {
            actor: Some(f.actor.trim().to_owned()).filter(|a| !a.is_empty()),
            user: id(&f.user, "User")?,
            token: id(&f.token, "Token")?,
            action,
            since: date(&f.since, "From")?,
            // The last day counts whole.
            until: date(&f.until, "To")?.map(|d| d + Duration::days(1)),
            after,
            limit,
        })
    })();
    (f, req)
}

fn filter_query(f: &AuditFilters) -> String {
    [
        ("actor", &f.actor),
        ("user", &f.user),
        ("token", &f.token),
        ("action", &f.action),
        ("since", &f.since),
        ("until", &f.until),
    ]
    .iter()
    .filter(|(_, v)| !v.trim().is_empty())
    .map(|(k, v)| format!("{k}={}", enc(v.trim())))
    .collect::<Vec<_>>()
    .join("&")
}

fn with_after(base: &str, qs: &str, after: &str) -> String {
    if qs.is_empty() {
        format!("{base}?after={after}")
    } else {
        format!("{base}?{qs}&after={after}")
    }
}

fn view_words(v: &AuditView) -> String {
    match v {
        AuditView::Tenant => "Every event (you administer the tenant).".into(),
        AuditView::Orgs(names) => format!(
            "Events by or about members of {} (the organizations you administer).",
            names.join(", ")
        ),
        AuditView::Own => "Your own events, and those about your tokens.".into(),
    }
}

/// `GET /admin/audit[?actor=&user=&token=&action=&since=&until=&after=]`.
pub async fn show(State(ctx): State<WebCtx>, user: WebUser, RawQuery(raw): RawQuery) -> Response {
    if let Err(r) = gate(&ctx, &user).await {
        return r;
    }
    let q = query(raw.as_deref());
    let (filters, req) = parse_filters(&q, PAGE_SIZE);
    let actions = AuditAction::ALL
        .iter()
        .map(|a| SelectOption {
            value: a.as_str().into(),
            label: a.as_str().into(),
            selected: a.as_str() == filters.action.trim(),
        })
        .collect();
    let qs = filter_query(&filters);
    let mut page = AuditPage {
        chrome: chrome(&user),
        nav: nav("/admin/audit"),
        heading: "Audit log".into(),
        actions,
        error: None,
        view: String::new(),
        events: Vec::new(),
        first: q.contains_key("after").then(|| {
            if qs.is_empty() {
                "/admin/audit".to_owned()
            } else {
                format!("/admin/audit?{qs}")
            }
        }),
        next: None,
        export: Some(if qs.is_empty() {
            "/admin/audit/export".to_owned()
        } else {
            format!("/admin/audit/export?{qs}")
        }),
        filters: None,
    };
    let req = match req {
        Ok(r) => r,
        Err(message) => {
            page.error = Some(message);
            page.filters = Some(filters);
            return render(StatusCode::BAD_REQUEST, &page);
        }
    };
    let listed = match ctx.app().audit_log(&user.caller, req).await {
        Ok(l) => l,
        Err(e) => return app_error(&user, &e),
    };
    page.view = view_words(&listed.view);
    page.events = listed.events.iter().map(row).collect();
    page.next = listed
        .next
        .as_ref()
        .map(|c| with_after("/admin/audit", &qs, &encode_cursor(c)));
    page.filters = Some(filters);
    render(StatusCode::OK, &page)
}

/// `GET /admin/audit/export[?filters]`: the filtered events as JSON lines
/// (the admin API's event shape), up to 10,000 at a time; a `Link: …;
/// rel="next"` header leads on.
pub async fn export(State(ctx): State<WebCtx>, user: WebUser, RawQuery(raw): RawQuery) -> Response {
    if let Err(r) = gate(&ctx, &user).await {
        return r;
    }
    let q = query(raw.as_deref());
    let (filters, req) = parse_filters(&q, MAX_AUDIT_PAGE);
    let req = match req {
        Ok(r) => r,
        Err(message) => return titled_error(chrome(&user), StatusCode::BAD_REQUEST, message),
    };
    let listed = match ctx.app().audit_log(&user.caller, req).await {
        Ok(l) => l,
        Err(e) => return app_error(&user, &e),
    };
    let mut body = String::new();
    for e in listed.events {
        match serde_json::to_string(&AuditEventDoc::from(e)) {
            Ok(line) => {
                body.push_str(&line);
                body.push('\n');
            }
            Err(e) => return app_error(&user, &AppError::Internal(e.to_string())),
        }
    }
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"patrol-audit.jsonl\""),
    );
    if let Some(c) = listed.next {
        let next = with_after(
            "/admin/audit/export",
            &filter_query(&filters),
            &encode_cursor(&c),
        );
        if let Ok(v) = HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")) {
            h.insert(header::LINK, v);
        }
    }
    r
}

/// `GET /tokens/{id}/activity[?after=]`: the events of one of the caller's
/// own tokens (an administrator's revocation included).
pub async fn token_activity(
    State(ctx): State<WebCtx>,
    user: WebUser,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return app_error(&user, &AppError::TokenNotFound);
    };
    let app = ctx.app();
    let pat = match app.get_pat(&user.caller, Via::Unspecified, id).await {
        Ok(p) => p,
        Err(e) => return app_error(&user, &e),
    };
    let q = query(raw.as_deref());
    let after = match q.get("after").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match decode_cursor(s) {
            Some(c) => Some(c),
            None => {
                return titled_error(
                    chrome(&user),
                    StatusCode::BAD_REQUEST,
                    "That page link is not valid.".into(),
                )
            }
        },
    };
    let req = AuditRequest {
        token: Some(id),
        after,
        limit: PAGE_SIZE,
        ..AuditRequest::default()
    };
    let listed = match app.audit_log(&user.caller, req).await {
        Ok(l) => l,
        Err(e) => return app_error(&user, &e),
    };
    let here = format!("/tokens/{id}/activity");
    render(
        StatusCode::OK,
        &AuditPage {
            chrome: chrome(&user),
            nav: Vec::new(),
            heading: format!("Activity of “{}”", pat.display_name),
            filters: None,
            actions: Vec::new(),
            error: None,
            view: "Changes to this token, refused uses of it, and who made them, newest first."
                .into(),
            events: listed.events.iter().map(row).collect(),
            first: after.is_some().then(|| here.clone()),
            next: listed
                .next
                .as_ref()
                .map(|c| format!("{here}?after={}", encode_cursor(c))),
            export: None,
        },
    )
}
