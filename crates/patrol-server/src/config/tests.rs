//! Layering (defaults → file → environment), unknown keys, and the example
//! configuration that `patrol print-config` prints.

use std::collections::BTreeSet;

use super::*;

fn env(vars: &[(&str, &str)]) -> Env {
    vars.iter().copied().collect()
}

fn load(text: &str, vars: &[(&str, &str)]) -> Result<Config, String> {
    Config::layered(Some((Path::new("patrol.toml"), text)), &env(vars)).map_err(|e| e.to_string())
}

/// Secrets the example refers to, so that it resolves completely.
fn example_env() -> Env {
    env(&[
        ("PATROL_KEY_2026_11", &"ab".repeat(32)),
        ("PATROL_RS_GIT_GATEWAY_SECRET", "0123456789abcdef-secret"),
    ])
}

#[test]
fn example_config_loads_and_resolves() {
    let cfg =
        Config::layered(Some((Path::new("example"), EXAMPLE_CONFIG)), &example_env()).unwrap();
    assert_eq!(cfg.tokens.signature.as_str(), "AZDO");
    assert!(!cfg.auth.issuers.is_empty());
    let settings = cfg.resolve(&example_env()).unwrap();
    assert_eq!(settings.server_keys[0].id(), "2026-11");
    assert_eq!(settings.resource_servers[0].0, "git-gateway");
}

/// The keys a table accepts, read from its unknown-key error (which lists them).
fn accepted_keys(header: &str) -> Vec<String> {
    let e = toml::from_str::<Config>(&format!("{header}\nnot_a_key_anywhere = 0\n")).unwrap_err();
    let msg = e.message();
    let list = msg
        .split("expected ")
        .nth(1)
        .unwrap_or_else(|| panic!("{msg}"));
    list.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// `print-config` is complete: every key of every table appears in the
/// example (set or commented out) inside its own table.
#[test]
fn example_config_names_every_key() {
    // (table, header in the example) → keys written there, `# key =` included.
    let mut written: BTreeSet<(String, String)> = BTreeSet::new();
    let mut table = String::new();
    for line in EXAMPLE_CONFIG.lines() {
        let l = line.trim_start_matches('#').trim();
        if l.starts_with('[') {
            table = l.trim_matches(|c| c == '[' || c == ']').to_owned();
            // `[[auth.issuers]]` writes the key `issuers` of `[auth]`.
            if let Some((parent, key)) = table.rsplit_once('.') {
                written.insert((parent.to_owned(), key.to_owned()));
            }
            continue;
        }
        // Inline tables count too: `{ id = "…", env = "…" }`.
        for part in l.split([',', '{']) {
            if let Some((k, _)) = part.split_once('=') {
                let k = k.trim();
                if !k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                    written.insert((table.clone(), k.to_owned()));
                }
            }
        }
    }
    let sections = accepted_keys("");
    assert!(sections.contains(&"web".to_owned()), "{sections:?}");
    let mut tables: Vec<(String, String)> = sections
        .iter()
        .map(|s| (format!("[{s}]"), s.clone()))
        .collect();
    tables.extend([
        ("[[auth.issuers]]".into(), "auth.issuers".into()),
        (
            "[[verify.resource_servers]]".into(),
            "verify.resource_servers".into(),
        ),
        ("[[keys.server_keys]]".into(), "keys".into()),
        ("[web.client_secret]".into(), "web".into()),
        ("[[roles.claims]]".into(), "roles.claims".into()),
        ("[[roles.issuers]]".into(), "roles.issuers".into()),
        (
            "[[verify.resource_servers]]\nclient_id = \"x\"\n[verify.resource_servers.secret]"
                .into(),
            "verify.resource_servers".into(),
        ),
    ]);
    for (header, in_example) in tables {
        for key in accepted_keys(&header) {
            assert!(
                written.contains(&(in_example.clone(), key.clone())),
                "`{key}` of {header} is missing from docs/patrol.example.toml"
            );
        }
    }
}

#[test]
fn every_key_can_be_set_from_the_environment() {
    let file = "[server]\nlisten = \"127.0.0.1:1\"\nlog_format = \"text\"\n";
    let cfg = load(
        file,
        &[
            ("PATROL_SERVER__LISTEN", "127.0.0.1:2"),
            ("PATROL_SERVER__LOG_FORMAT", "json"),
            ("PATROL_SERVER__PUBLIC_URL", "https://patrol.test"),
            ("PATROL_SERVER__TRUSTED_PROXIES", "[\"10.0.0.1\", \"::1\"]"),
            ("PATROL_VERIFY__CACHE_TTL_SECS", "2"),
            ("PATROL_DATABASE__SQLITE_PATH", "/var/lib/patrol/p.db"),
            ("PATROL_TOKENS__SIGNATURE", "ABCD"),
            ("PATROL_ORGANIZATIONS__NAMES", "[\"fabrikam\", \"contoso\"]"),
            ("PATROL_ORGANIZATIONS__AUTO_JOIN", "false"),
            // A number where a string goes is taken as text.
            ("PATROL_WEB__CLIENT_ID", "1234"),
            ("PATROL_CLI__CLIENT_ID", "5678"),
            (
                "PATROL_WEB__CLIENT_SECRET",
                "{ file = \"/run/secrets/web\" }",
            ),
            (
                "PATROL_AUTH__ISSUERS",
                "[{ issuer = \"https://idp.test\", audiences = [\"api\"] }]",
            ),
            // Not configuration keys: no `__`, or not ours.
            ("PATROL_DATA_DIR", "/tmp"),
            ("PATROL_WEB_CLIENT_SECRET", "s3cret"),
            ("OTHER__THING", "1"),
        ],
    )
    .unwrap();
    assert_eq!(cfg.server.listen.port(), 2);
    assert_eq!(cfg.server.log_format, LogFormat::Json);
    assert_eq!(
        cfg.server.public_url.as_deref(),
        Some("https://patrol.test")
    );
    assert_eq!(cfg.server.trusted_proxies.len(), 2);
    assert_eq!(cfg.verify.cache_ttl_secs, 2);
    assert_eq!(cfg.database.sqlite_path, Path::new("/var/lib/patrol/p.db"));
    assert_eq!(cfg.tokens.signature.as_str(), "ABCD");
    assert_eq!(cfg.organizations.names, ["fabrikam", "contoso"]);
    assert!(!cfg.organizations.auto_join);
    assert_eq!(cfg.web.client_id.as_deref(), Some("1234"));
    assert_eq!(cfg.cli.client_id.as_deref(), Some("5678"));
    assert_eq!(
        cfg.web.client_secret,
        Some(SecretSource::File("/run/secrets/web".into()))
    );
    assert_eq!(cfg.auth.issuers[0].issuer, "https://idp.test");
    // Keys the file set and the environment did not keep the file's value;
    // keys nobody set keep the default.
    let cfg = load(
        "[verify]\ncache_ttl_secs = 3\n",
        &[("PATROL_VERIFY__CACHE_CAPACITY", "7")],
    )
    .unwrap();
    assert_eq!(
        (cfg.verify.cache_ttl_secs, cfg.verify.cache_capacity),
        (3, 7)
    );
    assert_eq!(cfg.verify.usage_batch_size, 256);
}

#[test]
fn unknown_keys_are_errors_that_name_the_key() {
    let e = load("[server]\nlisen = \"x\"\n", &[]).unwrap_err();
    assert!(
        e.contains("patrol.toml") && e.contains("`lisen`") && e.contains("line 2"),
        "{e}"
    );
    let e = load("[serv]\n", &[]).unwrap_err();
    assert!(e.contains("`serv`"), "{e}");
    for (text, key) in [
        (
            "[[auth.issuers]]\nissuer = \"https://i\"\naudiences = []\naudience = 1",
            "audience",
        ),
        (
            "[[verify.resource_servers]]\nclient_id = \"a\"\nsecret_env = \"X\"",
            "secret_env",
        ),
        (
            "[keys]\nserver_keys = [{ id = \"a\", env = \"X\", kind = \"hex\" }]",
            "kind",
        ),
        (
            "[web]\nclient_secret = { env = \"X\", value = \"v\" }",
            "value",
        ),
        ("[web]\nclient_secret_env = \"X\"", "client_secret_env"),
    ] {
        let e = load(text, &[]).unwrap_err();
        assert!(e.contains(&format!("`{key}`")), "{text}: {e}");
    }
    // From the environment: the variable and the key are named.
    let e = load("", &[("PATROL_SERVER__LISEN", "127.0.0.1:1")]).unwrap_err();
    assert!(
        e.contains("PATROL_SERVER__LISEN") && e.contains("`lisen`"),
        "{e}"
    );
    let e = load("", &[("PATROL_BOGUS__X", "1")]).unwrap_err();
    assert!(
        e.contains("PATROL_BOGUS__X") && e.contains("`bogus`"),
        "{e}"
    );
    let e = load("", &[("PATROL_SERVER__", "1")]).unwrap_err();
    assert!(e.contains("PATROL_SERVER__"), "{e}");
    let e = load("", &[("PATROL_SERVER__LISTEN__PORT", "1")]).unwrap_err();
    assert!(e.contains("PATROL_SERVER__LISTEN__PORT"), "{e}");
}

#[test]
fn bad_values_from_the_environment_name_the_variable() {
    let e = load("", &[("PATROL_VERIFY__CACHE_TTL_SECS", "soon")]).unwrap_err();
    assert!(
        e.contains("PATROL_VERIFY__CACHE_TTL_SECS") && e.contains("verify.cache_ttl_secs"),
        "{e}"
    );
    let e = load("", &[("PATROL_TOKENS__SIGNATURE", "1BAD")]).unwrap_err();
    assert!(e.contains("PATROL_TOKENS__SIGNATURE"), "{e}");
    // A literal secret is refused without being repeated.
    let e = load("", &[("PATROL_WEB__CLIENT_SECRET", "hunter2-secret")]).unwrap_err();
    assert!(e.contains("never written") && !e.contains("hunter2"), "{e}");
    let e = load("", &[("PATROL_WEB__CLIENT_SECRET", "987654321")]).unwrap_err();
    assert!(
        e.contains("never written") && !e.contains("987654321"),
        "{e}"
    );
}

#[test]
fn retired_variables_say_what_replaced_them() {
    let e = load("", &[("PATROL_LISTEN", "127.0.0.1:1")]).unwrap_err();
    assert!(e.contains("PATROL_SERVER__LISTEN"), "{e}");
    let e = load("", &[("PATROL_DATABASE_PATH", "x.db")]).unwrap_err();
    assert!(e.contains("PATROL_DATABASE__SQLITE_PATH"), "{e}");
}

#[test]
fn the_server_key_shortcut_comes_first() {
    let file = "[keys]\nserver_keys = [{ id = \"old\", file = \"/k\" }]\n";
    let cfg = load(file, &[("PATROL_SERVER_KEY", "x")]).unwrap();
    assert_eq!(cfg.keys.server_keys[0].id, "k1");
    assert_eq!(
        cfg.keys.server_keys[0].secret,
        SecretSource::Env("PATROL_SERVER_KEY".into())
    );
    assert_eq!(cfg.keys.server_keys[1].id, "old");
    let cfg = load(
        "",
        &[
            ("PATROL_SERVER_KEY_FILE", "/run/k"),
            ("PATROL_SERVER_KEY_ID", "2026"),
        ],
    )
    .unwrap();
    assert_eq!(cfg.keys.server_keys[0].id, "2026");
    assert_eq!(
        cfg.keys.server_keys[0].secret,
        SecretSource::File("/run/k".into())
    );
    let e = load(
        "",
        &[
            ("PATROL_SERVER_KEY", "x"),
            ("PATROL_SERVER_KEY_FILE", "/run/k"),
        ],
    )
    .unwrap_err();
    assert!(e.contains("not both"), "{e}");
    assert!(load("", &[]).unwrap().keys.server_keys.is_empty());
}

#[test]
fn no_file_means_defaults_and_a_missing_file_is_named() {
    let cfg = Config::load(None, &Env::default()).unwrap();
    assert_eq!(cfg.server.listen.port(), 8080);
    let e = Config::load(Some(Path::new("/nonexistent/patrol.toml")), &Env::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/patrol.toml"), "{e}");
}

#[test]
fn env_debug_shows_names_only() {
    let e = env(&[("PATROL_SERVER_KEY", "abcdef0123")]);
    let shown = format!("{e:?}");
    assert!(shown.contains("PATROL_SERVER_KEY") && !shown.contains("abcdef0123"));
}
