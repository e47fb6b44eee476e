//! Notifications and lifecycle jobs, on the injected clock: the job runner
//! is ticked by hand (`app.state`'s runner would tick every hour here), and
//! emails land in the test's outbox folder (the real SMTP path is the
//! end-to-end suite's, with aiosmtpd).

use std::path::Path;

use chrono::Duration;
use serde_json::json;

use crate::support::{days, manual_clock, TestApp};

/// The emails written so far, as (file name, text), oldest first.
pub(crate) fn emails(dir: &Path) -> Vec<(String, String)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut all: Vec<(String, String)> = rd
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect();
    all.sort();
    all
}

/// The emails of one kind, with quoted-printable soft line breaks undone
/// (so that a long line, a URL or a secret, cannot hide across two).
pub(crate) fn of_kind(dir: &Path, kind: &str) -> Vec<String> {
    emails(dir)
        .into_iter()
        .filter(|(name, _)| name.contains(&format!("-{kind}-")))
        .map(|(_, text)| text.replace("=\r\n", "").replace("=\n", ""))
        .collect()
}

fn quiet(c: &mut patrol_server::config::Config) {
    // Only the test ticks the runner.
    c.notifications.tick_secs = 3600;
}

#[tokio::test]
async fn creation_email_names_the_token_and_never_its_secret() {
    let app = TestApp::spawn_with(quiet).await;
    let (secret, id) = app.create_pat("vso.code", false).await;
    let r = app.jobs.tick().await.unwrap();
    assert!(r.leased);
    assert_eq!(r.sent, 1);
    let created = of_kind(&app.mail_dir(), "created");
    assert_eq!(created.len(), 1);
    let mail = &created[0];
    assert!(
        mail.contains("Subject: New personal access token: ci"),
        "{mail}"
    );
    assert!(mail.contains(&id.to_string()));
    assert!(mail.contains("fabrikam"));
    assert!(!mail.contains(&secret), "the secret is never emailed");
    // Sent once: the next tick has nothing to do.
    assert_eq!(app.jobs.tick().await.unwrap().sent, 0);
}

/// The process dies (here: its outbox write fails) between storing a change
/// and queueing the notice the change promised: the promise was stored in
/// the change's own transaction, so the job runner queues the notice later,
/// once. On either store.
/// Makes the outbox refuse writes (a trigger in the test's database).
enum OutboxSwitch {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl OutboxSwitch {
    async fn new(app: &TestApp) -> OutboxSwitch {
        match &app.pg_url {
            Some(url) => OutboxSwitch::Postgres(sqlx::PgPool::connect(url).await.unwrap()),
            None => OutboxSwitch::Sqlite(
                sqlx::SqlitePool::connect(&format!("sqlite://{}", app.db_path().display()))
                    .await
                    .unwrap(),
            ),
        }
    }

    async fn down(&self) {
        match self {
            OutboxSwitch::Sqlite(db) => {
                sqlx::query(
                    "CREATE TRIGGER outbox_down BEFORE INSERT ON outbox \
                     BEGIN SELECT RAISE(ABORT, 'outbox down'); END",
                )
                .execute(db)
                .await
                .unwrap();
            }
            OutboxSwitch::Postgres(db) => {
                sqlx::query(
                    "CREATE FUNCTION outbox_down() RETURNS trigger LANGUAGE plpgsql AS \
                     $$ BEGIN RAISE EXCEPTION 'outbox down'; END $$",
                )
                .execute(db)
                .await
                .unwrap();
                sqlx::query(
                    "CREATE TRIGGER outbox_down BEFORE INSERT ON outbox \
                     FOR EACH ROW EXECUTE FUNCTION outbox_down()",
                )
                .execute(db)
                .await
                .unwrap();
            }
        }
    }

    async fn up(&self) {
        match self {
            OutboxSwitch::Sqlite(db) => {
                sqlx::query("DROP TRIGGER outbox_down")
                    .execute(db)
                    .await
                    .unwrap();
            }
            OutboxSwitch::Postgres(db) => {
                sqlx::query("DROP TRIGGER outbox_down ON outbox")
                    .execute(db)
                    .await
                    .unwrap();
            }
        }
    }
}

#[tokio::test]
async fn a_notice_is_not_lost_when_queueing_it_fails_after_the_change_committed() {
    let app = TestApp::spawn_with(quiet).await;
    let outbox = OutboxSwitch::new(&app).await;
    outbox.down().await;
    // The change itself is stored and answered.
    let (_secret, id) = app.create_pat("vso.code", false).await;
    let down = app.jobs.tick().await.unwrap();
    assert_eq!((down.recovered, down.sent), (0, 0));
    assert!(of_kind(&app.mail_dir(), "created").is_empty());

    outbox.up().await;
    let up = app.jobs.tick().await.unwrap();
    assert_eq!(up.recovered, 1);
    assert_eq!(up.sent, 1);
    let created = of_kind(&app.mail_dir(), "created");
    assert_eq!(created.len(), 1);
    assert!(created[0].contains(&id.to_string()));
    // Kept once: nothing left for the next tick, and no second email.
    let after = app.jobs.tick().await.unwrap();
    assert_eq!((after.recovered, after.sent), (0, 0));
    assert_eq!(of_kind(&app.mail_dir(), "created").len(), 1);
}

#[tokio::test]
async fn expiry_warnings_at_7_and_3_days_once_each_across_a_restart() {
    let clock = manual_clock();
    let app = TestApp::spawn_with_clock(clock.clone(), quiet).await;
    let (secret, _) = app.create_pat_until(clock_now(&app) + days(10)).await;
    let dir = app.mail_dir();
    app.jobs.tick().await.unwrap();
    assert!(of_kind(&dir, "expiring").is_empty());

    clock.advance(days(2)); // 8 days left
    app.jobs.tick().await.unwrap();
    assert!(of_kind(&dir, "expiring").is_empty(), "not yet");

    clock.advance(days(1) + Duration::minutes(1)); // just under 7 left
    app.jobs.tick().await.unwrap();
    let warned = of_kind(&dir, "expiring");
    assert_eq!(warned.len(), 1);
    assert!(warned[0].contains("expires in 7 days"), "{}", warned[0]);
    assert!(warned[0].contains("extend or regenerate"));

    clock.advance(Duration::minutes(30)); // the scan runs again
    app.jobs.tick().await.unwrap();
    assert_eq!(of_kind(&dir, "expiring").len(), 1, "never twice");

    // A restart in between: a new server (new runner) on the same database.
    let app = app.restart_on(clock.clone(), quiet).await;
    assert_eq!(app.mail_dir(), dir);
    clock.advance(days(1)); // 6 days left
    app.jobs.tick().await.unwrap();
    assert_eq!(
        of_kind(&dir, "expiring").len(),
        1,
        "not again after restart"
    );

    clock.advance(days(3)); // just under 3 left
    app.jobs.tick().await.unwrap();
    let warned = of_kind(&dir, "expiring");
    assert_eq!(warned.len(), 2);
    assert!(warned.iter().any(|m| m.contains("expires in 3 days")));

    for _ in 0..3 {
        clock.advance(Duration::hours(12));
        app.jobs.tick().await.unwrap();
    }
    assert_eq!(of_kind(&dir, "expiring").len(), 2, "two warnings, no more");
    for (_, text) in emails(&dir) {
        assert!(!text.contains(&secret));
    }
}

#[tokio::test]
async fn a_token_the_owner_can_no_longer_create_is_not_offered_for_regeneration() {
    let clock = manual_clock();
    let app = TestApp::spawn_with_clock(clock.clone(), quiet).await;
    app.create_pat_until(clock_now(&app) + days(5)).await;
    // fabrikam now refuses PAT creation to everyone.
    let admin = app.user_jwt("admin", "vso.pats vso.pats_manage vso.tokenadministration");
    let r = app
        .client
        .put(format!(
            "{}/patrol/v1/admin/policies/organizations/fabrikam",
            app.base
        ))
        .bearer_auth(&admin)
        .json(&json!({"restrictPatCreation": true}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    app.jobs.tick().await.unwrap();
    let warned = of_kind(&app.mail_dir(), "expiring");
    assert_eq!(warned.len(), 1);
    assert!(warned[0].contains("cannot be regenerated"), "{}", warned[0]);
    assert!(warned[0].contains("administrator of organization fabrikam"));
}

#[tokio::test]
async fn ended_tokens_are_listed_for_the_retention_period_then_purged() {
    let clock = manual_clock();
    let app = TestApp::spawn_with_clock(clock.clone(), |c| {
        quiet(c);
        c.tokens.retention_days = 10;
        c.tokens.purge_after_days = 5;
    })
    .await;
    let (_, expiring) = app.create_pat_until(clock_now(&app) + days(1)).await;
    let (_, revoked) = app.create_pat("vso.code", false).await;
    app.revoke(revoked).await;
    clock.advance(days(5));
    app.jobs.tick().await.unwrap();
    assert_eq!(listed(&app).await, 2, "within retention both are listed");

    clock.advance(days(7)); // revoked 12 days ago, expired 11 days ago
    let r = app.jobs.tick().await.unwrap();
    assert_eq!(r.purged, 0, "hidden, not purged yet");
    assert_eq!(listed(&app).await, 0, "past retention they are hidden");
    assert_eq!(
        app.get_pat(expiring).await["authorizationId"],
        expiring.to_string()
    );

    clock.advance(days(5)); // 16 and 17 days: past retention + purge_after
    let r = app.jobs.tick().await.unwrap();
    assert_eq!(r.purged, 2);
    assert!(app.get_pat(expiring).await.is_null(), "purged");
    let audit = app
        .store
        .list_audit(&patrol_store::AuditQuery {
            target_pat: Some(revoked),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!audit.is_empty(), "audit records stay");
}

#[tokio::test]
async fn one_runner_holds_the_lease_at_a_time() {
    let app = TestApp::spawn_with(quiet).await;
    let now = app.now();
    let store = &app.store;
    let lease = patrol_server::app::JOBS_LEASE;
    assert!(app.jobs.tick().await.unwrap().leased);
    assert!(!store
        .acquire_lease(lease, "other", now, now + Duration::minutes(2))
        .await
        .unwrap());
    // Until it runs out (four ticks, here an hour each).
    let later = now + Duration::hours(4) + Duration::minutes(1);
    assert!(store
        .acquire_lease(lease, "other", later, later + Duration::minutes(2))
        .await
        .unwrap());
    assert!(
        !app.jobs.tick().await.unwrap().leased,
        "held by the other runner until it runs out"
    );
}

fn clock_now(app: &TestApp) -> chrono::DateTime<chrono::Utc> {
    app.now()
}

/// How many of alice's PATs the list shows (filter `all`).
async fn listed(app: &TestApp) -> usize {
    let r = app
        .pats(
            reqwest::Method::GET,
            "fabrikam",
            "?displayFilterOption=all",
            None,
        )
        .await;
    r["patTokens"].as_array().unwrap().len()
}

/// A webhook receiver on 127.0.0.1 that fails its first `fail` requests
/// with 500, and records every request's signature header and body.
struct Receiver {
    url: String,
    got: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
}

impl Receiver {
    async fn start(fail: usize) -> Receiver {
        use axum::http::{HeaderMap, StatusCode};
        let got: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>> = Default::default();
        let seen = got.clone();
        let handler = move |headers: HeaderMap, body: String| {
            let seen = seen.clone();
            async move {
                let sig = headers
                    .get("x-patrol-signature-256")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                let mut g = seen.lock().unwrap();
                g.push((sig, body));
                if g.len() <= fail {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::NO_CONTENT
                }
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let router = axum::Router::new().route("/hook", axum::routing::post(handler));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Receiver { url, got }
    }

    fn requests(&self) -> Vec<(String, String)> {
        self.got.lock().unwrap().clone()
    }
}

fn hmac_hex(secret: &str, body: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn webhooks_are_signed_cloudevents_retried_after_a_receiver_failure() {
    let clock = manual_clock();
    let app = TestApp::spawn_with_clock(clock.clone(), quiet).await;
    let receiver = Receiver::start(1).await;
    let r = app
        .client
        .post(format!("{}/patrol/v1/webhooks", app.base))
        .bearer_auth(app.jwt())
        .json(&json!({"url": receiver.url, "events": ["created", "revoked"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let sub: serde_json::Value = r.json().await.unwrap();
    let secret = sub["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));

    let (token, id) = app.create_pat("vso.code", false).await;
    app.update_scope(id, "vso.code_write").await; // not subscribed to
    let first = app.jobs.tick().await.unwrap();
    assert_eq!(
        (first.sent, first.retried),
        (1, 1),
        "email sent, webhook failed"
    );
    assert_eq!(receiver.requests().len(), 1);

    // Not before its backoff (one minute)…
    clock.advance(Duration::seconds(30));
    assert_eq!(app.jobs.tick().await.unwrap().sent, 0);
    // …then again, delivered.
    clock.advance(Duration::seconds(31));
    assert_eq!(app.jobs.tick().await.unwrap().sent, 1);
    let got = receiver.requests();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].1, got[1].1, "the same event is retried");
    let (sig, body) = &got[1];
    assert_eq!(sig, &hmac_hex(&secret, body), "the signature verifies");
    assert_ne!(sig, &hmac_hex("whsec_other", body));
    let event: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(event["type"], "dev.patrol.pat.created");
    assert_eq!(event["subject"], id.to_string());
    assert_eq!(event["data"]["displayName"], "ci");
    assert!(!body.contains(&token), "no secret in events");

    // Listed without its secret; deleted, nothing more is delivered.
    let list: serde_json::Value = app
        .client
        .get(format!("{}/patrol/v1/webhooks", app.base))
        .bearer_auth(app.jwt())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["count"], 1);
    assert!(list["value"][0].get("secret").is_none());
    let r = app
        .client
        .delete(format!(
            "{}/patrol/v1/webhooks/{}",
            app.base,
            sub["id"].as_str().unwrap()
        ))
        .bearer_auth(app.jwt())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    app.revoke(id).await;
    app.jobs.tick().await.unwrap();
    assert_eq!(receiver.requests().len(), 2);
}

#[tokio::test]
async fn tenant_wide_webhooks_need_a_tenant_administrator() {
    let app = TestApp::spawn_with(quiet).await;
    let r = app
        .client
        .post(format!("{}/patrol/v1/webhooks", app.base))
        .bearer_auth(app.jwt())
        .json(&json!({"url": "https://hooks.example/x", "tenantWide": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = app
        .client
        .post(format!("{}/patrol/v1/webhooks", app.base))
        .bearer_auth(app.jwt())
        .json(&json!({"url": "ftp://hooks.example/x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let admin = app.user_jwt("admin", "vso.pats vso.pats_manage vso.tokenadministration");
    let r = app
        .client
        .post(format!("{}/patrol/v1/webhooks", app.base))
        .bearer_auth(&admin)
        .json(&json!({"url": "https://hooks.example/x", "tenantWide": true, "events": ["leaked"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = app
        .client
        .delete(format!("{}/patrol/v1/webhooks/not-a-guid", app.base))
        .bearer_auth(app.jwt())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(v["message"].as_str().unwrap().contains("GUID"), "{v}");
}

#[tokio::test]
async fn the_notifications_page_shows_what_was_sent_and_saves_choices() {
    let app = TestApp::spawn_with(quiet).await;
    let mut b = crate::web::Browser::new(&app);
    let list = b.sign_in("alice").await;
    let csrf = list.csrf();
    app.create_pat("vso.code", false).await;
    app.jobs.tick().await.unwrap();

    let page = b.get("/notifications").await;
    assert_eq!(page.status, reqwest::StatusCode::OK);
    assert!(page.body.contains("A token was created for me"));
    assert!(
        page.body.contains("<td>ci</td><td>sent</td>"),
        "{}",
        page.body
    );
    // Creation and leak notices are always sent.
    assert!(page.body.contains("value=\"created\" checked disabled"));
    assert!(page.body.contains("value=\"leaked\" checked disabled"));
    assert!(page.body.contains("value=\"expiring\" checked>"));

    // Switch expiry warnings off (only `revoked` stays checked).
    let saved = b
        .post("/notifications", &[("csrf", &csrf), ("on", "revoked")])
        .await;
    assert!(saved.body.contains("Your choices are saved."));
    assert!(saved.body.contains("value=\"expiring\">"));
    assert!(saved.body.contains("value=\"revoked\" checked>"));

    // And no warning is queued for alice any more.
    let now = app.now();
    app.create_pat_until(now + days(2)).await;
    app.jobs.tick().await.unwrap();
    assert!(of_kind(&app.mail_dir(), "expiring").is_empty());

    // A form without the anti-CSRF token changes nothing.
    let refused = b.post("/notifications", &[("on", "expiring")]).await;
    assert_ne!(refused.status, reqwest::StatusCode::OK);
}

#[tokio::test]
async fn metrics_count_sent_failed_and_pending_notifications() {
    let app = TestApp::spawn_with(|c| {
        quiet(c);
        c.notifications.max_attempts = 1;
    })
    .await;
    // A receiver that never answers 2xx: with one attempt, it fails at once.
    let receiver = Receiver::start(usize::MAX).await;
    let r = app
        .client
        .post(format!("{}/patrol/v1/webhooks", app.base))
        .bearer_auth(app.jwt())
        .json(&json!({"url": receiver.url}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    app.create_pat("vso.code", false).await;
    let counts = app.state.app.outbox_counts().await.unwrap();
    assert_eq!((counts.pending, counts.sent, counts.failed), (2, 0, 0));
    let r = app.jobs.tick().await.unwrap();
    assert_eq!((r.sent, r.failed), (1, 1));
    let counts = app.state.app.outbox_counts().await.unwrap();
    assert_eq!((counts.pending, counts.sent, counts.failed), (0, 1, 1));
    let text = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "patrol_notifications_sent_total{channel=\"email\"}",
        "patrol_notifications_failed_total{channel=\"webhook\"}",
        "patrol_notifications{state=\"pending\"}",
        "patrol_notifications{state=\"failed\"}",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
}
