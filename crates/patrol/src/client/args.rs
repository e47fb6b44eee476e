//! The command line's arguments (clap), with examples in every `--help`.

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use clap::{Args, Subcommand};
use uuid::Uuid;

use super::pats::{SortBy, StatusFilter};
use super::render::Output;

/// Which server, and which organization's URL to call through.
#[derive(Debug, Clone, Args)]
pub struct Conn {
    /// The Patrol server (default: the one of the last `patrol login`).
    #[arg(long, env = "PATROL_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// The organization to act through (default: the one chosen at login).
    #[arg(long, env = "PATROL_ORG", value_name = "ORG")]
    pub org: Option<String>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

const LOGIN_EXAMPLES: &str = "\
Examples:
  patrol login --server https://patrol.example.com --org fabrikam
  patrol login --server http://127.0.0.1:8080 --org fabrikam --no-browser

The browser signs you in at the identity provider the server names; the
result comes back to this machine on http://127.0.0.1:<port>/callback.
Tokens are kept in $PATROL_CONFIG_DIR, else $XDG_CONFIG_HOME/patrol or
~/.config/patrol (credentials.json, readable only by you), and renewed
silently. Pipelines need no login: set PATROL_SERVER and PATROL_ACCESS_TOKEN.";

/// `patrol login`.
#[derive(Debug, Args)]
#[command(after_help = LOGIN_EXAMPLES)]
pub struct LoginArgs {
    /// The Patrol server to sign in to.
    #[arg(long, env = "PATROL_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// The organization later commands act through by default.
    #[arg(long, env = "PATROL_ORG", value_name = "ORG")]
    pub org: Option<String>,
    /// Print the sign-in address instead of opening a browser.
    #[arg(long)]
    pub no_browser: bool,
    /// Give up after this many seconds without a finished sign-in.
    #[arg(long, default_value_t = 300, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
}

const LOGOUT_EXAMPLES: &str = "\
Examples:
  patrol logout
  patrol logout --server https://patrol.example.com";

/// `patrol logout`.
#[derive(Debug, Args)]
#[command(after_help = LOGOUT_EXAMPLES)]
pub struct LogoutArgs {
    /// The server to sign out of (default: the one of the last `patrol login`).
    #[arg(long, env = "PATROL_SERVER", value_name = "URL")]
    pub server: Option<String>,
}

/// `--expires-in 30d` / `--expires-on 2027-01-31`.
#[derive(Debug, Clone, Args)]
pub struct Expiry {
    /// Lifetime from now: a number with d (days), w (weeks) or h (hours), e.g. 30d.
    #[arg(long, value_name = "DURATION", value_parser = parse_lifetime, conflicts_with = "expires_on")]
    pub expires_in: Option<Duration>,
    /// Expiry date (UTC): 2027-01-31 (midnight), or 2027-01-31T18:00:00Z.
    #[arg(long, value_name = "DATE", value_parser = parse_expiry_date)]
    pub expires_on: Option<DateTime<Utc>>,
}

impl Expiry {
    /// The `validTo` to send, if any.
    pub fn valid_to(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match (self.expires_in, self.expires_on) {
            (Some(d), _) => now.checked_add_signed(d),
            (None, on) => on,
        }
    }
}

/// `--scope` (repeatable, each maybe several names separated by spaces or commas).
#[derive(Debug, Clone, Args)]
pub struct Scopes {
    /// Scope(s) of the token, e.g. vso.code or "vso.code vso.build"; app_token
    /// is full access. Repeatable.
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scope: Vec<String>,
}

impl Scopes {
    /// The scopes as the API takes them: space-separated, each once.
    pub fn joined(&self) -> Option<String> {
        let mut out: Vec<&str> = Vec::new();
        for s in self.scope.iter().flat_map(|s| s.split([' ', ',', '\t'])) {
            if !s.is_empty() && !out.contains(&s) {
                out.push(s);
            }
        }
        (!out.is_empty()).then(|| out.join(" "))
    }
}

const LIST_EXAMPLES: &str = "\
Examples:
  patrol token list
  patrol token list --status all --sort expires --desc
  patrol token list --output json | jq -r '.[] | select(.status == \"active\") | .authorizationId'";

const SHOW_EXAMPLES: &str = "\
Examples:
  patrol token show 3d3a4c4e-1c8c-4f5e-9a55-4f6c7d0b9a11
  patrol token show 3d3a4c4e-1c8c-4f5e-9a55-4f6c7d0b9a11 --output json";

const CREATE_EXAMPLES: &str = "\
Examples:
  patrol token create --name ci --scope vso.code --expires-in 30d
  patrol token create --name deploy --scope \"vso.build vso.release\" --expires-on 2027-01-31
  patrol token create --name everywhere --scope vso.code --all-orgs
  TOKEN=$(patrol token create --name ci --scope vso.code --output json | jq -r .token)

The secret is printed once (with --output json, only inside the JSON);
Patrol keeps only a keyed hash of it.";

const UPDATE_EXAMPLES: &str = "\
Examples:
  patrol token update ID --expires-in 90d
  patrol token update ID --name ci-2 --scope vso.code_write
  patrol token update ID --all-orgs          # valid in every organization
  patrol token update ID --all-orgs=false    # only in --org

An expired (not revoked) token can be extended this way. The secret does not change.";

const REGENERATE_EXAMPLES: &str = "\
Examples:
  patrol token regenerate ID
  patrol token regenerate ID --output json

A new secret for the same token (same id, name, scopes, expiry); the old one
stops working at once.";

const REVOKE_EXAMPLES: &str = "\
Examples:
  patrol token revoke ID
  patrol token list --output json | jq -r '.[] | select(.name == \"old\") | .authorizationId' \\
    | xargs -n1 patrol token revoke";

const ROTATE_EXAMPLES: &str = "\
Examples:
  NEW=$(patrol token rotate ID)                  # the new secret on stdout, nothing else
  patrol token rotate ID --write-to /run/secrets/git-token

For automation that must not break: regenerates the token and prints only the
new secret, or writes it (no trailing newline) to a file readable only by you,
replaced atomically. Nothing else ever receives the secret.";

/// `patrol token …` (besides `inspect`): the PAT API.
#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// List your tokens (all of them, whichever organization they are in).
    #[command(after_help = LIST_EXAMPLES)]
    List {
        /// Which tokens.
        #[arg(long, value_enum, default_value_t = StatusFilter::Active)]
        status: StatusFilter,
        /// Sort order.
        #[arg(long, value_enum, default_value_t = SortBy::Name)]
        sort: SortBy,
        /// Sort descending.
        #[arg(long)]
        desc: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// Show one token.
    #[command(after_help = SHOW_EXAMPLES)]
    Show {
        /// The token's id (authorizationId).
        id: Uuid,
        #[command(flatten)]
        conn: Conn,
    },
    /// Create a token and print its secret, once.
    #[command(after_help = CREATE_EXAMPLES)]
    Create {
        /// A name to recognise it by (default: a new GUID).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        scopes: Scopes,
        #[command(flatten)]
        expiry: Expiry,
        /// Valid in every organization you belong to (default: only in --org).
        #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
        all_orgs: Option<bool>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Change a token's name, scopes, expiry or organizations.
    #[command(after_help = UPDATE_EXAMPLES)]
    Update {
        /// The token's id (authorizationId).
        id: Uuid,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        scopes: Scopes,
        #[command(flatten)]
        expiry: Expiry,
        /// true: valid in every organization; false: only in --org.
        #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
        all_orgs: Option<bool>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Give a token a new secret and print it, once; the old one stops working.
    #[command(after_help = REGENERATE_EXAMPLES)]
    Regenerate {
        /// The token's id (authorizationId).
        id: Uuid,
        #[command(flatten)]
        conn: Conn,
    },
    /// Revoke a token: it stops working at once.
    #[command(after_help = REVOKE_EXAMPLES)]
    Revoke {
        /// The token's id (authorizationId).
        id: Uuid,
        #[command(flatten)]
        conn: Conn,
    },
    /// Regenerate a token for automation: print only the new secret, or write it to a file.
    #[command(after_help = ROTATE_EXAMPLES)]
    Rotate {
        /// The token's id (authorizationId).
        id: Uuid,
        /// Write the new secret to this file (mode 0600, replaced atomically)
        /// instead of printing it.
        #[arg(long, value_name = "FILE")]
        write_to: Option<PathBuf>,
        #[command(flatten)]
        conn: Conn,
    },
}

/// Largest `--expires-in` accepted (the server caps it far below anyway).
const MAX_LIFETIME_DAYS: i64 = 100 * 366;

/// `30d`, `2w`, `12h`; a bare number is days.
pub fn parse_lifetime(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&t[..i], &t[i..]),
        None => (t, "d"),
    };
    let n: i64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a lifetime like 30d, 2w or 12h"))?;
    let d = match unit.to_ascii_lowercase().as_str() {
        "d" | "day" | "days" => Duration::try_days(n),
        "w" | "week" | "weeks" => n.checked_mul(7).and_then(Duration::try_days),
        "h" | "hour" | "hours" => Duration::try_hours(n),
        _ => return Err(format!("'{text}': the unit must be d, w or h")),
    }
    .ok_or_else(|| format!("'{text}' is too long"))?;
    if d <= Duration::zero() {
        return Err("the lifetime must be positive".into());
    }
    if d > Duration::days(MAX_LIFETIME_DAYS) {
        return Err(format!("'{text}' is too long"));
    }
    Ok(d)
}

/// A date as the API reads it (`2027-01-31`, `2027-01-31T18:00:00Z`, an offset…).
pub fn parse_expiry_date(text: &str) -> Result<DateTime<Utc>, String> {
    patrol_server::http::wire::parse_date(text)
        .ok_or_else(|| format!("'{text}' is not a date like 2027-01-31 or 2027-01-31T18:00:00Z"))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn lifetimes() {
        assert_eq!(parse_lifetime("30d"), Ok(Duration::days(30)));
        assert_eq!(parse_lifetime("30"), Ok(Duration::days(30)));
        assert_eq!(parse_lifetime("2w"), Ok(Duration::days(14)));
        assert_eq!(parse_lifetime("12h"), Ok(Duration::hours(12)));
        assert_eq!(parse_lifetime("7days"), Ok(Duration::days(7)));
        for bad in [
            "",
            "d",
            "0d",
            "-1d",
            "30m",
            "1.5d",
            "99999999999999999999d",
            "40000d",
        ] {
            assert!(parse_lifetime(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn expiry_dates() {
        let midnight = Utc.with_ymd_and_hms(2027, 1, 31, 0, 0, 0).unwrap();
        assert_eq!(parse_expiry_date("2027-01-31"), Ok(midnight));
        assert_eq!(parse_expiry_date("2027-01-31T01:00:00+01:00"), Ok(midnight));
        assert!(parse_expiry_date("31/01/2027").is_err());
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let e = Expiry {
            expires_in: Some(Duration::days(30)),
            expires_on: None,
        };
        assert_eq!(e.valid_to(now), Some(now + Duration::days(30)));
        let e = Expiry {
            expires_in: None,
            expires_on: Some(midnight),
        };
        assert_eq!(e.valid_to(now), Some(midnight));
    }

    #[test]
    fn scopes_join() {
        let s = |v: &[&str]| Scopes {
            scope: v.iter().map(|s| (*s).to_owned()).collect(),
        };
        assert_eq!(s(&[]).joined(), None);
        assert_eq!(s(&["", " "]).joined(), None);
        assert_eq!(
            s(&["vso.code vso.build", "vso.code,vso.work"])
                .joined()
                .as_deref(),
            Some("vso.code vso.build vso.work")
        );
    }
}
