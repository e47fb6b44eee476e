//! Notifications: what Patrol tells a token's owner (email) and webhook
//! subscribers when a token's life changes.
//!
//! A use case that changes a token puts its promise to tell in the change's
//! audit record ([`promise`]); the store keeps that intent in the same
//! transaction, and only when the change took effect. Right after the
//! commit the use case calls [`App::tell`], which turns the stored intent
//! into outbox items under keys unique to the notice and forgets it; should
//! the process die in between, the job runner finds the intent and does the
//! same ([`App::tell_pending`]). A create, which has the token and its owner
//! in hand, renders its notices before writing ([`App::promised`]) and the
//! store queues them in the create's own transaction, with no intent to
//! keep; should that write fail, the token is stored with its promise as
//! above. The job runner (`jobs.rs`) delivers the outbox. Expiry notices
//! come from the runner's own scans ([`App::notify`]).
//!
//! A notice never carries a token secret: only names, ids, scopes and dates.

use std::collections::HashMap;
use std::sync::PoisonError;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use patrol_core::pat::{OrgTarget, Pat};
use patrol_core::user::{AuditEvent, User};
use patrol_store::{NewOutboxItem, OutboxItem};

use super::{App, AppError, Caller};

/// What happened to a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Created,
    Updated,
    Regenerated,
    Revoked,
    Expiring,
    Expired,
    Leaked,
}

impl EventKind {
    pub const ALL: [EventKind; 7] = [
        EventKind::Created,
        EventKind::Updated,
        EventKind::Regenerated,
        EventKind::Revoked,
        EventKind::Expiring,
        EventKind::Expired,
        EventKind::Leaked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Updated => "updated",
            EventKind::Regenerated => "regenerated",
            EventKind::Revoked => "revoked",
            EventKind::Expiring => "expiring",
            EventKind::Expired => "expired",
            EventKind::Leaked => "leaked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Kinds the owner is emailed about.
    pub fn emailed(self) -> bool {
        matches!(
            self,
            EventKind::Created | EventKind::Revoked | EventKind::Expiring | EventKind::Leaked
        )
    }

    /// Emailed kinds the owner may switch off. Creation and leak notices
    /// always go out: they are how an unexpected token gets noticed.
    pub fn optional(self) -> bool {
        matches!(self, EventKind::Revoked | EventKind::Expiring)
    }
}

/// The token a notice is about: metadata only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenFacts {
    pub id: Uuid,
    pub name: String,
    pub scopes: String,
    /// Organization names; empty for a token valid in all of them.
    pub orgs: Vec<String>,
    pub valid_to: DateTime<Utc>,
}

/// A token that may not be regenerated under the policies in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blocked {
    /// The policy, in words.
    pub why: String,
    /// Whom to ask.
    pub ask: String,
}

/// One email notice, as stored in the outbox and rendered by the mailer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub kind: EventKind,
    pub to: String,
    pub user_name: String,
    pub token: TokenFacts,
    /// The OAuth client that created the token (a tool, e.g. a git
    /// credential manager), when known.
    pub client_id: Option<String>,
    /// Why it was revoked (or leaked).
    pub reason: Option<String>,
    /// Expiry warnings: whole days left.
    pub days_left: Option<i64>,
    /// Expiry warnings: set when the owner may no longer create this token.
    pub blocked: Option<Blocked>,
}

/// What else a notice says, beyond the token and its owner.
#[derive(Debug, Clone, Default)]
pub struct NoticeDetail {
    pub client_id: Option<String>,
    pub reason: Option<String>,
    pub days_left: Option<i64>,
    pub blocked: Option<Blocked>,
    /// Makes the notice unique: the same kind, token and `once` is one
    /// notice (e.g. the warning threshold and the expiry date).
    pub once: String,
}

/// A notice as the web page shows it.
#[derive(Debug, Clone)]
pub struct SentNotice {
    pub kind: EventKind,
    pub token_name: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub failed: bool,
}

/// A user's choice for one kind of notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoticePref {
    pub kind: EventKind,
    pub enabled: bool,
    /// False for creation and leak notices.
    pub optional: bool,
}

/// What a change promised to tell, as kept beside its audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Intent {
    kind: EventKind,
    pat: Uuid,
    /// Email the owner too (when the kind is emailed); false: webhooks only
    /// (e.g. the owner revoked it themselves).
    email: bool,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// `ev` (about a token: `target_pat`) with the promise to tell of `kind`
/// happening to that token, saying `reason`. The store keeps the promise
/// with the record only if the change took effect.
pub(crate) fn promise(
    ev: AuditEvent,
    kind: EventKind,
    email: bool,
    reason: Option<&str>,
) -> AuditEvent {
    let Some(pat) = ev.target_pat else {
        return ev;
    };
    let intent = Intent {
        kind,
        pat,
        email,
        client_id: ev.client_id.clone(),
        reason: reason.map(str::to_owned),
    };
    AuditEvent {
        notice: serde_json::to_string(&intent).ok(),
        ..ev
    }
}

pub(crate) const CHANNEL_EMAIL: &str = "email";
pub(crate) const CHANNEL_WEBHOOK: &str = "webhook";

impl App {
    /// The names of the organizations `ids` (those that exist). An
    /// organization is never renamed or removed, so a name once read stays
    /// true and is kept; only an id not seen before reads them all again.
    async fn org_names(&self, ids: &[Uuid]) -> Result<Vec<String>, AppError> {
        let known = |names: &HashMap<Uuid, String>| -> Option<Vec<String>> {
            ids.iter().map(|id| names.get(id).cloned()).collect()
        };
        let read = || {
            self.org_names
                .read()
                .unwrap_or_else(PoisonError::into_inner)
        };
        if let Some(names) = known(&read()) {
            return Ok(names);
        }
        let orgs = self.store.list_orgs().await?;
        let mut names = self
            .org_names
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        names.extend(orgs.into_iter().map(|o| (o.id, o.name)));
        Ok(ids.iter().filter_map(|id| names.get(id).cloned()).collect())
    }

    /// The token's organizations by name (empty: all).
    async fn facts(&self, pat: &Pat) -> Result<TokenFacts, AppError> {
        let orgs = match &pat.target {
            OrgTarget::All => Vec::new(),
            OrgTarget::Orgs(ids) => self.org_names(ids).await?,
        };
        Ok(TokenFacts {
            id: pat.authorization_id,
            name: pat.display_name.clone(),
            scopes: pat.scopes.as_string(),
            orgs,
            valid_to: pat.valid_to,
        })
    }

    /// Does `user` want `kind` by email?
    async fn wants(&self, user: Uuid, kind: EventKind) -> Result<bool, AppError> {
        if !kind.optional() {
            return Ok(true);
        }
        let prefs = self.store.notice_prefs(user).await?;
        Ok(prefs
            .iter()
            .find(|(k, _)| k == kind.as_str())
            .is_none_or(|(_, on)| *on))
    }

    /// Put the notices about `kind` happening to `pat` in the outbox: an
    /// email to its owner (when emailed, wanted and the owner has an
    /// address) and one delivery per matching webhook subscription. For
    /// the runner's own scans (expiry), which find the same notice again
    /// should this fail; changes go through [`promise`] and [`App::tell`].
    pub(crate) async fn notify(&self, kind: EventKind, pat: &Pat, detail: NoticeDetail) {
        if let Err(e) = self.try_notify(kind, pat, detail, true).await {
            enqueue_failed(Some(kind), &e);
        }
    }

    /// Right after a change was committed: turn the promises its records
    /// made (those the store kept) into outbox items. A failure is logged
    /// and counted, not answered: the change is stored, and the job runner
    /// keeps the promise later.
    pub(crate) async fn tell(&self, records: &[&AuditEvent]) {
        for ev in records.iter().filter(|ev| ev.notice.is_some()) {
            let kept = match self.store.notice_intent(ev.id).await {
                Ok(kept) => kept,
                Err(e) => {
                    enqueue_failed(None, &e);
                    continue;
                }
            };
            if let Some(intent) = kept {
                if let Err(e) = self.keep_promise(ev.id, &intent, None).await {
                    enqueue_failed(None, &e);
                }
            }
        }
    }

    /// The job runner's part: promises still pending (their process died
    /// before [`App::tell`], or it failed). One that cannot be kept now is
    /// logged and stays for the next tick; it does not hold up the others.
    /// Returns how many were kept.
    pub(crate) async fn tell_pending(&self, limit: u32) -> Result<u64, AppError> {
        let mut kept = 0;
        for p in self.store.pending_notices(limit).await? {
            match self.keep_promise(p.audit_id, &p.intent, None).await {
                Ok(()) => kept += 1,
                Err(e) => enqueue_failed(None, &e),
            }
        }
        if kept > 0 {
            tracing::info!(notices = kept, "queued notices a change had promised");
        }
        Ok(kept)
    }

    /// The outbox items the record `ev` promised about `pat`, owned by
    /// `owner` (both as the caller has them), for a store write that queues
    /// them in the change's own transaction.
    pub(crate) async fn promised(
        &self,
        ev: &AuditEvent,
        pat: &Pat,
        owner: &User,
    ) -> Result<Vec<NewOutboxItem>, AppError> {
        let mut items = Vec::new();
        if let Some(intent) = &ev.notice {
            self.render_promise(ev.id, intent, Some((pat, owner)), &mut items)
                .await?;
        }
        Ok(items)
    }

    /// [`App::tell`] for one change the caller knows took effect (the store
    /// kept its promise), on `pat` as stored, owned by `owner` as read in
    /// this request: nothing needs reading back.
    pub(crate) async fn tell_kept(&self, ev: &AuditEvent, pat: &Pat, owner: &User) {
        let Some(intent) = &ev.notice else {
            return;
        };
        if let Err(e) = self.keep_promise(ev.id, intent, Some((pat, owner))).await {
            enqueue_failed(None, &e);
        }
    }

    /// Enqueue what the record `audit_id` promised and forget the promise,
    /// in one store transaction. The notices' keys name the record, so
    /// doing this twice (inline and by the runner) stores each notice once.
    /// `known`: the token and its owner, when the caller has them.
    async fn keep_promise(
        &self,
        audit_id: Uuid,
        intent: &str,
        known: Option<(&Pat, &User)>,
    ) -> Result<(), AppError> {
        let mut items = Vec::new();
        self.render_promise(audit_id, intent, known, &mut items)
            .await?;
        self.store.enqueue_all(&items, Some(audit_id)).await?;
        Ok(())
    }

    /// The outbox items of the promise `intent` of record `audit_id`.
    async fn render_promise(
        &self,
        audit_id: Uuid,
        intent: &str,
        known: Option<(&Pat, &User)>,
        items: &mut Vec<NewOutboxItem>,
    ) -> Result<(), AppError> {
        let i = match serde_json::from_str::<Intent>(intent) {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(error = %e, %audit_id, "dropping an unreadable notice intent");
                return Ok(());
            }
        };
        let detail = NoticeDetail {
            client_id: i.client_id,
            reason: i.reason,
            once: audit_id.to_string(),
            ..NoticeDetail::default()
        };
        let known =
            known.filter(|(pat, owner)| pat.authorization_id == i.pat && pat.owner == owner.id);
        if let Some((pat, owner)) = known {
            return self
                .outbox_items(i.kind, pat, owner, &detail, i.email, items)
                .await;
        }
        // A token purged meanwhile has nobody left to tell.
        if let Some(pat) = self.store.get_pat(i.pat).await? {
            if let Some(owner) = self.store.get_user(pat.owner).await? {
                self.outbox_items(i.kind, &pat, &owner, &detail, i.email, items)
                    .await?;
            }
        }
        Ok(())
    }

    async fn try_notify(
        &self,
        kind: EventKind,
        pat: &Pat,
        detail: NoticeDetail,
        email: bool,
    ) -> Result<(), AppError> {
        let Some(owner) = self.store.get_user(pat.owner).await? else {
            return Ok(());
        };
        let mut items = Vec::new();
        self.outbox_items(kind, pat, &owner, &detail, email, &mut items)
            .await?;
        self.store.enqueue_all(&items, None).await?;
        Ok(())
    }

    /// The outbox items telling of `kind` happening to `owner`'s `pat`: an
    /// email to the owner (when emailed, wanted, and the address is
    /// vouched for) and one per matching webhook subscription.
    async fn outbox_items(
        &self,
        kind: EventKind,
        pat: &Pat,
        owner: &User,
        detail: &NoticeDetail,
        email: bool,
        items: &mut Vec<NewOutboxItem>,
    ) -> Result<(), AppError> {
        let now = self.now();
        let facts = self.facts(pat).await?;
        let key = format!("{}:{}:{}", kind.as_str(), pat.authorization_id, detail.once);
        if email && kind.emailed() && self.policy.notify.email {
            // Only to an address the identity provider vouched for: an
            // unverified one may belong to someone else.
            if let Some(to) = owner.email.clone().filter(|_| owner.email_verified) {
                if self.wants(owner.id, kind).await? {
                    let notice = Notice {
                        kind,
                        to,
                        user_name: owner.display_name.clone(),
                        token: facts.clone(),
                        client_id: detail.client_id.clone(),
                        reason: detail.reason.clone(),
                        days_left: detail.days_left,
                        blocked: detail.blocked.clone(),
                    };
                    let payload = serde_json::to_string(&notice)
                        .map_err(|e| AppError::Internal(e.to_string()))?;
                    items.push(NewOutboxItem {
                        id: Uuid::new_v4(),
                        dedupe_key: format!("email:{key}"),
                        channel: CHANNEL_EMAIL.to_owned(),
                        kind: kind.as_str().to_owned(),
                        user: Some(owner.id),
                        pat: Some(pat.authorization_id),
                        subscription: None,
                        payload,
                        created_at: now,
                        due_at: now,
                    });
                }
            }
        }
        self.webhook_items(kind, owner, &facts, detail, &key, items)
            .await
    }

    /// Notices by state (metrics).
    pub async fn outbox_counts(&self) -> Result<patrol_store::OutboxCounts, AppError> {
        Ok(self.store.outbox_counts().await?)
    }

    /// What was emailed to the caller, newest first.
    pub async fn sent_notices(
        &self,
        caller: &Caller,
        limit: u32,
    ) -> Result<Vec<SentNotice>, AppError> {
        let items = self
            .store
            .outbox_for_user(caller.user.id, limit.clamp(1, 200))
            .await?;
        Ok(items.into_iter().filter_map(sent_notice).collect())
    }

    /// The caller's choices, one per emailed kind.
    pub async fn notice_prefs(&self, caller: &Caller) -> Result<Vec<NoticePref>, AppError> {
        let stored = self.store.notice_prefs(caller.user.id).await?;
        Ok(EventKind::ALL
            .into_iter()
            .filter(|k| k.emailed())
            .map(|kind| NoticePref {
                kind,
                enabled: !kind.optional()
                    || stored
                        .iter()
                        .find(|(k, _)| k == kind.as_str())
                        .is_none_or(|(_, on)| *on),
                optional: kind.optional(),
            })
            .collect())
    }

    /// Switch an optional notice on or off; creation and leak notices
    /// cannot be switched off.
    pub async fn set_notice_pref(
        &self,
        caller: &Caller,
        kind: EventKind,
        enabled: bool,
    ) -> Result<(), AppError> {
        if !kind.optional() && !enabled {
            return Err(AppError::InvalidNotification(format!(
                "{} notices cannot be switched off",
                kind.as_str()
            )));
        }
        if !kind.emailed() {
            return Err(AppError::InvalidNotification(format!(
                "{} is not an email notice",
                kind.as_str()
            )));
        }
        self.store
            .set_notice_pref(caller.user.id, kind.as_str(), enabled)
            .await?;
        Ok(())
    }
}

/// A notice could not be put in the outbox (`kind` when known; a promised
/// one stays in the store for the job runner).
fn enqueue_failed(kind: Option<EventKind>, e: &dyn std::fmt::Display) {
    metrics::counter!("patrol_notifications_enqueue_failures_total").increment(1);
    let kind = kind.map_or("promised", EventKind::as_str);
    tracing::warn!(error = %e, kind, "could not enqueue a notification");
}

fn sent_notice(i: OutboxItem) -> Option<SentNotice> {
    let notice: Notice = serde_json::from_str(&i.item.payload).ok()?;
    Some(SentNotice {
        kind: notice.kind,
        token_name: notice.token.name,
        created_at: i.item.created_at,
        sent_at: i.sent_at,
        failed: i.failed_at.is_some(),
    })
}

/// Whole days from `now` until `then`, rounded up.
pub(crate) fn days_until(now: DateTime<Utc>, then: DateTime<Utc>) -> i64 {
    let secs = (then - now).num_seconds();
    (secs + 86_399).div_euclid(86_400)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn kinds_round_trip_and_only_revoked_and_expiring_are_optional() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
        let optional: Vec<_> = EventKind::ALL
            .into_iter()
            .filter(|k| k.optional())
            .collect();
        assert_eq!(optional, [EventKind::Revoked, EventKind::Expiring]);
        assert!(EventKind::Created.emailed() && EventKind::Leaked.emailed());
        assert!(!EventKind::Updated.emailed());
    }

    #[test]
    fn days_left_round_up() {
        let now = Utc::now();
        assert_eq!(days_until(now, now + Duration::days(7)), 7);
        assert_eq!(
            days_until(now, now + Duration::days(6) + Duration::hours(1)),
            7
        );
        assert_eq!(days_until(now, now + Duration::hours(1)), 1);
        assert_eq!(days_until(now, now), 0);
    }
}
