//! Web sessions: opened at sign-in, resumed on every page (idle and absolute
//! ends, disabled owners, silent refresh of the identity provider's access
//! token under a per-session lock), closed at sign-out or when the provider
//! no longer refreshes them. Each opening and closing is audited.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};

use patrol_auth::VerifiedToken;
use patrol_core::session::{SessionKey, WebSession};
use patrol_core::user::{AuditAction, Outcome};

use super::admission::{Edge, Presented, RequestCtx};
use super::seal::Sealer;
use super::{App, AppError, Caller};

const SEAL_REFRESH: &str = "patrol web refresh token v1";
/// `last_seen` is written at most this often per session.
const TOUCH_EVERY_SECS: i64 = 60;

/// How long web sessions last.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// Absolute lifetime from sign-in; no refresh extends it.
    pub max: Duration,
    /// Ended after this long without a request.
    pub idle: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            max: Duration::hours(12),
            idle: Duration::minutes(60),
        }
    }
}

/// The identity provider behind web sessions, as the session use cases
/// need it: redeem and revoke refresh tokens.
#[async_trait::async_trait]
pub trait IdentityProvider: Send + Sync {
    /// The OAuth client id Patrol signs in as (audited as the client).
    fn client_id(&self) -> &str;
    /// Redeem a refresh token for a new access token, verified exactly as
    /// the management API verifies one.
    async fn refresh(&self, refresh_token: &SecretString) -> Result<Refreshed, IdpError>;
    /// Revoke a refresh token where the provider offers it (best effort).
    async fn revoke(&self, refresh_token: &SecretString);
}

/// A redeemed refresh token.
pub struct Refreshed {
    pub access: VerifiedToken,
    /// The token endpoint's `expires_in`, if any.
    pub expires_in: Option<u64>,
    /// The rotated refresh token, if the provider rotates them.
    pub refresh_token: Option<SecretString>,
}

/// Why a refresh failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdpError {
    /// The provider (or its keys) cannot be reached: try again later.
    Unavailable,
    /// The provider refused, or the new token is not acceptable: the session ends.
    Refused(&'static str),
}

/// A session opened at sign-in: the cookie value to hand the browser.
pub struct OpenedSession {
    pub cookie_value: String,
    pub expires_at: DateTime<Utc>,
}

/// A resumed session.
pub struct Resumed {
    pub caller: Caller,
    pub key: SessionKey,
}

/// Why a session cannot be resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// No such session, or it ended (idle, absolute end, refresh refused):
    /// sign in again.
    SignInAgain,
    /// The user is disabled; the session was ended.
    UserDisabled,
    /// The store or the identity provider is not answering; try again.
    StoreUnavailable,
    IdpUnavailable,
}

/// What the session use cases keep between requests.
pub(crate) struct SessionState {
    sealer: Sealer,
    /// Per-session locks so concurrent requests refresh a session once.
    refresh_locks: Mutex<HashMap<[u8; 32], Weak<tokio::sync::Mutex<()>>>>,
}

impl SessionState {
    pub(crate) fn new(sealer: Sealer) -> Self {
        Self {
            sealer,
            refresh_locks: Mutex::new(HashMap::new()),
        }
    }

    /// The refresh lock of one session (shared while anyone holds it).
    fn refresh_lock(&self, key: &SessionKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .refresh_locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(l) = locks.get(&key.0).and_then(Weak::upgrade) {
            return l;
        }
        locks.retain(|_, w| w.strong_count() > 0);
        let l = Arc::new(tokio::sync::Mutex::new(()));
        locks.insert(key.0, Arc::downgrade(&l));
        l
    }

    fn seal(&self, rt: &SecretString) -> Vec<u8> {
        self.sealer
            .seal(SEAL_REFRESH, rt.expose_secret().as_bytes())
    }

    fn open(&self, sealed: &[u8]) -> Option<SecretString> {
        let plain = self.sealer.open(SEAL_REFRESH, sealed)?;
        String::from_utf8(plain).ok().map(SecretString::from)
    }
}

/// When an access token runs out: its `exp`, else `expires_in`, else an hour.
fn access_expiry(
    verified: &VerifiedToken,
    expires_in: Option<u64>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    verified
        .claims
        .exp
        .and_then(|e| DateTime::from_timestamp(e, 0))
        .or_else(|| expires_in.map(|s| now + Duration::seconds(i64::try_from(s).unwrap_or(3600))))
        .unwrap_or(now + Duration::hours(1))
}

fn new_cookie_value() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

impl App {
    /// Open a session for a user the sign-in admitted: the refresh token is
    /// kept sealed, the cookie value only as its hash.
    pub async fn open_web_session(
        &self,
        caller: &Caller,
        access: &VerifiedToken,
        expires_in: Option<u64>,
        refresh_token: Option<&SecretString>,
    ) -> Result<OpenedSession, AppError> {
        let now = self.now();
        let cookie_value = new_cookie_value();
        let session = WebSession {
            key: SessionKey::of(&cookie_value),
            user_id: caller.user.id,
            created_at: now,
            expires_at: now + self.policy.session.max,
            last_seen: now,
            access_expires_at: access_expiry(access, expires_in, now),
            sealed_refresh_token: refresh_token.map(|rt| self.sessions.seal(rt)),
        };
        let audit = caller.audit(AuditAction::WebSignIn, now, None, Outcome::Success, None);
        self.store.create_session(&session, &audit).await?;
        Ok(OpenedSession {
            cookie_value,
            expires_at: session.expires_at,
        })
    }

    /// The session behind a cookie, still live and its owner still allowed;
    /// its access token refreshed when due (once, whatever the concurrency:
    /// providers rotate refresh tokens and treat a second use of the old one
    /// as theft). A refreshed token must pass the admission rule again.
    pub async fn resume_session(
        &self,
        idp: &dyn IdentityProvider,
        cookie_value: &str,
        ctx: &RequestCtx,
    ) -> Result<Resumed, SessionEnd> {
        let key = SessionKey::of(cookie_value);
        let now = self.now();
        let mut session = self.load_session(&key).await?;
        let user = match self.store.get_user(session.user_id).await {
            Ok(Some(u)) => u,
            Ok(None) => return Err(SessionEnd::SignInAgain),
            Err(_) => return Err(SessionEnd::StoreUnavailable),
        };
        let access = match self.access_of_stored(&user).await {
            Ok(a) => a,
            Err(_) => return Err(SessionEnd::StoreUnavailable),
        };
        let caller = Caller {
            user,
            access,
            client_id: Some(idp.client_id().to_owned()),
            source_ip: ctx.source_ip.map(|i| i.to_string()),
            request_id: ctx.request_id.clone(),
        };
        if !session.is_live(now, self.policy.session.idle) {
            self.end_quietly(&caller, &key, "expired").await;
            return Err(SessionEnd::SignInAgain);
        }
        if caller.user.disabled {
            self.end_quietly(&caller, &key, "user disabled").await;
            return Err(SessionEnd::UserDisabled);
        }
        let mut dirty = now - session.last_seen >= Duration::seconds(TOUCH_EVERY_SECS);
        let _refreshing;
        if session.needs_refresh(now) {
            _refreshing = self.sessions.refresh_lock(&key).lock_owned().await;
            // Another request may have refreshed it while this one waited.
            session = self.load_session(&key).await?;
        }
        if session.needs_refresh(now) {
            match self.refresh(idp, &caller, &mut session, ctx, now).await {
                Ok(()) => dirty = true,
                Err(IdpError::Refused(reason)) => {
                    tracing::info!(
                        reason,
                        "web session ended: the identity provider did not refresh it"
                    );
                    self.end_quietly(&caller, &key, reason).await;
                    return Err(SessionEnd::SignInAgain);
                }
                Err(IdpError::Unavailable) => return Err(SessionEnd::IdpUnavailable),
            }
        }
        if dirty {
            session.last_seen = now;
            if self.store.update_session(&session).await.is_err() {
                return Err(SessionEnd::StoreUnavailable);
            }
        }
        Ok(Resumed { caller, key })
    }

    async fn load_session(&self, key: &SessionKey) -> Result<WebSession, SessionEnd> {
        match self.store.get_session(key).await {
            Ok(Some(s)) => Ok(s),
            Ok(None) => Err(SessionEnd::SignInAgain),
            Err(_) => Err(SessionEnd::StoreUnavailable),
        }
    }

    /// Redeem the sealed refresh token, check the new access token names the
    /// same user and is still admitted, keep the (rotated) refresh token.
    async fn refresh(
        &self,
        idp: &dyn IdentityProvider,
        caller: &Caller,
        session: &mut WebSession,
        ctx: &RequestCtx,
        now: DateTime<Utc>,
    ) -> Result<(), IdpError> {
        let sealed = session
            .sealed_refresh_token
            .as_deref()
            .ok_or(IdpError::Refused("no refresh token"))?;
        let rt = self.sessions.open(sealed).ok_or(IdpError::Refused(
            "refresh token unreadable (server key changed)",
        ))?;
        let refreshed = idp.refresh(&rt).await?;
        if !self.names_user(&refreshed.access, &caller.user) {
            return Err(IdpError::Refused("refreshed token names another user"));
        }
        let presented = Presented {
            access: &refreshed.access,
            id_token: None,
            client_id: caller.client_id.clone(),
            needed: "vso.pats_manage",
            edge: Edge::WebSignIn,
        };
        match self.admit(presented, ctx).await {
            Ok(_) => {}
            Err(AppError::Store(_)) => return Err(IdpError::Unavailable),
            Err(_) => return Err(IdpError::Refused("refreshed access token not admitted")),
        }
        session.access_expires_at = access_expiry(&refreshed.access, refreshed.expires_in, now);
        if let Some(new_rt) = &refreshed.refresh_token {
            session.sealed_refresh_token = Some(self.sessions.seal(new_rt));
        }
        Ok(())
    }

    /// Sign out: revoke the refresh token where the provider allows it, then
    /// end the session (`web.signout`).
    pub async fn sign_out(
        &self,
        idp: &dyn IdentityProvider,
        caller: &Caller,
        key: &SessionKey,
    ) -> Result<(), AppError> {
        if let Ok(Some(s)) = self.store.get_session(key).await {
            if let Some(rt) = s
                .sealed_refresh_token
                .as_deref()
                .and_then(|b| self.sessions.open(b))
            {
                idp.revoke(&rt).await;
            }
        }
        let audit = caller.audit(
            AuditAction::WebSignOut,
            self.now(),
            None,
            Outcome::Success,
            None,
        );
        self.store.delete_session(key, Some(&audit)).await?;
        Ok(())
    }

    /// End a session for `reason` (`web.session_end`); failures are logged.
    async fn end_quietly(&self, caller: &Caller, key: &SessionKey, reason: &str) {
        let audit = caller.audit(
            AuditAction::WebSessionEnd,
            self.now(),
            None,
            Outcome::Success,
            Some(reason.to_owned()),
        );
        if let Err(e) = self.store.delete_session(key, Some(&audit)).await {
            tracing::warn!(error = %e, "could not end a web session");
        }
    }

    /// Drop sessions past their absolute or idle end.
    pub async fn purge_sessions(&self) -> Result<u64, AppError> {
        let now = self.now();
        Ok(self
            .store
            .purge_sessions(now, now - self.policy.session.idle)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;

    use chrono::TimeZone;
    use patrol_auth::{Claims, PrincipalKind};
    use patrol_core::clock::{Clock, ManualClock};
    use patrol_core::hashing::{ServerKey, TokenHasher};
    use patrol_store::{AuditQuery, SqliteStore, Store};

    use super::super::verify::{self, ResourceServers, VerifySettings, VerifyState};
    use super::super::{AppParts, AuthLimits, Policy};
    use super::*;

    fn token(scp: &str, exp: DateTime<Utc>) -> VerifiedToken {
        VerifiedToken {
            issuer: "https://idp.test".into(),
            subject: "u1".into(),
            claims: Claims {
                iss: "https://idp.test".into(),
                sub: Some("u1".into()),
                scp: Some(scp.into()),
                exp: Some(exp.timestamp()),
                name: Some("Una".into()),
                ..Claims::default()
            },
            principal: PrincipalKind::User,
            email_verified: false,
        }
    }

    /// A provider that refreshes with a chosen scope and records what it was given.
    struct StubIdp {
        scope: &'static str,
        clock: Arc<ManualClock>,
        seen: StdMutex<Vec<String>>,
    }

    #[async_trait::async_trait]
    impl IdentityProvider for StubIdp {
        fn client_id(&self) -> &str {
            "patrol-web"
        }
        async fn refresh(&self, rt: &SecretString) -> Result<Refreshed, IdpError> {
            let mut seen = self.seen.lock().unwrap();
            seen.push(rt.expose_secret().to_owned());
            Ok(Refreshed {
                access: token(self.scope, self.clock.now() + Duration::hours(1)),
                expires_in: None,
                refresh_token: Some(SecretString::from(format!("rt-{}", seen.len() + 1))),
            })
        }
        async fn revoke(&self, _: &SecretString) {}
    }

    async fn app(dir: &tempfile::TempDir) -> (App, Arc<ManualClock>) {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap();
        let clock = Arc::new(ManualClock::new(t0));
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join("p.db")).await.unwrap());
        let (usage, _flusher) =
            verify::spawn_usage_writer(store.clone(), std::time::Duration::from_secs(1), 10);
        let settings = VerifySettings {
            cache_capacity: 10,
            cache_ttl: Duration::seconds(5),
            max_failures_per_ip: 10,
            max_failures_per_token: 10,
            failure_window: Duration::seconds(60),
            limiter_capacity: 100,
        };
        let app = App::new(AppParts {
            store,
            hasher: Arc::new(
                TokenHasher::new(vec![ServerKey::new("k", vec![1; 32]).unwrap()]).unwrap(),
            ),
            clock: clock.clone(),
            policy: Policy {
                mint: Default::default(),
                lifetime: Default::default(),
                inactive_after: None,
                auto_join: false,
                max_active_per_user: 10,
                accept_user_impersonation: false,
                session: SessionPolicy::default(),
                allowed_clients: Default::default(),
            },
            verify: VerifyState::new(settings, ResourceServers::new(vec![]), usage),
            auth_limits: AuthLimits {
                max_failures_per_ip: 10,
                window: Duration::seconds(60),
                capacity: 100,
            },
            issuer_aliases: Default::default(),
            roles: Default::default(),
        });
        (app, clock)
    }

    async fn signed_in(app: &App, clock: &ManualClock) -> String {
        let access = token("vso.pats vso.pats_manage", clock.now() + Duration::hours(1));
        let presented = Presented {
            access: &access,
            id_token: None,
            client_id: Some("patrol-web".into()),
            needed: "vso.pats_manage",
            edge: Edge::WebSignIn,
        };
        let ctx = RequestCtx::default();
        let caller = app.admit(presented, &ctx).await.unwrap();
        let rt = SecretString::from("rt-1".to_owned());
        app.open_web_session(&caller, &access, None, Some(&rt))
            .await
            .unwrap()
            .cookie_value
    }

    #[tokio::test]
    async fn refresh_rotates_the_refresh_token_under_the_same_rules() {
        let dir = tempfile::tempdir().unwrap();
        let (app, clock) = app(&dir).await;
        let cookie = signed_in(&app, &clock).await;
        let idp = StubIdp {
            scope: "vso.pats vso.pats_manage",
            clock: clock.clone(),
            seen: StdMutex::new(vec![]),
        };
        let ctx = RequestCtx::default();
        assert!(app.resume_session(&idp, &cookie, &ctx).await.is_ok());
        assert!(idp.seen.lock().unwrap().is_empty(), "not due yet");
        // Moving time, not editing rows: the access token comes due.
        clock.advance(Duration::minutes(59) + Duration::seconds(30));
        assert!(app.resume_session(&idp, &cookie, &ctx).await.is_ok());
        clock.advance(Duration::minutes(59) + Duration::seconds(30));
        assert!(app.resume_session(&idp, &cookie, &ctx).await.is_ok());
        assert_eq!(
            *idp.seen.lock().unwrap(),
            ["rt-1", "rt-2"],
            "rotated each time"
        );
        // Idle past the limit: over.
        clock.advance(Duration::minutes(61));
        assert_eq!(
            app.resume_session(&idp, &cookie, &ctx).await.err(),
            Some(SessionEnd::SignInAgain)
        );
    }

    #[tokio::test]
    async fn a_refreshed_token_that_lost_the_scope_ends_the_session() {
        let dir = tempfile::tempdir().unwrap();
        let (app, clock) = app(&dir).await;
        let cookie = signed_in(&app, &clock).await;
        let idp = StubIdp {
            scope: "vso.pats",
            clock: clock.clone(),
            seen: StdMutex::new(vec![]),
        };
        let ctx = RequestCtx::default();
        clock.advance(Duration::minutes(59) + Duration::seconds(30));
        assert_eq!(
            app.resume_session(&idp, &cookie, &ctx).await.err(),
            Some(SessionEnd::SignInAgain)
        );
        let key = SessionKey::of(&cookie);
        assert!(
            app.store.get_session(&key).await.unwrap().is_none(),
            "ended for good"
        );
        let actions: Vec<(AuditAction, Option<String>)> = app
            .store
            .list_audit(&AuditQuery {
                limit: 20,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.action, e.detail))
            .collect();
        assert!(
            actions.iter().any(|(a, d)| *a == AuditAction::AuthReject
                && d.as_deref() == Some("web sign-in: missing scope vso.pats_manage")),
            "{actions:?}"
        );
        assert!(
            actions
                .iter()
                .any(|(a, _)| *a == AuditAction::WebSessionEnd),
            "{actions:?}"
        );
    }
}
