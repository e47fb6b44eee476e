//! Users, organizations and memberships.

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use uuid::Uuid;

use patrol_core::user::{Organization, User, UserClaims};

use crate::rows::{convert_all, us, uuid, OrgRow, UserRow, USER_COLUMNS};
use crate::{StoreError, StoreResult};

pub(super) async fn upsert(
    pool: &SqlitePool,
    c: &UserClaims,
    now: DateTime<Utc>,
) -> StoreResult<User> {
    let row: UserRow = sqlx::query_as(&format!(
        "INSERT INTO users (id, issuer, subject, display_name, email, email_verified, \
         created_at_us, last_sign_in_us) VALUES (?,?,?,?,?,?,?,?) \
         ON CONFLICT (issuer, subject) DO UPDATE SET display_name = excluded.display_name, \
         email = excluded.email, email_verified = excluded.email_verified, \
         last_sign_in_us = excluded.last_sign_in_us \
         RETURNING {USER_COLUMNS}"
    ))
    .bind(Uuid::new_v4().to_string())
    .bind(&c.issuer)
    .bind(&c.subject)
    .bind(&c.display_name)
    .bind(&c.email)
    .bind(c.email_verified && c.email.is_some())
    .bind(us(now))
    .bind(us(now))
    .fetch_one(pool)
    .await?;
    row.try_into()
}

pub(super) async fn get(pool: &SqlitePool, id: Uuid) -> StoreResult<Option<User>> {
    let row: Option<UserRow> =
        sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(pool)
            .await?;
    row.map(User::try_from).transpose()
}

pub(super) async fn by_subject(
    pool: &SqlitePool,
    issuer: &str,
    subject: &str,
) -> StoreResult<Option<User>> {
    let row: Option<UserRow> = sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE issuer = ? AND subject = ?"
    ))
    .bind(issuer)
    .bind(subject)
    .fetch_optional(pool)
    .await?;
    row.map(User::try_from).transpose()
}

pub(super) async fn set_disabled(pool: &SqlitePool, id: Uuid, disabled: bool) -> StoreResult<()> {
    let r = sqlx::query("UPDATE users SET disabled = ? WHERE id = ?")
        .bind(disabled)
        .bind(id.to_string())
        .execute(pool)
        .await?;
    if r.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(super) async fn ensure_org(
    pool: &SqlitePool,
    name: &str,
    now: DateTime<Utc>,
) -> StoreResult<Organization> {
    sqlx::query(
        "INSERT INTO organizations (id, name, name_lower, created_at_us) VALUES (?,?,?,?) \
         ON CONFLICT (name_lower) DO NOTHING",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(name)
    .bind(name.to_lowercase())
    .bind(us(now))
    .execute(pool)
    .await?;
    org_by_name(pool, name).await?.ok_or(StoreError::NotFound)
}

pub(super) async fn org_by_name(
    pool: &SqlitePool,
    name: &str,
) -> StoreResult<Option<Organization>> {
    let row: Option<OrgRow> =
        sqlx::query_as("SELECT id, name FROM organizations WHERE name_lower = ?")
            .bind(name.to_lowercase())
            .fetch_optional(pool)
            .await?;
    row.map(Organization::try_from).transpose()
}

pub(super) async fn list_orgs(pool: &SqlitePool) -> StoreResult<Vec<Organization>> {
    let rows: Vec<OrgRow> =
        sqlx::query_as("SELECT id, name FROM organizations ORDER BY name_lower")
            .fetch_all(pool)
            .await?;
    convert_all(rows)
}

pub(super) async fn add_member(pool: &SqlitePool, user: Uuid, org: Uuid) -> StoreResult<()> {
    sqlx::query("INSERT INTO memberships (user_id, org_id) VALUES (?,?) ON CONFLICT DO NOTHING")
        .bind(user.to_string())
        .bind(org.to_string())
        .execute(pool)
        .await?;
    Ok(())
}

/// The organization named `name` (case-insensitive) and whether `user`
/// belongs to it, in one query.
pub(super) async fn member_org(
    pool: &SqlitePool,
    user: Uuid,
    name: &str,
) -> StoreResult<Option<(Organization, bool)>> {
    let row: Option<(String, String, bool)> = sqlx::query_as(
        "SELECT o.id, o.name, EXISTS (SELECT 1 FROM memberships m \
         WHERE m.user_id = ? AND m.org_id = o.id) FROM organizations o WHERE o.name_lower = ?",
    )
    .bind(user.to_string())
    .bind(name.to_lowercase())
    .fetch_optional(pool)
    .await?;
    row.map(|(id, name, member)| {
        Ok((
            Organization {
                id: uuid(&id)?,
                name,
            },
            member,
        ))
    })
    .transpose()
}

pub(super) async fn is_member(pool: &SqlitePool, user: Uuid, org: Uuid) -> StoreResult<bool> {
    let row = sqlx::query("SELECT 1 FROM memberships WHERE user_id = ? AND org_id = ?")
        .bind(user.to_string())
        .bind(org.to_string())
        .fetch_optional(pool)
        .await?;
    Ok(row.is_some())
}

pub(super) async fn member_orgs(pool: &SqlitePool, user: Uuid) -> StoreResult<Vec<Organization>> {
    let rows: Vec<OrgRow> = sqlx::query_as(
        "SELECT o.id, o.name FROM organizations o JOIN memberships m ON m.org_id = o.id \
         WHERE m.user_id = ? ORDER BY o.name_lower",
    )
    .bind(user.to_string())
    .fetch_all(pool)
    .await?;
    convert_all(rows)
}
