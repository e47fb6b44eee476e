//! A user's access: disabling (every PAT revoked — refused on the very next
//! verify —, every web session ended) and enabling again (revoked PATs stay
//! revoked), by a tenant administrator or the provisioning client (SCIM);
//! joining a provisioned record at sign-in; the interactive sign-in the
//! periodic sign-in rule reads.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use patrol_core::user::{AuditAction, AuditEvent, Outcome, User};
use patrol_store::AccessChange;

use super::{App, AppError, Caller};

/// Who changes a user's access, as the audit records name them.
#[derive(Debug, Clone)]
pub(crate) struct Actor {
    pub actor: String,
    pub actor_user: Option<Uuid>,
    pub client_id: Option<String>,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
}

impl Actor {
    pub(crate) fn event(
        &self,
        action: AuditAction,
        at: DateTime<Utc>,
        target_user: Option<Uuid>,
        detail: String,
    ) -> AuditEvent {
        AuditEvent {
            actor_user: self.actor_user,
            client_id: self.client_id.clone(),
            target_user,
            source_ip: self.source_ip.clone(),
            request_id: self.request_id.clone(),
            detail: Some(detail),
            ..AuditEvent::new(action, at, self.actor.clone(), Outcome::Success)
        }
    }
}

impl From<&Caller> for Actor {
    fn from(c: &Caller) -> Self {
        Actor {
            actor: c.key(),
            actor_user: Some(c.user.id),
            client_id: c.client_id.clone(),
            source_ip: c.source_ip.clone(),
            request_id: c.request_id.clone(),
        }
    }
}

impl App {
    /// Turn `user`'s access off (`disabled`) or on. Disabling revokes every
    /// PAT not yet revoked and ends every web session, even for a user
    /// already disabled (nothing may survive it); enabling an enabled user
    /// changes nothing. The verify cache forgets the owner and each PAT.
    pub(crate) async fn set_access(
        &self,
        actor: &Actor,
        user: &User,
        disabled: bool,
        why: &str,
    ) -> Result<(), AppError> {
        if !disabled && !user.disabled {
            return Ok(());
        }
        let now = self.now();
        let (action, detail) = match disabled {
            true => (AuditAction::UserDisable, why.to_owned()),
            false => (
                AuditAction::UserEnable,
                format!("{why}; revoked PATs stay revoked"),
            ),
        };
        let audit = actor.event(action, now, Some(user.id), detail);
        let revoke_audit = AuditEvent {
            target_user: Some(user.id),
            ..actor.event(
                AuditAction::PatRevoke,
                now,
                Some(user.id),
                format!("{why}: the owner was disabled"),
            )
        };
        let (revoked, _) = self
            .store
            .set_user_access(&AccessChange {
                user: user.id,
                disabled,
                at: now,
                audit: &audit,
                revoke_audit: &revoke_audit,
            })
            .await?;
        self.forget_verified_owner(user.id);
        for id in revoked {
            self.forget_verified(id);
        }
        Ok(())
    }

    /// A tenant administrator disables (or enables) a user from the API:
    /// the same effect as the provisioning client's deactivation.
    pub async fn admin_set_disabled(
        &self,
        caller: &Caller,
        user: Uuid,
        disabled: bool,
    ) -> Result<super::UserSummary, AppError> {
        if !caller.is_tenant_admin() {
            return Err(self
                .refuse_admin(caller, AppError::not_tenant_admin())
                .await);
        }
        let target = self
            .store
            .get_user(user)
            .await?
            .ok_or(AppError::UserNotFound)?;
        let why = match disabled {
            true => "disabled by an administrator",
            false => "enabled by an administrator",
        };
        self.set_access(&Actor::from(caller), &target, disabled, why)
            .await?;
        self.administered_user(caller, user).await
    }

    /// At sign-in: join the provisioned record that names this user (its
    /// `externalId` is their subject, else its `userName` one of `names`),
    /// if there is one not joined yet; a record provisioned as inactive
    /// disables them. Returns the user as they now are.
    pub(crate) async fn join_provisioned(
        &self,
        user: User,
        names: &[String],
    ) -> Result<User, AppError> {
        let Some(record) = self
            .store
            .scim_record_for_user(&user.subject, names)
            .await?
        else {
            return Ok(user);
        };
        match self.store.join_scim_user(record.id, user.id).await {
            Ok(true) => {}
            // Raced with another sign-in, or the user is joined to another record.
            Ok(false) | Err(patrol_store::StoreError::Conflict(_)) => return Ok(user),
            Err(e) => return Err(e.into()),
        }
        // Joining only ever takes access away: a user an administrator
        // disabled does not enable themselves by signing in.
        if record.data.is_active() || user.disabled {
            return Ok(user);
        }
        let actor = Actor {
            actor: "scim".into(),
            actor_user: None,
            client_id: None,
            source_ip: None,
            request_id: None,
        };
        self.set_access(
            &actor,
            &user,
            true,
            "provisioned as inactive; joined at sign-in",
        )
        .await?;
        Ok(self.store.get_user(user.id).await?.unwrap_or(user))
    }

    /// The web page's sign-in completed: the periodic sign-in rule counts
    /// from here (management-API calls do not). The next verify sees it.
    pub(crate) async fn note_interactive_sign_in(&self, user: Uuid) -> Result<(), AppError> {
        self.store
            .record_interactive_sign_in(user, self.now())
            .await?;
        self.forget_verified_owner(user);
        Ok(())
    }
}
