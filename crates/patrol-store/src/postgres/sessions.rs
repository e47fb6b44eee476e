//! Web sessions, keyed by the hash of the cookie's session id.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use patrol_core::session::{SessionKey, WebSession};
use patrol_core::user::AuditEvent;

use super::with_audit;
use crate::common::IfUnchanged;
use crate::rows::{us, SessionRow};
use crate::{StoreError, StoreResult};

pub(super) async fn create(pool: &PgPool, s: &WebSession, audit: &AuditEvent) -> StoreResult<()> {
    let insert = sqlx::query(
        "INSERT INTO web_sessions (id_hash, user_id, created_at_us, expires_at_us, last_seen_us, \
         access_expires_at_us, sealed_refresh_token) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&s.key.0[..])
    .bind(s.user_id.to_string())
    .bind(us(s.created_at))
    .bind(us(s.expires_at))
    .bind(us(s.last_seen))
    .bind(us(s.access_expires_at))
    .bind(s.sealed_refresh_token.as_deref());
    with_audit(pool, insert, Some(audit), IfUnchanged::Commit).await?;
    Ok(())
}

pub(super) async fn get(pool: &PgPool, key: &SessionKey) -> StoreResult<Option<WebSession>> {
    let row: Option<SessionRow> = sqlx::query_as(
        "SELECT id_hash, user_id, created_at_us, expires_at_us, last_seen_us, \
         access_expires_at_us, sealed_refresh_token FROM web_sessions WHERE id_hash = $1",
    )
    .bind(&key.0[..])
    .fetch_optional(pool)
    .await?;
    row.map(WebSession::try_from).transpose()
}

pub(super) async fn update(pool: &PgPool, s: &WebSession) -> StoreResult<()> {
    let r = sqlx::query(
        "UPDATE web_sessions SET last_seen_us = $1, access_expires_at_us = $2, \
         sealed_refresh_token = $3 WHERE id_hash = $4",
    )
    .bind(us(s.last_seen))
    .bind(us(s.access_expires_at))
    .bind(s.sealed_refresh_token.as_deref())
    .bind(&s.key.0[..])
    .execute(pool)
    .await?;
    if r.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// The audit record, when given, is kept even when the session was already gone.
pub(super) async fn delete(
    pool: &PgPool,
    key: &SessionKey,
    audit: Option<&AuditEvent>,
) -> StoreResult<bool> {
    let delete = sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1").bind(&key.0[..]);
    Ok(with_audit(pool, delete, audit, IfUnchanged::Commit).await? > 0)
}

pub(super) async fn purge(
    pool: &PgPool,
    now: DateTime<Utc>,
    idle_before: DateTime<Utc>,
) -> StoreResult<u64> {
    let r = sqlx::query("DELETE FROM web_sessions WHERE expires_at_us <= $1 OR last_seen_us < $2")
        .bind(us(now))
        .bind(us(idle_before))
        .execute(pool)
        .await?;
    Ok(r.rows_affected())
}
