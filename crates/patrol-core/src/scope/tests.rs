use super::*;
use proptest::prelude::*;
use std::collections::HashSet;

fn set(s: &str) -> ScopeSet {
    match ScopeSet::parse(s) {
        Ok(v) => v,
        Err(e) => unreachable!("test scope string {s:?} failed to parse: {e}"),
    }
}

/// (stronger, weaker) pairs: each family's write ⊇ read and manage ⊇ write.
const FAMILY_ORDER: &[(&str, &str)] = &[
    ("vso.advsec_write", "vso.advsec"),
    ("vso.advsec_manage", "vso.advsec_write"),
    ("vso.agentpools_manage", "vso.agentpools"),
    ("vso.environment_manage", "vso.agentpools_manage"),
    ("vso.machinegroup_manage", "vso.agentpools_manage"),
    ("vso.auditstreams_manage", "vso.auditlog"),
    ("vso.build_execute", "vso.build"),
    ("vso.code_write", "vso.code"),
    ("vso.code_manage", "vso.code_write"),
    ("vso.code_full", "vso.code_manage"),
    (
        "vso.memberentitlementmanagement_write",
        "vso.memberentitlementmanagement",
    ),
    ("vso.extension_manage", "vso.extension"),
    ("vso.extension.data_write", "vso.extension.data"),
    ("vso.githubconnections_manage", "vso.githubconnections"),
    ("vso.graph_manage", "vso.graph"),
    ("vso.identity_manage", "vso.identity"),
    ("vso.gallery_acquire", "vso.gallery"),
    ("vso.gallery_publish", "vso.gallery"),
    ("vso.gallery_manage", "vso.gallery_publish"),
    ("vso.notification_write", "vso.notification"),
    ("vso.notification_manage", "vso.notification_write"),
    ("vso.notification_diagnostics", "vso.notification"),
    ("vso.packaging_write", "vso.packaging"),
    ("vso.packaging_manage", "vso.packaging_write"),
    ("vso.pipelineresources_manage", "vso.pipelineresources_use"),
    ("vso.project_write", "vso.project"),
    ("vso.project_manage", "vso.project_write"),
    ("vso.release_execute", "vso.release"),
    ("vso.release_manage", "vso.release_execute"),
    ("vso.securefiles_write", "vso.securefiles_read"),
    ("vso.securefiles_manage", "vso.securefiles_write"),
    ("vso.serviceendpoint_query", "vso.serviceendpoint"),
    ("vso.serviceendpoint_manage", "vso.serviceendpoint_query"),
    ("vso.hooks_write", "vso.hooks"),
    ("vso.settings_write", "vso.settings"),
    ("vso.symbols_write", "vso.symbols"),
    ("vso.symbols_manage", "vso.symbols_write"),
    ("vso.taskgroups_write", "vso.taskgroups_read"),
    ("vso.taskgroups_manage", "vso.taskgroups_write"),
    ("vso.dashboards_manage", "vso.dashboards"),
    ("vso.test_write", "vso.test"),
    ("vso.profile_write", "vso.profile"),
    ("vso.variablegroups_write", "vso.variablegroups_read"),
    ("vso.variablegroups_manage", "vso.variablegroups_write"),
    ("vso.wiki_write", "vso.wiki"),
    ("vso.work_write", "vso.work"),
    ("vso.work_full", "vso.work_write"),
];

/// Every scope named in the `docs/ado-wire-contract.md` §12.1 table.
const TABLE_12_1: &[&str] = &[
    "vso.advsec",
    "vso.advsec_write",
    "vso.advsec_manage",
    "vso.agentpools",
    "vso.agentpools_manage",
    "vso.environment_manage",
    "vso.analytics",
    "vso.auditlog",
    "vso.auditstreams_manage",
    "vso.build",
    "vso.build_execute",
    "vso.code",
    "vso.code_write",
    "vso.code_manage",
    "vso.code_full",
    "vso.code_status",
    "vso.connected_server",
    "vso.entitlements",
    "vso.memberentitlementmanagement",
    "vso.memberentitlementmanagement_write",
    "vso.extension",
    "vso.extension_manage",
    "vso.extension.data",
    "vso.extension.data_write",
    "vso.githubconnections",
    "vso.githubconnections_manage",
    "vso.graph",
    "vso.graph_manage",
    "vso.identity",
    "vso.identity_manage",
    "vso.machinegroup_manage",
    "vso.gallery",
    "vso.gallery_acquire",
    "vso.gallery_publish",
    "vso.gallery_manage",
    "vso.notification",
    "vso.notification_write",
    "vso.notification_manage",
    "vso.notification_diagnostics",
    "vso.packaging",
    "vso.packaging_write",
    "vso.packaging_manage",
    "vso.pipelineresources_use",
    "vso.pipelineresources_manage",
    "vso.project",
    "vso.project_write",
    "vso.project_manage",
    "vso.release",
    "vso.release_execute",
    "vso.release_manage",
    "vso.securefiles_read",
    "vso.securefiles_write",
    "vso.securefiles_manage",
    "vso.security_manage",
    "vso.serviceendpoint",
    "vso.serviceendpoint_query",
    "vso.serviceendpoint_manage",
    "vso.hooks",
    "vso.hooks_write",
    "vso.hooks_interact",
    "vso.settings",
    "vso.settings_write",
    "vso.symbols",
    "vso.symbols_write",
    "vso.symbols_manage",
    "vso.taskgroups_read",
    "vso.taskgroups_write",
    "vso.taskgroups_manage",
    "vso.dashboards",
    "vso.dashboards_manage",
    "vso.test",
    "vso.test_write",
    "vso.threads_full",
    "vso.tokens",
    "vso.tokenadministration",
    "vso.profile",
    "vso.profile_write",
    "vso.variablegroups_read",
    "vso.variablegroups_write",
    "vso.variablegroups_manage",
    "vso.wiki",
    "vso.wiki_write",
    "vso.work",
    "vso.work_write",
    "vso.work_full",
    "user_impersonation",
];

// ---- catalogue integrity -------------------------------------------------

#[test]
fn catalog_contains_every_documented_scope() {
    for name in
        TABLE_12_1
            .iter()
            .chain(&["vso.pats", "vso.pats_manage", "vso.governance", FULL_ACCESS])
    {
        assert!(lookup(name).is_some(), "{name} missing from catalog");
    }
    // Nothing beyond the table plus the four extras.
    assert_eq!(catalog().len(), TABLE_12_1.len() + 4);
}

#[test]
fn catalog_names_are_unique_and_lower_case() {
    let mut seen = HashSet::new();
    for s in catalog() {
        assert!(seen.insert(s.name), "duplicate {}", s.name);
        assert_eq!(s.name, s.name.to_ascii_lowercase());
        assert!(!s.name.is_empty() && !s.name.contains(char::is_whitespace));
        assert!(!s.title.is_empty(), "{} has no title", s.name);
        assert!(!s.description.is_empty(), "{} has no description", s.name);
        assert!(!s.area.is_empty(), "{} has no area", s.name);
    }
}

#[test]
fn every_implies_target_exists() {
    for s in catalog() {
        for target in s.implies {
            let t = lookup(target);
            assert!(t.is_some(), "{} implies unknown {target}", s.name);
            assert_eq!(t.map(|t| t.name), Some(*target), "{target} not canonical");
            assert_ne!(*target, s.name, "{} implies itself", s.name);
        }
    }
}

#[test]
fn implication_graph_is_acyclic() {
    // DFS colouring over the whole catalogue.
    fn visit(
        name: &'static str,
        on_path: &mut Vec<&'static str>,
        done: &mut HashSet<&'static str>,
    ) {
        assert!(
            !on_path.contains(&name),
            "cycle through {name}: {on_path:?}"
        );
        if done.contains(name) {
            return;
        }
        on_path.push(name);
        if let Some(info) = lookup(name) {
            for t in info.implies {
                visit(t, on_path, done);
            }
        }
        on_path.pop();
        done.insert(name);
    }
    let mut done = HashSet::new();
    for s in catalog() {
        visit(s.name, &mut Vec::new(), &mut done);
    }
}

#[test]
fn pat_scopes_only_imply_pat_scopes() {
    for s in catalog().iter().filter(|s| s.pat_scope) {
        for t in s.implies {
            assert!(lookup(t).is_some_and(|t| t.pat_scope), "{} -> {t}", s.name);
        }
    }
}

#[test]
fn code_write_entry_matches_documented_shape() {
    let s = lookup("vso.code_write");
    assert_eq!(
        s.copied(),
        Some(ScopeInfo {
            name: "vso.code_write",
            title: "Code (read and write)",
            description: s.map_or("", |s| s.description),
            area: "Code",
            implies: &["vso.code"],
            hidden: false,
            pat_scope: true,
        })
    );
}

#[test]
fn write_includes_read_and_manage_includes_write() {
    for (strong, weak) in FAMILY_ORDER {
        assert!(lookup(strong).is_some() && lookup(weak).is_some());
        let s = set(strong);
        let w = set(weak);
        assert!(s.grants(weak), "{strong} should grant {weak}");
        assert!(w.is_subset_of(&s), "{weak} ⊑ {strong}");
        assert!(!w.grants(strong), "{weak} must not grant {strong}");
        assert!(!s.is_subset_of(&w), "{strong} ⋢ {weak}");
    }
}

#[test]
fn hidden_flags() {
    let hidden: Vec<&str> = catalog()
        .iter()
        .filter(|s| s.hidden)
        .map(|s| s.name)
        .collect();
    let mut expected = vec![
        "vso.hooks",
        "vso.hooks_write",
        "vso.hooks_interact",
        "vso.governance",
        "vso.connected_server",
        "vso.tokens",
        "vso.tokenadministration",
    ];
    let mut got = hidden.clone();
    got.sort_unstable();
    expected.sort_unstable();
    assert_eq!(got, expected);
    assert_eq!(lookup(FULL_ACCESS).map(|s| s.hidden), Some(false));
    assert_eq!(lookup(FULL_ACCESS).map(|s| s.title), Some("Full access"));
    assert_eq!(
        lookup("vso.governance").map(|s| s.title),
        Some("Governance")
    );
    // Hidden scopes remain valid PAT scopes.
    assert!(ScopeSet::parse("vso.governance vso.hooks_write").is_ok());
}

#[test]
fn oauth_only_scopes() {
    let oauth: Vec<&str> = catalog()
        .iter()
        .filter(|s| !s.pat_scope)
        .map(|s| s.name)
        .collect();
    assert_eq!(oauth, ["vso.pats", "vso.pats_manage", "user_impersonation"]);
    for name in ["vso.pats", "VSO.PATS_MANAGE", "user_impersonation"] {
        assert_eq!(
            ScopeSet::parse(&format!("vso.code {name}")),
            Err(ScopeError::NotAPatScope(name.to_ascii_lowercase()))
        );
    }
    assert_eq!(
        ScopeError::NotAPatScope("vso.pats".into()).to_string(),
        "scope 'vso.pats' cannot be granted to a personal access token"
    );
    assert!(selectable().all(|s| s.pat_scope && !s.hidden));
    assert!(selectable().any(|s| s.name == FULL_ACCESS));
    assert!(!selectable().any(|s| s.name == "vso.pats"));
}

#[test]
fn lookup_is_case_insensitive() {
    assert_eq!(
        lookup("VSO.Code_Write").map(|s| s.name),
        Some("vso.code_write")
    );
    assert_eq!(lookup("APP_TOKEN").map(|s| s.name), Some(FULL_ACCESS));
    assert!(lookup("vso.nope").is_none());
    assert!(lookup("").is_none());
}

// ---- parsing and normalisation -------------------------------------------

#[test]
fn normalises_case_order_duplicates_and_whitespace() {
    let s = set("  VSO.Packaging\tvso.code \n vso.CODE\r\nvso.packaging  ");
    assert_eq!(s.as_string(), "vso.code vso.packaging");
    assert_eq!(s.to_string(), "vso.code vso.packaging");
    assert_eq!(s.names().collect::<Vec<_>>(), ["vso.code", "vso.packaging"]);
    assert_eq!(s.len(), 2);
    assert!(!s.is_empty());
    assert_eq!(s, set("vso.packaging vso.code"));
    assert_eq!("vso.code  vso.packaging".parse::<ScopeSet>(), Ok(s.clone()));
    assert_eq!(ScopeSet::try_from("VSO.CODE vso.packaging"), Ok(s));
}

#[test]
fn sort_order_is_bytewise_on_lower_case() {
    let s = set("vso.extension_manage vso.extension.data vso.extension");
    assert_eq!(
        s.as_string(),
        "vso.extension vso.extension.data vso.extension_manage"
    );
}

#[test]
fn empty_input() {
    assert_eq!(ScopeSet::parse(""), Err(ScopeError::Empty));
    assert_eq!(ScopeSet::parse(" \t\n "), Err(ScopeError::Empty));
    assert_eq!(ScopeError::Empty.to_string(), "scopes are required");
    assert_eq!(ScopeSet::parse_or_full(None), Ok(ScopeSet::full_access()));
    assert_eq!(
        ScopeSet::parse_or_full(Some("")),
        Ok(ScopeSet::full_access())
    );
    assert_eq!(
        ScopeSet::parse_or_full(Some("  \t")),
        Ok(ScopeSet::full_access())
    );
    assert_eq!(
        ScopeSet::parse_or_full(Some("vso.code")),
        Ok(set("vso.code"))
    );
    assert_eq!(
        ScopeSet::parse_or_full(Some("vso.bogus")),
        Err(ScopeError::Unknown("vso.bogus".into()))
    );
}

#[test]
fn unknown_scope_is_named() {
    let e = ScopeSet::parse("vso.code vso.cod");
    assert_eq!(e, Err(ScopeError::Unknown("vso.cod".into())));
    assert_eq!(
        e.map_err(|e| e.to_string()),
        Err("unknown scope 'vso.cod'".to_string())
    );
    // Unicode whitespace is not a separator: it is part of the (unknown) name.
    assert!(matches!(
        ScopeSet::parse("vso.code\u{a0}vso.build"),
        Err(ScopeError::Unknown(_))
    ));
}

#[test]
fn unknown_scope_echo_is_truncated_and_sanitised() {
    let long = "x".repeat(1000);
    match ScopeSet::parse(&long) {
        Err(ScopeError::Unknown(n)) => {
            assert_eq!(n.chars().count(), MAX_ECHO_CHARS + 1);
            assert!(n.starts_with(&"x".repeat(64)) && n.ends_with('…'));
        }
        other => unreachable!("{other:?}"),
    }
    let exact = "é".repeat(64);
    assert_eq!(
        ScopeSet::parse(&exact),
        Err(ScopeError::Unknown(exact.clone()))
    );
    match ScopeSet::parse("vso.\u{1b}[31mred") {
        Err(ScopeError::Unknown(n)) => assert!(!n.contains('\u{1b}')),
        other => unreachable!("{other:?}"),
    }
}

#[test]
fn input_caps() {
    let too_long = format!("vso.code{}", " ".repeat(MAX_SCOPE_STRING_BYTES));
    assert_eq!(ScopeSet::parse(&too_long), Err(ScopeError::TooLong));
    assert_eq!(
        ScopeSet::parse_or_full(Some(&too_long)),
        Err(ScopeError::TooLong)
    );
    let blank = " ".repeat(MAX_SCOPE_STRING_BYTES + 1);
    assert_eq!(
        ScopeSet::parse_or_full(Some(&blank)),
        Err(ScopeError::TooLong)
    );
    let at_cap = format!("vso.code{}", " ".repeat(MAX_SCOPE_STRING_BYTES - 8));
    assert_eq!(at_cap.len(), MAX_SCOPE_STRING_BYTES);
    assert!(ScopeSet::parse(&at_cap).is_ok());

    let entries = |n: usize| vec!["vso.code"; n].join(" ");
    assert!(ScopeSet::parse(&entries(MAX_SCOPE_ENTRIES)).is_ok());
    assert_eq!(
        ScopeSet::parse(&entries(MAX_SCOPE_ENTRIES + 1)),
        Err(ScopeError::TooLong)
    );
    assert_eq!(ScopeError::TooLong.to_string(), "scope string too long");
}

// ---- full access ----------------------------------------------------------

#[test]
fn app_token_semantics() {
    let full = ScopeSet::full_access();
    assert!(full.is_full_access());
    assert_eq!(full.as_string(), FULL_ACCESS);
    assert_eq!(set("APP_TOKEN"), full);
    assert_eq!(set("vso.code app_token vso.build"), full);
    assert!(full.grants("vso.code_full"));
    assert!(full.grants("vso.governance"));
    assert!(full.grants(FULL_ACCESS));
    assert_eq!(full.expanded(), [FULL_ACCESS]);
    assert!(lookup(FULL_ACCESS).is_some_and(ScopeInfo::is_full_access));

    // Nothing short of app_token grants app_token.
    let everything = catalog()
        .iter()
        .filter(|s| s.pat_scope && s.name != FULL_ACCESS)
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(" ");
    let everything = set(&everything);
    assert!(!everything.is_full_access());
    assert!(!everything.grants(FULL_ACCESS));
    assert!(!full.is_subset_of(&everything));
    assert!(everything.is_subset_of(&full));
    // app_token mixed with an OAuth-only scope is still rejected.
    assert_eq!(
        ScopeSet::parse("app_token vso.pats"),
        Err(ScopeError::NotAPatScope("vso.pats".into()))
    );
}

// ---- lattice --------------------------------------------------------------

#[test]
fn grants_examples() {
    assert!(set("vso.code_manage").grants("vso.code"));
    assert!(set("vso.code_manage").grants("VSO.CODE_WRITE"));
    assert!(!set("vso.code").grants("vso.code_write"));
    assert!(set("vso.environment_manage").grants("vso.agentpools"));
    assert!(!set("vso.agentpools_manage").grants("vso.environment_manage"));
    assert!(set("vso.build").grants("vso.hooks_write"));
    assert!(set("vso.build").grants("vso.hooks"));
    assert!(set("vso.build").grants("vso.profile"));
    assert!(!set("vso.build").grants("vso.hooks_interact"));
    assert!(set("vso.code_full").grants("vso.profile"));
    assert!(!set("vso.code_full").grants("vso.code_status"));
    assert!(!set("vso.code").grants("vso.nonexistent"));
    assert!(!set("vso.code").grants(""));
    assert!(set("vso.code vso.packaging").grants("vso.packaging"));
}

#[test]
fn grants_all_and_subset_examples() {
    let policy = set("vso.code_manage vso.packaging_write");
    assert!(set("vso.code").is_subset_of(&policy));
    assert!(set("vso.code_write vso.packaging").is_subset_of(&policy));
    assert!(set("vso.profile vso.hooks").is_subset_of(&policy));
    assert!(!set("vso.code_full").is_subset_of(&policy));
    assert!(!set("vso.code vso.build").is_subset_of(&policy));
    assert!(!set("vso.packaging_manage").is_subset_of(&policy));
    assert!(policy.grants_all(&set("vso.code_write")));
    assert!(!policy.grants_all(&set("vso.code_write vso.wiki")));
    assert!(policy.is_subset_of(&policy));
}

#[test]
fn expanded_examples() {
    assert_eq!(
        set("vso.code_write").expanded(),
        [
            "vso.code",
            "vso.code_write",
            "vso.hooks",
            "vso.hooks_write",
            "vso.profile"
        ]
    );
    assert_eq!(
        set("vso.environment_manage vso.wiki").expanded(),
        [
            "vso.agentpools",
            "vso.agentpools_manage",
            "vso.environment_manage",
            "vso.wiki"
        ]
    );
}

#[test]
fn expanded_agrees_with_grants() {
    for s in catalog()
        .iter()
        .filter(|s| s.pat_scope && !s.is_full_access())
    {
        let held = set(s.name);
        let exp = held.expanded();
        for r in catalog() {
            assert_eq!(
                held.grants(r.name),
                exp.contains(&r.name),
                "{} vs {}",
                s.name,
                r.name
            );
        }
    }
}

#[test]
fn contains_is_literal() {
    let s = set("vso.code_write");
    assert!(s.contains("VSO.CODE_WRITE"));
    assert!(!s.contains("vso.code"));
    assert_eq!(
        s.infos().map(|i| i.title).collect::<Vec<_>>(),
        ["Code (read and write)"]
    );
}

// ---- OAuth scp check --------------------------------------------------------

#[test]
fn token_scopes_grant_examples() {
    assert!(token_scopes_grant("openid vso.pats profile", "vso.pats"));
    assert!(token_scopes_grant("VSO.PATS", "vso.pats"));
    assert!(token_scopes_grant("vso.pats_manage", "vso.pats"));
    assert!(token_scopes_grant("vso.pats_manage", "VSO.Pats"));
    assert!(token_scopes_grant("vso.pats_manage", "vso.pats_manage"));
    assert!(!token_scopes_grant("vso.pats", "vso.pats_manage"));
    assert!(token_scopes_grant(
        "a  vso.tokenadministration\tb",
        "vso.tokenadministration"
    ));
    assert!(!token_scopes_grant("vso.code_manage", "vso.code"));
    assert!(!token_scopes_grant("vso.pats", "vso.pat"));
    assert!(!token_scopes_grant("vso.patsx", "vso.pats"));
    assert!(!token_scopes_grant("", "vso.pats"));
    assert!(!token_scopes_grant("vso.pats", ""));
}

// ---- properties -------------------------------------------------------------

fn pat_names() -> Vec<&'static str> {
    catalog()
        .iter()
        .filter(|s| s.pat_scope)
        .map(|s| s.name)
        .collect()
}

/// Random non-empty subsets (up to 12 names) of the PAT scopes.
fn subset() -> impl Strategy<Value = Vec<&'static str>> {
    let names = pat_names();
    proptest::sample::subsequence(names.clone(), 1..=names.len().min(12))
}

fn scramble_case(s: &str, mask: u64) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if mask >> (i % 64) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

proptest! {
    #[test]
    fn prop_roundtrip(names in subset(), mask in any::<u64>(), sep in "[ \t\r\n]{1,3}") {
        let typed: Vec<String> = names.iter().rev().map(|n| scramble_case(n, mask)).collect();
        let x = set(&typed.join(&sep));
        prop_assert_eq!(ScopeSet::parse(&x.as_string()), Ok(x.clone()));
        prop_assert_eq!(ScopeSet::parse(&x.to_string()), Ok(x.clone()));
        // Normal form: sorted, deduplicated, lower-case.
        let v: Vec<&str> = x.names().collect();
        prop_assert!(v.windows(2).all(|w| w[0] < w[1]));
        prop_assert!(v.iter().all(|n| *n == n.to_ascii_lowercase()));
    }

    #[test]
    fn prop_grants_is_monotone(a in subset(), extra in subset()) {
        let small = set(&a.join(" "));
        let big = set(&format!("{} {}", a.join(" "), extra.join(" ")));
        prop_assert!(small.is_subset_of(&big));
        for r in catalog() {
            if small.grants(r.name) {
                prop_assert!(big.grants(r.name), "{} granted by {} but not {}", r.name, small, big);
            }
        }
    }

    #[test]
    fn prop_subset_reflexive_and_transitive(a in subset(), b in subset(), c in subset()) {
        let (a, b, c) = (set(&a.join(" ")), set(&b.join(" ")), set(&c.join(" ")));
        prop_assert!(a.is_subset_of(&a));
        if a.is_subset_of(&b) && b.is_subset_of(&c) {
            prop_assert!(a.is_subset_of(&c));
        }
        // Chains built by union always satisfy the premise.
        let ab = set(&format!("{} {}", a, b));
        let abc = set(&format!("{} {}", ab, c));
        prop_assert!(a.is_subset_of(&ab) && ab.is_subset_of(&abc) && a.is_subset_of(&abc));
    }

    #[test]
    fn prop_subset_matches_expansion(a in subset(), b in subset()) {
        let (a, b) = (set(&a.join(" ")), set(&b.join(" ")));
        if !a.is_full_access() && !b.is_full_access() {
            let ea = a.expanded();
            let eb = b.expanded();
            prop_assert_eq!(a.is_subset_of(&b), ea.iter().all(|n| eb.contains(n)));
        }
    }

    #[test]
    fn prop_parse_never_panics(s in "\\PC{0,80}") {
        let _ = ScopeSet::parse(&s);
        let _ = ScopeSet::parse_or_full(Some(&s));
        let _ = token_scopes_grant(&s, "vso.pats");
    }
}
