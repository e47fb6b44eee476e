//! A browser session of the web UI, as stored. The cookie carries a random
//! id; the store keeps only its SHA-256, so a copy of the database cannot be
//! replayed as a cookie. IdP tokens are kept sealed (encrypted) by the server.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// SHA-256 of a session id as it appears in the cookie.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SessionKey(pub [u8; 32]);

impl SessionKey {
    pub fn of(cookie_value: &str) -> Self {
        Self(Sha256::digest(cookie_value.as_bytes()).into())
    }

    pub fn from_slice(b: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(b).ok().map(Self)
    }
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct WebSession {
    pub key: SessionKey,
    pub user_id: Uuid,
    pub created_at: DateTime<Utc>,
    /// Absolute end: no refresh extends it.
    pub expires_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// When the IdP access token behind this session runs out; the next
    /// request after that refreshes it (or ends the session).
    pub access_expires_at: DateTime<Utc>,
    /// The IdP refresh token, sealed by the server (never plaintext).
    pub sealed_refresh_token: Option<Vec<u8>>,
}

impl std::fmt::Debug for WebSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSession")
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .field("last_seen", &self.last_seen)
            .field("access_expires_at", &self.access_expires_at)
            .finish_non_exhaustive()
    }
}

impl WebSession {
    /// Still usable at `now`, given the idle timeout?
    pub fn is_live(&self, now: DateTime<Utc>, idle: Duration) -> bool {
        now < self.expires_at && now < self.last_seen + idle
    }

    /// Does the access token need refreshing (with a minute of margin)?
    pub fn needs_refresh(&self, now: DateTime<Utc>) -> bool {
        now + Duration::seconds(60) >= self.access_expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::minutes(min)
    }

    fn session() -> WebSession {
        WebSession {
            key: SessionKey::of("abc"),
            user_id: Uuid::nil(),
            created_at: t(0),
            expires_at: t(600),
            last_seen: t(0),
            access_expires_at: t(60),
            sealed_refresh_token: None,
        }
    }

    #[test]
    fn liveness_absolute_and_idle() {
        let s = session();
        let idle = Duration::minutes(30);
        assert!(s.is_live(t(29), idle));
        assert!(!s.is_live(t(30), idle));
        let seen = WebSession {
            last_seen: t(590),
            ..session()
        };
        assert!(seen.is_live(t(599), idle));
        assert!(!seen.is_live(t(600), idle), "absolute expiry wins");
    }

    #[test]
    fn refresh_margin() {
        let s = session();
        assert!(!s.needs_refresh(t(58)));
        assert!(s.needs_refresh(t(59)));
    }

    #[test]
    fn key_is_sha256_and_debug_is_redacted() {
        assert_eq!(
            SessionKey::of("abc").0[..4],
            [0xba, 0x78, 0x16, 0xbf],
            "SHA-256(\"abc\") starts ba7816bf"
        );
        assert!(!format!("{:?}", session()).contains("sealed"));
        assert_eq!(format!("{:?}", SessionKey::of("abc")), "SessionKey(..)");
    }
}
