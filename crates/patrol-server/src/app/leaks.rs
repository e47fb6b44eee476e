//! Leaked tokens (docs/leaks.md): a batch of candidate secrets, each with
//! where it was found, reported by GitHub's secret scanning, GitLab's token
//! revocation, or an administrator's `patrol scan --report`.
//!
//! Per candidate: the format and checksum are checked offline; a well-formed
//! one is looked up by its keyed hashes (the verify path's lookup). A known
//! PAT gets one `pat.leaked` audit record per distinct location (a repeated
//! report of the same token at the same location writes nothing), and is
//! revoked once when the tenant's `revoke_leaked_pats` policy is on — its
//! own `pat.revoke` record, the reporter as actor — with the verify cache
//! dropped so the very next verify fails.
//!
//! The answer never depends on whether a token exists: a well-formed token
//! is "ours" (true positive) whether or not a PAT has it, a malformed or
//! foreign one is not — which anyone can tell offline.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use patrol_core::pat::Pat;
use patrol_core::token;
use patrol_core::user::{AuditAction, AuditEvent, Outcome};
use patrol_store::AuditQuery;

use super::notify::{promise, EventKind};
use super::{App, AppError, Caller, RequestCtx};

/// Most candidates in one report (GitHub's revocation API takes 1000).
pub const MAX_LEAK_REPORTS: usize = 1000;
/// Longest location kept in the audit log (longer ones are cut).
const MAX_LOCATION_CHARS: usize = 300;
/// Earlier `pat.leaked` records read to recognise a repeated report.
const REPEAT_WINDOW: u32 = 200;

/// One candidate secret and where it was seen.
#[derive(Debug, Clone)]
pub struct LeakReport {
    pub token: String,
    /// Where: a URL (GitHub blob, GitLab location) or `file:line`.
    pub url: String,
    /// What kind of place (`content`, `commit`, `scan`, …).
    pub source: String,
}

/// Who reported.
#[derive(Debug, Clone)]
pub enum Reporter {
    /// GitHub's secret scanning (signature checked).
    GitHub,
    /// GitLab's token revocation (shared secret checked).
    GitLab,
    /// A tenant administrator through the admin API (`patrol scan --report`).
    Admin(Box<Caller>),
}

impl Reporter {
    fn actor(&self) -> String {
        match self {
            Reporter::GitHub => "leak-detection|github".into(),
            Reporter::GitLab => "leak-detection|gitlab".into(),
            Reporter::Admin(c) => format!("{}|{}", c.user.issuer, c.user.subject),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Reporter::GitHub => "github",
            Reporter::GitLab => "gitlab",
            Reporter::Admin(_) => "an administrator's scan",
        }
    }

    fn event(
        &self,
        action: AuditAction,
        at: DateTime<Utc>,
        pat: &Pat,
        detail: String,
    ) -> AuditEvent {
        let base = AuditEvent {
            target_pat: Some(pat.authorization_id),
            target_user: Some(pat.owner),
            detail: Some(detail),
            ..AuditEvent::new(action, at, self.actor(), Outcome::Success)
        };
        match self {
            Reporter::Admin(c) => AuditEvent {
                actor_user: Some(c.user.id),
                client_id: c.client_id.clone(),
                source_ip: c.source_ip.clone(),
                request_id: c.request_id.clone(),
                ..base
            },
            _ => base,
        }
    }
}

/// What a candidate is, as told to the reporter: the same for a known and
/// an unknown well-formed token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeakVerdict {
    /// A well-formed token of this server's format (checksum valid).
    Ours,
    /// Malformed, or another provider's.
    NotOurs,
}

/// A known PAT a report named: what the owner's email and the `leaked`
/// webhook need. Never sent back to the reporter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeakedPat {
    pub owner: Uuid,
    pub authorization_id: Uuid,
    pub display_name: String,
    /// Where it was found (as audited: cut, without query or fragment).
    pub location: String,
    pub source: String,
    /// Revoked by this report (false: the policy is off, or it already was).
    pub revoked: bool,
    /// Revoked now, by this or an earlier report or by anyone.
    pub is_revoked: bool,
    /// False when this token was already reported at this location.
    pub first_report: bool,
}

/// The answer to a batch: a verdict per candidate (in order), and the
/// known PATs it named (for notifications only).
#[derive(Debug, Clone, Default)]
pub struct LeakOutcome {
    pub verdicts: Vec<LeakVerdict>,
    pub found: Vec<LeakedPat>,
}

/// A location fit for the audit log: no query or fragment (they may carry
/// credentials), no control characters, never the token, at most
/// [`MAX_LOCATION_CHARS`].
fn clean_location(url: &str, token: &str) -> String {
    let cut = url.find(['?', '#']).map_or(url, |i| &url[..i]);
    let cut = if token.is_empty() {
        cut.to_owned()
    } else {
        cut.replace(token, "[redacted]")
    };
    let mut out: String = cut
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_LOCATION_CHARS)
        .collect();
    if out.is_empty() {
        out.push_str("(no location)");
    }
    out
}

/// A short source word for the audit log: `[a-z0-9_-]`, at most 40.
fn clean_source(s: &str) -> String {
    let w: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .take(40)
        .collect::<String>()
        .to_ascii_lowercase();
    if w.is_empty() {
        "unknown".into()
    } else {
        w
    }
}

impl App {
    /// Report leaked candidates (see the module documentation); the edges
    /// bound a batch to [`MAX_LEAK_REPORTS`]. The only errors are the store's.
    pub async fn report_leaks(
        &self,
        reports: &[LeakReport],
        reporter: &Reporter,
    ) -> Result<LeakOutcome, AppError> {
        let now = self.now();
        let mut out = LeakOutcome::default();
        let mut policies = None;
        for r in reports {
            if token::validate_for(&r.token, &self.policy.mint.signature).is_err() {
                out.verdicts.push(LeakVerdict::NotOurs);
                continue;
            }
            out.verdicts.push(LeakVerdict::Ours);
            let candidates = self.hasher.candidates(&r.token);
            let Some((pat, _)) = self.store.find_by_hash(&candidates).await? else {
                continue;
            };
            let revoke = match &policies {
                Some(p) => *p,
                None => {
                    let p = self.policies_in_force().await?.tenant.revoke_leaked_pats;
                    policies = Some(p);
                    p
                }
            };
            let leaked = self.one_leak(&pat, r, reporter, revoke, now).await?;
            out.found.push(leaked);
        }
        Ok(out)
    }

    async fn one_leak(
        &self,
        pat: &Pat,
        r: &LeakReport,
        reporter: &Reporter,
        revoke: bool,
        now: DateTime<Utc>,
    ) -> Result<LeakedPat, AppError> {
        let location = clean_location(&r.url, &r.token);
        let source = clean_source(&r.source);
        let detail = format!("reported by {} at {location} ({source})", reporter.name());
        let earlier = self
            .store
            .list_audit(&AuditQuery {
                target_pat: Some(pat.authorization_id),
                action: Some(AuditAction::PatLeaked),
                limit: REPEAT_WINDOW,
                ..AuditQuery::default()
            })
            .await?;
        let first_report = !earlier
            .iter()
            .any(|e| e.detail.as_deref() == Some(detail.as_str()));
        // The owner hears of each new place it was found (a notice that
        // cannot be switched off), and `leaked` webhooks fire.
        let leaked_ev = first_report.then(|| {
            let reason = format!("found in a public place: {location}");
            let ev = reporter.event(AuditAction::PatLeaked, now, pat, detail);
            promise(ev, EventKind::Leaked, true, Some(&reason))
        });
        if let Some(ev) = &leaked_ev {
            self.store.append_audit(ev).await?;
        }
        let mut revoked = false;
        if revoke && pat.revoked_at.is_none() {
            let why = format!("leaked: reported by {} at {location}", reporter.name());
            let ev = reporter.event(AuditAction::PatRevoke, now, pat, why.clone());
            let ev = promise(ev, EventKind::Revoked, true, Some(&why));
            revoked = self
                .store
                .revoke_pat(pat.authorization_id, now, &ev)
                .await?;
            self.tell(&[&ev]).await;
        }
        // Whatever happened, the next verify reads the store.
        self.forget_verified(pat.authorization_id);
        if let Some(ev) = &leaked_ev {
            self.tell(&[ev]).await;
        }
        Ok(LeakedPat {
            owner: pat.owner,
            authorization_id: pat.authorization_id,
            display_name: pat.display_name.clone(),
            location,
            source,
            revoked,
            is_revoked: revoked || pat.revoked_at.is_some(),
            first_report,
        })
    }

    /// A report refused at the door (bad or missing signature or token):
    /// counted against the address and audited (`auth.reject`, flood-proof).
    pub async fn refuse_leak_report(&self, intake: &str, ctx: &RequestCtx, reason: &str) {
        self.refused(
            format!("leak-detection|{intake}"),
            None,
            ctx,
            reason.to_owned(),
        )
        .await;
    }

    /// `patrol scan --report`: tenant administrators only.
    pub async fn report_leaks_as_admin(
        &self,
        caller: &Caller,
        reports: &[LeakReport],
    ) -> Result<LeakOutcome, AppError> {
        if !caller.is_tenant_admin() {
            return Err(self
                .refuse_admin(caller, AppError::not_tenant_admin())
                .await);
        }
        self.report_leaks(reports, &Reporter::Admin(Box::new(caller.clone())))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_lose_query_controls_and_the_token() {
        assert_eq!(
            clean_location("https://x.test/a/b.txt?token=s3cret#L4", "zz"),
            "https://x.test/a/b.txt"
        );
        assert_eq!(
            clean_location("f.txt:3 TOKEN\n", "TOKEN"),
            "f.txt:3 [redacted]"
        );
        assert_eq!(clean_location("", "t"), "(no location)");
        assert_eq!(
            clean_location(&"a".repeat(1000), "t").len(),
            MAX_LOCATION_CHARS
        );
    }

    #[test]
    fn sources_are_short_words() {
        assert_eq!(clean_source("Content"), "content");
        assert_eq!(clean_source("pull_request_title"), "pull_request_title");
        assert_eq!(clean_source("<script>"), "script");
        assert_eq!(clean_source(""), "unknown");
    }
}
