//! The command-line client (`patrol login`, `logout`, `token …`,
//! `completions`) run as a real process against `patrol dev`. A test plays
//! the browser: it follows the authorize URL the CLI prints, submits the dev
//! issuer's sign-in form, and lets the redirect reach the CLI's loopback
//! listener.

mod errors;
mod login;
mod tokens;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::{bin, DevServer};

/// What one run printed, and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// `patrol` with a clean environment: its configuration directory is `cfg`,
/// no server, organization or token comes from the test's environment, no
/// browser can open, and no proxy stands between it and 127.0.0.1.
pub fn patrol(cfg: &Path) -> Command {
    let mut cmd = Command::new(bin());
    for var in [
        "PATROL_SERVER",
        "PATROL_ORG",
        "PATROL_ACCESS_TOKEN",
        "PATROL_DATA_DIR",
        "DISPLAY",
        "WAYLAND_DISPLAY",
        "BROWSER",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("PATROL_CONFIG_DIR", cfg).stdin(Stdio::null());
    cmd
}

/// Runs to the end; a panic is never an acceptable way to fail.
pub fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    };
    assert!(!run.stderr.contains("panicked"), "{run:?}");
    run
}

/// `patrol ARGS` as the user signed in with `cfg`.
pub fn cli(cfg: &Path, args: &[&str]) -> Run {
    run(patrol(cfg).args(args))
}

/// Like [`cli`], and it must succeed.
pub fn ok(cfg: &Path, args: &[&str]) -> Run {
    let r = cli(cfg, args);
    assert_eq!(r.code, 0, "patrol {args:?}: {r:?}");
    r
}

/// `patrol ARGS` with `PATROL_ACCESS_TOKEN` (the pipeline path).
pub fn with_token(cfg: &Path, token: &str, args: &[&str]) -> Run {
    run(patrol(cfg).env("PATROL_ACCESS_TOKEN", token).args(args))
}

/// The dev issuer's form fields, unescaped: `<input type="hidden" name=… value=…>`.
pub fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find("<input type=\"hidden\" name=\"") {
        rest = &rest[at + 27..];
        let (name, after) = rest.split_once('"').unwrap();
        let after = after.strip_prefix(" value=\"").unwrap();
        let (value, after) = after.split_once('"').unwrap();
        out.push((unescape(name), unescape(value)));
        rest = after;
    }
    out
}

/// HTML character references as askama writes them (`&#38;`, `&#34;`, …).
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let (entity, after) = rest[at + 1..].split_once(';').unwrap();
        let c = match entity {
            "amp" => '&',
            "quot" => '"',
            "lt" => '<',
            "gt" => '>',
            "apos" => '\'',
            e => char::from_u32(e.strip_prefix('#').unwrap().parse().unwrap()).unwrap(),
        };
        out.push(c);
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Plays the browser for an authorize URL the CLI printed: the sign-in page,
/// the form posted as `user`, and the redirect to the CLI's loopback listener.
pub fn sign_in_in_browser(authorize_url: &str, user: &str) {
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let page = http.get(authorize_url).send().unwrap();
    assert_eq!(page.status(), 200);
    let mut form = hidden_inputs(&page.text().unwrap());
    let redirect = form
        .iter()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.clone())
        .unwrap();
    assert!(
        redirect.starts_with("http://127.0.0.1:") && redirect.ends_with("/callback"),
        "RFC 8252 loopback redirect: {redirect}"
    );
    form.push(("username".into(), user.into()));
    let action = authorize_url.split_once('?').unwrap().0;
    let posted = http.post(action).form(&form).send().unwrap();
    assert_eq!(posted.status(), 302, "{:?}", posted.text());
    let location = posted.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&redirect), "{location}");
    let back = http.get(&location).send().unwrap();
    assert_eq!(back.status(), 200);
    assert!(back.text().unwrap().contains("Signed in"));
}

/// A `patrol login` in progress: its stderr lines arrive on a channel.
pub struct PendingLogin {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl PendingLogin {
    pub fn start(cfg: &Path, args: &[&str]) -> PendingLogin {
        let mut child = patrol(cfg)
            .arg("login")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                if tx.send(line.unwrap_or_default()).is_err() {
                    break;
                }
            }
        });
        PendingLogin {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The authorize URL the CLI printed.
    pub fn authorize_url(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no authorize URL; stderr so far: {:?}", self.seen));
            self.seen.push(line.clone());
            if let Some(at) = line.find("http://") {
                if line.contains("/oidc/authorize?") {
                    return line[at..].trim().to_owned();
                }
            }
        }
    }

    /// Waits for the process to end.
    pub fn finish(mut self) -> Run {
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("patrol login did not finish; stderr: {:?}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut stdout = String::new();
        std::io::Read::read_to_string(&mut self.child.stdout.take().unwrap(), &mut stdout).unwrap();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        let run = Run {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr: self.seen.join("\n"),
        };
        assert!(!run.stderr.contains("panicked"), "{run:?}");
        run
    }
}

impl Drop for PendingLogin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `patrol login --server <dev> ARGS` through the dev issuer's page as `user`.
pub fn login(srv: &DevServer, cfg: &Path, user: &str, args: &[&str]) -> Run {
    let mut all = vec!["--server", srv.base.as_str(), "--no-browser"];
    all.extend_from_slice(args);
    let mut pending = PendingLogin::start(cfg, &all);
    let url = pending.authorize_url();
    assert!(
        url.starts_with(&format!("{}/oidc/authorize?", srv.base)),
        "{url}"
    );
    sign_in_in_browser(&url, user);
    pending.finish()
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The stored sign-in, as JSON.
pub fn credentials(cfg: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(cfg.join("credentials.json")).unwrap()).unwrap()
}

/// The one stored login.
pub fn stored_login(cfg: &Path) -> serde_json::Value {
    let creds = credentials(cfg);
    let logins = creds["logins"].as_object().unwrap();
    assert_eq!(logins.len(), 1, "{creds}");
    logins.values().next().unwrap().clone()
}

/// Rewrites the stored login with `edit`.
pub fn edit_login(cfg: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut creds = credentials(cfg);
    let login = creds["logins"]
        .as_object_mut()
        .unwrap()
        .values_mut()
        .next()
        .unwrap();
    edit(login);
    std::fs::write(cfg.join("credentials.json"), creds.to_string()).unwrap();
}

/// The 84-character secret in `key: value` output (`token:   …`).
pub fn secret_in(text: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.starts_with("token:"))
        .unwrap_or_else(|| panic!("no token line in {text}"));
    let secret = line.trim_start_matches("token:").trim().to_owned();
    assert_eq!(secret.len(), 84, "{secret}");
    secret
}

#[test]
fn hidden_inputs_are_unescaped() {
    let html = r#"<input type="hidden" name="state" value="a&#38;b&#34;c"><input type="hidden" name="x" value="">"#;
    assert_eq!(
        hidden_inputs(html),
        [
            ("state".into(), "a&b\"c".into()),
            ("x".into(), String::new())
        ]
    );
}
