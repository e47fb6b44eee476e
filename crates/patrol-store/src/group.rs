//! Group commit for creates, on both backends. One task per store takes
//! whatever creates are waiting, commits them in one transaction, and
//! answers each only after that transaction committed: an acknowledged
//! create is stored. Each still counts its owner's tokens — those earlier in
//! the group included — so the cap holds exactly. A create the cap refuses
//! writes nothing and does not disturb the others. Any other failure rolls
//! the group back and its creates run again one transaction each, so each
//! gets its own answer and none is lost.
//!
//! Why: a create's own transaction paid for its round trips and its commit
//! alone (SQLite: waiting for the single write lock and writing the same
//! index pages to the WAL again and again; PostgreSQL: six round trips).
//! How each backend commits a group: `sqlite/group.rs`, `postgres/group.rs`.

use std::future::Future;

use patrol_core::hashing::KeyedHash;
use patrol_core::pat::Pat;
use patrol_core::user::AuditEvent;
use tokio::sync::{mpsc, oneshot};

use crate::{NewOutboxItem, StoreError, StoreResult};

/// The most creates committed together.
pub(crate) const MOST: usize = 64;
/// Creates waiting beyond this make their senders wait.
const QUEUE: usize = 1024;

/// A create as the store receives it (owned: it waits in the queue).
pub(crate) struct NewPat {
    pub pat: Pat,
    pub hash: KeyedHash,
    pub audit: AuditEvent,
    pub max_active: Option<u64>,
    /// Queued in the create's transaction instead of the record's intent.
    pub notices: Option<Vec<NewOutboxItem>>,
}

impl NewPat {
    pub(crate) fn new(
        pat: &Pat,
        hash: &KeyedHash,
        audit: &AuditEvent,
        max_active: Option<u64>,
        notices: Option<&[NewOutboxItem]>,
    ) -> Self {
        Self {
            pat: pat.clone(),
            hash: hash.clone(),
            audit: audit.clone(),
            max_active,
            notices: notices.map(<[_]>::to_vec),
        }
    }

    /// The record's notice intent, when it is stored instead of notices.
    pub(crate) fn intent(&self) -> Option<&String> {
        self.audit
            .notice
            .as_ref()
            .filter(|_| self.notices.is_none())
    }
}

/// A create waiting, and where its answer goes.
pub(crate) type Job = (NewPat, oneshot::Sender<StoreResult<()>>);

/// How a backend writes creates in one transaction: the ids of those
/// stored (the others the cap refused), or the error that rolled them all
/// back.
pub(crate) trait Committer: Send + 'static {
    fn together(
        &mut self,
        creates: &[&NewPat],
    ) -> impl Future<Output = StoreResult<Vec<String>>> + Send;
}

/// Commit `group` and answer each create: together, or — when that failed
/// — one transaction each, so each gets its own answer.
pub(crate) async fn commit(committer: &mut impl Committer, mut group: Vec<Job>) {
    let creates: Vec<&NewPat> = group.iter().map(|(new, _)| new).collect();
    let failed = match committer.together(&creates).await {
        Ok(stored) => return answer(group, &stored),
        Err(e) => e,
    };
    if group.len() == 1 {
        if let Some((_, done)) = group.pop() {
            let _ = done.send(Err(failed));
        }
        return;
    }
    tracing::debug!(error = %failed, creates = group.len(),
        "a group of creates failed; running them one by one");
    for (new, done) in group {
        match committer.together(&[&new]).await {
            Ok(stored) => answer(vec![(new, done)], &stored),
            Err(e) => {
                let _ = done.send(Err(e));
            }
        }
    }
}

/// Where creates are handed to the committing task (one per store).
#[derive(Clone, Debug)]
pub(crate) struct Creates {
    queue: mpsc::Sender<Job>,
}

impl Creates {
    /// Start the committing task; it ends when the last handle is dropped.
    pub(crate) fn start(mut committer: impl Committer) -> Self {
        let (queue, mut waiting) = mpsc::channel::<Job>(QUEUE);
        tokio::spawn(async move {
            let mut group = Vec::with_capacity(MOST);
            while waiting.recv_many(&mut group, MOST).await > 0 {
                commit(&mut committer, std::mem::take(&mut group)).await;
            }
        });
        Self { queue }
    }

    /// Store `new`; `Ok` once committed.
    pub(crate) async fn create(&self, new: NewPat) -> StoreResult<()> {
        let (done, answer) = oneshot::channel();
        self.queue.send((new, done)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Backend("the store's create queue has stopped".into())
}

/// Answer each create of a group that committed: stored, or refused by the
/// cap. `stored` holds the ids of those stored.
fn answer(group: Vec<Job>, stored: &[String]) {
    for (new, done) in group {
        let id = new.pat.authorization_id.to_string();
        let answer = match stored.contains(&id) {
            true => Ok(()),
            false => Err(StoreError::LimitReached),
        };
        // The caller may have gone; what committed stays.
        let _ = done.send(answer);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    //! A group committed directly (no queue), on each backend.
    use chrono::{DateTime, Duration, TimeZone, Utc};
    use patrol_core::hashing::{ServerKey, TokenHasher};
    use patrol_core::token::mint_default;
    use patrol_core::user::{AuditAction, Outcome, UserClaims};
    use uuid::Uuid;

    use super::*;
    use crate::{AuditQuery, SqliteStore, Store};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
    }

    async fn user(s: &dyn Store) -> Uuid {
        let claims = UserClaims {
            issuer: "i".into(),
            subject: "u".into(),
            display_name: "U".into(),
            email: None,
            email_verified: false,
        };
        s.upsert_user(&claims, t0()).await.unwrap().id
    }

    fn new_pat(owner: Uuid, max_active: Option<u64>) -> NewPat {
        let pat = Pat {
            valid_to: t0() + Duration::days(1),
            ..Pat::fixture(owner, t0())
        };
        let hasher = TokenHasher::new(vec![ServerKey::new("k1", vec![7; 32]).unwrap()]).unwrap();
        NewPat {
            hash: hasher.hash(&mint_default(t0()).unwrap()),
            audit: AuditEvent {
                target_pat: Some(pat.authorization_id),
                ..AuditEvent::new(AuditAction::PatCreate, t0(), "test", Outcome::Success)
            },
            pat,
            max_active,
            notices: None,
        }
    }

    /// Commit `creates` as one group; each one's answer.
    async fn group_of(c: &mut impl Committer, creates: Vec<NewPat>) -> Vec<StoreResult<()>> {
        let (group, answers): (Vec<Job>, Vec<_>) = creates
            .into_iter()
            .map(|new| {
                let (done, answer) = oneshot::channel();
                ((new, done), answer)
            })
            .unzip();
        commit(c, group).await;
        let mut out = Vec::new();
        for answer in answers {
            out.push(answer.await.unwrap());
        }
        out
    }

    async fn records(s: &dyn Store) -> usize {
        let all = AuditQuery {
            limit: 100,
            ..Default::default()
        };
        s.list_audit(&all).await.unwrap().len()
    }

    async fn each_create_counts_those_before_it(s: &dyn Store, c: &mut impl Committer) {
        let user = user(s).await;
        let creates: Vec<_> = (0..4).map(|_| new_pat(user, Some(2))).collect();
        let ids: Vec<_> = creates.iter().map(|c| c.pat.authorization_id).collect();
        let answers = group_of(c, creates).await;
        assert!(answers[0].is_ok() && answers[1].is_ok(), "{answers:?}");
        assert!(matches!(answers[2], Err(StoreError::LimitReached)));
        assert!(matches!(answers[3], Err(StoreError::LimitReached)));
        assert_eq!(s.count_active_for_owner(user, t0()).await.unwrap(), 2);
        assert!(s.get_pat(ids[1]).await.unwrap().is_some());
        assert!(s.get_pat(ids[2]).await.unwrap().is_none());
        assert_eq!(records(s).await, 2, "a refused create leaves no record");
        // The next group counts what the last one stored.
        let answers = group_of(c, vec![new_pat(user, Some(3)), new_pat(user, Some(3))]).await;
        assert!(answers[0].is_ok(), "{answers:?}");
        assert!(matches!(answers[1], Err(StoreError::LimitReached)));
    }

    async fn a_failing_create_does_not_cost_the_others(s: &dyn Store, c: &mut impl Committer) {
        let user = user(s).await;
        let first = new_pat(user, None);
        // The same secret's hash again: the unique index refuses it, and
        // with it the group's transaction.
        let clash = NewPat {
            hash: first.hash.clone(),
            ..new_pat(user, Some(10))
        };
        let last = new_pat(user, Some(10));
        let ids = [&first, &clash, &last].map(|c| c.pat.authorization_id);
        let answers = group_of(c, vec![first, clash, last]).await;
        assert!(answers[0].is_ok() && answers[2].is_ok(), "{answers:?}");
        assert!(
            matches!(answers[1], Err(StoreError::Conflict(_))),
            "{answers:?}"
        );
        assert!(s.get_pat(ids[0]).await.unwrap().is_some());
        assert!(s.get_pat(ids[1]).await.unwrap().is_none());
        assert!(s.get_pat(ids[2]).await.unwrap().is_some());
        assert_eq!(records(s).await, 2);
    }

    /// Notices go with their creates; a record's intent when it has none.
    async fn notices_and_intents_go_with_their_creates(s: &dyn Store, c: &mut impl Committer) {
        let user = user(s).await;
        let notice = |new: &NewPat, n: u32| NewOutboxItem {
            id: Uuid::new_v4(),
            dedupe_key: format!("k:{}:{n}", new.pat.authorization_id),
            channel: "email".into(),
            kind: "created".into(),
            user: Some(user),
            pat: Some(new.pat.authorization_id),
            subscription: None,
            payload: "{}".into(),
            created_at: t0(),
            due_at: t0(),
        };
        let mut told = new_pat(user, Some(2));
        told.notices = Some(vec![notice(&told, 1), notice(&told, 2)]);
        let mut promising = new_pat(user, Some(2));
        promising.audit.notice = Some("{\"promise\":1}".into());
        let mut refused = new_pat(user, Some(2));
        refused.notices = Some(vec![notice(&refused, 1)]);
        refused.audit.notice = Some("{\"promise\":2}".into());
        let answers = group_of(c, vec![told, promising, refused]).await;
        assert!(answers[0].is_ok() && answers[1].is_ok(), "{answers:?}");
        assert!(matches!(answers[2], Err(StoreError::LimitReached)));
        assert_eq!(s.outbox_counts().await.unwrap().pending, 2);
        let pending = s.pending_notices(10).await.unwrap();
        assert_eq!(pending.len(), 1, "{pending:?}");
        assert_eq!(pending[0].intent, "{\"promise\":1}");
    }

    #[tokio::test]
    async fn sqlite() {
        for case in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let s = SqliteStore::open(&dir.path().join("p.db")).await.unwrap();
            let mut c = crate::sqlite::group::Writer {
                pool: s.pool().clone(),
                own: None,
            };
            match case {
                0 => each_create_counts_those_before_it(&s, &mut c).await,
                1 => a_failing_create_does_not_cost_the_others(&s, &mut c).await,
                _ => notices_and_intents_go_with_their_creates(&s, &mut c).await,
            }
        }
    }

    #[tokio::test]
    async fn postgres() {
        for case in 0..3 {
            let (s, _) = crate::test_support::fresh_store().await.unwrap();
            let mut c = crate::postgres::group::Writer {
                pool: s.pool().clone(),
            };
            match case {
                0 => each_create_counts_those_before_it(&s, &mut c).await,
                1 => a_failing_create_does_not_cost_the_others(&s, &mut c).await,
                _ => notices_and_intents_go_with_their_creates(&s, &mut c).await,
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn creates_sent_at_once_are_all_answered_and_stored() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("p.db")).await.unwrap();
        let user = user(&s).await;
        let sent: Vec<_> = (0..200)
            .map(|_| {
                let s = s.clone();
                let new = new_pat(user, Some(150));
                tokio::spawn(async move {
                    let NewPat {
                        pat,
                        hash,
                        audit,
                        max_active,
                        ..
                    } = &new;
                    s.create_pat(pat, hash, audit, *max_active).await
                })
            })
            .collect();
        let mut stored = 0;
        for create in sent {
            match create.await.unwrap() {
                Ok(()) => stored += 1,
                Err(StoreError::LimitReached) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(stored, 150);
        assert_eq!(s.count_active_for_owner(user, t0()).await.unwrap(), 150);
    }
}
