//! Replicas telling each other what to forget, over PostgreSQL
//! `LISTEN`/`NOTIFY` on one channel ([`PEER_CHANNEL`]).
//!
//! A notice names the replica that sent it and one PAT or one user; its
//! text is `"<origin> pat <id>"` or `"<origin> user <id>"` (ids only,
//! never a secret); `"<origin> ping"` only shows the channel works (a
//! listener that hears nothing for a while may be on a dead connection). Notices are transient: one sent while a listener's
//! connection is down is lost, which [`PeerListener::next`] reports as
//! [`PeerEvent::Reconnected`] so the receiver can assume it missed some.

use std::str::FromStr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{StoreError, StoreResult};

/// The `NOTIFY` channel every replica listens on.
pub const PEER_CHANNEL: &str = "patrol_verify_forget";

/// What a notice asks the other replicas to forget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerSubject {
    /// Every cached verification of this PAT.
    Pat(Uuid),
    /// Every cached verification of this user's PATs.
    User(Uuid),
    /// The policies and webhook subscriptions a replica keeps.
    Settings,
    /// Nothing to forget: the sender's heartbeat.
    Ping,
}

/// One notice: who sent it, and what to forget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerNotice {
    pub origin: Uuid,
    pub subject: PeerSubject,
}

impl PeerNotice {
    /// The notice's payload text.
    pub fn encode(&self) -> String {
        match self.subject {
            PeerSubject::Pat(id) => format!("{} pat {id}", self.origin),
            PeerSubject::User(id) => format!("{} user {id}", self.origin),
            PeerSubject::Settings => format!("{} settings", self.origin),
            PeerSubject::Ping => format!("{} ping", self.origin),
        }
    }

    /// Read a payload; `None` for anything that is not one.
    pub fn decode(payload: &str) -> Option<Self> {
        let mut parts = payload.split(' ');
        let origin = Uuid::parse_str(parts.next()?).ok()?;
        let kind = parts.next()?;
        let id = parts.next().map(Uuid::parse_str);
        if parts.next().is_some() {
            return None;
        }
        let subject = match (kind, id) {
            ("pat", Some(Ok(id))) => PeerSubject::Pat(id),
            ("user", Some(Ok(id))) => PeerSubject::User(id),
            ("settings", None) => PeerSubject::Settings,
            ("ping", None) => PeerSubject::Ping,
            _ => return None,
        };
        Some(Self { origin, subject })
    }
}

/// What a listener hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerEvent {
    Notice(PeerNotice),
    /// The connection was lost and is listening again: notices sent in
    /// between are lost.
    Reconnected,
}

/// The connections a replica uses to send and hear notices, apart from the
/// store's, so a busy store never delays a notice: a pool of two for
/// sending, and one connection per [`PeerChannel::listen`] in a pool of its
/// own — a listener given up on a dead connection takes nothing from the
/// next one.
#[derive(Clone, Debug)]
pub struct PeerChannel {
    /// Replaced by a fresh one when a send gets no answer (its connections
    /// may be dead, and would hold their places until the OS gives up).
    pool: Arc<RwLock<PgPool>>,
    opts: PgConnectOptions,
}

/// How long to wait for a connection (sending or listening).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest a send or the start of listening may take: a connection
/// that died without a word never answers, and the server's
/// `statement_timeout` cannot help with that.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);

/// The most notices sent in one statement.
pub const MAX_NOTICES_PER_SEND: usize = 256;

impl PeerChannel {
    /// Connections are made when first needed (as for the store): this
    /// fails only for a malformed URL. `password`, when given, replaces any
    /// in the URL.
    pub fn connect_with_password(url: &str, password: Option<&str>) -> StoreResult<Self> {
        let mut opts = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Backend(format!("database url: {e}")))?;
        if let Some(p) = password {
            opts = opts.password(p);
        }
        let opts = opts
            .application_name("patrol-peers")
            .options([("statement_timeout", "5000")]);
        let pool = Arc::new(RwLock::new(Self::send_pool(&opts)));
        Ok(Self { pool, opts })
    }

    fn send_pool(opts: &PgConnectOptions) -> PgPool {
        PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_lazy_with(opts.clone())
    }

    /// Send these notices (at most [`MAX_NOTICES_PER_SEND`] are read) in
    /// one statement.
    pub async fn send(&self, notices: &[PeerNotice]) -> StoreResult<()> {
        let payloads: Vec<String> = notices
            .iter()
            .take(MAX_NOTICES_PER_SEND)
            .map(PeerNotice::encode)
            .collect();
        if payloads.is_empty() {
            return Ok(());
        }
        let pool = self
            .pool
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let send = sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
            .bind(PEER_CHANNEL)
            .bind(payloads)
            .execute(&pool);
        let sent = within(send).await;
        if sent.is_err() {
            *self.pool.write().unwrap_or_else(PoisonError::into_inner) =
                Self::send_pool(&self.opts);
        }
        sent.map(|_| ())
    }

    /// Start listening: returns once `LISTEN` has been run, so every notice
    /// sent afterwards is heard (until the connection is lost).
    pub async fn listen(&self) -> StoreResult<PeerListener> {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_lazy_with(self.opts.clone());
        let listener = within(async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(PEER_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        })
        .await?;
        Ok(PeerListener { listener })
    }
}

/// `work`, given up after [`ANSWER_TIMEOUT`].
async fn within<T>(
    work: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> StoreResult<T> {
    match tokio::time::timeout(ANSWER_TIMEOUT, work).await {
        Ok(done) => Ok(done?),
        Err(_) => Err(StoreError::Backend(format!(
            "no answer from the database within {} ms",
            ANSWER_TIMEOUT.as_millis()
        ))),
    }
}

/// A listening connection.
pub struct PeerListener {
    listener: PgListener,
}

impl PeerListener {
    /// The next notice, or [`PeerEvent::Reconnected`] after the connection
    /// was lost and listening again. An error means it is lost and could
    /// not be re-established: drop this listener and [`PeerChannel::listen`]
    /// again. Payloads that are not notices are skipped.
    pub async fn next(&mut self) -> StoreResult<PeerEvent> {
        loop {
            match self.listener.try_recv().await? {
                None => return Ok(PeerEvent::Reconnected),
                Some(n) => {
                    if let Some(notice) = PeerNotice::decode(n.payload()) {
                        return Ok(PeerEvent::Notice(notice));
                    }
                    tracing::warn!("ignored a malformed notice on {PEER_CHANNEL}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn notices_round_trip_and_junk_is_refused() {
        let origin = Uuid::new_v4();
        for subject in [
            PeerSubject::Pat(Uuid::new_v4()),
            PeerSubject::User(Uuid::new_v4()),
            PeerSubject::Settings,
            PeerSubject::Ping,
        ] {
            let n = PeerNotice { origin, subject };
            assert_eq!(PeerNotice::decode(&n.encode()), Some(n));
        }
        let id = Uuid::new_v4();
        for junk in [
            String::new(),
            format!("{origin} pat"),
            format!("{origin} group {id}"),
            format!("{origin} pat {id} more"),
            format!("{origin} ping {id}"),
            format!("{origin} user"),
            format!("nope pat {id}"),
            format!("{origin} pat not-a-uuid"),
        ] {
            assert_eq!(PeerNotice::decode(&junk), None, "{junk}");
        }
    }

    /// What one channel sends, another (another replica's) hears, in order,
    /// once it listens.
    #[tokio::test]
    async fn notices_sent_are_heard_by_a_listener() {
        let url = crate::test_support::fresh_database_url().await.unwrap();
        let a = PeerChannel::connect_with_password(&url, None).unwrap();
        let b = PeerChannel::connect_with_password(&url, None).unwrap();
        let mut heard = b.listen().await.unwrap();
        let origin = Uuid::new_v4();
        let sent: Vec<PeerNotice> = (0..3)
            .map(|i| PeerNotice {
                origin,
                subject: if i == 1 {
                    PeerSubject::User(Uuid::new_v4())
                } else {
                    PeerSubject::Pat(Uuid::new_v4())
                },
            })
            .collect();
        a.send(&sent).await.unwrap();
        for n in &sent {
            let got = tokio::time::timeout(Duration::from_secs(5), heard.next())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(got, PeerEvent::Notice(*n));
        }
    }

    /// A listener whose connection is killed says so once it listens again,
    /// and hears what is sent afterwards.
    #[tokio::test]
    async fn a_lost_connection_is_reported_on_reconnect() {
        let url = crate::test_support::fresh_database_url().await.unwrap();
        let a = PeerChannel::connect_with_password(&url, None).unwrap();
        let b = PeerChannel::connect_with_password(&url, None).unwrap();
        let mut heard = b.listen().await.unwrap();
        let admin = PgPool::connect(&url).await.unwrap();
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = 'patrol-peers' AND query ILIKE 'LISTEN%' \
             AND datname = current_database()",
        )
        .fetch_all(&admin)
        .await
        .unwrap();
        assert_eq!(killed, vec![true]);
        // The loss is never silent: `Reconnected` (sqlx listened again by
        // itself) or an error (the caller listens afresh).
        let lost = tokio::time::timeout(Duration::from_secs(5), heard.next())
            .await
            .unwrap();
        match lost {
            Ok(PeerEvent::Reconnected) => {}
            Err(_) => heard = b.listen().await.unwrap(),
            Ok(other) => panic!("expected the loss to be reported, got {other:?}"),
        }
        let n = PeerNotice {
            origin: Uuid::new_v4(),
            subject: PeerSubject::Pat(Uuid::new_v4()),
        };
        a.send(&[n]).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), heard.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, PeerEvent::Notice(n));
    }
}
