//! `patrol admin rules list | create`: revocation rules (docs/admin.md §4):
//! every token granting any of the scopes, created before a date, revoked once.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::super::failure::{sanitize, Failure};
use super::super::render::{date, fields, table, Output};
use super::api::{typed, Admin};
use super::args::RulesCmd;
use super::{print, print_json, ClockRef};

/// A rule as the server lists it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    id: Uuid,
    organization: Option<String>,
    scopes: String,
    created_before: DateTime<Utc>,
    created_at: DateTime<Utc>,
    created_by: String,
    revoked: u64,
}

#[derive(Debug, Deserialize)]
struct Rules {
    rules: Vec<Value>,
}

/// `POST /patrol/v1/admin/revocation-rules`'s body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NewRule<'a> {
    scopes: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_before: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    organization: Option<&'a str>,
}

pub async fn run(cmd: RulesCmd, clock: ClockRef) -> Result<(), Failure> {
    match cmd {
        RulesCmd::List { conn } => {
            let mut api = Admin::open(&conn, clock)?;
            let v = api.get(&["admin", "revocation-rules"], &[]).await?;
            let server = api.server();
            let list: Rules = typed(&server, &v)?;
            match conn.output {
                Output::Json => print_json(&Value::Array(list.rules)),
                Output::Table => {
                    let rules = list
                        .rules
                        .iter()
                        .map(|r| typed::<Rule>(&server, r))
                        .collect::<Result<Vec<_>, _>>()?;
                    print(&rules_table(&rules))
                }
            }
        }
        RulesCmd::Create {
            scopes,
            created_before,
            all_orgs,
            conn,
        } => {
            let Some(scope) = scopes.joined() else {
                return Err(Failure::local(
                    "--scope is required, e.g. --scope vso.code (a token granting any of them is revoked)",
                ));
            };
            let mut api = Admin::open(&conn, clock)?;
            let org = if all_orgs { None } else { Some(api.org()?) };
            let body = NewRule {
                scopes: &scope,
                created_before,
                organization: org.as_deref(),
            };
            let v = api
                .send_json(Method::POST, &["admin", "revocation-rules"], &body)
                .await?;
            match conn.output {
                Output::Json => print_json(&v),
                Output::Table => {
                    let r: Rule = typed(&api.server(), &v)?;
                    print(&format!(
                        "{}\nRevoked {} token(s).",
                        rule_fields(&r),
                        r.revoked
                    ))
                }
            }
        }
    }
}

fn reach(r: &Rule) -> String {
    r.organization
        .as_deref()
        .map(sanitize)
        .unwrap_or_else(|| "(all)".into())
}

fn rule_fields(r: &Rule) -> String {
    fields(&[
        ("id", r.id.to_string()),
        ("organization", reach(r)),
        ("scopes", sanitize(&r.scopes)),
        ("created before", date(&r.created_before)),
        ("created", date(&r.created_at)),
        ("by", sanitize(&r.created_by)),
        ("revoked", r.revoked.to_string()),
    ])
}

fn rules_table(rules: &[Rule]) -> String {
    if rules.is_empty() {
        return "No revocation rules.".into();
    }
    let rows = rules
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                reach(r),
                sanitize(&r.scopes),
                date(&r.created_before),
                date(&r.created_at),
                sanitize(&r.created_by),
                r.revoked.to_string(),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "ORGANIZATION",
            "SCOPES",
            "CREATED BEFORE",
            "CREATED",
            "BY",
            "REVOKED",
        ],
        rows,
    )
}
