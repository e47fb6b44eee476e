//! What both backends decide the same way, outside their SQL: when a write
//! that changed nothing is refused, what a delivery attempt stores, the audit
//! records of a user's access change.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use patrol_core::user::AuditEvent;

use crate::rows::{from_us, us, uuid};
use crate::{AccessChange, OutboxState, PendingNotice, StoreError, StoreResult};

/// What a backend's `with_audit` does when the write changed no row.
pub(crate) enum IfUnchanged {
    /// Keep the audit record anyway (e.g. revoking what already was revoked).
    Commit,
    /// Roll back and answer this error.
    Refuse(StoreError),
}

/// An update of a PAT that does not exist stores nothing and is "not found".
pub(crate) const MUST_EXIST: IfUnchanged = IfUnchanged::Refuse(StoreError::NotFound);

/// `max_active` as bound into the capped insert (`NULL`: no cap).
pub(crate) fn cap(max_active: Option<u64>) -> Option<i64> {
    max_active.map(|n| i64::try_from(n).unwrap_or(i64::MAX))
}

/// The outbox columns a delivery attempt at `at` sets:
/// `(sent_at_us, due_at_us (NULL: unchanged), failed_at_us, last_error)`.
pub(crate) fn outbox_attempt(
    at: DateTime<Utc>,
    state: &OutboxState,
) -> (Option<i64>, Option<i64>, Option<i64>, Option<&str>) {
    match state {
        OutboxState::Sent => (Some(us(at)), None, None, None),
        OutboxState::Retry { next, error } => (None, Some(us(*next)), None, Some(error.as_str())),
        OutboxState::GaveUp { error } => (None, None, Some(us(at)), Some(error.as_str())),
    }
}

/// The `pat.revoke` record of one PAT a disable revoked: the change's
/// template with the PAT and a fresh id.
pub(crate) fn access_revoke_event(change: &AccessChange<'_>, pat: Uuid) -> AuditEvent {
    AuditEvent {
        id: Uuid::new_v4(),
        target_pat: Some(pat),
        ..change.revoke_audit.clone()
    }
}

/// The `user.disable` / `user.enable` record; a disable says what it ended.
pub(crate) fn access_event(change: &AccessChange<'_>, revoked: usize, sessions: u64) -> AuditEvent {
    match change.disabled {
        false => change.audit.clone(),
        true => AuditEvent {
            detail: Some(format!(
                "{}; {revoked} PATs revoked, {sessions} web sessions ended",
                change.audit.detail.as_deref().unwrap_or("disabled"),
            )),
            ..change.audit.clone()
        },
    }
}

/// A `notice_intents` row `(audit_id, at_us, intent)` as both stores read it.
pub(crate) fn pending_notice(
    (id, at, intent): (String, i64, String),
) -> StoreResult<PendingNotice> {
    Ok(PendingNotice {
        audit_id: uuid(&id)?,
        at: from_us(at)?,
        intent,
    })
}

/// Microseconds in a day: the unit of `active_pat_days.day`.
const DAY_US: i64 = 86_400_000_000;

/// The owner's active tokens at `now`, as an SQL expression over the
/// placeholders `owner` and `now` (the same on both backends): the per-day
/// counts kept by the triggers of SQLite migration 0009 / PostgreSQL
/// migration 0003 for the days after today, and the tokens expiring later
/// today one by one. Never more rows than days of the longest lifetime plus
/// today's expiries, whatever the owner holds.
pub(crate) fn active_count(owner: &str, now: &str) -> String {
    format!(
        "COALESCE((SELECT SUM(n) FROM active_pat_days WHERE owner_id = {owner} \
         AND day > {now} / {DAY_US}), 0) \
         + (SELECT COUNT(*) FROM pats WHERE owner_id = {owner} AND revoked_at_us IS NULL \
         AND valid_to_us > {now} AND valid_to_us < ({now} / {DAY_US} + 1) * {DAY_US})"
    )
}
