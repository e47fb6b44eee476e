//! Provisioned (SCIM) users, joining them to signed-in users, and turning a
//! user's access off and on (disable: PATs revoked, web sessions ended).

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use uuid::Uuid;

use patrol_core::scim::ScimUser;
use patrol_core::user::{AuditEvent, User};

use super::audit;
use crate::common::{access_event, access_revoke_event};
use crate::rows::{convert_all, us, uuid, ScimUserRow, UserRow, SCIM_COLUMNS, USER_COLUMNS};
use crate::{AccessChange, ScimLookup, StoreError, StoreResult};

fn attributes_json(u: &ScimUser) -> StoreResult<String> {
    serde_json::to_string(&u.data.attributes).map_err(|e| StoreError::Backend(e.to_string()))
}

pub(super) async fn create(pool: &SqlitePool, u: &ScimUser, ev: &AuditEvent) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO scim_users (id, user_name, user_name_lower, external_id, active, attributes, \
         user_id, created_at_us, updated_at_us, version) VALUES (?,?,?,?,?,?,?,?,?,?)",
    )
    .bind(u.id.to_string())
    .bind(&u.data.user_name)
    .bind(u.data.user_name.to_lowercase())
    .bind(&u.data.external_id)
    .bind(u.data.active)
    .bind(attributes_json(u)?)
    .bind(u.user_id.map(|i| i.to_string()))
    .bind(us(u.created_at))
    .bind(us(u.updated_at))
    .bind(i64::try_from(u.version).unwrap_or(i64::MAX))
    .execute(&mut *tx)
    .await?;
    audit::insert(&mut tx, ev, true).await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn get(pool: &SqlitePool, id: Uuid) -> StoreResult<Option<ScimUser>> {
    let row: Option<ScimUserRow> = sqlx::query_as(&format!(
        "SELECT {SCIM_COLUMNS} FROM scim_users WHERE id = ?"
    ))
    .bind(id.to_string())
    .fetch_optional(pool)
    .await?;
    row.map(ScimUser::try_from).transpose()
}

pub(super) async fn list(pool: &SqlitePool, lookup: &ScimLookup) -> StoreResult<Vec<ScimUser>> {
    let base = format!("SELECT {SCIM_COLUMNS} FROM scim_users");
    let order = "ORDER BY created_at_us, id";
    let rows: Vec<ScimUserRow> = match lookup {
        ScimLookup::All => {
            sqlx::query_as(&format!("{base} {order}"))
                .fetch_all(pool)
                .await?
        }
        ScimLookup::UserName(n) => {
            sqlx::query_as(&format!("{base} WHERE user_name_lower = ? {order}"))
                .bind(n.to_lowercase())
                .fetch_all(pool)
                .await?
        }
        ScimLookup::ExternalId(e) => {
            sqlx::query_as(&format!("{base} WHERE external_id = ? {order}"))
                .bind(e)
                .fetch_all(pool)
                .await?
        }
        ScimLookup::JoinedTo(user) => {
            sqlx::query_as(&format!("{base} WHERE user_id = ? {order}"))
                .bind(user.to_string())
                .fetch_all(pool)
                .await?
        }
    };
    convert_all(rows)
}

pub(super) async fn update(pool: &SqlitePool, u: &ScimUser, ev: &AuditEvent) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    let changed = sqlx::query(
        "UPDATE scim_users SET user_name = ?, user_name_lower = ?, external_id = ?, active = ?, \
         attributes = ?, user_id = ?, updated_at_us = ?, version = ? WHERE id = ?",
    )
    .bind(&u.data.user_name)
    .bind(u.data.user_name.to_lowercase())
    .bind(&u.data.external_id)
    .bind(u.data.active)
    .bind(attributes_json(u)?)
    .bind(u.user_id.map(|i| i.to_string()))
    .bind(us(u.updated_at))
    .bind(i64::try_from(u.version).unwrap_or(i64::MAX))
    .bind(u.id.to_string())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    audit::insert(&mut tx, ev, true).await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn delete(pool: &SqlitePool, id: Uuid, ev: &AuditEvent) -> StoreResult<bool> {
    let mut tx = pool.begin().await?;
    let changed = sqlx::query("DELETE FROM scim_users WHERE id = ?")
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if changed == 0 {
        return Ok(false);
    }
    audit::insert(&mut tx, ev, true).await?;
    tx.commit().await?;
    Ok(true)
}

/// A signed-in user a provisioned record names: by subject (the
/// `externalId`), else by an email the issuer vouched for = `userName`
/// (case-insensitive; an unverified one could be anybody's); users
/// already joined to a record are not candidates.
pub(super) async fn user_for_record(
    pool: &SqlitePool,
    external_id: Option<&str>,
    user_name: &str,
) -> StoreResult<Option<User>> {
    let free = "NOT EXISTS (SELECT 1 FROM scim_users s WHERE s.user_id = users.id)";
    if let Some(ext) = external_id {
        let row: Option<UserRow> = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE subject = ? AND {free} \
             ORDER BY created_at_us LIMIT 1"
        ))
        .bind(ext)
        .fetch_optional(pool)
        .await?;
        if let Some(r) = row {
            return Ok(Some(r.try_into()?));
        }
    }
    let row: Option<UserRow> = sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE lower(email) = ? AND email_verified = 1 AND {free} \
         ORDER BY created_at_us LIMIT 1"
    ))
    .bind(user_name.to_lowercase())
    .fetch_optional(pool)
    .await?;
    row.map(User::try_from).transpose()
}

/// The unjoined record a signing-in user matches: by `externalId` = their
/// subject first, else by `userName` = one of `names`.
pub(super) async fn record_for_user(
    pool: &SqlitePool,
    subject: &str,
    names: &[String],
) -> StoreResult<Option<ScimUser>> {
    let row: Option<ScimUserRow> = sqlx::query_as(&format!(
        "SELECT {SCIM_COLUMNS} FROM scim_users WHERE user_id IS NULL AND external_id = ? \
         ORDER BY created_at_us LIMIT 1"
    ))
    .bind(subject)
    .fetch_optional(pool)
    .await?;
    if let Some(r) = row {
        return Ok(Some(r.try_into()?));
    }
    for name in names {
        let row: Option<ScimUserRow> = sqlx::query_as(&format!(
            "SELECT {SCIM_COLUMNS} FROM scim_users WHERE user_id IS NULL \
             AND user_name_lower = ? AND external_id IS NULL LIMIT 1"
        ))
        .bind(name.to_lowercase())
        .fetch_optional(pool)
        .await?;
        if let Some(r) = row {
            return Ok(Some(r.try_into()?));
        }
    }
    Ok(None)
}

/// Join record `id` to `user` (only while it is unjoined).
pub(super) async fn join(pool: &SqlitePool, id: Uuid, user: Uuid) -> StoreResult<bool> {
    let r = sqlx::query("UPDATE scim_users SET user_id = ? WHERE id = ? AND user_id IS NULL")
        .bind(user.to_string())
        .bind(id.to_string())
        .execute(pool)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Disable or enable `user` with its audit record, one transaction.
/// Disabling also revokes every PAT of theirs not revoked yet (one record
/// each, `revoke_audit` with the PAT and a fresh id) and ends every web
/// session. Returns the PATs revoked and the number of sessions ended.
pub(super) async fn set_access(
    pool: &SqlitePool,
    change: &AccessChange<'_>,
) -> StoreResult<(Vec<Uuid>, u64)> {
    let mut tx = pool.begin().await?;
    let changed = sqlx::query("UPDATE users SET disabled = ? WHERE id = ?")
        .bind(change.disabled)
        .bind(change.user.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    let mut revoked = Vec::new();
    let mut sessions = 0;
    if change.disabled {
        let ids: Vec<String> = sqlx::query_scalar(
            "UPDATE pats SET revoked_at_us = ? WHERE owner_id = ? AND revoked_at_us IS NULL \
             RETURNING authorization_id",
        )
        .bind(us(change.at))
        .bind(change.user.to_string())
        .fetch_all(&mut *tx)
        .await?;
        for id in ids {
            let id = uuid(&id)?;
            audit::insert(&mut tx, &access_revoke_event(change, id), true).await?;
            revoked.push(id);
        }
        sessions = sqlx::query("DELETE FROM web_sessions WHERE user_id = ?")
            .bind(change.user.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
    }
    let ev = access_event(change, revoked.len(), sessions);
    audit::insert(&mut tx, &ev, true).await?;
    tx.commit().await?;
    Ok((revoked, sessions))
}

pub(super) async fn record_interactive_sign_in(
    pool: &SqlitePool,
    user: Uuid,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query("UPDATE users SET last_interactive_sign_in_us = ? WHERE id = ?")
        .bind(us(at))
        .bind(user.to_string())
        .execute(pool)
        .await?;
    Ok(())
}
