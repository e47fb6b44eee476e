//! Several replicas over one PostgreSQL database: the transport behind
//! `app::verify::Peers` (what to forget is the app's rule, `app/verify/peers.rs`).
//!
//! A forgotten PAT or user goes into a queue that one task empties, sending
//! what has gathered as `NOTIFY`s in one statement, right after the change
//! committed (`patrol_store::PeerChannel`). One more task listens on every
//! replica and hands each notice from another replica to the app; when its
//! connection was lost it tells the app (which drops its whole cache) and
//! listens again with a growing pause, up to [`MAX_PAUSE`]. A connection can
//! also die without a word (a network that drops packets): every replica
//! sends a heartbeat every [`HEARTBEAT`], so a listener that hears nothing,
//! not even its own, for [`SILENCE`] is taken for lost the same way.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

use patrol_store::{PeerChannel, PeerEvent, PeerNotice, PeerSubject, MAX_NOTICES_PER_SEND};

use crate::app::verify::{Forget, Peers};
use crate::app::App;

/// Notices waiting to be sent; past this, one is dropped (and the TTL
/// bounds what that costs) rather than holding up a use case.
const QUEUE: usize = 4096;

/// The longest pause between attempts to listen again.
const MAX_PAUSE: Duration = Duration::from_secs(2);

/// How often each replica sends a heartbeat notice.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// A listener that hears nothing for this long is taken for lost.
const SILENCE: Duration = Duration::from_secs(3);

/// This replica's side of the channel: who it is, and the queue to send.
pub struct Replicas {
    channel: PeerChannel,
    origin: Uuid,
}

/// The `Peers` the app is given: queues what to tell.
struct Queue {
    tx: mpsc::Sender<Forget>,
}

impl Peers for Queue {
    fn tell(&self, forget: Forget) {
        if self.tx.try_send(forget).is_err() {
            metrics::counter!("patrol_replica_notices_dropped_total").increment(1);
            tracing::warn!(
                "replica notice queue full: a notice was dropped (the cache TTL bounds it)"
            );
        }
    }
}

impl Replicas {
    /// For PostgreSQL: the channel to the other replicas over the same
    /// database (SQLite is one process: `None`). Connects when first used.
    pub fn for_database(
        database: &crate::config::DatabaseSettings,
    ) -> anyhow::Result<Option<(Self, Arc<dyn Peers>)>> {
        use secrecy::ExposeSecret;
        let crate::config::DatabaseSettings::Postgres { url, password, .. } = database else {
            return Ok(None);
        };
        let password = password.as_ref().map(|p| p.expose_secret());
        let channel = PeerChannel::connect_with_password(url.expose_secret(), password)
            .map_err(|e| anyhow::anyhow!("database.url: {}: {e}", database.describe()))?;
        Ok(Some(Self::start(channel)))
    }

    /// Start the sending task; returns the `Peers` to give the app. Call
    /// [`Replicas::listen`] once the app exists.
    pub fn start(channel: PeerChannel) -> (Self, Arc<dyn Peers>) {
        let origin = Uuid::new_v4();
        let (tx, rx) = mpsc::channel(QUEUE);
        // Ends once the app (every holder of the queue) is gone, having
        // sent what was queued.
        tokio::spawn(send(channel.clone(), origin, rx));
        (Self { channel, origin }, Arc::new(Queue { tx }))
    }

    /// Hear the other replicas' notices (and send the heartbeat) until the
    /// task is aborted.
    pub fn listen(&self, app: App) -> JoinHandle<()> {
        let (channel, origin) = (self.channel.clone(), self.origin);
        tokio::spawn(async move {
            tokio::select! {
                () = heartbeat(channel.clone(), origin) => {}
                () = listen(channel, origin, app) => {}
            }
        })
    }
}

async fn send(channel: PeerChannel, origin: Uuid, mut rx: mpsc::Receiver<Forget>) {
    let mut batch = Vec::with_capacity(MAX_NOTICES_PER_SEND);
    while rx.recv_many(&mut batch, MAX_NOTICES_PER_SEND).await > 0 {
        let notices: Vec<PeerNotice> = batch
            .drain(..)
            .map(|f| PeerNotice {
                origin,
                subject: match f {
                    Forget::Pat(id) => PeerSubject::Pat(id),
                    Forget::Owner(id) => PeerSubject::User(id),
                    Forget::Settings => PeerSubject::Settings,
                },
            })
            .collect();
        let mut sent = channel.send(&notices).await;
        if sent.is_err() {
            // One retry: a connection lost between two uses is replaced.
            tokio::time::sleep(Duration::from_millis(50)).await;
            sent = channel.send(&notices).await;
        }
        match sent {
            Ok(()) => {
                metrics::counter!("patrol_replica_notices_sent_total")
                    .increment(notices.len() as u64);
            }
            Err(e) => {
                metrics::counter!("patrol_replica_notices_dropped_total")
                    .increment(notices.len() as u64);
                tracing::warn!(error = %e, notices = notices.len(),
                    "could not tell the other replicas what to forget (the cache TTL bounds it)");
            }
        }
    }
}

async fn heartbeat(channel: PeerChannel, origin: Uuid) {
    let ping = [PeerNotice {
        origin,
        subject: PeerSubject::Ping,
    }];
    let mut every = tokio::time::interval(HEARTBEAT);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(e) = channel.send(&ping).await {
            tracing::debug!(error = %e, "could not send the replica heartbeat");
        }
    }
}

async fn listen(channel: PeerChannel, origin: Uuid, app: App) {
    let hearing = metrics::gauge!("patrol_replica_hearing_peers");
    let mut pause = Duration::from_millis(100);
    loop {
        let mut listener = match channel.listen().await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(error = %e, "cannot listen to the other replicas yet");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
                continue;
            }
        };
        pause = Duration::from_millis(100);
        app.peers_heard_again();
        hearing.set(1.0);
        tracing::info!("listening to the other replicas");
        loop {
            let heard = tokio::select! {
                heard = listener.next() => heard,
                () = tokio::time::sleep(SILENCE) => {
                    // The listener is dropped, never used again after this.
                    tracing::warn!("heard nothing, not even this replica's heartbeat, \
                        for {SILENCE:?}: cache dropped, listening afresh");
                    app.peers_lost();
                    hearing.set(0.0);
                    break;
                }
            };
            match heard {
                Ok(PeerEvent::Notice(n)) if n.origin == origin => {}
                Ok(PeerEvent::Notice(n)) => match n.subject {
                    PeerSubject::Pat(id) => app.heard_from_peer(Forget::Pat(id)),
                    PeerSubject::User(id) => app.heard_from_peer(Forget::Owner(id)),
                    PeerSubject::Settings => app.heard_from_peer(Forget::Settings),
                    PeerSubject::Ping => {}
                },
                Ok(PeerEvent::Reconnected) => {
                    tracing::warn!("lost the other replicas' notices for a while: cache dropped");
                    app.peers_heard_again();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "lost the other replicas' notices: cache dropped");
                    app.peers_lost();
                    hearing.set(0.0);
                    break;
                }
            }
        }
    }
}
