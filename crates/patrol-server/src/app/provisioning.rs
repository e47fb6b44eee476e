//! Provisioning (SCIM 2.0, docs/scim.md): the identity provider pushes
//! joiners, changes and leavers. A provisioned record is joined to the
//! Patrol user it names — by `externalId` = their subject, else `userName`
//! = their email — when it is created, or at that user's first sign-in.
//! Deactivating (`active: false`) or deleting it disables the user: every
//! PAT revoked, every web session ended (`users.rs`). The provisioning
//! client is named `scim|token-N` (N: which configured secret it used) in
//! every audit record.

use serde_json::{Map, Value};
use uuid::Uuid;

use patrol_core::scim::filter::Filter;
use patrol_core::scim::patch::Operation;
use patrol_core::scim::{ScimError, ScimUser, UserData};
use patrol_core::user::AuditAction;
use patrol_store::{ScimLookup, StoreError};

use super::admission::{AuthFailure, RequestCtx};
use super::users::Actor;
use super::verify::ResourceServers;
use super::{App, AppError};

/// The provisioning client, authenticated.
#[derive(Debug, Clone)]
pub struct ScimClient {
    actor: Actor,
}

/// Why a SCIM request was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimAuthFailure {
    /// SCIM is not enabled (`[scim] enabled`): answered 404.
    Disabled,
    /// Wrong or missing bearer secret: 401.
    Invalid,
    /// Too many failures from this address: 429.
    Limited { retry_after_secs: u64 },
}

/// A page of a list request; `start_index` is 1-based (RFC 7644 §3.4.2.4).
#[derive(Debug, Clone)]
pub struct ScimListRequest {
    pub filter: Option<Filter>,
    pub start_index: u64,
    pub count: u64,
}

#[derive(Debug, Clone)]
pub struct ScimPage {
    pub total: u64,
    pub start_index: u64,
    pub users: Vec<ScimUser>,
}

/// Most resources one list answer holds (`ServiceProviderConfig` says so).
pub const MAX_SCIM_PAGE: u64 = 200;

/// The configured bearer secrets, as `token-1`, `token-2`, … (rotation).
pub(crate) fn scim_secrets(tokens: Vec<secrecy::SecretString>) -> ResourceServers {
    ResourceServers::new(
        tokens
            .into_iter()
            .enumerate()
            .map(|(i, t)| (format!("token-{}", i + 1), t))
            .collect(),
    )
}

/// A resource's JSON as filters see it: its attributes and its id.
pub fn filterable(u: &ScimUser) -> Map<String, Value> {
    let mut m = u.data.to_object();
    m.insert("id".into(), Value::String(u.id.to_string()));
    m
}

impl App {
    /// Is SCIM on at all?
    pub fn scim_enabled(&self) -> bool {
        self.scim.is_some()
    }

    /// Authenticate the provisioning client by its bearer secret (compared
    /// in constant time against every configured one). Failures count
    /// against the address like failed management-API authentications, and
    /// are audited the same flood-proof way.
    pub async fn authenticate_scim(
        &self,
        bearer: Option<&str>,
        ctx: &RequestCtx,
    ) -> Result<ScimClient, ScimAuthFailure> {
        let Some(secrets) = self.scim.as_deref() else {
            return Err(ScimAuthFailure::Disabled);
        };
        self.check_auth_limit(ctx)
            .map_err(|s| ScimAuthFailure::Limited {
                retry_after_secs: s,
            })?;
        match bearer.and_then(|b| secrets.identify(b)) {
            Some(id) => Ok(ScimClient {
                actor: Actor {
                    actor: format!("scim|{id}"),
                    actor_user: None,
                    client_id: None,
                    source_ip: ctx.source_ip.map(|i| i.to_string()),
                    request_id: ctx.request_id.clone(),
                },
            }),
            None => {
                self.note_auth_failure(AuthFailure::ScimSecret, ctx).await;
                Err(ScimAuthFailure::Invalid)
            }
        }
    }

    pub async fn scim_get(&self, _c: &ScimClient, id: Uuid) -> Result<ScimUser, AppError> {
        self.store
            .get_scim_user(id)
            .await?
            .ok_or(AppError::UserNotFound)
    }

    /// Records matching the filter, oldest first, one page. `userName eq`
    /// and `externalId eq` (what Entra ID and Okta ask) are index lookups.
    pub async fn scim_list(
        &self,
        _c: &ScimClient,
        req: &ScimListRequest,
    ) -> Result<ScimPage, AppError> {
        let lookup = match &req.filter {
            Some(f) => match (f.equality_on("userName"), f.equality_on("externalId")) {
                (Some(n), _) => ScimLookup::UserName(n.to_owned()),
                (_, Some(e)) => ScimLookup::ExternalId(e.to_owned()),
                _ => ScimLookup::All,
            },
            None => ScimLookup::All,
        };
        let all = self.store.list_scim_users(&lookup).await?;
        let matching: Vec<ScimUser> = match &req.filter {
            Some(f) => all
                .into_iter()
                .filter(|u| f.matches(&filterable(u)))
                .collect(),
            None => all,
        };
        let total = matching.len() as u64;
        let start_index = req.start_index.max(1);
        let users = matching
            .into_iter()
            .skip(usize::try_from(start_index - 1).unwrap_or(usize::MAX))
            .take(usize::try_from(req.count.min(MAX_SCIM_PAGE)).unwrap_or(0))
            .collect();
        Ok(ScimPage {
            total,
            start_index,
            users,
        })
    }

    /// A new record, joined to the signed-in user it names (if any), whose
    /// access then follows `active`.
    pub async fn scim_create(&self, c: &ScimClient, data: UserData) -> Result<ScimUser, AppError> {
        let now = self.now();
        let joined = self
            .store
            .user_for_scim_record(data.external_id.as_deref(), &data.user_name)
            .await?;
        let record = ScimUser {
            id: Uuid::new_v4(),
            data,
            user_id: joined.as_ref().map(|u| u.id),
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let ev = c.actor.event(
            AuditAction::ScimUserCreate,
            now,
            record.user_id,
            detail(&record, "created"),
        );
        self.store
            .create_scim_user(&record, &ev)
            .await
            .map_err(uniqueness)?;
        if let Some(user) = joined {
            self.follow_active(c, &record, &user).await?;
        }
        Ok(record)
    }

    /// Replace a record's attributes (PUT).
    pub async fn scim_replace(
        &self,
        c: &ScimClient,
        id: Uuid,
        data: UserData,
    ) -> Result<ScimUser, AppError> {
        let old = self.scim_get(c, id).await?;
        self.scim_save(c, old, data).await
    }

    /// Apply PATCH operations to a record (all or nothing).
    pub async fn scim_patch(
        &self,
        c: &ScimClient,
        id: Uuid,
        ops: &[Operation],
    ) -> Result<ScimUser, AppError> {
        let old = self.scim_get(c, id).await?;
        let data = patrol_core::scim::patch::apply(&old.data, ops)?;
        self.scim_save(c, old, data).await
    }

    async fn scim_save(
        &self,
        c: &ScimClient,
        old: ScimUser,
        data: UserData,
    ) -> Result<ScimUser, AppError> {
        let now = self.now();
        let user = match old.user_id {
            Some(u) => self.store.get_user(u).await?,
            None => {
                self.store
                    .user_for_scim_record(data.external_id.as_deref(), &data.user_name)
                    .await?
            }
        };
        let record = ScimUser {
            data,
            user_id: user.as_ref().map(|u| u.id),
            updated_at: now,
            version: old.version + 1,
            ..old
        };
        let ev = c.actor.event(
            AuditAction::ScimUserUpdate,
            now,
            record.user_id,
            detail(&record, "updated"),
        );
        self.store
            .update_scim_user(&record, &ev)
            .await
            .map_err(uniqueness)?;
        if let Some(user) = user {
            self.follow_active(c, &record, &user).await?;
        }
        Ok(record)
    }

    /// Delete a record; the user it was joined to is disabled.
    pub async fn scim_delete(&self, c: &ScimClient, id: Uuid) -> Result<(), AppError> {
        let record = self.scim_get(c, id).await?;
        let ev = c.actor.event(
            AuditAction::ScimUserDelete,
            self.now(),
            record.user_id,
            detail(&record, "deleted"),
        );
        if !self.store.delete_scim_user(id, &ev).await? {
            return Err(AppError::UserNotFound);
        }
        if let Some(user) = match record.user_id {
            Some(u) => self.store.get_user(u).await?,
            None => None,
        } {
            self.set_access(&c.actor, &user, true, "deleted by the provisioning client")
                .await?;
        }
        Ok(())
    }

    /// The joined user's access follows the record's `active` — compared
    /// with the user as stored, so a retried request finishes the job.
    async fn follow_active(
        &self,
        c: &ScimClient,
        record: &ScimUser,
        user: &patrol_core::user::User,
    ) -> Result<(), AppError> {
        if record.data.is_active() != user.disabled {
            return Ok(());
        }
        let why = match record.data.is_active() {
            true => "reactivated by the provisioning client",
            false => "deactivated by the provisioning client",
        };
        self.set_access(&c.actor, user, !record.data.is_active(), why)
            .await
    }
}

fn detail(r: &ScimUser, what: &str) -> String {
    format!("SCIM user {} {what} (active: {})", r.id, r.data.is_active())
}

fn uniqueness(e: StoreError) -> AppError {
    match e {
        StoreError::Conflict(_) => {
            AppError::Scim(ScimError::Uniqueness("userName is already taken".into()))
        }
        StoreError::NotFound => AppError::UserNotFound,
        e => e.into(),
    }
}
