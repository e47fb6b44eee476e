#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The store contract, run against SQLite and PostgreSQL (`tests/common`);
//! what only one store has is tested for that store alone (`tests/sqlite.rs`:
//! its files; `tests/postgres.rs`: several replicas).

use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;

use patrol_core::hashing::{ServerKey, TokenHasher};
use patrol_core::pat::{LastUse, OrgTarget, Pat};
use patrol_core::scope::ScopeSet;
use patrol_core::secret::PatSecret;
use patrol_core::token::{mint, MintOptions};
use patrol_core::user::{AuditAction, AuditEvent, Outcome, UserClaims};
use patrol_store::{AuditQuery, PatQuery, Store, StoreError, UsageRecord};

mod common;
use common::on_both_stores;
use std::sync::Arc;

on_both_stores! {
    #[tokio::test]
    users_are_keyed_by_issuer_and_subject,
    organizations_and_membership,
    pat_lifecycle_with_one_audit_record_per_change,
    key_rotation_keeps_old_hashes_findable_until_removed,
    listing_filters_sorts_and_pages,
    usage_is_recorded_and_never_goes_backwards,
    web_sessions_round_trip_update_delete_and_purge,
    a_pat_for_an_unknown_owner_leaves_no_trace;
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    the_active_cap_holds_under_concurrent_creates;
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
}

fn claims(iss: &str, sub: &str) -> UserClaims {
    UserClaims {
        issuer: iss.into(),
        subject: sub.into(),
        display_name: format!("User {sub}"),
        email: Some(format!("{sub}@example.test")),
        email_verified: false,
    }
}

fn audit(action: AuditAction, pat: Option<Uuid>) -> AuditEvent {
    AuditEvent {
        target_pat: pat,
        source_ip: Some("127.0.0.1".into()),
        ..AuditEvent::new(action, t0(), "test", Outcome::Success)
    }
}

fn hasher() -> TokenHasher {
    TokenHasher::new(vec![ServerKey::new("k1", vec![7; 32]).unwrap()]).unwrap()
}

fn pat(owner: Uuid, name: &str, valid_to: DateTime<Utc>) -> Pat {
    Pat {
        display_name: name.into(),
        scopes: ScopeSet::parse("vso.code vso.packaging").unwrap(),
        valid_to,
        ..Pat::fixture(owner, t0())
    }
}

fn fresh_secret() -> PatSecret {
    mint(t0(), &MintOptions::default(), &mut rand::rngs::OsRng).unwrap()
}

/// Store `p` under a fresh secret (hashed with [`hasher`]), uncapped.
async fn create(s: &dyn Store, p: &Pat) -> PatSecret {
    let secret = fresh_secret();
    let ev = audit(AuditAction::PatCreate, Some(p.authorization_id));
    s.create_pat(p, &hasher().hash(&secret), &ev, None)
        .await
        .unwrap();
    secret
}

async fn users_are_keyed_by_issuer_and_subject(s: Arc<dyn Store>) {
    let a = s
        .upsert_user(&claims("https://idp-a", "42"), t0())
        .await
        .unwrap();
    let b = s
        .upsert_user(&claims("https://idp-b", "42"), t0())
        .await
        .unwrap();
    assert_ne!(a.id, b.id, "same sub at two issuers is two users");
    assert!(!a.email_verified);
    let mut c = claims("https://idp-a", "42");
    c.email = Some("renamed@example.test".into());
    c.email_verified = true;
    c.display_name = "Renamed".into();
    let a2 = s.upsert_user(&c, t0() + Duration::hours(1)).await.unwrap();
    assert_eq!(a2.id, a.id, "changing email keeps the user");
    assert_eq!(a2.email.as_deref(), Some("renamed@example.test"));
    assert!(
        a2.email_verified,
        "whether the email was vouched for is remembered"
    );
    assert_eq!(s.get_user(a.id).await.unwrap().unwrap(), a2);
    // … and follows the latest sign-in; no email is never verified.
    c.email = None;
    let a3 = s.upsert_user(&c, t0() + Duration::hours(2)).await.unwrap();
    assert!(!a3.email_verified);
    c.email = Some("renamed@example.test".into());
    c.email_verified = false;
    assert!(!s.upsert_user(&c, t0()).await.unwrap().email_verified);
    assert_eq!(a2.created_at, a.created_at);
    assert_eq!(a2.last_sign_in, t0() + Duration::hours(1));
    assert_eq!(
        s.get_user(a.id).await.unwrap().unwrap().display_name,
        "Renamed"
    );
    s.set_user_disabled(a.id, true).await.unwrap();
    assert!(s.get_user(a.id).await.unwrap().unwrap().disabled);
}

async fn organizations_and_membership(s: Arc<dyn Store>) {
    let f = s.ensure_org("Fabrikam", t0()).await.unwrap();
    let again = s.ensure_org("fabrikam", t0()).await.unwrap();
    assert_eq!(f.id, again.id);
    assert_eq!(s.org_by_name("FABRIKAM").await.unwrap().unwrap().id, f.id);
    assert!(s.org_by_name("contoso").await.unwrap().is_none());
    let u = s.upsert_user(&claims("i", "u"), t0()).await.unwrap();
    assert!(!s.is_member(u.id, f.id).await.unwrap());
    s.add_member(u.id, f.id).await.unwrap();
    s.add_member(u.id, f.id).await.unwrap();
    assert!(s.is_member(u.id, f.id).await.unwrap());
}

async fn pat_lifecycle_with_one_audit_record_per_change(s: Arc<dyn Store>) {
    let u = s.upsert_user(&claims("i", "u"), t0()).await.unwrap();
    let org = s.ensure_org("fabrikam", t0()).await.unwrap();
    let h = hasher();
    let mut p = pat(u.id, "ci", t0() + Duration::days(30));
    p.target = OrgTarget::Orgs(vec![org.id]);
    let secret = create(&*s, &p).await;
    assert_eq!(s.get_pat(p.authorization_id).await.unwrap().unwrap(), p);

    let (found, key) = s
        .find_by_hash(&h.candidates(secret.expose()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.authorization_id, p.authorization_id);
    assert!(h.verify(secret.expose(), &key));
    assert!(s
        .find_by_hash(&h.candidates("not-the-secret"))
        .await
        .unwrap()
        .is_none());

    p.display_name = "renamed".into();
    p.scopes = ScopeSet::parse("vso.code").unwrap();
    p.target = OrgTarget::All;
    s.update_pat(&p, &audit(AuditAction::PatUpdate, Some(p.authorization_id)))
        .await
        .unwrap();
    assert_eq!(s.get_pat(p.authorization_id).await.unwrap().unwrap(), p);

    let new_secret = fresh_secret();
    s.replace_secret(
        p.authorization_id,
        &h.hash(&new_secret),
        &audit(AuditAction::PatRegenerate, Some(p.authorization_id)),
    )
    .await
    .unwrap();
    assert!(
        s.find_by_hash(&h.candidates(secret.expose()))
            .await
            .unwrap()
            .is_none(),
        "old secret gone"
    );
    assert!(s
        .find_by_hash(&h.candidates(new_secret.expose()))
        .await
        .unwrap()
        .is_some());

    // Revoking twice: the second answers false, and both are audited.
    for first in [true, false] {
        let ev = audit(AuditAction::PatRevoke, Some(p.authorization_id));
        assert_eq!(
            s.revoke_pat(p.authorization_id, t0(), &ev).await.unwrap(),
            first
        );
    }
    assert_eq!(
        s.get_pat(p.authorization_id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(t0())
    );

    let events = s
        .list_audit(&AuditQuery {
            target_pat: Some(p.authorization_id),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut actions: Vec<_> = events.iter().map(|e| e.action.as_str()).collect();
    actions.sort_unstable();
    assert_eq!(
        actions,
        [
            "pat.create",
            "pat.regenerate",
            "pat.revoke",
            "pat.revoke",
            "pat.update"
        ]
    );
}

async fn key_rotation_keeps_old_hashes_findable_until_removed(s: Arc<dyn Store>) {
    let u = s.upsert_user(&claims("i", "u"), t0()).await.unwrap();
    let old = TokenHasher::new(vec![ServerKey::new("old", vec![1; 32]).unwrap()]).unwrap();
    let secret = fresh_secret();
    let p = pat(u.id, "x", t0() + Duration::days(1));
    s.create_pat(
        &p,
        &old.hash(&secret),
        &audit(AuditAction::PatCreate, None),
        None,
    )
    .await
    .unwrap();
    let both = TokenHasher::new(vec![
        ServerKey::new("new", vec![2; 32]).unwrap(),
        ServerKey::new("old", vec![1; 32]).unwrap(),
    ])
    .unwrap();
    assert!(s
        .find_by_hash(&both.candidates(secret.expose()))
        .await
        .unwrap()
        .is_some());
    let only_new = TokenHasher::new(vec![ServerKey::new("new", vec![2; 32]).unwrap()]).unwrap();
    assert!(s
        .find_by_hash(&only_new.candidates(secret.expose()))
        .await
        .unwrap()
        .is_none());
}

async fn listing_filters_sorts_and_pages(s: Arc<dyn Store>) {
    let u = s.upsert_user(&claims("i", "u"), t0()).await.unwrap();
    let other = s.upsert_user(&claims("i", "other"), t0()).await.unwrap();
    let now = t0() + Duration::days(10);
    let mut ids = Vec::new();
    for (i, name) in ["delta", "Alpha", "charlie", "bravo", "echo"]
        .iter()
        .enumerate()
    {
        let valid_to = t0() + Duration::days(5 * i as i64 + 1); // 1, 6, 11, 16, 21
        let p = pat(u.id, name, valid_to);
        create(&*s, &p).await;
        ids.push(p.authorization_id);
    }
    // echo (valid to day 21) revoked; delta (1) and Alpha (6) expired at day 10.
    s.revoke_pat(ids[4], now, &audit(AuditAction::PatRevoke, None))
        .await
        .unwrap();
    create(&*s, &pat(other.id, "zulu", t0() + Duration::days(30))).await;

    let q = |filter, sort, ascending, offset, limit| PatQuery {
        owner: u.id,
        filter,
        sort,
        ascending,
        offset,
        limit,
        now,
        ended_after: None,
    };
    let names = |v: Vec<Pat>| v.into_iter().map(|p| p.display_name).collect::<Vec<_>>();

    use patrol_core::pat::{ListFilter as F, SortBy as S};
    let cases: [(PatQuery, &[&str]); 12] = [
        (
            q(F::All, S::DisplayName, true, 0, 10),
            &["Alpha", "bravo", "charlie", "delta", "echo"],
        ),
        (
            q(F::All, S::DisplayName, false, 0, 10),
            &["echo", "delta", "charlie", "bravo", "Alpha"],
        ),
        (
            q(F::Active, S::DisplayName, true, 0, 10),
            &["bravo", "charlie"],
        ),
        (
            q(F::Expired, S::DisplayName, true, 0, 10),
            &["Alpha", "delta"],
        ),
        (q(F::Revoked, S::DisplayName, true, 0, 10), &["echo"]),
        (
            q(F::All, S::DisplayDate, true, 0, 10),
            &["delta", "Alpha", "charlie", "bravo", "echo"],
        ),
        (
            q(F::All, S::DisplayDate, false, 0, 10),
            &["echo", "bravo", "charlie", "Alpha", "delta"],
        ),
        // status order: active, expired, revoked
        (
            q(F::All, S::Status, true, 0, 10),
            &["bravo", "charlie", "Alpha", "delta", "echo"],
        ),
        (
            q(F::All, S::Status, false, 0, 10),
            &["echo", "delta", "Alpha", "charlie", "bravo"],
        ),
        // paging
        (q(F::All, S::DisplayName, true, 0, 2), &["Alpha", "bravo"]),
        (q(F::All, S::DisplayName, true, 2, 2), &["charlie", "delta"]),
        (q(F::All, S::DisplayName, true, 4, 2), &["echo"]),
    ];
    for (query, want) in cases {
        let got = names(s.list_pats(&query).await.unwrap());
        assert_eq!(got, want, "{query:?}");
    }

    let counts = s.count_by_status(now).await.unwrap();
    assert_eq!((counts.active, counts.expired, counts.revoked), (3, 2, 1));
}

async fn usage_is_recorded_and_never_goes_backwards(s: Arc<dyn Store>) {
    let u = s.upsert_user(&claims("i", "u"), t0()).await.unwrap();
    let p = pat(u.id, "x", t0() + Duration::days(1));
    create(&*s, &p).await;
    let use_at = |at, ip: &str| UsageRecord {
        authorization_id: p.authorization_id,
        last_use: LastUse {
            at,
            source_ip: Some(ip.into()),
            user_agent: Some("git/2.47".into()),
        },
    };
    s.record_usage(&[
        use_at(t0() + Duration::hours(2), "10.0.0.2"),
        use_at(t0() + Duration::hours(1), "10.0.0.1"),
    ])
    .await
    .unwrap();
    let lu = s
        .get_pat(p.authorization_id)
        .await
        .unwrap()
        .unwrap()
        .last_used
        .unwrap();
    assert_eq!(lu.at, t0() + Duration::hours(2));
    assert_eq!(lu.source_ip.as_deref(), Some("10.0.0.2"));
    assert_eq!(lu.user_agent.as_deref(), Some("git/2.47"));
}

/// A PAT for a user that does not exist is refused by the foreign key, and
/// nothing half-written remains: the audit row rolled back with it.
async fn a_pat_for_an_unknown_owner_leaves_no_trace(s: Arc<dyn Store>) {
    let p = pat(Uuid::new_v4(), "orphan", t0() + Duration::days(1));
    let orphan = audit(AuditAction::PatCreate, None);
    for cap in [None, Some(5)] {
        assert!(s
            .create_pat(&p, &hasher().hash(&fresh_secret()), &orphan, cap)
            .await
            .is_err());
    }
    let events = s
        .list_audit(&AuditQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(events.is_empty());
    assert!(s.get_pat(p.authorization_id).await.unwrap().is_none());
}

async fn web_sessions_round_trip_update_delete_and_purge(store: Arc<dyn Store>) {
    use patrol_core::session::{SessionKey, WebSession};
    let user = store
        .upsert_user(&claims("https://idp", "alice"), t0())
        .await
        .unwrap();
    let s = WebSession {
        key: SessionKey::of("cookie-value-1"),
        user_id: user.id,
        created_at: t0(),
        expires_at: t0() + Duration::hours(12),
        last_seen: t0(),
        access_expires_at: t0() + Duration::hours(1),
        sealed_refresh_token: Some(vec![1, 2, 3]),
    };
    store
        .create_session(&s, &audit(AuditAction::WebSignIn, None))
        .await
        .unwrap();
    assert_eq!(store.get_session(&s.key).await.unwrap().as_ref(), Some(&s));
    assert!(store
        .get_session(&SessionKey::of("cookie-value-2"))
        .await
        .unwrap()
        .is_none());

    let refreshed = WebSession {
        last_seen: t0() + Duration::minutes(5),
        access_expires_at: t0() + Duration::hours(2),
        sealed_refresh_token: Some(vec![9; 40]),
        ..s.clone()
    };
    store.update_session(&refreshed).await.unwrap();
    assert_eq!(
        store.get_session(&s.key).await.unwrap().as_ref(),
        Some(&refreshed)
    );
    let ghost = WebSession {
        key: SessionKey::of("nobody"),
        ..s.clone()
    };
    assert!(matches!(
        store.update_session(&ghost).await,
        Err(StoreError::NotFound)
    ));

    // A second session idles out; the first one is purged at its absolute end.
    let idle = WebSession {
        key: SessionKey::of("cookie-value-3"),
        ..s.clone()
    };
    store
        .create_session(&idle, &audit(AuditAction::WebSignIn, None))
        .await
        .unwrap();
    let purged = store
        .purge_sessions(t0() + Duration::hours(1), t0() + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(purged, 1, "only the idle one (last seen at t0) goes");
    assert!(store.get_session(&s.key).await.unwrap().is_some());
    assert_eq!(
        store
            .purge_sessions(t0() + Duration::hours(12), t0())
            .await
            .unwrap(),
        1
    );

    store
        .create_session(&s, &audit(AuditAction::WebSignIn, None))
        .await
        .unwrap();
    assert!(store
        .delete_session(&s.key, Some(&audit(AuditAction::WebSignOut, None)))
        .await
        .unwrap());
    assert!(!store.delete_session(&s.key, None).await.unwrap());
    let signouts = store
        .list_audit(&AuditQuery {
            action: Some(AuditAction::WebSignOut),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(signouts.len(), 1);
}

/// The active-PAT cap holds under concurrent creates: the count and the
/// insert are one atomic step, so 20 racing creates against a cap of 2
/// store exactly 2, and the refused ones leave no audit record behind.
async fn the_active_cap_holds_under_concurrent_creates(s: Arc<dyn Store>) {
    let u = s.upsert_user(&claims("i", "u"), t0()).await.unwrap();
    // Expired and revoked PATs do not count.
    let expired = pat(u.id, "old", t0() - Duration::days(1));
    create(
        &*s,
        &Pat {
            valid_from: t0() - Duration::days(2),
            ..expired
        },
    )
    .await;
    let revoked = pat(u.id, "revoked", t0() + Duration::days(1));
    create(&*s, &revoked).await;
    s.revoke_pat(
        revoked.authorization_id,
        t0(),
        &audit(AuditAction::PatRevoke, None),
    )
    .await
    .unwrap();

    let racers: Vec<_> = (0..20)
        .map(|i| {
            let s = s.clone();
            let p = pat(u.id, &format!("racer {i}"), t0() + Duration::days(1));
            tokio::spawn(async move {
                let ev = audit(AuditAction::PatCreate, Some(p.authorization_id));
                s.create_pat(&p, &hasher().hash(&fresh_secret()), &ev, Some(2))
                    .await
            })
        })
        .collect();
    let mut stored = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(()) => stored += 1,
            Err(StoreError::LimitReached) => {}
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!(stored, 2);
    assert_eq!(s.count_active_for_owner(u.id, t0()).await.unwrap(), 2);
    let creates = s
        .list_audit(&AuditQuery {
            action: Some(AuditAction::PatCreate),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(creates.len(), 2 + 2, "two setup creates, two racers");

    // Without a cap, or under a higher one, creating goes on.
    create(&*s, &pat(u.id, "uncapped", t0() + Duration::days(1))).await;
    let more = pat(u.id, "fourth", t0() + Duration::days(1));
    let ev = audit(AuditAction::PatCreate, None);
    s.create_pat(&more, &hasher().hash(&fresh_secret()), &ev, Some(4))
        .await
        .unwrap();
    let refused = pat(u.id, "fifth", t0() + Duration::days(1));
    assert!(matches!(
        s.create_pat(&refused, &hasher().hash(&fresh_secret()), &ev, Some(4))
            .await,
        Err(StoreError::LimitReached)
    ));
    assert!(s.get_pat(refused.authorization_id).await.unwrap().is_none());
}
