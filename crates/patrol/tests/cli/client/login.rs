//! `patrol login` through the dev issuer's page, the stored sign-in renewed
//! silently, and logout revoking the refresh token.

use super::{cli, edit_login, login, ok, stored_login, PendingLogin};
use crate::support::{client, DevServer};

#[test]
fn the_server_names_the_issuer_the_cli_signs_in_with() {
    let dir = tempfile::tempdir().unwrap();
    let srv = DevServer::start(&dir.path().join("dev"), &[]);
    let doc: serde_json::Value = client()
        .get(format!("{}/patrol/v1/cli-config", srv.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(doc["issuer"], format!("{}/oidc", srv.base));
    assert_eq!(doc["client_id"], "patrol-dev-cli");
    assert!(doc["scopes"].as_str().unwrap().contains("offline_access"));
    assert!(doc["resource"].is_null());

    // An organization the server does not know: checked at login, nothing stored.
    let cfg = dir.path().join("config");
    let r = login(&srv, &cfg, "bob", &["--org", "nowhere"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("'nowhere' does not exist"),
        "{}",
        r.stderr
    );
    assert!(!cfg.join("credentials.json").exists());

    // Without --org the login works and names no organization; the stored
    // sign-in holds the issuer's settings and tokens, and the server is the default.
    let r = login(&srv, &cfg, "bob", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("as Bob Example"), "{r:?}");
    assert!(r.stdout.contains("No default organization"), "{r:?}");
    assert!(
        r.stderr.contains("open this address in a browser"),
        "{}",
        r.stderr
    );
    let stored = stored_login(&cfg);
    assert_eq!(stored["issuer"], doc["issuer"]);
    assert_eq!(stored["client_id"], "patrol-dev-cli");
    assert!(stored["refresh_token"].is_string());
    assert!(stored["organization"].is_null());
    // No organization anywhere: a usage error that says where one comes from.
    let r = cli(&cfg, &["token", "list"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("--org") && r.stderr.contains("PATROL_ORG"),
        "{}",
        r.stderr
    );
    // PATROL_ORG stands in for --org.
    let r = super::run(
        super::patrol(&cfg)
            .env("PATROL_ORG", "contoso")
            .args(["token", "list"]),
    );
    assert_eq!(r.code, 0, "{r:?}");
}

#[test]
fn an_expired_login_is_refreshed_silently() {
    let dir = tempfile::tempdir().unwrap();
    let srv = DevServer::start(&dir.path().join("dev"), &[]);
    let cfg = dir.path().join("config");
    assert_eq!(login(&srv, &cfg, "alice", &["--org", "fabrikam"]).code, 0);
    let before = stored_login(&cfg);
    let expired = srv.token(&["--user", "alice", "--lifetime=-3600"]);

    // 1. The stored expiry has passed: refreshed before the request.
    edit_login(&cfg, |l| {
        l["access_token"] = expired.clone().into();
        l["expires_at"] = 1_000.into();
    });
    let r = ok(&cfg, &["token", "list"]);
    assert_eq!(r.stderr, "", "silently");
    let after = stored_login(&cfg);
    assert_ne!(after["access_token"], expired.as_str());
    assert_ne!(
        after["refresh_token"], before["refresh_token"],
        "rotated and kept"
    );
    assert!(after["expires_at"].as_i64().unwrap() > chrono::Utc::now().timestamp() + 600);

    // 2. The stored expiry says fine, the server says 401: refreshed, sent again.
    edit_login(&cfg, |l| l["access_token"] = expired.clone().into());
    let r = ok(
        &cfg,
        &["token", "create", "--scope", "vso.code", "-o", "json"],
    );
    assert_eq!(r.stderr, "");
    assert_ne!(stored_login(&cfg)["access_token"], expired.as_str());

    // 3. A refresh token the issuer refuses: exit 1, and what to do.
    edit_login(&cfg, |l| {
        l["access_token"] = expired.clone().into();
        l["refresh_token"] = "not-a-refresh-token".into();
    });
    let r = cli(&cfg, &["token", "list"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("invalid_grant") && r.stderr.contains("patrol login"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}

#[test]
fn logout_revokes_the_refresh_token() {
    let dir = tempfile::tempdir().unwrap();
    let srv = DevServer::start(&dir.path().join("dev"), &[]);
    let cfg = dir.path().join("config");
    assert_eq!(login(&srv, &cfg, "alice", &["--org", "fabrikam"]).code, 0);
    let refresh = stored_login(&cfg)["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = ok(&cfg, &["logout", "--server", &srv.base]);
    assert_eq!(r.stderr, "", "revoked without complaint");
    // The issuer no longer honours it.
    let answer = client()
        .post(format!("{}/oidc/token", srv.base))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("client_id", "patrol-dev-cli"),
        ])
        .send()
        .unwrap();
    assert_eq!(answer.status(), 400);
    assert!(answer.text().unwrap().contains("invalid_grant"));
}

#[test]
fn a_login_that_is_never_finished_times_out_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let srv = DevServer::start(&dir.path().join("dev"), &[]);
    let cfg = dir.path().join("config");
    let mut pending = PendingLogin::start(
        &cfg,
        &["--server", &srv.base, "--no-browser", "--timeout", "2"],
    );
    let url = pending.authorize_url();
    // A stranger's answer to the loopback listener (wrong state) is refused and waited past.
    let redirect: String = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let stray = client()
        .get(format!("{redirect}?code=forged&state=wrong"))
        .send()
        .unwrap();
    assert_eq!(stray.status(), 400);
    let r = pending.finish();
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("no sign-in within 2 seconds"),
        "{}",
        r.stderr
    );
    assert!(!cfg.join("credentials.json").exists());
}

#[test]
fn a_sign_in_refused_at_the_issuer_is_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let srv = DevServer::start(&dir.path().join("dev"), &[]);
    let cfg = dir.path().join("config");
    let mut pending = PendingLogin::start(&cfg, &["--server", &srv.base, "--no-browser"]);
    let url = url::Url::parse(&pending.authorize_url()).unwrap();
    let q = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    // The issuer sends the browser back with an error (RFC 6749 §4.1.2.1).
    let back = client()
        .get(format!(
            "{}?error=access_denied&error_description=the+user+said+no&state={}",
            q("redirect_uri"),
            q("state")
        ))
        .send()
        .unwrap();
    assert_eq!(back.status(), 400);
    let r = pending.finish();
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("access_denied: the user said no"),
        "{}",
        r.stderr
    );
    assert!(!cfg.join("credentials.json").exists());
}
