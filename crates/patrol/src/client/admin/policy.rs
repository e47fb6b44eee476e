//! `patrol admin policy show | set | dry-run`: the tenant's and the
//! organizations' PAT policies (docs/admin.md §3), with the server's own
//! policy documents.

use std::collections::BTreeMap;
use std::path::Path;

use patrol_server::http::admin::wire::{
    AllowListDoc, OrgPolicyDoc, RestrictionDoc, TenantPolicyDoc,
};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::super::failure::{sanitize, Failure};
use super::super::render::{date, table, Output};
use super::api::{typed, Admin};
use super::args::{AllowFlags, Lifespan, OrgFlags, PolicyCmd, PolicyTarget, TenantFlags};
use super::{print, print_json};

/// An organization's policy as `GET /patrol/v1/admin/policies` lists it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrgEntry {
    organization: String,
    policy: OrgPolicyDoc,
}

#[derive(Debug, Deserialize)]
struct Policies {
    tenant: TenantPolicyDoc,
    organizations: Vec<OrgEntry>,
}

/// `POST /patrol/v1/admin/policies/dry-run`'s body.
#[derive(Serialize)]
struct DryRunRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<&'a TenantPolicyDoc>,
    organizations: BTreeMap<&'a str, &'a OrgPolicyDoc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DryRunItem {
    token: patrol_server::http::wire::PatToken,
    owner: Owner,
    policy: String,
    pat_token_error: String,
    organization: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Owner {
    key: String,
    display_name: String,
}

#[derive(Deserialize)]
struct DryRunResult {
    refused: Vec<DryRunItem>,
}

pub async fn run(cmd: PolicyCmd, clock: super::ClockRef) -> Result<(), Failure> {
    match cmd {
        PolicyCmd::Show { conn } => {
            let mut api = Admin::open(&conn, clock)?;
            let v = api.get(&["admin", "policies"], &[]).await?;
            match conn.output {
                Output::Json => print_json(&v),
                Output::Table => {
                    let p: Policies = typed(&api.server(), &v)?;
                    print(&show(&p))
                }
            }
        }
        PolicyCmd::Set(PolicyTarget::Tenant { flags, conn }) => {
            let mut api = Admin::open(&conn, clock)?;
            let doc = tenant_doc(&mut api, &flags).await?;
            let v = api
                .send_json(Method::PUT, &["admin", "policies", "tenant"], &doc)
                .await?;
            match conn.output {
                Output::Json => print_json(&v),
                Output::Table => {
                    let set: TenantPolicyDoc = typed(&api.server(), &v)?;
                    print(&format!("Tenant policy set.\n{}", tenant_lines(&set)))
                }
            }
        }
        PolicyCmd::Set(PolicyTarget::Org { flags, conn }) => {
            let mut api = Admin::open(&conn, clock)?;
            let org = api.org()?;
            let doc = org_doc(&mut api, &org, &flags).await?;
            let v = api
                .send_json(
                    Method::PUT,
                    &["admin", "policies", "organizations", &org],
                    &doc,
                )
                .await?;
            match conn.output {
                Output::Json => print_json(&v),
                Output::Table => {
                    let set: OrgEntry = typed(&api.server(), &v)?;
                    print(&format!(
                        "Policy of {} set.\n{}",
                        sanitize(&set.organization),
                        org_lines(&set.policy)
                    ))
                }
            }
        }
        PolicyCmd::DryRun(target) => {
            let (conn, tenant_flags, org_flags) = match target {
                PolicyTarget::Tenant { flags, conn } => (conn, Some(flags), None),
                PolicyTarget::Org { flags, conn } => (conn, None, Some(flags)),
            };
            let mut api = Admin::open(&conn, clock)?;
            let tenant = match tenant_flags {
                Some(f) => Some(tenant_doc(&mut api, &f).await?),
                None => None,
            };
            let org = match org_flags {
                Some(f) => {
                    let org = api.org()?;
                    let doc = org_doc(&mut api, &org, &f).await?;
                    Some((org, doc))
                }
                None => None,
            };
            let req = DryRunRequest {
                tenant: tenant.as_ref(),
                organizations: org.iter().map(|(n, d)| (n.as_str(), d)).collect(),
            };
            let v = api
                .send_json(Method::POST, &["admin", "policies", "dry-run"], &req)
                .await?;
            match conn.output {
                Output::Json => print_json(&v),
                Output::Table => {
                    let r: DryRunResult = typed(&api.server(), &v)?;
                    print(&dry_run_table(&r))
                }
            }
        }
    }
}

/// A policy document from `--file` (`-`: standard input).
fn read_doc<T: DeserializeOwned>(path: &Path) -> Result<T, Failure> {
    let text = if path == Path::new("-") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| Failure::local(format!("reading the policy from stdin: {e}")))?;
        s
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| Failure::local(format!("reading {}: {e}", path.display())))?
    };
    serde_json::from_str(&text).map_err(|e| {
        Failure::local(format!(
            "{} is not a policy document (docs/admin.md §3): {e}",
            path.display()
        ))
    })
}

/// The policies in force.
async fn in_force(api: &mut Admin) -> Result<Policies, Failure> {
    let v = api.get(&["admin", "policies"], &[]).await?;
    typed(&api.server(), &v)
}

fn allow_list(a: &AllowFlags) -> AllowListDoc {
    AllowListDoc {
        users: a.users.clone(),
        groups: a.groups.clone(),
    }
}

/// The tenant policy to send: the one in force (or `--file`'s) with the flags applied.
async fn tenant_doc(api: &mut Admin, f: &TenantFlags) -> Result<TenantPolicyDoc, Failure> {
    let base = match &f.file {
        Some(path) => read_doc(path)?,
        None => {
            if f.restrict_global_pats.is_none()
                && f.restrict_full_scope_pats.is_none()
                && f.max_lifespan.is_none()
                && f.revoke_leaked_pats.is_none()
            {
                return Err(Failure::local(
                    "nothing to change: give --restrict-global-pats, --restrict-full-scope-pats, \
                     --max-lifespan, --revoke-leaked-pats or --file",
                ));
            }
            in_force(api).await?.tenant
        }
    };
    apply_tenant(base, f)
}

/// The flags over a tenant policy.
fn apply_tenant(mut doc: TenantPolicyDoc, f: &TenantFlags) -> Result<TenantPolicyDoc, Failure> {
    let mut switched_on = 0;
    let mut restrict = |r: &mut RestrictionDoc, flag: Option<bool>| {
        if let Some(on) = flag {
            r.enabled = on;
            if on {
                switched_on += 1;
                if f.allow.given() {
                    r.allow = allow_list(&f.allow);
                }
            }
        }
    };
    restrict(&mut doc.restrict_global_pats, f.restrict_global_pats);
    restrict(
        &mut doc.restrict_full_scope_pats,
        f.restrict_full_scope_pats,
    );
    match f.max_lifespan {
        None => {}
        Some(Lifespan::Off) => doc.max_lifespan.enabled = false,
        Some(Lifespan::Days(n)) => {
            doc.max_lifespan.enabled = true;
            doc.max_lifespan.max_days = n;
            switched_on += 1;
            if f.allow.given() {
                doc.max_lifespan.allow = allow_list(&f.allow);
            }
        }
    }
    if let Some(on) = f.revoke_leaked_pats {
        doc.revoke_leaked_pats = on;
    }
    if f.allow.given() && switched_on == 0 {
        return Err(Failure::local(
            "--allow-user and --allow-group apply to the restrictions this command switches on: \
             name one (e.g. --restrict-global-pats on)",
        ));
    }
    Ok(doc)
}

/// The organization policy to send: the one in force (or `--file`'s) with the flags applied.
async fn org_doc(api: &mut Admin, org: &str, f: &OrgFlags) -> Result<OrgPolicyDoc, Failure> {
    let mut doc = match &f.file {
        Some(path) => read_doc(path)?,
        None => {
            if f.restrict_pat_creation.is_none()
                && f.allow_packaging_pats.is_none()
                && !f.allow.given()
            {
                return Err(Failure::local(
                    "nothing to change: give --restrict-pat-creation, --allow-packaging-pats, \
                     --allow-user, --allow-group or --file",
                ));
            }
            let p = in_force(api).await?;
            match p
                .organizations
                .into_iter()
                .find(|e| e.organization.eq_ignore_ascii_case(org))
            {
                Some(e) => e.policy,
                None => {
                    return Err(Failure::refused(format!(
                        "'{org}' is not among the organizations you administer: {}",
                        super::api::NEEDS_ROLE
                    )))
                }
            }
        }
    };
    if let Some(on) = f.restrict_pat_creation {
        doc.restrict_pat_creation = on;
    }
    if let Some(on) = f.allow_packaging_pats {
        doc.allow_packaging_pats = on;
    }
    if f.allow.given() {
        doc.allow = allow_list(&f.allow);
    }
    Ok(doc)
}

fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

fn allowed(a: &AllowListDoc) -> String {
    let mut parts = Vec::new();
    if !a.users.is_empty() {
        parts.push(format!("users {}", sanitize(&a.users.join(", "))));
    }
    if !a.groups.is_empty() {
        parts.push(format!("groups {}", sanitize(&a.groups.join(", "))));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" (except {})", parts.join("; "))
    }
}

fn restriction(r: &RestrictionDoc) -> String {
    if r.enabled {
        format!("on{}", allowed(&r.allow))
    } else {
        "off".into()
    }
}

fn tenant_lines(t: &TenantPolicyDoc) -> String {
    let lifespan = if t.max_lifespan.enabled {
        format!(
            "on, {} days{}",
            t.max_lifespan.max_days,
            allowed(&t.max_lifespan.allow)
        )
    } else {
        "off".into()
    };
    [
        ("restrictGlobalPats", restriction(&t.restrict_global_pats)),
        (
            "restrictFullScopePats",
            restriction(&t.restrict_full_scope_pats),
        ),
        ("maxLifespan", lifespan),
        ("revokeLeakedPats", on_off(t.revoke_leaked_pats).to_owned()),
    ]
    .iter()
    .map(|(k, v)| format!("  {k:<24}{v}"))
    .collect::<Vec<_>>()
    .join("\n")
}

fn org_lines(o: &OrgPolicyDoc) -> String {
    let creation = if o.restrict_pat_creation {
        format!("on{}", allowed(&o.allow))
    } else {
        "off".into()
    };
    [
        ("restrictPatCreation", creation),
        (
            "allowPackagingPats",
            on_off(o.allow_packaging_pats).to_owned(),
        ),
    ]
    .iter()
    .map(|(k, v)| format!("  {k:<24}{v}"))
    .collect::<Vec<_>>()
    .join("\n")
}

fn show(p: &Policies) -> String {
    let mut out = format!("Tenant\n{}", tenant_lines(&p.tenant));
    for e in &p.organizations {
        out.push_str(&format!(
            "\nOrganization {}\n{}",
            sanitize(&e.organization),
            org_lines(&e.policy)
        ));
    }
    out
}

fn dry_run_table(r: &DryRunResult) -> String {
    if r.refused.is_empty() {
        return "No active token would be refused.".into();
    }
    let rows = r
        .refused
        .iter()
        .map(|i| {
            vec![
                i.token.authorization_id.to_string(),
                sanitize(&i.token.display_name),
                format!(
                    "{} ({})",
                    sanitize(&i.owner.display_name),
                    sanitize(&i.owner.key)
                ),
                match &i.organization {
                    Some(o) => format!("{} ({})", sanitize(&i.policy), sanitize(o)),
                    None => sanitize(&i.policy),
                },
                sanitize(&i.pat_token_error),
                date(&i.token.valid_to),
            ]
        })
        .collect();
    format!(
        "{}\n{} active token(s) would be refused.",
        table(&["ID", "NAME", "OWNER", "POLICY", "ERROR", "EXPIRES"], rows),
        r.refused.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> TenantFlags {
        TenantFlags {
            restrict_global_pats: None,
            restrict_full_scope_pats: None,
            max_lifespan: None,
            revoke_leaked_pats: None,
            allow: AllowFlags {
                users: vec![],
                groups: vec![],
            },
            file: None,
        }
    }

    #[test]
    fn flags_change_only_what_they_name() {
        let mut f = flags();
        f.max_lifespan = Some(Lifespan::Days(90));
        f.restrict_global_pats = Some(true);
        f.allow.users = vec!["iss|bob".into()];
        let mut base = TenantPolicyDoc::default();
        base.restrict_full_scope_pats.enabled = true;
        base.restrict_full_scope_pats.allow.groups = vec!["ops".into()];
        let doc = apply_tenant(base, &f).unwrap();
        assert!(doc.restrict_global_pats.enabled);
        assert_eq!(doc.restrict_global_pats.allow.users, ["iss|bob"]);
        assert!(doc.max_lifespan.enabled);
        assert_eq!(doc.max_lifespan.max_days, 90);
        assert_eq!(doc.max_lifespan.allow.users, ["iss|bob"]);
        assert!(doc.restrict_full_scope_pats.enabled);
        assert_eq!(doc.restrict_full_scope_pats.allow.groups, ["ops"]);
        assert!(doc.revoke_leaked_pats);

        let mut off = flags();
        off.max_lifespan = Some(Lifespan::Off);
        off.revoke_leaked_pats = Some(false);
        let doc = apply_tenant(doc, &off).unwrap();
        assert!(!doc.max_lifespan.enabled);
        assert!(!doc.revoke_leaked_pats);
        assert!(doc.restrict_global_pats.enabled);

        let mut lonely = flags();
        lonely.allow.groups = vec!["g".into()];
        lonely.restrict_global_pats = Some(false);
        assert_eq!(
            apply_tenant(TenantPolicyDoc::default(), &lonely)
                .unwrap_err()
                .exit_code(),
            2
        );
    }

    #[test]
    fn policies_in_words() {
        let mut t = TenantPolicyDoc::default();
        t.max_lifespan.enabled = true;
        t.max_lifespan.max_days = 7;
        t.restrict_global_pats.enabled = true;
        t.restrict_global_pats.allow.users = vec!["iss|\u{1b}[2Jbob".into()];
        let text = tenant_lines(&t);
        assert!(
            text.contains("maxLifespan             on, 7 days"),
            "{text}"
        );
        assert!(
            text.contains("restrictGlobalPats      on (except users iss| [2Jbob)"),
            "{text}"
        );
        assert!(text.contains("revokeLeakedPats        on"), "{text}");
        assert!(!text.contains('\u{1b}'));
        let o = OrgPolicyDoc {
            restrict_pat_creation: true,
            allow_packaging_pats: true,
            ..OrgPolicyDoc::default()
        };
        assert!(org_lines(&o).contains("allowPackagingPats      on"));
    }
}
