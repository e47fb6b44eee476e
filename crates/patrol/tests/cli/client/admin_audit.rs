//! `patrol admin audit` against `patrol dev`: every filter, every page
//! (read two events at a time gives the same log), JSON lines, a
//! non-administrator's own events, and `--follow` printing an event recorded
//! after it started, once, until Ctrl-C.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::admin::{json, out, refused, w, ALICE_KEY};
use super::{cli, login, ok, patrol, with_token};
use crate::support::DevServer;

/// JSON lines: one object each.
fn lines(text: &str) -> Vec<Value> {
    text.lines().map(json).collect()
}

/// Alice, through `PATROL_ACCESS_TOKEN`, creates a token in fabrikam: its id.
fn alice_creates(srv: &DevServer, cfg: &Path, alice: &str, args: &str) -> Result<String, String> {
    let mut all = w("token create --org fabrikam -o json --server");
    all.push(&srv.base);
    all.extend(w(args));
    let r = with_token(cfg, alice, &all);
    if r.code != 0 {
        return Err(r.stderr);
    }
    Ok(json(&r.stdout)["authorizationId"]
        .as_str()
        .unwrap()
        .to_owned())
}

#[test]
fn audit_filters_every_page_and_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let srv = DevServer::start(&dir.path().join("dev"), &[]);
    let admin_cfg = dir.path().join("admin");
    let a = admin_cfg.as_path();
    assert_eq!(login(&srv, a, "admin", &["--org", "fabrikam"]).code, 0);
    let alice = srv.token(&["--user", "alice"]);
    let t1 = alice_creates(&srv, a, &alice, "--name one --scope vso.code").unwrap();
    alice_creates(&srv, a, &alice, "--name two --scope vso.build").unwrap();
    out(a, "admin policy set tenant --restrict-full-scope-pats on");
    let e = alice_creates(&srv, a, &alice, "--name full --scope app_token").unwrap_err();
    assert!(e.contains("restrictFullScopePats"), "{e}");
    out(a, "admin policy set tenant --restrict-full-scope-pats off");
    out(
        a,
        &format!("admin tokens revoke alice@example.com --token {t1}"),
    );

    // Every page, JSON lines, newest first.
    let all = lines(&out(a, "admin audit -o json"));
    let paged = lines(&out(a, "admin audit -o json --page-size 2"));
    assert!(all.len() >= 6, "{all:?}");
    assert_eq!(all, paged, "read page by page, the same log");
    let at: Vec<&str> = all.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(at.windows(2).all(|p| p[0] >= p[1]), "newest first: {at:?}");

    // Filters.
    let sets = lines(&out(a, "admin audit --action admin.policy_set -o json"));
    assert_eq!(sets.len(), 2, "{sets:?}");
    assert!(sets.iter().all(|e| e["action"] == "admin.policy_set"));
    let about = lines(&out(
        a,
        &format!("admin audit --token {t1} -o json --page-size 1"),
    ));
    let actions: Vec<&str> = about
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["pat.revoke", "pat.create"], "newest first");
    let text = out(
        a,
        "admin audit --user alice@example.com --action pat.create --since 1h",
    );
    let rows: Vec<&str> = text.lines().collect();
    assert!(rows[0].starts_with("TIME (UTC)") && rows[0].contains("ACTOR"));
    assert_eq!(rows.len(), 4, "{text}");
    assert!(rows[1..]
        .iter()
        .all(|r| r.contains("pat.create") && r.contains(ALICE_KEY)));
    assert_eq!(rows.iter().filter(|r| r.contains(" failure ")).count(), 1);
    let mine = lines(&out(
        a,
        &format!("admin audit --actor {ALICE_KEY} --limit 2 -o json"),
    ));
    assert_eq!(mine.len(), 2);
    assert!(mine.iter().all(|e| e["actor"] == ALICE_KEY));
    let r = ok(a, &w("admin audit --until 2000-01-01"));
    assert!(
        r.stdout.is_empty() && r.stderr.contains("No events."),
        "{r:?}"
    );
    let r = ok(a, &w("admin audit --since 2099-01-01 -o json"));
    assert!(r.stdout.is_empty(), "{r:?}");
    refused(
        &cli(a, &w("admin audit --action nonsense")),
        "not a known audit action",
    );
    assert_eq!(cli(a, &w("admin audit --since soon")).code, 2);
    assert_eq!(cli(a, &w("admin audit --follow --until 1h")).code, 2);

    // Alice reads her own events: by her, or about her and her tokens.
    let alice_id =
        json(&out(a, "admin tokens list alice@example.com -o json"))["user"]["id"].clone();
    let mut args = w("admin audit -o json --server");
    args.push(&srv.base);
    let r = with_token(a, &alice, &args);
    assert_eq!(r.code, 0, "{r:?}");
    let own = lines(&r.stdout);
    assert!(
        own.iter()
            .all(|e| e["actor"] == ALICE_KEY || e["targetUser"] == alice_id),
        "{own:?}"
    );
    assert!(
        own.iter()
            .any(|e| e["action"] == "pat.revoke" && e["actor"] != ALICE_KEY),
        "the administrator's revocation of her token: {own:?}"
    );
    assert!(own.iter().all(|e| e["action"] != "admin.policy_set"));
}

#[test]
fn audit_follow_prints_new_events_until_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let srv = DevServer::start(&dir.path().join("dev"), &[]);
    let cfg = dir.path().join("config");
    let c = cfg.as_path();
    let admin = srv.token(&[
        "--user",
        "admin",
        "--scope",
        "vso.tokenadministration vso.pats vso.pats_manage",
    ]);
    let alice = srv.token(&["--user", "alice"]);
    let create = |name: &str| {
        alice_creates(&srv, c, &alice, &format!("--name {name} --scope vso.code")).unwrap()
    };
    let before = create("before");

    let mut child = patrol(c)
        .args(w(
            "admin audit --follow --interval 1 --action pat.create -o json",
        ))
        .args(["--server", &srv.base])
        .env("PATROL_ACCESS_TOKEN", &admin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let next = |what: &str| {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no line for {what}"));
        json(&line)
    };
    // The backlog first: the event recorded before it started.
    assert_eq!(next("the backlog")["targetPat"], before.as_str());
    // Then the events recorded while it follows, each once.
    let after = create("after");
    let e = next("the new event");
    assert_eq!(e["targetPat"], after.as_str());
    assert_eq!(e["action"], "pat.create");
    let third = create("third");
    assert_eq!(next("the third event")["targetPat"], third.as_str());
    assert!(
        rx.recv_timeout(Duration::from_millis(2500)).is_err(),
        "each event once"
    );

    // Ctrl-C ends it cleanly.
    #[cfg(unix)]
    {
        let pid = child.id().to_string();
        assert!(Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success());
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break Some(s);
            }
            if Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let _ = child.kill();
        let status = status.expect("patrol admin audit --follow stops on Ctrl-C");
        assert_eq!(status.code(), Some(0));
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
}
