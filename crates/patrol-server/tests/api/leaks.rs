//! Leak-report intake end to end (docs/leaks.md): GitHub's signed reports,
//! GitLab's shared-token revocation, the admin endpoint of `patrol scan
//! --report` — revocation seen by the very next verify, the audit trail,
//! the policy switch, idempotence, and answers that never tell whether a
//! token exists.

use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use patrol_core::user::{AuditAction, AuditEvent, Outcome};
use patrol_server::config::{Config, GitHubKeyEntry, SecretSource};

use crate::admin::{audit_of, send, ADMIN_SCOPES, USER_SCOPES};
use crate::notifications::of_kind;
use crate::support::{flipped, unknown_token, TestApp};

const KEY_ID: &str = "test-key-1";
const GITLAB_TOKEN: &str = "gitlab-shared-secret-0123456789";

struct GitHub {
    key: SigningKey,
}

impl GitHub {
    fn new() -> Self {
        Self {
            key: SigningKey::random(&mut rand::rngs::OsRng),
        }
    }

    fn configure(&self, c: &mut Config) {
        c.leaks.github.public_keys = vec![GitHubKeyEntry {
            key_identifier: KEY_ID.into(),
            key: self
                .key
                .verifying_key()
                .to_public_key_pem(LineEnding::LF)
                .unwrap(),
        }];
    }

    fn sign(&self, body: &[u8]) -> String {
        let sig: Signature = self.key.sign(body);
        base64::engine::general_purpose::STANDARD.encode(sig.to_der().as_bytes())
    }

    /// POST the matches, signed (or with `signature` instead).
    async fn report(
        &self,
        app: &TestApp,
        matches: &Value,
        signature: Option<&str>,
    ) -> (StatusCode, Value) {
        let body = serde_json::to_vec(matches).unwrap();
        let sig = signature.map_or_else(|| self.sign(&body), str::to_owned);
        let resp = app
            .client
            .post(format!("{}/patrol/v1/leaks/github", app.base))
            .header("content-type", "application/json")
            .header("Github-Public-Key-Identifier", KEY_ID)
            .header("Github-Public-Key-Signature", sig)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

fn one(token: &str, url: &str) -> Value {
    json!([{"token": token, "type": "patrol_pat", "url": url, "source": "content"}])
}

async fn events_for(app: &TestApp, action: AuditAction, id: Uuid) -> Vec<AuditEvent> {
    audit_of(app, action)
        .await
        .into_iter()
        .filter(|e| e.target_pat == Some(id))
        .collect()
}

async fn set_auto_revoke(app: &TestApp, on: bool) {
    let (s, v) = send(
        app,
        Method::PUT,
        "/patrol/v1/admin/policies/tenant",
        &app.user_jwt("admin", ADMIN_SCOPES),
        Some(json!({"revokeLeakedPats": on})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn a_signed_github_report_revokes_and_the_very_next_verify_fails() {
    let gh = GitHub::new();
    let app = TestApp::spawn_with(|c| gh.configure(c)).await;
    let (secret, id) = app.create_pat("vso.code", false).await;
    // Cached as good first: the revocation must drop the cache entry.
    assert_eq!(app.verify_status(&secret, "").await, 200);
    let url = "https://github.com/octo/repo/blob/abc/config.yml?plain=1";
    let (s, v) = gh.report(&app, &one(&secret, url), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!([{"token_raw": secret, "token_type": "patrol_pat", "label": "true_positive"}])
    );
    assert_eq!(app.verify_status(&secret, "").await, 401);
    let stored = app.store.get_pat(id).await.unwrap().unwrap();
    assert!(stored.revoked_at.is_some());

    let leaked = events_for(&app, AuditAction::PatLeaked, id).await;
    assert_eq!(leaked.len(), 1);
    let detail = leaked[0].detail.clone().unwrap();
    assert_eq!(
        detail,
        "reported by github at https://github.com/octo/repo/blob/abc/config.yml (content)"
    );
    assert_eq!(leaked[0].actor, "leak-detection|github");
    let revoked = events_for(&app, AuditAction::PatRevoke, id).await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].actor, "leak-detection|github");
    assert_eq!(revoked[0].outcome, Outcome::Success);
    // The secret is in no audit record.
    let all = audit_of(&app, AuditAction::PatLeaked).await;
    assert!(all
        .iter()
        .chain(revoked.iter())
        .all(|e| !format!("{e:?}").contains(&secret)));
    // The owner is told where it was found and that it was revoked; neither
    // email carries the secret.
    app.jobs.tick().await.unwrap();
    let leaked = of_kind(&app.mail_dir(), "leaked");
    assert_eq!(leaked.len(), 1);
    assert!(
        leaked[0].contains("https://github.com/octo/repo/blob/abc/config.yml"),
        "{}",
        leaked[0]
    );
    let revoked = of_kind(&app.mail_dir(), "revoked");
    assert_eq!(revoked.len(), 1);
    assert!(revoked[0].contains("leaked"), "{}", revoked[0]);
    assert!(leaked.iter().chain(&revoked).all(|m| !m.contains(&secret)));
}

#[tokio::test]
async fn a_bad_or_missing_signature_is_refused_and_changes_nothing() {
    let gh = GitHub::new();
    let app = TestApp::spawn_with(|c| gh.configure(c)).await;
    let (secret, id) = app.create_pat("vso.code", false).await;
    let other = GitHub::new();
    let matches = one(&secret, "https://example.test/x");
    let forged = other.sign(&serde_json::to_vec(&matches).unwrap());
    for sig in [forged.as_str(), "", "bm90IGEgc2lnbmF0dXJl"] {
        let (s, _) = gh.report(&app, &matches, Some(sig)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    // A signature over other bytes (re-serialized body) fails too.
    let sig_of_other_bytes = gh.sign(format!("{matches} ").as_bytes());
    let (s, _) = gh.report(&app, &matches, Some(&sig_of_other_bytes)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let no_headers = app
        .client
        .post(format!("{}/patrol/v1/leaks/github", app.base))
        .json(&matches)
        .send()
        .await
        .unwrap();
    assert_eq!(no_headers.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(app.verify_status(&secret, "").await, 200);
    assert!(events_for(&app, AuditAction::PatLeaked, id)
        .await
        .is_empty());
    let rejects = audit_of(&app, AuditAction::AuthReject).await;
    assert!(
        rejects
            .iter()
            .any(|e| e.actor == "leak-detection|github" && e.outcome == Outcome::Failure),
        "{rejects:?}"
    );
}

#[tokio::test]
async fn with_auto_revoke_off_the_leak_is_audited_and_the_token_keeps_working() {
    let gh = GitHub::new();
    let app = TestApp::spawn_with(|c| gh.configure(c)).await;
    set_auto_revoke(&app, false).await;
    let (secret, id) = app.create_pat("vso.code", false).await;
    let (s, v) = gh
        .report(&app, &one(&secret, "https://x.test/a"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v[0]["label"], "true_positive");
    assert_eq!(app.verify_status(&secret, "").await, 200);
    assert_eq!(events_for(&app, AuditAction::PatLeaked, id).await.len(), 1);
    assert!(events_for(&app, AuditAction::PatRevoke, id)
        .await
        .is_empty());
    app.jobs.tick().await.unwrap();
    assert_eq!(of_kind(&app.mail_dir(), "leaked").len(), 1);
    assert!(of_kind(&app.mail_dir(), "revoked").is_empty());
    // Switched on later: the next report revokes (once).
    set_auto_revoke(&app, true).await;
    gh.report(&app, &one(&secret, "https://x.test/a"), None)
        .await;
    assert_eq!(app.verify_status(&secret, "").await, 401);
    assert_eq!(events_for(&app, AuditAction::PatRevoke, id).await.len(), 1);
}

#[tokio::test]
async fn repeated_reports_are_idempotent() {
    let gh = GitHub::new();
    let app = TestApp::spawn_with(|c| gh.configure(c)).await;
    let (secret, id) = app.create_pat("vso.code", false).await;
    let twice = json!([
        {"token": secret, "type": "t", "url": "https://x.test/a", "source": "commit"},
        {"token": secret, "type": "t", "url": "https://x.test/a", "source": "commit"},
    ]);
    let (s, first) = gh.report(&app, &twice, None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, again) = gh.report(&app, &twice, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(first, again);
    assert_eq!(events_for(&app, AuditAction::PatRevoke, id).await.len(), 1);
    assert_eq!(events_for(&app, AuditAction::PatLeaked, id).await.len(), 1);
    // A new place is news for the owner: one more leak record, no revocation.
    gh.report(&app, &one(&secret, "https://x.test/b"), None)
        .await;
    assert_eq!(events_for(&app, AuditAction::PatLeaked, id).await.len(), 2);
    assert_eq!(events_for(&app, AuditAction::PatRevoke, id).await.len(), 1);
    // One leak email per place, one revocation email.
    app.jobs.tick().await.unwrap();
    assert_eq!(of_kind(&app.mail_dir(), "leaked").len(), 2);
    assert_eq!(of_kind(&app.mail_dir(), "revoked").len(), 1);
}

#[tokio::test]
async fn unknown_and_invalid_tokens_are_acknowledged_like_known_ones() {
    let gh = GitHub::new();
    let app = TestApp::spawn_with(|c| gh.configure(c)).await;
    let (secret, _) = app.create_pat("vso.code", false).await;
    let unknown = unknown_token();
    let label = |v: &Value| v[0]["label"].clone();
    let (s1, known) = gh.report(&app, &one(&secret, "u"), None).await;
    let (s2, not_known) = gh.report(&app, &one(&unknown, "u"), None).await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(label(&known), label(&not_known));
    assert_eq!(not_known[0]["token_raw"], unknown.as_str());
    for bad in [flipped(&unknown), "ghp_notours".to_owned(), String::new()] {
        let (s, v) = gh.report(&app, &one(&bad, ""), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(label(&v), "false_positive");
    }
    // Not an array: 400, nothing else said.
    let (s, _) = gh.report(&app, &json!({"token": secret}), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // The admin endpoint answers the same for a known and an unknown token.
    let jwt = app.user_jwt("admin", ADMIN_SCOPES);
    let post = |token: String| {
        let jwt = jwt.clone();
        let app = &app;
        async move {
            send(
                app,
                Method::POST,
                "/patrol/v1/admin/leaks",
                &jwt,
                Some(json!({"hits": [{"file": "a.txt", "line": 3, "token": token}]})),
            )
            .await
        }
    };
    let (_, a) = post(unknown_token()).await;
    let (_, b) = post(app.create_pat("vso.code", false).await.0).await;
    assert_eq!(a, b);
    assert_eq!(a, json!({"received": 1, "wellFormed": 1}));
}

#[tokio::test]
async fn intakes_are_off_until_configured() {
    let app = TestApp::spawn().await;
    let (secret, _) = app.create_pat("vso.code", false).await;
    let (s, _) = GitHub::new().report(&app, &one(&secret, ""), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let report = json!([{"type": "t", "token": secret, "location": ""}]);
    let (s, _) = gitlab(&app, Method::POST, "revoke_tokens", Some(""), Some(report)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(app.verify_status(&secret, "").await, 200);
}

async fn gitlab(
    app: &TestApp,
    method: Method,
    path: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, String) {
    let mut req = app.client.request(
        method,
        format!("{}/patrol/v1/leaks/gitlab/v1/{path}", app.base),
    );
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

#[tokio::test]
async fn the_gitlab_endpoint_takes_its_shape_and_its_shared_token() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gitlab-token");
    std::fs::write(&file, format!("{GITLAB_TOKEN}\n")).unwrap();
    let app = TestApp::spawn_with(|c| c.leaks.gitlab.token = Some(SecretSource::File(file))).await;
    let (secret, id) = app.create_pat("vso.code", false).await;

    let (s, body) = gitlab(
        &app,
        Method::GET,
        "revocable_token_types",
        Some(GITLAB_TOKEN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"types": ["gitleaks_rule_id_patrol_personal_access_token"]})
    );
    let report = json!([{"type": "gitleaks_rule_id_patrol_personal_access_token", "token": secret,
        "location": "https://gitlab.example/g/p/-/blob/abc/ci.yml"}]);
    for auth in [
        None,
        Some("wrong-token-wrong-token-wrong"),
        Some("Bearer nope"),
    ] {
        let (s, _) = gitlab(
            &app,
            Method::POST,
            "revoke_tokens",
            auth,
            Some(report.clone()),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.verify_status(&secret, "").await, 200);

    let (s, body) = gitlab(
        &app,
        Method::POST,
        "revoke_tokens",
        Some(GITLAB_TOKEN),
        Some(report.clone()),
    )
    .await;
    assert_eq!((s, body.as_str()), (StatusCode::NO_CONTENT, ""));
    assert_eq!(app.verify_status(&secret, "").await, 401);
    let leaked = events_for(&app, AuditAction::PatLeaked, id).await;
    assert_eq!(leaked.len(), 1);
    assert_eq!(leaked[0].actor, "leak-detection|gitlab");
    // Idempotent, also as `Bearer`; unknown and malformed tokens likewise 204.
    let bearer = format!("Bearer {GITLAB_TOKEN}");
    let (s, _) = gitlab(
        &app,
        Method::POST,
        "revoke_tokens",
        Some(&bearer),
        Some(report),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(events_for(&app, AuditAction::PatRevoke, id).await.len(), 1);
    let others = json!([{"type": "x", "token": unknown_token(), "location": ""},
        {"type": "x", "token": "glpat-nothing", "location": ""}]);
    let (s, _) = gitlab(
        &app,
        Method::POST,
        "revoke_tokens",
        Some(GITLAB_TOKEN),
        Some(others),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // Invalid: 400 (GitLab does not retry).
    let (s, _) = gitlab(
        &app,
        Method::POST,
        "revoke_tokens",
        Some(GITLAB_TOKEN),
        Some(json!({"token": 1})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_admin_endpoint_is_for_tenant_administrators() {
    let app = TestApp::spawn().await;
    let (secret, id) = app.create_pat("vso.code", false).await;
    let body = json!({"hits": [{"file": "src/app.env", "line": 7, "token": secret}]});
    for jwt in [
        app.user_jwt("alice", USER_SCOPES),
        app.user_jwt("alice", ADMIN_SCOPES),
    ] {
        let (s, v) = send(
            &app,
            Method::POST,
            "/patrol/v1/admin/leaks",
            &jwt,
            Some(body.clone()),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    }
    assert_eq!(app.verify_status(&secret, "").await, 200);
    let admin = app.user_jwt("admin", ADMIN_SCOPES);
    let (s, v) = send(
        &app,
        Method::POST,
        "/patrol/v1/admin/leaks",
        &admin,
        Some(body),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(app.verify_status(&secret, "").await, 401);
    let leaked = events_for(&app, AuditAction::PatLeaked, id).await;
    assert_eq!(
        leaked[0].detail.as_deref(),
        Some("reported by an administrator's scan at src/app.env:7 (scan)")
    );
    assert!(leaked[0].actor_user.is_some());
}
