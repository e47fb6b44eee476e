//! `patrol scan --report URL` against `patrol dev`: a real token planted in
//! a file is found, reported to the admin endpoint with the caller's
//! sign-in, and revoked — the next verify fails.

use std::process::Command;

use serde_json::{json, Value};

use crate::client::patrol;
use crate::support::{client, DevServer};

const ADMIN_SCOPES: &str = "vso.tokenadministration vso.pats vso.pats_manage";

fn verify(base: &str, token: &str) -> u16 {
    client()
        .get(format!("{base}/patrol/v1/verify"))
        .basic_auth("git", Some(token))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

fn scan(cfg: &std::path::Path, token: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut cmd: Command = patrol(cfg);
    if let Some(t) = token {
        cmd.env("PATROL_ACCESS_TOKEN", t);
    }
    cmd.arg("scan").args(args).output().unwrap()
}

#[test]
fn scan_report_revokes_a_planted_token() {
    let dir = tempfile::tempdir().unwrap();
    let srv = DevServer::start(&dir.path().join("dev"), &[]);
    let alice = srv.token(&["--user", "alice"]);
    let created: Value = client()
        .post(format!(
            "{}/fabrikam/_apis/tokens/pats?api-version=7.1-preview.1",
            srv.base
        ))
        .bearer_auth(&alice)
        .json(&json!({"displayName": "planted", "scope": "vso.code"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let secret = created["patToken"]["token"].as_str().unwrap().to_owned();
    assert_eq!(verify(&srv.base, &secret), 200);

    let tree = dir.path().join("repo");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("settings.env"), format!("# ci\nPAT={secret}\n")).unwrap();
    let cfg = dir.path().join("cfg");
    let tree_arg = tree.to_str().unwrap();

    // A non-administrator is refused: exit 2, the token still works.
    let out = scan(&cfg, Some(&alice), &["--report", &srv.base, tree_arg]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--report"), "{stderr}");
    assert_eq!(verify(&srv.base, &secret), 200);

    // Not signed in at all: a clean error, exit 2.
    let out = scan(&cfg, None, &["--report", &srv.base, tree_arg]);
    assert_eq!(out.status.code(), Some(2));

    let admin = srv.token(&["--user", "admin", "--scope", ADMIN_SCOPES]);
    let out = scan(&cfg, Some(&admin), &["--report", &srv.base, tree_arg]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "found, reported: {stderr}");
    assert!(stderr.contains("reported 1 token"), "{stderr}");
    assert!(stdout.contains("settings.env:2:"), "{stdout}");
    assert!(!stdout.contains(&secret) && !stderr.contains(&secret));
    assert_eq!(verify(&srv.base, &secret), 401, "revoked by the report");
}
