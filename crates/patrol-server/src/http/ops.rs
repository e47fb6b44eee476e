//! Operations: liveness, readiness, Prometheus metrics.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;

/// The process is up.
pub async fn healthz() -> Response {
    (StatusCode::OK, axum::Json(json!({"status": "ok"}))).into_response()
}

/// The store answers and signing keys of every trusted issuer are loaded.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let store_ok = state.app.ready().await.is_ok();
    if !state.verifier.has_keys() {
        state.verifier.refresh_all().await;
    }
    let keys_ok = state.verifier.has_keys();
    let status = if store_ok && keys_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(json!({"store": store_ok, "issuerKeys": keys_ok, "serverKeys": true})),
    )
        .into_response()
}

/// While the store is not set up yet (its database did not answer at
/// start-up, or migrations are pending), every request but the health,
/// readiness and metrics probes gets 503 at once, rather than waiting out the
/// pool's timeout or meeting a schema not migrated yet.
pub async fn until_set_up(
    State(set_up): State<tokio::sync::watch::Receiver<bool>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let probe = matches!(req.uri().path(), "/healthz" | "/readyz" | "/metrics");
    if probe || *set_up.borrow() {
        return next.run(req).await;
    }
    super::error::unavailable(
        "Patrol is starting: its database is not available yet; try again later.",
        5,
    )
}

/// Prometheus text format; token counts by status and notifications by
/// state are read at scrape time.
pub async fn metrics(State(state): State<AppState>) -> Response {
    if let Ok(c) = state.app.token_counts().await {
        metrics::gauge!("patrol_tokens", "status" => "active").set(c.active as f64);
        metrics::gauge!("patrol_tokens", "status" => "expired").set(c.expired as f64);
        metrics::gauge!("patrol_tokens", "status" => "revoked").set(c.revoked as f64);
    }
    // Notifications in the outbox by state (sent and failed ones since the
    // outbox began; the `_total` counters count this process's attempts).
    if let Ok(c) = state.app.outbox_counts().await {
        metrics::gauge!("patrol_notifications", "state" => "pending").set(c.pending as f64);
        metrics::gauge!("patrol_notifications", "state" => "sent").set(c.sent as f64);
        metrics::gauge!("patrol_notifications", "state" => "failed").set(c.failed as f64);
    }
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
