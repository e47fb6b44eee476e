//! Web sessions: opened at sign-in, closed at sign-out or when the identity
//! provider no longer refreshes them. Each opening and closing is audited.

use patrol_core::session::{SessionKey, WebSession};
use patrol_core::user::{AuditAction, Outcome};

use super::{App, AppError, Caller};

impl App {
    /// Store a new session for a user who just signed in.
    pub async fn open_session(&self, caller: &Caller, s: &WebSession) -> Result<(), AppError> {
        let audit = caller.audit(
            AuditAction::WebSignIn,
            self.now(),
            None,
            Outcome::Success,
            None,
        );
        self.store.create_session(s, &audit).await?;
        Ok(())
    }

    pub async fn session(&self, key: &SessionKey) -> Result<Option<WebSession>, AppError> {
        Ok(self.store.get_session(key).await?)
    }

    /// Save a session's last-seen time and refreshed IdP tokens.
    pub async fn save_session(&self, s: &WebSession) -> Result<(), AppError> {
        Ok(self.store.update_session(s).await?)
    }

    /// End a session: `web.signout` when the user asked, `web.session_end`
    /// (with the reason) otherwise. False when it was already gone.
    pub async fn end_session(
        &self,
        caller: &Caller,
        key: &SessionKey,
        reason: Option<&str>,
    ) -> Result<bool, AppError> {
        let audit = match reason {
            None => caller.audit(
                AuditAction::WebSignOut,
                self.now(),
                None,
                Outcome::Success,
                None,
            ),
            Some(r) => caller.audit(
                AuditAction::WebSessionEnd,
                self.now(),
                None,
                Outcome::Success,
                Some(r.to_owned()),
            ),
        };
        Ok(self.store.delete_session(key, Some(&audit)).await?)
    }

    /// Drop sessions past their absolute or idle end.
    pub async fn purge_sessions(&self, idle: chrono::Duration) -> Result<u64, AppError> {
        let now = self.now();
        Ok(self.store.purge_sessions(now, now - idle).await?)
    }
}
