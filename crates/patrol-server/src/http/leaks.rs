//! Leak-report intake (docs/leaks.md): GitHub's secret-scanning partner
//! endpoint, GitLab's token-revocation endpoint, and the admin endpoint
//! `patrol scan --report` posts to. Handlers check the caller, read the
//! wire shape and answer it; `App::report_leaks` does the rest.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Administrator;
use super::error::ApiError;
use super::tokenadmin::json;
use super::AppState;
use crate::app::{LeakReport, LeakVerdict, Reporter, MAX_LEAK_REPORTS};

/// The routes, documented.
pub fn router(state: &AppState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(github))
        .routes(routes!(gitlab_types))
        .routes(routes!(gitlab_revoke))
        .routes(routes!(admin_report))
        .with_state(state.clone())
}

/// The token type GitLab is told this endpoint revokes.
pub const GITLAB_TOKEN_TYPE: &str = "gitleaks_rule_id_patrol_personal_access_token";

/// One match in a GitHub secret-scanning report.
#[derive(Debug, Deserialize, ToSchema)]
pub struct GitHubMatch {
    pub token: String,
    #[serde(rename = "type", default)]
    pub token_type: String,
    /// Where it was found; may be empty.
    #[serde(default)]
    pub url: String,
    /// `content`, `commit`, `issue_comment`, … (`unknown`).
    #[serde(default)]
    pub source: String,
}

/// GitHub's partner feedback: one per match, in order.
#[derive(Debug, Serialize, ToSchema)]
pub struct GitHubLabel {
    pub token_raw: String,
    pub token_type: String,
    /// `true_positive` for a well-formed token of this server (whether or
    /// not a PAT has it), `false_positive` otherwise.
    pub label: &'static str,
}

/// One token in a GitLab revocation request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct GitLabToken {
    pub token: String,
    #[serde(rename = "type", default)]
    pub token_type: String,
    #[serde(default)]
    pub location: String,
}

/// `GET …/gitlab/revocable_token_types`.
#[derive(Debug, Serialize, ToSchema)]
pub struct GitLabTypes {
    pub types: Vec<&'static str>,
}

/// One hit of `patrol scan --report`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanHit {
    /// The file (or `commit:path` in a history scan) it was found in.
    pub file: String,
    pub line: u64,
    pub token: String,
}

/// `POST /patrol/v1/admin/leaks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanReport {
    pub hits: Vec<ScanHit>,
}

/// The admin endpoint's answer: how many hits were well-formed tokens of
/// this server (known or not: the answer is the same).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanReportResult {
    pub received: usize,
    pub well_formed: usize,
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<Vec<T>, ApiError> {
    let items: Vec<T> = serde_json::from_slice(body)
        .map_err(|_| ApiError::bad_request("The body must be a JSON array of reports."))?;
    too_many(items.len())?;
    Ok(items)
}

fn too_many(n: usize) -> Result<(), ApiError> {
    if n > MAX_LEAK_REPORTS {
        return Err(ApiError::bad_request(format!(
            "At most {MAX_LEAK_REPORTS} tokens per report."
        )));
    }
    Ok(())
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn refused(message: &str) -> Response {
    json(
        StatusCode::UNAUTHORIZED,
        &serde_json::json!({ "message": message }),
    )
}

/// An intake that is not configured refuses every report as unauthenticated
/// (401, not audited: there is nothing a caller could have got right).
fn not_configured(section: &str) -> Response {
    refused(&format!(
        "This server takes no such reports ([{section}] is not configured)."
    ))
}

/// GitHub secret scanning (partner program): the body is verified against
/// the configured keys before it is read.
#[utoipa::path(
    post,
    path = "/patrol/v1/leaks/github",
    tag = "leaks",
    request_body = Vec<GitHubMatch>,
    params(
        ("Github-Public-Key-Identifier" = String, Header, description = "Which configured key signed the body"),
        ("Github-Public-Key-Signature" = String, Header, description = "Base64 DER ECDSA P-256 SHA-256 signature of the raw body"),
    ),
    responses(
        (status = 200, description = "Acknowledged; one label per match", body = Vec<GitHubLabel>),
        (status = 400, description = "Not a JSON array of matches, or too many"),
        (status = 401, description = "Missing or invalid signature, or no GitHub keys configured"),
                (status = 413, description = "Body over server.max_body_bytes"),
        (status = 429, description = "Too many refused requests from this address"),
    )
)]
pub async fn github(
    State(state): State<AppState>,
    parts: axum::http::request::Parts,
    body: Bytes,
) -> Result<Response, ApiError> {
    if state.leaks.github_keys.is_empty() {
        return Ok(not_configured("leaks.github"));
    }
    let ctx = state.request_ctx(&parts);
    state
        .app
        .check_auth_limit(&ctx)
        .map_err(ApiError::TooManyRequests)?;
    let h = &parts.headers;
    let signed = match (
        header_str(h, "github-public-key-identifier"),
        header_str(h, "github-public-key-signature"),
    ) {
        (Some(id), Some(sig)) => state.leaks.github_signed(id, sig, &body),
        _ => false,
    };
    if !signed {
        state
            .app
            .refuse_leak_report(
                "github",
                &ctx,
                "a leak report with a missing or invalid signature",
            )
            .await;
        return Ok(refused("The report's signature is missing or invalid."));
    }
    let matches: Vec<GitHubMatch> = parse(&body)?;
    let reports: Vec<LeakReport> = matches
        .iter()
        .map(|m| LeakReport {
            token: m.token.clone(),
            url: m.url.clone(),
            source: m.source.clone(),
        })
        .collect();
    let outcome = state.app.report_leaks(&reports, &Reporter::GitHub).await?;
    let labels: Vec<GitHubLabel> = matches
        .into_iter()
        .zip(outcome.verdicts)
        .map(|(m, v)| GitHubLabel {
            token_raw: m.token,
            token_type: m.token_type,
            label: match v {
                LeakVerdict::Ours => "true_positive",
                LeakVerdict::NotOurs => "false_positive",
            },
        })
        .collect();
    Ok(json(StatusCode::OK, &labels))
}

/// The pre-shared token, as `Authorization: <token>` or `Bearer <token>`,
/// compared in constant time.
fn gitlab_authorized(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(expected) = &state.leaks.gitlab_token else {
        return false;
    };
    let expected = secrecy::ExposeSecret::expose_secret(expected).as_bytes();
    let Some(given) = header_str(headers, header::AUTHORIZATION.as_str()) else {
        return false;
    };
    let given = given.strip_prefix("Bearer ").unwrap_or(given).trim();
    given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected))
}

async fn gitlab_door(
    state: &AppState,
    parts: &axum::http::request::Parts,
) -> Result<Option<Response>, ApiError> {
    if state.leaks.gitlab_token.is_none() {
        return Ok(Some(not_configured("leaks.gitlab")));
    }
    let ctx = state.request_ctx(parts);
    state
        .app
        .check_auth_limit(&ctx)
        .map_err(ApiError::TooManyRequests)?;
    if gitlab_authorized(state, &parts.headers) {
        return Ok(None);
    }
    state
        .app
        .refuse_leak_report("gitlab", &ctx, "a leak report without the shared token")
        .await;
    Ok(Some(refused("The shared token is missing or wrong.")))
}

/// GitLab token revocation: which token types this endpoint takes.
#[utoipa::path(
    get,
    path = "/patrol/v1/leaks/gitlab/v1/revocable_token_types",
    tag = "leaks",
    responses(
        (status = 200, description = "The token types", body = GitLabTypes),
        (status = 401, description = "Missing or wrong shared token, or none configured"),
    )
)]
pub async fn gitlab_types(
    State(state): State<AppState>,
    parts: axum::http::request::Parts,
) -> Result<Response, ApiError> {
    if let Some(refused) = gitlab_door(&state, &parts).await? {
        return Ok(refused);
    }
    Ok(json(
        StatusCode::OK,
        &GitLabTypes {
            types: vec![GITLAB_TOKEN_TYPE],
        },
    ))
}

/// GitLab token revocation: revoke the listed tokens (idempotent).
#[utoipa::path(
    post,
    path = "/patrol/v1/leaks/gitlab/v1/revoke_tokens",
    tag = "leaks",
    request_body = Vec<GitLabToken>,
    responses(
        (status = 204, description = "Accepted (known or not, well-formed or not)"),
        (status = 400, description = "Not a JSON array of tokens, or too many: do not retry"),
        (status = 401, description = "Missing or wrong shared token, or none configured"),
        (status = 429, description = "Too many refused requests: retry later"),
    )
)]
pub async fn gitlab_revoke(
    State(state): State<AppState>,
    parts: axum::http::request::Parts,
    body: Bytes,
) -> Result<Response, ApiError> {
    if let Some(refused) = gitlab_door(&state, &parts).await? {
        return Ok(refused);
    }
    let tokens: Vec<GitLabToken> = parse(&body)?;
    let reports: Vec<LeakReport> = tokens
        .into_iter()
        .map(|t| LeakReport {
            token: t.token,
            url: t.location,
            source: "gitlab".into(),
        })
        .collect();
    state.app.report_leaks(&reports, &Reporter::GitLab).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `patrol scan --report`: a tenant administrator reports the hits of a scan.
#[utoipa::path(
    post,
    path = "/patrol/v1/admin/leaks",
    tag = "admin",
    request_body = ScanReport,
    responses(
        (status = 200, description = "Acknowledged (the same whether the tokens exist or not)", body = ScanReportResult),
        (status = 400, description = "Not a report, or too many hits"),
        (status = 403, description = "Not a tenant administrator"),
    ),
    security(("bearer" = []))
)]
pub async fn admin_report(
    State(state): State<AppState>,
    Administrator(caller): Administrator,
    body: super::ado::RawBody,
) -> Result<Response, ApiError> {
    // The project's one JSON body reader: ADO-shaped 400s, 413 past the limit.
    let report: ScanReport = super::tokenadmin::read_json(body)?;
    too_many(report.hits.len())?;
    let reports: Vec<LeakReport> = report
        .hits
        .iter()
        .map(|h| LeakReport {
            token: h.token.clone(),
            url: format!("{}:{}", h.file, h.line),
            source: "scan".into(),
        })
        .collect();
    let outcome = state.app.report_leaks_as_admin(&caller, &reports).await?;
    let body = ScanReportResult {
        received: reports.len(),
        well_formed: outcome
            .verdicts
            .iter()
            .filter(|v| **v == LeakVerdict::Ours)
            .count(),
    };
    Ok(json(StatusCode::OK, &body))
}
