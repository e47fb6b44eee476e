//! `GET /tokens`: the caller's tokens, by status, sorted and paged.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use patrol_core::pat::{ListFilter, OrgTarget, PatStatus, SortBy};
use patrol_core::scope::ScopeSet;
use patrol_core::user::Organization;

use super::super::session::WebUser;
use super::super::view::{ListPage, Row, SortLink, Tab};
use super::super::WebCtx;
use super::{app_error, chrome, date, render};
use crate::app::{ListRequest, Via};

const PAGE_SIZE: u32 = 20;

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
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

fn tabs(status: &str, sort: &str, dir: &str) -> Vec<Tab> {
    [
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
    .collect()
}

fn sort_links(status: &str, sort: &str, dir: &str) -> Vec<SortLink> {
    [
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
    .collect()
}

/// `GET /tokens`.
pub async fn list(State(ctx): State<WebCtx>, user: WebUser, RawQuery(raw): RawQuery) -> Response {
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
    let app = ctx.app();
    let request = ListRequest {
        filter,
        sort: sort_by,
        ascending: dir == "asc",
        offset: (page - 1) * u64::from(PAGE_SIZE),
        limit: PAGE_SIZE,
    };
    let listed = match app.list_pats(&user.caller, Via::Unspecified, request).await {
        Ok(l) => l,
        Err(e) => return app_error(&user, &e),
    };
    let orgs = match app.list_orgs().await {
        Ok(o) => o,
        Err(e) => return app_error(&user, &e),
    };
    let now = app.now();
    let inactive_after = app.policy().inactive_after;
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
                status: st.as_str(),
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
    // The name comes from the caller's own token, never from the URL.
    let name = match q.about {
        Some(id) => app
            .get_pat(&user.caller, Via::Unspecified, id)
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
            tabs: tabs(status, sort, dir),
            sorts: sort_links(status, sort, dir),
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
