//! `patrol admin …`: the arguments (clap), with examples in every `--help`.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{ArgGroup, Args, Subcommand};
use uuid::Uuid;

use super::super::args::{parse_expiry_date, parse_lifetime, Conn, Scopes};
use super::super::pats::StatusFilter;

pub const ADMIN_EXAMPLES: &str = "\
Examples:
  patrol admin policy show
  patrol admin policy set tenant --max-lifespan 90 --restrict-global-pats on
  patrol admin members list --org fabrikam
  patrol admin tokens revoke alice@example.com --all
  patrol admin audit --action pat.revoke --since 7d --output json

Every command needs an administrator role on the server (tenant, or of the
organization it names) and a sign-in with the scope vso.tokenadministration
(`patrol login` asks for it). A caller without the role is refused: exit 1.";

/// `patrol admin …`: the administrator's half of a running server.
#[derive(Debug, Subcommand)]
pub enum AdminCmd {
    /// Tenant and organization PAT policies: show, set, dry run.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// An organization's members: list, add, remove.
    #[command(subcommand)]
    Members(MembersCmd),
    /// A user's tokens: list them, revoke one or all.
    #[command(subcommand)]
    Tokens(TokensCmd),
    /// Revocation rules: revoke, once, every token granting a scope.
    #[command(subcommand)]
    Rules(RulesCmd),
    /// Disable a user (their tokens are revoked at once, their web sessions
    /// end) or enable them again.
    #[command(subcommand)]
    Users(UsersCmd),
    /// The audit log: filter, page through, export as JSON lines, follow.
    Audit(AuditArgs),
}

const POLICY_SHOW_EXAMPLES: &str = "\
Examples:
  patrol admin policy show
  patrol admin policy show --output json | jq .tenant.maxLifespan";

const POLICY_SET_EXAMPLES: &str = "\
Examples:
  patrol admin policy set tenant --max-lifespan 90
  patrol admin policy set tenant --restrict-global-pats on \\
    --allow-user 'patrol-dev|b0b00000-0000-4000-8000-000000000002'
  patrol admin policy set tenant --max-lifespan off --restrict-full-scope-pats off
  patrol admin policy set org --org fabrikam --restrict-pat-creation on --allow-packaging-pats on
  patrol admin policy set tenant --file tenant-policy.json     # the whole document (docs/admin.md)

Flags change the policy in force; what they do not name stays as it is.
--allow-user and --allow-group replace the allow-list of every restriction
the same command switches on. Tokens that exist are left alone; run
`patrol admin policy dry-run` first to see which ones a change would refuse.";

const POLICY_DRY_RUN_EXAMPLES: &str = "\
Examples:
  patrol admin policy dry-run tenant --max-lifespan 7
  patrol admin policy dry-run org --org fabrikam --restrict-pat-creation on --output json

Lists the active tokens the proposed policy would refuse at their next
create, update or regenerate. Nothing is changed or recorded.";

/// `patrol admin policy …`.
#[derive(Debug, Subcommand)]
pub enum PolicyCmd {
    /// The tenant's policy and those of the organizations you administer.
    #[command(after_help = POLICY_SHOW_EXAMPLES)]
    Show {
        #[command(flatten)]
        conn: Conn,
    },
    /// Change a policy (tenant, or an organization's).
    #[command(subcommand, after_help = POLICY_SET_EXAMPLES)]
    Set(PolicyTarget),
    /// Which active tokens a proposed policy would refuse (changes nothing).
    #[command(subcommand, name = "dry-run", after_help = POLICY_DRY_RUN_EXAMPLES)]
    DryRun(PolicyTarget),
}

/// Whose policy.
#[derive(Debug, Subcommand)]
pub enum PolicyTarget {
    /// The tenant's policy (tenant administrators).
    #[command(after_help = POLICY_SET_EXAMPLES)]
    Tenant {
        #[command(flatten)]
        flags: TenantFlags,
        #[command(flatten)]
        conn: Conn,
    },
    /// The policy of the organization --org names.
    #[command(after_help = POLICY_SET_EXAMPLES)]
    Org {
        #[command(flatten)]
        flags: OrgFlags,
        #[command(flatten)]
        conn: Conn,
    },
}

/// The tenant policy's switches.
#[derive(Debug, Clone, Args)]
pub struct TenantFlags {
    /// Refuse tokens valid in all organizations (restrictGlobalPats).
    #[arg(long, value_name = "on|off", value_parser = parse_switch)]
    pub restrict_global_pats: Option<bool>,
    /// Refuse full-access tokens (restrictFullScopePats).
    #[arg(long, value_name = "on|off", value_parser = parse_switch)]
    pub restrict_full_scope_pats: Option<bool>,
    /// Refuse expiries more than DAYS (1–3650) away, or `off` (maxLifespan).
    #[arg(long, value_name = "DAYS|off", value_parser = parse_lifespan)]
    pub max_lifespan: Option<Lifespan>,
    /// Revoke tokens found leaked (revokeLeakedPats).
    #[arg(long, value_name = "on|off", value_parser = parse_switch)]
    pub revoke_leaked_pats: Option<bool>,
    #[command(flatten)]
    pub allow: AllowFlags,
    /// Start from this JSON document instead of the policy in force (`-`: stdin).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
}

/// An organization policy's switches.
#[derive(Debug, Clone, Args)]
pub struct OrgFlags {
    /// Only the allow-list may create tokens that reach the organization (restrictPatCreation).
    #[arg(long, value_name = "on|off", value_parser = parse_switch)]
    pub restrict_pat_creation: Option<bool>,
    /// Everyone may still create packaging-only tokens (allowPackagingPats).
    #[arg(long, value_name = "on|off", value_parser = parse_switch)]
    pub allow_packaging_pats: Option<bool>,
    #[command(flatten)]
    pub allow: AllowFlags,
    /// Start from this JSON document instead of the policy in force (`-`: stdin).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
}

/// `--allow-user` / `--allow-group`.
#[derive(Debug, Clone, Args)]
pub struct AllowFlags {
    /// A user key (`<issuer>|<subject>`) the restriction does not apply to. Repeatable.
    #[arg(long = "allow-user", value_name = "KEY")]
    pub users: Vec<String>,
    /// A group the restriction does not apply to. Repeatable.
    #[arg(long = "allow-group", value_name = "GROUP")]
    pub groups: Vec<String>,
}

impl AllowFlags {
    pub fn given(&self) -> bool {
        !self.users.is_empty() || !self.groups.is_empty()
    }
}

/// `--max-lifespan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifespan {
    Off,
    Days(u32),
}

const MEMBERS_EXAMPLES: &str = "\
Examples:
  patrol admin members list --org fabrikam
  patrol admin members remove alice@example.com --org contoso
  patrol admin members add 'patrol-dev|a11ce000-0000-4000-8000-000000000001' --org contoso
  patrol admin members list --org fabrikam --output json | jq -r '.[].key'

A user is named by id, user key (<issuer>|<subject>) or e-mail address.
A removal sticks: auto-join never adds the user back.";

/// `patrol admin members …`.
#[derive(Debug, Subcommand)]
pub enum MembersCmd {
    /// The members of --org.
    #[command(after_help = MEMBERS_EXAMPLES)]
    List {
        #[command(flatten)]
        conn: Conn,
    },
    /// Make a user a member of --org (undoing an earlier removal).
    #[command(after_help = MEMBERS_EXAMPLES)]
    Add {
        /// User id, user key or e-mail address.
        user: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Remove a user from --org; their tokens stop working there at once.
    #[command(after_help = MEMBERS_EXAMPLES)]
    Remove {
        /// User id, user key or e-mail address.
        user: String,
        #[command(flatten)]
        conn: Conn,
    },
}

const TOKENS_EXAMPLES: &str = "\
Examples:
  patrol admin tokens list alice@example.com
  patrol admin tokens list 'patrol-dev|a11ce000-0000-4000-8000-000000000001' --status all
  patrol admin tokens revoke alice@example.com --token 3d3a4c4e-1c8c-4f5e-9a55-4f6c7d0b9a11
  patrol admin tokens revoke alice@example.com --all

A user is named by id, user key (<issuer>|<subject>) or e-mail address.
Organization administrators see and revoke the tokens that reach their
organizations (pass --org to find users among its members).";

/// `patrol admin tokens …`.
#[derive(Debug, Subcommand)]
pub enum TokensCmd {
    /// A user's tokens, with their status.
    #[command(after_help = TOKENS_EXAMPLES)]
    List {
        /// User id, user key or e-mail address.
        user: String,
        /// Which tokens.
        #[arg(long, value_enum, default_value_t = StatusFilter::All)]
        status: StatusFilter,
        #[command(flatten)]
        conn: Conn,
    },
    /// Revoke one of a user's tokens, or all their active ones.
    #[command(after_help = TOKENS_EXAMPLES, group(ArgGroup::new("which").required(true).args(["token", "all"])))]
    Revoke {
        /// User id, user key or e-mail address.
        user: String,
        /// The token's id (authorizationId).
        #[arg(long)]
        token: Option<Uuid>,
        /// Every active token of the user.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        conn: Conn,
    },
}

const USERS_EXAMPLES: &str = "\
Examples:
  patrol admin users disable alice@example.com
  patrol admin users enable 'patrol-dev|a11ce000-0000-4000-8000-000000000001' --output json

Disabling revokes every token of the user (refused on the very next verify),
ends their web sessions and stops their sign-in. Enabling lets them sign in
again; revoked tokens stay revoked. Tenant administrators only.";

/// `patrol admin users …`.
#[derive(Debug, Subcommand)]
pub enum UsersCmd {
    /// Disable a user: tokens revoked, sessions ended, sign-in refused.
    #[command(after_help = USERS_EXAMPLES)]
    Disable {
        /// User id, user key or e-mail address.
        user: String,
        #[command(flatten)]
        conn: Conn,
    },
    /// Enable a disabled user (their revoked tokens stay revoked).
    #[command(after_help = USERS_EXAMPLES)]
    Enable {
        /// User id, user key or e-mail address.
        user: String,
        #[command(flatten)]
        conn: Conn,
    },
}

const RULES_EXAMPLES: &str = "\
Examples:
  patrol admin rules list
  patrol admin rules create --scope vso.code --org fabrikam
  patrol admin rules create --scope \"vso.code vso.packaging\" --created-before 2026-06-01 --all-orgs

A rule revokes, once and at once, every token that grants any of the scopes
(vso.code also catches vso.code_write and full-access tokens) and was created
before the date (default: now). Without an organization (--all-orgs) it covers
every token: tenant administrators only.";

/// `patrol admin rules …`.
#[derive(Debug, Subcommand)]
pub enum RulesCmd {
    /// The revocation rules you may see, newest first.
    #[command(after_help = RULES_EXAMPLES)]
    List {
        #[command(flatten)]
        conn: Conn,
    },
    /// Make a revocation rule (revokes the matching tokens now).
    #[command(after_help = RULES_EXAMPLES)]
    Create {
        #[command(flatten)]
        scopes: Scopes,
        /// Only tokens created before this date (UTC; default: now).
        #[arg(long, value_name = "DATE", value_parser = parse_expiry_date)]
        created_before: Option<DateTime<Utc>>,
        /// Every organization's tokens (default: only those reaching --org).
        #[arg(long)]
        all_orgs: bool,
        #[command(flatten)]
        conn: Conn,
    },
}

const AUDIT_EXAMPLES: &str = "\
Examples:
  patrol admin audit                                   # every page, newest first
  patrol admin audit --action pat.revoke --since 2026-01-01 --until 2026-02-01
  patrol admin audit --user alice@example.com --since 24h
  patrol admin audit --output json > audit.jsonl       # JSON lines, one event each
  patrol admin audit --follow --action auth.reject     # new events as they happen; Ctrl-C stops

--since and --until take a date (2026-01-31, 2026-01-31T18:00:00Z) or a time
ago (30d, 2w, 12h). With --follow the events come oldest first, starting with
the last --limit (default 10) already recorded, and the log is asked for new
ones every --interval seconds. Non-administrators read their own events.";

/// `patrol admin audit`.
#[derive(Debug, Args)]
#[command(after_help = AUDIT_EXAMPLES)]
pub struct AuditArgs {
    /// The actor as recorded: <issuer>|<subject>, unauthenticated, …
    #[arg(long)]
    pub actor: Option<String>,
    /// Events by or about this user (id, user key or e-mail address).
    #[arg(long)]
    pub user: Option<String>,
    /// Events about this token (authorizationId).
    #[arg(long)]
    pub token: Option<Uuid>,
    /// The action: pat.create, pat.update, pat.regenerate, pat.revoke, pat.verify,
    /// auth.reject, admin.member_add, admin.policy_set, …
    #[arg(long)]
    pub action: Option<String>,
    /// At or after this time: a date, or a time ago (7d, 12h).
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    pub since: Option<When>,
    /// Before this time: a date, or a time ago.
    #[arg(long, value_name = "WHEN", value_parser = parse_when, conflicts_with = "follow")]
    pub until: Option<When>,
    /// At most this many events (the newest).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    /// Keep printing new events as they are recorded, until Ctrl-C.
    #[arg(long, short)]
    pub follow: bool,
    /// Events asked for per request (the log is read page by page).
    #[arg(long, hide = true, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub page_size: u64,
    /// With --follow: seconds between two looks at the log.
    #[arg(long, value_name = "SECS", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub interval: u64,
    #[command(flatten)]
    pub conn: Conn,
}

/// A point in time as given: a date, or a duration before now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    At(DateTime<Utc>),
    Ago(chrono::Duration),
}

impl When {
    pub fn at(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            When::At(at) => at,
            When::Ago(d) => now.checked_sub_signed(d).unwrap_or(now),
        }
    }
}

/// `on`, `off` (also true/false, yes/no).
pub fn parse_switch(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" => Ok(true),
        "off" | "false" | "no" => Ok(false),
        _ => Err(format!("'{text}': say on or off")),
    }
}

/// `90` (days, 1–3650) or `off`.
pub fn parse_lifespan(text: &str) -> Result<Lifespan, String> {
    let t = text.trim().to_ascii_lowercase();
    if t == "off" {
        return Ok(Lifespan::Off);
    }
    let days = t.strip_suffix('d').unwrap_or(&t);
    match days.parse::<u32>() {
        Ok(n) if (1..=3650).contains(&n) => Ok(Lifespan::Days(n)),
        _ => Err(format!(
            "'{text}': give the maximum lifetime in days (1–3650), or off"
        )),
    }
}

/// A date, or a time ago (`7d`, `12h`).
pub fn parse_when(text: &str) -> Result<When, String> {
    if let Ok(at) = parse_expiry_date(text) {
        return Ok(When::At(at));
    }
    parse_lifetime(text).map(When::Ago).map_err(|_| {
        format!("'{text}' is neither a date like 2026-01-31 nor a time ago like 7d or 12h")
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn switches_lifespans_and_times() {
        assert_eq!(parse_switch("on"), Ok(true));
        assert_eq!(parse_switch("OFF"), Ok(false));
        assert!(parse_switch("maybe").is_err());
        assert_eq!(parse_lifespan("90"), Ok(Lifespan::Days(90)));
        assert_eq!(parse_lifespan("30d"), Ok(Lifespan::Days(30)));
        assert_eq!(parse_lifespan("off"), Ok(Lifespan::Off));
        for bad in ["0", "3651", "-1", "ninety", ""] {
            assert!(parse_lifespan(bad).is_err(), "{bad}");
        }
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
        let day = Utc.with_ymd_and_hms(2026, 1, 31, 0, 0, 0).unwrap();
        assert_eq!(parse_when("2026-01-31").map(|w| w.at(now)), Ok(day));
        assert_eq!(
            parse_when("12h").map(|w| w.at(now)),
            Ok(Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap())
        );
        assert!(parse_when("yesterday").is_err());
    }
}
