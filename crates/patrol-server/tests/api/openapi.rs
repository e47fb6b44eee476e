//! `/openapi.json` is generated from the routes as registered: this
//! snapshot makes every change to the published contract a visible diff.
//! After an intended change: `UPDATE_SNAPSHOTS=1 cargo test -p patrol-server openapi`.

use serde_json::Value;

use crate::support::TestApp;

const SNAPSHOT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/api/openapi.snapshot.json"
);

#[tokio::test]
async fn openapi_document_matches_the_snapshot() {
    let app = TestApp::spawn().await;
    let served: Value = app
        .client
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        let text = serde_json::to_string_pretty(&served).unwrap();
        std::fs::write(SNAPSHOT, text + "\n").unwrap();
    }
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(SNAPSHOT).unwrap()).unwrap();
    assert!(
        served == expected,
        "/openapi.json differs from {SNAPSHOT}; if intended, rerun with UPDATE_SNAPSHOTS=1"
    );
    // Every documented API path is one the server answers.
    for path in served["paths"].as_object().unwrap().keys() {
        let url = format!("{}{}", app.base, path.replace("{organization}", "fabrikam"));
        let status = app.client.get(url).send().await.unwrap().status();
        assert_ne!(status, reqwest::StatusCode::NOT_FOUND, "{path}");
    }
}
