//! Token policies as use cases (docs/admin.md): reading and setting them
//! (administrators only, each change audited), the one enforcement point
//! create, update and regenerate call, and the dry run — which asks the same
//! evaluator about every active token, exactly as a regenerate would.

use std::collections::HashMap;

use uuid::Uuid;

use patrol_core::pat::{ListFilter, Pat};
use patrol_core::policy::{OrgPolicy, Policies, Principal, TenantPolicy, TokenShape, Violation};
use patrol_core::roles::user_key;
use patrol_core::user::{AuditAction, Organization, Outcome, User};
use patrol_store::{AdminPatQuery, PolicyChange, UserEntry, UserQuery};

use super::{App, AppError, Caller};

/// Rows read per store round trip when a use case walks a whole table.
pub(crate) const BATCH: u32 = 500;

/// Every policy, with organizations by name.
#[derive(Debug, Clone)]
pub struct PolicyView {
    pub tenant: TenantPolicy,
    /// Every organization the caller administers, with its policy (the
    /// default where none was set).
    pub orgs: Vec<(Organization, OrgPolicy)>,
}

/// Policies an administrator considers; `None` / absent: as in force.
#[derive(Debug, Clone, Default)]
pub struct PolicyProposal {
    pub tenant: Option<TenantPolicy>,
    /// Organization name → proposed policy.
    pub orgs: Vec<(String, OrgPolicy)>,
}

/// An active token the proposed policies would refuse.
#[derive(Debug, Clone)]
pub struct DryRunRefusal {
    pub pat: Pat,
    pub owner: User,
    pub violation: Violation,
    /// For an organization's refusal, its name.
    pub org: Option<String>,
}

/// The human name of a policy, for audit details and the web page.
pub fn violation_name(v: &Violation) -> &'static str {
    match v {
        Violation::GlobalPat => "restrict global PAT creation",
        Violation::FullScopePat => "restrict full-scope PAT creation",
        Violation::Lifespan { .. } => "maximum PAT lifespan",
        Violation::OrgCreation { .. } => "restrict PAT creation in the organization",
    }
}

impl App {
    /// The one enforcement point: may `caller` hold `pat` as it would be
    /// stored after `action`? A refusal is audited (outcome failure).
    pub(crate) async fn enforce(
        &self,
        policies: &Policies,
        caller: &Caller,
        pat: &Pat,
        action: AuditAction,
    ) -> Result<(), AppError> {
        let owner_orgs: Vec<Uuid> = match pat.target {
            patrol_core::pat::OrgTarget::All if !policies.orgs.is_empty() => self
                .member_orgs(caller)
                .await?
                .into_iter()
                .map(|o| o.id)
                .collect(),
            _ => Vec::new(),
        };
        let key = caller.key();
        let shape = TokenShape::of(pat, &owner_orgs);
        let Err(v) = policies.evaluate(&caller.principal(&key), &shape, self.now()) else {
            return Ok(());
        };
        let target = (action != AuditAction::PatCreate).then_some(pat.authorization_id);
        let detail = format!("refused by policy: {}", violation_name(&v));
        let ev = caller.audit(action, self.now(), target, Outcome::Failure, Some(detail));
        if let Err(e) = self.store.append_audit(&ev).await {
            tracing::warn!(error = %e, "could not write audit record for a policy refusal");
        }
        Err(AppError::Policy(v))
    }

    /// The policies in force: the tenant's, and each organization's the
    /// caller administers. Any administrator may read the tenant's.
    pub async fn policy_view(&self, caller: &Caller) -> Result<PolicyView, AppError> {
        if !caller.is_admin() {
            return Err(self
                .refuse_admin(caller, AppError::NotAnAdmin("any organization".into()))
                .await);
        }
        let mut p = self.store.policies().await?;
        let orgs = self
            .store
            .list_orgs()
            .await?
            .into_iter()
            .filter(|o| caller.administers(&o.name))
            .map(|o| {
                let policy = p.orgs.remove(&o.id).unwrap_or_default();
                (o, policy)
            })
            .collect();
        Ok(PolicyView {
            tenant: p.tenant,
            orgs,
        })
    }

    /// Tenant administrators only. Tokens already issued are not touched.
    pub async fn set_tenant_policy(
        &self,
        caller: &Caller,
        policy: TenantPolicy,
    ) -> Result<TenantPolicy, AppError> {
        if !caller.is_tenant_admin() {
            return Err(self
                .refuse_admin(caller, AppError::not_tenant_admin())
                .await);
        }
        policy.validate()?;
        let now = self.now();
        let ev = caller.admin_audit(
            AuditAction::AdminPolicySet,
            now,
            None,
            None,
            "tenant".into(),
        );
        self.store
            .set_policy(PolicyChange::Tenant(&policy), now, &ev)
            .await?;
        self.forget_settings();
        Ok(policy)
    }

    /// The organization's administrators (and tenant administrators).
    pub async fn set_org_policy(
        &self,
        caller: &Caller,
        org: &str,
        policy: OrgPolicy,
    ) -> Result<(Organization, OrgPolicy), AppError> {
        let org = self.administered_org(caller, org).await?;
        policy.validate()?;
        let now = self.now();
        let detail = format!("organization {}", org.name);
        let ev = caller.admin_audit(AuditAction::AdminPolicySet, now, None, None, detail);
        self.store
            .set_policy(PolicyChange::Org(org.id, &policy), now, &ev)
            .await?;
        self.forget_settings();
        Ok((org, policy))
    }

    /// An organization that exists and `caller` administers. Unknown
    /// organizations answer like foreign ones to non-administrators.
    pub(crate) async fn administered_org(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<Organization, AppError> {
        if !caller.administers(name) {
            return Err(self
                .refuse_admin(caller, AppError::not_admin_of(name))
                .await);
        }
        self.store
            .org_by_name(name)
            .await?
            .ok_or_else(|| AppError::OrgNotFound(name.to_owned()))
    }

    /// Every user with their claims and organizations, by id.
    pub(crate) async fn all_users(&self) -> Result<HashMap<Uuid, UserEntry>, AppError> {
        let mut out = HashMap::new();
        let mut offset = 0;
        loop {
            let q = UserQuery {
                offset,
                limit: BATCH,
                ..UserQuery::default()
            };
            let page = self.store.list_users(&q).await?;
            let n = page.len();
            out.extend(page.into_iter().map(|e| (e.user.id, e)));
            if n < BATCH as usize {
                return Ok(out);
            }
            offset += u64::from(BATCH);
        }
    }

    /// Every PAT matching `filter`, reaching `org` when given.
    pub(crate) async fn all_pats(
        &self,
        org: Option<Uuid>,
        filter: ListFilter,
    ) -> Result<Vec<Pat>, AppError> {
        let mut out: Vec<Pat> = Vec::new();
        let mut from = None;
        loop {
            let q = AdminPatQuery {
                owners: Vec::new(),
                org,
                filter,
                now: self.now(),
                from,
                limit: BATCH + 1,
            };
            let mut page = self.store.list_pats_admin(&q).await?;
            let next = (page.len() > BATCH as usize)
                .then(|| page.pop().map(|p| p.authorization_id))
                .flatten();
            out.extend(page);
            match next {
                Some(n) => from = Some(n),
                None => return Ok(out),
            }
        }
    }

    /// The active tokens `proposal` (merged over the policies in force)
    /// would refuse were they created, updated or regenerated now — the
    /// evaluator enforcement uses, asked about each token as it is stored.
    /// Tenant administrators see every token; organization administrators
    /// those that reach an organization they administer.
    pub async fn policy_dry_run(
        &self,
        caller: &Caller,
        proposal: PolicyProposal,
    ) -> Result<Vec<DryRunRefusal>, AppError> {
        if !caller.is_admin() || (proposal.tenant.is_some() && !caller.is_tenant_admin()) {
            return Err(self
                .refuse_admin(caller, AppError::not_tenant_admin())
                .await);
        }
        let mut policies = self.store.policies().await?;
        if let Some(t) = proposal.tenant {
            t.validate()?;
            policies.tenant = t;
        }
        for (name, p) in proposal.orgs {
            let org = self.administered_org(caller, &name).await?;
            p.validate()?;
            policies.orgs.insert(org.id, p);
        }
        let names: HashMap<Uuid, String> = self
            .store
            .list_orgs()
            .await?
            .into_iter()
            .map(|o| (o.id, o.name))
            .collect();
        let users = self.all_users().await?;
        let now = self.now();
        let mut out = Vec::new();
        for pat in self.all_pats(None, ListFilter::Active).await? {
            let Some(owner) = users.get(&pat.owner) else {
                continue;
            };
            let orgs: Vec<Uuid> = owner.member_of.iter().map(|o| o.id).collect();
            let shape = TokenShape::of(&pat, &orgs);
            let visible = caller.is_tenant_admin()
                || shape
                    .orgs
                    .iter()
                    .any(|id| names.get(id).is_some_and(|n| caller.administers(n)));
            if !visible {
                continue;
            }
            let key = user_key(&owner.user.issuer, &owner.user.subject);
            let groups = self.roles.groups(&owner.user.issuer, &owner.claims);
            let who = Principal {
                key: &key,
                groups: &groups,
            };
            if let Err(violation) = policies.evaluate(&who, &shape, now) {
                let org = match violation {
                    Violation::OrgCreation { org } => names.get(&org).cloned(),
                    _ => None,
                };
                out.push(DryRunRefusal {
                    pat: pat.clone(),
                    owner: owner.user.clone(),
                    violation,
                    org,
                });
            }
        }
        out.sort_by(|a, b| {
            (a.owner.display_name.to_lowercase(), &a.pat.display_name)
                .cmp(&(b.owner.display_name.to_lowercase(), &b.pat.display_name))
        });
        Ok(out)
    }
}
