//! The verification cache: a bounded map from a presented secret's keyed
//! hash to what the store said about it, trusted for a short TTL.
//!
//! A change made in this process (update, regenerate, revoke) invalidates the
//! PAT's entries at once; an epoch counter keeps a lookup that raced with
//! such a change from caching what it read before the change. Changes made
//! through another replica arrive as notices (`peers.rs`) that invalidate
//! the same way; the TTL bounds what a missed notice can cost.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use patrol_core::hashing::TokenDigest;
use patrol_core::pat::Pat;
use patrol_core::user::{Organization, User};

/// What a verification needs to know about a stored PAT.
#[derive(Debug)]
pub struct CachedPat {
    pub pat: Pat,
    pub owner: User,
    /// Where the PAT may be used now: the owner's organizations that its
    /// target allows.
    pub organizations: Vec<Organization>,
    /// `pat.scopes`, space-separated, for answers.
    pub scope: String,
    /// `owner.id` and `pat.authorization_id` as text, for answers.
    pub owner_id: String,
    pub authorization_id: String,
    /// When this process last queued a last-use record for it (µs since
    /// the epoch), so a busy PAT costs the background writer one record a
    /// second, not one per request.
    last_noted_us: AtomicI64,
}

/// Last use is kept to the second.
const NOTE_USE_EVERY_US: u64 = 1_000_000;

impl CachedPat {
    pub fn new(pat: Pat, owner: User, member_of: Vec<Organization>) -> Self {
        let organizations = member_of
            .into_iter()
            .filter(|o| pat.target.allows(o.id))
            .collect();
        let scope = pat.scopes.as_string();
        let owner_id = owner.id.to_string();
        let authorization_id = pat.authorization_id.to_string();
        Self {
            pat,
            owner,
            organizations,
            scope,
            owner_id,
            authorization_id,
            last_noted_us: AtomicI64::new(i64::MIN),
        }
    }

    /// True at most once a second (per cached entry): whether this use
    /// should be written as the PAT's last use.
    pub fn note_use(&self, now: DateTime<Utc>) -> bool {
        let now_us = now.timestamp_micros();
        let prev = self.last_noted_us.load(Ordering::Relaxed);
        // `unsigned_abs`: a clock that stepped back must not silence it.
        now_us.saturating_sub(prev).unsigned_abs() >= NOTE_USE_EVERY_US
            && self
                .last_noted_us
                .compare_exchange(prev, now_us, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Case-insensitive, as organization names are.
    pub fn allows_org(&self, name: &str) -> bool {
        self.organizations
            .iter()
            .any(|o| o.name.eq_ignore_ascii_case(name))
    }
}

/// The map key: a keyed hash is uniformly distributed and unpredictable
/// without the server key, so its first 8 bytes are a good hash already.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key([u8; 32]);

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut first = [0u8; 8];
        first.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(first));
    }
}

#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Not used by `Key`; a simple FNV-1a keeps it correct for anything else.
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[derive(Clone, Copy, Default)]
struct BuildKeyHasher;

impl BuildHasher for BuildKeyHasher {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher::default()
    }
}

struct Entry {
    digest: TokenDigest,
    cached: Arc<CachedPat>,
    at: DateTime<Utc>,
}

pub struct VerifyCache {
    map: RwLock<HashMap<Key, Entry, BuildKeyHasher>>,
    capacity: usize,
    ttl: Duration,
    epoch: AtomicU64,
}

impl VerifyCache {
    /// `capacity` 0 or a zero `ttl` turns caching off.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            map: RwLock::new(HashMap::with_capacity_and_hasher(
                capacity.min(1 << 16),
                BuildKeyHasher,
            )),
            capacity,
            ttl,
            epoch: AtomicU64::new(0),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<Key, Entry, BuildKeyHasher>> {
        self.map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<Key, Entry, BuildKeyHasher>> {
        self.map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn fresh(&self, at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        // A clock that went backwards makes an entry stale, never immortal.
        at <= now && now < at + self.ttl
    }

    pub fn get(&self, digest: &TokenDigest, now: DateTime<Utc>) -> Option<Arc<CachedPat>> {
        let map = self.read();
        let e = map.get(&Key(*digest.as_bytes()))?;
        // Constant-time confirmation of the match (TokenDigest's `==`).
        (e.digest == *digest && self.fresh(e.at, now)).then(|| e.cached.clone())
    }

    /// Read before the store lookup whose result goes to [`VerifyCache::insert`].
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Cache a lookup's result, unless an invalidation happened since `epoch`.
    pub fn insert(
        &self,
        digest: TokenDigest,
        cached: Arc<CachedPat>,
        now: DateTime<Utc>,
        epoch: u64,
    ) {
        if self.capacity == 0 || self.ttl <= Duration::zero() {
            return;
        }
        let mut map = self.write();
        if self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        let key = Key(*digest.as_bytes());
        if map.len() >= self.capacity && !map.contains_key(&key) {
            map.retain(|_, e| self.fresh(e.at, now));
            if map.len() >= self.capacity {
                // Still full of live entries: drop an eighth, whichever come first.
                let drop = (self.capacity / 8).max(1);
                let victims: Vec<Key> = map.keys().take(drop).copied().collect();
                for k in victims {
                    map.remove(&k);
                }
            }
        }
        map.insert(
            key,
            Entry {
                digest,
                cached,
                at: now,
            },
        );
    }

    fn remove_where(&self, pred: impl Fn(&CachedPat) -> bool) {
        let mut map = self.write();
        map.retain(|_, e| !pred(&e.cached));
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Forget every entry of this PAT (any secret it had).
    pub fn invalidate(&self, authorization_id: Uuid) {
        self.remove_where(|c| c.pat.authorization_id == authorization_id);
    }

    /// Forget every PAT of this user (disabled, left an organization, …).
    pub fn invalidate_owner(&self, user: Uuid) {
        self.remove_where(|c| c.owner.id == user);
    }

    /// Forget everything (notices from other replicas may have been missed).
    pub fn clear(&self) {
        self.remove_where(|_| true);
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use patrol_core::pat::OrgTarget;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::seconds(s)
    }

    fn cached(owner: Uuid) -> Arc<CachedPat> {
        let org = Organization {
            id: Uuid::new_v4(),
            name: "Fabrikam".into(),
        };
        let other = Organization {
            id: Uuid::new_v4(),
            name: "contoso".into(),
        };
        let pat = Pat {
            target: OrgTarget::Orgs(vec![org.id]),
            valid_to: t(1000),
            ..Pat::fixture(owner, t(0))
        };
        let user = User {
            id: owner,
            issuer: "i".into(),
            subject: "s".into(),
            display_name: "A".into(),
            email: None,
            email_verified: false,
            created_at: t(0),
            last_sign_in: t(0),
            last_interactive_sign_in: None,
            disabled: false,
        };
        Arc::new(CachedPat::new(pat, user, vec![org, other]))
    }

    fn digest(b: u8) -> TokenDigest {
        TokenDigest([b; 32])
    }

    #[test]
    fn organizations_are_memberships_the_target_allows() {
        let c = cached(Uuid::new_v4());
        assert!(c.allows_org("fabrikam"));
        assert!(!c.allows_org("contoso"));
        assert_eq!(c.scope, "vso.code");
    }

    #[test]
    fn last_use_is_noted_once_a_second() {
        let c = cached(Uuid::new_v4());
        assert!(c.note_use(t(10)));
        assert!(!c.note_use(t(10)));
        assert!(!c.note_use(t(10) + Duration::milliseconds(999)));
        assert!(c.note_use(t(11)));
        assert!(c.note_use(t(5)), "a clock stepped back");
    }

    #[test]
    fn ttl_and_backwards_clock() {
        let cache = VerifyCache::new(10, Duration::seconds(5));
        cache.insert(digest(1), cached(Uuid::new_v4()), t(10), cache.epoch());
        assert!(cache.get(&digest(1), t(10)).is_some());
        assert!(cache.get(&digest(1), t(14)).is_some());
        assert!(cache.get(&digest(1), t(15)).is_none());
        assert!(cache.get(&digest(1), t(9)).is_none());
        assert!(cache.get(&digest(2), t(10)).is_none());
    }

    #[test]
    fn invalidation_and_racing_lookups() {
        let cache = VerifyCache::new(10, Duration::seconds(5));
        let owner = Uuid::new_v4();
        let a = cached(owner);
        let id = a.pat.authorization_id;
        cache.insert(digest(1), a.clone(), t(0), cache.epoch());
        cache.insert(digest(2), cached(Uuid::new_v4()), t(0), cache.epoch());
        cache.invalidate(id);
        assert!(cache.get(&digest(1), t(1)).is_none());
        assert!(cache.get(&digest(2), t(1)).is_some());
        // A lookup that started before an invalidation does not cache its result.
        let before = cache.epoch();
        cache.invalidate(Uuid::new_v4());
        cache.insert(digest(1), a, t(1), before);
        assert!(cache.get(&digest(1), t(1)).is_none());
        cache.insert(digest(3), cached(owner), t(1), cache.epoch());
        cache.invalidate_owner(owner);
        assert!(cache.get(&digest(3), t(1)).is_none());
        // Clearing forgets everything, and also refuses racing lookups.
        cache.insert(digest(4), cached(owner), t(1), cache.epoch());
        let before = cache.epoch();
        cache.clear();
        assert_eq!(cache.len(), 0);
        cache.insert(digest(5), cached(owner), t(1), before);
        assert!(cache.get(&digest(5), t(1)).is_none());
    }

    #[test]
    fn bounded() {
        let cache = VerifyCache::new(16, Duration::seconds(5));
        for i in 0..=255u8 {
            cache.insert(digest(i), cached(Uuid::new_v4()), t(0), cache.epoch());
            assert!(cache.len() <= 16);
        }
        assert!(cache.get(&digest(255), t(0)).is_some());
        // Expired entries go first.
        cache.insert(digest(7), cached(Uuid::new_v4()), t(100), cache.epoch());
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn disabled_cache_keeps_nothing() {
        let cache = VerifyCache::new(0, Duration::seconds(5));
        cache.insert(digest(1), cached(Uuid::new_v4()), t(0), cache.epoch());
        assert_eq!(cache.len(), 0);
        let cache = VerifyCache::new(10, Duration::zero());
        cache.insert(digest(1), cached(Uuid::new_v4()), t(0), cache.epoch());
        assert!(cache.get(&digest(1), t(0)).is_none());
    }
}
