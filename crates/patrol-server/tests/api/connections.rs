//! Connections an attacker holds open cost them, not Patrol: half-sent
//! requests are closed after the header-read timeout, slow bodies after the
//! request timeout, connections beyond the cap wait in the backlog, and a
//! shutdown lets in-flight requests finish.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::TestApp;

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

async fn healthz(app: &TestApp, within: Duration) -> Option<u16> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(within)
        .build()
        .unwrap();
    let r = client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .ok()?;
    Some(r.status().as_u16())
}

/// Reads until the server closes the connection (EOF or reset).
async fn closed_by_server(mut s: TcpStream) {
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_closed_and_the_server_keeps_answering() {
    let app = TestApp::spawn_with(|c| {
        c.server.header_read_timeout_secs = 2;
        c.server.max_connections = 5_000;
    })
    .await;
    let target = addr(&app);
    let started = Instant::now();
    let mut held = Vec::new();
    for i in 0..2_000 {
        let mut s = TcpStream::connect(&target).await.unwrap();
        // A request line and a header, never the blank line that ends them.
        s.write_all(b"GET / HTTP/1.1\r\nHost: patrol\r\n")
            .await
            .unwrap();
        held.push(s);
        if i % 500 == 0 {
            assert_eq!(healthz(&app, Duration::from_secs(5)).await, Some(200));
        }
    }
    assert_eq!(healthz(&app, Duration::from_secs(5)).await, Some(200));
    let mut closing = tokio::task::JoinSet::new();
    for s in held {
        closing.spawn(closed_by_server(s));
    }
    let all = async { while closing.join_next().await.is_some() {} };
    tokio::time::timeout(Duration::from_secs(20), all)
        .await
        .expect("every half-sent connection is closed by the server");
    // 2 s after each was opened, plus the time to open them all, plus slack.
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(healthz(&app, Duration::from_secs(5)).await, Some(200));
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_is_free() {
    let app = TestApp::spawn_with(|c| {
        c.server.header_read_timeout_secs = 2;
        c.server.max_connections = 3;
    })
    .await;
    let target = addr(&app);
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(&target).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        held.push(s);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        healthz(&app, Duration::from_millis(700)).await,
        None,
        "a fourth connection is not served while three are held"
    );
    // The held ones time out; then the server answers again.
    let mut answered = None;
    for _ in 0..40 {
        answered = healthz(&app, Duration::from_millis(500)).await;
        if answered.is_some() {
            break;
        }
    }
    assert_eq!(answered, Some(200));
    drop(held);
}

#[tokio::test]
async fn a_body_sent_too_slowly_gets_a_timeout() {
    let app = TestApp::spawn_with(|c| c.server.request_timeout_secs = 1).await;
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    s.write_all(
        b"POST /fabrikam/_apis/tokens/pats?api-version=7.1-preview.1 HTTP/1.1\r\n\
          Host: patrol\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"displ",
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut answer))
        .await
        .expect("answered and closed")
        .ok();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let mut app = TestApp::spawn_with(|c| c.server.shutdown_grace_secs = 10).await;
    // The dev issuer is served by this very server: fetch its keys now,
    // before the listener closes.
    app.create_pat("vso.code", false).await;
    let target = addr(&app);
    let mut s = TcpStream::connect(&target).await.unwrap();
    let body = br#"{"displayName":"drained","scope":"vso.code"}"#;
    let head = format!(
        "POST /fabrikam/_apis/tokens/pats?api-version=7.1-preview.1 HTTP/1.1\r\n\
         Host: patrol\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        app.jwt(),
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // SIGTERM while the request is in flight…
    app.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // …no new connections are accepted…
    assert!(
        TcpStream::connect(&target).await.is_err()
            || healthz(&app, Duration::from_secs(1)).await.is_none(),
        "the listener is closed"
    );
    // …but the one in flight finishes and is answered.
    s.write_all(&body[10..]).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut answer))
        .await
        .expect("answered")
        .ok();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"patTokenError\":\"none\""), "{text}");
    let done = tokio::time::timeout(Duration::from_secs(10), app.stopped())
        .await
        .expect("run returns once drained");
    assert!(done.unwrap().is_ok());
}
