//! In-process verify latency, cache hit vs miss, with many PATs stored.
//! A measurement, not a test: ignored by default; `bench/verify.sh` runs it
//! in release mode (`BENCH_TOKENS`, default 1,000,000).

use std::time::Instant;

use chrono::Utc;

use patrol_core::pat::Pat;
use patrol_core::token::{self, MintOptions};
use patrol_core::user::{AuditAction, AuditEvent};
use patrol_server::app::VerifyRequest;

use crate::support::TestApp;

fn per_op(started: Instant, n: u32) -> f64 {
    started.elapsed().as_nanos() as f64 / f64::from(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run by bench/verify.sh"]
async fn verify_latency() {
    let n: usize = std::env::var("BENCH_TOKENS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let app = TestApp::spawn_with(|c| c.verify.cache_capacity = 100_000).await;
    let (_, like) = app.create_pat("vso.code", false).await;
    let core = &app.state.app;
    let owner = app.store.get_pat(like).await.unwrap().unwrap().owner;
    let now = Utc::now();
    let started = Instant::now();
    let mut sample = Vec::new();
    for i in 0..n {
        let secret = token::mint(now, &MintOptions::default(), &mut rand::rngs::OsRng).unwrap();
        let pat = Pat {
            display_name: format!("bench {i}"),
            ..Pat::fixture(owner, now)
        };
        let audit = AuditEvent::for_pat(AuditAction::PatCreate, &pat, "bench");
        app.store
            .create_pat(&pat, &app.hasher.hash(&secret), &audit, None)
            .await
            .unwrap();
        if i % (n / 2_000).max(1) == 0 {
            sample.push(secret.expose().to_owned());
        }
    }
    eprintln!(
        "stored {n} PATs in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let req = VerifyRequest {
        required_scopes: vec!["vso.code".into()],
        source_ip: Some("192.0.2.1".parse().unwrap()),
        user_agent: Some("bench".into()),
        ..Default::default()
    };

    // Cache miss: each sampled token once (keyed-hash lookup in the store).
    let misses = u32::try_from(sample.len()).unwrap();
    let t = Instant::now();
    for s in &sample {
        assert!(core.verify_pat(s, &req).await.is_ok());
    }
    let miss_ns = per_op(t, misses);

    // Cache hit: 100 warm tokens, many rounds (well within the 5 s TTL).
    let warm = &sample[..sample.len().min(100)];
    for s in warm {
        assert!(core.verify_pat(s, &req).await.is_ok());
    }
    let hits = 2_000u32;
    let t = Instant::now();
    for _ in 0..hits {
        for s in warm {
            assert!(core.verify_pat(s, &req).await.is_ok());
        }
    }
    let hit_ns = per_op(t, hits * u32::try_from(warm.len()).unwrap());

    // The parts of a hit: format + checksum, and the keyed hash.
    let sig = core.policy().mint.signature;
    let t = Instant::now();
    for s in &sample {
        assert!(token::validate_for(s, &sig).is_ok());
    }
    let format_ns = per_op(t, misses);
    let t = Instant::now();
    for s in &sample {
        assert_eq!(app.hasher.candidates(s).len(), 1);
    }
    let hmac_ns = per_op(t, misses);
    // The parts of a miss: the three store reads.
    let t = Instant::now();
    let mut owners = Vec::new();
    for s in &sample {
        let (pat, _) = app
            .store
            .find_by_hash(&app.hasher.candidates(s))
            .await
            .unwrap()
            .unwrap();
        owners.push(pat.owner);
    }
    let find_ns = per_op(t, misses);
    let t = Instant::now();
    for o in &owners {
        assert!(app.store.get_user(*o).await.unwrap().is_some());
    }
    let user_ns = per_op(t, misses);
    let t = Instant::now();
    for o in &owners {
        assert!(!app.store.member_orgs(*o).await.unwrap().is_empty());
    }
    let orgs_ns = per_op(t, misses);
    let t = Instant::now();
    for s in &sample {
        let found = app
            .store
            .find_for_verify(&app.hasher.candidates(s))
            .await
            .unwrap();
        assert!(found.is_some());
    }
    let one_trip_ns = per_op(t, misses);
    let stats = app.stats();
    println!("BENCH tokens_stored={n}");
    println!("BENCH verify_cache_miss_us={:.2}", miss_ns / 1000.0);
    println!("BENCH verify_cache_hit_us={:.3}", hit_ns / 1000.0);
    println!("BENCH format_check_us={:.3}", format_ns / 1000.0);
    println!("BENCH keyed_hash_us={:.3}", hmac_ns / 1000.0);
    println!(
        "BENCH store_find_for_verify_us={:.1} (separately: find_by_hash {:.1}, get_user {:.1}, member_orgs {:.1})",
        one_trip_ns / 1000.0,
        find_ns / 1000.0,
        user_ns / 1000.0,
        orgs_ns / 1000.0
    );
    println!(
        "BENCH store_lookups={} cache_hits={} usage_dropped={}",
        stats.store_lookups, stats.cache_hits, stats.usage_dropped
    );
}
