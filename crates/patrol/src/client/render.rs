//! Output: a table (or `key: value` lines for one token) for people, JSON for
//! scripts. JSON items are the API's `PatToken` objects plus a `status`.
//! Server-provided text is sanitized before it reaches a terminal.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use comfy_table::{presets, Table};
use patrol_server::http::wire::PatToken;
use serde::Serialize;
use uuid::Uuid;

use super::failure::sanitize;

/// `--output`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// A table, or one `key: value` line per field.
    #[default]
    Table,
    /// JSON (the API's `PatToken` fields plus `status`).
    Json,
}

/// What a rendering needs besides the tokens: the time (for the status) and
/// the names of the organizations it knows.
pub struct View {
    pub now: DateTime<Utc>,
    pub orgs: HashMap<Uuid, String>,
}

/// active, expired or revoked.
pub fn status(t: &PatToken, now: DateTime<Utc>) -> &'static str {
    if t.revoked_at.is_some() {
        "revoked"
    } else if t.valid_to <= now {
        "expired"
    } else {
        "active"
    }
}

/// `2027-01-31 00:00 UTC`.
pub fn date(d: &DateTime<Utc>) -> String {
    d.format("%Y-%m-%d %H:%M UTC").to_string()
}

#[derive(Serialize)]
struct JsonToken<'a> {
    #[serde(flatten)]
    token: &'a PatToken,
    status: &'static str,
}

fn json(value: &impl Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into())
}

impl View {
    fn orgs_of(&self, t: &PatToken) -> String {
        match &t.target_accounts {
            None => "(all)".into(),
            Some(ids) => ids
                .iter()
                .map(|id| match self.orgs.get(id) {
                    Some(name) => sanitize(name),
                    None => id.to_string(),
                })
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    fn last_used(t: &PatToken) -> String {
        match &t.last_used_at {
            None => "never".into(),
            Some(at) => {
                let mut s = date(at);
                if let Some(ip) = &t.last_used_ip {
                    s.push_str(&format!(" from {}", sanitize(ip)));
                }
                s
            }
        }
    }

    /// Many tokens.
    pub fn list(&self, tokens: &[PatToken], output: Output) -> String {
        if output == Output::Json {
            let items: Vec<JsonToken<'_>> = tokens
                .iter()
                .map(|token| JsonToken {
                    token,
                    status: status(token, self.now),
                })
                .collect();
            return json(&items);
        }
        if tokens.is_empty() {
            return "No tokens.".into();
        }
        let mut table = Table::new();
        table.load_preset(presets::NOTHING).set_header([
            "ID",
            "NAME",
            "STATUS",
            "EXPIRES",
            "ORGANIZATIONS",
            "SCOPES",
            "LAST USED",
        ]);
        for t in tokens {
            table.add_row([
                t.authorization_id.to_string(),
                sanitize(&t.display_name),
                status(t, self.now).to_owned(),
                date(&t.valid_to),
                self.orgs_of(t),
                sanitize(&t.scope),
                Self::last_used(t),
            ]);
        }
        // The preset pads every cell by one space: drop the margin on the left.
        table
            .lines()
            .map(|l| l.strip_prefix(' ').unwrap_or(&l).trim_end().to_owned())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// One token; its secret too when the answer carried one.
    pub fn one(&self, t: &PatToken, output: Output) -> String {
        if output == Output::Json {
            return json(&JsonToken {
                token: t,
                status: status(t, self.now),
            });
        }
        let mut lines = vec![
            ("id", t.authorization_id.to_string()),
            ("name", sanitize(&t.display_name)),
            ("status", status(t, self.now).to_owned()),
            ("scopes", sanitize(&t.scope)),
            ("organizations", self.orgs_of(t)),
            ("created", date(&t.valid_from)),
            ("expires", date(&t.valid_to)),
        ];
        if let Some(at) = &t.revoked_at {
            lines.push(("revoked", date(at)));
        }
        lines.push(("last used", Self::last_used(t)));
        if let Some(agent) = &t.last_used_user_agent {
            lines.push(("user agent", sanitize(agent)));
        }
        if let Some(secret) = &t.token {
            lines.push(("token", secret.clone()));
        }
        lines
            .into_iter()
            .map(|(k, v)| format!("{:<15}{v}", format!("{k}:")))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn token(name: &str, valid_to: DateTime<Utc>, revoked: bool) -> PatToken {
        PatToken {
            display_name: name.into(),
            valid_to,
            scope: "vso.code".into(),
            target_accounts: Some(vec![Uuid::nil()]),
            valid_from: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            authorization_id: Uuid::from_u128(1),
            token: None,
            last_used_at: None,
            last_used_ip: None,
            last_used_user_agent: None,
            revoked_at: revoked.then(|| Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap()),
        }
    }

    fn view() -> View {
        View {
            now: Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap(),
            orgs: [(Uuid::nil(), "fabrikam".to_owned())].into_iter().collect(),
        }
    }

    #[test]
    fn statuses_tables_and_json() {
        let later = Utc.with_ymd_and_hms(2027, 1, 31, 0, 0, 0).unwrap();
        let earlier = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let v = view();
        let tokens = [
            token("active one", later, false),
            token("old\u{1b}[31m", earlier, false),
            token("gone", later, true),
        ];
        assert_eq!(status(&tokens[0], v.now), "active");
        assert_eq!(status(&tokens[1], v.now), "expired");
        assert_eq!(status(&tokens[2], v.now), "revoked");
        let table = v.list(&tokens, Output::Table);
        assert!(table.lines().next().unwrap().starts_with("ID"), "{table}");
        assert!(table.contains("active one") && table.contains("2027-01-31 00:00 UTC"));
        assert!(table.contains("fabrikam"), "{table}");
        assert!(!table.contains('\u{1b}'), "{table}");
        let parsed: serde_json::Value =
            serde_json::from_str(&v.list(&tokens, Output::Json)).unwrap();
        assert_eq!(parsed[2]["status"], "revoked");
        assert_eq!(parsed[0]["displayName"], "active one");
        assert_eq!(parsed[0]["validTo"], "2027-01-31T00:00:00Z");
        assert!(parsed[0]["token"].is_null());
        assert_eq!(v.list(&[], Output::Table), "No tokens.");
        assert_eq!(v.list(&[], Output::Json), "[]");
    }

    #[test]
    fn one_token_shows_its_secret_only_when_there_is_one() {
        let v = view();
        let mut t = token(
            "ci",
            Utc.with_ymd_and_hms(2027, 1, 31, 0, 0, 0).unwrap(),
            false,
        );
        t.target_accounts = None;
        let text = v.one(&t, Output::Table);
        assert!(text.contains("organizations: (all)"), "{text}");
        assert!(!text.contains("token:"), "{text}");
        t.token = Some("SECRETVALUE".into());
        assert!(v
            .one(&t, Output::Table)
            .ends_with("token:         SECRETVALUE"));
        let j: serde_json::Value = serde_json::from_str(&v.one(&t, Output::Json)).unwrap();
        assert_eq!(j["token"], "SECRETVALUE");
        assert_eq!(j["status"], "active");
    }
}
