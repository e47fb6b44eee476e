//! The PAT lifecycle: create, get, list, update, regenerate, revoke.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use patrol_core::pat::{DisplayName, ListFilter, OrgTarget, Pat, SortBy};
use patrol_core::scope::ScopeSet;
use patrol_core::secret::PatSecret;
use patrol_core::token;
use patrol_core::user::{AuditAction, Organization, Outcome};
use patrol_store::{PatQuery, StoreError};

use super::{App, AppError, Caller};

#[derive(Debug, Clone, Default)]
pub struct CreatePat {
    pub display_name: Option<String>,
    pub scope: Option<String>,
    pub valid_to: Option<DateTime<Utc>>,
    pub all_orgs: bool,
}

/// `None` fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct UpdatePat {
    pub authorization_id: Uuid,
    pub display_name: Option<String>,
    pub scope: Option<String>,
    pub valid_to: Option<DateTime<Utc>>,
    pub all_orgs: Option<bool>,
}

#[derive(Debug, Clone, Copy)]
pub struct ListRequest {
    pub filter: ListFilter,
    pub sort: SortBy,
    pub ascending: bool,
    pub offset: u64,
    pub limit: u32,
}

#[derive(Debug, Clone)]
pub struct ListPage {
    pub pats: Vec<Pat>,
    /// Offset of the next page, if there is one.
    pub next_offset: Option<u64>,
}

impl App {
    fn mint(&self) -> Result<PatSecret, AppError> {
        token::mint(self.now(), &self.policy.mint, &mut rand::rngs::OsRng)
            .map_err(|e| AppError::BadRequest(format!("cannot mint a token: {e}")))
    }

    /// The org the request came through must exist and the caller belong to it.
    pub async fn resolve_org(&self, caller: &Caller, name: &str) -> Result<Organization, AppError> {
        let org = self
            .store
            .org_by_name(name)
            .await?
            .ok_or_else(|| AppError::OrgNotFound(name.to_owned()))?;
        if !self.store.is_member(caller.user.id, org.id).await? {
            return Err(AppError::NotAMember(org.name));
        }
        Ok(org)
    }

    /// Fetch a PAT the caller owns; anything else is "not found".
    async fn owned(&self, caller: &Caller, id: Uuid) -> Result<Pat, AppError> {
        match self.store.get_pat(id).await? {
            Some(p) if p.owner == caller.user.id => Ok(p),
            _ => Err(AppError::TokenNotFound),
        }
    }

    pub async fn create_pat(
        &self,
        caller: &Caller,
        org: &Organization,
        req: CreatePat,
    ) -> Result<(Pat, PatSecret), AppError> {
        let now = self.now();
        let name = DisplayName::parse(req.display_name.as_deref())?;
        let scopes = ScopeSet::parse_or_full(req.scope.as_deref())?;
        let valid_to = self.policy.lifetime.resolve_create(req.valid_to, now)?;
        let pat = Pat {
            authorization_id: Uuid::new_v4(),
            owner: caller.user.id,
            display_name: name.into_string(),
            scopes,
            target: if req.all_orgs {
                OrgTarget::All
            } else {
                OrgTarget::Orgs(vec![org.id])
            },
            valid_from: now,
            valid_to,
            created_at: now,
            revoked_at: None,
            last_used: None,
        };
        let secret = self.mint()?;
        let hash = self.hasher.hash(&secret);
        let audit = caller.audit(
            AuditAction::PatCreate,
            now,
            Some(pat.authorization_id),
            Outcome::Success,
            None,
        );
        // The store counts and inserts in one step, so the cap holds under
        // concurrent creates.
        let max = self.policy.max_active_per_user;
        self.store
            .create_pat(&pat, &hash, &audit, Some(max))
            .await
            .map_err(|e| match e {
                StoreError::LimitReached => AppError::TooManyTokens(max),
                e => e.into(),
            })?;
        Ok((pat, secret))
    }

    pub async fn get_pat(&self, caller: &Caller, id: Uuid) -> Result<Pat, AppError> {
        self.owned(caller, id).await
    }

    pub async fn list_pats(&self, caller: &Caller, req: ListRequest) -> Result<ListPage, AppError> {
        let limit = req.limit.clamp(1, 100);
        let mut pats = self
            .store
            .list_pats(&PatQuery {
                owner: caller.user.id,
                filter: req.filter,
                sort: req.sort,
                ascending: req.ascending,
                offset: req.offset,
                limit: limit + 1,
                now: self.now(),
            })
            .await?;
        let more = pats.len() > limit as usize;
        pats.truncate(limit as usize);
        Ok(ListPage {
            pats,
            next_offset: more.then(|| req.offset + u64::from(limit)),
        })
    }

    pub async fn update_pat(
        &self,
        caller: &Caller,
        org: &Organization,
        req: UpdatePat,
    ) -> Result<Pat, AppError> {
        let now = self.now();
        let mut pat = self.owned(caller, req.authorization_id).await?;
        if pat.revoked_at.is_some() {
            return Err(AppError::TokenRevoked);
        }
        if !pat.target.allows(org.id) {
            return Err(AppError::WrongOrganization);
        }
        let mut changed = Vec::new();
        if let Some(n) = req.display_name.as_deref().filter(|n| !n.is_empty()) {
            pat.display_name = DisplayName::parse(Some(n))?.into_string();
            changed.push("displayName");
        }
        if let Some(s) = req.scope.as_deref() {
            pat.scopes = ScopeSet::parse(s)?;
            changed.push("scope");
        }
        let valid_to = self
            .policy
            .lifetime
            .resolve_update(req.valid_to, pat.valid_to, now)?;
        if valid_to != pat.valid_to {
            pat.valid_to = valid_to;
            changed.push("validTo");
        }
        match req.all_orgs {
            None => {}
            Some(true) => {
                pat.target = OrgTarget::All;
                changed.push("allOrgs");
            }
            Some(false) => {
                pat.target = OrgTarget::Orgs(vec![org.id]);
                changed.push("allOrgs");
            }
        }
        let detail = (!changed.is_empty()).then(|| changed.join(","));
        let audit = caller.audit(
            AuditAction::PatUpdate,
            now,
            Some(pat.authorization_id),
            Outcome::Success,
            detail,
        );
        self.store.update_pat(&pat, &audit).await?;
        self.forget_verified(pat.authorization_id);
        Ok(pat)
    }

    /// A new secret for the same metadata; the old secret stops working at once.
    pub async fn regenerate_pat(
        &self,
        caller: &Caller,
        org: &Organization,
        id: Uuid,
    ) -> Result<(Pat, PatSecret), AppError> {
        let now = self.now();
        let pat = self.owned(caller, id).await?;
        if pat.revoked_at.is_some() {
            return Err(AppError::TokenRevoked);
        }
        if !pat.target.allows(org.id) {
            return Err(AppError::WrongOrganization);
        }
        let secret = self.mint()?;
        let hash = self.hasher.hash(&secret);
        let audit = caller.audit(
            AuditAction::PatRegenerate,
            now,
            Some(id),
            Outcome::Success,
            None,
        );
        self.store.replace_secret(id, &hash, &audit).await?;
        self.forget_verified(id);
        Ok((pat, secret))
    }

    /// Revoke through any organization. Revoking twice is not an error.
    pub async fn revoke_pat(&self, caller: &Caller, id: Uuid) -> Result<(), AppError> {
        let now = self.now();
        let pat = self.owned(caller, id).await?;
        let detail = pat
            .revoked_at
            .is_some()
            .then(|| "already revoked".to_owned());
        let audit = caller.audit(
            AuditAction::PatRevoke,
            now,
            Some(id),
            Outcome::Success,
            detail,
        );
        self.store.revoke_pat(id, now, &audit).await?;
        self.forget_verified(id);
        Ok(())
    }
}
