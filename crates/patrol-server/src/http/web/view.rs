//! View models: what each page shows, already in display form, so templates
//! stay free of logic. Askama escapes every value it prints.

use askama::Template;

/// The signed-in frame around every page.
pub struct Chrome {
    pub user_name: String,
    pub csrf: String,
    /// An administrator: the page links the admin pages.
    pub admin: bool,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub chrome: Option<Chrome>,
    pub title: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "signed_out.html")]
pub struct SignedOutPage {
    pub chrome: Option<Chrome>,
    /// The provider's RP-initiated logout, when it offers one.
    pub provider_signout: Option<String>,
    /// Back from the provider's logout.
    pub provider_done: bool,
}

pub struct Tab {
    pub status: &'static str,
    pub label: &'static str,
    pub href: String,
    pub current: bool,
}

pub struct SortLink {
    pub key: &'static str,
    pub label: &'static str,
    pub href: String,
    /// `ascending` / `descending` when this is the current sort.
    pub aria_sort: &'static str,
    pub arrow: &'static str,
}

pub struct Row {
    pub id: String,
    pub name: String,
    pub orgs: String,
    pub scopes: String,
    pub scopes_title: String,
    pub expires: String,
    pub expires_iso: String,
    pub expires_soon: bool,
    pub status: &'static str,
    pub last_used: String,
    pub changeable: bool,
}

#[derive(Template)]
#[template(path = "list.html")]
pub struct ListPage {
    pub chrome: Option<Chrome>,
    pub tabs: Vec<Tab>,
    pub sorts: Vec<SortLink>,
    pub rows: Vec<Row>,
    pub status_label: &'static str,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub page: u64,
    pub notice: Option<String>,
}

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
    pub disabled: bool,
}

pub struct ScopeChoice {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub checked: bool,
}

pub struct ScopeArea {
    pub name: &'static str,
    pub scopes: Vec<ScopeChoice>,
}

#[derive(Template)]
#[template(path = "form.html")]
pub struct FormPage {
    pub chrome: Option<Chrome>,
    pub heading: String,
    pub action: String,
    pub submit_label: &'static str,
    pub name: String,
    pub orgs: Vec<Choice>,
    pub org_locked_note: Option<String>,
    pub expiry: Vec<Choice>,
    pub custom_date: String,
    pub min_date: String,
    pub max_date: String,
    pub max_days: i64,
    pub current_expiry: Option<String>,
    pub full_access: bool,
    pub common_areas: Vec<ScopeArea>,
    pub other_areas: Vec<ScopeArea>,
    pub others_open: bool,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "created.html")]
pub struct CreatedPage {
    pub chrome: Option<Chrome>,
    pub heading: &'static str,
    pub name: String,
    /// Naming advice the name does not follow (e.g. personal data in it).
    pub name_warnings: Vec<&'static str>,
    pub token: String,
    pub expires: String,
}

#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub chrome: Option<Chrome>,
    pub form_id: &'static str,
    pub action: String,
    pub title: String,
    pub message: String,
    pub button: &'static str,
    pub danger: bool,
    /// Where Cancel leads.
    pub cancel: String,
}
