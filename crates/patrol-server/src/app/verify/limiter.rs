//! Failed-verification limits: at most `max` failures per key (a source
//! address, or a presented token's keyed hash) in a fixed window that starts
//! at the key's first failure. Memory is bounded: expired windows are swept
//! when the map fills, and if it is still full the oldest windows that are
//! not blocking go — a blocked key stays blocked until its window ends,
//! however many new keys an attacker brings.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Duration, Utc};

struct Window {
    start: DateTime<Utc>,
    failures: u32,
}

pub struct FailureLimiter<K> {
    map: Mutex<HashMap<K, Window>>,
    /// Mirrors `map.len()`, so the common case (no failures) takes no lock.
    len: AtomicUsize,
    max: u32,
    window: Duration,
    capacity: usize,
}

/// Addresses are limited as the network a single client controls: an IPv4
/// address, or an IPv6 /64 (IPv4-mapped IPv6 counts as IPv4).
pub fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl<K: Hash + Eq + Clone> FailureLimiter<K> {
    pub fn new(max: u32, window: Duration, capacity: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            len: AtomicUsize::new(0),
            max: max.max(1),
            window,
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, Window>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn live(&self, w: &Window, now: DateTime<Utc>) -> bool {
        w.start <= now && now < w.start + self.window
    }

    /// `Err(seconds)` when `key` has used up its failures in the current window.
    pub fn check(&self, key: &K, now: DateTime<Utc>) -> Result<(), u64> {
        if self.len.load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
        let map = self.lock();
        match map.get(key) {
            Some(w) if self.live(w, now) && w.failures >= self.max => {
                let left = (w.start + self.window - now).num_milliseconds();
                Err(u64::try_from((left + 999) / 1000).unwrap_or(1).max(1))
            }
            _ => Ok(()),
        }
    }

    /// Count a failure; returns the key's failures in the current window.
    pub fn record_failure(&self, key: K, now: DateTime<Utc>) -> u32 {
        let mut map = self.lock();
        if let Some(w) = map.get_mut(&key) {
            if self.live(w, now) {
                w.failures = w.failures.saturating_add(1);
            } else {
                *w = Window {
                    start: now,
                    failures: 1,
                };
            }
            return w.failures;
        }
        if map.len() >= self.capacity {
            map.retain(|_, w| self.live(w, now));
            if map.len() >= self.capacity {
                let drop = (self.capacity / 8).max(1);
                let mut open: Vec<(DateTime<Utc>, K)> = map
                    .iter()
                    .filter(|(_, w)| w.failures < self.max)
                    .map(|(k, w)| (w.start, k.clone()))
                    .collect();
                open.sort_by_key(|(s, _)| *s);
                for (_, k) in open.into_iter().take(drop) {
                    map.remove(&k);
                }
            }
            if map.len() >= self.capacity {
                // Every window left is blocking: keep them, count nothing new.
                self.len.store(map.len(), Ordering::Relaxed);
                return 1;
            }
        }
        map.insert(
            key,
            Window {
                start: now,
                failures: 1,
            },
        );
        self.len.store(map.len(), Ordering::Relaxed);
        1
    }

    /// Failures allowed per window.
    pub fn max(&self) -> u32 {
        self.max
    }

    /// A success clears the key's count: only for what the success proves
    /// (a token that verified clears that token's count, never its address's).
    pub fn reset(&self, key: &K) {
        if self.len.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut map = self.lock();
        if map.remove(key).is_some() {
            self.len.store(map.len(), Ordering::Relaxed);
        }
    }

    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::seconds(s)
    }

    #[test]
    fn limit_retry_after_and_recovery() {
        let l = FailureLimiter::new(3, Duration::seconds(60), 100);
        for n in 1..=3 {
            assert_eq!(l.check(&"a", t(0)), Ok(()));
            assert_eq!(l.record_failure("a", t(0)), n, "the count in the window");
        }
        assert_eq!(l.check(&"a", t(0)), Err(60));
        assert_eq!(l.check(&"a", t(59)), Err(1));
        assert_eq!(l.check(&"b", t(1)), Ok(()));
        assert_eq!(l.check(&"a", t(60)), Ok(()));
        assert_eq!(l.record_failure("a", t(60)), 1, "a new window");
        assert_eq!(l.check(&"a", t(61)), Ok(()));
    }

    #[test]
    fn success_resets() {
        let l = FailureLimiter::new(2, Duration::seconds(60), 100);
        l.record_failure("a", t(0));
        l.record_failure("a", t(0));
        assert!(l.check(&"a", t(1)).is_err());
        l.reset(&"a");
        assert_eq!(l.check(&"a", t(1)), Ok(()));
        assert_eq!(l.len(), 0);
    }

    #[test]
    fn bounded_memory() {
        let l = FailureLimiter::new(2, Duration::seconds(60), 64);
        for i in 0..10_000u32 {
            l.record_failure(i, t(i64::from(i % 30)));
            assert!(l.len() <= 64);
        }
        // When full, expired windows are swept first.
        let l = FailureLimiter::new(2, Duration::seconds(60), 64);
        for i in 0..64u32 {
            l.record_failure(i, t(0));
        }
        assert_eq!(l.len(), 64);
        l.record_failure(1_000_000, t(1000));
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn a_full_limiter_never_frees_blocked_keys() {
        let l = FailureLimiter::new(2, Duration::seconds(60), 64);
        l.record_failure(0u32, t(0));
        l.record_failure(0u32, t(0));
        assert!(l.check(&0, t(1)).is_err(), "blocked");
        // An attacker with many addresses fills the limiter…
        for i in 1..10_000u32 {
            l.record_failure(i, t(1));
            assert!(l.len() <= 64);
        }
        // …and the blocked key is still blocked.
        assert!(l.check(&0, t(2)).is_err());
        // With every window blocking, new keys are not counted but the
        // blocked ones stay.
        let l = FailureLimiter::new(1, Duration::seconds(60), 8);
        for i in 0..8u32 {
            l.record_failure(i, t(0));
        }
        l.record_failure(99, t(1));
        assert_eq!(l.len(), 8);
        assert!((0..8u32).all(|i| l.check(&i, t(2)).is_err()));
    }

    #[test]
    fn address_keys() {
        let v6a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(ip_key(v6a), ip_key(v6b));
        assert_ne!(ip_key(v6a), ip_key("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(
            ip_key("::ffff:10.0.0.1".parse().unwrap()),
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            ip_key("10.0.0.1".parse().unwrap()),
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
    }
}
