//! The PAT lifecycle: create, get, list, update, regenerate, revoke — and the
//! organization rules every edge shares: which organization a request acts
//! through, and that an organization's token never moves to another one.
//! Create, update and regenerate check the token as it would be stored
//! against the policies in force (`policies.rs`).

use uuid::Uuid;

use patrol_core::pat::{DisplayName, ExpiryChoice, ListFilter, OrgTarget, Pat, SortBy};
use patrol_core::scope::ScopeSet;
use patrol_core::secret::PatSecret;
use patrol_core::token;
use patrol_core::user::{AuditAction, Organization, Outcome};
use patrol_store::{PatQuery, StoreError};

use super::notify::{promise, EventKind};
use super::{App, AppError, Caller};

/// The organization a request came through: the API's `/{organization}/…`
/// (it must exist and the caller must belong to it), or none, when the web
/// page or the CLI let Patrol pick the organization to act through.
#[derive(Debug, Clone, Copy)]
pub enum Via<'a> {
    Org(&'a str),
    Unspecified,
}

/// Which organizations a new or edited token is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrgChoice {
    /// Every organization its owner belongs to (a "global" PAT).
    All,
    /// One organization, by name.
    Org(String),
}

#[derive(Debug, Clone)]
pub struct CreatePat {
    pub display_name: Option<String>,
    pub scope: Option<String>,
    pub expiry: ExpiryChoice,
    pub target: OrgChoice,
}

/// `None` fields stay as they are.
#[derive(Debug, Clone)]
pub struct UpdatePat {
    pub authorization_id: Uuid,
    pub display_name: Option<String>,
    pub scope: Option<String>,
    pub expiry: ExpiryChoice,
    pub target: Option<OrgChoice>,
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
    /// A PAT's status now, with the configured inactivity rule.
    pub fn pat_status(&self, pat: &Pat) -> patrol_core::pat::PatStatus {
        pat.status(self.now(), self.policy.inactive_after)
    }

    fn mint(&self) -> Result<PatSecret, AppError> {
        token::mint(self.now(), &self.policy.mint, &mut rand::rngs::OsRng)
            .map_err(|e| AppError::Internal(format!("cannot mint a token: {e}")))
    }

    /// An organization by name that exists and the caller belongs to.
    async fn member_org(&self, caller: &Caller, name: &str) -> Result<Organization, AppError> {
        match self.store.member_org(caller.user.id, name).await? {
            None => Err(AppError::OrgNotFound(name.to_owned())),
            Some((org, false)) => Err(AppError::NotAMember(org.name)),
            Some((org, true)) => Ok(org),
        }
    }

    /// The organization named by `via`, checked; `None` when unspecified.
    async fn through(
        &self,
        caller: &Caller,
        via: Via<'_>,
    ) -> Result<Option<Organization>, AppError> {
        match via {
            Via::Org(name) => self.member_org(caller, name).await.map(Some),
            Via::Unspecified => Ok(None),
        }
    }

    /// The organizations the caller belongs to.
    pub async fn member_orgs(&self, caller: &Caller) -> Result<Vec<Organization>, AppError> {
        Ok(self.store.member_orgs(caller.user.id).await?)
    }

    /// Every organization (to name a token's organizations in listings).
    pub async fn list_orgs(&self) -> Result<Vec<Organization>, AppError> {
        Ok(self.store.list_orgs().await?)
    }

    /// Fetch a PAT the caller owns; anything else is "not found".
    async fn owned(&self, caller: &Caller, id: Uuid) -> Result<Pat, AppError> {
        match self.store.get_pat(id).await? {
            Some(p) if p.owner == caller.user.id => Ok(p),
            _ => Err(AppError::TokenNotFound),
        }
    }

    /// A PAT the caller may change through `via`: their own, not revoked,
    /// and — when it belongs to one organization — acted on through that
    /// organization (unspecified: it is picked, and must still be theirs).
    async fn editable(&self, caller: &Caller, via: Via<'_>, id: Uuid) -> Result<Pat, AppError> {
        let acting = self.through(caller, via).await?;
        let pat = self.owned(caller, id).await?;
        if pat.revoked_at.is_some() {
            return Err(AppError::TokenRevoked);
        }
        let allowed = match (&acting, &pat.target) {
            (Some(org), target) => target.allows(org.id),
            (None, OrgTarget::All) => true,
            (None, OrgTarget::Orgs(ids)) => {
                let member = self.member_orgs(caller).await?;
                member.iter().any(|o| ids.contains(&o.id))
            }
        };
        if !allowed {
            return Err(AppError::WrongOrganization);
        }
        Ok(pat)
    }

    /// Where a token asked for through `via` may be valid. A token for one
    /// organization is for the one the request came through, if any.
    async fn target_for(
        &self,
        caller: &Caller,
        acting: Option<&Organization>,
        choice: &OrgChoice,
    ) -> Result<OrgTarget, AppError> {
        match choice {
            OrgChoice::All => {
                if acting.is_none() && self.member_orgs(caller).await?.is_empty() {
                    return Err(AppError::NoOrganization);
                }
                Ok(OrgTarget::All)
            }
            OrgChoice::Org(name) => match acting {
                Some(org) if org.name.eq_ignore_ascii_case(name) => {
                    Ok(OrgTarget::Orgs(vec![org.id]))
                }
                Some(_) => Err(AppError::WrongOrganization),
                None => Ok(OrgTarget::Orgs(vec![
                    self.member_org(caller, name).await?.id,
                ])),
            },
        }
    }

    pub async fn create_pat(
        &self,
        caller: &Caller,
        via: Via<'_>,
        req: CreatePat,
    ) -> Result<(Pat, PatSecret), AppError> {
        let acting = self.through(caller, via).await?;
        let now = self.now();
        let name = DisplayName::parse(req.display_name.as_deref())?;
        let scopes = ScopeSet::parse_or_full(req.scope.as_deref())?;
        let policies = self.policies_in_force().await?;
        // No expiry asked: the default, shortened to what a lifespan policy allows.
        let key = caller.key();
        let cap = policies.tenant.lifespan_cap(&caller.principal(&key));
        let lifetime = self.policy.lifetime.with_default_at_most(cap);
        let valid_to = lifetime.resolve(req.expiry, None, now)?;
        let target = self
            .target_for(caller, acting.as_ref(), &req.target)
            .await?;
        let pat = Pat {
            authorization_id: Uuid::new_v4(),
            owner: caller.user.id,
            display_name: name.into_string(),
            scopes,
            target,
            valid_from: now,
            valid_to,
            created_at: now,
            revoked_at: None,
            first_used_at: None,
            last_used: None,
        };
        self.enforce(&policies, caller, &pat, AuditAction::PatCreate)
            .await?;
        let secret = self.mint()?;
        let hash = self.hasher.hash(&secret);
        let audit = promise(
            caller.audit(
                AuditAction::PatCreate,
                now,
                Some(pat.authorization_id),
                Outcome::Success,
                None,
            ),
            EventKind::Created,
            true,
            None,
        );
        // The store counts and inserts in one step, so the cap holds under
        // concurrent creates. The creation notices are queued in the same
        // transaction; should that fail, the token is stored with the
        // promise instead, which is kept after the commit or by the runner.
        let max = self.policy.max_active_per_user;
        let refused = |e| match e {
            StoreError::LimitReached => AppError::TooManyTokens(max),
            e => e.into(),
        };
        let told = match self.promised(&audit, &pat, &caller.user).await {
            Ok(notices) => match self
                .store
                .create_pat_telling(&pat, &hash, &audit, Some(max), &notices)
                .await
            {
                Err(StoreError::LimitReached) => return Err(AppError::TooManyTokens(max)),
                told => told.map_err(AppError::from),
            },
            Err(e) => Err(e),
        };
        if let Err(e) = told {
            tracing::warn!(error = %e, "could not queue the creation notices with the token");
            self.store
                .create_pat(&pat, &hash, &audit, Some(max))
                .await
                .map_err(refused)?;
            self.tell_kept(&audit, &pat, &caller.user).await;
        }
        Ok((pat, secret))
    }

    pub async fn get_pat(&self, caller: &Caller, via: Via<'_>, id: Uuid) -> Result<Pat, AppError> {
        self.through(caller, via).await?;
        self.owned(caller, id).await
    }

    pub async fn list_pats(
        &self,
        caller: &Caller,
        via: Via<'_>,
        req: ListRequest,
    ) -> Result<ListPage, AppError> {
        self.through(caller, via).await?;
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
                ended_after: Some(self.now() - self.policy.notify.retention),
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
        via: Via<'_>,
        req: UpdatePat,
    ) -> Result<Pat, AppError> {
        let now = self.now();
        let mut pat = self.editable(caller, via, req.authorization_id).await?;
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
            .resolve(req.expiry, Some(pat.valid_to), now)?;
        if valid_to != pat.valid_to {
            pat.valid_to = valid_to;
            changed.push("validTo");
        }
        if let Some(choice) = &req.target {
            pat.target = match (&pat.target, choice) {
                (_, OrgChoice::All) => OrgTarget::All,
                // An organization's token stays there (or widens to all).
                (OrgTarget::Orgs(ids), OrgChoice::Org(name)) => {
                    let org = self.member_org(caller, name).await?;
                    if !ids.contains(&org.id) {
                        return Err(AppError::CannotMoveOrganization);
                    }
                    OrgTarget::Orgs(vec![org.id])
                }
                (OrgTarget::All, OrgChoice::Org(_)) => {
                    let acting = self.through(caller, via).await?;
                    self.target_for(caller, acting.as_ref(), choice).await?
                }
            };
            changed.push("allOrgs");
        }
        let policies = self.policies_in_force().await?;
        self.enforce(&policies, caller, &pat, AuditAction::PatUpdate)
            .await?;
        let detail = (!changed.is_empty()).then(|| changed.join(","));
        let audit = promise(
            caller.audit(
                AuditAction::PatUpdate,
                now,
                Some(pat.authorization_id),
                Outcome::Success,
                detail,
            ),
            EventKind::Updated,
            true,
            None,
        );
        self.store.update_pat(&pat, &audit).await?;
        self.forget_verified(pat.authorization_id);
        self.tell(&[&audit]).await;
        Ok(pat)
    }

    /// A new secret for the same metadata; the old secret stops working at once.
    pub async fn regenerate_pat(
        &self,
        caller: &Caller,
        via: Via<'_>,
        id: Uuid,
    ) -> Result<(Pat, PatSecret), AppError> {
        let now = self.now();
        let pat = self.editable(caller, via, id).await?;
        let policies = self.policies_in_force().await?;
        self.enforce(&policies, caller, &pat, AuditAction::PatRegenerate)
            .await?;
        let secret = self.mint()?;
        let hash = self.hasher.hash(&secret);
        let audit = promise(
            caller.audit(
                AuditAction::PatRegenerate,
                now,
                Some(id),
                Outcome::Success,
                None,
            ),
            EventKind::Regenerated,
            true,
            None,
        );
        self.store.replace_secret(id, &hash, &audit).await?;
        self.forget_verified(id);
        self.tell_kept(&audit, &pat, &caller.user).await;
        Ok((pat, secret))
    }

    /// Revoke through any organization. Revoking twice is not an error.
    pub async fn revoke_pat(
        &self,
        caller: &Caller,
        via: Via<'_>,
        id: Uuid,
    ) -> Result<(), AppError> {
        self.through(caller, via).await?;
        let now = self.now();
        let pat = self.owned(caller, id).await?;
        let detail = pat
            .revoked_at
            .is_some()
            .then(|| "already revoked".to_owned());
        // The owner revoked it: subscribers hear of it; no email. Revoking
        // twice promises nothing (the store keeps the promise only when the
        // token was revoked now).
        let audit = promise(
            caller.audit(
                AuditAction::PatRevoke,
                now,
                Some(id),
                Outcome::Success,
                detail,
            ),
            EventKind::Revoked,
            false,
            Some("revoked by its owner"),
        );
        self.store.revoke_pat(id, now, &audit).await?;
        self.forget_verified(id);
        self.tell(&[&audit]).await;
        Ok(())
    }
}
