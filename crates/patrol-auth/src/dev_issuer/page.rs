//! HTML of the dev issuer's authorization page. Every interpolated value is escaped.

use std::collections::HashMap;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{dev_users, DEV_PUBLIC_CLIENT_ID};

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

/// Escapes text for HTML element content and double- or single-quoted attributes.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0}\
main{max-width:32rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;\
box-shadow:0 1px 4px rgba(0,0,0,.15)}h1{font-size:1.3rem}p{color:#444}\
button{display:block;width:100%;text-align:left;margin:.5rem 0;padding:.8rem 1rem;\
font-size:1rem;border:1px solid #ccd;border-radius:6px;background:#fafbff;cursor:pointer}\
button:hover{background:#eef1ff}small{color:#667;display:block}code{word-break:break-all}\
.warn{color:#8a5a00}";

fn html_response(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        // `no-referrer` would make browsers send `Origin: null` on this
        // page's own form post, which the same-origin check refuses.
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    resp
}

fn document(title: &str, main: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title}</title><style>{STYLE}</style></head><body><main>{main}</main></body></html>\n",
        title = escape(title),
    )
}

/// The user picker.
pub(crate) fn authorize_page(params: &HashMap<String, String>, redirect_uri: &str) -> Response {
    let mut hidden = String::new();
    for name in CARRIED {
        if let Some(value) = params.get(name) {
            hidden.push_str(&format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(name),
                escape(value)
            ));
        }
    }
    let mut buttons = String::new();
    for user in dev_users() {
        let role = if user.tenant_admin {
            " &middot; tenant admin"
        } else {
            ""
        };
        buttons.push_str(&format!(
            "<button type=\"submit\" name=\"username\" value=\"{u}\">{name} ({u})\
<small>{email}{role}</small></button>",
            u = escape(user.username),
            name = escape(user.name),
            email = escape(user.email),
        ));
    }
    let main = format!(
        "<h1>Patrol development sign-in</h1>\
<p class=\"warn\">Built-in development identity provider: pick a user, there is no password. \
Never expose it beyond your machine.</p>\
<p>Signing in to <code>{client}</code>, which will receive the result at \
<code>{redirect}</code>.</p>\
<form method=\"post\" action=\"authorize\">{hidden}{buttons}</form>",
        client = escape(DEV_PUBLIC_CLIENT_ID),
        redirect = escape(redirect_uri),
    );
    html_response(StatusCode::OK, document("Patrol dev sign-in", &main))
}

/// An error page, for failures that must not redirect (bad client or redirect_uri).
pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    let main = format!(
        "<h1>Sign-in request rejected</h1><p>{}</p>",
        escape(message)
    );
    html_response(status, document("Patrol dev sign-in: error", &main))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything() {
        assert_eq!(
            escape(r#"<script>alert("x&'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&amp;&#x27;y&#x27;)&lt;/script&gt;"
        );
    }
}
