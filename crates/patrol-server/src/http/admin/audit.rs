//! `GET /patrol/v1/audit`: the audit log, newest first, filtered and paged
//! — as JSON, or as JSON lines for export (`Accept: application/x-ndjson`
//! or `?format=jsonl`, the next page's token in `X-MS-ContinuationToken`).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::DateTime;
use uuid::Uuid;

use patrol_core::user::AuditAction;
use patrol_store::AuditCursor;

use super::super::auth::AuditReader;
use super::super::error::ApiError;
use super::super::query::CiQuery;
use super::super::tokenadmin::json;
use super::super::wire::parse_date;
use super::super::AppState;
use super::top;
use super::wire::{AuditEventDoc, AuditPageDoc};
use crate::app::{AuditRequest, AuditView, MAX_AUDIT_PAGE};

pub const X_MS_CONTINUATION_TOKEN: HeaderName = HeaderName::from_static("x-ms-continuationtoken");
const NDJSON: &str = "application/x-ndjson";

/// `base64url("{microseconds}.{id}")` of the last event of a page.
pub fn encode_cursor(c: &AuditCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{}", c.at.timestamp_micros(), c.id))
}

pub fn decode_cursor(s: &str) -> Option<AuditCursor> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(s.trim()).ok()?).ok()?;
    let (us, id) = text.split_once('.')?;
    Some(AuditCursor {
        at: DateTime::from_timestamp_micros(us.parse().ok()?)?,
        id: Uuid::parse_str(id).ok()?,
    })
}

fn uuid_param(q: &CiQuery, key: &str) -> Result<Option<Uuid>, ApiError> {
    q.get(key)
        .filter(|s| !s.is_empty())
        .map(|s| {
            Uuid::parse_str(s.trim())
                .map_err(|_| ApiError::bad_request(format!("{key} is not a valid Guid.")))
        })
        .transpose()
}

fn date_param(q: &CiQuery, key: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    q.get(key)
        .filter(|s| !s.is_empty())
        .map(|s| {
            parse_date(s).ok_or_else(|| ApiError::bad_request(format!("{key} is not a date.")))
        })
        .transpose()
}

fn wants_lines(q: &CiQuery, headers: &HeaderMap) -> Result<bool, ApiError> {
    match q.get("format").map(str::trim) {
        Some("jsonl" | "ndjson") => return Ok(true),
        Some("json") => return Ok(false),
        Some("") | None => {}
        Some(_) => return Err(ApiError::bad_request("format must be json or jsonl.")),
    }
    Ok(headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains(NDJSON)))
}

/// Audit records, newest first. Tenant administrators (with the scope
/// `vso.tokenadministration`) read everything, an organization's
/// administrators what its members did or had done to them, everyone else
/// (`vso.pats`) their own events and their tokens'.
#[utoipa::path(
    get,
    path = "/patrol/v1/audit",
    tag = "admin",
    params(
        ("actor" = Option<String>, Query, description = "The actor as recorded: <issuer>|<subject>, unauthenticated, …"),
        ("user" = Option<Uuid>, Query, description = "Events by or about this user"),
        ("token" = Option<Uuid>, Query, description = "Events about this PAT"),
        ("action" = Option<String>, Query, description = "e.g. pat.create, pat.revoke, pat.verify, auth.reject, admin.policy_set"),
        ("since" = Option<String>, Query, description = "At or after this time"),
        ("until" = Option<String>, Query, description = "Before this time"),
        ("top" = Option<u32>, Query, description = "Page size, 1–10000; default 100 (JSON), 10000 (JSON lines)"),
        ("continuationToken" = Option<String>, Query, description = "From the previous page"),
        ("format" = Option<String>, Query, description = "json (default) or jsonl; or Accept: application/x-ndjson"),
    ),
    responses(
        (status = 200, description = "A page of events (JSON, or one event per line)", body = AuditPageDoc),
        (status = 400, description = "A bad filter"),
        (status = 401, description = "No or invalid OIDC access token"),
        (status = 403, description = "Missing scope vso.pats, or a service principal"),
    ),
    security(("bearer" = []))
)]
pub async fn audit_log(
    State(state): State<AppState>,
    AuditReader(caller): AuditReader,
    headers: HeaderMap,
    q: CiQuery,
) -> Result<Response, ApiError> {
    let lines = wants_lines(&q, &headers)?;
    let action = q
        .get("action")
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim()
                .parse::<AuditAction>()
                .map_err(|_| ApiError::bad_request("action is not a known audit action."))
        })
        .transpose()?;
    let after = match q.get("continuationToken").map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(
            decode_cursor(s)
                .ok_or_else(|| ApiError::bad_request("continuationToken is not valid."))?,
        ),
    };
    let req = AuditRequest {
        actor: q.get("actor").filter(|s| !s.is_empty()).map(str::to_owned),
        user: uuid_param(&q, "user")?,
        token: uuid_param(&q, "token")?,
        action,
        since: date_param(&q, "since")?,
        until: date_param(&q, "until")?,
        after,
        limit: top(&q, if lines { MAX_AUDIT_PAGE } else { 100 }, MAX_AUDIT_PAGE)?,
    };
    let page = state.app.audit_log(&caller, req).await?;
    let next = page.next.as_ref().map(encode_cursor);
    let events: Vec<AuditEventDoc> = page.events.into_iter().map(Into::into).collect();
    if lines {
        let mut body = String::new();
        for e in &events {
            let line = serde_json::to_string(e).map_err(|e| ApiError::Internal(e.to_string()))?;
            body.push_str(&line);
            body.push('\n');
        }
        let mut r = (StatusCode::OK, body).into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
        if let Some(v) = next.and_then(|n| HeaderValue::from_str(&n).ok()) {
            r.headers_mut().insert(X_MS_CONTINUATION_TOKEN, v);
        }
        return Ok(r);
    }
    let view = match page.view {
        AuditView::Tenant => "tenant",
        AuditView::Orgs(_) => "organizations",
        AuditView::Own => "own",
    };
    Ok(json(
        StatusCode::OK,
        &AuditPageDoc {
            view,
            events,
            continuation_token: next,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = AuditCursor {
            at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            id: Uuid::new_v4(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&c)), Some(c));
        for bad in [
            "",
            "x",
            "bm90LWEtY3Vyc29y",
            &URL_SAFE_NO_PAD.encode("1.nope"),
        ] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }
}
