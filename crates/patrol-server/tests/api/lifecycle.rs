//! Changes made through the PAT API are seen by the very next verify; expiry
//! and inactivity are enforced at use time.

use crate::support::{days, manual_clock, TestApp};

#[tokio::test]
async fn revocation_is_seen_by_the_very_next_verify() {
    let app = TestApp::spawn().await;
    let (pat, id) = app.create_pat("vso.code", false).await;
    assert_eq!(app.verify_status(&pat, "").await, 200);
    let hits = app.stats().cache_hits;
    assert_eq!(app.verify_status(&pat, "").await, 200);
    assert_eq!(
        app.stats().cache_hits,
        hits + 1,
        "the second verify is served from the cache"
    );
    app.revoke(id).await;
    assert_eq!(app.verify_status(&pat, "").await, 401);
    // And stays refused, without hammering the store.
    let lookups = app.stats().store_lookups;
    for _ in 0..5 {
        assert_eq!(app.verify_status(&pat, "").await, 401);
    }
    assert!(app.stats().store_lookups <= lookups + 1);
    assert_eq!(
        app.verify_audit(id)
            .await
            .iter()
            .filter(|d| *d == "revoked")
            .count(),
        6
    );
}

#[tokio::test]
async fn narrowed_scope_is_seen_at_once() {
    let app = TestApp::spawn().await;
    let (pat, id) = app.create_pat("vso.code_write", false).await;
    assert_eq!(app.verify_status(&pat, "?scope=vso.code_write").await, 200);
    app.update_scope(id, "vso.code").await;
    assert_eq!(app.verify_status(&pat, "?scope=vso.code_write").await, 403);
    assert_eq!(app.verify_status(&pat, "?scope=vso.code").await, 200);
    let r = app
        .verify(Some(&crate::support::basic("git", &pat)), "", None)
        .await;
    assert_eq!(r.headers()["x-patrol-scopes"], "vso.code");
}

#[tokio::test]
async fn regenerate_replaces_the_secret_at_once() {
    let app = TestApp::spawn().await;
    let (old, id) = app.create_pat("vso.code", false).await;
    assert_eq!(app.verify_status(&old, "").await, 200);
    let new = app.regenerate(id).await;
    assert_ne!(old, new);
    assert_eq!(app.verify_status(&old, "").await, 401);
    assert_eq!(app.verify_status(&new, "").await, 200);
    let r = app.verify(Some(&format!("Bearer {new}")), "", None).await;
    assert_eq!(
        r.headers()["x-patrol-authorization-id"],
        id.to_string().as_str()
    );
}

#[tokio::test]
async fn expired_pat_is_refused() {
    let clock = manual_clock();
    let app = TestApp::spawn_with_clock(clock.clone(), |_| {}).await;
    let (expired, id) = app.create_pat_until(app.now() + days(29)).await;
    assert_eq!(app.verify_status(&expired, "").await, 200);
    clock.advance(days(30));
    assert_eq!(app.verify_status(&expired, "").await, 401);
    assert_eq!(app.verify_audit(id).await, ["expired"]);
    let (fresh, _) = app.create_pat_until(app.now() + days(1)).await;
    assert_eq!(app.verify_status(&fresh, "").await, 200);
}

#[tokio::test]
async fn never_used_pat_goes_inactive_after_90_days() {
    let clock = manual_clock();
    let app = TestApp::spawn_with_clock(clock.clone(), |_| {}).await;
    let (stale, id) = app.create_pat_until(app.now() + days(190)).await;
    let (young, yid) = app.create_pat_until(app.now() + days(190)).await;
    // Inside the window it works, and using it keeps it working.
    clock.advance(days(89));
    assert_eq!(app.verify_status(&young, "").await, 200);
    clock.advance(days(2));
    assert_eq!(app.verify_status(&stale, "").await, 401);
    assert_eq!(app.verify_audit(id).await, ["inactive"]);
    app.state.app.flush_usage().await;
    let stored = app.store.get_pat(yid).await.unwrap().unwrap();
    assert!(stored.last_used.is_some());
    assert_eq!(
        stored.status(app.now() + days(5), Some(days(90))),
        patrol_core::pat::PatStatus::Active
    );
}

#[tokio::test]
async fn inactivity_rule_can_be_turned_off() {
    let clock = manual_clock();
    let app = TestApp::spawn_with_clock(clock.clone(), |c| c.tokens.inactive_after_days = 0).await;
    let (old, _) = app.create_pat_until(app.now() + days(300)).await;
    clock.advance(days(200));
    assert_eq!(app.verify_status(&old, "").await, 200);
}

#[tokio::test]
async fn disabled_owner_is_refused() {
    let app = TestApp::spawn().await;
    let (pat, id) = app.create_pat("vso.code", false).await;
    assert_eq!(app.verify_status(&pat, "").await, 200);
    let store = &app.store;
    let owner = store.get_pat(id).await.unwrap().unwrap().owner;
    store.set_user_disabled(owner, true).await.unwrap();
    app.state.app.forget_verified_owner(owner);
    assert_eq!(app.verify_status(&pat, "").await, 401);
    assert_eq!(app.verify_audit(id).await, ["owner disabled"]);
}

/// A change made behind this process's back (another replica) is seen
/// within the cache TTL, and not before: the stated revocation bound.
#[tokio::test]
async fn other_replicas_changes_are_seen_within_the_cache_ttl() {
    let clock = manual_clock();
    let app = TestApp::spawn_with_clock(clock.clone(), |c| c.verify.cache_ttl_secs = 1).await;
    let (pat, id) = app.create_pat("vso.code", false).await;
    assert_eq!(app.verify_status(&pat, "").await, 200);
    let audit = patrol_core::user::AuditEvent {
        target_pat: Some(id),
        ..patrol_core::user::AuditEvent::new(
            patrol_core::user::AuditAction::PatRevoke,
            app.now(),
            "replica-b",
            patrol_core::user::Outcome::Success,
        )
    };
    let store = &app.store;
    assert!(store.revoke_pat(id, app.now(), &audit).await.unwrap());
    assert_eq!(
        app.verify_status(&pat, "").await,
        200,
        "the cached answer stands until the TTL has passed"
    );
    clock.advance(chrono::Duration::milliseconds(999));
    assert_eq!(app.verify_status(&pat, "").await, 200);
    clock.advance(chrono::Duration::milliseconds(1));
    assert_eq!(
        app.verify_status(&pat, "").await,
        401,
        "stale beyond the TTL"
    );
}

/// docs/security.md item 19: identifiers are random (UUIDv4), never
/// sequential, so one cannot be guessed from another.
#[tokio::test]
async fn authorization_and_user_ids_are_random_v4() {
    let app = TestApp::spawn().await;
    let (_, a) = app.create_pat("vso.code", false).await;
    let (_, b) = app.create_pat("vso.code", false).await;
    assert_eq!(a.get_version_num(), 4);
    assert_eq!(b.get_version_num(), 4);
    assert_ne!(a, b);
    let owner = app.store.get_pat(a).await.unwrap().unwrap().owner;
    assert_eq!(owner.get_version_num(), 4);
    for org in app.store.list_orgs().await.unwrap() {
        assert_eq!(org.id.get_version_num(), 4);
    }
}

/// Every management-API call signs its user in; the users table is written
/// only when something changed or five minutes have passed — not per GET.
#[tokio::test]
async fn api_calls_do_not_write_the_users_table_each_time() {
    let clock = manual_clock();
    let app = TestApp::spawn_with_clock(clock.clone(), |_| {}).await;
    let (_, id) = app.create_pat("vso.code", false).await;
    let owner = app.store.get_pat(id).await.unwrap().unwrap().owner;
    let first = app
        .store
        .get_user(owner)
        .await
        .unwrap()
        .unwrap()
        .last_sign_in;
    clock.advance(chrono::Duration::minutes(4));
    for _ in 0..3 {
        app.get_pat(id).await;
    }
    let user = app.store.get_user(owner).await.unwrap().unwrap();
    assert_eq!(user.last_sign_in, first, "reads only");
    clock.advance(chrono::Duration::minutes(2));
    app.get_pat(id).await;
    let user = app.store.get_user(owner).await.unwrap().unwrap();
    assert_eq!(user.last_sign_in, first + chrono::Duration::minutes(6));
}
