//! The dev issuer's two HTML pages (askama templates under `templates/dev_issuer/`, which
//! escape every value). Their security headers are set by the router's layer.

use std::collections::HashMap;

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::{dev_users, DevUser, DEV_PUBLIC_CLIENT_ID};

/// Parameters carried from the GET page to the POST as hidden fields.
const CARRIED: [&str; 8] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
];

/// The user picker.
#[derive(Template)]
#[template(path = "dev_issuer/authorize.html")]
struct AuthorizePage<'a> {
    client_id: &'a str,
    redirect_uri: &'a str,
    carried: Vec<(&'a str, &'a str)>,
    users: &'a [DevUser],
}

/// A refused sign-in request.
#[derive(Template)]
#[template(path = "dev_issuer/error.html")]
struct ErrorPage<'a> {
    message: &'a str,
}

fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "dev issuer: page rendering failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be rendered.",
            )
                .into_response()
        }
    }
}

impl<'a> AuthorizePage<'a> {
    /// The page for an authorization request, carrying its parameters to the POST.
    fn new(params: &'a HashMap<String, String>, redirect_uri: &'a str) -> Self {
        AuthorizePage {
            client_id: DEV_PUBLIC_CLIENT_ID,
            redirect_uri,
            carried: CARRIED
                .iter()
                .filter_map(|name| params.get(*name).map(|v| (*name, v.as_str())))
                .collect(),
            users: dev_users(),
        }
    }
}

/// The user picker.
pub(crate) fn authorize_page(params: &HashMap<String, String>, redirect_uri: &str) -> Response {
    render(StatusCode::OK, &AuthorizePage::new(params, redirect_uri))
}

/// An error page, for failures that must not redirect (bad client or redirect_uri).
pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    render(status, &ErrorPage { message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_every_value() {
        let params: HashMap<String, String> = [
            ("state", r#"<script>alert("x&'y')</script>"#),
            ("scope", "openid"),
            ("prompt", "not carried"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let page = AuthorizePage::new(&params, "http://127.0.0.1:1/cb?a=1&b=<2>")
            .render()
            .unwrap();
        assert!(!page.contains("<script>") && !page.contains("alert(\""));
        assert!(page.contains("&#60;script&#62;alert(&#34;x&#38;&#39;y&#39;)"));
        assert!(page.contains("http://127.0.0.1:1/cb?a=1&#38;b=&#60;2&#62;"));
        assert!(page.contains(r#"<input type="hidden" name="scope" value="openid">"#));
        assert!(!page.contains("not carried"));
        for u in dev_users() {
            assert!(page.contains(&format!(
                r#"<button type="submit" name="username" value="{}">"#,
                u.username
            )));
        }
        assert_eq!(page.matches("tenant admin").count(), 1);

        let error = ErrorPage {
            message: "<b>no</b>",
        }
        .render()
        .unwrap();
        assert!(error.contains("<p>&#60;b&#62;no&#60;/b&#62;</p>"));
        assert!(error.contains("<title>Patrol dev sign-in: error</title>"));
    }
}
