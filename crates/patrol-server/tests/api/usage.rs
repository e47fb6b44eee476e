//! Last use (time, source address, user agent) is written in the background
//! and shown in the PAT API.

use chrono::{DateTime, Utc};

use crate::support::{basic, TestApp};

#[tokio::test]
async fn last_use_is_recorded_and_shown() {
    let app = TestApp::spawn().await;
    let (pat, id) = app.create_pat("vso.code", false).await;
    let fresh = app.get_pat(id).await;
    assert!(
        fresh.get("lastUsedAt").is_none(),
        "never used: no lastUsed fields"
    );
    let before = app.now();
    let r = app
        .client
        .get(format!("{}/patrol/v1/verify", app.base))
        .header("authorization", basic("git", &pat))
        .header("user-agent", "git/2.47.3")
        .header("x-forwarded-for", "198.51.100.20")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.state.app.flush_usage().await;
    let stored = app.store.get_pat(id).await.unwrap().unwrap();
    let used = stored.last_used.unwrap();
    assert!(used.at >= before - chrono::Duration::seconds(1));
    assert_eq!(used.source_ip.as_deref(), Some("198.51.100.20"));
    assert_eq!(used.user_agent.as_deref(), Some("git/2.47.3"));
    let shown = app.get_pat(id).await;
    let at: DateTime<Utc> = shown["lastUsedAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(at.timestamp_micros(), used.at.timestamp_micros());
    assert_eq!(shown["lastUsedIp"], "198.51.100.20");
    assert_eq!(shown["lastUsedUserAgent"], "git/2.47.3");
}

#[tokio::test]
async fn last_use_is_written_without_an_explicit_flush() {
    let app = TestApp::spawn().await;
    let (pat, id) = app.create_pat("vso.code", false).await;
    assert_eq!(app.verify_status(&pat, "").await, 200);
    // The writer runs every 50 ms in tests (1 s by default).
    let mut seen = false;
    for _ in 0..100 {
        if app
            .store
            .get_pat(id)
            .await
            .unwrap()
            .unwrap()
            .last_used
            .is_some()
        {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(seen);
    assert_eq!(app.stats().usage_dropped, 0);
}
