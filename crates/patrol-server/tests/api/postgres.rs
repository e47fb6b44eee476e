//! The server on PostgreSQL (`[database] url`): the PAT lifecycle through
//! the HTTP surface, and two servers (replicas) over one database.

use crate::support::TestApp;

#[tokio::test]
async fn the_pat_lifecycle_works_on_postgres() {
    let (app, _url) = TestApp::spawn_on_postgres().await;
    let ready = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let (pat, id) = app.create_pat("vso.code", false).await;
    assert_eq!(app.verify_status(&pat, "").await, 200);
    assert_eq!(app.get_pat(id).await["authorizationId"], id.to_string());
    app.update_scope(id, "vso.packaging").await;
    assert_eq!(app.verify_status(&pat, "?scope=vso.code").await, 403);
    let new = app.regenerate(id).await;
    assert_eq!(app.verify_status(&pat, "").await, 401);
    assert_eq!(app.verify_status(&new, "").await, 200);
    app.revoke(id).await;
    assert_eq!(app.verify_status(&new, "").await, 401);
    // Through the store the test holds: the record is in PostgreSQL.
    let stored = app.store.get_pat(id).await.unwrap().unwrap();
    assert!(stored.revoked_at.is_some());
}

/// A token created on one replica verifies on the other, and is listed
/// there; a token the second revokes, which the first never saw, is
/// refused by the first.
#[tokio::test]
async fn two_servers_share_one_postgres_database() {
    let (a, url) = TestApp::spawn_on_postgres().await;
    let b = TestApp::spawn_on(&url).await;
    let (pat, id) = a.create_pat("vso.code", false).await;
    assert_eq!(b.verify_status(&pat, "").await, 200);
    assert_eq!(b.get_pat(id).await["authorizationId"], id.to_string());
    let (other, other_id) = b.create_pat("vso.code", false).await;
    b.revoke(other_id).await;
    assert_eq!(a.verify_status(&other, "").await, 401);
}
