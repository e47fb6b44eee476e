//! What creating and listing PATs cost as the store grows: a measurement,
//! not a test (ignored by default; `bench/pats.sh` runs it in release mode).
//! `BENCH_TOKENS` PATs are stored (default 1,000,000), `BENCH_USER_TOKENS` of
//! them (default 10,000) for alice; then over HTTP, as the wrk runs
//! did: the first page of alice's list (and of a user holding one token),
//! p50/p99 over sequential requests; verify cache misses over the whole
//! store; and alice creating PATs from 16 concurrent clients.

use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;

use patrol_core::pat::{ListFilter, Pat, SortBy};
use patrol_core::token::{self, MintOptions};
use patrol_core::user::{AuditAction, AuditEvent};
use patrol_store::PatQuery;

use crate::support::TestApp;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Store `n` PATs for `owner`; every `keep`th secret is returned (none
/// with `keep` 0).
async fn store_pats(
    app: &TestApp,
    owner: uuid::Uuid,
    n: usize,
    prefix: &str,
    keep: usize,
) -> Vec<String> {
    let now = Utc::now();
    let mut kept = Vec::new();
    for i in 0..n {
        let secret = token::mint(now, &MintOptions::default(), &mut rand::rngs::OsRng).unwrap();
        let pat = Pat {
            display_name: format!("{prefix} {i:07}"),
            ..Pat::fixture(owner, now)
        };
        let audit = AuditEvent::for_pat(AuditAction::PatCreate, &pat, "bench");
        app.store
            .create_pat(&pat, &app.hasher.hash(&secret), &audit, None)
            .await
            .unwrap();
        if keep > 0 && i % keep == 0 {
            kept.push(secret.expose().to_owned());
        }
    }
    kept
}

async fn list_latency(app: &TestApp, jwt: &str, query: &str, rounds: usize) -> (f64, f64) {
    let url = format!(
        "{}/fabrikam/_apis/tokens/pats?api-version=7.1-preview.1&$top=100{query}",
        app.base
    );
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        let r = app.client.get(&url).bearer_auth(jwt).send().await.unwrap();
        assert!(r.status().is_success());
        let body: serde_json::Value = r.json().await.unwrap();
        times.push(t.elapsed());
        assert!(!body["patTokens"].as_array().unwrap().is_empty());
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run by bench/pats.sh"]
async fn create_and_list_costs() {
    let total = env("BENCH_TOKENS", 1_000_000);
    let mine = env("BENCH_USER_TOKENS", 10_000).min(total);
    let creates = env("BENCH_CREATES", 4_000);
    // BENCH_STORE=postgres: a fresh database on PATROL_TEST_POSTGRES_URL's
    // cluster (or a throwaway one this process starts).
    let postgres = std::env::var("BENCH_STORE").is_ok_and(|s| s == "postgres");
    let db_url = match postgres {
        true => Some(
            patrol_store::test_support::fresh_database_url()
                .await
                .unwrap(),
        ),
        false => None,
    };
    let url = db_url.clone();
    let app = TestApp::spawn_with(move |c| {
        c.tokens.max_active_per_user = 10_000_000;
        c.database.url = url;
    })
    .await;
    println!(
        "BENCH store={}",
        if postgres { "postgres" } else { "sqlite" }
    );
    let alice_jwt = app.jwt().to_owned();
    let (_, like) = app.create_pat("vso.code", false).await;
    let alice = app.store.get_pat(like).await.unwrap().unwrap().owner;
    let bob_jwt = app.user_jwt("bob", "vso.pats_manage");
    let bob_pat = app
        .client
        .post(format!(
            "{}/fabrikam/_apis/tokens/pats?api-version=7.1-preview.1",
            app.base
        ))
        .bearer_auth(&bob_jwt)
        .json(&json!({"displayName": "one", "scope": "vso.code", "allOrgs": false}))
        .send()
        .await
        .unwrap();
    assert!(bob_pat.status().is_success(), "{}", bob_pat.status());
    let bob_pat: serde_json::Value = bob_pat.json().await.unwrap();
    let bob_id = bob_pat["patToken"]["authorizationId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let bob = app.store.get_pat(bob_id).await.unwrap().unwrap().owner;
    // Bob holds a page and a half: the baseline for a full page.
    store_pats(&app, bob, 149, "bob", 0).await;

    // The others' tokens: one owner per 1,000.
    let started = Instant::now();
    let others = total - mine;
    let mut left = others;
    while left > 0 {
        let owner = app
            .store
            .upsert_user(
                &patrol_core::user::UserClaims {
                    issuer: "https://bench".into(),
                    subject: uuid::Uuid::new_v4().to_string(),
                    display_name: "bench".into(),
                    email: None,
                    email_verified: false,
                },
                Utc::now(),
            )
            .await
            .unwrap()
            .id;
        let n = left.min(1_000);
        store_pats(&app, owner, n, "other", 0).await;
        left -= n;
    }
    // Up to 2,000 of alice's secrets: verify cache misses, spread over
    // the whole store by their random hashes.
    let sample = store_pats(&app, alice, mine, "mine", (mine / 2_000).max(1)).await;
    eprintln!(
        "stored {total} PATs ({mine} of them alice's) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if let Some(url) = &db_url {
        // The statistics autovacuum would have gathered by now on a database
        // that grew over time: without them the planner takes a fresh table
        // for a small one and scans it.
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query("ANALYZE").execute(&pool).await.unwrap();
        pool.close().await;
    }

    // BENCH_ONLY=create: skip the list measurements (profiling creates).
    let lists = std::env::var("BENCH_ONLY").map_or(true, |o| o != "create");
    for (label, query) in [
        ("name", ""),
        ("expiry", "&sortByOption=displayDate"),
        ("status_all", "&sortByOption=status&displayFilterOption=all"),
        ("name_desc", "&isSortAscending=false"),
    ]
    .into_iter()
    .filter(|_| lists)
    {
        let (p50, p99) = list_latency(&app, &alice_jwt, query, 200).await;
        println!("BENCH list_page_{label}_user_{mine}_ms p50={p50:.2} p99={p99:.2}");
    }
    if lists {
        let (p50, p99) = list_latency(&app, &bob_jwt, "", 200).await;
        println!("BENCH list_page_name_user_150_ms p50={p50:.2} p99={p99:.2}");
    }

    // The store's part alone: one page query (101 rows, as the API asks),
    // and the active count a create makes.
    for (owner, held) in [(alice, mine), (bob, 150)].into_iter().filter(|_| lists) {
        for (label, sort, ascending) in [
            ("name", SortBy::DisplayName, true),
            ("name_desc", SortBy::DisplayName, false),
            ("expiry", SortBy::DisplayDate, true),
        ] {
            let q = PatQuery {
                owner,
                filter: ListFilter::Active,
                sort,
                ascending,
                offset: 0,
                limit: 101,
                now: Utc::now(),
                ended_after: Some(Utc::now() - chrono::Duration::days(90)),
            };
            let mut times = Vec::new();
            for _ in 0..200 {
                let t = Instant::now();
                assert_eq!(app.store.list_pats(&q).await.unwrap().len(), 101);
                times.push(t.elapsed());
            }
            times.sort();
            println!(
                "BENCH store_list_{label}_user_{held}_ms p50={:.2} p99={:.2}",
                percentile(&times, 0.5),
                percentile(&times, 0.99)
            );
        }
        let t = Instant::now();
        for _ in 0..200 {
            app.store
                .count_active_for_owner(owner, Utc::now())
                .await
                .unwrap();
        }
        println!(
            "BENCH store_count_active_user_{held}_us={:.1}",
            t.elapsed().as_secs_f64() * 1e6 / 200.0
        );
    }

    // Verify, each sampled PAT once: a cache miss (the keyed-hash lookup in
    // the store), with every PAT stored.
    let req = patrol_server::app::VerifyRequest {
        required_scopes: vec!["vso.code".into()],
        ..Default::default()
    };
    let mut times = Vec::with_capacity(sample.len());
    for secret in &sample {
        let t = Instant::now();
        assert!(app.state.app.verify_pat(secret, &req).await.is_ok());
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "BENCH verify_cache_miss_ms p50={:.3} p99={:.3} ({} PATs, {total} stored)",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times.len()
    );

    // Creates: 16 concurrent clients, alice (holding `mine` and more).
    let url = format!(
        "{}/fabrikam/_apis/tokens/pats?api-version=7.1-preview.1",
        app.base
    );
    let per = creates / 16;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..16 {
        let client = app.client.clone();
        let url = url.clone();
        let jwt = alice_jwt.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                let r = client
                    .post(&url)
                    .bearer_auth(&jwt)
                    .json(&json!({"displayName": format!("c{c}-{i}"), "scope": "vso.code", "allOrgs": false}))
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "{}", r.status());
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let rate = (per * 16) as f64 / t.elapsed().as_secs_f64();
    println!("BENCH create_per_s={rate:.0} (16 clients, user holding {mine}+, {total} stored)");
}
