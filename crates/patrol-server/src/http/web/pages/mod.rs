//! The token pages: list, create, edit, regenerate, revoke. Each handler
//! extracts (changes come as a [`WebForm`](super::session::WebForm), whose
//! anti-CSRF token is checked), calls the same use case the REST API calls,
//! and renders the result in plain words. This module holds what every page
//! shares: rendering, the signed-in frame, and errors as pages.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};

use patrol_core::pat::PatRuleError;
use patrol_core::policy::Violation;

use super::session::WebUser;
pub use super::view::SignedOutPage;
use super::view::{Chrome, ErrorPage};
use crate::app::AppError;

mod confirm;
mod form;
mod list;
mod tokens;

pub use confirm::{confirm_regenerate, confirm_revoke, regenerate, revoke};
pub use list::list;
pub use tokens::{create, edit_form, new_form, update};

pub fn render<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be rendered.",
            )
                .into_response()
        }
    }
}

pub fn error_page(status: StatusCode, message: &str) -> Response {
    titled_error(None, status, message.into())
}

/// An error page, titled by its status, with or without the signed-in frame.
fn titled_error(chrome: Option<Chrome>, status: StatusCode, message: String) -> Response {
    let title = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::SERVICE_UNAVAILABLE => "Try again shortly",
        s if s.is_client_error() => "That did not work",
        _ => "Something went wrong",
    };
    render(
        status,
        &ErrorPage {
            chrome,
            title: title.into(),
            message,
        },
    )
}

/// A form post from another site (by `Sec-Fetch-Site` or `Origin`).
pub fn cross_site_refused() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "This form was sent from another site, so nothing was changed. Make changes from Patrol's own pages.",
    )
}

/// A form post without a valid anti-CSRF token.
pub fn csrf_refused() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "This form was not sent from Patrol's own page (its anti-forgery token is missing or wrong), so nothing was changed. Reload the page and try again.",
    )
}

fn chrome(u: &WebUser) -> Option<Chrome> {
    Some(Chrome {
        user_name: u.caller.user.display_name.clone(),
        csrf: u.csrf.clone(),
    })
}

/// An [`AppError`] as a page, in plain words.
fn app_error(u: &WebUser, e: &AppError) -> Response {
    let (status, msg) = app_error_message(e);
    titled_error(chrome(u), status, msg)
}

fn date(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// What the web page says for each use-case refusal. (The REST API's
/// wording is `http/error.rs`'s; the audiences differ.)
fn app_error_message(e: &AppError) -> (StatusCode, String) {
    let bad = StatusCode::BAD_REQUEST;
    match e {
        AppError::Rule(PatRuleError::DisplayNameRequired) => (bad, "Give the token a name.".into()),
        AppError::Rule(PatRuleError::InvalidDisplayName(why)) => {
            (bad, format!("That name cannot be used: {why}."))
        }
        AppError::Rule(PatRuleError::InvalidValidTo) => {
            (bad, "The expiration date must be in the future.".into())
        }
        AppError::Rule(PatRuleError::BeyondMaxLifetime { max_days }) => (
            bad,
            format!("Policy “maximum token lifetime” allows at most {max_days} days: pick an earlier date."),
        ),
        AppError::Scope(e) => (bad, format!("Those scopes are not valid: {e}.")),
        AppError::TokenNotFound => (
            StatusCode::NOT_FOUND,
            "This token does not exist, or it is not yours.".into(),
        ),
        AppError::TokenRevoked => (
            StatusCode::CONFLICT,
            "This token is revoked. Revoked tokens cannot be changed or regenerated.".into(),
        ),
        AppError::WrongOrganization => (
            StatusCode::FORBIDDEN,
            "This token belongs to another organization; change it from that organization.".into(),
        ),
        AppError::CannotMoveOrganization => (
            bad,
            "An organization's token can stay in its organization or be widened to all; it cannot move to another one.".into(),
        ),
        AppError::NoOrganization => (
            StatusCode::FORBIDDEN,
            "You are not a member of any organization yet.".into(),
        ),
        AppError::OrgNotFound(o) => (bad, format!("There is no organization called “{o}”.")),
        AppError::NotAMember(o) => (
            StatusCode::FORBIDDEN,
            format!("You are not a member of organization “{o}”."),
        ),
        AppError::TooManyTokens(n) => (
            bad,
            format!("Policy “maximum active tokens per user”: you already have {n} active tokens, the most allowed. Revoke one you no longer need first."),
        ),
        AppError::NonHuman => (
            StatusCode::FORBIDDEN,
            "Service principals are not allowed to perform this action.".into(),
        ),
        AppError::MissingScope(s) => (
            StatusCode::FORBIDDEN,
            format!("The identity provider did not grant Patrol the {s} scope, which this needs."),
        ),
        AppError::ClientNotAllowed(_) => (
            StatusCode::FORBIDDEN,
            "This application is not allowed to manage tokens at this identity provider.".into(),
        ),
        AppError::UserDisabled => (StatusCode::FORBIDDEN, "This user is disabled.".into()),
        AppError::Internal(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on Patrol's side, so nothing was changed. Try again.".into(),
        ),
        AppError::Store(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Patrol's storage is not answering, so nothing was changed. Try again shortly.".into(),
        ),
        AppError::Policy(v) => (StatusCode::FORBIDDEN, policy_message(v)),
        AppError::InvalidPolicy(p) => (bad, format!("That policy cannot be saved: {p}.")),
        AppError::NotAnAdmin(what) => (
            StatusCode::FORBIDDEN,
            format!("Only administrators of {what} can do this."),
        ),
        AppError::UserNotFound => (StatusCode::NOT_FOUND, "There is no such user.".into()),
    }
}

/// A policy refusal in plain words: which policy, and what would pass.
fn policy_message(v: &Violation) -> String {
    match v {
        Violation::GlobalPat => "Policy “restrict global tokens”: you may not create tokens for all organizations. Pick one organization.".into(),
        Violation::FullScopePat => "Policy “restrict full-access tokens”: you may not create full-access tokens. Pick the scopes the token needs.".into(),
        Violation::Lifespan { max_days } => format!(
            "Policy “maximum token lifetime” allows at most {max_days} days: pick an earlier date."
        ),
        Violation::OrgCreation { .. } => "The organization's policy “restrict token creation” does not let you create this token (if it allows packaging tokens, pick only Packaging scopes). Ask its administrators to add you to the allow-list.".into(),
    }
}
