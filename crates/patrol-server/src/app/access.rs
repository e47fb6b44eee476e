//! A caller's administrator roles and groups (docs/admin.md): from
//! `[roles]` by user key, and from claims of the user's tokens — read at
//! admission and remembered on the user, so web sessions, dry runs and
//! allow-lists know them while the user presents no token.

use patrol_auth::VerifiedToken;
use patrol_core::policy::Principal;
use patrol_core::roles::{user_key, RememberedClaims, Roles};
use patrol_core::scope::token_scopes_grant;
use patrol_core::user::{AuditAction, Outcome, User};

use super::admission::Edge;
use super::{App, AppError, Caller};

/// The delegated scope the Token Admin API and Patrol's admin API need.
pub const ADMIN_SCOPE: &str = "vso.tokenadministration";

/// What a caller may administer.
#[derive(Debug, Clone, Default)]
pub struct Access {
    pub roles: Roles,
    /// The groups their issuer's groups claim named at their last sign-in.
    pub groups: Vec<String>,
    /// The credential carries the token-administration delegation: an API
    /// access token with `vso.tokenadministration`, or Patrol's own web page
    /// (a first-party session, where the role alone decides).
    pub admin_scope: bool,
}

impl Caller {
    /// `<issuer>|<subject>`.
    pub fn key(&self) -> String {
        user_key(&self.user.issuer, &self.user.subject)
    }

    /// May act as administrator of `org` (tenant admins: of every one).
    pub fn administers(&self, org: &str) -> bool {
        self.access.admin_scope && self.access.roles.administers(org)
    }

    pub fn is_tenant_admin(&self) -> bool {
        self.access.admin_scope && self.access.roles.tenant_admin
    }

    /// Any administrator role, with the delegation to use it.
    pub fn is_admin(&self) -> bool {
        self.access.admin_scope && self.access.roles.is_admin()
    }

    /// The caller as policies see them; `key` is [`Caller::key`].
    pub fn principal<'a>(&'a self, key: &'a str) -> Principal<'a> {
        Principal {
            key,
            groups: &self.access.groups,
        }
    }
}

/// The string values of claim `name` in `token`: a string is one value, a
/// list of strings its strings; anything else none.
fn claim_values(token: &VerifiedToken, name: &str) -> Vec<String> {
    let Ok(serde_json::Value::Object(all)) = serde_json::to_value(&token.claims) else {
        return Vec::new();
    };
    match all.get(name) {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

impl App {
    /// Roles and groups of `user`, admitted with `access` (and, at web
    /// sign-in, an ID token whose claims count too). The claims the role
    /// rules read are remembered when they changed.
    pub(crate) async fn access_at_admission(
        &self,
        user: &User,
        access: &VerifiedToken,
        id_token: Option<&VerifiedToken>,
        edge: Edge,
    ) -> Result<Access, AppError> {
        let read = self.roles.claims_read(&user.issuer);
        let claims = if read.is_empty() {
            RememberedClaims::default()
        } else {
            let mut now_held = RememberedClaims::default();
            for name in read {
                now_held.insert(name, claim_values(access, name));
                if let Some(id) = id_token {
                    now_held.insert(name, claim_values(id, name));
                }
            }
            if self.store.user_claims(user.id).await? != now_held {
                self.store
                    .set_user_claims(user.id, &now_held, self.now())
                    .await?;
            }
            now_held
        };
        let scp = access.claims.scp.as_deref().unwrap_or("");
        let admin_scope = edge == Edge::WebSignIn || token_scopes_grant(scp, ADMIN_SCOPE);
        Ok(self.access_from(user, &claims, admin_scope))
    }

    /// Roles and groups of a user who presents no token now (a web session):
    /// from configuration and the claims remembered at their last sign-in.
    pub(crate) async fn access_of_stored(&self, user: &User) -> Result<Access, AppError> {
        let claims = if self.roles.claims_read(&user.issuer).is_empty() {
            RememberedClaims::default()
        } else {
            self.store.user_claims(user.id).await?
        };
        Ok(self.access_from(user, &claims, true))
    }

    pub(crate) fn access_from(
        &self,
        user: &User,
        claims: &RememberedClaims,
        admin_scope: bool,
    ) -> Access {
        Access {
            roles: self.roles.roles(&user.issuer, &user.subject, claims),
            groups: self.roles.groups(&user.issuer, claims),
            admin_scope,
        }
    }

    /// A refused administrator action, audited (`auth.reject`, outcome
    /// failure) — the first identical refusal from an address in each
    /// window and the one that reaches the limit, so a looping client
    /// cannot flood the log. Returns the error to answer.
    pub(crate) async fn refuse_admin(&self, caller: &Caller, e: AppError) -> AppError {
        let AppError::NotAnAdmin(what) = &e else {
            return e;
        };
        let reason = format!("not an administrator of {what}");
        if let Some(ip) = caller.source_ip.as_deref().and_then(|i| i.parse().ok()) {
            use sha2::{Digest, Sha256};
            let mut h = Sha256::new();
            for part in [
                super::verify::ip_key(ip).to_string(),
                caller.key(),
                reason.clone(),
            ] {
                h.update(part);
                h.update([0]);
            }
            let n = self
                .refusal_audits
                .record_failure(h.finalize().into(), self.now());
            if n != 1 && n != self.refusal_audits.max() {
                return e;
            }
        }
        let ev = caller.audit(
            AuditAction::AuthReject,
            self.now(),
            None,
            Outcome::Failure,
            Some(reason),
        );
        if let Err(err) = self.store.append_audit(&ev).await {
            tracing::warn!(error = %err, "could not write audit record for a refused admin action");
        }
        e
    }
}
