use base64::Engine;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};

use crate::support::{client, DevServer};

fn b64(seg: &str) -> Value {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(seg)
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

/// Verify `jwt` against the server's own JWKS, found through discovery.
fn verify_against_jwks(base: &str, jwt: &str) -> Value {
    let http = client();
    let disc: Value = http
        .get(format!("{base}/oidc/.well-known/openid-configuration"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let issuer = disc["issuer"].as_str().unwrap().to_owned();
    let jwks: Value = http
        .get(disc["jwks_uri"].as_str().unwrap())
        .send()
        .unwrap()
        .json()
        .unwrap();
    let header = decode_header(jwt).unwrap();
    let kid = header.kid.clone().unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("kid in JWKS");
    let key =
        DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap())
            .unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.set_issuer(&[issuer]);
    v.set_audience(&["499b84ac-1321-427f-aa17-267ca6975798"]);
    decode::<Value>(jwt, &key, &v)
        .expect("signature and claims verify")
        .claims
}

#[test]
fn dev_server_issues_tokens_that_verify_against_its_jwks() {
    let dir = tempfile::tempdir().unwrap();
    let srv = DevServer::start(dir.path(), &[]);
    let http = client();
    assert_eq!(
        http.get(format!("{}/healthz", srv.base))
            .send()
            .unwrap()
            .status(),
        200
    );

    let jwt = srv.token(&["--user", "alice"]);
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header = b64(parts[0]);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "at+jwt");
    let claims = verify_against_jwks(&srv.base, &jwt);
    assert_eq!(claims["iss"], format!("{}/oidc", srv.base));
    for c in ["sub", "oid", "tid", "name", "preferred_username", "email"] {
        assert!(
            claims[c].as_str().is_some_and(|s| !s.is_empty()),
            "claim {c} missing: {claims}"
        );
    }
    assert_eq!(claims["scp"], "vso.pats vso.pats_manage");
    assert_eq!(claims["idtyp"], "user");
    assert!(claims["email"].as_str().unwrap().starts_with("alice"));

    let narrow = verify_against_jwks(
        &srv.base,
        &srv.token(&["--user", "bob", "--scope", "vso.pats"]),
    );
    assert_eq!(narrow["scp"], "vso.pats");
    assert_ne!(narrow["oid"], claims["oid"]);

    let sp = verify_against_jwks(&srv.base, &srv.token(&["--service-principal"]));
    assert_eq!(sp["idtyp"], "app");
    assert!(sp.get("scp").is_none() || sp["scp"].is_null());

    // readiness and metrics
    assert_eq!(
        http.get(format!("{}/readyz", srv.base))
            .send()
            .unwrap()
            .status(),
        200
    );
    let metrics = http
        .get(format!("{}/metrics", srv.base))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(metrics.contains("patrol_http_requests_total"), "{metrics}");
    assert!(
        metrics.contains("patrol_tokens{status=\"active\"}"),
        "{metrics}"
    );
}

#[test]
fn the_api_works_with_a_dev_token_and_refuses_a_service_principal() {
    let dir = tempfile::tempdir().unwrap();
    let srv = DevServer::start(dir.path(), &[]);
    let http = client();
    let url = format!(
        "{}/fabrikam/_apis/tokens/pats?api-version=7.1-preview.1",
        srv.base
    );
    let alice = srv.token(&["--user", "alice"]);
    let created: Value = http
        .post(&url)
        .bearer_auth(&alice)
        .json(&json!({"displayName": "ci", "scope": "vso.code", "allOrgs": false}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(created["patTokenError"], "none");
    let secret = created["patToken"]["token"].as_str().unwrap();
    assert_eq!(secret.len(), 84);
    assert_eq!(&secret[76..80], "AZDO");

    let sp = srv.token(&["--service-principal"]);
    let resp = http
        .post(&url)
        .bearer_auth(&sp)
        .json(&json!({"displayName": "x"}))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 403);
    let body: Value = resp.json().unwrap();
    assert_eq!(
        body["message"],
        "Service principals are not allowed to perform this action."
    );

    // A PAT is never accepted by the management API.
    let resp = http.get(&url).basic_auth("", Some(secret)).send().unwrap();
    assert_eq!(resp.status(), 401);
    let www = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        www.contains("invalid_token") && www.contains("OIDC access token required"),
        "{www}"
    );
}

#[test]
fn data_directory_is_reused_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let http = client();
    let (kid, id) = {
        let srv = DevServer::start(dir.path(), &[]);
        let jwt = srv.token(&["--user", "alice"]);
        let url = format!(
            "{}/contoso/_apis/tokens/pats?api-version=7.1-preview.1",
            srv.base
        );
        let created: Value = http
            .post(&url)
            .bearer_auth(&jwt)
            .json(&json!({"displayName": "keep me"}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        (
            decode_header(&jwt).unwrap().kid.unwrap(),
            created["patToken"]["authorizationId"]
                .as_str()
                .unwrap()
                .to_owned(),
        )
    };
    let srv = DevServer::start(dir.path(), &[]);
    let jwt = srv.token(&["--user", "alice"]);
    assert_eq!(
        decode_header(&jwt).unwrap().kid.unwrap(),
        kid,
        "same signing key"
    );
    let url = format!(
        "{}/contoso/_apis/tokens/pats?api-version=7.1-preview.1&authorizationId={id}",
        srv.base
    );
    let got: Value = http
        .get(&url)
        .bearer_auth(&jwt)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(got["patToken"]["displayName"], "keep me");
}

#[test]
fn dev_token_without_a_running_server_is_a_clean_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(crate::support::bin())
        .args(["dev", "token", "--user", "alice", "--data-dir"])
        .arg(dir.path())
        .env_remove("PATROL_DATA_DIR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("patrol dev"), "{err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn serve_without_a_server_key_is_a_clean_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("p.toml");
    std::fs::write(&cfg, "[database]\nsqlite_path = \"x.db\"\n").unwrap();
    let out = std::process::Command::new(crate::support::bin())
        .args(["serve", "--config"])
        .arg(&cfg)
        .env_remove("PATROL_SERVER_KEY")
        .env_remove("PATROL_SERVER_KEY_FILE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no server key"), "{err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn openapi_and_embedded_docs_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let srv = DevServer::start(dir.path(), &[]);
    let http = client();
    let spec: Value = http
        .get(format!("{}/openapi.json", srv.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    let paths = spec["paths"].as_object().unwrap();
    assert!(paths.contains_key("/{organization}/_apis/tokens/pats"));
    assert!(paths.contains_key("/{organization}/_apis/tokens/pats/regenerate"));
    let pats = &paths["/{organization}/_apis/tokens/pats"];
    for m in ["get", "post", "put", "delete"] {
        assert!(pats.get(m).is_some(), "{m} documented");
    }
    let page = http.get(format!("{}/docs/", srv.base)).send().unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().unwrap();
    assert!(html.contains("swagger"), "docs page: {html}");
    // The UI's script is served by Patrol itself, not a CDN.
    assert!(!html.contains("cdn.") && !html.contains("unpkg"), "{html}");
    let js = http
        .get(format!("{}/docs/swagger-ui-bundle.js", srv.base))
        .send()
        .unwrap();
    assert_eq!(js.status(), 200);
    assert!(js.bytes().unwrap().len() > 100_000);
}
