#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The lifecycle jobs' part of the store contract: the lease, schedules,
//! the outbox (stored once per key, due, attempted), notice preferences and
//! webhook subscriptions.

use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;

use patrol_store::{NewOutboxItem, OutboxCounts, OutboxState, Store, Webhook};

mod common;
use common::on_both_stores;
use std::sync::Arc;

on_both_stores! {
    #[tokio::test]
    one_holder_at_a_time_until_the_lease_runs_out_or_is_released,
    a_schedule_runs_when_due_and_moves_on,
    the_outbox_stores_a_key_once_and_records_attempts,
    webhooks_are_a_users_or_tenant_wide;
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
}

fn item(key: &str, due: DateTime<Utc>) -> NewOutboxItem {
    NewOutboxItem {
        id: Uuid::new_v4(),
        dedupe_key: key.into(),
        channel: "webhook".into(),
        kind: "created".into(),
        user: None,
        pat: Some(Uuid::new_v4()),
        subscription: None,
        payload: "{}".into(),
        created_at: t0(),
        due_at: due,
    }
}

async fn one_holder_at_a_time_until_the_lease_runs_out_or_is_released(s: Arc<dyn Store>) {
    let m = Duration::minutes(1);
    assert!(s.acquire_lease("jobs", "a", t0(), t0() + m).await.unwrap());
    assert!(!s.acquire_lease("jobs", "b", t0(), t0() + m).await.unwrap());
    // The holder renews.
    assert!(s
        .acquire_lease("jobs", "a", t0() + m / 2, t0() + m * 2)
        .await
        .unwrap());
    assert!(!s
        .acquire_lease("jobs", "b", t0() + m, t0() + m * 3)
        .await
        .unwrap());
    // Run out: another takes it.
    assert!(s
        .acquire_lease("jobs", "b", t0() + m * 2, t0() + m * 3)
        .await
        .unwrap());
    assert!(!s
        .acquire_lease("jobs", "a", t0() + m * 2, t0() + m * 3)
        .await
        .unwrap());
    // Released by its holder only.
    s.release_lease("jobs", "a").await.unwrap();
    assert!(!s
        .acquire_lease("jobs", "a", t0() + m * 2, t0() + m * 3)
        .await
        .unwrap());
    s.release_lease("jobs", "b").await.unwrap();
    assert!(s
        .acquire_lease("jobs", "a", t0() + m * 2, t0() + m * 3)
        .await
        .unwrap());
}

async fn a_schedule_runs_when_due_and_moves_on(s: Arc<dyn Store>) {
    let h = Duration::hours(1);
    assert!(
        s.claim_schedule("x", t0(), t0() + h).await.unwrap(),
        "never ran"
    );
    assert!(!s
        .claim_schedule("x", t0() + h / 2, t0() + h * 2)
        .await
        .unwrap());
    assert!(s.claim_schedule("x", t0() + h, t0() + h * 2).await.unwrap());
}

/// One notice; true when stored.
async fn enqueue(s: &dyn Store, item: &NewOutboxItem) -> bool {
    s.enqueue_all(std::slice::from_ref(item), None)
        .await
        .unwrap()
        == 1
}

async fn the_outbox_stores_a_key_once_and_records_attempts(s: Arc<dyn Store>) {
    let a = item("k1", t0());
    assert!(enqueue(&*s, &a).await);
    assert!(
        !enqueue(&*s, &item("k1", t0())).await,
        "same key: stored once"
    );
    assert!(enqueue(&*s, &item("k2", t0() + Duration::hours(1))).await);
    // Several at once: the keys already taken are skipped, the rest stored.
    let batch = [item("k1", t0()), item("k3", t0() + Duration::days(30))];
    assert_eq!(s.enqueue_all(&batch, None).await.unwrap(), 1);
    assert_eq!(s.enqueue_all(&batch, None).await.unwrap(), 0);
    assert_eq!(s.enqueue_all(&[], None).await.unwrap(), 0);
    let due = s.due_outbox(t0(), 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].item, a);
    assert_eq!(due[0].attempts, 0);

    let next = t0() + Duration::minutes(2);
    let retry = OutboxState::Retry {
        next,
        error: "boom".into(),
    };
    s.outbox_attempted(a.id, t0(), &retry).await.unwrap();
    assert!(s
        .due_outbox(t0() + Duration::minutes(1), 10)
        .await
        .unwrap()
        .is_empty());
    let due = s.due_outbox(next, 10).await.unwrap();
    assert_eq!(
        (due[0].attempts, due[0].last_error.as_deref()),
        (1, Some("boom"))
    );
    s.outbox_attempted(a.id, next, &OutboxState::Sent)
        .await
        .unwrap();
    let counts = s.outbox_counts().await.unwrap();
    assert_eq!(
        counts,
        OutboxCounts {
            pending: 2,
            sent: 1,
            failed: 0
        }
    );
    let b = s.due_outbox(t0() + Duration::hours(1), 10).await.unwrap();
    s.outbox_attempted(
        b[0].item.id,
        t0(),
        &OutboxState::GaveUp { error: "no".into() },
    )
    .await
    .unwrap();
    assert!(s
        .due_outbox(t0() + Duration::days(1), 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(s.outbox_counts().await.unwrap().failed, 1);
}

fn u_claims() -> patrol_core::user::UserClaims {
    patrol_core::user::UserClaims {
        issuer: "iss".into(),
        subject: "u".into(),
        display_name: "U".into(),
        email: None,
        email_verified: false,
    }
}

async fn webhooks_are_a_users_or_tenant_wide(s: Arc<dyn Store>) {
    let u = s.upsert_user(&u_claims(), t0()).await.unwrap();
    let mine = Webhook {
        id: Uuid::new_v4(),
        owner: Some(u.id),
        url: "https://h/1".into(),
        secret_sealed: "sealed".into(),
        events: vec!["created".into(), "revoked".into()],
        created_at: t0(),
    };
    let tenant = Webhook {
        id: Uuid::new_v4(),
        owner: None,
        events: vec![],
        ..mine.clone()
    };
    s.create_webhook(&mine).await.unwrap();
    s.create_webhook(&tenant).await.unwrap();
    assert_eq!(
        s.list_webhooks(Some(u.id)).await.unwrap(),
        vec![mine.clone()]
    );
    assert_eq!(s.list_webhooks(None).await.unwrap(), vec![tenant.clone()]);
    // An event about u's token: u's subscriptions first, then the tenant's;
    // nobody else's.
    let v = s
        .upsert_user(
            &patrol_core::user::UserClaims {
                subject: "v".into(),
                ..u_claims()
            },
            t0(),
        )
        .await
        .unwrap();
    let theirs = Webhook {
        id: Uuid::new_v4(),
        owner: Some(v.id),
        ..mine.clone()
    };
    s.create_webhook(&theirs).await.unwrap();
    assert_eq!(
        s.webhooks_for(u.id).await.unwrap(),
        vec![mine.clone(), tenant.clone()]
    );
    assert_eq!(
        s.webhooks_for(v.id).await.unwrap(),
        vec![theirs, tenant.clone()]
    );
    assert!(s.delete_webhook(mine.id).await.unwrap());
    assert!(!s.delete_webhook(mine.id).await.unwrap());
    assert_eq!(s.get_webhook(tenant.id).await.unwrap(), Some(tenant));

    s.set_notice_pref(u.id, "expiring", false).await.unwrap();
    s.set_notice_pref(u.id, "expiring", true).await.unwrap();
    s.set_notice_pref(u.id, "revoked", false).await.unwrap();
    assert_eq!(
        s.notice_prefs(u.id).await.unwrap(),
        vec![("expiring".to_owned(), true), ("revoked".to_owned(), false)]
    );
}
