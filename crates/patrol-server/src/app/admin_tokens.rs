//! What the admin web pages need beyond the admin API's use cases: a gate
//! for pages that are administrators' only, finding a user by name or key,
//! one token an administrator may act on, and revoking all of a user's
//! tokens at once. The rules are those of `admin.rs`: tenant administrators
//! see everyone, an organization's administrators its members and the
//! tokens that reach it.

use uuid::Uuid;

use patrol_core::pat::{ListFilter, Pat};
use patrol_core::roles::user_key;
use patrol_core::user::Organization;

use super::admin::UserSummary;
use super::{App, AppError, Caller};

/// Most users a search returns.
pub const MAX_FOUND_USERS: usize = 200;

impl App {
    /// Administrators only (of the tenant or of any organization); anyone
    /// else is refused, and the refusal audited like every admin refusal.
    pub async fn require_admin(&self, caller: &Caller) -> Result<(), AppError> {
        if caller.is_admin() {
            return Ok(());
        }
        Err(self
            .refuse_admin(caller, AppError::NotAnAdmin("any organization".into()))
            .await)
    }

    /// The organizations the caller administers, by name.
    pub async fn administered_orgs(&self, caller: &Caller) -> Result<Vec<Organization>, AppError> {
        self.require_admin(caller).await?;
        let mut orgs: Vec<Organization> = self
            .store
            .list_orgs()
            .await?
            .into_iter()
            .filter(|o| caller.administers(&o.name))
            .collect();
        orgs.sort_by_key(|o| o.name.to_lowercase());
        Ok(orgs)
    }

    /// The users the caller administers whose name, e-mail, key or id
    /// contains `text` (case-insensitive; everyone visible when empty), by
    /// name, at most [`MAX_FOUND_USERS`].
    pub async fn find_users(
        &self,
        caller: &Caller,
        text: &str,
    ) -> Result<Vec<UserSummary>, AppError> {
        self.require_admin(caller).await?;
        let needle = text.trim().to_lowercase();
        let mut found: Vec<UserSummary> = self
            .all_users()
            .await?
            .into_values()
            .filter(|e| {
                caller.is_tenant_admin() || e.member_of.iter().any(|o| caller.administers(&o.name))
            })
            .filter(|e| {
                let u = &e.user;
                needle.is_empty()
                    || u.display_name.to_lowercase().contains(&needle)
                    || u.email
                        .as_deref()
                        .is_some_and(|m| m.to_lowercase().contains(&needle))
                    || user_key(&u.issuer, &u.subject)
                        .to_lowercase()
                        .contains(&needle)
                    || u.id.to_string() == needle
            })
            .map(|e| self.summary(e))
            .collect();
        found.sort_by(|a, b| {
            (a.user.display_name.to_lowercase(), a.user.id)
                .cmp(&(b.user.display_name.to_lowercase(), b.user.id))
        });
        found.truncate(MAX_FOUND_USERS);
        Ok(found)
    }

    /// One token the caller administers; any other is "not found".
    pub async fn admin_pat(&self, caller: &Caller, id: Uuid) -> Result<Pat, AppError> {
        self.require_admin(caller).await?;
        match self.store.get_pat(id).await? {
            Some(p) if self.administers_pat(caller, &p).await? => Ok(p),
            _ => Err(AppError::TokenNotFound),
        }
    }

    /// Revoke every active token of `user` the caller administers: one
    /// `pat.revoke` record each. The number revoked.
    pub async fn admin_revoke_user_pats(
        &self,
        caller: &Caller,
        user: Uuid,
    ) -> Result<u64, AppError> {
        let (_, pats) = self
            .admin_user_pats(caller, user, ListFilter::Active)
            .await?;
        if pats.is_empty() {
            return Ok(0);
        }
        self.revoke_as_admin(
            caller,
            &pats,
            "revoked by an administrator (all of the user's tokens)",
        )
        .await
    }
}
