//! The built-in dev issuer, served over real HTTP and validated through OidcVerifier via
//! discovery + JWKS, exactly as the server does it: discovery, minting, the sign-in page,
//! key persistence. The token endpoint's grants are in [`token_endpoint`].

mod token_endpoint;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use patrol_auth::{
    classify, dev_users, AuthError, DevIssuer, OidcVerifier, PrincipalKind, DEV_AUDIENCE,
    DEV_PUBLIC_CLIENT_ID, DEV_SP_CLIENT_ID, DEV_SP_OBJECT_ID, DEV_TENANT_ID,
};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::common::{http, query_of, temp_dir, DevServer};

const SCOPE: &str = "openid profile vso.pats vso.pats_manage offline_access";
const REDIRECT: &str = "http://127.0.0.1:53682/callback";

struct Env {
    dev: DevIssuer,
    base: String,
    issuer: String,
    verifier: OidcVerifier,
    http: reqwest::Client,
}

async fn start() -> Env {
    let server = DevServer::start().await;
    Env {
        verifier: server.verifier(),
        dev: server.dev,
        base: server.base,
        issuer: server.issuer,
        http: http(),
    }
}

fn alice() -> &'static patrol_auth::DevUser {
    &dev_users()[0]
}

fn pkce_pair() -> (String, String) {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn authorize_params(challenge: &str) -> Vec<(&'static str, String)> {
    vec![
        ("response_type", "code".into()),
        ("client_id", DEV_PUBLIC_CLIENT_ID.into()),
        ("redirect_uri", REDIRECT.into()),
        ("scope", SCOPE.into()),
        ("state", "st<&\"ate>".into()),
        ("nonce", "n-0S6_WzA2Mj".into()),
        ("code_challenge", challenge.into()),
        ("code_challenge_method", "S256".into()),
    ]
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()[reqwest::header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned()
}

/// Picks `username` on the authorize page and returns the code from the redirect.
async fn sign_in(env: &Env, username: &str, challenge: &str) -> String {
    let mut form = authorize_params(challenge);
    form.push(("username", username.into()));
    let resp = env
        .http
        .post(format!("{}/authorize", env.issuer))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let loc = location(&resp);
    assert!(loc.starts_with(REDIRECT), "{loc}");
    let q = query_of(&loc);
    assert_eq!(q["state"], "st<&\"ate>");
    assert_eq!(q["iss"], env.issuer);
    q["code"].clone()
}

fn jwt_part(token: &str, idx: usize) -> Value {
    let part = token.split('.').nth(idx).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[tokio::test]
async fn discovery_and_jwks() {
    let env = start().await;
    let doc: Value = env
        .http
        .get(format!("{}/.well-known/openid-configuration", env.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], env.issuer);
    assert_eq!(doc["issuer"], format!("{}/oidc", env.base));
    assert_eq!(doc["jwks_uri"], format!("{}/jwks", env.issuer));
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{}/authorize", env.issuer)
    );
    assert_eq!(doc["token_endpoint"], format!("{}/token", env.issuer));
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    for g in ["authorization_code", "refresh_token", "client_credentials"] {
        assert!(doc["grant_types_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == g));
    }
    let jwks: Value = env
        .http
        .get(format!("{}/jwks", env.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kid"], env.dev.kid());
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS256");
    assert!(key.get("d").is_none(), "no private material");
}

#[tokio::test]
async fn minted_tokens_verify_through_discovery() {
    let env = start().await;
    let t = env
        .dev
        .mint_user_token(&env.issuer, alice(), "vso.pats vso.pats_manage", 600)
        .unwrap();
    let header = jwt_part(&t, 0);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["kid"], env.dev.kid());
    let ok = env.verifier.verify(&t).await.unwrap();
    assert_eq!(ok.subject, alice().oid);
    assert_eq!(ok.issuer, env.issuer);
    assert_eq!(ok.principal, PrincipalKind::User);
    let c = &ok.claims;
    assert_eq!(c.aud, vec![DEV_AUDIENCE]);
    assert_eq!(c.tid.as_deref(), Some(DEV_TENANT_ID));
    assert_eq!(c.scp.as_deref(), Some("vso.pats vso.pats_manage"));
    assert_eq!(c.idtyp.as_deref(), Some("user"));
    assert_eq!(c.client_id(), Some(DEV_PUBLIC_CLIENT_ID));
    assert_eq!(c.email(), Some("alice@example.com"));
    assert_eq!(c.display_name(), Some("Alice Example"));
    assert_eq!(c.extra["ver"], "2.0");
    assert!(c.extra.contains_key("jti"));
    assert!(
        env.verifier.jwks_fetch_count() >= 2,
        "went through HTTP discovery + JWKS"
    );

    let sp = env.dev.mint_sp_token(&env.issuer, 600).unwrap();
    let ok = env.verifier.verify(&sp).await.unwrap();
    assert_eq!(ok.subject, DEV_SP_OBJECT_ID);
    assert!(matches!(ok.principal, PrincipalKind::NonHuman(_)));
    assert_eq!(
        classify(&ok.claims, &DevIssuer::verifier_config(&env.issuer)),
        ok.principal
    );
    assert_eq!(ok.claims.scp, None);
    assert_eq!(ok.claims.roles, Some(vec!["Patrol.Demo".to_string()]));
    assert_eq!(ok.claims.client_id(), Some(DEV_SP_CLIENT_ID));

    let expired = env
        .dev
        .mint_user_token(&env.issuer, alice(), "vso.pats", -120)
        .unwrap();
    assert!(matches!(
        env.verifier.verify(&expired).await,
        Err(AuthError::Invalid("expired"))
    ));
    // Another dev issuer instance (another key) is not trusted under this issuer URL.
    let dir = temp_dir();
    let stranger = DevIssuer::load_or_create(&dir).unwrap();
    let _ = std::fs::remove_dir_all(dir);
    let forged = stranger
        .mint_user_token(&env.issuer, alice(), "vso.pats", 600)
        .unwrap();
    assert!(matches!(
        env.verifier.verify(&forged).await,
        Err(AuthError::Invalid(_))
    ));
}

#[tokio::test]
async fn authorize_rejections() {
    let env = start().await;
    let (_, challenge) = pkce_pair();
    let get = |params: Vec<(&'static str, String)>| {
        let http = env.http.clone();
        let url = format!("{}/authorize", env.issuer);
        async move { http.get(url).query(&params).send().await.unwrap() }
    };
    let edit = |name: &str, value: Option<&str>| {
        let mut p = authorize_params(&challenge);
        p.retain(|(k, _)| *k != name);
        if let Some(v) = value {
            p.push((leak(name), v.to_owned()));
        }
        p
    };
    // Unknown client or redirect: an error page, never a redirect.
    for p in [
        edit("client_id", Some("evil")),
        edit("redirect_uri", Some("https://evil.example/cb")),
        edit("redirect_uri", None),
    ] {
        assert_eq!(get(p).await.status(), 400);
    }
    // Other errors go back to the client.
    for (p, err) in [
        (edit("code_challenge", None), "invalid_request"),
        (
            edit("code_challenge_method", Some("plain")),
            "invalid_request",
        ),
        (edit("code_challenge_method", None), "invalid_request"),
        (
            edit("response_type", Some("token")),
            "unsupported_response_type",
        ),
    ] {
        let resp = get(p).await;
        assert_eq!(resp.status(), 302);
        assert_eq!(query_of(&location(&resp))["error"], err);
    }
    // Unknown user, cross-site post.
    let mut form = authorize_params(&challenge);
    form.push(("username", "mallory".into()));
    let url = format!("{}/authorize", env.issuer);
    assert_eq!(
        env.http
            .post(&url)
            .form(&form)
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    form.pop();
    form.push(("username", "alice".into()));
    let resp = env
        .http
        .post(&url)
        .header("origin", "https://evil.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let resp = env
        .http
        .post(&url)
        .header("origin", env.base.as_str())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

#[tokio::test]
async fn key_and_secret_persist() {
    let dir = temp_dir();
    let first = DevIssuer::load_or_create(&dir).unwrap();
    let second = DevIssuer::load_or_create(&dir).unwrap();
    assert_eq!(first.kid(), second.kid());
    assert_eq!(first.sp_secret(), second.sp_secret());
    assert!(first.sp_secret().len() >= 43);
    let pem = std::fs::read_to_string(dir.join("dev-issuer-key.pem")).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "PKCS#8");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for f in ["dev-issuer-key.pem", "dev-sp-secret"] {
            let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
    }
    assert!(
        !format!("{first:?}").contains(&first.sp_secret()),
        "Debug redacts the secret"
    );
    // A token from the first instance verifies with the second's JWKS (same key).
    let server = DevServer::serve(second).await;
    let t = first
        .mint_user_token(&server.issuer, alice(), "vso.pats", 60)
        .unwrap();
    assert!(server.verifier().verify(&t).await.is_ok());
    let _ = std::fs::remove_dir_all(dir);
}
