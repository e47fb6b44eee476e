//! Types of the lifecycle jobs' tables: the outbox, webhook subscriptions.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::rows::{from_us, opt_uuid, uuid};
use crate::{StoreError, StoreResult};

/// A notice intent a change stored beside its audit record
/// (`AuditEvent::notice`), not yet turned into outbox items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingNotice {
    pub audit_id: Uuid,
    pub at: DateTime<Utc>,
    /// Opaque to the store: the application's words.
    pub intent: String,
}

/// A notice to store in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutboxItem {
    pub id: Uuid,
    /// Unique per notice: the same key is stored once.
    pub dedupe_key: String,
    /// `email` or `webhook`.
    pub channel: String,
    pub kind: String,
    pub user: Option<Uuid>,
    pub pat: Option<Uuid>,
    pub subscription: Option<Uuid>,
    /// JSON; never a token secret.
    pub payload: String,
    pub created_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
}

/// A notice as stored, with its delivery so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub item: NewOutboxItem,
    pub attempts: u32,
    pub sent_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxState {
    Sent,
    /// Failed; try again at `next`.
    Retry {
        next: DateTime<Utc>,
        error: String,
    },
    /// Failed for the last time.
    GaveUp {
        error: String,
    },
}

/// Notices by state, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub pending: u64,
    pub sent: u64,
    pub failed: u64,
}

/// A webhook subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: Uuid,
    /// `None`: tenant-wide (every user's events).
    pub owner: Option<Uuid>,
    pub url: String,
    /// The signing secret, sealed by the application.
    pub secret_sealed: String,
    /// Event kinds; empty: all.
    pub events: Vec<String>,
    pub created_at: DateTime<Utc>,
}

// Their rows, as both backends store them.

#[derive(sqlx::FromRow)]
pub(crate) struct OutboxRow {
    id: String,
    dedupe_key: String,
    channel: String,
    kind: String,
    user_id: Option<String>,
    pat_id: Option<String>,
    subscription: Option<String>,
    payload: String,
    created_at_us: i64,
    due_at_us: i64,
    attempts: i64,
    sent_at_us: Option<i64>,
    failed_at_us: Option<i64>,
    last_error: Option<String>,
}

pub(crate) const OUTBOX_COLUMNS: &str =
    "id, dedupe_key, channel, kind, user_id, pat_id, subscription, \
     payload, created_at_us, due_at_us, attempts, sent_at_us, failed_at_us, last_error";

impl TryFrom<OutboxRow> for OutboxItem {
    type Error = StoreError;
    fn try_from(r: OutboxRow) -> StoreResult<Self> {
        Ok(OutboxItem {
            item: NewOutboxItem {
                id: uuid(&r.id)?,
                dedupe_key: r.dedupe_key,
                channel: r.channel,
                kind: r.kind,
                user: opt_uuid(r.user_id)?,
                pat: opt_uuid(r.pat_id)?,
                subscription: opt_uuid(r.subscription)?,
                payload: r.payload,
                created_at: from_us(r.created_at_us)?,
                due_at: from_us(r.due_at_us)?,
            },
            attempts: u32::try_from(r.attempts)
                .map_err(|_| StoreError::Corrupt(format!("attempts {}", r.attempts)))?,
            sent_at: r.sent_at_us.map(from_us).transpose()?,
            failed_at: r.failed_at_us.map(from_us).transpose()?,
            last_error: r.last_error,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct WebhookRow {
    id: String,
    owner_id: Option<String>,
    url: String,
    secret_sealed: String,
    events: String,
    created_at_us: i64,
}

impl TryFrom<WebhookRow> for Webhook {
    type Error = StoreError;
    fn try_from(r: WebhookRow) -> StoreResult<Self> {
        Ok(Webhook {
            id: uuid(&r.id)?,
            owner: opt_uuid(r.owner_id)?,
            url: r.url,
            secret_sealed: r.secret_sealed,
            events: r.events.split_whitespace().map(str::to_owned).collect(),
            created_at: from_us(r.created_at_us)?,
        })
    }
}

pub(crate) const WEBHOOK_COLUMNS: &str = "id, owner_id, url, secret_sealed, events, created_at_us";
