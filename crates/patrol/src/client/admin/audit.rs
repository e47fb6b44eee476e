//! `patrol admin audit`: the audit log (docs/admin.md §6) — filtered, every
//! page read, as a table or as JSON lines, and `--follow` for new events.
//!
//! Following asks the log for the events at or after the newest one seen
//! (`since`, inclusive) every `--interval` seconds and drops those already
//! printed, so an event is printed once even when several share a time. (An
//! event stored later than one already printed but stamped earlier — two
//! requests racing on two replicas — is not printed; the log has it.)

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::super::failure::{sanitize, Failure};
use super::super::render::Output;
use super::api::{typed, Admin};
use super::args::AuditArgs;
use super::{print, ClockRef};

/// Events printed before following, unless `--limit` says otherwise.
const FOLLOW_BACKLOG: u64 = 10;
/// A log longer than this many pages is a server that never says "last page".
const MAX_PAGES: usize = 1_000_000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    events: Vec<Value>,
    continuation_token: Option<String>,
}

/// The fields a table shows.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    id: Uuid,
    at: DateTime<Utc>,
    action: String,
    outcome: String,
    actor: String,
    #[serde(default)]
    target_pat: Option<Uuid>,
    #[serde(default)]
    target_user: Option<Uuid>,
    #[serde(default)]
    source_ip: Option<String>,
    #[serde(default)]
    detail: Option<String>,
}

/// The filters, as query parameters, and the page size.
struct Query {
    params: Vec<(&'static str, String)>,
    page: u64,
}

pub async fn run(args: AuditArgs, clock: ClockRef) -> Result<(), Failure> {
    let now = clock.now();
    let mut api = Admin::open(&args.conn, clock)?;
    let mut params: Vec<(&'static str, String)> = Vec::new();
    if let Some(a) = &args.actor {
        params.push(("actor", a.clone()));
    }
    if let Some(u) = &args.user {
        params.push(("user", api.resolve_user(u).await?.to_string()));
    }
    if let Some(t) = args.token {
        params.push(("token", t.to_string()));
    }
    if let Some(a) = &args.action {
        params.push(("action", a.trim().to_owned()));
    }
    if let Some(u) = args.until {
        params.push(("until", stamp(u.at(now))));
    }
    let query = Query {
        params,
        page: args.page_size,
    };
    let since = args.since.map(|s| s.at(now));
    let output = args.conn.output;
    if !args.follow {
        let server = api.server();
        let mut printed = 0u64;
        pages(&mut api, &query, since, args.limit, |v| {
            if printed == 0 && output == Output::Table {
                print(&header())?;
            }
            printed += 1;
            line(&server, v, output)
        })
        .await?;
        if printed == 0 && output == Output::Table {
            eprintln!("No events.");
        }
        return Ok(());
    }
    follow(&mut api, &query, since, args, output).await
}

/// RFC 3339 with microseconds, as the log keeps time.
fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Reads every page (newest first), each event to `each`, stopping after `limit`.
async fn pages(
    api: &mut Admin,
    q: &Query,
    since: Option<DateTime<Utc>>,
    limit: Option<u64>,
    mut each: impl FnMut(&Value) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let mut continuation = String::new();
    let mut seen = 0u64;
    let since = since.map(stamp).unwrap_or_default();
    for _ in 0..MAX_PAGES {
        let top = limit
            .map_or(q.page, |l| (l - seen).clamp(1, q.page))
            .to_string();
        let mut query: Vec<(&str, &str)> = q.params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        query.push(("since", &since));
        query.push(("top", &top));
        query.push(("continuationToken", &continuation));
        let v = api.get(&["audit"], &query).await?;
        let page: Page = typed(&api.server(), &v)?;
        for e in &page.events {
            each(e)?;
            seen += 1;
            if limit.is_some_and(|l| seen >= l) {
                return Ok(());
            }
        }
        match page.continuation_token {
            Some(next) if !next.is_empty() && next != continuation => continuation = next,
            _ => return Ok(()),
        }
    }
    Err(Failure::refused(format!(
        "{} keeps answering with more pages; giving up",
        api.server()
    )))
}

/// Every event at or after `since` (all pages), newest first.
async fn collect(
    api: &mut Admin,
    q: &Query,
    since: Option<DateTime<Utc>>,
    limit: Option<u64>,
) -> Result<Vec<Value>, Failure> {
    let mut out = Vec::new();
    pages(api, q, since, limit, |v| {
        out.push(v.clone());
        Ok(())
    })
    .await?;
    Ok(out)
}

/// The newest time printed, and the events printed at that time.
#[derive(Default)]
struct Seen {
    newest: Option<DateTime<Utc>>,
    at_newest: HashSet<Uuid>,
}

impl Seen {
    /// Events (newest first) not printed yet, oldest first; remembers them.
    fn fresh(&mut self, server: &str, events: Vec<Value>) -> Result<Vec<Value>, Failure> {
        let mut out = Vec::new();
        for v in events.into_iter().rev() {
            let e: Event = typed(server, &v)?;
            if self.newest.is_some_and(|n| e.at < n) || self.at_newest.contains(&e.id) {
                continue;
            }
            if self.newest != Some(e.at) {
                self.newest = Some(e.at);
                self.at_newest.clear();
            }
            self.at_newest.insert(e.id);
            out.push(v);
        }
        Ok(out)
    }
}

/// `--follow`: the last few events, then new ones as they come, until Ctrl-C.
async fn follow(
    api: &mut Admin,
    q: &Query,
    since: Option<DateTime<Utc>>,
    args: AuditArgs,
    output: Output,
) -> Result<(), Failure> {
    let server = api.server();
    let mut seen = Seen::default();
    let backlog = collect(api, q, since, Some(args.limit.unwrap_or(FOLLOW_BACKLOG))).await?;
    if output == Output::Table {
        print(&header())?;
    }
    for v in seen.fresh(&server, backlog)? {
        line(&server, &v, output)?;
    }
    let interval = Duration::from_secs(args.interval);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            () = tokio::time::sleep(interval) => {}
        }
        let from = seen.newest.or(since);
        match collect(api, q, from, None).await {
            Ok(events) => {
                for v in seen.fresh(&server, events)? {
                    line(&server, &v, output)?;
                }
            }
            // A server that is away for a moment: say so, and keep following.
            Err(Failure::Unreachable(m)) => eprintln!("warning: {m}; still following"),
            Err(e) => return Err(e),
        }
    }
}

fn header() -> String {
    format!(
        "{:<19}  {:<22} {:<7}  {:<47}  DETAILS",
        "TIME (UTC)", "ACTION", "OUTCOME", "ACTOR"
    )
}

/// One event: a JSON line, or a table row (server text sanitized).
fn line(server: &str, v: &Value, output: Output) -> Result<(), Failure> {
    if output == Output::Json {
        let text = serde_json::to_string(v)
            .map_err(|e| Failure::local(format!("encoding an event: {e}")))?;
        return print(&text);
    }
    let e: Event = typed(server, v)?;
    let mut details = Vec::new();
    if let Some(t) = e.target_pat {
        details.push(format!("token={t}"));
    }
    if let Some(u) = e.target_user {
        details.push(format!("user={u}"));
    }
    if let Some(ip) = &e.source_ip {
        details.push(format!("ip={}", sanitize(ip)));
    }
    if let Some(d) = &e.detail {
        details.push(sanitize(d));
    }
    print(&format!(
        "{:<19}  {:<22} {:<7}  {:<47}  {}",
        e.at.format("%Y-%m-%d %H:%M:%S"),
        sanitize(&e.action),
        sanitize(&e.outcome),
        sanitize(&e.actor),
        details.join(" ")
    ))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn ev(id: u128, secs: u32) -> Value {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, secs).unwrap();
        json!({"id": Uuid::from_u128(id), "at": at, "action": "pat.create",
               "outcome": "success", "actor": "iss|sub"})
    }

    fn ids(v: &[Value]) -> Vec<String> {
        v.iter()
            .map(|e| e["id"].as_str().unwrap()[34..].to_owned())
            .collect()
    }

    #[test]
    fn following_prints_each_event_once_oldest_first() {
        let mut seen = Seen::default();
        // Newest first, as the log answers.
        let first = seen.fresh("s", vec![ev(3, 2), ev(2, 2), ev(1, 1)]).unwrap();
        assert_eq!(ids(&first), ["01", "02", "03"]);
        // `since` is inclusive: the events at the newest time come back.
        let next = seen
            .fresh("s", vec![ev(5, 3), ev(4, 2), ev(3, 2), ev(2, 2)])
            .unwrap();
        assert_eq!(ids(&next), ["04", "05"]);
        assert!(seen.fresh("s", vec![ev(5, 3)]).unwrap().is_empty());
        assert_eq!(
            seen.newest,
            Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 3).unwrap())
        );
    }

    #[test]
    fn stamps_keep_microseconds() {
        let at = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        assert_eq!(stamp(at), "2023-11-14T22:13:20.123456Z");
    }
}
