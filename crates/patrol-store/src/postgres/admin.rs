//! Administration's users: remembered claims, listings, and memberships as
//! administrators and `auto_join` change them (a removal sticks).

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use patrol_core::roles::RememberedClaims;
use patrol_core::user::AuditEvent;

use super::{audit, MEMBER_OF_SQL};
use crate::rows::{claims_from_json, convert_all, qualified, us, UserEntryRow, USER_COLUMNS};
use crate::{StoreError, StoreResult, UserEntry, UserQuery};

pub(super) async fn user_claims(pool: &PgPool, user: Uuid) -> StoreResult<RememberedClaims> {
    let text: Option<String> =
        sqlx::query_scalar("SELECT claims FROM user_claims WHERE user_id = $1")
            .bind(user.to_string())
            .fetch_optional(pool)
            .await?;
    claims_from_json(text.as_deref())
}

pub(super) async fn set_user_claims(
    pool: &PgPool,
    user: Uuid,
    claims: &RememberedClaims,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let json = serde_json::to_string(claims).map_err(|e| StoreError::Backend(e.to_string()))?;
    sqlx::query(
        "INSERT INTO user_claims (user_id, claims, updated_at_us) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO UPDATE SET claims = EXCLUDED.claims, \
         updated_at_us = EXCLUDED.updated_at_us",
    )
    .bind(user.to_string())
    .bind(json)
    .bind(us(now))
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) async fn list_users(pool: &PgPool, q: &UserQuery) -> StoreResult<Vec<UserEntry>> {
    // lower() of a COLLATE "C" column folds ASCII only, as SQLite's does.
    let sql = format!(
        "SELECT {}, c.claims AS claims, {MEMBER_OF_SQL} AS member_of \
         FROM users u LEFT JOIN user_claims c ON c.user_id = u.id \
         WHERE ($1::TEXT IS NULL OR EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = u.id AND m.org_id = $1)) \
         AND ($2::TEXT IS NULL OR lower(u.subject) = lower($2 COLLATE \"C\")) \
         ORDER BY lower(u.display_name), u.id LIMIT $3 OFFSET $4",
        qualified("u", USER_COLUMNS),
    );
    let rows: Vec<UserEntryRow> = sqlx::query_as(&sql)
        .persistent(false)
        .bind(q.org.map(|o| o.to_string()))
        .bind(q.subject.as_deref())
        .bind(i64::from(q.limit))
        .bind(i64::try_from(q.offset).unwrap_or(i64::MAX))
        .fetch_all(pool)
        .await?;
    convert_all(rows)
}

/// Undo a removal and join, with the audit record, in one transaction.
pub(super) async fn admin_add_member(
    pool: &PgPool,
    user: Uuid,
    org: Uuid,
    ev: &AuditEvent,
) -> StoreResult<bool> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM membership_removals WHERE user_id = $1 AND org_id = $2")
        .bind(user.to_string())
        .bind(org.to_string())
        .execute(&mut *tx)
        .await?;
    let added = sqlx::query(
        "INSERT INTO memberships (user_id, org_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(user.to_string())
    .bind(org.to_string())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    audit::insert(&mut tx, ev, true).await?;
    tx.commit().await?;
    Ok(added > 0)
}

/// Leave and remember the removal, with the audit record, in one transaction.
pub(super) async fn admin_remove_member(
    pool: &PgPool,
    user: Uuid,
    org: Uuid,
    ev: &AuditEvent,
) -> StoreResult<bool> {
    let mut tx = pool.begin().await?;
    let removed = sqlx::query("DELETE FROM memberships WHERE user_id = $1 AND org_id = $2")
        .bind(user.to_string())
        .bind(org.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    sqlx::query(
        "INSERT INTO membership_removals (user_id, org_id, removed_at_us) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(user.to_string())
    .bind(org.to_string())
    .bind(us(ev.at))
    .execute(&mut *tx)
    .await?;
    audit::insert(&mut tx, ev, true).await?;
    tx.commit().await?;
    Ok(removed > 0)
}

pub(super) async fn join_unless_removed(pool: &PgPool, user: Uuid, org: Uuid) -> StoreResult<bool> {
    let r = sqlx::query(
        "INSERT INTO memberships (user_id, org_id) SELECT $1, $2 WHERE NOT EXISTS \
         (SELECT 1 FROM membership_removals WHERE user_id = $1 AND org_id = $2) \
         ON CONFLICT DO NOTHING",
    )
    .bind(user.to_string())
    .bind(org.to_string())
    .execute(pool)
    .await?;
    Ok(r.rows_affected() > 0)
}

pub(super) async fn join_all_unless_removed(pool: &PgPool, org: Uuid) -> StoreResult<u64> {
    let r = sqlx::query(
        "INSERT INTO memberships (user_id, org_id) SELECT u.id, $1 FROM users u WHERE NOT EXISTS \
         (SELECT 1 FROM membership_removals r WHERE r.user_id = u.id AND r.org_id = $1) \
         ON CONFLICT DO NOTHING",
    )
    .bind(org.to_string())
    .execute(pool)
    .await?;
    Ok(r.rows_affected())
}
