//! Delivering notices: the [`Courier`] the job runner hands them to (email
//! over SMTP or into `patrol dev`'s outbox folder; webhooks over HTTP), and
//! the runner itself — a task beside the HTTP server that calls
//! [`App::run_jobs`] on an interval and gives the lease up on shutdown.
//! What is sent and when is decided in `app/` (`jobs.rs`, `notify.rs`).

use std::sync::Arc;

use async_trait::async_trait;
use lettre::message::Mailbox;
use tokio::sync::{watch, Mutex};
use uuid::Uuid;

use crate::app::{App, AppError, Courier, Notice, TickReport};

pub mod mail;
pub mod webhook;

pub use mail::Mailer;

/// Email and webhooks.
pub struct Couriers {
    mailer: Option<Mailer>,
    from: Mailbox,
    /// The web page, linked from emails.
    link: String,
    http: reqwest::Client,
}

impl Couriers {
    pub fn new(
        mailer: Option<Mailer>,
        from: &str,
        link: String,
        http: reqwest::Client,
    ) -> anyhow::Result<Self> {
        let from = from
            .parse()
            .map_err(|e| anyhow::anyhow!("smtp.from: {e}"))?;
        Ok(Self {
            mailer,
            from,
            link,
            http,
        })
    }
}

#[async_trait]
impl Courier for Couriers {
    async fn email(&self, notice: &Notice) -> Result<(), String> {
        let Some(mailer) = &self.mailer else {
            return Err("no SMTP server is configured (smtp.url)".to_owned());
        };
        let m = mail::message(notice, &self.from, &self.link)?;
        mailer.send(m, notice).await
    }

    async fn webhook(&self, url: &str, secret: &[u8], body: &str) -> Result<(), String> {
        webhook::post(&self.http, url, secret, body).await
    }
}

/// The job runner of one server: its lease holder id and courier. Ticks
/// are serialised, whether the interval or a test asks for them.
pub struct Jobs {
    app: App,
    courier: Arc<dyn Courier>,
    holder: String,
    lock: Mutex<()>,
}

impl Jobs {
    pub fn new(app: App, courier: Arc<dyn Courier>) -> Self {
        Self {
            app,
            courier,
            holder: format!("patrol-{}-{}", std::process::id(), Uuid::new_v4()),
            lock: Mutex::new(()),
        }
    }

    /// The lease holder id of this runner.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// One tick now (tests move the clock, then call this).
    pub async fn tick(&self) -> Result<TickReport, AppError> {
        let _one = self.lock.lock().await;
        self.app.run_jobs(&self.holder, self.courier.as_ref()).await
    }

    async fn release(&self) {
        let _one = self.lock.lock().await;
        if let Err(e) = self.app.release_jobs(&self.holder).await {
            tracing::warn!(error = %e, "could not release the job lease");
        }
    }
}

/// The running task; [`Runner::stop`] ends it and releases the lease.
pub struct Runner {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    jobs: Arc<Jobs>,
}

impl Runner {
    /// Tick every `every`, the first time after one interval.
    pub fn spawn(jobs: Arc<Jobs>, every: std::time::Duration) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let j = jobs.clone();
        let task = tokio::spawn(async move {
            let start = tokio::time::Instant::now() + every;
            let mut tick = tokio::time::interval_at(start, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        match j.tick().await {
                            Ok(r) if r.sent + r.failed + r.retried + r.purged > 0 => {
                                tracing::debug!(?r, "job runner tick");
                            }
                            Ok(_) => {}
                            Err(e) => tracing::warn!(error = %e, "job runner tick failed"),
                        }
                    }
                    _ = stopped.changed() => break,
                }
            }
        });
        Self { stop, task, jobs }
    }

    /// Stop after the tick in progress, then release the lease.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        self.jobs.release().await;
    }
}
