//! `/notifications`: what Patrol emailed the user, and which notices they
//! want. Creation and leak notices cannot be switched off (the use case
//! refuses it; the page shows them checked and disabled).

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::super::session::{WebForm, WebUser};
use super::super::view::Chrome;
use super::super::WebCtx;
use super::tokens::see_other;
use super::{app_error, chrome, render};
use crate::app::{EventKind, NoticePref, SentNotice};

pub struct PrefRow {
    pub kind: &'static str,
    pub label: &'static str,
    pub enabled: bool,
    pub optional: bool,
}

pub struct SentRow {
    pub when: String,
    pub what: &'static str,
    pub token: String,
    pub state: &'static str,
}

#[derive(Template)]
#[template(path = "notifications.html")]
pub struct NotificationsPage {
    pub chrome: Option<Chrome>,
    pub csrf: String,
    pub saved: bool,
    pub prefs: Vec<PrefRow>,
    pub sent: Vec<SentRow>,
}

fn label(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Created => "A token was created for me",
        EventKind::Expiring => "A token of mine expires soon",
        EventKind::Revoked => "An administrator or a policy revoked a token of mine",
        EventKind::Leaked => "A token of mine was found in a public place",
        EventKind::Updated => "A token of mine was changed",
        EventKind::Regenerated => "A token of mine was regenerated",
        EventKind::Expired => "A token of mine expired",
    }
}

fn pref_row(p: NoticePref) -> PrefRow {
    PrefRow {
        kind: p.kind.as_str(),
        label: label(p.kind),
        enabled: p.enabled,
        optional: p.optional,
    }
}

fn sent_row(s: SentNotice) -> SentRow {
    SentRow {
        when: s.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        what: label(s.kind),
        token: s.token_name,
        state: match (s.sent_at, s.failed) {
            (Some(_), _) => "sent",
            (None, true) => "could not be sent",
            (None, false) => "waiting to be sent",
        },
    }
}

/// `GET /notifications`.
pub async fn notifications(
    State(ctx): State<WebCtx>,
    user: WebUser,
    RawQuery(q): RawQuery,
) -> Response {
    let app = ctx.app();
    let prefs = match app.notice_prefs(&user.caller).await {
        Ok(p) => p,
        Err(e) => return app_error(&user, &e),
    };
    let sent = match app.sent_notices(&user.caller, 50).await {
        Ok(s) => s,
        Err(e) => return app_error(&user, &e),
    };
    let page = NotificationsPage {
        chrome: chrome(&user),
        csrf: user.csrf.clone(),
        saved: q.as_deref() == Some("saved=1"),
        prefs: prefs.into_iter().map(pref_row).collect(),
        sent: sent.into_iter().map(sent_row).collect(),
    };
    render(StatusCode::OK, &page)
}

/// `POST /notifications`: the checked optional notices are on, the others off.
pub async fn save_notifications(State(ctx): State<WebCtx>, form: WebForm) -> Response {
    let user = form.user;
    let app = ctx.app();
    let prefs = match app.notice_prefs(&user.caller).await {
        Ok(p) => p,
        Err(e) => return app_error(&user, &e),
    };
    for p in prefs.into_iter().filter(|p| p.optional) {
        let on = form
            .fields
            .iter()
            .any(|(k, v)| k == "on" && v == p.kind.as_str());
        if let Err(e) = app.set_notice_pref(&user.caller, p.kind, on).await {
            return app_error(&user, &e);
        }
    }
    see_other("/notifications?saved=1")
}
