//! Two servers (replicas) over one PostgreSQL database: a change made
//! through one is refused by the other, which had the PAT cached, within
//! a measured bound — by the notice, not by the cache TTL (set to the
//! longest allowed, 300 s, here).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};

use crate::admin::{create, send, user_id, ADMIN_SCOPES};
use crate::support::TestApp;

/// Far above what is measured (a few ms); a refusal later than this is a
/// failure to propagate.
const BOUND: Duration = Duration::from_secs(2);

async fn replicas() -> (TestApp, TestApp, String) {
    let url = patrol_store::test_support::fresh_database_url()
        .await
        .unwrap();
    let long_ttl = |url: String| {
        move |c: &mut patrol_server::config::Config| {
            c.database.url = Some(url);
            c.verify.cache_ttl_secs = 300;
            // Every revoke here ends in refusals from one address.
            c.verify.max_failures_per_ip = 100_000;
        }
    };
    let a = TestApp::spawn_with(long_ttl(url.clone())).await;
    let b = TestApp::spawn_with(long_ttl(url.clone())).await;
    for app in [&a, &b] {
        let started = Instant::now();
        while !app.state.app.hears_peers() {
            assert!(started.elapsed() < Duration::from_secs(10), "not listening");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    (a, b, url)
}

/// A verifies `pat` twice (the second from its cache).
async fn cached_on(a: &TestApp, pat: &str, query: &str) {
    let hits = a.stats().cache_hits;
    assert_eq!(a.verify_status(pat, query).await, 200);
    assert_eq!(a.verify_status(pat, query).await, 200);
    assert!(a.stats().cache_hits > hits, "not cached");
}

/// How long after `since` A answers `want` for `pat`.
async fn refused_after(a: &TestApp, pat: &str, query: &str, want: u16, since: Instant) -> Duration {
    loop {
        let status = a.verify_status(pat, query).await;
        let waited = since.elapsed();
        if status == want {
            return waited;
        }
        assert_eq!(status, 200, "neither cached nor refused");
        assert!(waited < BOUND, "still accepted after {waited:?}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test]
async fn a_revoke_on_one_replica_is_refused_by_the_other_promptly() {
    let (a, b, _) = replicas().await;
    let mut delays = Vec::new();
    for _ in 0..50 {
        let (pat, id) = a.create_pat("vso.code", false).await;
        cached_on(&a, &pat, "").await;
        b.revoke(id).await;
        delays.push(refused_after(&a, &pat, "", 401, Instant::now()).await);
    }
    delays.sort();
    println!(
        "revocation propagation over {} revokes: p50 {:?}, max {:?}",
        delays.len(),
        delays[delays.len() / 2],
        delays[delays.len() - 1]
    );
    // Without notices A would answer from its cache for 300 s.
    assert!(a.stats().store_lookups >= 50);
}

#[tokio::test]
async fn a_rescope_on_one_replica_is_seen_by_the_other() {
    let (a, b, _) = replicas().await;
    let (pat, id) = b.create_pat("vso.code", false).await;
    cached_on(&a, &pat, "?scope=vso.code").await;
    b.update_scope(id, "vso.packaging").await;
    let waited = refused_after(&a, &pat, "?scope=vso.code", 403, Instant::now()).await;
    println!("rescope seen after {waited:?}");
    // A regenerate on A: B, which had the old secret cached, refuses it.
    cached_on(&b, &pat, "").await;
    let new = a.regenerate(id).await;
    refused_after(&b, &pat, "", 401, Instant::now()).await;
    assert_eq!(b.verify_status(&new, "").await, 200);
}

#[tokio::test]
async fn a_user_disabled_on_one_replica_is_refused_by_the_other() {
    let (a, b, _) = replicas().await;
    let (pat, _) = a.create_pat("vso.code", false).await;
    cached_on(&a, &pat, "").await;
    let alice = user_id(&b, "alice").await;
    let admin = b.user_jwt("admin", ADMIN_SCOPES);
    let (status, v) = send(
        &b,
        Method::POST,
        &format!("/patrol/v1/admin/users/{alice}/disable"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let waited = refused_after(&a, &pat, "", 401, Instant::now()).await;
    println!("user disable seen after {waited:?}");
}

/// A replica that stops hearing its peers drops its cache: what it had
/// cached is looked up again once it hears them again.
#[tokio::test]
async fn a_lost_listener_drops_the_cache() {
    let (a, _b, url) = replicas().await;
    let (pat, _) = a.create_pat("vso.code", false).await;
    cached_on(&a, &pat, "").await;
    assert!(a.stats().cached_entries > 0);
    // The listening sessions on this test's database (A's and B's).
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'patrol-peers' AND query ILIKE 'LISTEN%' \
         AND datname = current_database()",
    )
    .fetch_all(&admin)
    .await
    .unwrap();
    assert!(!killed.is_empty());
    let started = Instant::now();
    while a.stats().cached_entries > 0 {
        assert!(started.elapsed() < BOUND, "cache kept after the loss");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let lookups = a.stats().store_lookups;
    while !a.state.app.hears_peers() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not listening again"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(a.verify_status(&pat, "").await, 200);
    assert_eq!(a.stats().store_lookups, lookups + 1);
}

/// A TCP proxy in front of PostgreSQL that can make the connections it
/// holds die without a word: they stay open and forward nothing, ever (a
/// network that drops packets); connections made afterwards work.
struct SilentProxy {
    port: u16,
    /// Connections numbered below this are dead.
    dead_below: Arc<AtomicU64>,
    made: Arc<AtomicU64>,
}

impl SilentProxy {
    async fn start(to: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let dead_below = Arc::new(AtomicU64::new(0));
        let made = Arc::new(AtomicU64::new(0));
        let (dead, count) = (dead_below.clone(), made.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&to).await else {
                    continue;
                };
                let n = count.fetch_add(1, Ordering::AcqRel);
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pipe(cr, sw, n, dead.clone()));
                tokio::spawn(pipe(sr, cw, n, dead.clone()));
            }
        });
        Self {
            port,
            dead_below,
            made,
        }
    }

    /// Every connection made so far goes silent for good.
    fn kill_silently(&self) {
        self.dead_below
            .store(self.made.load(Ordering::Acquire), Ordering::Release);
    }
}

/// Forward `r` to `w` until connection `n` is dead (then hold it open).
async fn pipe(
    mut r: impl tokio::io::AsyncRead + Unpin,
    mut w: impl tokio::io::AsyncWrite + Unpin,
    n: u64,
    dead_below: Arc<AtomicU64>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(len @ 1..) = r.read(&mut buf).await {
        if n < dead_below.load(Ordering::Acquire) {
            std::future::pending::<()>().await;
        }
        if w.write_all(&buf[..len]).await.is_err() {
            break;
        }
    }
}

/// A listener on a connection that died without a word hears not even its
/// own heartbeat: the replica drops its cache within seconds (not the
/// 300 s TTL), listens again on a new connection, and keeps hearing (its
/// heartbeat goes out on new connections too).
#[tokio::test]
async fn a_silently_dead_listener_is_noticed_by_its_heartbeat() {
    let url = patrol_store::test_support::fresh_database_url()
        .await
        .unwrap();
    let parsed = url::Url::parse(&url).unwrap();
    let proxy = SilentProxy::start(format!(
        "{}:{}",
        parsed.host_str().unwrap(),
        parsed.port().unwrap()
    ))
    .await;
    let mut via = parsed.clone();
    via.set_port(Some(proxy.port)).unwrap();
    let via = via.to_string();
    let a = TestApp::spawn_with(move |c| {
        c.database.url = Some(via);
        c.verify.cache_ttl_secs = 300;
    })
    .await;
    let started = Instant::now();
    while !a.state.app.hears_peers() {
        assert!(started.elapsed() < Duration::from_secs(10), "not listening");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (pat, _) = a.create_pat("vso.code", false).await;
    cached_on(&a, &pat, "").await;
    proxy.kill_silently();
    let killed = Instant::now();
    // Only a loss empties the cache (the TTL is 300 s); listening again
    // on a new connection may follow within milliseconds.
    while a.stats().cached_entries > 0 {
        assert!(
            killed.elapsed() < Duration::from_secs(8),
            "a silent listener went unnoticed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("silent listener noticed after {:?}", killed.elapsed());
    while !a.state.app.hears_peers() {
        assert!(
            killed.elapsed() < Duration::from_secs(20),
            "not listening again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("listening again after {:?}", killed.elapsed());
    // Its own heartbeat is heard over new connections: no new loss.
    let again = Instant::now();
    while again.elapsed() < Duration::from_secs(5) {
        assert!(a.state.app.hears_peers(), "lost again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A policy set through one replica holds on the other — which had just
/// read the policies for a create and keeps them for up to 5 s — within the
/// bound: by the notice.
#[tokio::test]
async fn a_policy_set_on_one_replica_holds_on_the_other_promptly() {
    let (a, b, _) = replicas().await;
    let body = || serde_json::json!({"displayName": "p", "scope": "vso.code", "allOrgs": false});
    let r = create(&b, "alice", "fabrikam", body()).await;
    assert_eq!(r["patTokenError"], "none", "{r}");
    let (s, v) = send(
        &a,
        Method::PUT,
        "/patrol/v1/admin/policies/organizations/fabrikam",
        &a.user_jwt("admin", ADMIN_SCOPES),
        Some(serde_json::json!({"restrictPatCreation": true})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let since = Instant::now();
    loop {
        let r = create(&b, "alice", "fabrikam", body()).await;
        if r["patTokenError"] == "disablePatCreationPolicyViolation" {
            break;
        }
        assert_eq!(r["patTokenError"], "none", "{r}");
        assert!(
            since.elapsed() < BOUND,
            "B still creates after {:?}",
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!("policy propagation: {:?}", since.elapsed());
}
