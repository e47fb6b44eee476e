//! Users, organizations and memberships.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use patrol_core::user::{Organization, User, UserClaims};

use crate::rows::{convert_all, us, uuid, OrgRow, UserRow, USER_COLUMNS};
use crate::{StoreError, StoreResult};

pub(super) async fn upsert(pool: &PgPool, c: &UserClaims, now: DateTime<Utc>) -> StoreResult<User> {
    let row: UserRow = sqlx::query_as(&format!(
        "INSERT INTO users (id, issuer, subject, display_name, email, email_verified, \
         created_at_us, last_sign_in_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
         ON CONFLICT (issuer, subject) DO UPDATE SET display_name = EXCLUDED.display_name, \
         email = EXCLUDED.email, email_verified = EXCLUDED.email_verified, \
         last_sign_in_us = EXCLUDED.last_sign_in_us \
         RETURNING {USER_COLUMNS}"
    ))
    .bind(Uuid::new_v4().to_string())
    .bind(&c.issuer)
    .bind(&c.subject)
    .bind(&c.display_name)
    .bind(&c.email)
    .bind(c.email_verified && c.email.is_some())
    .bind(us(now))
    .fetch_one(pool)
    .await?;
    row.try_into()
}

pub(super) async fn get(pool: &PgPool, id: Uuid) -> StoreResult<Option<User>> {
    let row: Option<UserRow> =
        sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(pool)
            .await?;
    row.map(User::try_from).transpose()
}

pub(super) async fn by_subject(
    pool: &PgPool,
    issuer: &str,
    subject: &str,
) -> StoreResult<Option<User>> {
    let row: Option<UserRow> = sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE issuer = $1 AND subject = $2"
    ))
    .bind(issuer)
    .bind(subject)
    .fetch_optional(pool)
    .await?;
    row.map(User::try_from).transpose()
}

pub(super) async fn set_disabled(pool: &PgPool, id: Uuid, disabled: bool) -> StoreResult<()> {
    let r = sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
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
    pool: &PgPool,
    name: &str,
    now: DateTime<Utc>,
) -> StoreResult<Organization> {
    sqlx::query(
        "INSERT INTO organizations (id, name, name_lower, created_at_us) VALUES ($1, $2, $3, $4) \
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

pub(super) async fn org_by_name(pool: &PgPool, name: &str) -> StoreResult<Option<Organization>> {
    let row: Option<OrgRow> =
        sqlx::query_as("SELECT id, name FROM organizations WHERE name_lower = $1")
            .bind(name.to_lowercase())
            .fetch_optional(pool)
            .await?;
    row.map(Organization::try_from).transpose()
}

pub(super) async fn list_orgs(pool: &PgPool) -> StoreResult<Vec<Organization>> {
    let rows: Vec<OrgRow> =
        sqlx::query_as("SELECT id, name FROM organizations ORDER BY name_lower")
            .fetch_all(pool)
            .await?;
    convert_all(rows)
}

pub(super) async fn add_member(pool: &PgPool, user: Uuid, org: Uuid) -> StoreResult<()> {
    sqlx::query("INSERT INTO memberships (user_id, org_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(user.to_string())
        .bind(org.to_string())
        .execute(pool)
        .await?;
    Ok(())
}

/// The organization named `name` (case-insensitive) and whether `user`
/// belongs to it, in one query.
pub(super) async fn member_org(
    pool: &PgPool,
    user: Uuid,
    name: &str,
) -> StoreResult<Option<(Organization, bool)>> {
    let row: Option<(String, String, bool)> = sqlx::query_as(
        "SELECT o.id, o.name, EXISTS (SELECT 1 FROM memberships m \
         WHERE m.user_id = $1 AND m.org_id = o.id) FROM organizations o WHERE o.name_lower = $2",
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

pub(super) async fn is_member(pool: &PgPool, user: Uuid, org: Uuid) -> StoreResult<bool> {
    let row = sqlx::query("SELECT 1 FROM memberships WHERE user_id = $1 AND org_id = $2")
        .bind(user.to_string())
        .bind(org.to_string())
        .fetch_optional(pool)
        .await?;
    Ok(row.is_some())
}

pub(super) async fn member_orgs(pool: &PgPool, user: Uuid) -> StoreResult<Vec<Organization>> {
    let rows: Vec<OrgRow> = sqlx::query_as(
        "SELECT o.id, o.name FROM organizations o JOIN memberships m ON m.org_id = o.id \
         WHERE m.user_id = $1 ORDER BY o.name_lower",
    )
    .bind(user.to_string())
    .fetch_all(pool)
    .await?;
    convert_all(rows)
}
