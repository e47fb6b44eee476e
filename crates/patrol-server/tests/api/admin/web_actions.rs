//! The admin pages' actions over real HTTP: members added and removed,
//! a user's tokens revoked (the very next verify fails), revocation rules,
//! the audit log with filters, pages and the export — each action leaving
//! one audit record per thing changed. (Gates, CSRF and policies: web.rs.)

use patrol_core::user::{AuditAction, AuditEvent, Outcome};
use reqwest::StatusCode;

use super::{audit_count, audit_of, bob_administers, create_ok, key, pat_body, user_id};
use crate::support::TestApp;
use crate::web::Browser;

#[tokio::test]
async fn members_are_added_and_removed_from_the_page_one_record_each() {
    let app = TestApp::spawn_with(|c| bob_administers(c, "fabrikam")).await;
    let (pat, _) = create_ok(&app, "alice", "fabrikam", pat_body("t", "vso.code", false)).await;
    create_ok(&app, "bob", "fabrikam", pat_body("b", "vso.code", false)).await;
    let alice = user_id(&app, "alice").await;
    let mut a = Browser::new(&app);
    let csrf = a.sign_in("admin").await.csrf();
    let page = a.get("/admin/members?org=fabrikam").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&format!("data-user-id=\"{alice}\"")));
    let records = audit_count(&app).await;
    let alice_s = alice.to_string();
    let page = a
        .post(
            "/admin/members/fabrikam/remove",
            &[("csrf", &csrf), ("user", &alice_s)],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.url.contains("notice=removed"), "{}", page.url);
    assert!(
        !page.body.contains(&format!("data-user-id=\"{alice}\"")),
        "gone"
    );
    assert!(
        page.body.contains(&format!("<option value=\"{alice}\">")),
        "offered to add back"
    );
    assert_eq!(audit_count(&app).await, records + 1);
    let removed = audit_of(&app, AuditAction::AdminMemberRemove).await;
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].target_user, Some(alice));
    assert_eq!(
        app.verify_status(&pat, "?org=fabrikam").await,
        403,
        "her token stopped working there"
    );
    let page = a
        .post(
            "/admin/members/fabrikam/add",
            &[("csrf", &csrf), ("user", &alice_s)],
        )
        .await;
    assert!(page.url.contains("notice=added"), "{}", page.url);
    assert!(page.body.contains(&format!("data-user-id=\"{alice}\"")));
    // (The refused verify above was audited too.)
    assert_eq!(audit_count(&app).await, records + 3);
    assert_eq!(app.verify_status(&pat, "?org=fabrikam").await, 200);

    // An organization's administrator: only their organization.
    let mut bob = Browser::new(&app);
    let csrf_b = bob.sign_in("bob").await.csrf();
    let page = bob.get("/admin/members").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Members of “fabrikam”"));
    assert!(!page.body.contains("value=\"contoso\""), "{}", page.body);
    let page = bob.get("/admin/members?org=contoso").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let page = bob
        .post(
            "/admin/members/contoso/remove",
            &[("csrf", &csrf_b), ("user", &alice_s)],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let page = bob.get("/admin/policies").await;
    assert!(page.body.contains("id=\"org-form-fabrikam\""));
    assert!(!page.body.contains("id=\"org-form-contoso\""));
    assert!(page.body.contains("Only tenant administrators can change"));
    let page = bob
        .post(
            "/admin/policies/tenant",
            &[("csrf", &csrf_b), ("do", "save")],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(audit_of(&app, AuditAction::AdminPolicySet).await.is_empty());
}

#[tokio::test]
async fn a_revoke_from_the_admin_page_fails_the_very_next_verify() {
    let app = TestApp::spawn().await;
    let (pat, token) = create_ok(
        &app,
        "alice",
        "fabrikam",
        pat_body("deploy", "vso.code", false),
    )
    .await;
    let (pat2, _) = create_ok(&app, "alice", "contoso", pat_body("two", "vso.code", false)).await;
    let (pat3, _) = create_ok(
        &app,
        "alice",
        "fabrikam",
        pat_body("three", "vso.build", true),
    )
    .await;
    let alice = user_id(&app, "alice").await;
    assert_eq!(app.verify_status(&pat, "").await, 200, "cached as valid");
    let mut a = Browser::new(&app);
    let csrf = a.sign_in("admin").await.csrf();
    let found = a.get("/admin/users?q=ALICE").await;
    assert!(
        found
            .body
            .contains(&format!("href=\"/admin/users/{alice}\"")),
        "{}",
        found.body
    );
    assert!(!found.body.contains("data-user-name=\"Bob"), "only matches");
    let tokens = a.get(&format!("/admin/users/{alice}")).await;
    assert_eq!(tokens.token_ids().len(), 3);
    let confirm = a.get(&format!("/admin/tokens/{token}/revoke")).await;
    assert!(confirm.body.contains("id=\"confirm-admin-revoke\""));
    assert!(confirm
        .body
        .contains(&format!("href=\"/admin/users/{alice}\">Cancel")));
    assert_eq!(app.verify_status(&pat, "").await, 200, "GET only asks");
    let records = audit_count(&app).await;
    let page = a
        .post(&format!("/admin/tokens/{token}/revoke"), &[("csrf", &csrf)])
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.url
            .ends_with(&format!("/admin/users/{alice}?notice=revoked")),
        "{}",
        page.url
    );
    assert_eq!(audit_count(&app).await, records + 1, "one record");
    assert_eq!(
        app.verify_status(&pat, "").await,
        401,
        "the very next verify"
    );
    let revoked = audit_of(&app, AuditAction::PatRevoke).await;
    assert_eq!(revoked[0].actor, key("admin"));
    assert_eq!(revoked[0].target_pat, Some(token));

    // The owner sees it from the token's activity page.
    let mut b = Browser::new(&app);
    b.sign_in("alice").await;
    let page = b.get("/tokens?status=all").await;
    assert!(page
        .body
        .contains(&format!("href=\"/tokens/{token}/activity\"")));
    let activity = b.get(&format!("/tokens/{token}/activity")).await;
    assert_eq!(activity.status, StatusCode::OK);
    assert!(
        activity.body.contains("data-action=\"pat.revoke\""),
        "{}",
        activity.body
    );
    assert!(activity.body.contains(&key("admin")));
    assert!(
        !activity.body.contains("id=\"audit-filters\""),
        "no admin filters"
    );
    // Another user's token's activity is not shown.
    let (_, bobs) = create_ok(&app, "bob", "fabrikam", pat_body("b", "vso.code", false)).await;
    let page = b.get(&format!("/tokens/{bobs}/activity")).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);

    // Revoke all: one record per token, each fails at once.
    let confirm = a.get(&format!("/admin/users/{alice}/revoke-all")).await;
    assert!(
        confirm.body.contains("Revoke all 2 active tokens"),
        "{}",
        confirm.body
    );
    let records = audit_count(&app).await;
    let page = a
        .post(
            &format!("/admin/users/{alice}/revoke-all"),
            &[("csrf", &csrf)],
        )
        .await;
    assert!(page.url.contains("notice=revoked-all&n=2"), "{}", page.url);
    assert_eq!(audit_count(&app).await, records + 2);
    assert_eq!(app.verify_status(&pat2, "").await, 401);
    assert_eq!(app.verify_status(&pat3, "").await, 401);
    assert!(
        !page.body.contains("id=\"revoke-all\""),
        "nothing left to revoke"
    );
}

#[tokio::test]
async fn revocation_rules_from_the_page() {
    let app = TestApp::spawn().await;
    let (code, _) = create_ok(
        &app,
        "alice",
        "fabrikam",
        pat_body("c", "vso.code_write", false),
    )
    .await;
    let (pkg, _) = create_ok(
        &app,
        "alice",
        "fabrikam",
        pat_body("p", "vso.packaging", false),
    )
    .await;
    let mut a = Browser::new(&app);
    let csrf = a.sign_in("admin").await.csrf();
    let page = a.get("/admin/revocation-rules").await;
    assert!(page.body.contains("id=\"no-rules\""));
    assert!(page
        .body
        .contains("<option value=\"\" selected>Every organization"));
    for (fields, words) in [
        (vec![("scopes", "")], "at least one scope"),
        (vec![("scopes", "vso.nope")], "scopes are not valid"),
        (
            vec![("scopes", "vso.code"), ("created_before", "tomorrow")],
            "must be a date",
        ),
        (
            vec![("scopes", "vso.code"), ("org", "nowhere")],
            "no organization called",
        ),
    ] {
        let mut f = vec![("csrf", csrf.as_str())];
        f.extend(fields);
        let page = a.post("/admin/revocation-rules", &f).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{f:?}: {}", page.body);
        assert!(page.body.contains(words), "{f:?}: {}", page.body);
    }
    assert_eq!(app.verify_status(&code, "").await, 200);
    let records = audit_count(&app).await;
    let page = a
        .post(
            "/admin/revocation-rules",
            &[("csrf", &csrf), ("scopes", "vso.code"), ("org", "fabrikam")],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("it revoked 1 token,"), "{}", page.body);
    assert!(page.body.contains("data-rule-id="));
    // The rule's record, and one per token it revoked.
    assert_eq!(audit_count(&app).await, records + 2);
    assert_eq!(app.verify_status(&code, "").await, 401);
    assert_eq!(app.verify_status(&pkg, "").await, 200);
    assert_eq!(
        audit_of(&app, AuditAction::AdminRevocationRule).await.len(),
        1
    );
    // Created before a past date: nothing this new matches.
    let page = a
        .post(
            "/admin/revocation-rules",
            &[
                ("csrf", &csrf),
                ("scopes", "vso.packaging"),
                ("created_before", "2020-01-01"),
            ],
        )
        .await;
    assert!(page.body.contains("it revoked 0 tokens"), "{}", page.body);
    assert_eq!(app.verify_status(&pkg, "").await, 200);
}

#[tokio::test]
async fn the_audit_page_filters_pages_and_exports() {
    let app = TestApp::spawn().await;
    let (_, token) = create_ok(&app, "alice", "fabrikam", pat_body("t", "vso.code", false)).await;
    let now = app.now();
    for i in 0..60 {
        let ev = AuditEvent {
            detail: Some(format!("synthetic {i}")),
            ..AuditEvent::new(
                AuditAction::AuthReject,
                now - chrono::Duration::seconds(i),
                "test|robot",
                Outcome::Failure,
            )
        };
        app.store.append_audit(&ev).await.unwrap();
    }
    let mut a = Browser::new(&app);
    a.sign_in("admin").await;
    let page = a.get("/admin/audit?actor=test%7Crobot").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body.matches("class=\"event\"").count(), 50, "a page");
    assert!(page.body.contains("Every event"));
    let next = page.field("id=\"next-page\" href=\"").expect("a next page");
    assert!(next.contains("actor=test%7Crobot"), "{next}");
    let page2 = a.get(&next).await;
    assert_eq!(page2.body.matches("class=\"event\"").count(), 10);
    assert!(page2.body.contains("synthetic 59") && !page2.body.contains("synthetic 0<"));
    assert!(page2.field("id=\"next-page\" href=\"").is_none());
    let page = a.get(&format!("/admin/audit?token={token}")).await;
    assert_eq!(page.body.matches("class=\"event\"").count(), 1);
    assert!(page.body.contains("data-action=\"pat.create\""));
    let page = a
        .get("/admin/audit?action=pat.create&since=2000-01-01&until=2000-12-31")
        .await;
    assert!(page.body.contains("id=\"no-events\""), "out of range");
    let today = now.format("%Y-%m-%d").to_string();
    let page = a
        .get(&format!(
            "/admin/audit?action=pat.create&since={today}&until={today}"
        ))
        .await;
    assert_eq!(
        page.body.matches("class=\"event\"").count(),
        1,
        "until is inclusive"
    );
    for bad in [
        "user=nope",
        "since=yesterday",
        "action=pat.nope",
        "after=garbage",
    ] {
        let page = a.get(&format!("/admin/audit?{bad}")).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(page.body.contains("id=\"error\""), "{bad}");
    }
    let page = a.get("/admin/audit?action=auth.reject").await;
    let export = page.field("id=\"export\" href=\"").unwrap();
    assert_eq!(export, "/admin/audit/export?action=auth.reject");
    let r = app
        .client
        .get(format!("{}{export}", app.base))
        .header("cookie", format!("patrol_session={}", a.session_cookie()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body = r.text().await.unwrap();
    let lines: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 60);
    assert!(lines.iter().all(|l| l["action"] == "auth.reject"));
}

#[tokio::test]
async fn a_tenant_administrator_disables_and_enables_a_user_from_the_page() {
    let app = TestApp::spawn_with(|c| bob_administers(c, "fabrikam")).await;
    let mut alice_b = Browser::new(&app);
    alice_b.sign_in("alice").await;
    let session = patrol_core::session::SessionKey::of(&alice_b.session_cookie());
    let (pat, _) = create_ok(&app, "alice", "fabrikam", pat_body("t", "vso.code", false)).await;
    assert_eq!(app.verify_status(&pat, "?org=fabrikam").await, 200);
    let alice = user_id(&app, "alice").await;

    // An organization's administrator sees the user but no such button, and
    // is refused if they post anyway.
    let mut bob = Browser::new(&app);
    let csrf_b = bob.sign_in("bob").await.csrf();
    let page = bob.get(&format!("/admin/users/{alice}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(!page.body.contains("id=\"disable-user\""));
    let page = bob
        .post(
            &format!("/admin/users/{alice}/disable"),
            &[("csrf", &csrf_b)],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(app.verify_status(&pat, "?org=fabrikam").await, 200);

    let mut a = Browser::new(&app);
    let csrf = a.sign_in("admin").await.csrf();
    let page = a.get(&format!("/admin/users/{alice}")).await;
    assert!(page.body.contains(&format!(
        "id=\"disable-user\" href=\"/admin/users/{alice}/disable\""
    )));
    let confirm = a.get(&format!("/admin/users/{alice}/disable")).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(
        confirm.body.contains("Disable Alice Example?"),
        "{}",
        confirm.body
    );
    // Without the CSRF token nothing happens.
    let page = a.post(&format!("/admin/users/{alice}/disable"), &[]).await;
    assert_ne!(page.status, StatusCode::OK);
    assert_eq!(app.verify_status(&pat, "?org=fabrikam").await, 200);

    let records = audit_count(&app).await;
    let page = a
        .post(&format!("/admin/users/{alice}/disable"), &[("csrf", &csrf)])
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.url.contains("notice=disabled&n=1"), "{}", page.url);
    assert!(page
        .body
        .contains("<span class=\"badge revoked\">disabled</span>"));
    assert!(page.body.contains("id=\"enable-user\""));
    // The very next verify fails, her web session is gone, one record for the
    // user and one for her token.
    assert_eq!(app.verify_status(&pat, "?org=fabrikam").await, 401);
    assert!(app.store.get_session(&session).await.unwrap().is_none());
    let disables = audit_of(&app, AuditAction::UserDisable).await;
    assert_eq!(disables.len(), 1);
    assert_eq!(disables[0].actor, key("admin"));
    assert_eq!(disables[0].target_user, Some(alice));
    assert_eq!(audit_of(&app, AuditAction::PatRevoke).await.len(), 1);
    // (The refused verify is audited too.)
    assert_eq!(audit_count(&app).await, records + 3);

    let page = a
        .post(&format!("/admin/users/{alice}/enable"), &[("csrf", &csrf)])
        .await;
    assert!(page.url.contains("notice=enabled"), "{}", page.url);
    assert!(page.body.contains("id=\"disable-user\""));
    assert_eq!(audit_of(&app, AuditAction::UserEnable).await.len(), 1);
    assert_eq!(
        app.verify_status(&pat, "?org=fabrikam").await,
        401,
        "enabling revives no token"
    );
}
