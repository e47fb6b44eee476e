#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Notice intents (`AuditEvent::notice`): kept with the record in the
//! change's own transaction, only when the change took effect, until the
//! application clears them.

use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;

use patrol_core::hashing::{ServerKey, TokenHasher};
use patrol_core::pat::Pat;
use patrol_core::token::{mint, MintOptions};
use patrol_core::user::{AuditAction, AuditEvent, Outcome, UserClaims};
use patrol_store::{Store, StoreError};

mod common;
use common::on_both_stores;
use std::sync::Arc;

on_both_stores! {
    #[tokio::test]
    a_change_keeps_its_promise_until_cleared_oldest_first,
    a_change_that_did_not_happen_promises_nothing;
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
}

fn promising(action: AuditAction, pat: Uuid, at: DateTime<Utc>, words: &str) -> AuditEvent {
    AuditEvent {
        target_pat: Some(pat),
        notice: Some(words.to_owned()),
        ..AuditEvent::new(action, at, "test", Outcome::Success)
    }
}

async fn owner(s: &dyn Store) -> Uuid {
    let claims = UserClaims {
        issuer: "https://idp".into(),
        subject: "n".into(),
        display_name: "N".into(),
        email: None,
        email_verified: false,
    };
    s.upsert_user(&claims, t0()).await.unwrap().id
}

async fn create(
    s: &dyn Store,
    p: &Pat,
    ev: &AuditEvent,
    cap: Option<u64>,
) -> Result<(), StoreError> {
    let hasher = TokenHasher::new(vec![ServerKey::new("k1", vec![7; 32]).unwrap()]).unwrap();
    let secret = mint(t0(), &MintOptions::default(), &mut rand::rngs::OsRng).unwrap();
    s.create_pat(p, &hasher.hash(&secret), ev, cap).await
}

async fn a_change_keeps_its_promise_until_cleared_oldest_first(s: Arc<dyn Store>) {
    let owner = owner(&*s).await;
    let p = Pat::fixture(owner, t0());
    let created = promising(AuditAction::PatCreate, p.authorization_id, t0(), "created");
    create(&*s, &p, &created, None).await.unwrap();
    let later = t0() + Duration::minutes(1);
    let leaked = promising(AuditAction::PatLeaked, p.authorization_id, later, "leaked");
    s.append_audit(&leaked).await.unwrap();

    let pending = s.pending_notices(10).await.unwrap();
    let seen: Vec<_> = pending
        .iter()
        .map(|n| (n.audit_id, n.intent.as_str()))
        .collect();
    assert_eq!(seen, [(created.id, "created"), (leaked.id, "leaked")]);
    assert_eq!(pending[0].at, t0());
    assert_eq!(s.pending_notices(1).await.unwrap().len(), 1);
    assert_eq!(
        s.notice_intent(leaked.id).await.unwrap().as_deref(),
        Some("leaked")
    );

    s.enqueue_all(&[], Some(created.id)).await.unwrap();
    assert_eq!(s.notice_intent(created.id).await.unwrap(), None);
    let left: Vec<_> = s
        .pending_notices(10)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.audit_id)
        .collect();
    assert_eq!(left, [leaked.id]);
    // The record itself stays, without the intent.
    let stored = s
        .list_audit(&patrol_store::AuditQuery {
            target_pat: Some(p.authorization_id),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    assert!(stored.iter().all(|e| e.notice.is_none()));
}

async fn a_change_that_did_not_happen_promises_nothing(s: Arc<dyn Store>) {
    let owner = owner(&*s).await;
    let p = Pat::fixture(owner, t0());
    create(
        &*s,
        &p,
        &promising(AuditAction::PatCreate, p.authorization_id, t0(), "c"),
        None,
    )
    .await
    .unwrap();
    let first = s.pending_notices(1).await.unwrap()[0].audit_id;
    s.enqueue_all(&[], Some(first)).await.unwrap();

    // Refused (the cap): neither the token, the record nor the promise.
    let q = Pat::fixture(owner, t0());
    let refused = promising(AuditAction::PatCreate, q.authorization_id, t0(), "refused");
    assert!(matches!(
        create(&*s, &q, &refused, Some(1)).await,
        Err(StoreError::LimitReached)
    ));
    assert_eq!(s.notice_intent(refused.id).await.unwrap(), None);

    // Revoked twice: both recorded, only the first promises.
    let first = promising(AuditAction::PatRevoke, p.authorization_id, t0(), "revoked");
    let second = promising(AuditAction::PatRevoke, p.authorization_id, t0(), "again");
    assert!(s
        .revoke_pat(p.authorization_id, t0(), &first)
        .await
        .unwrap());
    assert!(!s
        .revoke_pat(p.authorization_id, t0(), &second)
        .await
        .unwrap());
    assert_eq!(
        s.notice_intent(first.id).await.unwrap().as_deref(),
        Some("revoked")
    );
    assert_eq!(s.notice_intent(second.id).await.unwrap(), None);

    // The same through revoke_many (administrators, rules).
    s.enqueue_all(&[], Some(first.id)).await.unwrap();
    let r = Pat::fixture(owner, t0());
    create(
        &*s,
        &r,
        &AuditEvent::new(AuditAction::PatCreate, t0(), "t", Outcome::Success),
        None,
    )
    .await
    .unwrap();
    let again = promising(AuditAction::PatRevoke, p.authorization_id, t0(), "p");
    let now = promising(AuditAction::PatRevoke, r.authorization_id, t0(), "r");
    let n = s
        .revoke_many(
            t0(),
            &[
                (p.authorization_id, again.clone()),
                (r.authorization_id, now.clone()),
            ],
            None,
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    let left: Vec<_> = s
        .pending_notices(10)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.intent)
        .collect();
    assert_eq!(left, ["r"]);
}
