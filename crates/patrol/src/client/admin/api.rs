//! Patrol's admin API (`/patrol/v1/admin/…`, `/patrol/v1/audit`; see
//! docs/admin.md) as the command line calls it, over the same
//! [`Client`] as the PAT API (token, silent refresh, errors in words).
//!
//! Answers are kept as JSON values, so `--output json` passes on every field
//! the server sends; tables read the few fields they show through the
//! structs below.

use std::collections::HashMap;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;
use uuid::Uuid;

use super::super::args::Conn;
use super::super::conn::{Answer, Client};
use super::super::failure::{self, Failure};
use super::super::session;

/// Page size asked for when listing users and audit events.
const PAGE: &str = "1000";
/// A list longer than this many pages is a server that never says "last page".
const MAX_PAGES: usize = 100_000;

/// What a refusal for want of the role adds.
pub const NEEDS_ROLE: &str = "this requires the tenant administrator role \
    (or, for an organization's members, policy, tokens and rules, that organization's administrator role)";

/// The admin API of one server, as one signed-in caller.
pub struct Admin {
    client: Client,
    /// `--org`, else the organization chosen at login.
    org: Option<String>,
}

/// A user as the users listing shows them (the fields tables use).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: Uuid,
    pub key: String,
    pub display_name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub roles: Roles,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Roles {
    #[serde(default)]
    pub tenant_admin: bool,
    #[serde(default)]
    pub org_admin: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsersPage {
    users: Vec<Value>,
    continuation_token: Option<String>,
}

/// Reads a typed view of a JSON value the server sent.
pub fn typed<T: DeserializeOwned>(server: &str, v: &Value) -> Result<T, Failure> {
    T::deserialize(v).map_err(|e| {
        Failure::refused(format!(
            "the answer of {server} is not what a Patrol server sends ({}); is it a Patrol server?",
            failure::sanitize(&e.to_string())
        ))
    })
}

/// A refusal of the admin API in words: a missing role or scope says what
/// is needed.
pub fn admin_failure(f: Failure, status: u16) -> Failure {
    match f {
        Failure::Refused(m) if m.contains("insufficient_scope") => Failure::Refused(format!(
            "{}; sign in again with `patrol login` (the server's [cli] scopes must include \
             vso.tokenadministration), or give the pipeline a token granted it",
            m.trim_end_matches("; use a token whose scopes include it")
        )),
        Failure::Refused(m) if status == 403 => Failure::Refused(format!("{m}; {NEEDS_ROLE}")),
        other => other,
    }
}

impl Admin {
    /// A client for `--server` (or the last login) and the organization, if any.
    pub fn open(
        conn: &Conn,
        clock: std::sync::Arc<dyn patrol_core::clock::Clock>,
    ) -> Result<Admin, Failure> {
        let (client, org) = session::connect(conn.server.as_deref(), conn.org.as_deref(), clock)?;
        Ok(Admin { client, org })
    }

    pub fn server(&self) -> String {
        self.client.server.to_string()
    }

    /// The organization a command acts on: `--org`, else the login's.
    pub fn org(&self) -> Result<String, Failure> {
        session::require_org(self.org.clone())
    }

    /// `/patrol/v1/<segments>?<query>`.
    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut all = vec!["patrol", "v1"];
        all.extend_from_slice(segments);
        let mut url = self.client.server.url(&all);
        if !query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                if !v.is_empty() {
                    q.append_pair(k, v);
                }
            }
        }
        url
    }

    /// Sends; any non-2xx answer becomes a failure in words.
    pub async fn call(
        &mut self,
        method: Method,
        url: Url,
        body: Option<&impl Serialize>,
    ) -> Result<Answer, Failure> {
        let body = match body {
            None => None,
            Some(b) => Some(
                serde_json::to_vec(b)
                    .map_err(|e| Failure::local(format!("encoding the request: {e}")))?,
            ),
        };
        let answer = self.client.send(method, url, body).await?;
        if !(200..300).contains(&answer.status) {
            return Err(admin_failure(self.client.failure(&answer), answer.status));
        }
        Ok(answer)
    }

    /// The answer's JSON.
    pub fn json(&self, answer: &Answer) -> Result<Value, Failure> {
        serde_json::from_slice(&answer.body).map_err(|e| {
            Failure::refused(format!(
                "the answer of {} is not JSON ({}); is it a Patrol server?",
                self.client.server,
                failure::sanitize(&e.to_string())
            ))
        })
    }

    /// GET, as JSON.
    pub async fn get(
        &mut self,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<Value, Failure> {
        let url = self.url(segments, query);
        let answer = self.call(Method::GET, url, None::<&()>).await?;
        self.json(&answer)
    }

    /// A request with a JSON body, answered with JSON.
    pub async fn send_json(
        &mut self,
        method: Method,
        segments: &[&str],
        body: &impl Serialize,
    ) -> Result<Value, Failure> {
        let url = self.url(segments, &[]);
        let answer = self.call(method, url, Some(body)).await?;
        self.json(&answer)
    }

    /// A request answered with 204.
    pub async fn no_content(&mut self, method: Method, segments: &[&str]) -> Result<(), Failure> {
        let url = self.url(segments, &[]);
        self.call(method, url, None::<&()>).await.map(|_| ())
    }

    /// Every page of `GET /patrol/v1/admin/users` (or an organization's members).
    pub async fn users(&mut self, org: Option<&str>) -> Result<Vec<Value>, Failure> {
        let mut out = Vec::new();
        let mut continuation = String::new();
        for _ in 0..MAX_PAGES {
            let v = match org {
                Some(o) => {
                    self.get(
                        &["admin", "organizations", o, "members"],
                        &[("top", PAGE), ("continuationToken", &continuation)],
                    )
                    .await?
                }
                None => {
                    self.get(
                        &["admin", "users"],
                        &[("top", PAGE), ("continuationToken", &continuation)],
                    )
                    .await?
                }
            };
            let page: UsersPage = typed(&self.server(), &v)?;
            out.extend(page.users);
            match page.continuation_token {
                Some(next) if !next.is_empty() && next != continuation => continuation = next,
                _ => return Ok(out),
            }
        }
        Err(Failure::refused(format!(
            "{} keeps answering with more pages; giving up",
            self.client.server
        )))
    }

    /// A user named by id, user key (`<issuer>|<subject>`) or e-mail address.
    /// Looked up among all users, or (for an organization's administrator)
    /// among the members of the organization.
    pub async fn resolve_user(&mut self, who: &str) -> Result<Uuid, Failure> {
        let who = who.trim();
        if let Ok(id) = Uuid::parse_str(who) {
            return Ok(id);
        }
        let users = match self.users(None).await {
            Ok(u) => u,
            Err(e) => match self.org.clone() {
                Some(org) => self.users(Some(&org)).await.map_err(|_| e)?,
                None => return Err(e),
            },
        };
        let server = self.server();
        let mut found: Vec<User> = Vec::new();
        for v in &users {
            let u: User = typed(&server, v)?;
            let hit = u.key == who
                || u.email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(who));
            if hit && !found.iter().any(|f| f.id == u.id) {
                found.push(u);
            }
        }
        match found.as_slice() {
            [one] => Ok(one.id),
            [] => Err(Failure::refused(format!(
                "no user '{}' (give a user id, a user key <issuer>|<subject>, or an e-mail address; \
                 `patrol admin members list --org ORG` shows them)",
                failure::sanitize(who)
            ))),
            many => Err(Failure::refused(format!(
                "'{}' names {} users ({}): give the user id or key",
                failure::sanitize(who),
                many.len(),
                many.iter()
                    .map(|u| failure::sanitize(&u.key))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Organization ids to names, from the policies the caller may see (to
    /// name them in tables; empty when the server does not say).
    pub async fn org_names(&mut self) -> HashMap<Uuid, String> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Entry {
            organization: String,
            organization_id: Uuid,
        }
        #[derive(Deserialize)]
        struct Doc {
            organizations: Vec<Entry>,
        }
        let Ok(v) = self.get(&["admin", "policies"], &[]).await else {
            return HashMap::new();
        };
        match Doc::deserialize(&v) {
            Ok(doc) => doc
                .organizations
                .into_iter()
                .map(|e| (e.organization_id, e.organization))
                .collect(),
            Err(_) => HashMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_say_what_is_needed() {
        let f = admin_failure(
            Failure::refused("refused by the server: You are not an administrator of the tenant. (InvalidAccessException, HTTP 403)"),
            403,
        );
        assert!(
            f.to_string()
                .contains("requires the tenant administrator role"),
            "{f}"
        );
        assert_eq!(f.exit_code(), 1);
        let f = admin_failure(
            Failure::refused("the access token lacks the scope 'vso.tokenadministration' this operation needs (insufficient_scope); use a token whose scopes include it"),
            403,
        );
        assert_eq!(
            f.to_string(),
            "the access token lacks the scope 'vso.tokenadministration' this operation needs \
             (insufficient_scope); sign in again with `patrol login` (the server's [cli] scopes \
             must include vso.tokenadministration), or give the pipeline a token granted it"
        );
        let other = Failure::refused("refused by the server: The user was not found. (HTTP 404)");
        assert_eq!(admin_failure(other.clone(), 404), other);
    }
}
