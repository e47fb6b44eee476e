//! Who calls which server: `PATROL_ACCESS_TOKEN` with `--server` /
//! `PATROL_SERVER` (pipelines; nothing read from or written to disk), or the
//! stored sign-in of `--server`, else of the last `patrol login`. The
//! organization: `--org` / `PATROL_ORG`, else the one chosen at login.

use std::sync::Arc;

use patrol_core::clock::Clock;

use super::conn::{Auth, Client, Server};
use super::creds::Store;
use super::failure::Failure;

/// The access token for pipelines.
pub const ACCESS_TOKEN_ENV: &str = "PATROL_ACCESS_TOKEN";

/// A client for the server, and the organization to act through (if known).
pub fn connect(
    server: Option<&str>,
    org: Option<&str>,
    clock: Arc<dyn Clock>,
) -> Result<(Client, Option<String>), Failure> {
    let org = org
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(str::to_owned);
    let env_token = std::env::var(ACCESS_TOKEN_ENV)
        .ok()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    if let Some(token) = env_token {
        let Some(server) = server else {
            return Err(Failure::local(format!(
                "{ACCESS_TOKEN_ENV} is set: name its server with --server or PATROL_SERVER"
            )));
        };
        let server = Server::parse(server)?;
        return Ok((Client::new(server, Auth::Env(token), clock)?, org));
    }
    let store = Store::open()?;
    let creds = store.load()?;
    let Some(server) = server.map(str::to_owned).or(creds.default_server.clone()) else {
        return Err(Failure::local(
            "not signed in: run `patrol login --server URL` (pipelines: set PATROL_SERVER and PATROL_ACCESS_TOKEN)",
        ));
    };
    let server = Server::parse(&server)?;
    let Some(login) = creds.logins.get(server.as_str()).cloned() else {
        return Err(Failure::local(format!(
            "not signed in to {server}: run `patrol login --server {server}` (or set {ACCESS_TOKEN_ENV})"
        )));
    };
    let org = org.or_else(|| login.organization.clone());
    let auth = Auth::Stored {
        store,
        login: Box::new(login),
    };
    Ok((Client::new(server, auth, clock)?, org))
}

/// The organization, which every PAT API call needs in its URL.
pub fn require_org(org: Option<String>) -> Result<String, Failure> {
    let Some(org) = org else {
        return Err(Failure::local(
            "no organization: pass --org, set PATROL_ORG, or sign in with `patrol login --org ORG`",
        ));
    };
    if !patrol_core::user::valid_org_name(&org) {
        return Err(Failure::local(format!(
            "'{org}' is not a valid organization name"
        )));
    }
    Ok(org)
}
