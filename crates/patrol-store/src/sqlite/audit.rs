//! The audit log: appended inside other writes' transactions, or alone.

use sqlx::SqlitePool;

use patrol_core::user::{AuditAction, AuditEvent};

use crate::rows::{convert_all, us, AuditRow};
use crate::{AuditQuery, StoreResult};

pub(super) async fn insert<'e, E>(exec: E, ev: &AuditEvent) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    sqlx::query(
        "INSERT INTO audit_events (id, at_us, action, actor_user, actor, client_id, target_pat, \
         target_user, source_ip, request_id, outcome, detail) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
    )
    .bind(ev.id.to_string())
    .bind(us(ev.at))
    .bind(ev.action.as_str())
    .bind(ev.actor_user.map(|u| u.to_string()))
    .bind(&ev.actor)
    .bind(&ev.client_id)
    .bind(ev.target_pat.map(|u| u.to_string()))
    .bind(ev.target_user.map(|u| u.to_string()))
    .bind(&ev.source_ip)
    .bind(&ev.request_id)
    .bind(ev.outcome.as_str())
    .bind(&ev.detail)
    .execute(exec)
    .await?;
    Ok(())
}

/// Newest first.
pub(super) async fn list(pool: &SqlitePool, q: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
    let rows: Vec<AuditRow> = sqlx::query_as(
        "SELECT id, at_us, action, actor_user, actor, client_id, target_pat, target_user, \
         source_ip, request_id, outcome, detail FROM audit_events \
         WHERE (?1 IS NULL OR actor_user = ?1) AND (?2 IS NULL OR target_pat = ?2) \
         AND (?3 IS NULL OR action = ?3) ORDER BY at_us DESC, id LIMIT ?4",
    )
    .bind(q.actor_user.map(|u| u.to_string()))
    .bind(q.target_pat.map(|u| u.to_string()))
    .bind(q.action.map(AuditAction::as_str))
    .bind(i64::from(q.limit.max(1)))
    .fetch_all(pool)
    .await?;
    convert_all(rows)
}
