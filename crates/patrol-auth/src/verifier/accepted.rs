//! Access tokens that passed every check, remembered for a short while: a
//! client sends the same bearer token with every request of a session, and
//! checking its signature again (an RSA verification) costs more than the
//! rest of a request. A remembered token is accepted again only while
//!
//! - it has not expired (its `exp`, with the issuer's leeway, against the
//!   same wall clock the full check uses),
//! - the issuer's key set is still the very set that verified it (a refetch
//!   — rotation, a removed key — forgets every token verified before it), and
//! - at most [`REMEMBER_FOR`] has passed since it was verified.
//!
//! Entries are keyed by the SHA-256 of the token, never the token itself, and
//! failures are not remembered: a refused token is checked in full each time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::VerifiedToken;
use crate::jwks::KeySet;

/// The longest a verified token is accepted without checking it again.
pub(crate) const REMEMBER_FOR: Duration = Duration::from_secs(60);

/// At most this many tokens are remembered; when full, expired entries go,
/// and if that frees nothing, everything does.
const CAPACITY: usize = 10_000;

struct Entry {
    token: VerifiedToken,
    issuer: usize,
    keys: Weak<KeySet>,
    /// Last second (Unix time, wall clock) the token is valid: `exp` + leeway.
    valid_until: i64,
    /// When the entry is forgotten, by the verifier's clock.
    forget_at: DateTime<Utc>,
}

#[derive(Default)]
pub(crate) struct Accepted {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

pub(crate) fn fingerprint(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Accepted {
    /// The remembered result for the token with `fingerprint`, if it still
    /// holds. `current_keys(issuer)` is that issuer's key set now;
    /// `wall_now` the Unix time jsonwebtoken checks `exp` against.
    pub(crate) fn get(
        &self,
        fingerprint: &[u8; 32],
        now: DateTime<Utc>,
        wall_now: i64,
        current_keys: impl Fn(usize) -> Option<Arc<KeySet>>,
    ) -> Option<VerifiedToken> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(fingerprint)?;
        let same_keys = current_keys(entry.issuer)
            .is_some_and(|k| std::ptr::eq(Arc::as_ptr(&k), entry.keys.as_ptr()));
        if same_keys && wall_now <= entry.valid_until && now < entry.forget_at {
            return Some(entry.token.clone());
        }
        entries.remove(fingerprint);
        None
    }

    /// Remember `token`, verified with `keys` of issuer number `issuer`;
    /// `leeway` is the issuer's, in seconds.
    pub(crate) fn remember(
        &self,
        fingerprint: [u8; 32],
        token: &VerifiedToken,
        issuer: usize,
        keys: &Arc<KeySet>,
        leeway: u64,
        now: DateTime<Utc>,
    ) {
        let Some(exp) = token.claims.exp else {
            return;
        };
        let forget_at = now + chrono::Duration::from_std(REMEMBER_FOR).unwrap_or_default();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CAPACITY {
            entries.retain(|_, e| now < e.forget_at);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(
            fingerprint,
            Entry {
                token: token.clone(),
                issuer,
                keys: Arc::downgrade(keys),
                valid_until: exp.saturating_add(i64::try_from(leeway).unwrap_or(i64::MAX)),
                forget_at,
            },
        );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::{Claims, PrincipalKind};

    fn token(exp: i64) -> VerifiedToken {
        VerifiedToken {
            issuer: "https://idp".into(),
            subject: "alice".into(),
            claims: Claims {
                iss: "https://idp".into(),
                exp: Some(exp),
                ..Claims::default()
            },
            principal: PrincipalKind::User,
            email_verified: false,
        }
    }

    fn keys() -> Arc<KeySet> {
        Arc::new(KeySet::empty_at(Utc::now()))
    }

    #[test]
    fn remembered_until_expiry_key_change_or_the_bound() {
        let a = Accepted::default();
        let (k, now) = (keys(), Utc::now());
        let fp = fingerprint("t1");
        a.remember(fp, &token(1_000), 0, &k, 30, now);
        let same = |_| Some(k.clone());
        assert!(a.get(&fp, now, 1_030, same).is_some(), "exp + leeway");
        assert!(a.get(&fp, now, 1_031, same).is_none(), "expired");
        assert_eq!(a.len(), 0, "an expired entry is dropped");

        a.remember(fp, &token(1_000), 0, &k, 0, now);
        let later = now + chrono::Duration::from_std(REMEMBER_FOR).unwrap();
        assert!(a.get(&fp, later, 900, same).is_none(), "past the bound");

        a.remember(fp, &token(1_000), 0, &k, 0, now);
        let refetched = keys();
        assert!(
            a.get(&fp, now, 900, |_| Some(refetched.clone())).is_none(),
            "another key set"
        );
        a.remember(fp, &token(1_000), 0, &k, 0, now);
        assert!(a.get(&fp, now, 900, |_| None).is_none(), "no key set");
        assert!(a.get(&fingerprint("t2"), now, 900, same).is_none());
    }

    #[test]
    fn full_cache_makes_room() {
        let a = Accepted::default();
        let (k, now) = (keys(), Utc::now());
        for i in 0..CAPACITY {
            a.remember(fingerprint(&i.to_string()), &token(1_000), 0, &k, 0, now);
        }
        assert_eq!(a.len(), CAPACITY);
        a.remember(fingerprint("one more"), &token(1_000), 0, &k, 0, now);
        assert_eq!(a.len(), 1, "nothing had expired: everything went");
        let later = now + chrono::Duration::seconds(1);
        assert!(a
            .get(&fingerprint("one more"), later, 900, |_| Some(k.clone()))
            .is_some());
    }
}
