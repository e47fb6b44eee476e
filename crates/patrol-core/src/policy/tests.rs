use chrono::TimeZone;
use proptest::prelude::*;

use super::*;

const ALICE: &str = "patrol-dev|alice";
const BOB: &str = "patrol-dev|bob";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

fn org(n: u8) -> Uuid {
    Uuid::from_bytes([n; 16])
}

fn scopes(s: &str) -> ScopeSet {
    ScopeSet::parse(s).unwrap()
}

fn shape(scopes: &ScopeSet, global: bool, orgs: Vec<Uuid>, days: i64) -> TokenShape<'_> {
    TokenShape {
        scopes,
        global,
        orgs,
        valid_to: now() + Duration::days(days),
    }
}

fn who<'a>(key: &'a str, groups: &'a [String]) -> Principal<'a> {
    Principal { key, groups }
}

fn on(allow_users: &[&str], allow_groups: &[&str]) -> Restriction {
    Restriction {
        enabled: true,
        allow: AllowList {
            users: allow_users.iter().map(|s| (*s).to_owned()).collect(),
            groups: allow_groups.iter().map(|s| (*s).to_owned()).collect(),
        },
    }
}

#[test]
fn nothing_is_refused_without_policies() {
    let p = Policies::default();
    let full = ScopeSet::full_access();
    let s = shape(&full, true, vec![org(1)], 3650);
    assert_eq!(p.evaluate(&who(ALICE, &[]), &s, now()), Ok(()));
    assert!(
        p.tenant.revoke_leaked_pats,
        "auto-revocation is on by default"
    );
}

#[test]
fn global_pats_are_refused_unless_allowed_by_user_or_group() {
    let mut p = Policies::default();
    p.tenant.restrict_global_pats = on(&[BOB], &["release-managers"]);
    let code = scopes("vso.code");
    let global = shape(&code, true, vec![org(1)], 7);
    let pinned = shape(&code, false, vec![org(1)], 7);
    let release = vec!["release-managers".to_owned()];
    assert_eq!(
        p.evaluate(&who(ALICE, &[]), &global, now()),
        Err(Violation::GlobalPat)
    );
    assert_eq!(p.evaluate(&who(ALICE, &[]), &pinned, now()), Ok(()));
    assert_eq!(p.evaluate(&who(BOB, &[]), &global, now()), Ok(()));
    assert_eq!(p.evaluate(&who(ALICE, &release), &global, now()), Ok(()));
    // A group name is not a user key, nor the other way round.
    assert_eq!(
        p.evaluate(&who("release-managers", &[]), &global, now()),
        Err(Violation::GlobalPat)
    );
    let bob_as_group = vec![BOB.to_owned()];
    assert_eq!(
        p.evaluate(&who(ALICE, &bob_as_group), &global, now()),
        Err(Violation::GlobalPat)
    );
}

#[test]
fn full_scope_pats_are_refused_unless_allowed() {
    let mut p = Policies::default();
    p.tenant.restrict_full_scope_pats = on(&[BOB], &[]);
    let full = ScopeSet::full_access();
    let narrow = scopes("vso.code_full vso.packaging_manage");
    let s = shape(&full, false, vec![org(1)], 7);
    assert_eq!(
        p.evaluate(&who(ALICE, &[]), &s, now()),
        Err(Violation::FullScopePat)
    );
    assert_eq!(p.evaluate(&who(BOB, &[]), &s, now()), Ok(()));
    let s = shape(&narrow, false, vec![org(1)], 7);
    assert_eq!(p.evaluate(&who(ALICE, &[]), &s, now()), Ok(()));
}

#[test]
fn lifespan_is_measured_from_now_to_the_day() {
    let mut p = Policies::default();
    p.tenant.max_lifespan = LifespanRestriction {
        enabled: true,
        max_days: 30,
        allow: AllowList {
            users: vec![BOB.into()],
            groups: vec![],
        },
    };
    let code = scopes("vso.code");
    let at = |valid_to| TokenShape {
        scopes: &code,
        global: false,
        orgs: vec![],
        valid_to,
    };
    let limit = now() + Duration::days(30);
    let alice = who(ALICE, &[]);
    assert_eq!(p.evaluate(&alice, &at(limit), now()), Ok(()));
    assert_eq!(
        p.evaluate(&alice, &at(limit + Duration::seconds(1)), now()),
        Err(Violation::Lifespan { max_days: 30 })
    );
    assert_eq!(
        p.evaluate(&who(BOB, &[]), &at(limit + Duration::days(300)), now()),
        Ok(())
    );
    assert_eq!(p.tenant.lifespan_cap(&alice), Some(Duration::days(30)));
    assert_eq!(p.tenant.lifespan_cap(&who(BOB, &[])), None);
}

#[test]
fn organization_policy_restricts_every_token_that_reaches_it() {
    let mut p = Policies::default();
    p.orgs.insert(
        org(1),
        OrgPolicy {
            restrict_pat_creation: true,
            allow: AllowList {
                users: vec![BOB.into()],
                groups: vec!["builders".into()],
            },
            allow_packaging_pats: false,
        },
    );
    let code = scopes("vso.code");
    let alice = who(ALICE, &[]);
    let refused = Err(Violation::OrgCreation { org: org(1) });
    assert_eq!(
        p.evaluate(&alice, &shape(&code, false, vec![org(1)], 7), now()),
        refused
    );
    // Another organization's token, and a global one whose owner is not a member.
    assert_eq!(
        p.evaluate(&alice, &shape(&code, false, vec![org(2)], 7), now()),
        Ok(())
    );
    assert_eq!(
        p.evaluate(&alice, &shape(&code, true, vec![org(2)], 7), now()),
        Ok(())
    );
    assert_eq!(
        p.evaluate(&alice, &shape(&code, true, vec![org(2), org(1)], 7), now()),
        refused
    );
    let builders = vec!["builders".to_owned()];
    let s = shape(&code, false, vec![org(1)], 7);
    assert_eq!(p.evaluate(&who(BOB, &[]), &s, now()), Ok(()));
    assert_eq!(p.evaluate(&who(ALICE, &builders), &s, now()), Ok(()));
}

#[test]
fn packaging_only_tokens_pass_when_the_organization_allows_them() {
    let mut p = Policies::default();
    let mut policy = OrgPolicy {
        restrict_pat_creation: true,
        ..OrgPolicy::default()
    };
    p.orgs.insert(org(1), policy.clone());
    let packaging = scopes("vso.packaging_write vso.packaging");
    let mixed = scopes("vso.packaging vso.code");
    let full = ScopeSet::full_access();
    let profile = scopes("vso.profile");
    let alice = who(ALICE, &[]);
    let eval =
        |p: &Policies, s: &ScopeSet| p.evaluate(&alice, &shape(s, false, vec![org(1)], 7), now());
    assert!(eval(&p, &packaging).is_err(), "not allowed yet");
    policy.allow_packaging_pats = true;
    p.orgs.insert(org(1), policy);
    assert_eq!(eval(&p, &packaging), Ok(()));
    for other in [&mixed, &full, &profile] {
        assert_eq!(
            eval(&p, other),
            Err(Violation::OrgCreation { org: org(1) }),
            "{other}"
        );
    }
}

#[test]
fn violations_come_in_a_fixed_order() {
    let mut p = Policies::default();
    p.tenant.restrict_global_pats = on(&[], &[]);
    p.tenant.restrict_full_scope_pats = on(&[], &[]);
    p.tenant.max_lifespan.enabled = true;
    let full = ScopeSet::full_access();
    let alice = who(ALICE, &[]);
    assert_eq!(
        p.evaluate(&alice, &shape(&full, true, vec![], 365), now()),
        Err(Violation::GlobalPat)
    );
    assert_eq!(
        p.evaluate(&alice, &shape(&full, false, vec![], 365), now()),
        Err(Violation::FullScopePat)
    );
}

#[test]
fn a_global_token_reaches_its_owners_organizations() {
    let mut pat = Pat::fixture(Uuid::new_v4(), now());
    let mine = [org(1), org(2)];
    let s = TokenShape::of(&pat, &mine);
    assert!(s.global);
    assert_eq!(s.orgs, mine);
    pat.target = OrgTarget::Orgs(vec![org(3)]);
    let s = TokenShape::of(&pat, &mine);
    assert!(!s.global);
    assert_eq!(s.orgs, [org(3)]);
    assert_eq!(s.valid_to, pat.valid_to);
}

#[test]
fn documents_are_validated() {
    let mut t = TenantPolicy::default();
    assert_eq!(t.validate(), Ok(()));
    t.max_lifespan.max_days = 0;
    assert_eq!(t.validate(), Err(PolicyError::LifespanOutOfRange));
    t.max_lifespan.max_days = MAX_LIFESPAN_DAYS + 1;
    assert_eq!(t.validate(), Err(PolicyError::LifespanOutOfRange));
    t.max_lifespan.max_days = 90;
    t.restrict_global_pats.allow.users = vec!["alice".into()];
    assert!(matches!(t.validate(), Err(PolicyError::NotAUserKey(..))));
    t.restrict_global_pats.allow.users = vec![" ".into()];
    assert!(matches!(t.validate(), Err(PolicyError::BadEntry(_))));
    t.restrict_global_pats.allow.users = vec![];
    t.restrict_global_pats.allow.groups = vec!["g".into(); MAX_ALLOW_ENTRIES + 1];
    assert!(matches!(t.validate(), Err(PolicyError::TooManyEntries(_))));
    let o = OrgPolicy {
        allow: AllowList {
            users: vec![],
            groups: vec!["a\u{7}".into()],
        },
        ..OrgPolicy::default()
    };
    assert!(matches!(o.validate(), Err(PolicyError::BadEntry(_))));
}

#[test]
fn documents_read_with_defaults_and_refuse_unknown_fields() {
    let t: TenantPolicy =
        serde_json::from_str(r#"{"restrictGlobalPats": {"enabled": true}}"#).unwrap();
    assert!(t.restrict_global_pats.enabled);
    assert!(t.revoke_leaked_pats);
    assert_eq!(t.max_lifespan.max_days, 30);
    let back: TenantPolicy = serde_json::from_value(serde_json::to_value(&t).unwrap()).unwrap();
    assert_eq!(back, t);
    assert!(serde_json::from_str::<TenantPolicy>(r#"{"restrictGlobalPAT": true}"#).is_err());
    assert!(serde_json::from_str::<OrgPolicy>(r#"{"allow": {"user": []}}"#).is_err());
}

fn arb_allow() -> impl Strategy<Value = AllowList> {
    let names = prop::sample::select(vec![ALICE, BOB, "i|carol", "g1", "g2"]);
    (
        prop::collection::vec(names.clone(), 0..3),
        prop::collection::vec(names, 0..3),
    )
        .prop_map(|(u, g)| AllowList {
            users: u.into_iter().map(str::to_owned).collect(),
            groups: g.into_iter().map(str::to_owned).collect(),
        })
}

fn arb_restriction() -> impl Strategy<Value = Restriction> {
    (any::<bool>(), arb_allow()).prop_map(|(enabled, allow)| Restriction { enabled, allow })
}

fn arb_policies() -> impl Strategy<Value = Policies> {
    let org_policy =
        (any::<bool>(), arb_allow(), any::<bool>()).prop_map(|(r, allow, pkg)| OrgPolicy {
            restrict_pat_creation: r,
            allow,
            allow_packaging_pats: pkg,
        });
    (
        arb_restriction(),
        arb_restriction(),
        (any::<bool>(), 1u32..400, arb_allow()),
        prop::collection::btree_map((1u8..4).prop_map(org), org_policy, 0..3),
    )
        .prop_map(|(g, f, (le, days, la), orgs)| Policies {
            tenant: TenantPolicy {
                restrict_global_pats: g,
                restrict_full_scope_pats: f,
                max_lifespan: LifespanRestriction {
                    enabled: le,
                    max_days: days,
                    allow: la,
                },
                revoke_leaked_pats: true,
            },
            orgs,
        })
}

fn arb_scopes() -> impl Strategy<Value = ScopeSet> {
    prop::sample::select(vec![
        "app_token",
        "vso.code",
        "vso.packaging",
        "vso.packaging_write vso.packaging_manage",
        "vso.packaging vso.build",
    ])
    .prop_map(scopes)
}

fn everyone_allowed(mut p: Policies, key: &str) -> Policies {
    let add = |a: &mut AllowList| a.users.push(key.to_owned());
    add(&mut p.tenant.restrict_global_pats.allow);
    add(&mut p.tenant.restrict_full_scope_pats.allow);
    add(&mut p.tenant.max_lifespan.allow);
    for o in p.orgs.values_mut() {
        add(&mut o.allow);
    }
    p
}

proptest! {
    /// Being on every allow-list lets anything through; switching every
    /// policy off does too.
    #[test]
    fn allow_lists_and_switches_exempt(
        p in arb_policies(),
        s in arb_scopes(),
        global in any::<bool>(),
        orgs in prop::collection::vec((1u8..4).prop_map(org), 0..3),
        days in 1i64..800,
    ) {
        let shape = shape(&s, global, orgs, days);
        let alice = who(ALICE, &[]);
        prop_assert_eq!(everyone_allowed(p.clone(), ALICE).evaluate(&alice, &shape, now()), Ok(()));
        let mut off = p.clone();
        off.tenant.restrict_global_pats.enabled = false;
        off.tenant.restrict_full_scope_pats.enabled = false;
        off.tenant.max_lifespan.enabled = false;
        for o in off.orgs.values_mut() { o.restrict_pat_creation = false; }
        prop_assert_eq!(off.evaluate(&alice, &shape, now()), Ok(()));
    }

    /// A refusal names a policy whose condition holds for this token.
    #[test]
    fn refusals_name_a_policy_that_applies(
        p in arb_policies(),
        s in arb_scopes(),
        global in any::<bool>(),
        orgs in prop::collection::vec((1u8..4).prop_map(org), 0..3),
        days in 1i64..800,
    ) {
        let shape = shape(&s, global, orgs.clone(), days);
        let alice = who(ALICE, &[]);
        match p.evaluate(&alice, &shape, now()) {
            Ok(()) => {}
            Err(Violation::GlobalPat) => prop_assert!(global && p.tenant.restrict_global_pats.enabled),
            Err(Violation::FullScopePat) => prop_assert!(s.is_full_access()),
            Err(Violation::Lifespan { max_days }) => prop_assert!(i64::from(max_days) < days),
            Err(Violation::OrgCreation { org }) => {
                prop_assert!(orgs.contains(&org));
                prop_assert!(p.orgs[&org].restrict_pat_creation);
            }
        }
        // Narrowing a token never makes a policy refuse it: pinned, not full
        // scope, shorter-lived, reaching no organization.
        let code = scopes("vso.packaging");
        let narrow = TokenShape { scopes: &code, global: false, orgs: vec![], valid_to: now() };
        prop_assert_eq!(p.evaluate(&alice, &narrow, now()), Ok(()));
    }
}
