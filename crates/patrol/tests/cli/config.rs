//! Start-up of the real binary: `print-config` prints a configuration that
//! `serve` runs with; the environment overrides any key by one rule; unknown
//! keys and retired variables stop the start with a message naming them.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::{bin, client};

const EXAMPLE: &str = include_str!("../../../../docs/patrol.example.toml");

/// `patrol <args>` with only `vars` in its environment.
fn patrol(args: &[&str], vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(args).env_clear().envs(vars.iter().copied());
    cmd
}

fn run(args: &[&str], vars: &[(&str, &str)]) -> Output {
    patrol(args, vars).output().unwrap()
}

fn refused(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn print_config_prints_a_configuration_serve_runs_with() {
    let out = run(&["print-config"], &[]);
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(printed, EXAMPLE, "print-config is docs/patrol.example.toml");

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("patrol.toml");
    std::fs::write(&cfg, &printed).unwrap();
    let db = dir.path().join("from-env.db");
    let key = "ab".repeat(32);
    let mut child = patrol(
        &["serve", "--config", cfg.to_str().unwrap()],
        &[
            // The secrets the example names, and two keys from the environment.
            ("PATROL_KEY_2026_11", key.as_str()),
            ("PATROL_RS_GIT_GATEWAY_SECRET", "0123456789abcdef-secret"),
            ("PATROL_SERVER__LISTEN", "127.0.0.1:0"),
            ("PATROL_DATABASE__SQLITE_PATH", db.to_str().unwrap()),
            // The example's [cli] section, switched on.
            ("PATROL_CLI__ENABLED", "true"),
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("patrol listening on ")
        .map(str::to_owned);
    // Live, and its store answers (issuer keys cannot load: no network here).
    let ready = base.as_ref().map(|b| {
        client()
            .get(format!("{b}/readyz"))
            .send()
            .and_then(|r| r.json::<serde_json::Value>())
    });
    // It tells `patrol login` where to sign in.
    let cli = base.as_ref().map(|b| {
        client()
            .get(format!("{b}/patrol/v1/cli-config"))
            .send()
            .and_then(|r| r.json::<serde_json::Value>())
    });
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let base = base.unwrap_or_else(|| {
        panic!(
            "serve did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_ne!(
        base, "http://127.0.0.1:8080",
        "the environment's listen address won"
    );
    assert_eq!(ready.unwrap().unwrap()["store"], true);
    let cli = cli.unwrap().unwrap();
    assert_eq!(cli["client_id"], "66666666-7777-8888-9999-000000000000");
    assert!(cli["issuer"]
        .as_str()
        .unwrap()
        .starts_with("https://login.microsoftonline.com/"));
    assert!(
        Path::new(&db).exists(),
        "the environment's database path won"
    );
}

#[test]
fn unknown_keys_stop_the_start_and_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("p.toml");
    std::fs::write(&cfg, "[server]\nlisten = \"127.0.0.1:0\"\nlisen = \"x\"\n").unwrap();
    let key = "ab".repeat(32);
    let err = refused(&run(
        &["serve", "--config", cfg.to_str().unwrap()],
        &[("PATROL_SERVER_KEY", &key)],
    ));
    assert!(err.contains("p.toml") && err.contains("`lisen`"), "{err}");

    std::fs::write(&cfg, "[server]\nlisten = \"127.0.0.1:0\"\n").unwrap();
    let err = refused(&run(
        &["serve", "--config", cfg.to_str().unwrap()],
        &[
            ("PATROL_SERVER_KEY", &key),
            ("PATROL_VERIFY__CACHE_TTL", "2"),
        ],
    ));
    assert!(
        err.contains("PATROL_VERIFY__CACHE_TTL") && err.contains("`cache_ttl`"),
        "{err}"
    );
    let err = refused(&run(
        &["serve", "--config", cfg.to_str().unwrap()],
        &[
            ("PATROL_SERVER_KEY", &key),
            ("PATROL_LISTEN", "127.0.0.1:0"),
        ],
    ));
    assert!(err.contains("PATROL_SERVER__LISTEN"), "{err}");
    // `patrol dev` reads the environment by the same rule.
    let err = refused(&run(
        &[
            "dev",
            "--port",
            "0",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        &[("PATROL_TOKENS__MAX_LIFETIME_DAYS", "0")],
    ));
    assert!(err.contains("tokens.max_lifetime_days"), "{err}");
}

#[test]
fn secrets_come_from_one_place_and_are_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("p.toml");
    std::fs::write(
        &cfg,
        "[server]\nlisten = \"127.0.0.1:0\"\n[[verify.resource_servers]]\nclient_id = \"gw\"\nsecret = { env = \"GW_SECRET\" }\n",
    )
    .unwrap();
    let key = "ab".repeat(32);
    let err = refused(&run(
        &["serve", "--config", cfg.to_str().unwrap()],
        &[("PATROL_SERVER_KEY", &key), ("GW_SECRET", "too-short")],
    ));
    assert!(
        err.contains("resource server 'gw'") && err.contains("16"),
        "{err}"
    );
    assert!(!err.contains("too-short"), "{err}");
    let err = refused(&run(
        &["serve", "--config", cfg.to_str().unwrap()],
        &[
            ("PATROL_SERVER_KEY", &key),
            ("PATROL_SERVER_KEY_FILE", "/run/secrets/key"),
        ],
    ));
    assert!(err.contains("not both"), "{err}");
    let err = refused(&run(
        &["serve", "--config", cfg.to_str().unwrap()],
        &[
            ("PATROL_SERVER_KEY", &key),
            ("PATROL_WEB__CLIENT_SECRET", "hunter2-literal"),
        ],
    ));
    assert!(
        err.contains("never written") && !err.contains("hunter2"),
        "{err}"
    );
}
