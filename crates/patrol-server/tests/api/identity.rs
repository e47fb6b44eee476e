//! The identity Patrol hands to other services, and who may manage PATs
//! (docs/verification.md, docs/configuration.md; issue 10):
//! - the stable user id (and the issuer + subject it stands for) is what a
//!   renamed user or a changed email cannot move; the display name is for
//!   display only;
//! - an email is handed on only when the issuer vouches for it;
//! - the subject claim is the issuer's setting, with no fallback, so a
//!   custom `oid` claim on a non-Entra issuer cannot pick another user;
//! - an issuer's client allow-list refuses tokens of other applications.

use reqwest::Method;
use serde_json::{json, Value};

use patrol_auth::dev_issuer::dev_user;
use patrol_store::AuditQuery;

use crate::support::{basic, OtherIssuer, TestApp, RS_ID, RS_SECRET};

/// The verify path's identity headers for `pat` (absent ones as `None`).
async fn identity(app: &TestApp, pat: &str) -> [(&'static str, Option<String>); 5] {
    let r = app.verify(Some(&basic("git", pat)), "", None).await;
    assert_eq!(r.status(), 200);
    let h = r.headers();
    let get = |name: &str| h.get(name).map(|v| v.to_str().unwrap().to_owned());
    [
        ("id", get("x-patrol-user-id")),
        ("issuer", get("x-patrol-user-issuer")),
        ("subject", get("x-patrol-user-subject")),
        ("name", get("x-patrol-user")),
        ("email", get("x-patrol-user-email")),
    ]
}

async fn introspect(app: &TestApp, pat: &str) -> Value {
    let r = app
        .introspect(Some((RS_ID, RS_SECRET)), &[("token", pat)])
        .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Calls the PAT API with `jwt` (a list), so that its claims update the user.
async fn sign_in(app: &TestApp, jwt: &str) {
    let r = app.api_as(jwt, Method::GET, "", None).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

async fn create(app: &TestApp, jwt: &str, name: &str) -> (String, String) {
    let r = app
        .api_as(
            jwt,
            Method::POST,
            "",
            Some(json!({"displayName": name, "scope": "vso.code"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["patTokenError"], "none", "{v}");
    let token = v["patToken"]["token"].as_str().unwrap().to_owned();
    let id = v["patToken"]["authorizationId"]
        .as_str()
        .unwrap()
        .to_owned();
    (token, id)
}

async fn listed(app: &TestApp, jwt: &str) -> Vec<String> {
    let r = app.api_as(jwt, Method::GET, "", None).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["patTokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["displayName"].as_str().unwrap().to_owned())
        .collect()
}

/// A user who renames themselves and sets another person's address as an
/// unverified email at the identity provider moves nothing other services
/// authorise on: id, issuer and subject stay; the email disappears.
#[tokio::test]
async fn a_renamed_user_with_an_unverified_email_impersonates_nobody() {
    // No verify cache: each answer reads the owner as the store has it now.
    let app = TestApp::spawn_with(|c| c.verify.cache_capacity = 0).await;
    let (pat, _) = app.create_pat("vso.code", false).await;
    let alice = dev_user("alice").unwrap();
    let before = identity(&app, &pat).await;
    let id = before[0].1.clone().unwrap();
    assert!(id.parse::<uuid::Uuid>().is_ok(), "{id}");
    assert_eq!(before[1].1.as_deref(), Some("patrol-dev"));
    assert_eq!(before[2].1.as_deref(), Some(alice.oid));
    assert_eq!(before[3].1.as_deref(), Some("Alice Example"));
    // The development issuer is Entra-shaped: it vouches for its emails.
    assert_eq!(before[4].1.as_deref(), Some("alice@example.com"));

    // Alice now calls herself Bob, with Bob's address, unverified.
    let renamed = app.alice_jwt_with(json!({
        "name": "Bob Example", "email": "bob@example.com",
        "preferred_username": "bob@example.com", "email_verified": false,
    }));
    sign_in(&app, &renamed).await;
    let after = identity(&app, &pat).await;
    assert_eq!(
        after[..3],
        before[..3],
        "id, issuer and subject do not move"
    );
    assert_eq!(after[3].1.as_deref(), Some("Bob Example"), "display only");
    assert_eq!(after[4].1, None, "an unverified email is not handed on");
    let v = introspect(&app, &pat).await;
    assert_eq!(v["sub"], id.as_str());
    assert_eq!(v["username"], id.as_str(), "never a name or an email");
    assert_eq!(v["user_issuer"], "patrol-dev");
    assert_eq!(v["user_subject"], alice.oid);
    assert_eq!(v["name"], "Bob Example");
    assert!(v.get("email").is_none(), "{v}");
    let stored = app
        .store
        .get_user(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.email.as_deref(), Some("bob@example.com"));
    assert!(
        !stored.email_verified,
        "the record remembers it was not verified"
    );

    // Verified again: handed on again.
    sign_in(&app, &app.alice_jwt_with(json!({"email_verified": true}))).await;
    assert_eq!(
        identity(&app, &pat).await[4].1.as_deref(),
        Some("alice@example.com")
    );
    assert_eq!(introspect(&app, &pat).await["email"], "alice@example.com");
}

/// On an issuer that does not vouch for its emails (no `tenant_id`, no
/// `emails_verified`), only `email_verified: true` lets an email through;
/// configured as verifying, its emails count without the claim.
#[tokio::test]
async fn an_email_is_handed_on_only_when_the_issuer_vouches_for_it() {
    let plain = OtherIssuer::start().await;
    let cfg = plain.config();
    let app = TestApp::spawn_with(|c| {
        c.verify.cache_capacity = 0;
        c.auth.issuers.push(cfg);
    })
    .await;
    let unverified = plain.jwt("kc-carol", json!({"email": "carol@example.test"}));
    let (pat, _) = create(&app, &unverified, "carol").await;
    let h = identity(&app, &pat).await;
    assert_eq!(h[1].1.as_deref(), Some(plain.url.as_str()));
    assert_eq!(h[2].1.as_deref(), Some("kc-carol"));
    assert_eq!(h[4].1, None);
    assert!(introspect(&app, &pat).await.get("email").is_none());
    // A stand-in for a missing `email` is not what email_verified vouches for.
    sign_in(
        &app,
        &plain.jwt(
            "kc-carol",
            json!({"preferred_username": "carol@example.test", "email_verified": true}),
        ),
    )
    .await;
    assert_eq!(identity(&app, &pat).await[4].1, None);
    sign_in(
        &app,
        &plain.jwt(
            "kc-carol",
            json!({"email": "carol@example.test", "email_verified": true}),
        ),
    )
    .await;
    assert_eq!(
        identity(&app, &pat).await[4].1.as_deref(),
        Some("carol@example.test")
    );

    // The same issuer configured as verifying every email it issues.
    let vouching = OtherIssuer::start().await;
    let cfg = patrol_auth::IssuerConfig {
        emails_verified: Some(true),
        ..vouching.config()
    };
    let app = TestApp::spawn_with(|c| {
        c.verify.cache_capacity = 0;
        c.auth.issuers.push(cfg);
    })
    .await;
    let jwt = vouching.jwt("kc-dave", json!({"email": "dave@example.test"}));
    let (pat, _) = create(&app, &jwt, "dave").await;
    assert_eq!(
        identity(&app, &pat).await[4].1.as_deref(),
        Some("dave@example.test")
    );
    // An explicit `email_verified: false` still wins.
    sign_in(
        &app,
        &vouching.jwt(
            "kc-dave",
            json!({"email": "dave@example.test", "email_verified": false}),
        ),
    )
    .await;
    assert_eq!(identity(&app, &pat).await[4].1, None);
}

/// On a non-Entra issuer a user may be able to set custom claims (a
/// Keycloak attribute mapper, an Auth0 Action): user B's token carrying
/// `oid = <A's sub>` is still B's, and lists B's tokens, not A's.
#[tokio::test]
async fn an_oid_claim_on_a_non_entra_issuer_picks_no_other_user() {
    let idp = OtherIssuer::start().await;
    let cfg = idp.config();
    let app = TestApp::spawn_with(|c| c.auth.issuers.push(cfg)).await;
    let a = idp.jwt("kc-alice", json!({}));
    create(&app, &a, "alice's").await;
    let b_as_a = idp.jwt("kc-bob", json!({"oid": "kc-alice"}));
    assert_eq!(listed(&app, &b_as_a).await, Vec::<String>::new());
    create(&app, &b_as_a, "bob's").await;
    assert_eq!(listed(&app, &b_as_a).await, ["bob's"]);
    assert_eq!(listed(&app, &a).await, ["alice's"]);
    let (pat, _) = create(&app, &b_as_a, "bob's second").await;
    assert_eq!(
        identity(&app, &pat).await[2].1.as_deref(),
        Some("kc-bob"),
        "keyed by sub"
    );
}

/// The Entra preset keys by `oid`: existing users keep their keys whatever
/// `sub` says, and a token without `oid` is refused — never keyed by `sub`.
#[tokio::test]
async fn entra_shaped_issuers_key_by_oid_without_falling_back_to_sub() {
    let app = TestApp::spawn().await;
    let (_, id) = app.create_pat("vso.code", false).await;
    let alice = dev_user("alice").unwrap();
    // A pairwise `sub` (as Entra issues per application) with alice's oid: alice.
    let pairwise = app.alice_jwt_with(json!({"sub": "pairwise-sub-of-alice"}));
    let r = app
        .api_as(
            &pairwise,
            Method::GET,
            &format!("?authorizationId={id}"),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["patTokenError"], "none", "{v}");
    // No oid: refused, even with alice's oid as sub.
    let no_oid = app.alice_jwt_with(json!({"oid": null, "sub": alice.oid}));
    let r = app.api_as(&no_oid, Method::GET, "", None).await;
    assert_eq!(r.status(), 401);
    // Explicitly keyed by sub, the same issuer shape keys by sub.
    let idp = OtherIssuer::start().await;
    let cfg = patrol_auth::IssuerConfig {
        tenant_id: Some(patrol_auth::DEV_TENANT_ID.to_owned()),
        subject_claim: Some(patrol_auth::SubjectClaim::Sub),
        ..idp.config()
    };
    let app = TestApp::spawn_with(|c| c.auth.issuers.push(cfg)).await;
    let tid = json!({"tid": patrol_auth::DEV_TENANT_ID, "oid": "shared-oid"});
    create(&app, &idp.jwt("sub-1", tid.clone()), "one").await;
    assert_eq!(
        listed(&app, &idp.jwt("sub-2", tid)).await,
        Vec::<String>::new()
    );
}

/// An issuer's `allowed_client_ids`: a token issued to another application
/// (a consent-phished third-party app holding vso.pats_manage) is refused
/// with 403 in the Azure DevOps shape, creates nothing, and is audited —
/// sampled, like the other admission refusals.
#[tokio::test]
async fn a_foreign_client_cannot_manage_pats() {
    let idp = OtherIssuer::start().await;
    let cfg = patrol_auth::IssuerConfig {
        allowed_client_ids: Some(vec!["patrol-cli".into(), "patrol-web".into()]),
        ..idp.config()
    };
    let app = TestApp::spawn_with(|c| c.auth.issuers.push(cfg)).await;
    let body = || Some(json!({"displayName": "phished", "scope": "vso.code"}));
    let evil = idp.jwt("kc-erin", json!({"azp": "evil-app"}));
    for _ in 0..3 {
        let r = app.api_as(&evil, Method::POST, "", body()).await;
        assert_eq!(r.status(), 403);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["typeKey"], "InvalidAccessException", "{v}");
        assert_eq!(
            v["message"],
            "The application 'evil-app' is not allowed to manage personal access tokens."
        );
    }
    // Every client id the token names must be allowed; naming none is refused.
    for claims in [
        json!({"azp": "patrol-cli", "client_id": "evil-app"}),
        json!({"azp": null, "appid": "evil-app"}),
        json!({"azp": null}),
    ] {
        let jwt = idp.jwt("kc-erin", claims.clone());
        let r = app.api_as(&jwt, Method::POST, "", body()).await;
        assert_eq!(r.status(), 403, "{claims}");
    }
    // Nothing was created, and an allowed client works.
    let allowed = idp.jwt("kc-erin", json!({}));
    assert_eq!(listed(&app, &allowed).await, Vec::<String>::new());
    create(&app, &allowed, "mine").await;
    let web = idp.jwt("kc-erin", json!({"azp": "patrol-web"}));
    assert_eq!(listed(&app, &web).await, ["mine"]);
    // Audited, sampled: the three identical refusals are one record.
    let refusals: Vec<_> = app
        .store
        .list_audit(&AuditQuery {
            action: Some(patrol_core::user::AuditAction::AuthReject),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.client_id.as_deref() == Some("evil-app"))
        .collect();
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(
        refusals[0].detail.as_deref(),
        Some("client not allowed: evil-app")
    );
    assert_eq!(refusals[0].actor, format!("{}|kc-erin", idp.url));
    // Other issuers are not restricted by this issuer's list.
    assert_eq!(
        app.api_as(app.jwt(), Method::GET, "", None).await.status(),
        200
    );
}
