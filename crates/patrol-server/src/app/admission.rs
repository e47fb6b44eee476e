//! Who may manage PATs: the admission rule every edge applies to a verified
//! OIDC access token (the management API on each request, the web page at
//! sign-in and at each silent refresh), and the flood-proof audit of failed
//! authentication.

use std::net::IpAddr;

use patrol_auth::{PrincipalKind, VerifiedToken};
use patrol_core::scope::token_scopes_grant;
use patrol_core::user::{AuditAction, AuditEvent, Outcome, UserClaims};

use super::verify::ip_key;
use super::{App, AppError, Caller};

/// Where a request came from, for limits and audit records.
#[derive(Debug, Clone, Default)]
pub struct RequestCtx {
    pub source_ip: Option<IpAddr>,
    pub request_id: Option<String>,
}

/// Which edge is admitting, for the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// The PAT management API (each request).
    Api,
    /// The web page's sign-in or silent refresh.
    WebSignIn,
}

/// A verified access token presented to manage PATs.
pub struct Presented<'a> {
    pub access: &'a VerifiedToken,
    /// At web sign-in, the ID token: names and email fall back to it.
    pub id_token: Option<&'a VerifiedToken>,
    /// The OAuth client acting (audited).
    pub client_id: Option<String>,
    /// The delegated scope the action needs.
    pub needed: &'static str,
    pub edge: Edge,
}

/// A credential the management API refused before any user was known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// A PAT (or anything not a JWT) where an OIDC access token is required.
    PatPresented,
    /// A JWT that failed validation.
    InvalidToken,
    /// A web sign-in that did not complete (forged or stale state, a code
    /// the provider refused, unacceptable tokens): each may have cost an
    /// outbound token request.
    SignInFailed(&'static str),
}

/// Identical refusals share one key: address, caller, reason.
fn refusal_key(ip: IpAddr, actor: &str, reason: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(ip.to_string());
    h.update([0]);
    h.update(actor);
    h.update([0]);
    h.update(reason);
    h.finalize().into()
}

impl App {
    /// The admission rule: a human (not a service principal or managed
    /// identity), through an OAuth client the issuer's `allowed_client_ids`
    /// accepts (when it has that list), holding `needed` — or
    /// `user_impersonation` where accepted — and not disabled. A refusal is
    /// audited with the client, address and request id. The user record is
    /// created on first sight and its name and email kept current.
    pub async fn admit(&self, p: Presented<'_>, ctx: &RequestCtx) -> Result<Caller, AppError> {
        if let Err((err, why)) = self.admission_rule(p.access, p.needed) {
            let prefix = match p.edge {
                Edge::Api => "",
                Edge::WebSignIn => "web sign-in: ",
            };
            let actor = format!("{}|{}", p.access.issuer, p.access.subject);
            self.refused(actor, p.client_id, ctx, format!("{prefix}{why}"))
                .await;
            return Err(err);
        }
        let user = self
            .sign_in(&self.user_claims(p.access, p.id_token))
            .await?;
        if user.disabled {
            return Err(AppError::UserDisabled);
        }
        let access = self
            .access_at_admission(&user, p.access, p.id_token, p.edge)
            .await?;
        Ok(Caller {
            user,
            access,
            client_id: p.client_id,
            source_ip: ctx.source_ip.map(|i| i.to_string()),
            request_id: ctx.request_id.clone(),
        })
    }

    fn admission_rule(
        &self,
        access: &VerifiedToken,
        needed: &'static str,
    ) -> Result<(), (AppError, String)> {
        if let PrincipalKind::NonHuman(why) = &access.principal {
            return Err((AppError::NonHuman, format!("non-human caller: {why}")));
        }
        self.client_rule(access)?;
        let scp = access.claims.scp.as_deref().unwrap_or("");
        let impersonation =
            self.policy.accept_user_impersonation && token_scopes_grant(scp, "user_impersonation");
        if token_scopes_grant(scp, needed) || impersonation {
            Ok(())
        } else {
            Err((
                AppError::MissingScope(needed),
                format!("missing scope {needed}"),
            ))
        }
    }

    /// The issuer's client allow-list, if it has one: every client id the
    /// token names (`azp`, `appid`, `client_id`) must be on it, and a token
    /// naming none is refused — a consent-phished third-party application
    /// holding `vso.pats_manage` cannot mint PATs.
    fn client_rule(&self, access: &VerifiedToken) -> Result<(), (AppError, String)> {
        let Some(allowed) = self.policy.allowed_clients.get(&access.issuer) else {
            return Ok(());
        };
        let mut named = access.claims.client_ids().peekable();
        if named.peek().is_none() {
            return Err((
                AppError::ClientNotAllowed(None),
                "client not allowed: the token names no client".into(),
            ));
        }
        match named.find(|c| !allowed.iter().any(|a| a == c)) {
            None => Ok(()),
            Some(foreign) => Err((
                AppError::ClientNotAllowed(Some(foreign.to_owned())),
                format!("client not allowed: {foreign}"),
            )),
        }
    }

    /// The issuer name users of `issuer` are keyed under. `patrol dev`'s
    /// issuer URL changes with its port; its users must not.
    pub fn user_issuer<'a>(&'a self, issuer: &'a str) -> &'a str {
        self.issuer_aliases
            .get(issuer)
            .map(String::as_str)
            .unwrap_or(issuer)
    }

    /// Who a verified access token names, keyed as every edge keys users;
    /// name and email fall back to the ID token's when given. An email the
    /// issuer vouches for (in either token) wins over one it does not.
    fn user_claims(&self, access: &VerifiedToken, id: Option<&VerifiedToken>) -> UserClaims {
        let id_claims = id.map(|i| &i.claims);
        let emails = [Some(access), id]
            .into_iter()
            .flatten()
            .filter_map(|t| t.claims.email().map(|e| (e, t.email_verified)));
        let (email, email_verified) = emails
            .reduce(|best, next| if !best.1 && next.1 { next } else { best })
            .map_or((None, false), |(e, v)| (Some(e.to_owned()), v));
        UserClaims {
            issuer: self.user_issuer(&access.issuer).to_owned(),
            subject: access.subject.clone(),
            display_name: access
                .claims
                .display_name()
                .or_else(|| id_claims.and_then(|c| c.display_name()))
                .map(str::to_owned)
                .unwrap_or_else(|| access.subject.clone()),
            email,
            email_verified,
        }
    }

    /// Does `access` still name `user`? (A refreshed token must.)
    pub(crate) fn names_user(
        &self,
        access: &VerifiedToken,
        user: &patrol_core::user::User,
    ) -> bool {
        user.subject == access.subject && user.issuer == self.user_issuer(&access.issuer)
    }

    /// `Err(seconds)` while the address has used up its failed
    /// authentications for the window (429 with `Retry-After`).
    pub fn check_auth_limit(&self, ctx: &RequestCtx) -> Result<(), u64> {
        match ctx.source_ip {
            Some(ip) => self.auth_failures.check(&ip_key(ip), self.now()),
            None => Ok(()),
        }
    }

    /// A refused admission: it counts against the address like a failed
    /// authentication (a valid token that may not act is still an attempt),
    /// and is audited flood-proof — the first identical refusal (same
    /// address, caller and reason) in each window, and the one that reaches
    /// the limit, so one service principal looping cannot fill the log.
    async fn refused(
        &self,
        actor: String,
        client_id: Option<String>,
        ctx: &RequestCtx,
        reason: String,
    ) {
        let Some(ip) = ctx.source_ip else {
            return self.audit_refusal(actor, client_id, ctx, reason).await;
        };
        let now = self.now();
        self.auth_failures.record_failure(ip_key(ip), now);
        let key = refusal_key(ip_key(ip), &actor, &reason);
        let n = self.refusal_audits.record_failure(key, now);
        let max = self.refusal_audits.max();
        if n == 1 {
            self.audit_refusal(actor, client_id, ctx, reason).await;
        } else if n == max {
            let reason = format!("{reason}; refused {n} times from this address in the window");
            self.audit_refusal(actor, client_id, ctx, reason).await;
        }
    }

    /// Count a failed authentication against its address. Audited, but
    /// flood-proof: the first failure from an address in each window, and
    /// the one that reaches the limit.
    pub async fn note_auth_failure(&self, failure: AuthFailure, ctx: &RequestCtx) {
        let Some(ip) = ctx.source_ip else { return };
        let n = self.auth_failures.record_failure(ip_key(ip), self.now());
        let max = self.auth_failures.max();
        if n != 1 && n != max {
            return;
        }
        let what = match failure {
            AuthFailure::PatPresented => "a PAT presented to the management API",
            AuthFailure::InvalidToken => "an invalid access token",
            AuthFailure::SignInFailed(why) => why,
        };
        let reason = if n == max {
            format!("{what}; {n} failures from this address, further attempts answered 429")
        } else {
            format!("{what} (first failure from this address in the window)")
        };
        self.audit_refusal("unauthenticated".into(), None, ctx, reason)
            .await;
    }

    /// An `auth.reject` record (no user record exists for the caller).
    async fn audit_refusal(
        &self,
        actor: String,
        client_id: Option<String>,
        ctx: &RequestCtx,
        reason: String,
    ) {
        let ev = AuditEvent {
            client_id,
            source_ip: ctx.source_ip.map(|i| i.to_string()),
            request_id: ctx.request_id.clone(),
            detail: Some(reason),
            ..AuditEvent::new(AuditAction::AuthReject, self.now(), actor, Outcome::Failure)
        };
        if let Err(e) = self.store.append_audit(&ev).await {
            tracing::warn!(error = %e, "could not write audit record for a rejection");
        }
    }
}
