//! Off the hot path: last-use records and verify audit records go through a
//! bounded channel to one background task, which writes them in batches
//! (every `interval`, or as soon as `batch` distinct PATs are waiting).
//! A full channel drops the record (and counts it) rather than slow a verify.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use uuid::Uuid;

use patrol_core::pat::LastUse;
use patrol_core::user::AuditEvent;
use patrol_store::{Store, UsageRecord};

/// Records waiting in the channel before new ones are dropped.
const QUEUE: usize = 16_384;

enum Msg {
    Used(UsageRecord),
    Audit(Box<AuditEvent>),
    Flush(oneshot::Sender<()>),
    Stop(oneshot::Sender<()>),
}

/// The verify path's end of the channel.
#[derive(Clone)]
pub struct UsageSender {
    tx: mpsc::Sender<Msg>,
    dropped: Arc<AtomicU64>,
}

/// The task's handle, held by the application to stop it on shutdown.
pub struct UsageFlusher {
    tx: mpsc::Sender<Msg>,
    handle: JoinHandle<()>,
}

impl UsageSender {
    fn offer(&self, m: Msg) {
        if self.tx.try_send(m).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("patrol_verify_usage_dropped_total").increment(1);
        }
    }

    pub fn used(&self, record: UsageRecord) {
        self.offer(Msg::Used(record));
    }

    pub fn audit(&self, event: AuditEvent) {
        self.offer(Msg::Audit(Box::new(event)));
    }

    /// Write everything queued so far; returns once it is written.
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Msg::Flush(ack)).await.is_ok() {
            let _ = done.await;
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl UsageFlusher {
    /// Write what is queued and end the task.
    pub async fn stop(self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Msg::Stop(ack)).await.is_ok() {
            let _ = done.await;
        }
        let _ = self.handle.await;
    }
}

/// Start the writer task (needs a Tokio runtime).
pub fn spawn(
    store: Arc<dyn Store>,
    interval: Duration,
    batch: usize,
) -> (UsageSender, UsageFlusher) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let handle = tokio::spawn(run(store, rx, interval, batch.max(1)));
    (
        UsageSender {
            tx: tx.clone(),
            dropped: Arc::new(AtomicU64::new(0)),
        },
        UsageFlusher { tx, handle },
    )
}

#[derive(Default)]
struct Pending {
    used: HashMap<Uuid, LastUse>,
    audits: Vec<AuditEvent>,
}

impl Pending {
    fn add(&mut self, r: UsageRecord) {
        match self.used.get(&r.authorization_id) {
            Some(prev) if prev.at >= r.last_use.at => {}
            _ => {
                self.used.insert(r.authorization_id, r.last_use);
            }
        }
    }

    fn len(&self) -> usize {
        self.used.len() + self.audits.len()
    }

    async fn write(&mut self, store: &dyn Store) {
        if !self.used.is_empty() {
            let batch: Vec<UsageRecord> = self
                .used
                .drain()
                .map(|(authorization_id, last_use)| UsageRecord {
                    authorization_id,
                    last_use,
                })
                .collect();
            // The records hold addresses and user agents: not logged.
            if let Err(e) = store.record_usage(&batch).await {
                tracing::warn!(error = %e, records = batch.len(), "could not record PAT last use");
            }
        }
        for ev in self.audits.drain(..) {
            if let Err(e) = store.append_audit(&ev).await {
                tracing::warn!(error = %e, "could not write a verify audit record");
            }
        }
    }
}

async fn run(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Msg>, interval: Duration, batch: usize) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pending = Pending::default();
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                None => break,
                Some(Msg::Used(r)) => {
                    pending.add(r);
                    if pending.len() >= batch {
                        pending.write(store.as_ref()).await;
                    }
                }
                Some(Msg::Audit(ev)) => {
                    pending.audits.push(*ev);
                    if pending.len() >= batch {
                        pending.write(store.as_ref()).await;
                    }
                }
                Some(Msg::Flush(ack)) => {
                    pending.write(store.as_ref()).await;
                    let _ = ack.send(());
                }
                Some(Msg::Stop(ack)) => {
                    pending.write(store.as_ref()).await;
                    let _ = ack.send(());
                    return;
                }
            },
            _ = ticker.tick() => {
                if pending.len() > 0 {
                    pending.write(store.as_ref()).await;
                }
            }
        }
    }
    pending.write(store.as_ref()).await;
}
