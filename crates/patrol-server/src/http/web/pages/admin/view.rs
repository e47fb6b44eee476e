//! The admin pages' view models, already in display form (askama escapes
//! every value it prints).

use askama::Template;

use super::super::super::view::Chrome;

/// One entry of the admin pages' navigation.
pub struct NavItem {
    pub id: &'static str,
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// A restriction of the tenant's policy as a form: fields `{key}_enabled`,
/// `{key}_users`, `{key}_groups` (and `lifespan_days` for the lifespan).
pub struct RestrictionForm {
    pub key: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub enabled: bool,
    pub users: String,
    pub groups: String,
}

pub struct TenantForm {
    pub restrictions: Vec<RestrictionForm>,
    pub max_days: String,
    pub revoke_leaked: bool,
    /// Only tenant administrators may change it.
    pub editable: bool,
}

pub struct OrgForm {
    pub name: String,
    pub restrict: bool,
    pub allow_packaging: bool,
    pub users: String,
    pub groups: String,
}

pub struct DryRunRow {
    pub owner: String,
    pub owner_id: String,
    pub token: String,
    pub token_id: String,
    pub policy: String,
    pub expires: String,
}

pub struct DryRun {
    /// "the tenant" or "organization “x”".
    pub about: String,
    /// The form (`tenant` or `org-<name>`) the proposal came from.
    pub form: String,
    pub rows: Vec<DryRunRow>,
}

#[derive(Template)]
#[template(path = "admin/policies.html")]
pub struct PoliciesPage {
    pub chrome: Option<Chrome>,
    pub nav: Vec<NavItem>,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub tenant: TenantForm,
    pub orgs: Vec<OrgForm>,
    pub dry_run: Option<DryRun>,
}

pub struct MemberRow {
    pub id: String,
    pub name: String,
    pub key: String,
    pub email: String,
}

pub struct SelectOption {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "admin/members.html")]
pub struct MembersPage {
    pub chrome: Option<Chrome>,
    pub nav: Vec<NavItem>,
    pub notice: Option<String>,
    pub orgs: Vec<SelectOption>,
    pub org: String,
    pub members: Vec<MemberRow>,
    pub candidates: Vec<SelectOption>,
    pub prev: Option<String>,
    pub next: Option<String>,
}

pub struct UserRow {
    pub id: String,
    pub name: String,
    pub key: String,
    pub email: String,
    pub orgs: String,
    pub roles: String,
    pub disabled: bool,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
pub struct UsersPage {
    pub chrome: Option<Chrome>,
    pub nav: Vec<NavItem>,
    pub q: String,
    pub users: Vec<UserRow>,
    pub searched: bool,
}

pub struct AdminTokenRow {
    pub id: String,
    pub name: String,
    pub orgs: String,
    pub scopes: String,
    pub created: String,
    pub expires: String,
    pub status: &'static str,
    pub revocable: bool,
}

#[derive(Template)]
#[template(path = "admin/user.html")]
pub struct UserTokensPage {
    pub chrome: Option<Chrome>,
    pub nav: Vec<NavItem>,
    pub notice: Option<String>,
    pub user: UserRow,
    pub descriptor: String,
    pub show_all: bool,
    pub tokens: Vec<AdminTokenRow>,
    pub any_active: bool,
    /// Tenant administrators may disable or enable the user.
    pub can_disable: bool,
}

pub struct RuleRow {
    pub id: String,
    pub scopes: String,
    pub created_before: String,
    pub org: String,
    pub created_at: String,
    pub created_by: String,
    pub revoked: u64,
}

#[derive(Template)]
#[template(path = "admin/rules.html")]
pub struct RulesPage {
    pub chrome: Option<Chrome>,
    pub nav: Vec<NavItem>,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub orgs: Vec<SelectOption>,
    pub scopes: String,
    pub created_before: String,
    pub rules: Vec<RuleRow>,
}

pub struct EventRow {
    pub at: String,
    pub at_iso: String,
    pub action: &'static str,
    pub outcome: &'static str,
    pub actor: String,
    pub user: String,
    pub token: String,
    pub source_ip: String,
    pub detail: String,
}

pub struct AuditFilters {
    pub actor: String,
    pub user: String,
    pub token: String,
    pub action: String,
    pub since: String,
    pub until: String,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
pub struct AuditPage {
    pub chrome: Option<Chrome>,
    /// Empty on an owner's own token activity page (no admin navigation).
    pub nav: Vec<NavItem>,
    pub heading: String,
    /// The filter form and export link (the admin page only).
    pub filters: Option<AuditFilters>,
    pub actions: Vec<SelectOption>,
    pub error: Option<String>,
    pub view: String,
    pub events: Vec<EventRow>,
    pub first: Option<String>,
    pub next: Option<String>,
    pub export: Option<String>,
}
