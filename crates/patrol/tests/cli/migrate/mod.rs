//! `patrol migrate` and start-up against the database, with the real binary:
//! migrating a fresh database and one up to date; `patrol serve` refusing to
//! start while migrations are pending (`[database] migrate_on_start =
//! false`); starting while PostgreSQL is down and becoming ready when it
//! arrives; copying a SQLite deployment into PostgreSQL (`copy.rs`).

mod copy;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{bin, client};

pub const KEY: &str = "5ac0ffee5ac0ffee5ac0ffee5ac0ffee5ac0ffee5ac0ffee5ac0ffee5ac0ffee";

/// `patrol <args>` with only `vars` (and a server key) in its environment.
pub fn patrol(args: &[&str], vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env_clear()
        .env("PATROL_SERVER_KEY", KEY)
        .envs(vars.iter().copied());
    cmd
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn fresh_postgres() -> String {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(patrol_store::test_support::fresh_database_url())
        .unwrap()
}

/// A `patrol serve` process, killed on drop.
pub struct Serve {
    pub child: Child,
    pub base: String,
}

impl Serve {
    /// Start `patrol serve` and wait for its "listening" line.
    pub fn start(config: &Path, vars: &[(&str, &str)], stderr: &Path) -> Serve {
        let mut child = patrol(&["serve", "--config", config.to_str().unwrap()], vars)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(stderr).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("patrol listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "no listening line: {line:?}; {}",
                    std::fs::read_to_string(stderr).unwrap_or_default()
                )
            })
            .to_owned();
        Serve { child, base }
    }

    pub fn status(&self, path: &str) -> u16 {
        client()
            .get(format!("{}{path}", self.base))
            .send()
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(dir: &Path, database: &str) -> std::path::PathBuf {
    let cfg = dir.join("patrol.toml");
    std::fs::write(
        &cfg,
        format!("[server]\nlisten = \"127.0.0.1:0\"\n\n[database]\n{database}\n"),
    )
    .unwrap();
    cfg
}

#[test]
fn migrate_applies_then_is_up_to_date_and_serve_refuses_pending_ones() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    let cfg = write_config(
        dir.path(),
        &format!("sqlite_path = {:?}\nmigrate_on_start = false", db),
    );
    let cfg = cfg.to_str().unwrap();

    // A database with migrations pending: serve refuses, naming them.
    let out = patrol(&["serve", "--config", cfg], &[]).output().unwrap();
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("migration(s) pending (0001 init"), "{err}");
    assert!(err.contains("Run `patrol migrate`"), "{err}");

    // Fresh: every migration applied, listed.
    let out = patrol(&["migrate", "--config", cfg], &[]).output().unwrap();
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(stdout.contains("applied 9 migration(s):"), "{stdout}");
    assert!(stdout.contains("  0001 init\n"), "{stdout}");
    assert!(stdout.contains("  0009 flat costs\n"), "{stdout}");

    // Again: nothing to do.
    let out = patrol(&["migrate", "--config", cfg], &[]).output().unwrap();
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    assert!(
        stdout.contains("schema up to date, nothing to apply"),
        "{stdout}"
    );

    // Now serve starts without migrating and is ready.
    let srv = Serve::start(Path::new(cfg), &[], &dir.path().join("serve.log"));
    assert_eq!(srv.status("/readyz"), 200);
}

#[test]
fn migrate_on_postgres_and_serve_refuses_a_database_behind() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_postgres();
    let cfg = write_config(dir.path(), "migrate_on_start = false");
    let cfg = cfg.to_str().unwrap();
    let vars = [("PATROL_DATABASE_URL", url.as_str())];
    let out = patrol(&["serve", "--config", cfg], &vars).output().unwrap();
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("migration(s) pending (0001 init"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let out = patrol(&["migrate", "--config", cfg], &vars)
        .output()
        .unwrap();
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(stdout.contains("PostgreSQL postgres://"), "{stdout}");
    assert!(stdout.contains("applied 3 migration(s):"), "{stdout}");
    let out = patrol(&["migrate", "--config", cfg], &vars)
        .output()
        .unwrap();
    assert!(text(&out).0.contains("nothing to apply"));
}

/// Forwards every connection on `listen` to `to` (a stand-in for a database
/// host that comes up later).
fn forward(listen: TcpListener, to: SocketAddr) {
    std::thread::spawn(move || {
        for conn in listen.incoming().flatten() {
            let Ok(upstream) = TcpStream::connect(to) else {
                continue;
            };
            for (mut a, mut b) in [
                (conn.try_clone().unwrap(), upstream.try_clone().unwrap()),
                (upstream, conn),
            ] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut a, &mut b);
                    let _ = b.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
}

#[test]
fn serve_starts_while_postgres_is_down_and_becomes_ready_when_it_answers() {
    let dir = tempfile::tempdir().unwrap();
    let real = url::Url::parse(&fresh_postgres()).unwrap();
    let to: SocketAddr = format!("127.0.0.1:{}", real.port().unwrap())
        .parse()
        .unwrap();
    // A port nobody listens on yet: the database is "down".
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut down = real.clone();
    down.set_port(Some(port)).unwrap();
    // The throwaway cluster trusts any password: this one must never show.
    down.set_password(Some("pg-s3cret")).unwrap();
    // The job runner would tick every second: it must wait for the store.
    let cfg = write_config(
        dir.path(),
        "acquire_timeout_secs = 1\n\n[notifications]\ntick_secs = 1",
    );
    let log = dir.path().join("serve.log");
    let srv = Serve::start(&cfg, &[("PATROL_DATABASE_URL", down.as_str())], &log);

    assert_eq!(srv.status("/healthz"), 200);
    let ready: serde_json::Value = client()
        .get(format!("{}/readyz", srv.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(ready["store"], false, "{ready}");
    assert_eq!(srv.status("/readyz"), 503);
    // Anything else gets 503 at once, in the Azure DevOps shape.
    let asked = Instant::now();
    let r = client()
        .get(format!("{}/patrol/v1/verify", srv.base))
        .basic_auth("", Some("x".repeat(52)))
        .send()
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(
        asked.elapsed() < Duration::from_millis(500),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(r.headers()["retry-after"], "5");
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(body["typeKey"], "ServiceUnavailableException", "{body}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(srv.status("/readyz"), 503, "still down");
    assert_eq!(srv.status("/healthz"), 200);

    // The database arrives: ready without a restart, schema migrated.
    forward(TcpListener::bind(("127.0.0.1", port)).unwrap(), to);
    let arrived = Instant::now();
    while srv.status("/readyz") != 200 {
        assert!(
            arrived.elapsed() < Duration::from_secs(30),
            "not ready 30 s after the database arrived: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "ready {} ms after the database arrived",
        arrived.elapsed().as_millis()
    );
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("the database does not answer"), "{logs}");
    assert!(logs.contains("store open: ready"), "{logs}");
    assert!(!logs.contains("panicked"), "{logs}");
    // No job runner noise while the database was down, and no password.
    assert!(!logs.contains("job runner tick failed"), "{logs}");
    assert!(!logs.contains("pg-s3cret"), "{logs}");
    let out = patrol(
        &["migrate", "--config", cfg.to_str().unwrap()],
        &[("PATROL_DATABASE_URL", real.as_str())],
    )
    .output()
    .unwrap();
    assert!(
        text(&out).0.contains("nothing to apply"),
        "{:?}",
        text(&out)
    );
}
