//! The admin pages over real HTTP (docs/admin.md, "The admin pages"):
//! every admin route refuses a non-administrator with a 403 page and a
//! form post without its anti-CSRF token; each policy refuses in the
//! token form in plain words; the dry run lists exactly what enforcement
//! then refuses; a revoke from the page fails the very next verify; each
//! admin action leaves exactly one audit record per thing changed.
//! (Members, revokes, rules and the audit log: web_actions.rs; the
//! browser-driven suite is tests/e2e/test_web_admin.py.)

use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use patrol_core::user::AuditAction;

use super::{audit_count, audit_of, create_ok, key, pat_body, send, user_id, ADMIN_SCOPES};
use crate::support::TestApp;
use crate::web::{create, Browser};

/// Every admin page (GET) and form (POST), with real ids filled in.
fn admin_routes(user: Uuid, token: Uuid) -> (Vec<String>, Vec<String>) {
    let gets = [
        "/admin".to_owned(),
        "/admin/policies".into(),
        "/admin/members".into(),
        "/admin/members?org=fabrikam".into(),
        "/admin/users".into(),
        "/admin/users?q=alice".into(),
        format!("/admin/users/{user}"),
        format!("/admin/users/{user}/revoke-all"),
        format!("/admin/users/{user}/disable"),
        format!("/admin/users/{user}/enable"),
        format!("/admin/tokens/{token}/revoke"),
        "/admin/revocation-rules".into(),
        "/admin/audit".into(),
        "/admin/audit/export".into(),
    ];
    let posts = [
        "/admin/policies/tenant".to_owned(),
        "/admin/policies/organizations/fabrikam".into(),
        "/admin/members/fabrikam/add".into(),
        "/admin/members/fabrikam/remove".into(),
        format!("/admin/users/{user}/revoke-all"),
        format!("/admin/users/{user}/disable"),
        format!("/admin/users/{user}/enable"),
        format!("/admin/tokens/{token}/revoke"),
        "/admin/revocation-rules".into(),
    ];
    (gets.to_vec(), posts.to_vec())
}

/// Fields that would change something on each admin form.
fn harmful_fields<'a>(csrf: &'a str, user: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("do", "save"),
        ("global_enabled", "on"),
        ("restrict", "on"),
        ("user", user),
        ("scopes", "vso.code"),
        ("org", ""),
    ]
}

#[tokio::test]
async fn non_admins_see_no_admin_link_and_get_403_on_every_admin_route() {
    let app = TestApp::spawn().await;
    let (pat, token) = create_ok(&app, "alice", "fabrikam", pat_body("t", "vso.code", false)).await;
    let alice = user_id(&app, "alice").await;
    let before = audit_of(&app, AuditAction::PatRevoke).await.len();
    let mut b = Browser::new(&app);
    let list = b.sign_in("alice").await;
    assert!(!list.body.contains("id=\"admin-link\""), "no admin link");
    let csrf = list.csrf();
    let (gets, posts) = admin_routes(alice, token);
    for path in &gets {
        let page = b.get(path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "GET {path}");
        assert!(
            page.url.ends_with(path.as_str()),
            "no redirect: {path} → {}",
            page.url
        );
        assert!(
            page.body.contains("for administrators"),
            "{path}: {}",
            page.body
        );
    }
    let alice_s = alice.to_string();
    for path in &posts {
        let page = b.post(path, &harmful_fields(&csrf, &alice_s)).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "POST {path}");
    }
    // Nothing changed.
    assert_eq!(app.verify_status(&pat, "").await, 200);
    assert_eq!(audit_of(&app, AuditAction::PatRevoke).await.len(), before);
    for a in [
        AuditAction::AdminPolicySet,
        AuditAction::AdminMemberRemove,
        AuditAction::AdminMemberAdd,
        AuditAction::AdminRevocationRule,
    ] {
        assert!(audit_of(&app, a).await.is_empty(), "{a:?}");
    }
    // The owner's own activity page is theirs, not an admin page.
    let page = b.get(&format!("/tokens/{token}/activity")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("data-action=\"pat.create\""));
    // An administrator is linked to the pages.
    let mut a = Browser::new(&app);
    let list = a.sign_in("admin").await;
    assert!(list.body.contains("id=\"admin-link\" href=\"/admin\""));
    let page = a.get("/admin").await;
    assert!(page.url.ends_with("/admin/policies"), "{}", page.url);
    assert_eq!(page.status, StatusCode::OK);
}

#[tokio::test]
async fn admin_forms_without_a_valid_csrf_token_change_nothing() {
    let app = TestApp::spawn().await;
    let (pat, token) = create_ok(&app, "alice", "fabrikam", pat_body("t", "vso.code", false)).await;
    let alice = user_id(&app, "alice").await;
    let mut b = Browser::new(&app);
    b.sign_in("admin").await;
    let records = audit_count(&app).await;
    let alice_s = alice.to_string();
    let (_, posts) = admin_routes(alice, token);
    for bad in ["", "forged"] {
        for path in &posts {
            let fields = harmful_fields(bad, &alice_s);
            let fields: Vec<_> = if bad.is_empty() {
                fields.into_iter().filter(|(k, _)| *k != "csrf").collect()
            } else {
                fields
            };
            let page = b.post(path, &fields).await;
            assert_eq!(
                page.status,
                StatusCode::FORBIDDEN,
                "POST {path} csrf={bad:?}"
            );
            assert!(page.body.contains("anti-forgery"), "{}", page.body);
        }
    }
    assert_eq!(app.verify_status(&pat, "").await, 200);
    assert_eq!(audit_count(&app).await, records, "nothing recorded");
    let members = b.get("/admin/members?org=fabrikam").await;
    assert!(members.body.contains(&format!("data-user-id=\"{alice}\"")));
}

#[tokio::test]
async fn the_dry_run_lists_exactly_what_enforcement_then_refuses() {
    let app = TestApp::spawn().await;
    let (_, global) = create_ok(
        &app,
        "alice",
        "fabrikam",
        pat_body("global", "vso.code", true),
    )
    .await;
    let (_, pinned) = create_ok(
        &app,
        "alice",
        "fabrikam",
        pat_body("pinned", "vso.code", false),
    )
    .await;
    let (_, bobs) = create_ok(&app, "bob", "fabrikam", pat_body("bobs", "vso.code", true)).await;
    let mut a = Browser::new(&app);
    let csrf = a.sign_in("admin").await.csrf();
    let page = a.get("/admin/policies").await;
    assert!(page.body.contains("id=\"tenant-form\""));
    assert!(page.body.contains("id=\"org-form-fabrikam\""));
    let records = audit_count(&app).await;
    // Global tokens restricted, bob on the allow-list.
    let bob_key = key("bob");
    let proposal = |action: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("global_enabled", "on".into()),
            ("global_users", bob_key.clone()),
            ("revoke_leaked", "on".into()),
            ("lifespan_days", "30".into()),
            ("do", action.into()),
        ]
    };
    let fields = proposal("dry-run");
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let dry = a.post("/admin/policies/tenant", &fields).await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.body);
    assert!(dry.body.contains("id=\"dry-run\""), "{}", dry.body);
    assert_eq!(dry.token_ids(), vec![global], "only alice's global token");
    assert!(dry.body.contains("restrict global PAT creation"));
    assert!(
        dry.body.contains(&bob_key),
        "the proposal stays in the form"
    );
    assert_eq!(
        audit_count(&app).await,
        records,
        "a dry run records nothing"
    );
    let (s, v) = send(
        &app,
        Method::GET,
        "/patrol/v1/admin/policies",
        &app.user_jwt("admin", ADMIN_SCOPES),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v["tenant"]["restrictGlobalPats"]["enabled"], false,
        "not saved"
    );

    let fields = proposal("save");
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let saved = a.post("/admin/policies/tenant", &fields).await;
    assert_eq!(saved.status, StatusCode::OK);
    assert!(saved.url.contains("notice=tenant"), "{}", saved.url);
    assert!(saved.body.contains("id=\"notice\""));
    assert_eq!(audit_count(&app).await, records + 1, "exactly one record");
    assert_eq!(audit_of(&app, AuditAction::AdminPolicySet).await.len(), 1);

    // Enforcement agrees: alice's global token cannot be regenerated, her
    // pinned one can, and bob (allowed) can regenerate his global one.
    let mut alice = Browser::new(&app);
    let csrf_a = alice.sign_in("alice").await.csrf();
    let page = alice
        .post(
            &format!("/tokens/{global}/regenerate"),
            &[("csrf", &csrf_a)],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert!(
        page.body.contains("Policy “restrict global tokens”"),
        "{}",
        page.body
    );
    let page = alice
        .post(
            &format!("/tokens/{pinned}/regenerate"),
            &[("csrf", &csrf_a)],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let mut bob = Browser::new(&app);
    let csrf_b = bob.sign_in("bob").await.csrf();
    let page = bob
        .post(&format!("/tokens/{bobs}/regenerate"), &[("csrf", &csrf_b)])
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);

    // An organization's policy: dry run, then save, one record.
    let dry = a
        .post(
            "/admin/policies/organizations/fabrikam",
            &[("csrf", &csrf), ("restrict", "on"), ("do", "dry-run")],
        )
        .await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.body);
    let mut listed = dry.token_ids();
    listed.sort();
    let (_, v) = send(
        &app,
        Method::POST,
        "/patrol/v1/admin/policies/dry-run",
        &app.user_jwt("admin", ADMIN_SCOPES),
        Some(json!({"organizations": {"fabrikam": {"restrictPatCreation": true}}})),
    )
    .await;
    let mut api: Vec<Uuid> = v["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["token"]["authorizationId"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    api.sort();
    assert_eq!(listed, api, "the page shows what the API's dry run says");
    assert!(!listed.is_empty());
    let records = audit_count(&app).await;
    let saved = a
        .post(
            "/admin/policies/organizations/fabrikam",
            &[("csrf", &csrf), ("restrict", "on"), ("do", "save")],
        )
        .await;
    assert!(saved.url.contains("notice=org"), "{}", saved.url);
    assert_eq!(audit_count(&app).await, records + 1);
    // A bad document is refused on the page, in words, and not saved.
    let bad = a
        .post(
            "/admin/policies/tenant",
            &[
                ("csrf", &csrf),
                ("lifespan_enabled", "on"),
                ("lifespan_days", "0"),
                ("do", "save"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("between 1 and 3650 days"), "{}", bad.body);
    let bad = a
        .post(
            "/admin/policies/tenant",
            &[
                ("csrf", &csrf),
                ("lifespan_days", "ninety"),
                ("do", "dry-run"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("whole number of days"), "{}", bad.body);
    assert_eq!(audit_count(&app).await, records + 1);
}

#[tokio::test]
async fn each_policy_refuses_in_the_web_form_in_plain_words() {
    let app = TestApp::spawn().await;
    let admin = app.user_jwt("admin", ADMIN_SCOPES);
    let (s, v) = send(
        &app,
        Method::PUT,
        "/patrol/v1/admin/policies/tenant",
        &admin,
        Some(json!({
            "restrictGlobalPats": {"enabled": true, "allow": {"users": [key("bob")]}},
            "restrictFullScopePats": {"enabled": true},
            "maxLifespan": {"enabled": true, "maxDays": 30},
        })),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = send(
        &app,
        Method::PUT,
        "/patrol/v1/admin/policies/organizations/contoso",
        &admin,
        Some(
            json!({"restrictPatCreation": true, "allowPackagingPats": true,
                    "allow": {"users": [key("bob")]}}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let mut b = Browser::new(&app);
    let csrf = b.sign_in("alice").await.csrf();
    let code = [("scope_mode", "custom"), ("scope", "vso.code")];
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("org", "__all__"), code[0], code[1]],
            "Policy “restrict global tokens”: you may not create tokens for all organizations",
        ),
        (
            vec![("scope_mode", "full")],
            "Policy “restrict full-access tokens”: you may not create full-access tokens",
        ),
        (
            vec![("expiry", "60"), code[0], code[1]],
            "Policy “maximum token lifetime” allows at most 30 days",
        ),
        (
            vec![("org", "contoso"), code[0], code[1]],
            "policy “restrict token creation” does not let you create this token",
        ),
    ];
    for (extra, words) in cases {
        let page = create(&mut b, &csrf, "refused", &extra).await;
        assert!(
            page.status == StatusCode::FORBIDDEN || page.status == StatusCode::BAD_REQUEST,
            "{extra:?}: {}",
            page.status
        );
        assert!(page.body.contains(words), "{extra:?}: {}", page.body);
        assert!(page.body.contains("id=\"token-form\""), "shown on the form");
        assert!(
            page.body.contains("value=\"refused\""),
            "what was typed is kept"
        );
    }
    // What the policies allow passes: packaging-only in contoso, and bob's global token.
    let page = create(
        &mut b,
        &csrf,
        "packages",
        &[
            ("org", "contoso"),
            ("scope_mode", "custom"),
            ("scope", "vso.packaging"),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let mut bob = Browser::new(&app);
    let csrf_b = bob.sign_in("bob").await.csrf();
    let page = create(
        &mut bob,
        &csrf_b,
        "g",
        &[("org", "__all__"), code[0], code[1]],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    // Edit: extending past the lifespan is refused with the policy's name.
    let mut alice_tokens = b.get("/tokens").await.token_ids();
    let id = alice_tokens.pop().unwrap();
    let page = b
        .post(
            &format!("/tokens/{id}/edit"),
            &[
                ("csrf", &csrf),
                ("name", "packages"),
                ("org", "contoso"),
                ("expiry", "90"),
                ("scope_mode", "custom"),
                ("scope", "vso.packaging"),
            ],
        )
        .await;
    assert!(
        page.body.contains("maximum token lifetime"),
        "{}",
        page.body
    );
}
