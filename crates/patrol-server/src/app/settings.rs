//! Policies and webhook subscriptions as this replica last read them. Both
//! change rarely and every create reads both; kept here, a create spends
//! two store round trips fewer.
//!
//! A change made through this replica forgets them at once and tells the
//! peers to forget theirs (`App::forget_settings`, over the verify cache's
//! channel, `verify/peers.rs`);
//! when the peers' notices were not heard for a while, everything is
//! dropped, as the verify cache is. [`KEEP`] bounds what a missed notice
//! can cost. A read that was under way while a change was forgotten is not
//! kept (the generation moved on), so no stale answer outlives a change.
//!
//! The admin API (policy view, dry runs) reads the store directly.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use uuid::Uuid;

use patrol_core::policy::Policies;
use patrol_store::Webhook;

use super::{App, AppError};

/// How long a read is used at most, notice or not.
pub(crate) const KEEP: Duration = Duration::from_secs(5);
/// Owners whose subscriptions are kept at most (then all are dropped).
const MOST_OWNERS: usize = 10_000;

#[derive(Default)]
pub(crate) struct Settings {
    /// Bumped by every forget: a read begun before it is not kept.
    generation: AtomicU64,
    policies: Mutex<Option<(Instant, Policies)>>,
    hooks: Mutex<HashMap<Uuid, (Instant, Vec<Webhook>)>>,
}

impl Settings {
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Drop everything kept.
    pub(crate) fn clear(&self) {
        // Bumped while the locks are held: a read finishing meanwhile
        // either stored before (and is cleared) or sees the new generation.
        let mut policies = self.policies.lock().unwrap_or_else(PoisonError::into_inner);
        let mut hooks = self.hooks.lock().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        *policies = None;
        hooks.clear();
    }

    fn policies(&self) -> Option<Policies> {
        let kept = self.policies.lock().unwrap_or_else(PoisonError::into_inner);
        kept.as_ref()
            .filter(|(at, _)| at.elapsed() < KEEP)
            .map(|(_, p)| p.clone())
    }

    fn keep_policies(&self, read_in: u64, p: &Policies) {
        let mut kept = self.policies.lock().unwrap_or_else(PoisonError::into_inner);
        if self.generation() == read_in {
            *kept = Some((Instant::now(), p.clone()));
        }
    }

    fn hooks(&self, owner: Uuid) -> Option<Vec<Webhook>> {
        let kept = self.hooks.lock().unwrap_or_else(PoisonError::into_inner);
        kept.get(&owner)
            .filter(|(at, _)| at.elapsed() < KEEP)
            .map(|(_, h)| h.clone())
    }

    fn keep_hooks(&self, read_in: u64, owner: Uuid, hooks: &[Webhook]) {
        let mut kept = self.hooks.lock().unwrap_or_else(PoisonError::into_inner);
        if self.generation() != read_in {
            return;
        }
        if kept.len() >= MOST_OWNERS {
            kept.clear();
        }
        kept.insert(owner, (Instant::now(), hooks.to_vec()));
    }
}

impl App {
    /// The policies in force, as kept for up to [`KEEP`] (see above).
    pub(crate) async fn policies_in_force(&self) -> Result<Policies, AppError> {
        if let Some(p) = self.settings.policies() {
            return Ok(p);
        }
        let read_in = self.settings.generation();
        let p = self.store.policies().await?;
        self.settings.keep_policies(read_in, &p);
        Ok(p)
    }

    /// `owner`'s webhook subscriptions and the tenant's, as kept.
    pub(crate) async fn webhooks_for(&self, owner: Uuid) -> Result<Vec<Webhook>, AppError> {
        if let Some(h) = self.settings.hooks(owner) {
            return Ok(h);
        }
        let read_in = self.settings.generation();
        let hooks = self.store.webhooks_for(owner).await?;
        self.settings.keep_hooks(read_in, owner, &hooks);
        Ok(hooks)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_read_begun_before_a_forget_is_not_kept() {
        let s = Settings::default();
        let read_in = s.generation();
        s.clear();
        s.keep_policies(read_in, &Policies::default());
        assert!(s.policies().is_none());
        s.keep_hooks(read_in, Uuid::nil(), &[]);
        assert!(s.hooks(Uuid::nil()).is_none());
        // Read after it: kept.
        let read_in = s.generation();
        s.keep_policies(read_in, &Policies::default());
        s.keep_hooks(read_in, Uuid::nil(), &[]);
        assert!(s.policies().is_some());
        assert_eq!(s.hooks(Uuid::nil()), Some(Vec::new()));
        s.clear();
        assert!(s.policies().is_none() && s.hooks(Uuid::nil()).is_none());
    }
}
