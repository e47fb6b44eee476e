//! Reading the audit log (docs/admin.md): tenant administrators read all
//! of it; an organization's administrators the events by or about its
//! members; everyone else the events by them, about them, or about their
//! tokens — through the same use case, with the same filters and pages.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use patrol_core::user::{AuditAction, AuditEvent};
use patrol_store::{AuditCursor, AuditQuery};

use super::{App, AppError, Caller};

/// Largest page (an export asks for this many at a time).
pub const MAX_AUDIT_PAGE: u32 = 10_000;

/// Filters; every one given must match.
#[derive(Debug, Clone, Default)]
pub struct AuditRequest {
    /// The actor as recorded (`<issuer>|<subject>`, `unauthenticated`, …).
    pub actor: Option<String>,
    /// Events by this user or about them.
    pub user: Option<Uuid>,
    /// Events about this token.
    pub token: Option<Uuid>,
    pub action: Option<AuditAction>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Continue after this event (the previous page's `next`).
    pub after: Option<AuditCursor>,
    pub limit: u32,
}

/// Whose events a caller reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditView {
    Tenant,
    /// Organization administrators: these organizations' members.
    Orgs(Vec<String>),
    /// Their own.
    Own,
}

#[derive(Debug, Clone)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// Where the next page starts, when there is one.
    pub next: Option<AuditCursor>,
    pub view: AuditView,
}

impl App {
    pub async fn audit_log(
        &self,
        caller: &Caller,
        req: AuditRequest,
    ) -> Result<AuditPage, AppError> {
        let mut q = AuditQuery {
            actor_user: None,
            target_pat: req.token,
            action: req.action,
            actor: req.actor,
            user: req.user,
            since: req.since,
            until: req.until,
            after: req.after,
            visible_to: None,
            members_of: Vec::new(),
            limit: 0,
        };
        let view = if caller.is_tenant_admin() {
            AuditView::Tenant
        } else if caller.is_admin() {
            let orgs: Vec<_> = self
                .store
                .list_orgs()
                .await?
                .into_iter()
                .filter(|o| caller.administers(&o.name))
                .collect();
            q.members_of = orgs.iter().map(|o| o.id).collect();
            AuditView::Orgs(orgs.into_iter().map(|o| o.name).collect())
        } else {
            q.visible_to = Some(caller.user.id);
            AuditView::Own
        };
        if let AuditView::Orgs(names) = &view {
            if names.is_empty() {
                // Roles for organizations that do not exist: nothing to read.
                q.visible_to = Some(caller.user.id);
            }
        }
        let limit = req.limit.clamp(1, MAX_AUDIT_PAGE);
        q.limit = limit + 1;
        let mut events = self.store.list_audit(&q).await?;
        let more = events.len() > limit as usize;
        events.truncate(limit as usize);
        let next = more
            .then(|| events.last().map(|e| AuditCursor { at: e.at, id: e.id }))
            .flatten();
        Ok(AuditPage { events, next, view })
    }
}
