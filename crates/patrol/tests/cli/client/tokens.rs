//! Every `patrol token` subcommand in both output formats, signed in through
//! the dev issuer's page; every secret printed is then looked for where it
//! must not be: standard error, and every file but the one `--write-to` named.

use serde_json::Value;

use super::{cli, files_under, login, ok, secret_in};
use crate::support::DevServer;

/// What a JSON answer says.
fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[cfg(unix)]
fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn every_token_command_in_both_formats_and_secrets_only_where_asked() {
    let dir = tempfile::tempdir().unwrap();
    let srv = DevServer::start(&dir.path().join("dev"), &[]);
    let cfg = dir.path().join("config");
    let c = cfg.as_path();
    let mut stderrs: Vec<String> = Vec::new();
    let mut secrets: Vec<String> = Vec::new();

    let signed_in = login(&srv, c, "alice", &["--org", "fabrikam"]);
    assert_eq!(signed_in.code, 0, "{signed_in:?}");
    assert!(
        signed_in
            .stdout
            .contains("as Alice Example (alice@example.com)"),
        "{signed_in:?}"
    );
    assert!(signed_in.stdout.contains("Default organization: fabrikam"));
    stderrs.push(signed_in.stderr);
    #[cfg(unix)]
    {
        assert_eq!(mode(c), 0o700);
        assert_eq!(mode(&c.join("credentials.json")), 0o600);
    }

    // create: table (the secret on stdout, once) and JSON (only inside it).
    let r = ok(
        c,
        &[
            "token",
            "create",
            "--name",
            "ci",
            "--scope",
            "vso.code",
            "--expires-in",
            "30d",
        ],
    );
    let first = secret_in(&r.stdout);
    assert!(r.stdout.contains("organizations: fabrikam"), "{}", r.stdout);
    assert!(r.stdout.contains("scopes:        vso.code"));
    assert!(r.stderr.contains("only time"), "{}", r.stderr);
    secrets.push(first.clone());
    stderrs.push(r.stderr);
    let r = ok(
        c,
        &[
            "token",
            "create",
            "--name",
            "deploy",
            "--scope",
            "vso.build vso.code",
            "--scope",
            "vso.work",
            "--expires-on",
            "2099-01-31",
            "--all-orgs",
            "--output",
            "json",
        ],
    );
    let deploy = json(&r.stdout);
    assert_eq!(deploy["displayName"], "deploy");
    assert_eq!(deploy["scope"], "vso.build vso.code vso.work");
    assert!(deploy["targetAccounts"].is_null(), "--all-orgs: {deploy}");
    assert_eq!(deploy["status"], "active");
    let deploy_secret = deploy["token"].as_str().unwrap().to_owned();
    assert_eq!(deploy_secret.len(), 84);
    // The server's maximum lifetime capped 2099, and the CLI said so.
    assert!(r.stderr.contains("capped the expiration"), "{}", r.stderr);
    assert!(
        !r.stdout.lines().any(|l| l.trim() == deploy_secret),
        "only inside the JSON"
    );
    secrets.push(deploy_secret.clone());
    stderrs.push(r.stderr);
    let deploy_id = deploy["authorizationId"].as_str().unwrap().to_owned();

    // The secret is a real, working token.
    let inspected = ok(c, &["token", "inspect", &first]);
    assert!(inspected.stdout.contains("valid:      yes"));

    // list: table and JSON (every page; all of the user's tokens).
    let r = ok(c, &["token", "list"]);
    let header = r.stdout.lines().next().unwrap();
    for col in [
        "ID",
        "NAME",
        "STATUS",
        "EXPIRES",
        "ORGANIZATIONS",
        "SCOPES",
        "LAST USED",
    ] {
        assert!(header.contains(col), "{header}");
    }
    assert!(r.stdout.contains("ci") && r.stdout.contains("deploy") && r.stdout.contains("(all)"));
    stderrs.push(r.stderr);
    let r = ok(
        c,
        &[
            "token", "list", "--output", "json", "--sort", "expires", "--desc",
        ],
    );
    let listed = json(&r.stdout);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["deploy", "ci"], "expiry, descending");
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["token"].is_null()));
    let ci_id = listed[1]["authorizationId"].as_str().unwrap().to_owned();

    // show.
    let r = ok(c, &["token", "show", &ci_id]);
    assert!(
        r.stdout.contains(&format!("id:            {ci_id}"))
            && r.stdout.contains("status:        active")
    );
    assert!(
        !r.stdout.contains("token:"),
        "no secret outside create/regenerate"
    );
    let r = ok(c, &["token", "show", &ci_id, "-o", "json"]);
    assert_eq!(json(&r.stdout)["displayName"], "ci");

    // update: name and scope (table), expiry and organizations (JSON).
    let r = ok(
        c,
        &[
            "token",
            "update",
            &ci_id,
            "--name",
            "ci-2",
            "--scope",
            "vso.code_write",
        ],
    );
    assert!(
        r.stdout.contains("name:          ci-2") && r.stdout.contains("vso.code_write"),
        "{}",
        r.stdout
    );
    let r = ok(
        c,
        &[
            "token",
            "update",
            &ci_id,
            "--expires-in",
            "2w",
            "--all-orgs",
            "-o",
            "json",
        ],
    );
    let updated = json(&r.stdout);
    assert!(updated["targetAccounts"].is_null());
    assert!(updated["token"].is_null());
    let r = ok(
        c,
        &["token", "update", &ci_id, "--all-orgs=false", "-o", "json"],
    );
    assert_eq!(
        json(&r.stdout)["targetAccounts"].as_array().unwrap().len(),
        1
    );

    // regenerate: table and JSON; each secret differs and the old one is gone.
    let r = ok(c, &["token", "regenerate", &ci_id]);
    let regenerated = secret_in(&r.stdout);
    assert_ne!(regenerated, first);
    secrets.push(regenerated.clone());
    stderrs.push(r.stderr);
    let r = ok(c, &["token", "regenerate", &ci_id, "--output", "json"]);
    let again = json(&r.stdout)["token"].as_str().unwrap().to_owned();
    assert_ne!(again, regenerated);
    secrets.push(again);
    stderrs.push(r.stderr);

    // rotate: only the secret on stdout; or into a 0600 file; or in JSON.
    let r = ok(c, &["token", "rotate", &ci_id]);
    let rotated = r.stdout.trim_end_matches('\n').to_owned();
    assert_eq!(rotated.len(), 84, "nothing but the secret: {:?}", r.stdout);
    assert!(!rotated.contains(char::is_whitespace));
    secrets.push(rotated);
    stderrs.push(r.stderr);
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let target = out_dir.join("git-token");
    std::fs::write(&target, "old content").unwrap();
    let r = ok(
        c,
        &[
            "token",
            "rotate",
            &ci_id,
            "--write-to",
            target.to_str().unwrap(),
        ],
    );
    let written = std::fs::read_to_string(&target).unwrap();
    assert_eq!(written.len(), 84, "no trailing newline: {written:?}");
    assert!(!r.stdout.contains(&written), "{}", r.stdout);
    assert!(
        r.stdout.contains("Rotated 'ci-2'") && r.stdout.contains("git-token"),
        "{}",
        r.stdout
    );
    #[cfg(unix)]
    assert_eq!(mode(&target), 0o600);
    assert_eq!(
        std::fs::read_dir(&out_dir).unwrap().count(),
        1,
        "no temporary file left"
    );
    stderrs.push(r.stderr);
    let r = ok(
        c,
        &[
            "token",
            "rotate",
            &ci_id,
            "--write-to",
            target.to_str().unwrap(),
            "-o",
            "json",
        ],
    );
    let file_secret = std::fs::read_to_string(&target).unwrap();
    assert_ne!(file_secret, written);
    assert!(
        json(&r.stdout)["token"].is_null(),
        "written to the file, not printed"
    );
    stderrs.push(r.stderr);
    let r = ok(c, &["token", "rotate", &ci_id, "-o", "json"]);
    let json_rotated = json(&r.stdout)["token"].as_str().unwrap().to_owned();
    secrets.push(json_rotated);
    stderrs.push(r.stderr);

    // revoke: table and JSON; revoked tokens are listed as such.
    let r = ok(c, &["token", "revoke", &ci_id]);
    assert_eq!(r.stdout.trim(), format!("Revoked {ci_id}."));
    let r = ok(c, &["token", "revoke", &deploy_id, "--output", "json"]);
    assert_eq!(json(&r.stdout)["revoked"], true);
    let r = ok(c, &["token", "list", "--status", "revoked", "-o", "json"]);
    let revoked = json(&r.stdout);
    assert_eq!(revoked.as_array().unwrap().len(), 2);
    assert!(revoked
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["status"] == "revoked" && t["revokedAt"].is_string()));
    let r = ok(c, &["token", "list", "--status", "all", "--sort", "status"]);
    assert_eq!(
        r.stdout.lines().filter(|l| l.contains("revoked")).count(),
        2,
        "{}",
        r.stdout
    );
    let r = ok(c, &["token", "list"]);
    assert_eq!(r.stdout.trim(), "No tokens.");

    // Organizations from the flag override the one chosen at login.
    let r = ok(
        c,
        &[
            "token", "create", "--org", "contoso", "--scope", "vso.code", "-o", "json",
        ],
    );
    let in_contoso = json(&r.stdout);
    secrets.push(in_contoso["token"].as_str().unwrap().to_owned());
    let r = ok(
        c,
        &[
            "token",
            "show",
            in_contoso["authorizationId"].as_str().unwrap(),
            "--org",
            "contoso",
        ],
    );
    assert!(r.stdout.contains("organizations: contoso"), "{}", r.stdout);

    // No secret on any stderr, nor in any file but the one asked for.
    let mut files = files_under(c);
    files.extend(files_under(&dir.path().join("dev")));
    assert!(files.iter().any(|f| f.ends_with("credentials.json")));
    secrets.push(written);
    for secret in &secrets {
        for err in &stderrs {
            assert!(!err.contains(secret.as_str()), "secret on stderr: {err}");
        }
        for f in &files {
            let bytes = std::fs::read(f).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(secret.as_str()),
                "secret in {}",
                f.display()
            );
        }
    }
    assert!(std::fs::read_to_string(&target).unwrap() == file_secret);

    // logout forgets the sign-in; later commands say how to sign in.
    let r = ok(c, &["logout"]);
    assert!(r.stdout.contains("Signed out of"), "{r:?}");
    assert!(!c.join("credentials.json").exists());
    let r = cli(c, &["token", "list"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("patrol login"), "{}", r.stderr);
    let r = ok(c, &["logout"]);
    assert!(r.stdout.contains("Not signed in"), "{r:?}");
}
