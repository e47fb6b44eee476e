//! Failures in plain words with documented exit codes (1 refused, 2 usage or
//! local, 3 cannot reach the server), the pipeline path that writes nothing,
//! completions and `--help` examples.

use std::io::{Read as _, Write as _};

use super::{cli, ok, patrol, run, with_token};
use crate::support::DevServer;

/// One line on stderr, `error: …`.
fn one_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    lines[0]
}

#[test]
fn pipelines_refusals_and_policies_in_plain_words() {
    let dir = tempfile::tempdir().unwrap();
    let srv = DevServer::start(
        &dir.path().join("dev"),
        &[("PATROL_TOKENS__MAX_ACTIVE_PER_USER", "2")],
    );
    let cfg = dir.path().join("config");
    let c = cfg.as_path();
    let alice = srv.token(&["--user", "alice"]);
    let base = srv.base.as_str();
    // `patrol ARGS --server <dev> --org fabrikam` with PATROL_ACCESS_TOKEN.
    let go = |token: &str, args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--server", base, "--org", "fabrikam"]);
        with_token(c, token, &all)
    };

    // PATROL_ACCESS_TOKEN + --server: works, and nothing is written to disk.
    let r = go(&alice, &["token", "create", "--scope", "vso.code"]);
    assert_eq!(r.code, 0, "{r:?}");
    // PATROL_SERVER and PATROL_ORG work as well as the flags.
    let r = run(patrol(c)
        .env("PATROL_ACCESS_TOKEN", &alice)
        .env("PATROL_SERVER", base)
        .env("PATROL_ORG", "fabrikam")
        .args(["token", "create", "--scope", "vso.code", "-o", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!c.exists(), "the pipeline path writes nothing");

    // The server's max_active_per_user policy: exit 1, its reason in words.
    let r = go(&alice, &["token", "create", "--scope", "vso.code"]);
    assert_eq!(r.code, 1, "{r:?}");
    let line = one_line(&r.stderr);
    assert!(
        line.contains("refused by the server") && line.contains("SessionTokenCreateException"),
        "{line}"
    );
    assert!(line.contains('2'), "the limit is named: {line}");
    assert_eq!(r.stdout, "");

    // A patTokenError, translated: an unknown id.
    let r = go(
        &alice,
        &["token", "show", "3d3a4c4e-1c8c-4f5e-9a55-4f6c7d0b9a11"],
    );
    assert_eq!(r.code, 1);
    assert!(
        one_line(&r.stderr).contains("no token with this id (or it is not yours) (tokenNotFound)")
    );
    // An unknown scope, named.
    let bob = srv.token(&["--user", "bob"]);
    let r = go(
        &bob,
        &["token", "create", "--scope", "vso.code vso.nonsense"],
    );
    assert_eq!(r.code, 1);
    assert!(
        one_line(&r.stderr).contains("(invalidScope): unknown scope vso.nonsense"),
        "{}",
        r.stderr
    );
    // Revoking an id that is not yours: the server's 404 message.
    let r = go(
        &alice,
        &["token", "revoke", "3d3a4c4e-1c8c-4f5e-9a55-4f6c7d0b9a11"],
    );
    assert_eq!(r.code, 1);
    assert!(
        one_line(&r.stderr).contains("SessionTokenNotFoundException"),
        "{}",
        r.stderr
    );

    // RFC 6750 insufficient_scope: the missing scope is named.
    let read_only = srv.token(&["--user", "bob", "--scope", "vso.pats"]);
    let r = go(&read_only, &["token", "create", "--scope", "vso.code"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        one_line(&r.stderr).contains("lacks the scope 'vso.pats_manage'"),
        "{}",
        r.stderr
    );
    // Reading works with it.
    assert_eq!(go(&read_only, &["token", "list"]).code, 0);

    // A token the server does not accept (a service principal's; garbage).
    let sp = srv.token(&["--service-principal"]);
    let r = go(&sp, &["token", "list"]);
    assert_eq!(r.code, 1);
    assert!(
        one_line(&r.stderr).contains("Service principals are not allowed"),
        "{}",
        r.stderr
    );
    let r = go("a.b.c", &["token", "list"]);
    assert_eq!(r.code, 1);
    assert!(
        one_line(&r.stderr).contains("PATROL_ACCESS_TOKEN"),
        "{}",
        r.stderr
    );
    // An organization that does not exist.
    let r = with_token(
        c,
        &alice,
        &["token", "list", "--server", base, "--org", "nowhere"],
    );
    assert_eq!(r.code, 1);
    assert!(
        one_line(&r.stderr).contains("'nowhere' does not exist"),
        "{}",
        r.stderr
    );
    assert!(!c.exists(), "still nothing written");
}

#[test]
fn an_unreachable_server_is_exit_3_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let server = format!("http://127.0.0.1:{closed}");
    let r = with_token(
        c,
        "a.b.c",
        &["token", "list", "--server", &server, "--org", "fabrikam"],
    );
    assert_eq!(r.code, 3, "{r:?}");
    let line = one_line(&r.stderr);
    assert!(
        line.contains("cannot reach the Patrol server at") && line.contains(&server),
        "{line}"
    );
    let r = cli(c, &["login", "--server", &server, "--no-browser"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(one_line(&r.stderr).contains("cannot reach"), "{}", r.stderr);
}

/// A one-shot HTTP server that answers `status` with `body` to one request.
fn answer_once(status: &'static str, body: &'static str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    base
}

#[test]
fn a_server_without_command_line_sign_in_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let base = answer_once(
        "404 Not Found",
        r#"{"message":"nope","typeKey":"NotFoundException"}"#,
    );
    let r = cli(dir.path(), &["login", "--server", &base, "--no-browser"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        one_line(&r.stderr).contains("offers no command-line sign-in"),
        "{}",
        r.stderr
    );
    let base = answer_once("200 OK", r#"{"hello":"world"}"#);
    let r = cli(dir.path(), &["login", "--server", &base, "--no-browser"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        one_line(&r.stderr).contains("not a Patrol sign-in document"),
        "{}",
        r.stderr
    );
    // A redirect is never followed (it could carry the token elsewhere).
    let base = answer_once("302 Found\r\nLocation: https://elsewhere.example/", "");
    let r = cli(dir.path(), &["login", "--server", &base, "--no-browser"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        one_line(&r.stderr).contains("answered with a redirect"),
        "{}",
        r.stderr
    );
    assert!(!dir.path().join("credentials.json").exists());
}

#[test]
fn usage_errors_are_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path();
    for (args, says) in [
        (vec!["token", "list"], "not signed in"),
        (vec!["logout"], ""),
        (vec!["login", "--no-browser"], "--server"),
        (
            vec!["login", "--server", "http://patrol.example.com"],
            "plain http",
        ),
        (
            vec!["token", "list", "--server", "https://patrol.example.com"],
            "not signed in to https://patrol.example.com",
        ),
        (vec!["token", "show", "not-a-uuid"], "invalid value"),
        (
            vec!["token", "create", "--expires-in", "30m"],
            "the unit must be d, w or h",
        ),
        (
            vec!["token", "create", "--expires-on", "tomorrow"],
            "is not a date",
        ),
        (
            vec![
                "token",
                "create",
                "--expires-in",
                "3d",
                "--expires-on",
                "2027-01-01",
            ],
            "cannot be used with",
        ),
        (vec!["token", "list", "--status", "gone"], "invalid value"),
        (vec!["completions", "tcsh"], "invalid value"),
    ] {
        let r = cli(c, &args);
        if args == ["logout"] {
            assert_eq!(r.code, 0, "logout when signed out is fine: {r:?}");
            continue;
        }
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
    }
    // With a token from the environment, flags are still checked locally first.
    for (args, says) in [
        (vec!["token", "list", "--org", "fabrikam"], "PATROL_SERVER"),
        (
            vec!["token", "list", "--server", "https://p.example"],
            "no organization",
        ),
        (
            vec![
                "token",
                "list",
                "--server",
                "https://p.example",
                "--org",
                "no spaces",
            ],
            "not a valid organization",
        ),
        (
            vec![
                "token",
                "create",
                "--server",
                "https://p.example",
                "--org",
                "fabrikam",
            ],
            "--scope is required",
        ),
        (
            vec![
                "token",
                "update",
                "3d3a4c4e-1c8c-4f5e-9a55-4f6c7d0b9a11",
                "--server",
                "https://p.example",
                "--org",
                "fabrikam",
            ],
            "nothing to change",
        ),
    ] {
        let r = with_token(c, "a.b.c", &args);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(one_line(&r.stderr).contains(says), "{args:?}: {}", r.stderr);
    }
    // rotate --write-to a directory that does not exist fails before regenerating.
    let r = with_token(
        c,
        "a.b.c",
        &[
            "token",
            "rotate",
            "3d3a4c4e-1c8c-4f5e-9a55-4f6c7d0b9a11",
            "--write-to",
            "/nonexistent/dir/x",
            "--server",
            "http://127.0.0.1:1",
            "--org",
            "fabrikam",
        ],
    );
    assert_eq!(r.code, 2, "not 3: nothing was sent: {r:?}");
    assert!(
        one_line(&r.stderr).contains("cannot write /nonexistent/dir/x"),
        "{}",
        r.stderr
    );
}

#[test]
fn completions_and_help_with_examples() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let r = ok(dir.path(), &["completions", shell]);
        assert!(r.stdout.len() > 1000, "{shell}");
        for word in [
            "login",
            "logout",
            "rotate",
            "regenerate",
            "expires-in",
            "write-to",
        ] {
            assert!(r.stdout.contains(word), "{shell} completes {word}");
        }
    }
    let commands: &[&[&str]] = &[
        &[],
        &["serve"],
        &["dev"],
        &["dev", "token"],
        &["login"],
        &["logout"],
        &["token"],
        &["token", "inspect"],
        &["token", "list"],
        &["token", "show"],
        &["token", "create"],
        &["token", "update"],
        &["token", "regenerate"],
        &["token", "revoke"],
        &["token", "rotate"],
        &["completions"],
        &["print-config"],
    ];
    for path in commands {
        let mut args = path.to_vec();
        args.push("--help");
        let r = ok(dir.path(), &args);
        assert!(
            r.stdout.contains("Examples:"),
            "patrol {path:?} --help has examples:\n{}",
            r.stdout
        );
    }
    let top = ok(dir.path(), &["--help"]).stdout;
    assert!(
        top.contains("1 refused by the server") && top.contains("3 cannot reach the server"),
        "{top}"
    );
}
