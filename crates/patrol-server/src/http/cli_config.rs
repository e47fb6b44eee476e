//! `GET /patrol/v1/cli-config`: where the `patrol` command line signs in
//! (issuer, public client id, scopes, resource). Unauthenticated, like an
//! OIDC discovery document: `patrol login --server URL` reads it first.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::AppState;
use crate::config::CliLogin;

/// `/patrol/v1/cli-config`.
pub fn router(state: &AppState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(cli_config))
        .with_state(state.cli.clone())
}

/// How `patrol login` signs in to this server.
#[utoipa::path(
    get,
    path = "/patrol/v1/cli-config",
    tag = "cli",
    responses(
        (status = 200, description = "The issuer, public client and scopes the command line signs in with", body = CliLogin),
        (status = 404, description = "This server offers no command-line sign-in ([cli] is not enabled)")
    )
)]
pub async fn cli_config(State(cli): State<Option<Arc<CliLogin>>>) -> Response {
    match cli {
        Some(login) => axum::Json(login.as_ref().clone()).into_response(),
        None => ApiError::NotFound {
            type_key: "NotFoundException",
            message:
                "This server offers no command-line sign-in: its [cli] section is not enabled."
                    .into(),
        }
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_document_or_a_404_in_the_ado_shape() {
        let login = CliLogin {
            issuer: "https://idp.test".into(),
            discovery_url: None,
            client_id: "patrol-cli".into(),
            scopes: "openid offline_access vso.pats_manage".into(),
            resource: Some("api://patrol".into()),
        };
        let resp = cli_config(State(Some(Arc::new(login.clone())))).await;
        assert_eq!(resp.status(), 200);
        let body = axum::body::to_bytes(resp.into_body(), 4096).await.unwrap();
        let back: CliLogin = serde_json::from_slice(&body).unwrap();
        assert_eq!(back, login);

        let resp = cli_config(State(None)).await;
        assert_eq!(resp.status(), 404);
        let body = axum::body::to_bytes(resp.into_body(), 4096).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["typeKey"], "NotFoundException");
        assert!(v["message"].as_str().unwrap().contains("[cli]"));
    }
}
