//! A SQLite deployment written by the real server (`patrol dev`: tokens
//! created, one revoked, audit records, notices) copied into PostgreSQL with
//! `patrol migrate --from-sqlite`; the same data directory (server key,
//! issuer) then served from PostgreSQL verifies and refuses exactly the
//! same tokens, lists the same tokens and reads the same audit log.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{fresh_postgres, text};
use crate::support::{bin, client, DevServer};

const API: &str = "api-version=7.1-preview.1";

/// What a server says about the deployment's tokens and audit log (reading
/// them writes nothing).
#[derive(Debug, PartialEq)]
struct Seen {
    alice_list: Value,
    bob_list: Value,
    alice_audit: Value,
}

/// How `/patrol/v1/verify` answers each secret (this writes last use and
/// audit records).
fn verify(srv: &DevServer, secrets: &[String]) -> Vec<u16> {
    secrets
        .iter()
        .map(|s| {
            client()
                .get(format!("{}/patrol/v1/verify", srv.base))
                .basic_auth("", Some(s))
                .send()
                .unwrap()
                .status()
                .as_u16()
        })
        .collect()
}

fn look(srv: &DevServer) -> Seen {
    let http = client();
    let list = |user: &str| -> Value {
        let jwt = srv.token(&["--user", user]);
        http.get(format!(
            "{}/fabrikam/_apis/tokens/pats?{API}&displayFilterOption=all",
            srv.base
        ))
        .bearer_auth(jwt)
        .send()
        .unwrap()
        .json()
        .unwrap()
    };
    let alice = srv.token(&["--user", "alice"]);
    let alice_audit: Value = http
        .get(format!("{}/patrol/v1/audit?top=1000", srv.base))
        .bearer_auth(&alice)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let (alice_list, bob_list) = (list("alice"), list("bob"));
    Seen {
        alice_list,
        bob_list,
        alice_audit,
    }
}

#[test]
fn a_sqlite_deployment_copied_into_postgres_keeps_its_tokens_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    let http = client();
    let mut secrets = Vec::new();
    {
        let srv = DevServer::start(dir.path(), &[]);
        let url = format!("{}/fabrikam/_apis/tokens/pats?{API}", srv.base);
        let mut ids = Vec::new();
        for (user, name) in [
            ("alice", "ci"),
            ("alice", "deploy"),
            ("alice", "old"),
            ("bob", "b1"),
        ] {
            let created: Value = http
                .post(&url)
                .bearer_auth(srv.token(&["--user", user]))
                .json(&json!({"displayName": name, "scope": "vso.code", "allOrgs": false}))
                .send()
                .unwrap()
                .json()
                .unwrap();
            assert_eq!(created["patTokenError"], "none", "{created}");
            secrets.push(created["patToken"]["token"].as_str().unwrap().to_owned());
            ids.push(
                created["patToken"]["authorizationId"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        let revoked = http
            .delete(format!("{url}&authorizationId={}", ids[2]))
            .bearer_auth(srv.token(&["--user", "alice"]))
            .send()
            .unwrap();
        assert!(revoked.status().is_success(), "{revoked:?}");
        // A secret altered in transit is refused too.
        let mut unknown = secrets[0].clone();
        unknown.replace_range(
            0..4,
            if &unknown[0..4] == "AAAA" {
                "BBBB"
            } else {
                "AAAA"
            },
        );
        secrets.push(unknown);
        assert_eq!(verify(&srv, &secrets), [200, 200, 401, 200, 401]);
    };
    // Read once the last uses are written (at the server's stop).
    let before = look(&DevServer::start(dir.path(), &[]));
    assert_eq!(before.alice_list["patTokens"].as_array().unwrap().len(), 3);
    assert!(
        before.alice_list["patTokens"][0]["lastUsedAt"].is_string(),
        "{before:?}"
    );
    let db = dir.path().join("patrol.db");
    let key_file = dir.path().join("server-key");
    assert!(key_file.is_file(), "the dev server key file");
    let pg = fresh_postgres();
    let copy = |url: &str| {
        std::process::Command::new(bin())
            .args(["migrate", "--from-sqlite"])
            .arg(&db)
            .env_clear()
            .env("PATROL_DATABASE_URL", url)
            .env("PATROL_SERVER_KEY_FILE", &key_file)
            .output()
            .unwrap()
    };
    let out = copy(&pg);
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{stdout}\n{err}");
    eprintln!("{stdout}");
    let counts: BTreeMap<&str, u64> = stdout
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (t, n, rows) = (w.next()?, w.next()?, w.next()?);
            (rows == "rows").then(|| (t, n.parse().unwrap()))
        })
        .collect();
    assert_eq!(counts["users"], 3, "{stdout}");
    assert_eq!(counts["pats"], 4, "{stdout}");
    assert_eq!(counts["organizations"], 2, "{stdout}");
    assert!(counts["audit_events"] >= 5, "{stdout}");
    assert!(counts["outbox"] >= 1, "{stdout}");
    assert!(
        stdout.contains("every table's count matches SQLite's"),
        "{stdout}"
    );

    // Copying again is refused: the target is no longer empty.
    let again = copy(&pg);
    let (_, err) = text(&again);
    assert_eq!(again.status.code(), Some(2), "{err}");
    assert!(err.contains("not empty"), "{err}");

    // The same data directory, served from PostgreSQL.
    std::fs::rename(&db, dir.path().join("patrol.db.copied")).unwrap();
    let srv = DevServer::start(dir.path(), &[("PATROL_DATABASE_URL", pg.as_str())]);
    assert!(
        srv.stderr().contains("database=PostgreSQL"),
        "{}",
        srv.stderr()
    );
    assert_eq!(look(&srv), before);
    assert_eq!(verify(&srv, &secrets), [200, 200, 401, 200, 401]);
}
