//! Lifecycle jobs: the lease, schedules, the outbox, notice preferences,
//! webhook subscriptions, and the PAT scans the jobs make (expiring,
//! purge after retention).

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use uuid::Uuid;

use patrol_core::pat::Pat;

use super::audit::placeholders;
use crate::common::outbox_attempt;
use crate::jobs::{OutboxRow, WebhookRow, OUTBOX_COLUMNS, WEBHOOK_COLUMNS};
use crate::rows::{convert_all, us, PatRow, PAT_COLUMNS};
use crate::{NewOutboxItem, OutboxCounts, OutboxItem, OutboxState, StoreResult, Webhook};

/// Granted when free, already ours, or expired: the `WHERE` of the upsert
/// decides, so the check and the take are one statement (PostgreSQL's
/// `INSERT … ON CONFLICT … DO UPDATE … WHERE` is the same).
pub(super) async fn acquire_lease(
    pool: &SqlitePool,
    name: &str,
    holder: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> StoreResult<bool> {
    let n = sqlx::query(
        "INSERT INTO job_leases (name, holder, expires_at_us) VALUES (?1, ?2, ?3) \
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at_us = excluded.expires_at_us \
         WHERE job_leases.holder = excluded.holder OR job_leases.expires_at_us <= ?4",
    )
    .bind(name)
    .bind(holder)
    .bind(us(until))
    .bind(us(now))
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n == 1)
}

pub(super) async fn release_lease(pool: &SqlitePool, name: &str, holder: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM job_leases WHERE name = ? AND holder = ?")
        .bind(name)
        .bind(holder)
        .execute(pool)
        .await?;
    Ok(())
}

pub(super) async fn claim_schedule(
    pool: &SqlitePool,
    name: &str,
    now: DateTime<Utc>,
    next: DateTime<Utc>,
) -> StoreResult<bool> {
    let n = sqlx::query(
        "INSERT INTO job_schedules (name, next_run_us, last_run_us) VALUES (?1, ?2, ?3) \
         ON CONFLICT (name) DO UPDATE SET next_run_us = excluded.next_run_us, last_run_us = excluded.last_run_us \
         WHERE job_schedules.next_run_us <= ?3",
    )
    .bind(name)
    .bind(us(next))
    .bind(us(now))
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// The columns a new notice is written to, in [`bind_item`]'s order.
pub(super) const ITEM_COLUMNS: &str =
    "id, dedupe_key, channel, kind, user_id, pat_id, subscription, payload, created_at_us, due_at_us";
/// How many values [`bind_item`] binds.
pub(super) const ITEM_VALUES: usize = 10;

/// Bind `i`'s values for [`ITEM_COLUMNS`].
pub(super) fn bind_item<'q>(q: super::Write<'q>, i: &'q NewOutboxItem) -> super::Write<'q> {
    q.bind(i.id.to_string())
        .bind(&i.dedupe_key)
        .bind(&i.channel)
        .bind(&i.kind)
        .bind(i.user.map(|u| u.to_string()))
        .bind(i.pat.map(|u| u.to_string()))
        .bind(i.subscription.map(|u| u.to_string()))
        .bind(&i.payload)
        .bind(us(i.created_at))
        .bind(us(i.due_at))
}

/// Store one notice unless one with its `dedupe_key` exists.
fn enqueue_query(i: &NewOutboxItem) -> super::Write<'_> {
    static ENQUEUE: LazyLock<String> = LazyLock::new(|| {
        format!(
            "INSERT INTO outbox ({ITEM_COLUMNS}) VALUES ({}) ON CONFLICT (dedupe_key) DO NOTHING",
            placeholders(ITEM_VALUES)
        )
    });
    bind_item(sqlx::query(&ENQUEUE), i)
}

/// `items` (each unless its `dedupe_key` is taken) and, with `clearing`,
/// the end of that record's notice intent: one transaction.
pub(super) async fn enqueue_all(
    pool: &SqlitePool,
    items: &[NewOutboxItem],
    clearing: Option<Uuid>,
) -> StoreResult<u64> {
    let mut tx = pool.begin().await?;
    let mut stored = 0;
    for i in items {
        stored += enqueue_query(i).execute(&mut *tx).await?.rows_affected();
    }
    if let Some(id) = clearing {
        sqlx::query("DELETE FROM notice_intents WHERE audit_id = ?")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(stored)
}

pub(super) async fn due(
    pool: &SqlitePool,
    now: DateTime<Utc>,
    limit: u32,
) -> StoreResult<Vec<OutboxItem>> {
    let rows: Vec<OutboxRow> = sqlx::query_as(&format!(
        "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE sent_at_us IS NULL AND failed_at_us IS NULL \
         AND due_at_us <= ? ORDER BY due_at_us, created_at_us LIMIT ?"
    ))
    .bind(us(now))
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    convert_all(rows)
}

pub(super) async fn attempted(
    pool: &SqlitePool,
    id: Uuid,
    at: DateTime<Utc>,
    state: &OutboxState,
) -> StoreResult<()> {
    let (sent, due, failed, error) = outbox_attempt(at, state);
    sqlx::query(
        "UPDATE outbox SET attempts = attempts + 1, sent_at_us = ?2, \
         due_at_us = COALESCE(?3, due_at_us), failed_at_us = ?4, last_error = ?5 WHERE id = ?1",
    )
    .bind(id.to_string())
    .bind(sent)
    .bind(due)
    .bind(failed)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) async fn for_user(
    pool: &SqlitePool,
    user: Uuid,
    limit: u32,
) -> StoreResult<Vec<OutboxItem>> {
    let rows: Vec<OutboxRow> = sqlx::query_as(&format!(
        "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE user_id = ? AND channel = 'email' \
         ORDER BY created_at_us DESC, id LIMIT ?"
    ))
    .bind(user.to_string())
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    convert_all(rows)
}

pub(super) async fn counts(pool: &SqlitePool) -> StoreResult<OutboxCounts> {
    let (pending, sent, failed): (i64, i64, i64) = sqlx::query_as(
        "SELECT \
         COALESCE(SUM(sent_at_us IS NULL AND failed_at_us IS NULL), 0), \
         COALESCE(SUM(sent_at_us IS NOT NULL), 0), \
         COALESCE(SUM(failed_at_us IS NOT NULL), 0) FROM outbox",
    )
    .fetch_one(pool)
    .await?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(OutboxCounts {
        pending: n(pending),
        sent: n(sent),
        failed: n(failed),
    })
}

pub(super) async fn pats_expiring(
    pool: &SqlitePool,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> StoreResult<Vec<Pat>> {
    let rows: Vec<PatRow> = sqlx::query_as(&format!(
        "SELECT {PAT_COLUMNS} FROM pats WHERE revoked_at_us IS NULL \
         AND valid_to_us > ? AND valid_to_us <= ? ORDER BY valid_to_us, authorization_id"
    ))
    .bind(us(after))
    .bind(us(until))
    .fetch_all(pool)
    .await?;
    convert_all(rows)
}

pub(super) async fn purge_pats(pool: &SqlitePool, before: DateTime<Utc>) -> StoreResult<u64> {
    Ok(sqlx::query(
        "DELETE FROM pats WHERE (revoked_at_us IS NOT NULL AND revoked_at_us < ?1) \
         OR valid_to_us < ?1",
    )
    .bind(us(before))
    .execute(pool)
    .await?
    .rows_affected())
}

pub(super) async fn prefs(pool: &SqlitePool, user: Uuid) -> StoreResult<Vec<(String, bool)>> {
    let rows: Vec<(String, bool)> =
        sqlx::query_as("SELECT kind, enabled FROM notice_prefs WHERE user_id = ? ORDER BY kind")
            .bind(user.to_string())
            .fetch_all(pool)
            .await?;
    Ok(rows)
}

pub(super) async fn set_pref(
    pool: &SqlitePool,
    user: Uuid,
    kind: &str,
    enabled: bool,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO notice_prefs (user_id, kind, enabled) VALUES (?, ?, ?) \
         ON CONFLICT (user_id, kind) DO UPDATE SET enabled = excluded.enabled",
    )
    .bind(user.to_string())
    .bind(kind)
    .bind(enabled)
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) async fn create_webhook(pool: &SqlitePool, h: &Webhook) -> StoreResult<()> {
    sqlx::query(&format!(
        "INSERT INTO webhooks ({WEBHOOK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
    ))
    .bind(h.id.to_string())
    .bind(h.owner.map(|o| o.to_string()))
    .bind(&h.url)
    .bind(&h.secret_sealed)
    .bind(h.events.join(" "))
    .bind(us(h.created_at))
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) async fn list_webhooks(
    pool: &SqlitePool,
    owner: Option<Uuid>,
) -> StoreResult<Vec<Webhook>> {
    let rows: Vec<WebhookRow> = sqlx::query_as(&format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE owner_id IS ? ORDER BY created_at_us, id"
    ))
    .bind(owner.map(|o| o.to_string()))
    .fetch_all(pool)
    .await?;
    convert_all(rows)
}

/// `owner`'s subscriptions, then the tenant-wide ones.
pub(super) async fn webhooks_for(pool: &SqlitePool, owner: Uuid) -> StoreResult<Vec<Webhook>> {
    let rows: Vec<WebhookRow> = sqlx::query_as(&format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE owner_id = ? OR owner_id IS NULL \
         ORDER BY owner_id IS NULL, created_at_us, id"
    ))
    .bind(owner.to_string())
    .fetch_all(pool)
    .await?;
    convert_all(rows)
}

pub(super) async fn get_webhook(pool: &SqlitePool, id: Uuid) -> StoreResult<Option<Webhook>> {
    let row: Option<WebhookRow> = sqlx::query_as(&format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = ?"
    ))
    .bind(id.to_string())
    .fetch_optional(pool)
    .await?;
    row.map(Webhook::try_from).transpose()
}

pub(super) async fn delete_webhook(pool: &SqlitePool, id: Uuid) -> StoreResult<bool> {
    Ok(sqlx::query("DELETE FROM webhooks WHERE id = ?")
        .bind(id.to_string())
        .execute(pool)
        .await?
        .rows_affected()
        == 1)
}
