//! Patrol's own admin API, `/patrol/v1/admin/…` (docs/admin.md): policies
//! with the dry run, users and memberships, a user's tokens and their
//! revocation, revocation rules. Every route needs the delegated scope
//! `vso.tokenadministration`; the use cases check the role. Handlers
//! translate, nothing more.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use patrol_core::pat::ListFilter;

use super::auth::Administrator;
use super::error::ApiError;
use super::query::CiQuery;
use super::tokenadmin::{json, read_json};
use super::wire::PatToken;
use super::AppState;
use crate::app::{PolicyProposal, UsersRequest};

pub mod audit;
pub mod wire;

use wire::{
    AdminToken, DryRunRequest, DryRunResult, NewRevocationRule, OrgPolicyDoc, OrgPolicyEntry,
    PoliciesDoc, RevocationRuleDoc, RevocationRulesDoc, TenantPolicyDoc, UserDoc, UserTokensDoc,
    UsersPageDoc,
};

type RawBody = Result<Bytes, axum::extract::rejection::BytesRejection>;

/// The tags of the admin routes in `/openapi.json`.
#[derive(utoipa::OpenApi)]
#[openapi(tags(
    (name = "tokenadmin", description = "Token Admin API (Azure DevOps wire contract): a user's PATs, revocations, revocation rules"),
    (name = "admin", description = "Patrol's admin API: policies and the dry run, users and members, tokens, revocation rules, the audit log")
))]
pub struct AdminDoc;

/// `?top=` within 1..=`max`, default `default`.
pub(crate) fn top(q: &CiQuery, default: u32, max: u32) -> Result<u32, ApiError> {
    match q
        .get("top")
        .or_else(|| q.get("$top"))
        .filter(|s| !s.is_empty())
    {
        None => Ok(default),
        Some(s) => match s.trim().parse::<u32>() {
            Ok(n) if n >= 1 => Ok(n.min(max)),
            _ => Err(ApiError::bad_request("top must be a positive integer.")),
        },
    }
}

/// The tenant's policies and those of the organizations the caller administers.
#[utoipa::path(
    get,
    path = "/patrol/v1/admin/policies",
    tag = "admin",
    responses(
        (status = 200, description = "Policies in force", body = PoliciesDoc),
        (status = 401, description = "No or invalid OIDC access token"),
        (status = 403, description = "Missing scope vso.tokenadministration, or not an administrator"),
    ),
    security(("bearer" = []))
)]
pub async fn get_policies(
    State(state): State<AppState>,
    Administrator(caller): Administrator,
) -> Result<Response, ApiError> {
    let view = state.app.policy_view(&caller).await?;
    let body = PoliciesDoc {
        tenant: view.tenant.into(),
        organizations: view.orgs.into_iter().map(OrgPolicyEntry::from).collect(),
    };
    Ok(json(StatusCode::OK, &body))
}

/// Set the tenant's policies (tenant administrators). Existing tokens are untouched.
#[utoipa::path(
    put,
    path = "/patrol/v1/admin/policies/tenant",
    tag = "admin",
    request_body = TenantPolicyDoc,
    responses(
        (status = 200, description = "The policies now in force", body = TenantPolicyDoc),
        (status = 400, description = "An invalid policy document"),
        (status = 403, description = "Not a tenant administrator"),
    ),
    security(("bearer" = []))
)]
pub async fn put_tenant_policy(
    State(state): State<AppState>,
    Administrator(caller): Administrator,
    body: RawBody,
) -> Result<Response, ApiError> {
    let doc: TenantPolicyDoc = read_json(body)?;
    let set = state.app.set_tenant_policy(&caller, doc.into()).await?;
    Ok(json(StatusCode::OK, &TenantPolicyDoc::from(set)))
}

/// Set an organization's policy (its administrators, tenant administrators).
#[utoipa::path(
    put,
    path = "/patrol/v1/admin/policies/organizations/{organization}",
    tag = "admin",
    params(("organization" = String, Path, description = "Organization name")),
    request_body = OrgPolicyDoc,
    responses(
        (status = 200, description = "The policy now in force", body = OrgPolicyEntry),
        (status = 400, description = "An invalid policy document"),
        (status = 403, description = "Not an administrator of the organization"),
        (status = 404, description = "No such organization"),
    ),
    security(("bearer" = []))
)]
pub async fn put_org_policy(
    State(state): State<AppState>,
    Administrator(caller): Administrator,
    Path(org): Path<String>,
    body: RawBody,
) -> Result<Response, ApiError> {
    let doc: OrgPolicyDoc = read_json(body)?;
    let set = state.app.set_org_policy(&caller, &org, doc.into()).await?;
    Ok(json(StatusCode::OK, &OrgPolicyEntry::from(set)))
}

/// The active tokens the proposed policies would refuse — exactly those a
/// create, update or regenerate would then refuse. Nothing is changed.
#[utoipa::path(
    post,
    path = "/patrol/v1/admin/policies/dry-run",
    tag = "admin",
    request_body = DryRunRequest,
    responses(
        (status = 200, description = "Tokens that would be refused", body = DryRunResult),
        (status = 400, description = "An invalid policy document"),
        (status = 403, description = "Not an administrator of what is proposed"),
    ),
    security(("bearer" = []))
)]
pub async fn dry_run(
    State(state): State<AppState>,
    Administrator(caller): Administrator,
    body: RawBody,
) -> Result<Response, ApiError> {
    let req: DryRunRequest = read_json(body)?;
    let proposal = PolicyProposal {
        tenant: req.tenant.map(Into::into),
        orgs: req
            .organizations
            .into_iter()
            .map(|(name, p)| (name, p.into()))
            .collect(),
    };
    let refused = state.app.policy_dry_run(&caller, proposal).await?;
    let body = DryRunResult {
        refused: refused.into_iter().map(Into::into).collect(),
    };
    Ok(json(StatusCode::OK, &body))
}

async fn users_page(
    state: &AppState,
    caller: &crate::app::Caller,
    org: Option<String>,
    q: &CiQuery,
) -> Result<Response, ApiError> {
    let offset = match q.get("continuationToken").map(str::trim) {
        None | Some("") => 0,
        Some(s) => s
            .parse::<u64>()
            .map_err(|_| ApiError::bad_request("continuationToken is not valid."))?,
    };
    let req = UsersRequest {
        org,
        offset,
        limit: top(q, 100, 1000)?,
    };
    let page = state.app.admin_users(caller, req).await?;
    let body = UsersPageDoc {
        users: page.users.into_iter().map(UserDoc::from).collect(),
        continuation_token: page.next_offset.map(|n| n.to_string()),
    };
    Ok(json(StatusCode::OK, &body))
}

/// Users, by name, with their descriptor, roles, groups and organizations:
/// everyone (tenant administrators) or an organization's members.
#[utoipa::path(
    get,
    path = "/patrol/v1/admin/users",
    tag = "admin",
    params(
        ("organization" = Option<String>, Query, description = "Only its members (required unless a tenant administrator asks)"),
        ("top" = Option<u32>, Query, description = "Page size, 1–1000, default 100"),
        ("continuationToken" = Option<String>, Query, description = "From the previous page"),
    ),
    responses(
        (status = 200, description = "A page of users", body = UsersPageDoc),
        (status = 403, description = "Not an administrator of what was asked"),
    ),
    security(("bearer" = []))
)]
pub async fn list_users(
    State(state): State<AppState>,
    Administrator(caller): Administrator,
    q: CiQuery,
) -> Result<Response, ApiError> {
    let org = q.get("organization").map(str::to_owned);
    users_page(&state, &caller, org, &q).await
}

/// An organization's members (same answer as `users?organization=`).
#[utoipa::path(
    get,
    path = "/patrol/v1/admin/organizations/{organization}/members",
    tag = "admin",
    params(
        ("organization" = String, Path, description = "Organization name"),
        ("top" = Option<u32>, Query, description = "Page size, 1–1000, default 100"),
        ("continuationToken" = Option<String>, Query, description = "From the previous page"),
    ),
    responses(
        (status = 200, description = "A page of members", body = UsersPageDoc),
        (status = 403, description = "Not an administrator of the organization"),
        (status = 404, description = "No such organization"),
    ),
    security(("bearer" = []))
)]
pub async fn list_members(
    State(state): State<AppState>,
    Administrator(caller): Administrator,
    Path(org): Path<String>,
    q: CiQuery,
) -> Result<Response, ApiError> {
    users_page(&state, &caller, Some(org), &q).await
}

/// Add a user to the organization (undoing an earlier removal).
#[utoipa::path(
    put,
    path = "/patrol/v1/admin/organizations/{organization}/members/{userId}",
    tag = "admin",
    params(
        ("organization" = String, Path, description = "Organization name"),
        ("userId" = Uuid, Path, description = "Patrol user id"),
    ),
    responses(
        (status = 204, description = "A member (also when they already were)"),
        (status = 403, description = "Not an administrator of the organization"),
        (status = 404, description = "No such organization or user"),
    ),
    security(("bearer" = []))
)]
pub async fn add_member(
    State(state): State<AppState>,
    Administrator(caller): Administrator,
    Path((org, user)): Path<(String, Uuid)>,
) -> Result<Response, ApiError> {
    state.app.add_member(&caller, &org, user).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Remove a user from the organization; auto-join never adds them back, and
/// their tokens stop working there at once.
#[utoipa::path(
    delete,
    path = "/patrol/v1/admin/organizations/{organization}/members/{userId}",
    tag = "admin",
    params(
        ("organization" = String, Path, description = "Organization name"),
        ("userId" = Uuid, Path, description = "Patrol user id"),
    ),
    responses(
        (status = 204, description = "Not a member (also when they were not)"),
        (status = 403, description = "Not an administrator of the organization"),
        (status = 404, description = "No such organization or user"),
    ),
    security(("bearer" = []))
)]
pub async fn remove_member(
    State(state): State<AppState>,
    Administrator(caller): Administrator,
    Path((org, user)): Path<(String, Uuid)>,
) -> Result<Response, ApiError> {
    state.app.remove_member(&caller, &org, user).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A user's tokens, as far as the caller administers them.
#[utoipa::path(
    get,
    path = "/patrol/v1/admin/users/{userId}/tokens",
    tag = "admin",
    params(
        ("userId" = Uuid, Path, description = "Patrol user id"),
        ("displayFilterOption" = Option<String>, Query, description = "active | revoked | expired | all (default)"),
    ),
    responses(
        (status = 200, description = "The user and their tokens", body = UserTokensDoc),
        (status = 403, description = "Not an administrator"),
        (status = 404, description = "No such user, or none the caller administers"),
    ),
    security(("bearer" = []))
)]
pub async fn user_tokens(
    State(state): State<AppState>,
    Administrator(caller): Administrator,
    Path(user): Path<Uuid>,
    q: CiQuery,
) -> Result<Response, ApiError> {
    let filter = match q.get("displayFilterOption").filter(|s| !s.is_empty()) {
        None => ListFilter::All,
        Some(s) => ListFilter::parse(s)
            .ok_or_else(|| ApiError::bad_request("displayFilterOption is not valid."))?,
    };
    let (summary, pats) = state.app.admin_user_pats(&caller, user, filter).await?;
    let body = UserTokensDoc {
        user: summary.into(),
        tokens: pats
            .iter()
            .map(|p| AdminToken {
                token: PatToken::from_pat(p, None),
                status: state.app.pat_status(p).as_str(),
            })
            .collect(),
    };
    Ok(json(StatusCode::OK, &body))
}

/// Revoke any user's token the caller administers; seen by the very next verify.
#[utoipa::path(
    delete,
    path = "/patrol/v1/admin/tokens/{authorizationId}",
    tag = "admin",
    params(("authorizationId" = Uuid, Path, description = "The PAT")),
    responses(
        (status = 204, description = "Revoked (also when it already was)"),
        (status = 403, description = "Not an administrator"),
        (status = 404, description = "No such token the caller administers"),
    ),
    security(("bearer" = []))
)]
pub async fn revoke_token(
    State(state): State<AppState>,
    Administrator(caller): Administrator,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    state.app.admin_revoke_pat(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Revocation rules, newest first.
#[utoipa::path(
    get,
    path = "/patrol/v1/admin/revocation-rules",
    tag = "admin",
    responses(
        (status = 200, description = "The rules the caller may see", body = RevocationRulesDoc),
        (status = 403, description = "Not an administrator"),
    ),
    security(("bearer" = []))
)]
pub async fn list_rules(
    State(state): State<AppState>,
    Administrator(caller): Administrator,
) -> Result<Response, ApiError> {
    let rules = state.app.revocation_rules(&caller).await?;
    let body = RevocationRulesDoc {
        rules: rules.into_iter().map(Into::into).collect(),
    };
    Ok(json(StatusCode::OK, &body))
}

/// Make a revocation rule: every token granting any of the scopes, created
/// before the date, is revoked now; the rule is kept for the record.
#[utoipa::path(
    post,
    path = "/patrol/v1/admin/revocation-rules",
    tag = "admin",
    request_body = NewRevocationRule,
    responses(
        (status = 201, description = "The rule, with how many tokens it revoked", body = RevocationRuleDoc),
        (status = 400, description = "No or unknown scopes"),
        (status = 403, description = "Not an administrator of the organization (or, without one, of the tenant)"),
    ),
    security(("bearer" = []))
)]
pub async fn create_rule(
    State(state): State<AppState>,
    Administrator(caller): Administrator,
    body: RawBody,
) -> Result<Response, ApiError> {
    let req: NewRevocationRule = read_json(body)?;
    let org = req.organization.as_deref();
    let rule = state
        .app
        .create_revocation_rule(&caller, org, &req.scopes, req.created_before)
        .await?;
    Ok(json(StatusCode::CREATED, &RevocationRuleDoc::from(rule)))
}
