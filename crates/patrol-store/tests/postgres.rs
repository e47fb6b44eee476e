#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! What only PostgreSQL can show: several replicas (here: several pools,
//! each its own `PostgresStore`) over one database racing for the same
//! rows, migrations run again and at once, a database that is down, TLS
//! when the URL asks for it.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;

use patrol_core::hashing::{ServerKey, TokenHasher};
use patrol_core::pat::Pat;
use patrol_core::policy::TenantPolicy;
use patrol_core::secret::PatSecret;
use patrol_core::user::{AuditAction, AuditEvent, Outcome, UserClaims};
use patrol_store::test_support::{fresh_database_url, fresh_store};
use patrol_store::{
    AuditQuery, NewOutboxItem, PolicyChange, PostgresOptions, PostgresStore, Store, StoreError,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
}

/// `n` stores over one fresh, migrated database: `n` replicas.
async fn replicas(n: usize) -> Vec<Arc<PostgresStore>> {
    let (first, url) = fresh_store().await.unwrap();
    let mut all = vec![Arc::new(first)];
    for _ in 1..n {
        all.push(Arc::new(
            PostgresStore::connect(&url, PostgresOptions::default()).unwrap(),
        ));
    }
    all
}

async fn user(s: &PostgresStore) -> Uuid {
    let c = UserClaims {
        issuer: "iss".into(),
        subject: "u".into(),
        display_name: "U".into(),
        email: None,
        email_verified: false,
    };
    s.upsert_user(&c, t0()).await.unwrap().id
}

/// Create a PAT for `owner` under `cap` on store `s`.
async fn create(s: &PostgresStore, owner: Uuid, cap: u64) -> Result<Uuid, StoreError> {
    let hasher = TokenHasher::new(vec![ServerKey::new("k", vec![7; 32]).unwrap()]).unwrap();
    let p = Pat {
        valid_to: t0() + Duration::days(1),
        ..Pat::fixture(owner, t0())
    };
    let secret = PatSecret::new(format!("secret-{}", p.authorization_id));
    let ev = AuditEvent::for_pat(AuditAction::PatCreate, &p, "iss|u");
    s.create_pat(&p, &hasher.hash(&secret), &ev, Some(cap))
        .await
        .map(|()| p.authorization_id)
}

/// Two replicas create at once, each when the owner is one below the cap:
/// round after round exactly one of them gets the last place.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_creating_at_the_cap_store_only_one() {
    let stores = replicas(2).await;
    let owner = user(&stores[0]).await;
    for round in 1..=15u64 {
        let (a, b) = tokio::join!(
            create(&stores[0], owner, round),
            create(&stores[1], owner, round)
        );
        let won = [&a, &b].iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {a:?} {b:?}");
        for r in [a, b] {
            assert!(matches!(r, Ok(_) | Err(StoreError::LimitReached)));
        }
        assert_eq!(
            stores[1].count_active_for_owner(owner, t0()).await.unwrap(),
            round
        );
    }
    // The refused creates left no audit record: one per stored PAT.
    let creates = stores[0]
        .list_audit(&AuditQuery {
            action: Some(AuditAction::PatCreate),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(creates.len(), 15);
}

/// Many creates racing from three replicas against one cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cap_holds_across_replicas_under_a_burst() {
    let stores = replicas(3).await;
    let owner = user(&stores[0]).await;
    let racers: Vec<_> = (0..30)
        .map(|i| {
            let s = stores[i % 3].clone();
            tokio::spawn(async move { create(&s, owner, 4).await })
        })
        .collect();
    let mut stored = 0;
    for r in racers {
        match r.await.unwrap() {
            Ok(_) => stored += 1,
            Err(StoreError::LimitReached) => {}
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!(stored, 4);
    assert_eq!(
        stores[2].count_active_for_owner(owner, t0()).await.unwrap(),
        4
    );
}

/// Far below the cap, creates for one owner do not queue behind each other
/// (a shared lock); within `max_connections` of it they count exactly (an
/// exclusive one). A burst that starts in the first region and runs into
/// the cap stores exactly up to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cap_holds_when_a_burst_runs_from_far_below_it_into_it() {
    let stores = replicas(3).await;
    let owner = user(&stores[0]).await;
    let pool = sqlx::PgPool::connect(&fresh_database_url().await.unwrap())
        .await
        .unwrap();
    let connections: u64 = sqlx::query_scalar::<_, String>("SHOW max_connections")
        .fetch_one(&pool)
        .await
        .unwrap()
        .parse()
        .unwrap();
    pool.close().await;
    let cap = connections + 20;
    let burst = |n: usize| {
        let racers: Vec<_> = (0..n)
            .map(|i| {
                let s = stores[i % 3].clone();
                tokio::spawn(async move { create(&s, owner, cap).await })
            })
            .collect();
        async move {
            let mut stored = 0;
            for r in racers {
                match r.await.unwrap() {
                    Ok(_) => stored += 1,
                    Err(StoreError::LimitReached) => {}
                    Err(e) => panic!("unexpected: {e}"),
                }
            }
            stored
        }
    };
    // 10 held: the first creates take the shared lock.
    for _ in 0..10 {
        create(&stores[0], owner, cap).await.unwrap();
    }
    assert_eq!(burst(30).await, 30, "far below the cap nothing is refused");
    let left = usize::try_from(cap).unwrap() - 40;
    assert_eq!(burst(left + 25).await, left);
    assert_eq!(
        stores[1].count_active_for_owner(owner, t0()).await.unwrap(),
        cap
    );
}

/// Two replicas' runners ask for the lease at the same moment, round after
/// round (each round a new lease name): exactly one gets it; the loser
/// takes it over once the winner's has run out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_racing_for_the_lease_never_both_hold_it() {
    let stores = replicas(2).await;
    let m = Duration::minutes(1);
    for round in 0..20 {
        let name = format!("jobs-{round}");
        let (a, b) = tokio::join!(
            stores[0].acquire_lease(&name, "replica-a", t0(), t0() + m),
            stores[1].acquire_lease(&name, "replica-b", t0(), t0() + m)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(a ^ b, "round {round}: a {a}, b {b}");
        let (winner, loser, loser_name) = if a {
            (&stores[0], &stores[1], "replica-b")
        } else {
            (&stores[1], &stores[0], "replica-a")
        };
        let winner_name = if a { "replica-a" } else { "replica-b" };
        // Renewing races a takeover attempt before the end: the holder keeps it.
        let (renew, steal) = tokio::join!(
            winner.acquire_lease(&name, winner_name, t0() + m / 2, t0() + m * 2),
            loser.acquire_lease(&name, loser_name, t0() + m / 2, t0() + m * 2)
        );
        assert!(renew.unwrap());
        assert!(!steal.unwrap());
        // After the holder's lease ran out, the other takes over.
        assert!(loser
            .acquire_lease(&name, loser_name, t0() + m * 2, t0() + m * 3)
            .await
            .unwrap());
        assert!(!winner
            .acquire_lease(&name, winner_name, t0() + m * 2, t0() + m * 3)
            .await
            .unwrap());
    }
}

/// The same notice enqueued by two replicas at once is stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_notice_enqueued_by_two_replicas_is_stored_once() {
    let stores = replicas(2).await;
    for round in 0..20 {
        let item = |_: usize| NewOutboxItem {
            id: Uuid::new_v4(),
            dedupe_key: format!("expiring:{round}"),
            channel: "webhook".into(),
            kind: "expiring".into(),
            user: None,
            pat: None,
            subscription: None,
            payload: "{}".into(),
            created_at: t0(),
            due_at: t0(),
        };
        let (a, b) = (item(0), item(1));
        let (a, b) = tokio::join!(
            stores[0].enqueue_all(std::slice::from_ref(&a), None),
            stores[1].enqueue_all(std::slice::from_ref(&b), None)
        );
        assert!((a.unwrap() == 1) ^ (b.unwrap() == 1), "round {round}");
    }
    assert_eq!(stores[0].outbox_counts().await.unwrap().pending, 20);
}

/// Migrating again, and from several replicas starting at once, is harmless.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrating_twice_or_at_once_is_harmless() {
    let url = fresh_database_url().await.unwrap();
    let stores: Vec<_> = (0..3)
        .map(|_| PostgresStore::connect(&url, PostgresOptions::default()).unwrap())
        .collect();
    let (a, b, c) = tokio::join!(
        stores[0].migrate(),
        stores[1].migrate(),
        stores[2].migrate()
    );
    a.unwrap();
    b.unwrap();
    c.unwrap();
    let owner = user(&stores[0]).await;
    stores[0].migrate().await.unwrap();
    assert!(stores[1].get_user(owner).await.unwrap().is_some());
}

/// Connecting never needs the database: a replica starts while it is down,
/// answers not-ready (`ping` fails) and migrating fails with an error —
/// no panic, no hang past the acquire timeout.
#[tokio::test]
async fn a_database_that_is_down_is_an_error_not_a_crash() {
    // Port 1 on the loopback: nothing listens there.
    let options = PostgresOptions {
        acquire_timeout: StdDuration::from_millis(500),
        ..PostgresOptions::default()
    };
    let s = PostgresStore::connect("postgres://patrol:secret@127.0.0.1:1/patrol", options).unwrap();
    let started = std::time::Instant::now();
    assert!(matches!(s.ping().await, Err(StoreError::Backend(_))));
    assert!(s.migrate().await.is_err());
    assert!(started.elapsed() < StdDuration::from_secs(10));
    // Readiness probes get their answer within a second, whatever the
    // acquire timeout (the pool retries a refused connection until then).
    let slow = PostgresStore::connect(
        "postgres://patrol@127.0.0.1:1/patrol",
        PostgresOptions {
            acquire_timeout: StdDuration::from_secs(30),
            ..PostgresOptions::default()
        },
    )
    .unwrap();
    let started = std::time::Instant::now();
    assert!(slow.ping().await.is_err());
    assert!(started.elapsed() < StdDuration::from_secs(3));
    assert!(PostgresStore::connect("mysql://nope", options).is_err());
}

/// `sslmode=require` is honoured: the throwaway cluster has no TLS, so a
/// store that requires it cannot connect, while the same URL without it can.
#[tokio::test]
async fn tls_is_required_when_the_url_says_so() {
    let url = fresh_database_url().await.unwrap();
    let options = PostgresOptions {
        acquire_timeout: StdDuration::from_secs(2),
        ..PostgresOptions::default()
    };
    let plain = PostgresStore::connect(&url, options).unwrap();
    plain.ping().await.unwrap();
    let tls = PostgresStore::connect(&format!("{url}?sslmode=require"), options).unwrap();
    let e = tls.ping().await.unwrap_err().to_string();
    assert!(e.to_lowercase().contains("tls") || e.contains("SSL"), "{e}");
}

/// A stored policy this version cannot read is corrupt, not the default.
#[tokio::test]
async fn a_corrupt_policy_document_is_corrupt_not_default() {
    use sqlx::{Connection, Executor};
    let (s, url) = fresh_store().await.unwrap();
    let set = AuditEvent::new(AuditAction::AdminPolicySet, t0(), "iss|a", Outcome::Success);
    s.set_policy(PolicyChange::Tenant(&TenantPolicy::default()), t0(), &set)
        .await
        .unwrap();
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    conn.execute("UPDATE policies SET body = '{\"restrictGlobalPAT\": true}'")
        .await
        .unwrap();
    assert!(matches!(s.policies().await, Err(StoreError::Corrupt(_))));
}

/// A last-use batch and a revocation of the same PATs, in opposite orders,
/// from two replicas at once, round after round: neither fails (each
/// updates the rows in id order, so they never wait for each other in a
/// cycle — PostgreSQL would abort one as a deadlock).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn usage_and_revocations_of_the_same_tokens_never_deadlock() {
    use patrol_core::pat::LastUse;
    use patrol_store::UsageRecord;
    let stores = replicas(2).await;
    let owner = user(&stores[0]).await;
    for round in 0..15 {
        let mut ids = Vec::new();
        for _ in 0..12 {
            ids.push(create(&stores[0], owner, 1_000).await.unwrap());
        }
        let usage: Vec<UsageRecord> = ids
            .iter()
            .rev()
            .map(|id| UsageRecord {
                authorization_id: *id,
                last_use: LastUse {
                    at: t0() + Duration::seconds(round),
                    source_ip: None,
                    user_agent: None,
                },
            })
            .collect();
        let revocations: Vec<(Uuid, AuditEvent)> = ids
            .iter()
            .map(|id| {
                let ev = AuditEvent {
                    target_pat: Some(*id),
                    ..AuditEvent::new(AuditAction::PatRevoke, t0(), "admin", Outcome::Success)
                };
                (*id, ev)
            })
            .collect();
        let (a, b) = (stores[0].clone(), stores[1].clone());
        let used = tokio::spawn(async move { a.record_usage(&usage).await });
        let revoked = tokio::spawn(async move { b.revoke_many(t0(), &revocations, None).await });
        used.await.unwrap().unwrap();
        assert_eq!(revoked.await.unwrap().unwrap(), 12);
    }
}

/// A revocation that PostgreSQL rolls back to break a deadlock runs again
/// and succeeds. Another transaction holds the second of the two rows; the
/// revocation locks the first and waits; the other then asks for the
/// first. The revocation waited longer, so its deadlock check fires first
/// and rolls it back; run again, it waits for the other to commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revocation_rolled_back_for_a_deadlock_runs_again() {
    use sqlx::Connection as _;
    let (s, url) = fresh_store().await.unwrap();
    let s = Arc::new(s);
    let owner = user(&s).await;
    let mut ids = vec![
        create(&s, owner, 100).await.unwrap(),
        create(&s, owner, 100).await.unwrap(),
    ];
    ids.sort_by_key(|id| id.to_string());
    let mut other = sqlx::PgConnection::connect(&url).await.unwrap();
    let touch = "UPDATE pats SET display_name = 'touched' WHERE authorization_id = $1";
    sqlx::query("BEGIN").execute(&mut other).await.unwrap();
    sqlx::query(touch)
        .bind(ids[1].to_string())
        .execute(&mut other)
        .await
        .unwrap();
    let revocations: Vec<(Uuid, AuditEvent)> = ids
        .iter()
        .map(|id| {
            let ev = AuditEvent::new(AuditAction::PatRevoke, t0(), "admin", Outcome::Success);
            (*id, ev)
        })
        .collect();
    let store = s.clone();
    let revoke = tokio::spawn(async move { store.revoke_many(t0(), &revocations, None).await });
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    // Waits until PostgreSQL has rolled the revocation back.
    sqlx::query(touch)
        .bind(ids[0].to_string())
        .execute(&mut other)
        .await
        .unwrap();
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    assert_eq!(revoke.await.unwrap().unwrap(), 2);
    for id in ids {
        let pat = s.get_pat(id).await.unwrap().unwrap();
        assert!(pat.revoked_at.is_some() && pat.display_name == "touched");
    }
}
