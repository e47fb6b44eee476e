//! Email: a notice rendered to text and HTML (askama templates), sent over
//! SMTP (lettre: plain, STARTTLS or TLS from the URL), or — `patrol dev`
//! without an SMTP server — written to an outbox folder as `.eml` files.

use std::path::PathBuf;

use askama::Template;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::app::{Blocked, EventKind, Notice};
use crate::config::SmtpSettings;

/// A notice in display form.
pub struct View {
    pub subject: String,
    pub user_name: String,
    pub headline: String,
    pub token_name: String,
    pub token_id: String,
    pub orgs: String,
    pub scopes: String,
    pub expires: String,
    pub client_id: Option<String>,
    pub reason: Option<String>,
    pub unexpected: bool,
    pub expiring: bool,
    pub leaked: bool,
    pub blocked: Option<Blocked>,
    pub link: String,
}

#[derive(Template)]
#[template(path = "email/notice.txt")]
struct TextBody<'a> {
    v: &'a View,
}

#[derive(Template)]
#[template(path = "email/notice.html")]
struct HtmlBody<'a> {
    v: &'a View,
}

impl View {
    pub fn of(n: &Notice, link: &str) -> Self {
        let name = &n.token.name;
        let (subject, headline) = match n.kind {
            EventKind::Created => (
                format!("New personal access token: {name}"),
                format!("A personal access token named “{name}” was created for you."),
            ),
            EventKind::Expiring => {
                let days = n.days_left.unwrap_or(0);
                let when = match days {
                    ..=0 => "today".to_owned(),
                    1 => "in 1 day".to_owned(),
                    d => format!("in {d} days"),
                };
                (
                    format!("Your personal access token {name} expires {when}"),
                    format!("Your personal access token “{name}” expires {when}."),
                )
            }
            EventKind::Revoked => (
                format!("Your personal access token {name} was revoked"),
                format!("Your personal access token “{name}” was revoked and no longer works."),
            ),
            EventKind::Leaked => (
                format!("Your personal access token {name} was found in a public place"),
                format!("Your personal access token “{name}” was found where others can read it."),
            ),
            k => (
                format!("Personal access token {name}: {}", k.as_str()),
                format!("Your personal access token “{name}” was {}.", k.as_str()),
            ),
        };
        View {
            subject,
            user_name: n.user_name.clone(),
            headline,
            token_name: name.clone(),
            token_id: n.token.id.to_string(),
            orgs: if n.token.orgs.is_empty() {
                "all your organizations".to_owned()
            } else {
                n.token.orgs.join(", ")
            },
            scopes: n.token.scopes.clone(),
            expires: n.token.valid_to.format("%Y-%m-%d %H:%M UTC").to_string(),
            client_id: n.client_id.clone(),
            reason: n.reason.clone(),
            unexpected: n.kind == EventKind::Created,
            expiring: n.kind == EventKind::Expiring,
            leaked: n.kind == EventKind::Leaked,
            blocked: n.blocked.clone(),
            link: link.to_owned(),
        }
    }
}

/// The message for `n`: text and HTML alternatives.
pub fn message(n: &Notice, from: &Mailbox, link: &str) -> Result<Message, String> {
    let v = View::of(n, link);
    let text = TextBody { v: &v }.render().map_err(|e| e.to_string())?;
    let html = HtmlBody { v: &v }.render().map_err(|e| e.to_string())?;
    let to: Mailbox =
        n.to.parse()
            .map_err(|e| format!("recipient address: {e}"))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(v.subject)
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| e.to_string())
}

/// Where emails go.
pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `patrol dev` without `--smtp-url`: one `.eml` file per email.
    Folder(PathBuf),
}

impl Mailer {
    pub fn smtp(s: &SmtpSettings) -> anyhow::Result<Self> {
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::from_url(&s.url)
            .map_err(|e| anyhow::anyhow!("smtp.url: {e}"))?
            .timeout(Some(std::time::Duration::from_secs(30)));
        if let Some((user, password)) = &s.credentials {
            b = b.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        Ok(Mailer::Smtp(b.build()))
    }

    pub async fn send(&self, m: Message, n: &Notice) -> Result<(), String> {
        match self {
            Mailer::Smtp(t) => t.send(m).await.map(|_| ()).map_err(|e| e.to_string()),
            Mailer::Folder(dir) => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| format!("{}: {e}", dir.display()))?;
                let file = dir.join(format!(
                    "{}-{}-{}.eml",
                    chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f"),
                    n.kind.as_str(),
                    n.token.id
                ));
                tokio::fs::write(&file, m.formatted())
                    .await
                    .map_err(|e| format!("{}: {e}", file.display()))?;
                tracing::info!(
                    to = %n.to,
                    file = %file.display(),
                    "email written to the dev outbox (pass --smtp-url to send it)"
                );
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::TokenFacts;

    fn notice(kind: EventKind) -> Notice {
        Notice {
            kind,
            to: "ada@example.com".into(),
            user_name: "Ada <Lovelace>".into(),
            token: TokenFacts {
                id: uuid::Uuid::nil(),
                name: "git: https://host/org on BOX".into(),
                scopes: "vso.code".into(),
                orgs: vec!["fabrikam".into()],
                valid_to: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            },
            client_id: Some("git-credential-manager".into()),
            reason: None,
            days_left: Some(3),
            blocked: None,
        }
    }

    #[test]
    fn creation_email_names_the_token_the_tool_and_what_to_do() {
        let from: Mailbox = "Patrol <patrol@localhost>".parse().unwrap();
        let m = message(
            &notice(EventKind::Created),
            &from,
            "https://patrol.example/tokens",
        )
        .unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        assert!(raw.contains("Subject: New personal access token: git: https://host/org on BOX"));
        assert!(raw.contains("git-credential-manager"));
        assert!(raw.contains("If you did not create this token"));
        assert!(raw.contains("text/html"), "HTML alternative");
        // The HTML body escapes what it prints.
        assert!(raw.contains("Ada &lt;Lovelace&gt;") || raw.contains("Ada &#60;Lovelace&#62;"));
    }

    #[test]
    fn a_blocked_expiry_warning_says_whom_to_ask_instead_of_regenerate() {
        let mut n = notice(EventKind::Expiring);
        n.blocked = Some(Blocked {
            why: "the organization's policy refuses this token".into(),
            ask: "an administrator of organization fabrikam".into(),
        });
        let v = View::of(&n, "https://p/tokens");
        let text = TextBody { v: &v }.render().unwrap();
        assert!(text.contains("expires in 3 days"));
        assert!(text.contains("cannot be regenerated"));
        assert!(text.contains("ask an administrator of organization fabrikam"));
        assert!(!text.contains("extend or regenerate it at"));
    }
}
