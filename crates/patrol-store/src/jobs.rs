//! Types of the lifecycle jobs' tables: the outbox, webhook subscriptions.

use chrono::{DateTime, Utc};
use uuid::Uuid;

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
