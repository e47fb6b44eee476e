//! In-memory authorization codes and refresh tokens of the dev issuer.
//!
//! Only SHA-256 digests of codes and refresh tokens are kept as map keys.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use super::DevUser;

/// Authorization codes expire after this.
pub(crate) const CODE_TTL: Duration = Duration::from_secs(60);
/// Absolute lifetime of a refresh-token family (rotation does not extend it).
pub(crate) const REFRESH_ABSOLUTE: Duration = Duration::from_secs(90 * 24 * 3600);
/// Caps that keep a misbehaving client from growing memory without bound.
const MAX_CODES: usize = 10_000;
const MAX_REFRESH: usize = 100_000;

pub(crate) struct AuthCode {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) code_challenge: String,
    pub(crate) user: &'static DevUser,
    pub(crate) scope: String,
    pub(crate) nonce: Option<String>,
    pub(crate) auth_time: i64,
    pub(crate) expires: Instant,
}

#[derive(Clone)]
pub(crate) struct RefreshGrant {
    pub(crate) family: u64,
    pub(crate) client_id: String,
    pub(crate) user: &'static DevUser,
    pub(crate) scope: String,
    pub(crate) auth_time: i64,
    pub(crate) family_expires: Instant,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RefreshError {
    Unknown,
    Expired,
    /// A rotated-out token was presented again: the whole family is revoked.
    Reused,
    WrongClient,
}

#[derive(Default)]
pub(crate) struct Grants {
    codes: HashMap<String, AuthCode>,
    refresh: HashMap<String, RefreshGrant>,
    /// Digests of rotated-out refresh tokens -> (family, family expiry), for reuse detection.
    retired: HashMap<String, (u64, Instant)>,
    next_family: u64,
}

fn digest(value: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(value.as_bytes()))
}

impl Grants {
    fn prune(&mut self) {
        let now = Instant::now();
        self.codes.retain(|_, c| c.expires > now);
        self.refresh.retain(|_, r| r.family_expires > now);
        self.retired.retain(|_, (_, exp)| *exp > now);
    }

    /// Stores a new authorization code; `false` when the store is full.
    pub(crate) fn insert_code(&mut self, code: &str, grant: AuthCode) -> bool {
        self.prune();
        if self.codes.len() >= MAX_CODES {
            return false;
        }
        self.codes.insert(digest(code), grant);
        true
    }

    /// Removes and returns the code (single use), if it exists and has not expired.
    pub(crate) fn take_code(&mut self, code: &str) -> Option<AuthCode> {
        let grant = self.codes.remove(&digest(code))?;
        (grant.expires > Instant::now()).then_some(grant)
    }

    /// Starts a new refresh-token family and stores its first token.
    pub(crate) fn new_family(
        &mut self,
        token: &str,
        client_id: &str,
        user: &'static DevUser,
        scope: &str,
        auth_time: i64,
    ) -> bool {
        self.prune();
        if self.refresh.len() >= MAX_REFRESH {
            return false;
        }
        self.next_family = self.next_family.wrapping_add(1);
        let grant = RefreshGrant {
            family: self.next_family,
            client_id: client_id.to_owned(),
            user,
            scope: scope.to_owned(),
            auth_time,
            family_expires: Instant::now() + REFRESH_ABSOLUTE,
        };
        self.refresh.insert(digest(token), grant);
        true
    }

    /// The scope of a live refresh token.
    pub(crate) fn peek_scope(&self, token: &str) -> Option<String> {
        self.refresh.get(&digest(token)).map(|g| g.scope.clone())
    }

    /// Rotation: consumes `old` and stores `new` in the same family with the same absolute
    /// expiry. Presenting a consumed token again revokes the whole family.
    pub(crate) fn rotate(
        &mut self,
        old: &str,
        new: &str,
        client_id: &str,
    ) -> Result<RefreshGrant, RefreshError> {
        self.prune();
        let key = digest(old);
        let Some(grant) = self.refresh.remove(&key) else {
            if let Some((family, _)) = self.retired.get(&key).copied() {
                self.refresh.retain(|_, r| r.family != family);
                return Err(RefreshError::Reused);
            }
            return Err(RefreshError::Unknown);
        };
        if grant.client_id != client_id {
            // Not this client's token; put it back untouched.
            self.refresh.insert(key, grant);
            return Err(RefreshError::WrongClient);
        }
        if grant.family_expires <= Instant::now() {
            return Err(RefreshError::Expired);
        }
        self.retired
            .insert(key, (grant.family, grant.family_expires));
        self.refresh.insert(digest(new), grant.clone());
        Ok(grant)
    }
}

impl Grants {
    /// RFC 7009: revokes the family of a live refresh token issued to `client_id`. Unknown,
    /// already retired or foreign tokens are left alone; returns whether a family was revoked.
    pub(crate) fn revoke(&mut self, token: &str, client_id: &str) -> bool {
        self.prune();
        let family = match self.refresh.get(&digest(token)) {
            Some(g) if g.client_id == client_id => g.family,
            _ => return false,
        };
        self.refresh.retain(|_, r| r.family != family);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dev_issuer::dev_users;

    #[test]
    fn refresh_rotation_and_reuse_detection() {
        let mut g = Grants::default();
        let alice = &dev_users()[0];
        assert!(g.new_family("r1", "cli", alice, "openid", 0));
        assert_eq!(
            g.rotate("r1", "r2", "other").err(),
            Some(RefreshError::WrongClient)
        );
        assert!(g.rotate("r1", "r2", "cli").is_ok());
        assert_eq!(
            g.rotate("nope", "x", "cli").err(),
            Some(RefreshError::Unknown)
        );
        // r1 reused: family revoked, so r2 stops working too.
        assert_eq!(
            g.rotate("r1", "r3", "cli").err(),
            Some(RefreshError::Reused)
        );
        assert_eq!(
            g.rotate("r2", "r4", "cli").err(),
            Some(RefreshError::Unknown)
        );
    }

    #[test]
    fn revocation_ends_the_family() {
        let mut g = Grants::default();
        let alice = &dev_users()[0];
        assert!(g.new_family("r1", "cli", alice, "openid", 0));
        assert!(g.new_family("other", "cli", alice, "openid", 0));
        assert!(g.rotate("r1", "r2", "cli").is_ok());
        assert!(!g.revoke("r2", "someone-else"));
        assert!(!g.revoke("unknown", "cli"));
        assert!(g.revoke("r2", "cli"));
        assert!(!g.revoke("r2", "cli"));
        assert_eq!(
            g.rotate("r2", "r3", "cli").err(),
            Some(RefreshError::Unknown)
        );
        assert!(
            g.rotate("other", "other2", "cli").is_ok(),
            "other families live on"
        );
    }

    #[test]
    fn codes_are_single_use_and_expire() {
        let mut g = Grants::default();
        let code = |expires| AuthCode {
            client_id: "cli".into(),
            redirect_uri: "http://127.0.0.1/cb".into(),
            code_challenge: "x".into(),
            user: &dev_users()[1],
            scope: String::new(),
            nonce: None,
            auth_time: 0,
            expires,
        };
        assert!(g.insert_code("c1", code(Instant::now() + CODE_TTL)));
        assert!(g.take_code("c1").is_some());
        assert!(g.take_code("c1").is_none());
        g.codes.insert(digest("c2"), code(Instant::now()));
        assert!(g.take_code("c2").is_none());
    }
}
