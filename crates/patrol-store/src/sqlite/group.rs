//! Group commit for creates. SQLite has one writer at a time, and each
//! commit writes every page it touched to the WAL: creates that each took
//! the write lock for themselves spent their time waiting for it (SQLite's
//! busy handler sleeps between tries) and writing the same index pages
//! again and again. Here one task takes whatever creates are waiting, runs
//! them in order in one transaction — each still counts the owner's tokens
//! before it inserts, so the cap holds exactly — and answers each only
//! after that transaction committed: an acknowledged create is stored.
//!
//! A create the cap refuses writes nothing and does not disturb the others.
//! Any other failure rolls the group back and runs its creates again one
//! transaction each, so each gets its own answer and none is lost.

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection as _, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::pats::{self, NewPat};
use crate::{StoreError, StoreResult};

/// The most creates committed together.
const MOST: usize = 64;
/// Creates waiting beyond this make their senders wait.
const QUEUE: usize = 1024;

type Job = (NewPat, oneshot::Sender<StoreResult<()>>);

/// Where creates are handed to the committing task (one per store).
#[derive(Clone, Debug)]
pub(super) struct Creates {
    queue: mpsc::Sender<Job>,
}

impl Creates {
    /// Start the committing task; it ends when the last handle is dropped.
    /// With `own`, it writes through a connection of its own (a database
    /// file): as nothing else writes creates, that connection's page cache
    /// stays valid from one group to the next, where a pooled connection's
    /// would have been emptied by a commit on another. Without (an
    /// in-memory database, which exists per connection), through the pool.
    pub(super) fn start(pool: SqlitePool, own: Option<SqliteConnectOptions>) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUE);
        let writer = Writer {
            pool,
            own: own.map(|opts| (opts, None)),
        };
        tokio::spawn(writer.run(waiting));
        Self { queue }
    }

    /// Store `new`; `Ok` once committed.
    pub(super) async fn create(&self, new: NewPat) -> StoreResult<()> {
        let (done, answer) = oneshot::channel();
        self.queue.send((new, done)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Backend("the store's create queue has stopped".into())
}

struct Writer {
    pool: SqlitePool,
    /// Its own connection's options, and the connection once open.
    own: Option<(SqliteConnectOptions, Option<SqliteConnection>)>,
}

impl Writer {
    async fn run(mut self, mut waiting: mpsc::Receiver<Job>) {
        let mut group = Vec::with_capacity(MOST);
        while waiting.recv_many(&mut group, MOST).await > 0 {
            self.commit(std::mem::take(&mut group)).await;
        }
    }

    async fn commit(&mut self, group: Vec<Job>) {
        let Some((opts, own)) = &mut self.own else {
            match self.pool.acquire().await {
                Ok(mut conn) => {
                    commit(&mut conn, group).await;
                }
                Err(e) => refuse(group, &e.into()),
            }
            return;
        };
        if own.is_none() {
            match SqliteConnection::connect_with(opts).await {
                Ok(conn) => *own = Some(conn),
                Err(e) => return refuse(group, &e.into()),
            }
        }
        if let Some(conn) = own {
            if !commit(conn, group).await {
                // Opened again for the next group, in case it broke.
                *own = None;
            }
        }
    }
}

/// Answer every create with `e`.
fn refuse(group: Vec<Job>, e: &StoreError) {
    for (_, done) in group {
        let _ = done.send(Err(StoreError::Backend(e.to_string())));
    }
}

/// Commit `group` and answer each create; whether all went without error.
async fn commit(conn: &mut SqliteConnection, group: Vec<Job>) -> bool {
    if group.len() > 1 {
        match together(conn, &group).await {
            Ok(answers) => {
                for ((_, done), answer) in group.into_iter().zip(answers) {
                    // The caller may have gone; what committed stays.
                    let _ = done.send(answer);
                }
                return true;
            }
            Err(e) => tracing::debug!(error = %e, creates = group.len(),
                "a group of creates failed; running them one by one"),
        }
    }
    let mut clean = group.len() == 1;
    for (new, done) in group {
        let answer = pats::create(conn, &new).await;
        clean &= matches!(answer, Ok(()) | Err(StoreError::LimitReached));
        let _ = done.send(answer);
    }
    clean
}

/// The group in one transaction: each create's answer, or the error that
/// rolled them all back.
async fn together(conn: &mut SqliteConnection, group: &[Job]) -> StoreResult<Vec<StoreResult<()>>> {
    let creates: Vec<&NewPat> = group.iter().map(|(new, _)| new).collect();
    let mut tx = conn.begin().await?;
    let stored = pats::insert_all(&mut tx, &creates).await?;
    tx.commit().await?;
    Ok(creates
        .iter()
        .map(
            |new| match stored.contains(&new.pat.authorization_id.to_string()) {
                true => Ok(()),
                false => Err(StoreError::LimitReached),
            },
        )
        .collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::{DateTime, Duration, TimeZone, Utc};
    use patrol_core::hashing::{ServerKey, TokenHasher};
    use patrol_core::pat::Pat;
    use patrol_core::token::mint_default;
    use patrol_core::user::{AuditAction, AuditEvent, Outcome, UserClaims};
    use uuid::Uuid;

    use super::*;
    use crate::{SqliteStore, Store};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
    }

    async fn store() -> (SqliteStore, tempfile::TempDir, Uuid) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("p.db")).await.unwrap();
        let claims = UserClaims {
            issuer: "i".into(),
            subject: "u".into(),
            display_name: "U".into(),
            email: None,
            email_verified: false,
        };
        let user = s.upsert_user(&claims, t0()).await.unwrap().id;
        (s, dir, user)
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

    fn all_records() -> crate::AuditQuery {
        crate::AuditQuery {
            limit: 100,
            ..Default::default()
        }
    }

    /// Commit `creates` as one group; each one's answer.
    async fn group_of(s: &SqliteStore, creates: Vec<NewPat>) -> Vec<StoreResult<()>> {
        let (group, answers): (Vec<Job>, Vec<_>) = creates
            .into_iter()
            .map(|new| {
                let (done, answer) = oneshot::channel();
                ((new, done), answer)
            })
            .unzip();
        let mut conn = s.pool().acquire().await.unwrap();
        commit(&mut conn, group).await;
        let mut out = Vec::new();
        for answer in answers {
            out.push(answer.await.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn each_create_in_a_group_counts_those_before_it() {
        let (s, _dir, user) = store().await;
        let creates: Vec<_> = (0..4).map(|_| new_pat(user, Some(2))).collect();
        let ids: Vec<_> = creates.iter().map(|c| c.pat.authorization_id).collect();
        let answers = group_of(&s, creates).await;
        assert!(answers[0].is_ok() && answers[1].is_ok(), "{answers:?}");
        assert!(matches!(answers[2], Err(StoreError::LimitReached)));
        assert!(matches!(answers[3], Err(StoreError::LimitReached)));
        assert_eq!(s.count_active_for_owner(user, t0()).await.unwrap(), 2);
        assert!(s.get_pat(ids[1]).await.unwrap().is_some());
        assert!(s.get_pat(ids[2]).await.unwrap().is_none());
        let records = s.list_audit(&all_records()).await.unwrap();
        assert_eq!(records.len(), 2, "a refused create leaves no record");
    }

    #[tokio::test]
    async fn a_create_that_fails_does_not_cost_the_others_in_its_group() {
        let (s, _dir, user) = store().await;
        let first = new_pat(user, None);
        // The same secret's hash again: the unique index refuses it, and
        // with it the group's transaction.
        let clash = NewPat {
            hash: first.hash.clone(),
            ..new_pat(user, None)
        };
        let last = new_pat(user, None);
        let ids = [&first, &clash, &last].map(|c| c.pat.authorization_id);
        let answers = group_of(&s, vec![first, clash, last]).await;
        assert!(answers[0].is_ok() && answers[2].is_ok(), "{answers:?}");
        assert!(
            matches!(answers[1], Err(StoreError::Conflict(_))),
            "{answers:?}"
        );
        assert!(s.get_pat(ids[0]).await.unwrap().is_some());
        assert!(s.get_pat(ids[1]).await.unwrap().is_none());
        assert!(s.get_pat(ids[2]).await.unwrap().is_some());
        let records = s.list_audit(&all_records()).await.unwrap();
        assert_eq!(records.len(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn creates_sent_at_once_are_all_answered_and_stored() {
        let (s, _dir, user) = store().await;
        let sent: Vec<_> = (0..200)
            .map(|_| {
                let s = s.clone();
                let new = new_pat(user, Some(150));
                tokio::spawn(async move { s.creates.create(new).await })
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
