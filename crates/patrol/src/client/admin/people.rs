//! `patrol admin members list | add | remove`, `patrol admin tokens
//! list | revoke` and `patrol admin users disable | enable`: an
//! organization's members, a user's tokens, a user's access.

use std::collections::HashMap;

use patrol_server::http::wire::PatToken;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::super::failure::{sanitize, Failure};
use super::super::render::{date, table, Output};
use super::api::{typed, Admin, User};
use super::args::{MembersCmd, TokensCmd, UsersCmd};
use super::{print, print_json, ClockRef};

/// `GET /patrol/v1/admin/users/{id}/tokens`: a token with the server's status.
#[derive(Deserialize)]
struct AdminToken {
    #[serde(flatten)]
    token: PatToken,
    status: String,
}

#[derive(Deserialize)]
struct UserTokens {
    user: User,
    tokens: Vec<AdminToken>,
}

pub async fn members(cmd: MembersCmd, clock: ClockRef) -> Result<(), Failure> {
    match cmd {
        MembersCmd::List { conn } => {
            let mut api = Admin::open(&conn, clock)?;
            let org = api.org()?;
            let users = api.users(Some(&org)).await?;
            match conn.output {
                Output::Json => print_json(&Value::Array(users)),
                Output::Table => {
                    let server = api.server();
                    let users = users
                        .iter()
                        .map(|v| typed::<User>(&server, v))
                        .collect::<Result<Vec<_>, _>>()?;
                    print(&users_table(&users, &org))
                }
            }
        }
        MembersCmd::Add { user, conn } => change(true, &user, conn, clock).await,
        MembersCmd::Remove { user, conn } => change(false, &user, conn, clock).await,
    }
}

/// Adds (`add`) or removes a member.
async fn change(
    add: bool,
    who: &str,
    conn: super::super::args::Conn,
    clock: ClockRef,
) -> Result<(), Failure> {
    let mut api = Admin::open(&conn, clock)?;
    let org = api.org()?;
    let id = api.resolve_user(who).await?;
    let id_text = id.to_string();
    let method = if add { Method::PUT } else { Method::DELETE };
    api.no_content(
        method,
        &["admin", "organizations", &org, "members", &id_text],
    )
    .await?;
    match conn.output {
        Output::Json => print_json(&json!({"organization": org, "user": id, "member": add})),
        Output::Table if add => print(&format!("{} is a member of {org}.", sanitize(who))),
        Output::Table => print(&format!(
            "{} is no longer a member of {org}; their tokens stop working there.",
            sanitize(who)
        )),
    }
}

pub async fn tokens(cmd: TokensCmd, clock: ClockRef) -> Result<(), Failure> {
    match cmd {
        TokensCmd::List { user, status, conn } => {
            let mut api = Admin::open(&conn, clock)?;
            let id = api.resolve_user(&user).await?;
            let v = user_tokens(&mut api, id, status.wire()).await?;
            match conn.output {
                Output::Json => print_json(&v),
                Output::Table => {
                    let t: UserTokens = typed(&api.server(), &v)?;
                    let orgs = api.org_names().await;
                    print(&format!(
                        "{} ({}), {} token(s)\n{}",
                        sanitize(&t.user.display_name),
                        sanitize(&t.user.key),
                        t.tokens.len(),
                        tokens_table(&t.tokens, &orgs)
                    ))
                }
            }
        }
        TokensCmd::Revoke {
            user,
            token,
            all,
            conn,
        } => {
            let mut api = Admin::open(&conn, clock)?;
            let id = api.resolve_user(&user).await?;
            let v = user_tokens(&mut api, id, if all { "active" } else { "all" }).await?;
            let t: UserTokens = typed(&api.server(), &v)?;
            let ids: Vec<Uuid> = match token {
                Some(tid) => {
                    if !t.tokens.iter().any(|x| x.token.authorization_id == tid) {
                        return Err(Failure::refused(format!(
                            "{tid} is not one of the tokens of {} you administer",
                            sanitize(&t.user.key)
                        )));
                    }
                    vec![tid]
                }
                None => t.tokens.iter().map(|x| x.token.authorization_id).collect(),
            };
            for tid in &ids {
                api.no_content(Method::DELETE, &["admin", "tokens", &tid.to_string()])
                    .await?;
            }
            match conn.output {
                Output::Json => print_json(&json!({"user": t.user.id, "revoked": ids})),
                Output::Table => print(&format!(
                    "Revoked {} token(s) of {} ({}).{}",
                    ids.len(),
                    sanitize(&t.user.display_name),
                    sanitize(&t.user.key),
                    ids.iter().map(|i| format!("\n  {i}")).collect::<String>()
                )),
            }
        }
    }
}

/// `POST /patrol/v1/admin/users/{id}/disable` (or `enable`).
pub async fn users(cmd: UsersCmd, clock: ClockRef) -> Result<(), Failure> {
    let (disable, who, conn) = match cmd {
        UsersCmd::Disable { user, conn } => (true, user, conn),
        UsersCmd::Enable { user, conn } => (false, user, conn),
    };
    let mut api = Admin::open(&conn, clock)?;
    let id = api.resolve_user(&who).await?;
    let verb = if disable { "disable" } else { "enable" };
    let v = api
        .send_json(
            Method::POST,
            &["admin", "users", &id.to_string(), verb],
            &json!({}),
        )
        .await?;
    match conn.output {
        Output::Json => print_json(&v),
        Output::Table => {
            let u: User = typed(&api.server(), &v)?;
            let name = format!("{} ({})", sanitize(&u.display_name), sanitize(&u.key));
            print(&if u.disabled {
                format!(
                    "{name} is disabled: their tokens are revoked and their web sessions ended."
                )
            } else {
                format!("{name} is enabled; tokens revoked earlier stay revoked.")
            })
        }
    }
}

async fn user_tokens(api: &mut Admin, id: Uuid, filter: &str) -> Result<Value, Failure> {
    api.get(
        &["admin", "users", &id.to_string(), "tokens"],
        &[("displayFilterOption", filter)],
    )
    .await
}

fn users_table(users: &[User], org: &str) -> String {
    if users.is_empty() {
        return format!("{org} has no members.");
    }
    let rows = users
        .iter()
        .map(|u| {
            let mut roles = Vec::new();
            if u.roles.tenant_admin {
                roles.push("tenant admin".to_owned());
            }
            if !u.roles.org_admin.is_empty() {
                roles.push(format!("admin of {}", u.roles.org_admin.join(", ")));
            }
            if u.disabled {
                roles.push("disabled".to_owned());
            }
            vec![
                u.id.to_string(),
                sanitize(&u.display_name),
                sanitize(u.email.as_deref().unwrap_or("")),
                sanitize(&u.key),
                sanitize(&roles.join("; ")),
            ]
        })
        .collect();
    table(&["ID", "NAME", "E-MAIL", "KEY", "ROLES"], rows)
}

fn tokens_table(tokens: &[AdminToken], orgs: &HashMap<Uuid, String>) -> String {
    if tokens.is_empty() {
        return "No tokens.".into();
    }
    let rows = tokens
        .iter()
        .map(|a| {
            let t = &a.token;
            let reach = match &t.target_accounts {
                None => "(all)".to_owned(),
                Some(ids) => ids
                    .iter()
                    .map(|id| orgs.get(id).map(|n| sanitize(n)).unwrap_or(id.to_string()))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            vec![
                t.authorization_id.to_string(),
                sanitize(&t.display_name),
                sanitize(&a.status),
                date(&t.valid_to),
                reach,
                sanitize(&t.scope),
                t.last_used_at
                    .as_ref()
                    .map(date)
                    .unwrap_or_else(|| "never".into()),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "NAME",
            "STATUS",
            "EXPIRES",
            "ORGANIZATIONS",
            "SCOPES",
            "LAST USED",
        ],
        rows,
    )
}
