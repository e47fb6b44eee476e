//! The lifecycle jobs, one tick at a time: take (or renew) the lease, queue
//! the notices changes promised but did not queue themselves (`notify.rs`),
//! run the schedules that are due (expiry warnings, expired events,
//! retention), then deliver what is due in the outbox — retrying failures with
//! exponential backoff and giving up after the last attempt.
//!
//! Every decision reads the injected clock, so a test moves a `ManualClock`
//! and calls [`App::run_jobs`]; the server calls it on an interval
//! (`notify::runner`). Only the lease holder works, so several servers on
//! one database deliver each notice once. A notice is marked sent right
//! after its delivery succeeded: a crash between the two sends it again
//! (at least once at that edge, never twice otherwise).

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use patrol_core::pat::Pat;
use patrol_core::policy::{Policies, Principal, TokenShape, Violation};
use patrol_core::roles::user_key;
use patrol_store::{OutboxItem, OutboxState};

use super::notify::{
    days_until, Blocked, EventKind, Notice, NoticeDetail, CHANNEL_EMAIL, CHANNEL_WEBHOOK,
};
use super::{App, AppError};

/// The lease every runner competes for.
pub const JOBS_LEASE: &str = "patrol-jobs";
/// How often the expiry scans run.
const EXPIRY_EVERY: Duration = Duration::minutes(10);
/// How often retention purges.
const RETENTION_EVERY: Duration = Duration::hours(1);
/// Expired events are looked for this far back (a runner down longer
/// misses them; expiry warnings went out before).
const EXPIRED_LOOKBACK: Duration = Duration::days(1);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::hours(6);
/// Deliveries per tick.
const BATCH: u32 = 100;

/// How the jobs run, resolved from configuration.
#[derive(Debug, Clone)]
pub struct NotifyPolicy {
    /// An email channel is configured (SMTP, or `patrol dev`'s outbox folder).
    pub email: bool,
    /// Days before expiry to warn, largest first (default 7 and 3).
    pub warn_days: Vec<u32>,
    /// Ended (expired or revoked) tokens stay listed this long…
    pub retention: Duration,
    /// …and are deleted this long after that.
    pub purge_after: Duration,
    /// Attempts per notice before giving up.
    pub max_attempts: u32,
    /// The first retry waits this long; each next one twice as long.
    pub retry_base: Duration,
    /// A lease lasts this long unless renewed.
    pub lease: Duration,
}

impl Default for NotifyPolicy {
    fn default() -> Self {
        Self {
            email: false,
            warn_days: vec![7, 3],
            retention: Duration::days(90),
            purge_after: Duration::days(90),
            max_attempts: 8,
            retry_base: Duration::minutes(1),
            lease: Duration::minutes(2),
        }
    }
}

/// What delivers notices: email (SMTP or a folder) and webhooks (HTTP).
/// Errors are words for the outbox row, never secrets.
#[async_trait]
pub trait Courier: Send + Sync + 'static {
    async fn email(&self, notice: &Notice) -> Result<(), String>;
    /// POST `body` (a CloudEvent) to `url`, signed with `secret`.
    async fn webhook(&self, url: &str, secret: &[u8], body: &str) -> Result<(), String>;
}

/// What one tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickReport {
    /// False: another runner holds the lease; nothing was done.
    pub leased: bool,
    /// Promised notices queued here because their change's process did
    /// not (it died, or the outbox write failed).
    pub recovered: u64,
    pub sent: u64,
    pub retried: u64,
    pub failed: u64,
    pub purged: u64,
}

/// The wait before attempt `attempts + 1`: base · 2^(attempts − 1), capped.
pub fn backoff(base: Duration, attempts: u32) -> Duration {
    let factor = 1i32 << attempts.saturating_sub(1).min(20);
    (base * factor).min(MAX_BACKOFF)
}

/// The warning due for a token expiring `left` from now: the smallest
/// threshold it is within (so a runner that was down sends only the latest).
pub fn warning_due(warn_days: &[u32], left: Duration) -> Option<u32> {
    warn_days
        .iter()
        .copied()
        .filter(|d| left <= Duration::days(i64::from(*d)))
        .min()
}

impl App {
    /// One tick of the job runner `holder`.
    pub async fn run_jobs(
        &self,
        holder: &str,
        courier: &dyn Courier,
    ) -> Result<TickReport, AppError> {
        let now = self.now();
        let n = &self.policy.notify;
        let mut report = TickReport::default();
        if !self
            .store
            .acquire_lease(JOBS_LEASE, holder, now, now + n.lease)
            .await?
        {
            return Ok(report);
        }
        report.leased = true;
        report.recovered = self.tell_pending(BATCH).await?;
        if self
            .store
            .claim_schedule("expiry", now, now + EXPIRY_EVERY)
            .await?
        {
            self.warn_expiring(now).await?;
            self.announce_expired(now).await?;
        }
        if self
            .store
            .claim_schedule("retention", now, now + RETENTION_EVERY)
            .await?
        {
            report.purged = self
                .store
                .purge_pats(now - n.retention - n.purge_after)
                .await?;
            if report.purged > 0 {
                tracing::info!(tokens = report.purged, "purged ended tokens past retention");
            }
        }
        // What this tick queued above is due too.
        for item in self.store.due_outbox(self.now(), BATCH).await? {
            // Renewed before each delivery: a runner that lost the lease
            // (a slow batch) stops before another one could send the same.
            let at = self.now();
            if !self
                .store
                .acquire_lease(JOBS_LEASE, holder, at, at + n.lease)
                .await?
            {
                break;
            }
            let state = match self.deliver(&item, courier).await {
                Ok(()) => OutboxState::Sent,
                Err(error) if item.attempts + 1 >= n.max_attempts => OutboxState::GaveUp { error },
                Err(error) => OutboxState::Retry {
                    next: now + backoff(n.retry_base, item.attempts + 1),
                    error,
                },
            };
            let channel = item.item.channel.clone();
            match &state {
                OutboxState::Sent => {
                    report.sent += 1;
                    metrics::counter!("patrol_notifications_sent_total", "channel" => channel)
                        .increment(1);
                }
                OutboxState::Retry { error, .. } => {
                    report.retried += 1;
                    tracing::info!(%error, kind = %item.item.kind, "notification delivery failed; will retry");
                    metrics::counter!("patrol_notifications_retries_total", "channel" => channel)
                        .increment(1);
                }
                OutboxState::GaveUp { error } => {
                    report.failed += 1;
                    tracing::warn!(%error, kind = %item.item.kind, "notification delivery failed for the last time");
                    metrics::counter!("patrol_notifications_failed_total", "channel" => channel)
                        .increment(1);
                }
            }
            self.store
                .outbox_attempted(item.item.id, now, &state)
                .await?;
        }
        Ok(report)
    }

    /// Give the lease up (graceful shutdown), so another runner need not
    /// wait for it to run out.
    pub async fn release_jobs(&self, holder: &str) -> Result<(), AppError> {
        Ok(self.store.release_lease(JOBS_LEASE, holder).await?)
    }

    async fn deliver(&self, item: &OutboxItem, courier: &dyn Courier) -> Result<(), String> {
        match item.item.channel.as_str() {
            CHANNEL_EMAIL => {
                let notice: Notice = serde_json::from_str(&item.item.payload)
                    .map_err(|e| format!("unreadable notice: {e}"))?;
                courier.email(&notice).await
            }
            CHANNEL_WEBHOOK => {
                let id = item
                    .item
                    .subscription
                    .ok_or_else(|| "no subscription".to_owned())?;
                let hook = match self.store.get_webhook(id).await {
                    Ok(Some(h)) => h,
                    Ok(None) => return Err("the subscription was deleted".to_owned()),
                    Err(e) => return Err(e.to_string()),
                };
                let secret = self
                    .webhook_secret(&hook)
                    .ok_or_else(|| "the signing secret cannot be opened".to_owned())?;
                courier
                    .webhook(&hook.url, &secret, &item.item.payload)
                    .await
            }
            other => Err(format!("unknown channel {other}")),
        }
    }

    /// Enqueue the warning due for each token expiring within the largest
    /// threshold. Its key names the threshold and the expiry, so each
    /// warning is stored once — and an extended token is warned again.
    async fn warn_expiring(&self, now: DateTime<Utc>) -> Result<(), AppError> {
        let warn_days = &self.policy.notify.warn_days;
        let Some(max) = warn_days.iter().copied().max() else {
            return Ok(());
        };
        let pats = self
            .store
            .pats_expiring(now, now + Duration::days(i64::from(max)))
            .await?;
        if pats.is_empty() {
            return Ok(());
        }
        let policies = self.policies_in_force().await?;
        for pat in pats {
            let Some(threshold) = warning_due(warn_days, pat.valid_to - now) else {
                continue;
            };
            let detail = NoticeDetail {
                days_left: Some(days_until(now, pat.valid_to)),
                blocked: self.regenerate_blocked(&pat, &policies, now).await?,
                once: format!("{threshold}d:{}", pat.valid_to.timestamp_micros()),
                ..NoticeDetail::default()
            };
            self.notify(EventKind::Expiring, &pat, detail).await;
        }
        Ok(())
    }

    /// `expired` events (webhooks) for tokens that expired lately.
    async fn announce_expired(&self, now: DateTime<Utc>) -> Result<(), AppError> {
        for pat in self
            .store
            .pats_expiring(now - EXPIRED_LOOKBACK, now)
            .await?
        {
            let detail = NoticeDetail {
                once: pat.valid_to.timestamp_micros().to_string(),
                ..NoticeDetail::default()
            };
            self.notify(EventKind::Expired, &pat, detail).await;
        }
        Ok(())
    }

    /// Would the policies in force refuse `pat` to its owner today? Then
    /// it cannot be regenerated (or created again), and the notice says
    /// whom to ask.
    async fn regenerate_blocked(
        &self,
        pat: &Pat,
        policies: &Policies,
        now: DateTime<Utc>,
    ) -> Result<Option<Blocked>, AppError> {
        let Some(owner) = self.store.get_user(pat.owner).await? else {
            return Ok(None);
        };
        let claims = self.store.user_claims(owner.id).await?;
        let groups = self.roles.groups(&owner.issuer, &claims);
        let key = user_key(&owner.issuer, &owner.subject);
        let orgs: Vec<Uuid> = self
            .store
            .member_orgs(owner.id)
            .await?
            .into_iter()
            .map(|o| o.id)
            .collect();
        let shape = TokenShape::of(pat, &orgs);
        let who = Principal {
            key: &key,
            groups: &groups,
        };
        let Err(v) = policies.evaluate(&who, &shape, now) else {
            return Ok(None);
        };
        let ask = match v {
            Violation::OrgCreation { org } => {
                let name = self
                    .store
                    .list_orgs()
                    .await?
                    .into_iter()
                    .find(|o| o.id == org)
                    .map_or_else(|| org.to_string(), |o| o.name);
                format!("an administrator of organization {name}")
            }
            _ => "your Patrol tenant administrator".to_owned(),
        };
        Ok(Some(Blocked {
            why: v.to_string(),
            ask,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_and_is_capped() {
        let base = Duration::minutes(1);
        assert_eq!(backoff(base, 1), Duration::minutes(1));
        assert_eq!(backoff(base, 2), Duration::minutes(2));
        assert_eq!(backoff(base, 4), Duration::minutes(8));
        assert_eq!(backoff(base, 40), MAX_BACKOFF);
    }

    #[test]
    fn the_latest_threshold_crossed_is_the_warning_due() {
        let days = [7, 3];
        assert_eq!(warning_due(&days, Duration::days(8)), None);
        assert_eq!(warning_due(&days, Duration::days(7)), Some(7));
        assert_eq!(warning_due(&days, Duration::days(4)), Some(7));
        assert_eq!(warning_due(&days, Duration::days(3)), Some(3));
        assert_eq!(warning_due(&days, Duration::hours(1)), Some(3));
        assert_eq!(warning_due(&[], Duration::hours(1)), None);
    }
}
