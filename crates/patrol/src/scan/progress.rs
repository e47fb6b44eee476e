//! A progress line on stderr for long scans: shown only when stderr is a
//! terminal and the scan is still running after [`DELAY`], so small scans,
//! pipes and CI logs never see it.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

const DELAY: Duration = Duration::from_secs(1);

pub(super) struct Progress {
    bar: ProgressBar,
    files: AtomicU64,
    hits: AtomicU64,
    done: Option<mpsc::Sender<()>>,
    shower: Option<JoinHandle<()>>,
}

impl Progress {
    pub(super) fn start() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} scanned {binary_bytes} ({binary_bytes_per_sec}) in {msg}",
        ) {
            bar.set_style(style);
        }
        if !std::io::stderr().is_terminal() {
            return Self {
                bar,
                files: AtomicU64::new(0),
                hits: AtomicU64::new(0),
                done: None,
                shower: None,
            };
        }
        let (tx, rx) = mpsc::channel::<()>();
        let shown = bar.clone();
        let shower = std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(DELAY) {
                shown.set_draw_target(ProgressDrawTarget::stderr());
                shown.enable_steady_tick(Duration::from_millis(120));
            }
        });
        Self {
            bar,
            files: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            done: Some(tx),
            shower: Some(shower),
        }
    }

    /// One file (or blob) of `bytes` scanned.
    pub(super) fn file(&self, bytes: u64) {
        self.bar.inc(bytes);
        if self.files.fetch_add(1, Ordering::Relaxed) & 63 == 0 {
            self.message();
        }
    }

    /// `n` tokens found.
    pub(super) fn hits(&self, n: u64) {
        self.hits.fetch_add(n, Ordering::Relaxed);
        self.message();
    }

    fn message(&self) {
        let files = self.files.load(Ordering::Relaxed);
        let hits = self.hits.load(Ordering::Relaxed);
        self.bar
            .set_message(format!("{files} files, {hits} tokens found"));
    }

    /// Runs `f` (which prints to stderr) with the progress line out of the way.
    pub(super) fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    /// Stops the display for good (waits for the thread that would show it).
    pub(super) fn finish(&mut self) {
        self.done.take(); // disconnects: the shower thread wakes up and returns
        if let Some(shower) = self.shower.take() {
            let _ = shower.join();
        }
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
