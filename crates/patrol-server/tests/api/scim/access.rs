//! What deactivation does: every PAT refused on the very next verify, every
//! web session ended, audit records naming who did it; reactivation does
//! not revive PATs; an administrator's disable does the same; and PATs stop
//! and start again with the periodic interactive sign-in rule.

use reqwest::{Method, StatusCode};
use serde_json::json;

use patrol_core::session::SessionKey;
use patrol_core::user::AuditAction;

use super::{entra_active, entra_create, ok, scim_on};
use crate::admin::{audit_of, key, send, user_id, ADMIN_SCOPES, USER_SCOPES};
use crate::support::{days, manual_clock, TestApp};
use crate::web::Browser;

#[tokio::test]
async fn deactivation_ends_pats_and_sessions_at_once_and_reactivation_revives_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with(|c| scim_on(c, dir.path())).await;
    let mut b = Browser::new(&app);
    b.sign_in("alice").await;
    let session = SessionKey::of(&b.session_cookie());
    let (pat, pat_id) = app.create_pat("vso.code", false).await;
    let (other_pat, _) = app.create_pat("vso.build", false).await;
    // Both verified once: their answers are in the verify cache now.
    assert_eq!(app.verify_status(&pat, "").await, 200);
    assert_eq!(app.verify_status(&other_pat, "").await, 200);
    let before = app.stats().store_lookups;

    let rec = ok(&app, Method::POST, "/Users", Some(entra_create("alice"))).await;
    let id = rec["id"].as_str().unwrap();
    ok(
        &app,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(entra_active("False")),
    )
    .await;

    // The very next verify refuses, for every PAT of hers.
    assert_eq!(app.verify_status(&pat, "").await, 401);
    assert_eq!(app.verify_status(&other_pat, "").await, 401);
    assert!(
        app.stats().store_lookups > before,
        "the cache was invalidated"
    );
    let stored = app.store.get_pat(pat_id).await.unwrap().unwrap();
    assert!(stored.revoked_at.is_some(), "revoked, not only refused");
    // Her web session is gone; the page sends her to sign in.
    assert!(app.store.get_session(&session).await.unwrap().is_none());
    let cookie = b.session_cookie();
    let no_redirect = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = no_redirect
        .get(format!("{}/tokens", app.base))
        .header("cookie", format!("patrol_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(resp.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/signin"));
    // Nor may she use the API.
    let (status, _) = send(
        &app,
        Method::GET,
        &format!("/fabrikam/_apis/tokens/pats?{}", crate::support::API),
        &app.user_jwt("alice", USER_SCOPES),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The records name the provisioning client.
    let alice = user_id(&app, "alice").await;
    let disables = audit_of(&app, AuditAction::UserDisable).await;
    assert_eq!(disables.len(), 1);
    assert_eq!(disables[0].actor, "scim|token-1");
    assert_eq!(disables[0].target_user, Some(alice));
    let detail = disables[0].detail.clone().unwrap();
    assert!(
        detail.contains("2 PATs revoked, 1 web sessions ended"),
        "{detail}"
    );
    let revokes = audit_of(&app, AuditAction::PatRevoke).await;
    assert_eq!(revokes.len(), 2);
    assert!(revokes.iter().all(|e| e.actor == "scim|token-1"));

    // Reactivated: she may sign in and make new PATs; the old ones stay dead.
    ok(
        &app,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Replace", "value": {"active": "True"}}],
        })),
    )
    .await;
    assert_eq!(app.verify_status(&pat, "").await, 401);
    assert_eq!(app.verify_status(&other_pat, "").await, 401);
    let (fresh, _) = app.create_pat("vso.code", false).await;
    assert_eq!(app.verify_status(&fresh, "").await, 200);
    b.sign_in("alice").await;
    let enables = audit_of(&app, AuditAction::UserEnable).await;
    assert_eq!(enables.len(), 1);
    assert_eq!(enables[0].actor, "scim|token-1");
}

#[tokio::test]
async fn an_administrator_disables_and_enables_with_the_same_effect() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    b.sign_in("alice").await;
    let session = SessionKey::of(&b.session_cookie());
    let (pat, _) = app.create_pat("vso.code", false).await;
    assert_eq!(app.verify_status(&pat, "").await, 200);
    let alice = user_id(&app, "alice").await;
    let admin = app.user_jwt("admin", ADMIN_SCOPES);

    // Only a tenant administrator may.
    let bob = app.user_jwt("bob", ADMIN_SCOPES);
    let path = format!("/patrol/v1/admin/users/{alice}/disable");
    let (status, _) = send(&app, Method::POST, &path, &bob, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(app.verify_status(&pat, "").await, 200);
    let (status, _) = send(
        &app,
        Method::POST,
        &format!("/patrol/v1/admin/users/{}/disable", uuid::Uuid::new_v4()),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, v) = send(&app, Method::POST, &path, &admin, None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["disabled"], true);
    assert_eq!(app.verify_status(&pat, "").await, 401);
    assert!(app.store.get_session(&session).await.unwrap().is_none());
    let disables = audit_of(&app, AuditAction::UserDisable).await;
    assert_eq!(disables.len(), 1);
    assert_eq!(disables[0].actor, key("admin"));
    assert_eq!(
        disables[0].detail.as_deref(),
        Some("disabled by an administrator; 1 PATs revoked, 1 web sessions ended")
    );

    let (status, v) = send(
        &app,
        Method::POST,
        &format!("/patrol/v1/admin/users/{alice}/enable"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["disabled"], false);
    assert_eq!(app.verify_status(&pat, "").await, 401, "not revived");
    let (fresh, _) = app.create_pat("vso.code", false).await;
    assert_eq!(app.verify_status(&fresh, "").await, 200);
}

#[tokio::test]
async fn pats_stop_without_a_periodic_interactive_sign_in_and_start_after_one() {
    let clock = manual_clock();
    let app = TestApp::spawn_with_clock(clock.clone(), |c| {
        c.tokens.require_interactive_signin_days = 30;
    })
    .await;
    let (pat, id) = app.create_pat_until(app.now() + days(90)).await;
    // Only API calls so far: no interactive sign-in, the PAT does not work.
    assert_eq!(app.verify_status(&pat, "").await, 401);
    assert_eq!(
        app.verify_audit(id).await.last().map(String::as_str),
        Some("owner's interactive sign-in overdue")
    );
    // A sign-in on the web page starts it at once.
    Browser::new(&app).sign_in("alice").await;
    assert_eq!(app.verify_status(&pat, "").await, 200);
    // 29 days later it still works; past 30 it stops.
    clock.advance(days(29));
    assert_eq!(app.verify_status(&pat, "").await, 200);
    clock.advance(days(2));
    assert_eq!(app.verify_status(&pat, "").await, 401);
    // API calls in the meantime do not count. (A second web sign-in at
    // this clock cannot be driven here: the identity provider's tokens are
    // dated by the wall clock, which the test cannot move; the start after
    // a sign-in is shown above.)
    let (status, _) = send(
        &app,
        Method::GET,
        &format!("/fabrikam/_apis/tokens/pats?{}", crate::support::API),
        &app.user_jwt("alice", USER_SCOPES),
        None,
    )
    .await;
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(app.verify_status(&pat, "").await, 401);
}
