#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The administration part of the store contract: remembered claims, user
//! listings, memberships administrators change, policies, PATs across
//! owners, revocations with rules, and reading the audit log.

use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;

use patrol_core::hashing::{ServerKey, TokenHasher};
use patrol_core::pat::{ListFilter, OrgTarget, Pat};
use patrol_core::policy::{OrgPolicy, TenantPolicy};
use patrol_core::revocation::RevocationRule;
use patrol_core::roles::RememberedClaims;
use patrol_core::scope::ScopeSet;
use patrol_core::secret::PatSecret;
use patrol_core::user::{AuditAction, AuditEvent, Outcome, User, UserClaims};
use patrol_store::{
    AdminPatQuery, AuditCursor, AuditQuery, PolicyChange, SqliteStore, Store, StoreError, UserQuery,
};

mod common;
use common::on_both_stores;
use std::sync::Arc;

on_both_stores! {
    #[tokio::test]
    claims_are_remembered_and_users_listed_with_them,
    a_member_an_administrator_removed_stays_removed,
    policies_are_stored_per_scope_with_their_audit_record,
    pats_across_owners_by_organization_and_page,
    revocations_and_their_rule_are_one_transaction,
    the_audit_log_filters_and_pages_newest_first;
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
}

async fn user(s: &dyn Store, sub: &str, name: &str) -> User {
    let c = UserClaims {
        issuer: "iss".into(),
        subject: sub.into(),
        display_name: name.into(),
        email: None,
        email_verified: false,
    };
    s.upsert_user(&c, t0()).await.unwrap()
}

fn ev(action: AuditAction, at: DateTime<Utc>) -> AuditEvent {
    AuditEvent::new(action, at, "iss|admin", Outcome::Success)
}

async fn audit_count(s: &dyn Store, action: AuditAction) -> usize {
    let q = AuditQuery {
        action: Some(action),
        limit: 1000,
        ..AuditQuery::default()
    };
    s.list_audit(&q).await.unwrap().len()
}

async fn store_pat(s: &dyn Store, p: &Pat) {
    let hasher = TokenHasher::new(vec![ServerKey::new("k1", vec![7; 32]).unwrap()]).unwrap();
    let secret = PatSecret::new(format!("secret-{}", p.authorization_id));
    let audit = AuditEvent::for_pat(AuditAction::PatCreate, p, "iss|owner");
    s.create_pat(p, &hasher.hash(&secret), &audit, None)
        .await
        .unwrap();
}

async fn claims_are_remembered_and_users_listed_with_them(s: Arc<dyn Store>) {
    let bea = user(&*s, "b", "Bea").await;
    let al = user(&*s, "A11CE000-0000-4000-8000-000000000001", "al").await;
    let org = s.ensure_org("Fabrikam", t0()).await.unwrap();
    s.add_member(al.id, org.id).await.unwrap();
    assert!(s.user_claims(bea.id).await.unwrap().is_empty());
    let mut c = RememberedClaims::default();
    c.insert("groups", ["g1".to_owned(), "g2".to_owned()]);
    s.set_user_claims(bea.id, &c, t0()).await.unwrap();
    assert_eq!(s.user_claims(bea.id).await.unwrap(), c);
    c.insert("wids", ["w".to_owned()]);
    s.set_user_claims(bea.id, &c, t0()).await.unwrap();
    assert_eq!(s.user_claims(bea.id).await.unwrap(), c);

    let all = s
        .list_users(&UserQuery {
            limit: 10,
            ..UserQuery::default()
        })
        .await
        .unwrap();
    let names: Vec<_> = all.iter().map(|e| e.user.display_name.as_str()).collect();
    assert_eq!(names, ["al", "Bea"], "by name, case-insensitively");
    assert_eq!(all[0].member_of, std::slice::from_ref(&org));
    assert_eq!(all[1].claims, c);
    let members = s
        .list_users(&UserQuery {
            org: Some(org.id),
            limit: 10,
            ..UserQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].user, al);
    let by_subject = s
        .list_users(&UserQuery {
            subject: Some("a11ce000-0000-4000-8000-000000000001".into()),
            limit: 10,
            ..UserQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(by_subject.len(), 1);
    let page2 = s
        .list_users(&UserQuery {
            offset: 1,
            limit: 10,
            ..UserQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page2.len(), 1);
    assert_eq!(page2[0].user, bea);
}

async fn a_member_an_administrator_removed_stays_removed(s: Arc<dyn Store>) {
    let a = user(&*s, "a", "A").await;
    let b = user(&*s, "b", "B").await;
    let org = s.ensure_org("fabrikam", t0()).await.unwrap();
    assert!(s.join_unless_removed(a.id, org.id).await.unwrap());
    assert!(!s.join_unless_removed(a.id, org.id).await.unwrap());
    let remove = || ev(AuditAction::AdminMemberRemove, t0());
    assert!(s
        .admin_remove_member(a.id, org.id, &remove())
        .await
        .unwrap());
    assert!(!s.is_member(a.id, org.id).await.unwrap());
    assert_eq!(
        s.member_org(a.id, "FabriKam").await.unwrap(),
        Some((org.clone(), false))
    );
    assert_eq!(s.member_org(a.id, "contoso").await.unwrap(), None);
    assert!(!s.join_unless_removed(a.id, org.id).await.unwrap());
    // Start-up auto-join adds everyone else, never the removed one.
    assert_eq!(s.join_all_unless_removed(org.id).await.unwrap(), 1);
    assert!(s.is_member(b.id, org.id).await.unwrap());
    assert_eq!(
        s.member_org(b.id, "fabrikam").await.unwrap(),
        Some((org.clone(), true))
    );
    assert!(!s.is_member(a.id, org.id).await.unwrap());
    assert_eq!(s.join_all_unless_removed(org.id).await.unwrap(), 0);
    // Removing a non-member is recorded too, and changes nothing.
    assert!(!s
        .admin_remove_member(a.id, org.id, &remove())
        .await
        .unwrap());
    let add = || ev(AuditAction::AdminMemberAdd, t0());
    assert!(s.admin_add_member(a.id, org.id, &add()).await.unwrap());
    assert!(!s.admin_add_member(a.id, org.id, &add()).await.unwrap());
    assert!(s.is_member(a.id, org.id).await.unwrap());
    assert_eq!(audit_count(&*s, AuditAction::AdminMemberRemove).await, 2);
    assert_eq!(audit_count(&*s, AuditAction::AdminMemberAdd).await, 2);
    // Added back by an administrator: auto-join may keep them again.
    s.admin_remove_member(a.id, org.id, &remove())
        .await
        .unwrap();
    s.admin_add_member(a.id, org.id, &add()).await.unwrap();
    assert!(!s.join_unless_removed(a.id, org.id).await.unwrap());
    assert!(s.is_member(a.id, org.id).await.unwrap());
}

async fn policies_are_stored_per_scope_with_their_audit_record(s: Arc<dyn Store>) {
    let org = s.ensure_org("fabrikam", t0()).await.unwrap();
    let p = s.policies().await.unwrap();
    assert_eq!(p.tenant, TenantPolicy::default());
    assert!(p.orgs.is_empty());
    let mut tenant = TenantPolicy::default();
    tenant.restrict_global_pats.enabled = true;
    tenant.restrict_global_pats.allow.users = vec!["iss|bob".into()];
    tenant.revoke_leaked_pats = false;
    let set = || ev(AuditAction::AdminPolicySet, t0());
    s.set_policy(PolicyChange::Tenant(&tenant), t0(), &set())
        .await
        .unwrap();
    let op = OrgPolicy {
        restrict_pat_creation: true,
        allow_packaging_pats: true,
        ..OrgPolicy::default()
    };
    s.set_policy(PolicyChange::Org(org.id, &op), t0(), &set())
        .await
        .unwrap();
    let p = s.policies().await.unwrap();
    assert_eq!(p.tenant, tenant);
    assert_eq!(p.orgs.get(&org.id), Some(&op));
    tenant.restrict_global_pats.enabled = false;
    s.set_policy(PolicyChange::Tenant(&tenant), t0(), &set())
        .await
        .unwrap();
    assert_eq!(s.policies().await.unwrap().tenant, tenant);
    assert_eq!(audit_count(&*s, AuditAction::AdminPolicySet).await, 3);
}

async fn pats_across_owners_by_organization_and_page(s: Arc<dyn Store>) {
    let a = user(&*s, "a", "A").await;
    let b = user(&*s, "b", "B").await;
    let fab = s.ensure_org("fabrikam", t0()).await.unwrap();
    let con = s.ensure_org("contoso", t0()).await.unwrap();
    let mk = |owner: Uuid, target: OrgTarget| Pat {
        target,
        ..Pat::fixture(owner, t0())
    };
    let pats = [
        mk(a.id, OrgTarget::Orgs(vec![fab.id])),
        mk(a.id, OrgTarget::Orgs(vec![con.id])),
        mk(a.id, OrgTarget::All),
        mk(b.id, OrgTarget::Orgs(vec![fab.id])),
        Pat {
            valid_to: t0() - Duration::seconds(1),
            ..mk(b.id, OrgTarget::All)
        },
    ];
    for p in &pats {
        store_pat(&*s, p).await;
    }
    s.add_member(a.id, fab.id).await.unwrap();
    let q = |owners: Vec<Uuid>, org: Option<Uuid>, filter| AdminPatQuery {
        owners,
        org,
        filter,
        now: t0(),
        from: None,
        limit: 100,
    };
    let ids = |v: Vec<Pat>| {
        v.into_iter()
            .map(|p| p.authorization_id)
            .collect::<Vec<_>>()
    };
    let sorted = |mut v: Vec<Uuid>| {
        v.sort();
        v
    };
    let got = ids(s
        .list_pats_admin(&q(vec![a.id], None, ListFilter::All))
        .await
        .unwrap());
    assert_eq!(
        got,
        sorted(pats[..3].iter().map(|p| p.authorization_id).collect())
    );
    let got = ids(s
        .list_pats_admin(&q(vec![], Some(fab.id), ListFilter::All))
        .await
        .unwrap());
    let want = [0, 2, 3].map(|i| pats[i].authorization_id).to_vec();
    assert_eq!(got, sorted(want), "its own, and global ones of its members");
    s.add_member(b.id, fab.id).await.unwrap();
    let got = ids(s
        .list_pats_admin(&q(vec![], Some(fab.id), ListFilter::Active))
        .await
        .unwrap());
    assert_eq!(got.len(), 3, "the expired one is left out");
    // Keyset paging: a page of two, then from the next id.
    let mut first = q(vec![], None, ListFilter::All);
    first.limit = 3;
    let page = ids(s.list_pats_admin(&first).await.unwrap());
    let next = AdminPatQuery {
        from: Some(page[2]),
        ..first
    };
    let rest = ids(s.list_pats_admin(&next).await.unwrap());
    assert_eq!(rest[0], page[2]);
    let mut all = page[..2].to_vec();
    all.extend(rest);
    assert_eq!(
        all,
        sorted(pats.iter().map(|p| p.authorization_id).collect())
    );
}

async fn revocations_and_their_rule_are_one_transaction(s: Arc<dyn Store>) {
    let a = user(&*s, "a", "A").await;
    let org = s.ensure_org("fabrikam", t0()).await.unwrap();
    let p1 = Pat::fixture(a.id, t0());
    let p2 = Pat::fixture(a.id, t0());
    store_pat(&*s, &p1).await;
    store_pat(&*s, &p2).await;
    let later = t0() + Duration::hours(1);
    let revoke = |p: &Pat| {
        let mut e = ev(AuditAction::PatRevoke, later);
        e.target_pat = Some(p.authorization_id);
        (p.authorization_id, e)
    };
    assert_eq!(s.revoke_many(later, &[revoke(&p1)], None).await.unwrap(), 1);
    let rule = RevocationRule {
        id: Uuid::new_v4(),
        org: Some(org.id),
        scopes: ScopeSet::parse("vso.code").unwrap(),
        created_before: later,
        created_at: later,
        created_by: "iss|admin".into(),
        revoked: 0,
    };
    let rule_ev = ev(AuditAction::AdminRevocationRule, later);
    let n = s
        .revoke_many(later, &[revoke(&p1), revoke(&p2)], Some((&rule, &rule_ev)))
        .await
        .unwrap();
    assert_eq!(n, 1, "p1 was already revoked");
    let stored = s.list_revocation_rules().await.unwrap();
    assert_eq!(stored, [RevocationRule { revoked: 1, ..rule }]);
    assert_eq!(
        s.get_pat(p2.authorization_id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(later)
    );
    assert_eq!(audit_count(&*s, AuditAction::PatRevoke).await, 3);
    assert_eq!(audit_count(&*s, AuditAction::AdminRevocationRule).await, 1);
}

async fn the_audit_log_filters_and_pages_newest_first(s: Arc<dyn Store>) {
    let a = user(&*s, "a", "A").await;
    let b = user(&*s, "b", "B").await;
    let pa = Pat::fixture(a.id, t0());
    store_pat(&*s, &pa).await; // one pat.create by a, at t0
    for i in 0..5 {
        let e = AuditEvent {
            actor_user: Some(b.id),
            target_user: Some(if i % 2 == 0 { a.id } else { b.id }),
            target_pat: (i == 4).then_some(pa.authorization_id),
            ..AuditEvent::new(
                AuditAction::PatRevoke,
                t0() + Duration::minutes(i),
                "iss|b",
                Outcome::Success,
            )
        };
        s.append_audit(&e).await.unwrap();
    }
    s.append_audit(&AuditEvent::new(
        AuditAction::AuthReject,
        t0() + Duration::minutes(9),
        "unauthenticated",
        Outcome::Failure,
    ))
    .await
    .unwrap();
    let q = |f: &dyn Fn(&mut AuditQuery)| {
        let mut q = AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        };
        f(&mut q);
        q
    };
    let n = |q: AuditQuery| {
        let s = &s;
        async move { s.list_audit(&q).await.unwrap().len() }
    };
    assert_eq!(n(q(&|_| {})).await, 7);
    assert_eq!(n(q(&|q| q.actor = Some("unauthenticated".into()))).await, 1);
    assert_eq!(
        n(q(&|q| q.user = Some(a.id))).await,
        4,
        "a's create, three about a"
    );
    assert_eq!(
        n(q(&|q| q.since = Some(t0() + Duration::minutes(2)))).await,
        4
    );
    assert_eq!(
        n(q(&|q| q.until = Some(t0() + Duration::minutes(2)))).await,
        3
    );
    // An owner sees what they did, what was done to them, and to their PATs.
    assert_eq!(n(q(&|q| q.visible_to = Some(a.id))).await, 4);
    assert_eq!(n(q(&|q| q.visible_to = Some(b.id))).await, 5);
    // An organization's administrators: events by or about its members.
    let org = s.ensure_org("fabrikam", t0()).await.unwrap();
    assert_eq!(n(q(&|q| q.members_of = vec![org.id])).await, 0);
    s.add_member(a.id, org.id).await.unwrap();
    assert_eq!(n(q(&|q| q.members_of = vec![org.id])).await, 4);
    // Keyset pages of two cover everything once, newest first.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = s
            .list_audit(&q(&|q| {
                q.limit = 2;
                q.after = after;
            }))
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(AuditCursor {
            at: last.at,
            id: last.id,
        });
        seen.extend(page.into_iter().map(|e| (e.at, e.id)));
    }
    assert_eq!(seen.len(), 7);
    let mut sorted = seen.clone();
    sorted.sort_by(|x, y| y.cmp(x));
    assert_eq!(seen, sorted);
}

#[tokio::test]
async fn a_corrupt_policy_document_is_corrupt_not_default() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let s = SqliteStore::open(&path).await.unwrap();
    drop(s);
    let raw = SqliteStore::open_url(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let set = ev(AuditAction::AdminPolicySet, t0());
    raw.set_policy(PolicyChange::Tenant(&TenantPolicy::default()), t0(), &set)
        .await
        .unwrap();
    use sqlx::ConnectOptions as _;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .connect()
        .await
        .unwrap();
    sqlx::query("UPDATE policies SET body = '{\"restrictGlobalPAT\": true}'")
        .execute(&mut conn)
        .await
        .unwrap();
    assert!(matches!(raw.policies().await, Err(StoreError::Corrupt(_))));
}
