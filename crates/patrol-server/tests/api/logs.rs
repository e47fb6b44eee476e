//! No PAT, JWT or Authorization value reaches the logs, even at TRACE
//! (`docs/security.md` item 27), across the whole verify path.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine;

use crate::support::{basic, flipped, TestApp, RS_ID, RS_SECRET};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line of this test binary from the first call on, at TRACE.
fn captured() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let c = Captured::default();
        let w = c.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("trace")
            .with_ansi(false)
            .with_writer(move || w.clone())
            .try_init();
        c
    })
}

#[tokio::test]
async fn no_secrets_in_trace_logs() {
    let logs = captured();
    let app = TestApp::spawn().await;
    let (pat, id) = app.create_pat("vso.code", false).await;
    let mut secrets = vec![pat.clone(), app.jwt().to_owned(), RS_SECRET.to_owned()];
    for auth in [
        basic("git", &pat),
        format!("Bearer {pat}"),
        basic("git", &flipped(&pat)),
    ] {
        app.verify(
            Some(&auth),
            "?scope=vso.code&org=fabrikam",
            Some("192.0.2.50"),
        )
        .await;
        app.verify(Some(&auth), "?scope=vso.build", Some("192.0.2.50"))
            .await;
        secrets.push(auth.trim_start_matches("Basic ").to_owned());
    }
    app.introspect(Some((RS_ID, RS_SECRET)), &[("token", &pat)])
        .await;
    app.introspect(Some((RS_ID, "wrong-wrong-wrong-wrong")), &[("token", &pat)])
        .await;
    let new = app.regenerate(id).await;
    app.verify(Some(&basic("git", &pat)), "", None).await;
    app.verify(Some(&basic("git", &new)), "", None).await;
    app.revoke(id).await;
    app.verify(Some(&basic("git", &new)), "", None).await;
    app.state.app.flush_usage().await;
    secrets.push(new);
    secrets.push(base64::engine::general_purpose::STANDARD.encode(format!("{RS_ID}:{RS_SECRET}")));

    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(text.contains("/patrol/v1/verify"), "the capture works");
    for s in &secrets {
        assert!(!text.contains(s.as_str()), "a secret reached the logs");
    }
    if std::env::var_os("TEST_LOG").is_some() {
        eprintln!("{text}");
    }
}

#[tokio::test]
async fn no_secrets_in_trace_logs_from_the_web_page() {
    use crate::web::{create, token_of, Browser};
    let logs = captured();
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    let csrf = b.sign_in("alice").await.csrf();
    let pat = token_of(&create(&mut b, &csrf, "logged?", &[("scope_mode", "full")]).await);
    let id = b.get("/tokens").await.token_ids()[0];
    let new = token_of(
        &b.post(&format!("/tokens/{id}/regenerate"), &[("csrf", &csrf)])
            .await,
    );
    let session = b.session_cookie();
    b.post("/signout", &[("csrf", &csrf)]).await;
    // Every cookie value Patrol handed out: the sealed sign-in state and the session id.
    let mut secrets = vec![pat, new, csrf, session];
    for c in &b.set_cookies {
        let value = c.split(';').next().unwrap().split_once('=').unwrap().1;
        if !value.is_empty() {
            secrets.push(value.to_owned());
        }
    }
    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(text.contains("/tokens/new"), "the capture works");
    assert!(
        text.contains("/signin/callback"),
        "the sign-in was captured too"
    );
    for s in &secrets {
        assert!(!text.contains(s.as_str()), "a web secret reached the logs");
    }
    // The IdP's access and ID tokens never reach the test, so look for any
    // JWT at all: a payload segment starts `.eyJ` (base64 of `{"`).
    assert!(!text.contains(".eyJ"), "a JWT reached the logs");
    // The authorization code and state travel in the callback's query string.
    assert!(!text.contains("code="), "a query string reached the logs");
}
