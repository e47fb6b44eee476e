//! No PAT, JWT or Authorization value may appear in any log line, at any level.

use serde_json::{json, Value};

use crate::support::{client, DevServer};

#[test]
fn trace_logs_never_contain_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let mut srv = DevServer::start(
        dir.path(),
        &[("RUST_LOG", "trace"), ("PATROL_SERVER__LOG_FORMAT", "json")],
    );
    let http = client();
    let jwt = srv.token(&["--user", "alice"]);
    let url = format!(
        "{}/fabrikam/_apis/tokens/pats?api-version=7.1-preview.1",
        srv.base
    );
    let created: Value = http
        .post(&url)
        .bearer_auth(&jwt)
        .json(&json!({"displayName": "log test"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let secret = created["patToken"]["token"].as_str().unwrap().to_owned();
    let id = created["patToken"]["authorizationId"]
        .as_str()
        .unwrap()
        .to_owned();
    // Use the PAT where it is refused, regenerate, list, revoke.
    let _ = http
        .get(&url)
        .basic_auth("me", Some(&secret))
        .send()
        .unwrap();
    let regen: Value = http
        .post(format!("{}/fabrikam/_apis/tokens/pats/regenerate?api-version=7.1-preview.1&authorizationId={id}", srv.base))
        .bearer_auth(&jwt)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let secret2 = regen["patToken"]["token"].as_str().unwrap().to_owned();
    let _ = http.get(&url).bearer_auth(&jwt).send().unwrap();
    let _ = http
        .get(&url)
        .bearer_auth("garbage.jwt.value")
        .send()
        .unwrap();
    srv.stop();
    let logs = srv.stderr();
    assert!(logs.len() > 1000, "trace logging produced output");
    assert!(
        logs.lines()
            .filter(|l| !l.is_empty())
            .all(|l| l.starts_with('{')),
        "PATROL_SERVER__LOG_FORMAT=json made every line JSON"
    );
    for needle in [
        secret.as_str(),
        secret2.as_str(),
        jwt.as_str(),
        &jwt[jwt.len() - 40..],
        &secret[..52],
    ] {
        assert!(!logs.contains(needle), "a secret reached the logs");
    }
    // The JWT's signature segment alone must not appear either.
    let sig = jwt.rsplit('.').next().unwrap();
    assert!(!logs.contains(sig));
}
