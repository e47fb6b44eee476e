//! The Token Admin API's use cases (docs/ado-wire-contract.md §5): a user's
//! PATs by subject descriptor, revoking listed authorizations, and
//! revocation rules — each through an organization the caller administers,
//! covering the tokens that reach it (or, for a tenant administrator's
//! rule without an organization, every token).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use patrol_core::descriptor::SubjectDescriptor;
use patrol_core::pat::{ListFilter, Pat};
use patrol_core::revocation::RevocationRule;
use patrol_core::scope::ScopeSet;
use patrol_core::user::{AuditAction, AuditEvent, Organization, User};
use patrol_store::{AdminPatQuery, UserQuery};

use super::notify::{promise, EventKind};
use super::{App, AppError, Caller};

/// Largest Token Admin page.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// One page of a user's PATs, by id.
#[derive(Debug, Clone)]
pub struct TokenAdminPage {
    pub pats: Vec<Pat>,
    /// The id the next page starts at (the GUID continuation token).
    pub next: Option<Uuid>,
}

/// A revocation rule as listed: with its organization's name.
#[derive(Debug, Clone)]
pub struct ListedRule {
    pub rule: RevocationRule,
    pub org: Option<Organization>,
}

impl App {
    /// The users a descriptor names: `aad.` every user with that object id
    /// as subject, `patrol.` the one user with that id.
    pub async fn users_by_descriptor(&self, d: &SubjectDescriptor) -> Result<Vec<User>, AppError> {
        let users = match d {
            SubjectDescriptor::Aad(oid) => self
                .store
                .list_users(&UserQuery {
                    subject: Some(oid.clone()),
                    limit: 100,
                    ..UserQuery::default()
                })
                .await?
                .into_iter()
                .map(|e| e.user)
                .collect(),
            SubjectDescriptor::Patrol(id) => self.store.get_user(*id).await?.into_iter().collect(),
        };
        Ok(users)
    }

    /// `GET …/tokenadmin/personalaccesstokens/{descriptor}`: the user's
    /// PATs (any status) that reach `org`, `page_size` at a time from `from`.
    pub async fn token_admin_list(
        &self,
        caller: &Caller,
        org: &str,
        descriptor: &SubjectDescriptor,
        page_size: u32,
        from: Option<Uuid>,
    ) -> Result<TokenAdminPage, AppError> {
        let org = self.administered_org(caller, org).await?;
        let owners: Vec<Uuid> = self
            .users_by_descriptor(descriptor)
            .await?
            .into_iter()
            .map(|u| u.id)
            .collect();
        if owners.is_empty() {
            return Err(AppError::UserNotFound);
        }
        let limit = page_size.clamp(1, MAX_PAGE_SIZE);
        let q = AdminPatQuery {
            owners,
            org: Some(org.id),
            filter: ListFilter::All,
            now: self.now(),
            from,
            limit: limit + 1,
        };
        let mut pats = self.store.list_pats_admin(&q).await?;
        let next = (pats.len() > limit as usize)
            .then(|| pats.pop().map(|p| p.authorization_id))
            .flatten();
        Ok(TokenAdminPage { pats, next })
    }

    /// `POST …/tokenadmin/revocations`: revoke every listed PAT, all or
    /// nothing — each must exist and reach `org` (else "not found").
    pub async fn token_admin_revoke(
        &self,
        caller: &Caller,
        org: &str,
        ids: &[Uuid],
    ) -> Result<u64, AppError> {
        let org = self.administered_org(caller, org).await?;
        let members: HashSet<Uuid> = self
            .store
            .list_users(&UserQuery {
                org: Some(org.id),
                limit: u32::MAX,
                ..UserQuery::default()
            })
            .await?
            .into_iter()
            .map(|e| e.user.id)
            .collect();
        let mut pats = Vec::with_capacity(ids.len());
        let mut seen = HashSet::new();
        for id in ids {
            if !seen.insert(*id) {
                continue;
            }
            match self.store.get_pat(*id).await? {
                Some(p) if reaches(&p, org.id, &members) => pats.push(p),
                _ => return Err(AppError::TokenNotFound),
            }
        }
        let why = format!("revoked by an administrator of {}", org.name);
        self.revoke_as_admin(caller, &pats, &why).await
    }

    /// `POST …/tokenadmin/revocationrules` (with `org`), or Patrol's admin
    /// API for a tenant-wide rule (without): revoke every token that grants
    /// any of `scopes` and was created before `created_before` (default:
    /// now). The rule is stored with what it revoked.
    pub async fn create_revocation_rule(
        &self,
        caller: &Caller,
        org: Option<&str>,
        scopes: &str,
        created_before: Option<DateTime<Utc>>,
    ) -> Result<ListedRule, AppError> {
        let org = match org {
            Some(name) => Some(self.administered_org(caller, name).await?),
            None if caller.is_tenant_admin() => None,
            None => {
                return Err(self
                    .refuse_admin(caller, AppError::not_tenant_admin())
                    .await)
            }
        };
        let scopes = ScopeSet::parse(scopes)?;
        let now = self.now();
        let mut rule = RevocationRule {
            id: Uuid::new_v4(),
            org: org.as_ref().map(|o| o.id),
            scopes,
            created_before: created_before.unwrap_or(now),
            created_at: now,
            created_by: caller.key(),
            revoked: 0,
        };
        let matched: Vec<Pat> = self
            .all_pats(rule.org, ListFilter::All)
            .await?
            .into_iter()
            .filter(|p| rule.matches(p))
            .collect();
        let why = format!("revocation rule {}", rule.id);
        let revocations: Vec<_> = matched
            .iter()
            .map(|p| {
                let ev = caller.admin_audit(
                    AuditAction::PatRevoke,
                    now,
                    Some(p.owner),
                    Some(p.authorization_id),
                    why.clone(),
                );
                (
                    p.authorization_id,
                    promise(ev, EventKind::Revoked, true, Some(&why)),
                )
            })
            .collect();
        let where_ = org.as_ref().map_or("every organization".to_owned(), |o| {
            format!("organization {}", o.name)
        });
        let detail = format!(
            "rule {}: scopes {}; created before {}; {where_}; {} tokens",
            rule.id,
            rule.scopes,
            rule.created_before.to_rfc3339(),
            matched.len()
        );
        let rule_ev = caller.admin_audit(AuditAction::AdminRevocationRule, now, None, None, detail);
        rule.revoked = self
            .store
            .revoke_many(now, &revocations, Some((&rule, &rule_ev)))
            .await?;
        for p in &matched {
            self.forget_verified(p.authorization_id);
        }
        let records: Vec<&AuditEvent> = revocations.iter().map(|(_, ev)| ev).collect();
        self.tell(&records).await;
        Ok(ListedRule { rule, org })
    }

    /// Revocation rules, newest first: every one for a tenant
    /// administrator, those of administered organizations otherwise.
    pub async fn revocation_rules(&self, caller: &Caller) -> Result<Vec<ListedRule>, AppError> {
        if !caller.is_admin() {
            return Err(self
                .refuse_admin(caller, AppError::NotAnAdmin("any organization".into()))
                .await);
        }
        let orgs = self.store.list_orgs().await?;
        let rules = self.store.list_revocation_rules().await?;
        Ok(rules
            .into_iter()
            .map(|rule| {
                let org = rule
                    .org
                    .and_then(|id| orgs.iter().find(|o| o.id == id).cloned());
                ListedRule { rule, org }
            })
            .filter(|r| {
                caller.is_tenant_admin()
                    || r.org.as_ref().is_some_and(|o| caller.administers(&o.name))
            })
            .collect())
    }
}

/// A PAT reaches `org`: pinned to it, or global and owned by a member.
fn reaches(p: &Pat, org: Uuid, members: &HashSet<Uuid>) -> bool {
    match &p.target {
        patrol_core::pat::OrgTarget::All => members.contains(&p.owner),
        patrol_core::pat::OrgTarget::Orgs(ids) => ids.contains(&org),
    }
}
