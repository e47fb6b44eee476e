//! Administration of users, memberships and other users' tokens
//! (docs/admin.md). Tenant administrators act on everything; an
//! organization's administrators on its members and on the tokens that
//! reach it (its own and global ones). Every change writes one audit record
//! per thing changed, naming the administrator as actor.

use chrono::DateTime;
use chrono::Utc;
use uuid::Uuid;

use patrol_core::descriptor::SubjectDescriptor;
use patrol_core::pat::{ListFilter, OrgTarget, Pat};
use patrol_core::roles::Roles;
use patrol_core::user::{AuditAction, AuditEvent, Organization, Outcome, User};
use patrol_store::{AdminPatQuery, UserEntry, UserQuery};

use super::notify::{promise, EventKind};
use super::{App, AppError, Caller};

/// A user as administration shows them.
#[derive(Debug, Clone)]
pub struct UserSummary {
    pub user: User,
    /// How the Token Admin API names them.
    pub descriptor: SubjectDescriptor,
    pub roles: Roles,
    pub groups: Vec<String>,
    pub member_of: Vec<Organization>,
}

/// Which users to list.
#[derive(Debug, Clone, Default)]
pub struct UsersRequest {
    /// Members of this organization (required unless a tenant administrator asks).
    pub org: Option<String>,
    pub offset: u64,
    pub limit: u32,
}

#[derive(Debug, Clone)]
pub struct UsersPage {
    pub users: Vec<UserSummary>,
    pub next_offset: Option<u64>,
}

impl Caller {
    /// An administrator's audit record about `target_user` / `target_pat`.
    pub(crate) fn admin_audit(
        &self,
        action: AuditAction,
        at: DateTime<Utc>,
        target_user: Option<Uuid>,
        target_pat: Option<Uuid>,
        detail: String,
    ) -> AuditEvent {
        AuditEvent {
            target_user,
            ..self.audit(action, at, target_pat, Outcome::Success, Some(detail))
        }
    }
}

impl App {
    pub(crate) fn summary(&self, e: UserEntry) -> UserSummary {
        let access = self.access_from(&e.user, &e.claims, true);
        UserSummary {
            descriptor: SubjectDescriptor::of(&e.user),
            roles: access.roles,
            groups: access.groups,
            member_of: e.member_of,
            user: e.user,
        }
    }

    /// Users, by name: a tenant administrator's whole list, or the members
    /// of an organization the caller administers.
    pub async fn admin_users(
        &self,
        caller: &Caller,
        req: UsersRequest,
    ) -> Result<UsersPage, AppError> {
        let org = match &req.org {
            Some(name) => Some(self.administered_org(caller, name).await?.id),
            None if caller.is_tenant_admin() => None,
            None => {
                return Err(self
                    .refuse_admin(caller, AppError::not_tenant_admin())
                    .await)
            }
        };
        let limit = req.limit.clamp(1, 1000);
        let q = UserQuery {
            org,
            subject: None,
            offset: req.offset,
            limit: limit + 1,
        };
        let mut users = self.store.list_users(&q).await?;
        let more = users.len() > limit as usize;
        users.truncate(limit as usize);
        Ok(UsersPage {
            users: users.into_iter().map(|e| self.summary(e)).collect(),
            next_offset: more.then(|| req.offset + u64::from(limit)),
        })
    }

    /// One user, for a caller who administers the tenant or an organization
    /// the user belongs to; anyone else learns nothing (not found).
    pub(crate) async fn administered_user(
        &self,
        caller: &Caller,
        id: Uuid,
    ) -> Result<UserSummary, AppError> {
        if !caller.is_admin() {
            return Err(self
                .refuse_admin(caller, AppError::NotAnAdmin("any organization".into()))
                .await);
        }
        let user = self
            .store
            .get_user(id)
            .await?
            .ok_or(AppError::UserNotFound)?;
        let claims = self.store.user_claims(id).await?;
        let member_of = self.store.member_orgs(id).await?;
        let visible =
            caller.is_tenant_admin() || member_of.iter().any(|o| caller.administers(&o.name));
        if !visible {
            return Err(AppError::UserNotFound);
        }
        Ok(self.summary(UserEntry {
            user,
            claims,
            member_of,
        }))
    }

    /// Add a known user to an organization the caller administers (undoing
    /// an earlier removal). True when they were not a member yet.
    pub async fn add_member(
        &self,
        caller: &Caller,
        org: &str,
        user: Uuid,
    ) -> Result<bool, AppError> {
        self.change_membership(caller, org, user, true).await
    }

    /// Remove a user from an organization the caller administers; auto-join
    /// never adds them back. Their tokens stop working there at once.
    pub async fn remove_member(
        &self,
        caller: &Caller,
        org: &str,
        user: Uuid,
    ) -> Result<bool, AppError> {
        self.change_membership(caller, org, user, false).await
    }

    /// One membership change, audited in the same transaction; the verify
    /// cache forgets the user so their tokens follow at once. True when it
    /// changed something.
    async fn change_membership(
        &self,
        caller: &Caller,
        org: &str,
        user: Uuid,
        add: bool,
    ) -> Result<bool, AppError> {
        let org = self.administered_org(caller, org).await?;
        let target = self
            .store
            .get_user(user)
            .await?
            .ok_or(AppError::UserNotFound)?;
        let member = self.store.is_member(target.id, org.id).await?;
        let (action, note) = match (add, member) {
            (true, true) => (AuditAction::AdminMemberAdd, "; already a member"),
            (true, false) => (AuditAction::AdminMemberAdd, ""),
            (false, true) => (AuditAction::AdminMemberRemove, ""),
            (false, false) => (AuditAction::AdminMemberRemove, "; was not a member"),
        };
        let detail = format!("organization {}{note}", org.name);
        let ev = caller.admin_audit(action, self.now(), Some(target.id), None, detail);
        let changed = if add {
            self.store.admin_add_member(target.id, org.id, &ev).await?
        } else {
            self.store
                .admin_remove_member(target.id, org.id, &ev)
                .await?
        };
        self.forget_verified_owner(target.id);
        Ok(changed)
    }

    /// Does `pat` reach an organization the caller administers? (Tenant
    /// administrators: every token.) A global token reaches the
    /// organizations its owner belongs to, as policies see it.
    pub(crate) async fn administers_pat(
        &self,
        caller: &Caller,
        pat: &Pat,
    ) -> Result<bool, AppError> {
        if caller.is_tenant_admin() {
            return Ok(true);
        }
        if !caller.is_admin() {
            return Ok(false);
        }
        let reached = match &pat.target {
            OrgTarget::All => self.store.member_orgs(pat.owner).await?,
            OrgTarget::Orgs(ids) => self
                .store
                .list_orgs()
                .await?
                .into_iter()
                .filter(|o| ids.contains(&o.id))
                .collect(),
        };
        Ok(reached.iter().any(|o| caller.administers(&o.name)))
    }

    /// A user's tokens (newest id order is meaningless: by id), as far as
    /// the caller administers them.
    pub async fn admin_user_pats(
        &self,
        caller: &Caller,
        user: Uuid,
        filter: ListFilter,
    ) -> Result<(UserSummary, Vec<Pat>), AppError> {
        let summary = self.administered_user(caller, user).await?;
        let q = AdminPatQuery {
            owners: vec![user],
            org: None,
            filter,
            now: self.now(),
            from: None,
            limit: u32::MAX,
        };
        let mut visible = Vec::new();
        for pat in self.store.list_pats_admin(&q).await? {
            if self.administers_pat(caller, &pat).await? {
                visible.push(pat);
            }
        }
        Ok((summary, visible))
    }

    /// Revoke any user's token the caller administers. Revoking a revoked
    /// token is not an error (and is recorded). Seen by the very next verify.
    pub async fn admin_revoke_pat(&self, caller: &Caller, id: Uuid) -> Result<(), AppError> {
        if !caller.is_admin() {
            return Err(self
                .refuse_admin(caller, AppError::NotAnAdmin("any organization".into()))
                .await);
        }
        let pat = match self.store.get_pat(id).await? {
            Some(p) if self.administers_pat(caller, &p).await? => p,
            _ => return Err(AppError::TokenNotFound),
        };
        self.revoke_as_admin(caller, &[pat], "revoked by an administrator")
            .await?;
        Ok(())
    }

    /// Revoke `pats` for an administrator: one `pat.revoke` record each
    /// (owner as target user), one transaction, verify cache forgotten.
    pub(crate) async fn revoke_as_admin(
        &self,
        caller: &Caller,
        pats: &[Pat],
        why: &str,
    ) -> Result<u64, AppError> {
        let now = self.now();
        let revocations: Vec<(Uuid, AuditEvent)> = pats
            .iter()
            .map(|p| {
                let detail = match p.revoked_at {
                    Some(_) => format!("{why}; already revoked"),
                    None => why.to_owned(),
                };
                let ev = caller.admin_audit(
                    AuditAction::PatRevoke,
                    now,
                    Some(p.owner),
                    Some(p.authorization_id),
                    detail,
                );
                (
                    p.authorization_id,
                    promise(ev, EventKind::Revoked, true, Some(why)),
                )
            })
            .collect();
        let n = self.store.revoke_many(now, &revocations, None).await?;
        for p in pats {
            self.forget_verified(p.authorization_id);
        }
        let records: Vec<&AuditEvent> = revocations.iter().map(|(_, ev)| ev).collect();
        self.tell(&records).await;
        Ok(n)
    }
}
