//! `/admin/revocation-rules`: the rules made so far, and a form for a new
//! one — revoke every token granting any of some scopes that was created
//! before a date (`App::create_revocation_rule`).

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};

use super::super::super::field;
use super::super::super::session::{WebForm, WebUser};
use super::super::super::WebCtx;
use super::super::tokens::see_other;
use super::super::{app_error, app_error_message, chrome, render};
use super::view::{RuleRow, RulesPage, SelectOption};
use super::{administered, gate, nav, org_options, query, when};

/// Every organization: a tenant administrator's rule without one.
const EVERY_ORG: &str = "";

struct Typed {
    scopes: String,
    created_before: String,
    org: String,
}

async fn page(
    ctx: &WebCtx,
    user: &WebUser,
    status: StatusCode,
    typed: Typed,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let orgs = match administered(ctx, user).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let rules = match ctx.app().revocation_rules(&user.caller).await {
        Ok(r) => r,
        Err(e) => return app_error(user, &e),
    };
    let mut options = Vec::new();
    if user.caller.is_tenant_admin() {
        options.push(SelectOption {
            value: EVERY_ORG.into(),
            label: "Every organization".into(),
            selected: typed.org == EVERY_ORG,
        });
    }
    options.extend(org_options(&orgs, &typed.org));
    let rules = rules
        .into_iter()
        .map(|r| RuleRow {
            id: r.rule.id.to_string(),
            scopes: r.rule.scopes.to_string(),
            created_before: when(r.rule.created_before),
            org: r
                .org
                .map_or_else(|| "Every organization".to_owned(), |o| o.name),
            created_at: when(r.rule.created_at),
            created_by: r.rule.created_by,
            revoked: r.rule.revoked,
        })
        .collect();
    render(
        status,
        &RulesPage {
            chrome: chrome(user),
            nav: nav("/admin/revocation-rules"),
            notice,
            error,
            orgs: options,
            scopes: typed.scopes,
            created_before: typed.created_before,
            rules,
        },
    )
}

/// `GET /admin/revocation-rules[?notice=created&n=]`.
pub async fn show(State(ctx): State<WebCtx>, user: WebUser, RawQuery(raw): RawQuery) -> Response {
    if let Err(r) = gate(&ctx, &user).await {
        return r;
    }
    let q = query(raw.as_deref());
    let notice = (q.get("notice").map(String::as_str) == Some("created")).then(|| {
        let n = q.get("n").and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
        format!(
            "The rule is made: it revoked {n} token{}, which stopped working at once.",
            if n == 1 { "" } else { "s" }
        )
    });
    let typed = Typed {
        scopes: String::new(),
        created_before: String::new(),
        org: EVERY_ORG.into(),
    };
    page(&ctx, &user, StatusCode::OK, typed, notice, None).await
}

/// A `YYYY-MM-DD` date as the start of that day (UTC); empty: none (now).
fn created_before(s: &str) -> Result<Option<DateTime<Utc>>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Some(t.and_utc()))
        .ok_or_else(|| "“Created before” must be a date (YYYY-MM-DD).".to_owned())
}

/// `POST /admin/revocation-rules` (`scopes`, `created_before`, `org`).
pub async fn create(State(ctx): State<WebCtx>, form: WebForm) -> Response {
    let (user, fields) = (form.user, form.fields);
    if let Err(r) = gate(&ctx, &user).await {
        return r;
    }
    let typed = Typed {
        scopes: field(&fields, "scopes").unwrap_or("").trim().to_owned(),
        created_before: field(&fields, "created_before").unwrap_or("").to_owned(),
        org: field(&fields, "org").unwrap_or(EVERY_ORG).to_owned(),
    };
    let before = match created_before(&typed.created_before) {
        Ok(b) => b,
        Err(e) => return page(&ctx, &user, StatusCode::BAD_REQUEST, typed, None, Some(e)).await,
    };
    if typed.scopes.is_empty() {
        let e = "Name at least one scope, e.g. vso.code.".to_owned();
        return page(&ctx, &user, StatusCode::BAD_REQUEST, typed, None, Some(e)).await;
    }
    let org = (typed.org != EVERY_ORG).then_some(typed.org.as_str());
    match ctx
        .app()
        .create_revocation_rule(&user.caller, org, &typed.scopes, before)
        .await
    {
        Ok(rule) => see_other(&format!(
            "/admin/revocation-rules?notice=created&n={}",
            rule.rule.revoked
        )),
        Err(e) => {
            let (status, message) = app_error_message(&e);
            if status != StatusCode::BAD_REQUEST {
                return app_error(&user, &e);
            }
            page(&ctx, &user, status, typed, None, Some(message)).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(created_before(" "), Ok(None));
        assert_eq!(
            created_before("2026-05-01").unwrap().unwrap().to_rfc3339(),
            "2026-05-01T00:00:00+00:00"
        );
        assert!(created_before("May 1").is_err());
    }
}
