#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The owner's active count (kept per day of expiry by migration 0009's
//! triggers) and the list orders (read from their indexes) against a
//! brute-force reading of the same tokens, through random creates, revokes,
//! expiry changes, purges and clock moves.

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::{Rng, SeedableRng};
use uuid::Uuid;

use patrol_core::hashing::{ServerKey, TokenHasher};
use patrol_core::pat::{ListFilter, Pat, SortBy};
use patrol_core::token::{mint, MintOptions};
use patrol_core::user::{AuditAction, AuditEvent, Outcome, UserClaims};
use patrol_store::{PatQuery, Store};

mod common;
use common::on_both_stores;
use std::sync::Arc;

on_both_stores! {
    #[tokio::test]
    active_counts_and_list_orders_match_a_brute_force_reading;
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
}

fn ev(action: AuditAction, at: DateTime<Utc>) -> AuditEvent {
    AuditEvent::new(action, at, "test", Outcome::Success)
}

async fn user(s: &dyn Store, sub: &str) -> Uuid {
    let claims = UserClaims {
        issuer: "https://idp".into(),
        subject: sub.into(),
        display_name: sub.into(),
        email: None,
        email_verified: false,
    };
    s.upsert_user(&claims, t0()).await.unwrap().id
}

fn status(p: &Pat, now: DateTime<Utc>) -> u8 {
    match p.revoked_at {
        Some(_) => 2,
        None if p.valid_to <= now => 1,
        None => 0,
    }
}

fn expected_order(
    all: &[Pat],
    filter: ListFilter,
    sort: SortBy,
    asc: bool,
    now: DateTime<Utc>,
) -> Vec<Uuid> {
    let mut v: Vec<&Pat> = all
        .iter()
        .filter(|p| match filter {
            ListFilter::All => true,
            ListFilter::Active => status(p, now) == 0,
            ListFilter::Expired => status(p, now) == 1,
            ListFilter::Revoked => status(p, now) == 2,
        })
        .collect();
    let name = |p: &Pat| p.display_name.to_lowercase();
    v.sort_by(|a, b| {
        let key = |p: &Pat| match sort {
            SortBy::DisplayName => (0, name(p), p.valid_to, p.authorization_id),
            SortBy::DisplayDate => (0, String::new(), p.valid_to, p.authorization_id),
            SortBy::Status => (status(p, now), name(p), p.valid_to, p.authorization_id),
        };
        let (ka, kb) = (key(a), key(b));
        let o = match sort {
            SortBy::DisplayDate => (a.valid_to, name(a), a.authorization_id).cmp(&(
                b.valid_to,
                name(b),
                b.authorization_id,
            )),
            _ => ka.cmp(&kb),
        };
        if asc {
            o
        } else {
            o.reverse()
        }
    });
    v.into_iter().map(|p| p.authorization_id).collect()
}

async fn active_counts_and_list_orders_match_a_brute_force_reading(s: Arc<dyn Store>) {
    let hasher = TokenHasher::new(vec![ServerKey::new("k1", vec![7; 32]).unwrap()]).unwrap();
    let owners = [user(&*s, "a").await, user(&*s, "b").await];
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut now = t0();
    let mut pats: Vec<Pat> = Vec::new();
    for step in 0..400 {
        match rng.gen_range(0..10) {
            // Create, expiring from an hour to 40 days from now (often today).
            0..=4 => {
                let owner = owners[rng.gen_range(0..2)];
                let p = Pat {
                    display_name: ["Build", "build", "deploy", "Zeta", "alpha"]
                        [rng.gen_range(0..5)]
                    .into(),
                    valid_to: now + Duration::minutes(rng.gen_range(60..40 * 24 * 60)),
                    ..Pat::fixture(owner, now)
                };
                let secret = mint(now, &MintOptions::default(), &mut rand::rngs::OsRng).unwrap();
                s.create_pat(
                    &p,
                    &hasher.hash(&secret),
                    &ev(AuditAction::PatCreate, now),
                    None,
                )
                .await
                .unwrap();
                pats.push(p);
            }
            // Revoke one (maybe again).
            5 if !pats.is_empty() => {
                let i = rng.gen_range(0..pats.len());
                if s.revoke_pat(
                    pats[i].authorization_id,
                    now,
                    &ev(AuditAction::PatRevoke, now),
                )
                .await
                .unwrap()
                {
                    pats[i].revoked_at = Some(now);
                }
            }
            // Move one's expiry (an update).
            6 if !pats.is_empty() => {
                let i = rng.gen_range(0..pats.len());
                pats[i].valid_to = now + Duration::minutes(rng.gen_range(-600..30 * 24 * 60));
                s.update_pat(&pats[i], &ev(AuditAction::PatUpdate, now))
                    .await
                    .unwrap();
            }
            // Purge what ended over two days ago.
            7 => {
                let before = now - Duration::days(2);
                s.purge_pats(before).await.unwrap();
                pats.retain(|p| !(p.revoked_at.is_some_and(|r| r < before) || p.valid_to < before));
            }
            // Time passes: minutes to a couple of days.
            _ => now += Duration::minutes(rng.gen_range(1..3 * 24 * 60)),
        }
        for owner in owners {
            let mine: Vec<Pat> = pats.iter().filter(|p| p.owner == owner).cloned().collect();
            let active = mine.iter().filter(|p| status(p, now) == 0).count() as u64;
            assert_eq!(
                s.count_active_for_owner(owner, now).await.unwrap(),
                active,
                "step {step}"
            );
            if step % 20 == 0 {
                for filter in [
                    ListFilter::All,
                    ListFilter::Active,
                    ListFilter::Expired,
                    ListFilter::Revoked,
                ] {
                    for sort in [SortBy::DisplayName, SortBy::DisplayDate, SortBy::Status] {
                        for asc in [true, false] {
                            let want = expected_order(&mine, filter, sort, asc, now);
                            // Two pages of 7 from offset 3, as the API pages.
                            let mut got = Vec::new();
                            for offset in [3, 10] {
                                let q = PatQuery {
                                    owner,
                                    filter,
                                    sort,
                                    ascending: asc,
                                    offset,
                                    limit: 7,
                                    now,
                                    ended_after: None,
                                };
                                got.extend(
                                    s.list_pats(&q)
                                        .await
                                        .unwrap()
                                        .into_iter()
                                        .map(|p| p.authorization_id),
                                );
                            }
                            let want: Vec<Uuid> = want.into_iter().skip(3).take(14).collect();
                            assert_eq!(got, want, "step {step} {filter:?} {sort:?} asc={asc}");
                        }
                    }
                }
            }
        }
    }
}
