//! Notifications and lifecycle jobs, on the injected clock: the job runner
//! is ticked by hand (`app.state`'s runner would tick every hour here), and
//! emails land in the test's outbox folder (the real SMTP path is the
//! end-to-end suite's, with aiosmtpd).

use std::path::Path;

use chrono::Duration;
use serde_json::json;

use crate::support::{days, manual_clock, TestApp};

/// The emails written so far, as (file name, text), oldest first.
fn emails(dir: &Path) -> Vec<(String, String)> {
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

fn of_kind(dir: &Path, kind: &str) -> Vec<String> {
    emails(dir)
        .into_iter()
        .filter(|(name, _)| name.contains(&format!("-{kind}-")))
        .map(|(_, text)| text)
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
    // Until it runs out.
    let later = now + Duration::minutes(3);
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
