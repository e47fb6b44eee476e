//! `/admin/policies`: the tenant's policy and those of the organizations
//! the caller administers, each a form with two buttons — "Dry run" shows
//! the active tokens the proposal would refuse (nothing is saved), "Save"
//! puts it in force.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use patrol_core::policy::{OrgPolicy, TenantPolicy};

use super::super::super::field;
use super::super::super::session::{WebForm, WebUser};
use super::super::super::WebCtx;
use super::super::tokens::see_other;
use super::super::{app_error, app_error_message, chrome, date, render};
use super::policy_form::{org_form, org_policy, tenant_form, tenant_form_as_typed, tenant_policy};
use super::view::{DryRun, DryRunRow, OrgForm, PoliciesPage, TenantForm};
use super::{enc, gate, nav, query};
use crate::app::{violation_name, AppError, DryRunRefusal, PolicyProposal};

/// What replaces the stored policies on the page: a proposal being tried,
/// or one refused, with what to say about it.
#[derive(Default)]
struct Shown {
    tenant: Option<TenantForm>,
    org: Option<OrgForm>,
    dry_run: Option<DryRun>,
    error: Option<String>,
    notice: Option<String>,
}

async fn page(ctx: &WebCtx, user: &WebUser, status: StatusCode, shown: Shown) -> Response {
    let view = match ctx.app().policy_view(&user.caller).await {
        Ok(v) => v,
        Err(e) => return app_error(user, &e),
    };
    let tenant = shown
        .tenant
        .unwrap_or_else(|| tenant_form(&view.tenant, user.caller.is_tenant_admin()));
    let orgs = view
        .orgs
        .iter()
        .map(|(o, p)| match &shown.org {
            Some(f) if f.name.eq_ignore_ascii_case(&o.name) => OrgForm {
                name: f.name.clone(),
                restrict: f.restrict,
                allow_packaging: f.allow_packaging,
                users: f.users.clone(),
                groups: f.groups.clone(),
            },
            _ => org_form(&o.name, p),
        })
        .collect();
    render(
        status,
        &PoliciesPage {
            chrome: chrome(user),
            nav: nav("/admin/policies"),
            notice: shown.notice,
            error: shown.error,
            tenant,
            orgs,
            dry_run: shown.dry_run,
        },
    )
}

/// `GET /admin/policies`.
pub async fn show(State(ctx): State<WebCtx>, user: WebUser, RawQuery(raw): RawQuery) -> Response {
    if let Err(r) = gate(&ctx, &user).await {
        return r;
    }
    let q = query(raw.as_deref());
    let notice = match (q.get("notice").map(String::as_str), q.get("org")) {
        (Some("tenant"), _) => Some("The tenant's policy is saved. Tokens already issued are not changed; from now on every create, edit and regenerate must pass it.".to_owned()),
        (Some("org"), Some(o)) => Some(format!("The policy of organization “{o}” is saved. Tokens already issued are not changed.")),
        _ => None,
    };
    page(
        &ctx,
        &user,
        StatusCode::OK,
        Shown {
            notice,
            ..Shown::default()
        },
    )
    .await
}

fn dry_run_rows(refused: Vec<DryRunRefusal>) -> Vec<DryRunRow> {
    refused
        .into_iter()
        .map(|r| DryRunRow {
            owner: r.owner.display_name.clone(),
            owner_id: r.owner.id.to_string(),
            token: r.pat.display_name.clone(),
            token_id: r.pat.authorization_id.to_string(),
            policy: match &r.org {
                Some(o) => format!("{} (“{o}”)", violation_name(&r.violation)),
                None => violation_name(&r.violation).to_owned(),
            },
            expires: date(r.pat.valid_to),
        })
        .collect()
}

/// A refused proposal: the page with the form as submitted and why.
async fn refused(ctx: &WebCtx, user: &WebUser, e: &AppError, mut shown: Shown) -> Response {
    let (status, message) = app_error_message(e);
    if status == StatusCode::FORBIDDEN
        || status == StatusCode::NOT_FOUND
        || status.is_server_error()
        || status == StatusCode::SERVICE_UNAVAILABLE
    {
        return app_error(user, e);
    }
    shown.error = Some(message);
    page(ctx, user, status, shown).await
}

fn wants_dry_run(fields: &[(String, String)]) -> bool {
    field(fields, "do") == Some("dry-run")
}

/// `POST /admin/policies/tenant`: dry run or save.
pub async fn post_tenant(State(ctx): State<WebCtx>, form: WebForm) -> Response {
    let (user, fields) = (form.user, form.fields);
    if let Err(r) = gate(&ctx, &user).await {
        return r;
    }
    let policy: TenantPolicy = match tenant_policy(&fields) {
        Ok(p) => p,
        Err(message) => {
            let shown = Shown {
                tenant: Some(tenant_form_as_typed(&fields)),
                error: Some(message),
                ..Shown::default()
            };
            return page(&ctx, &user, StatusCode::BAD_REQUEST, shown).await;
        }
    };
    let shown = Shown {
        tenant: Some(tenant_form(&policy, true)),
        ..Shown::default()
    };
    let app = ctx.app();
    if wants_dry_run(&fields) {
        let proposal = PolicyProposal {
            tenant: Some(policy),
            orgs: Vec::new(),
        };
        return match app.policy_dry_run(&user.caller, proposal).await {
            Ok(r) => {
                let shown = Shown {
                    dry_run: Some(DryRun {
                        about: "the tenant".into(),
                        form: "tenant".into(),
                        rows: dry_run_rows(r),
                    }),
                    ..shown
                };
                page(&ctx, &user, StatusCode::OK, shown).await
            }
            Err(e) => refused(&ctx, &user, &e, shown).await,
        };
    }
    match app.set_tenant_policy(&user.caller, policy).await {
        Ok(_) => see_other("/admin/policies?notice=tenant"),
        Err(e) => refused(&ctx, &user, &e, shown).await,
    }
}

/// `POST /admin/policies/organizations/{org}`: dry run or save.
pub async fn post_org(
    State(ctx): State<WebCtx>,
    Path(org): Path<String>,
    form: WebForm,
) -> Response {
    let (user, fields) = (form.user, form.fields);
    if let Err(r) = gate(&ctx, &user).await {
        return r;
    }
    let policy: OrgPolicy = org_policy(&fields);
    let shown = Shown {
        org: Some(org_form(&org, &policy)),
        ..Shown::default()
    };
    let app = ctx.app();
    if wants_dry_run(&fields) {
        let proposal = PolicyProposal {
            tenant: None,
            orgs: vec![(org.clone(), policy)],
        };
        return match app.policy_dry_run(&user.caller, proposal).await {
            Ok(r) => {
                let shown = Shown {
                    dry_run: Some(DryRun {
                        about: format!("organization “{org}”"),
                        form: format!("org-{org}"),
                        rows: dry_run_rows(r),
                    }),
                    ..shown
                };
                page(&ctx, &user, StatusCode::OK, shown).await
            }
            Err(e) => refused(&ctx, &user, &e, shown).await,
        };
    }
    match app.set_org_policy(&user.caller, &org, policy).await {
        Ok((o, _)) => see_other(&format!("/admin/policies?notice=org&org={}", enc(&o.name))),
        Err(e) => refused(&ctx, &user, &e, shown).await,
    }
}
