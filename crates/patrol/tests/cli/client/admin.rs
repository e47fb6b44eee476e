//! Every `patrol admin` subcommand but `audit` (in `admin_audit.rs`), in
//! both output formats, against `patrol dev`, signed in through the dev
//! issuer's page as its tenant administrator — so the login's scopes must
//! include `vso.tokenadministration`. Alice, no administrator, is refused
//! with exit 1; a policy set from the command line refuses alice's next
//! `patrol token create`, naming the policy.

use std::path::Path;

use serde_json::Value;

use super::{cli, login, ok, with_token, Run};
use crate::support::DevServer;

pub fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A command line as words (no argument here contains a space).
pub fn w(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// `patrol ARGS` (as words) must succeed: its standard output.
pub fn out(cfg: &Path, line: &str) -> String {
    ok(cfg, &w(line)).stdout
}

/// `patrol token create ARGS --output json` as the user of `cfg`: the token's id.
pub fn create(cfg: &Path, args: &str) -> String {
    let v = json(&out(cfg, &format!("token create --output json {args}")));
    v["authorizationId"].as_str().unwrap().to_owned()
}

/// Refused by the server: exit 1, nothing on stdout, one line naming `words`.
pub fn refused(r: &Run, words: &str) {
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");
    assert_eq!(r.stderr.lines().count(), 1, "one line: {r:?}");
    assert!(r.stderr.contains(words), "'{words}' in {r:?}");
}

pub const ALICE_KEY: &str = "patrol-dev|a11ce000-0000-4000-8000-000000000001";
const NOT_ADMIN: &str = "requires the tenant administrator role";

#[test]
fn every_admin_command_in_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    let srv = DevServer::start(&dir.path().join("dev"), &[]);
    let admin_cfg = dir.path().join("admin");
    let alice_cfg = dir.path().join("alice");
    let (a, u) = (admin_cfg.as_path(), alice_cfg.as_path());
    assert_eq!(login(&srv, a, "admin", &["--org", "fabrikam"]).code, 0);
    assert_eq!(login(&srv, u, "alice", &["--org", "fabrikam"]).code, 0);
    let global = create(u, "--name everywhere --scope vso.code --all-orgs");

    // policy show.
    let text = out(a, "admin policy show");
    assert!(text.starts_with("Tenant\n"), "{text}");
    assert!(text.contains("restrictGlobalPats      off"), "{text}");
    assert!(text.contains("Organization fabrikam"), "{text}");
    let v = json(&out(a, "admin policy show --output json"));
    assert_eq!(v["tenant"]["revokeLeakedPats"], true);
    assert_eq!(v["organizations"].as_array().unwrap().len(), 2);

    // policy dry-run: alice's global token would be refused; nothing changes.
    let text = out(a, "admin policy dry-run tenant --restrict-global-pats on");
    assert!(text.contains(&global) && text.contains(ALICE_KEY), "{text}");
    assert!(
        text.contains("1 active token(s) would be refused."),
        "{text}"
    );
    let v = json(&out(
        a,
        "admin policy dry-run org --org fabrikam --restrict-pat-creation on --output json",
    ));
    let ids: Vec<&str> = v["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["token"]["authorizationId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [global.as_str()], "{v}");
    assert_eq!(
        v["refused"][0]["patTokenError"],
        "disablePatCreationPolicyViolation"
    );
    let text = out(a, "admin policy dry-run tenant --max-lifespan 3650");
    assert_eq!(text.trim(), "No active token would be refused.");
    let v = json(&out(a, "admin policy show --output json"));
    assert_eq!(v["tenant"]["restrictGlobalPats"]["enabled"], false);

    // policy set (tenant), then alice's create is refused naming the policy.
    let text = out(
        a,
        "admin policy set tenant --restrict-global-pats on --max-lifespan 7",
    );
    assert!(text.starts_with("Tenant policy set."), "{text}");
    assert!(
        text.contains("maxLifespan             on, 7 days"),
        "{text}"
    );
    let r = cli(
        u,
        &w("token create --name g2 --scope vso.code --all-orgs --expires-in 2d"),
    );
    refused(&r, "tenant policy restrictGlobalPats");
    let r = cli(
        u,
        &w("token create --name long --scope vso.code --expires-in 30d"),
    );
    refused(&r, "tenant policy maxLifespan");
    let v = json(&out(
        a,
        "admin policy set tenant --restrict-global-pats off --max-lifespan off -o json",
    ));
    assert_eq!(v["restrictGlobalPats"]["enabled"], false);
    assert_eq!(v["maxLifespan"]["enabled"], false);

    // policy set (organization), then with an allow-list by user key.
    let text = out(
        a,
        "admin policy set org --org fabrikam --restrict-pat-creation on --allow-packaging-pats on",
    );
    assert!(text.starts_with("Policy of fabrikam set."), "{text}");
    let r = cli(u, &w("token create --name c --scope vso.code"));
    refused(&r, "organization policy restrictPatCreation");
    create(u, "--name feed --scope vso.packaging");
    let v = json(&out(
        a,
        &format!("admin policy set org --org fabrikam --allow-user {ALICE_KEY} -o json"),
    ));
    assert_eq!(v["policy"]["restrictPatCreation"], true);
    assert_eq!(v["policy"]["allow"]["users"][0], ALICE_KEY);
    create(u, "--name allowed --scope vso.code");
    out(
        a,
        "admin policy set org --org fabrikam --restrict-pat-creation off",
    );
    // Nothing to change, or an allow-list for no restriction: usage (2).
    assert_eq!(cli(a, &w("admin policy set tenant")).code, 2);
    let r = cli(a, &w("admin policy set tenant --allow-group ops"));
    assert_eq!(r.code, 2, "{r:?}");

    // members list | remove | add.
    let text = out(a, "admin members list --org contoso");
    assert!(text.starts_with("ID "), "{text}");
    assert!(text.contains("bob@example.com") && text.contains("tenant admin"));
    let members = json(&out(a, "admin members list --org contoso -o json"));
    let bob = members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "bob@example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let text = out(a, "admin members remove bob@example.com --org contoso");
    assert!(text.contains("no longer a member of contoso"), "{text}");
    assert!(!out(a, "admin members list --org contoso -o json").contains(&bob));
    let v = json(&out(
        a,
        &format!("admin members add {bob} --org contoso -o json"),
    ));
    assert_eq!(v["member"], true);
    assert_eq!(v["user"], bob.as_str());
    assert!(out(a, "admin members list --org contoso -o json").contains(&bob));
    let r = cli(a, &w("admin members add nobody@example.com --org contoso"));
    refused(&r, "no user 'nobody@example.com'");

    // tokens list | revoke, the user named by e-mail address or user key.
    let text = out(a, "admin tokens list alice@example.com");
    assert!(
        text.starts_with("Alice Example (patrol-dev|a11ce"),
        "{text}"
    );
    assert!(text.contains(&global) && text.contains("(all)"), "{text}");
    assert!(text.contains("fabrikam"), "organizations by name: {text}");
    let active = format!("admin tokens list {ALICE_KEY} --status active -o json");
    let v = json(&out(a, &active));
    assert_eq!(v["user"]["key"], ALICE_KEY);
    let tokens = v["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 3, "{v}");
    assert!(tokens.iter().all(|t| t["status"] == "active"));
    let text = out(
        a,
        &format!("admin tokens revoke alice@example.com --token {global}"),
    );
    assert!(
        text.starts_with("Revoked 1 token(s) of Alice Example"),
        "{text}"
    );
    let v = json(&out(
        a,
        &format!("admin tokens revoke {ALICE_KEY} --all -o json"),
    ));
    assert_eq!(v["revoked"].as_array().unwrap().len(), 2, "{v}");
    let v = json(&out(a, &active));
    assert_eq!(v["tokens"].as_array().unwrap().len(), 0, "{v}");
    let r = cli(a, &w(&format!("admin tokens revoke {ALICE_KEY}")));
    assert_eq!(r.code, 2, "--token or --all: {r:?}");
    let r = cli(
        a,
        &w(&format!(
            "admin tokens revoke {ALICE_KEY} --token 00000000-0000-4000-8000-000000000000"
        )),
    );
    refused(&r, "is not one of the tokens");

    // rules create | list.
    create(u, "--name code --scope vso.code_write --expires-in 2d");
    let v = json(&out(
        a,
        "admin rules create --scope vso.build --org fabrikam -o json",
    ));
    assert_eq!(v["organization"], "fabrikam");
    assert_eq!(v["revoked"], 0);
    let text = out(a, "admin rules create --scope vso.code --all-orgs");
    assert!(text.contains("organization:   (all)"), "{text}");
    assert!(text.ends_with("Revoked 1 token(s).\n"), "{text}");
    let text = out(a, "admin rules list");
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.contains("vso.build") && text.contains("(all)"));
    let v = json(&out(a, "admin rules list -o json"));
    assert_eq!(v[0]["scopes"], "vso.code");
    assert_eq!(v[0]["revoked"], 1);
    assert_eq!(cli(a, &w("admin rules create --all-orgs")).code, 2);

    // alice is no administrator: refused, exit 1, in words.
    for line in [
        "admin policy show",
        "admin members list --org fabrikam",
        "admin rules list",
        "admin tokens list 00000000-0000-4000-8000-000000000001",
        "admin policy set tenant --max-lifespan 1",
        "admin policy dry-run tenant --max-lifespan 1",
    ] {
        let r = cli(u, &w(line));
        refused(&r, NOT_ADMIN);
        assert!(r.stderr.contains("InvalidAccessException"), "{r:?}");
    }

    // A pipeline token without vso.tokenadministration: exit 1, what to do.
    let plain = srv.token(&["--user", "admin"]);
    let r = with_token(
        a,
        &plain,
        &["admin", "policy", "show", "--server", &srv.base],
    );
    refused(&r, "lacks the scope 'vso.tokenadministration'");
}

#[test]
fn disabling_a_user_revokes_their_tokens_and_enabling_revives_none() {
    let dir = tempfile::tempdir().unwrap();
    let srv = DevServer::start(&dir.path().join("dev"), &[]);
    let admin_cfg = dir.path().join("admin");
    let alice_cfg = dir.path().join("alice");
    let (a, u) = (admin_cfg.as_path(), alice_cfg.as_path());
    assert_eq!(login(&srv, a, "admin", &["--org", "fabrikam"]).code, 0);
    assert_eq!(login(&srv, u, "alice", &["--org", "fabrikam"]).code, 0);
    let id = create(u, "--name before --scope vso.code");

    // Alice may not disable anyone.
    refused(
        &cli(u, &w("admin users disable bob@example.com")),
        NOT_ADMIN,
    );

    let text = out(a, "admin users disable alice@example.com");
    assert!(
        text.starts_with("Alice Example (patrol-dev|a11ce") && text.contains("is disabled"),
        "{text}"
    );
    let all = format!("admin tokens list {ALICE_KEY} --status all -o json");
    let v = json(&out(a, &all));
    let tokens = v["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1, "{v}");
    assert_eq!(tokens[0]["authorizationId"], id.as_str());
    assert_eq!(tokens[0]["status"], "revoked", "{v}");
    assert_eq!(v["user"]["disabled"], true, "{v}");
    // Her own sign-in no longer manages tokens.
    let r = cli(u, &w("token list"));
    assert_eq!(r.code, 1, "{r:?}");

    let v = json(&out(a, "admin users enable alice@example.com -o json"));
    assert_eq!(v["disabled"], false, "{v}");
    ok(u, &w("token list"));
    let v = json(&out(a, &all));
    assert_eq!(
        v["tokens"][0]["status"], "revoked",
        "revoked stays revoked: {v}"
    );
}
