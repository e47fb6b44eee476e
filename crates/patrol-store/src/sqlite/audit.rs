//! The audit log: appended inside other writes' transactions, or alone.

use std::sync::LazyLock;

use sqlx::{SqliteConnection, SqlitePool};

use patrol_core::user::{AuditAction, AuditEvent};

use super::Write;
use crate::common::pending_notice;
use crate::rows::{convert_all, us, AuditRow};
use crate::{AuditQuery, PendingNotice, StoreResult};

/// The columns an audit record is written to, in [`bind_event`]'s order.
pub(super) const EVENT_COLUMNS: &str = "id, at_us, action, actor_user, actor, client_id, \
     target_pat, target_user, source_ip, request_id, outcome, detail";
/// How many values [`bind_event`] binds.
pub(super) const EVENT_VALUES: usize = 12;

/// Bind `ev`'s values for [`EVENT_COLUMNS`].
pub(super) fn bind_event<'q>(q: Write<'q>, ev: &'q AuditEvent) -> Write<'q> {
    q.bind(ev.id.to_string())
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
}

/// Store `ev` inside the caller's transaction; its notice intent too when
/// the change it records `took_effect` (revoking what already was revoked
/// is recorded, but promises nothing).
pub(super) async fn insert(
    conn: &mut SqliteConnection,
    ev: &AuditEvent,
    took_effect: bool,
) -> StoreResult<()> {
    static INSERT: LazyLock<String> = LazyLock::new(|| {
        format!(
            "INSERT INTO audit_events ({EVENT_COLUMNS}) VALUES ({})",
            placeholders(EVENT_VALUES)
        )
    });
    bind_event(sqlx::query(&INSERT), ev)
        .execute(&mut *conn)
        .await?;
    if let (Some(intent), true) = (&ev.notice, took_effect) {
        sqlx::query("INSERT INTO notice_intents (audit_id, at_us, intent) VALUES (?,?,?)")
            .bind(ev.id.to_string())
            .bind(us(ev.at))
            .bind(intent)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// `?, ?, …`: `n` parameters, bound in order.
pub(super) fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// One record alone, with its notice intent, in one transaction.
pub(super) async fn append(pool: &SqlitePool, ev: &AuditEvent) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    insert(&mut tx, ev, true).await?;
    tx.commit().await?;
    Ok(())
}

/// Intents not yet handled, oldest first.
pub(super) async fn pending_notices(
    pool: &SqlitePool,
    limit: u32,
) -> StoreResult<Vec<PendingNotice>> {
    let rows: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT audit_id, at_us, intent FROM notice_intents ORDER BY at_us, audit_id LIMIT ?",
    )
    .bind(i64::from(limit.max(1)))
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(pending_notice).collect()
}

pub(super) async fn notice_intent(
    pool: &SqlitePool,
    audit_id: uuid::Uuid,
) -> StoreResult<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT intent FROM notice_intents WHERE audit_id = ?")
            .bind(audit_id.to_string())
            .fetch_optional(pool)
            .await?,
    )
}

/// Newest first (time, then id, both descending: the keyset of [`AuditQuery::after`]).
pub(super) async fn list(pool: &SqlitePool, q: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
    let id = |u: Option<uuid::Uuid>| u.map(|u| u.to_string());
    let orgs = (!q.members_of.is_empty())
        .then(|| serde_json::to_string(&q.members_of))
        .transpose()
        .map_err(|e| crate::StoreError::Backend(e.to_string()))?;
    let rows: Vec<AuditRow> = sqlx::query_as(
        "SELECT id, at_us, action, actor_user, actor, client_id, target_pat, target_user, \
         source_ip, request_id, outcome, detail FROM audit_events \
         WHERE (?1 IS NULL OR actor_user = ?1) AND (?2 IS NULL OR target_pat = ?2) \
         AND (?3 IS NULL OR action = ?3) AND (?4 IS NULL OR actor = ?4) \
         AND (?5 IS NULL OR actor_user = ?5 OR target_user = ?5) \
         AND (?6 IS NULL OR at_us >= ?6) AND (?7 IS NULL OR at_us < ?7) \
         AND (?8 IS NULL OR at_us < ?8 OR (at_us = ?8 AND id < ?9)) \
         AND (?10 IS NULL OR actor_user = ?10 OR target_user = ?10 \
              OR target_pat IN (SELECT authorization_id FROM pats WHERE owner_id = ?10)) \
         AND (?12 IS NULL OR actor_user IN (SELECT user_id FROM memberships \
              WHERE org_id IN (SELECT value FROM json_each(?12))) \
              OR target_user IN (SELECT user_id FROM memberships \
              WHERE org_id IN (SELECT value FROM json_each(?12)))) \
         ORDER BY at_us DESC, id DESC LIMIT ?11",
    )
    .bind(id(q.actor_user))
    .bind(id(q.target_pat))
    .bind(q.action.map(AuditAction::as_str))
    .bind(q.actor.as_deref())
    .bind(id(q.user))
    .bind(q.since.map(us))
    .bind(q.until.map(us))
    .bind(q.after.map(|c| us(c.at)))
    .bind(q.after.map(|c| c.id.to_string()))
    .bind(id(q.visible_to))
    .bind(i64::from(q.limit.max(1)))
    .bind(orgs)
    .fetch_all(pool)
    .await?;
    convert_all(rows)
}
