//! `patrol scan --report URL`: the hits go to the server's admin endpoint
//! `POST /patrol/v1/admin/leaks` (docs/leaks.md) with the sign-in of that
//! server — `PATROL_ACCESS_TOKEN`, or the stored `patrol login --server URL`.
//! The server revokes the known ones (tenant policy permitting); its answer
//! never says which were known.

use std::sync::Arc;

use patrol_core::clock::{Clock, SystemClock};
use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::failure::Failure;
use super::session;

/// Most hits per request (the server's limit).
const BATCH: usize = 1000;

/// One hit as reported: where, and the token itself (sent, never printed).
#[derive(Serialize)]
pub struct ReportHit {
    pub file: String,
    pub line: u64,
    pub token: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    received: usize,
    well_formed: usize,
}

/// What the server acknowledged: hits received, of which well-formed
/// tokens of its format.
#[derive(Debug, Default, Clone, Copy)]
pub struct Reported {
    pub received: usize,
    pub well_formed: usize,
}

/// Before a scan: is `server` a server URL this command is signed in to
/// (or has `PATROL_ACCESS_TOKEN` for)? A failure is one line of words.
pub fn check(server: &str) -> Result<(), String> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    session::connect(Some(server), None, clock)
        .map(|_| ())
        .map_err(|f| f.to_string())
}

/// Send `hits` to `server`; a failure is one line of words.
pub fn report(server: &str, hits: &[ReportHit]) -> Result<Reported, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime: {e}"))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    runtime
        .block_on(send(server, hits, clock))
        .map_err(|f| f.to_string())
}

async fn send(
    server: &str,
    hits: &[ReportHit],
    clock: Arc<dyn Clock>,
) -> Result<Reported, Failure> {
    let (mut client, _) = session::connect(Some(server), None, clock)?;
    let mut total = Reported::default();
    for batch in hits.chunks(BATCH) {
        let url = client.server.url(&["patrol", "v1", "admin", "leaks"]);
        let body = serde_json::to_vec(&serde_json::json!({ "hits": batch }))
            .map_err(|e| Failure::local(format!("encoding the report: {e}")))?;
        let answer = client.send(Method::POST, url, Some(body)).await?;
        if !(200..300).contains(&answer.status) {
            return Err(client.failure(&answer));
        }
        let a: Answer = serde_json::from_slice(&answer.body).map_err(|_| {
            Failure::local(format!(
                "{server} answered the report with something unexpected"
            ))
        })?;
        total.received += a.received;
        total.well_formed += a.well_formed;
    }
    Ok(total)
}
