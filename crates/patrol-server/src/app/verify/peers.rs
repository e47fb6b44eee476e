//! The other replicas' verify caches: the port through which this replica
//! tells them what it forgot, and the rules for what it hears from them.
//!
//! Every use case that changes a PAT or a user forgets its cached
//! verifications here (`App::forget_verified*`) and tells the peers the
//! same; a notice heard from a peer forgets the same entries here, and
//! nothing more is told. When the way notices arrive was interrupted, some
//! may have been missed: the whole cache is dropped, so the bound on a
//! stale answer is the notice delay while connected, and never more than
//! the cache TTL. The transport (PostgreSQL `LISTEN`/`NOTIFY`) lives
//! outside `app/` (`crate::replicas`).

use std::sync::atomic::{AtomicBool, Ordering};

use uuid::Uuid;

use crate::app::App;

/// What one replica asks the others to forget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forget {
    /// Every cached verification of this PAT (any secret it had).
    Pat(Uuid),
    /// Every cached verification of this user's PATs.
    Owner(Uuid),
    /// The policies and webhook subscriptions kept (`app/settings.rs`).
    Settings,
}

/// Where this replica tells its peers what it forgot. Must not block: the
/// change is committed already, and the answer to the caller waits on this.
pub trait Peers: Send + Sync {
    fn tell(&self, forget: Forget);
}

/// One process, no peers (SQLite).
pub struct NoPeers;

impl Peers for NoPeers {
    fn tell(&self, _: Forget) {}
}

/// Whether notices from peers are being heard right now (operators, tests).
#[derive(Default)]
pub struct Hearing(AtomicBool);

impl Hearing {
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
    fn set(&self, on: bool) {
        self.0.store(on, Ordering::Release);
    }
}

impl App {
    /// A change to this PAT was committed: the very next verify, here and
    /// (once the notice arrives) on every other replica, must see it.
    pub(crate) fn forget_verified(&self, authorization_id: Uuid) {
        self.verify.cache.invalidate(authorization_id);
        self.verify.peers.tell(Forget::Pat(authorization_id));
    }

    /// A change to this user (disabled, memberships) was committed.
    pub fn forget_verified_owner(&self, user: Uuid) {
        self.verify.cache.invalidate_owner(user);
        self.verify.peers.tell(Forget::Owner(user));
    }

    /// A policy or webhook subscription change was committed: forget the
    /// ones kept (`app/settings.rs`), here and on every peer.
    pub(crate) fn forget_settings(&self) {
        self.settings.clear();
        self.verify.peers.tell(Forget::Settings);
    }

    /// A peer committed a change: forget the same here (not told on).
    pub fn heard_from_peer(&self, forget: Forget) {
        match forget {
            Forget::Pat(id) => self.verify.cache.invalidate(id),
            Forget::Owner(user) => self.verify.cache.invalidate_owner(user),
            Forget::Settings => self.settings.clear(),
        }
    }

    /// Notices from peers are heard (again): anything cached before may
    /// have missed one, so the cache starts empty.
    pub fn peers_heard_again(&self) {
        self.verify.cache.clear();
        self.settings.clear();
        self.verify.hearing.set(true);
    }

    /// Notices from peers are no longer heard: forget everything (what is
    /// cached from now on is read after the loss, and dropped again when
    /// hearing resumes).
    pub fn peers_lost(&self) {
        self.verify.cache.clear();
        self.settings.clear();
        self.verify.hearing.set(false);
    }

    /// Whether this replica hears its peers' notices now.
    pub fn hears_peers(&self) -> bool {
        self.verify.hearing.get()
    }
}
