//! `patrol token list | show | create | update | regenerate | revoke | rotate`.
//!
//! A secret goes to standard output only, once, and only from create,
//! regenerate and rotate (or into the file `rotate --write-to` names). It
//! never reaches standard error or any other file.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use patrol_core::clock::Clock;
use patrol_server::http::wire::{PatToken, PatTokenCreateRequest, PatTokenUpdateRequest};

use super::args::{Conn, TokenCmd};
use super::conn::Client;
use super::failure::Failure;
use super::files::PendingFile;
use super::pats::Pats;
use super::render::{date, Output, View};
use super::session;

/// Runs one `patrol token …` command.
pub async fn run(cmd: TokenCmd, clock: Arc<dyn Clock>) -> Result<(), Failure> {
    match cmd {
        TokenCmd::List {
            status,
            sort,
            desc,
            conn,
        } => {
            let (mut client, org) = open(&conn, clock)?;
            let mut pats = Pats::new(&mut client, org);
            let tokens = pats.list(status, sort, !desc).await?;
            let view = view(&mut pats, conn.output).await;
            out(&view.list(&tokens, conn.output))
        }
        TokenCmd::Show { id, conn } => {
            let (mut client, org) = open(&conn, clock)?;
            let mut pats = Pats::new(&mut client, org);
            let t = pats.get(id).await?;
            let view = view(&mut pats, conn.output).await;
            out(&view.one(&t, conn.output))
        }
        TokenCmd::Create {
            name,
            scopes,
            expiry,
            all_orgs,
            conn,
        } => {
            let Some(scope) = scopes.joined() else {
                return Err(Failure::local(
                    "--scope is required, e.g. --scope vso.code (app_token is full access)",
                ));
            };
            let valid_to = expiry.valid_to(clock.now());
            let req = PatTokenCreateRequest {
                display_name: name,
                scope: Some(scope.clone()),
                valid_to,
                all_orgs: Some(all_orgs.unwrap_or(false)),
            };
            {
                let (mut client, org) = open(&conn, clock)?;
                let mut pats = Pats::new(&mut client, org);
                let t = pats
                    .create(&req)
                    .await
                    .map_err(|f| explain_scope(f, &scope))?;
                note_capped(valid_to, &t);
                let view = view(&mut pats, conn.output).await;
                show_secret(&view, &t, conn.output)
            }
        }
        TokenCmd::Update {
            id,
            name,
            scopes,
            expiry,
            all_orgs,
            conn,
        } => {
            let scope = scopes.joined();
            let valid_to = expiry.valid_to(clock.now());
            if name.is_none() && scope.is_none() && valid_to.is_none() && all_orgs.is_none() {
                return Err(Failure::local(
                    "nothing to change: give --name, --scope, --expires-in, --expires-on or --all-orgs",
                ));
            }
            let req = PatTokenUpdateRequest {
                authorization_id: Some(id),
                display_name: name,
                scope: scope.clone(),
                valid_to,
                all_orgs,
            };
            {
                let (mut client, org) = open(&conn, clock)?;
                let mut pats = Pats::new(&mut client, org);
                let t = pats
                    .update(&req)
                    .await
                    .map_err(|f| explain_scope(f, scope.as_deref().unwrap_or("")))?;
                note_capped(valid_to, &t);
                let view = view(&mut pats, conn.output).await;
                out(&view.one(&t, conn.output))
            }
        }
        TokenCmd::Regenerate { id, conn } => {
            let (mut client, org) = open(&conn, clock)?;
            let mut pats = Pats::new(&mut client, org);
            let t = pats.regenerate(id).await?;
            let view = view(&mut pats, conn.output).await;
            show_secret(&view, &t, conn.output)
        }
        TokenCmd::Revoke { id, conn } => {
            let (mut client, org) = open(&conn, clock)?;
            let mut pats = Pats::new(&mut client, org);
            pats.revoke(id).await?;
            match conn.output {
                Output::Json => {
                    out(&serde_json::json!({"authorizationId": id, "revoked": true}).to_string())
                }
                Output::Table => out(&format!("Revoked {id}.")),
            }
        }
        TokenCmd::Rotate { id, write_to, conn } => {
            // The file is created before the old secret is given up, so a
            // path that cannot be written fails while the old one still works.
            let pending = match &write_to {
                None => None,
                Some(path) => Some(PendingFile::beside(path).map_err(|e| {
                    Failure::local(format!("cannot write {}: {e}", path.display()))
                })?),
            };
            {
                let (mut client, org) = open(&conn, clock)?;
                let mut pats = Pats::new(&mut client, org);
                let mut t = pats.regenerate(id).await?;
                let Some(secret) = t.token.take() else {
                    return Err(Failure::refused(
                        "the server answered without the new secret",
                    ));
                };
                match (pending, write_to) {
                    (Some(file), Some(path)) => {
                        file.commit(secret.as_bytes()).map_err(|e| {
                            Failure::local(format!(
                                "the token was regenerated, but its new secret could not be written to {}: {e}; \
                                 run `patrol token rotate {id}` again",
                                path.display()
                            ))
                        })?;
                        let view = view(&mut pats, conn.output).await;
                        match conn.output {
                            Output::Json => out(&view.one(&t, Output::Json)),
                            Output::Table => out(&format!(
                                "Rotated '{}' ({id}); the new secret is in {} (expires {}).",
                                super::failure::sanitize(&t.display_name),
                                path.display(),
                                date(&t.valid_to)
                            )),
                        }
                    }
                    _ => match conn.output {
                        Output::Json => {
                            t.token = Some(secret);
                            let view = view(&mut pats, Output::Json).await;
                            out(&view.one(&t, Output::Json))
                        }
                        Output::Table => out(&secret),
                    },
                }
            }
        }
    }
}

/// A client for the server and the organization to act through.
fn open(conn: &Conn, clock: Arc<dyn Clock>) -> Result<(Client, String), Failure> {
    let (client, org) = session::connect(conn.server.as_deref(), conn.org.as_deref(), clock)?;
    Ok((client, session::require_org(org)?))
}

/// What a rendering needs; tables name the current organization (one more
/// request), JSON keeps ids.
async fn view(pats: &mut Pats<'_>, output: Output) -> View {
    let mut orgs = HashMap::new();
    if output == Output::Table {
        if let Some(id) = pats.org_id().await {
            orgs.insert(id, pats.org().to_owned());
        }
    }
    View {
        now: pats.client().clock().now(),
        orgs,
    }
}

/// A token whose answer carries its secret: the details, then the secret.
fn show_secret(view: &View, t: &PatToken, output: Output) -> Result<(), Failure> {
    out(&view.one(t, output))?;
    if output == Output::Table && t.token.is_some() {
        eprintln!("This is the only time the token is shown: store it now.");
    }
    Ok(())
}

/// Prints to standard output; a closed pipe is not a panic.
fn out(text: &str) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}")
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::local(format!("writing the output: {e}")))
}

/// After `invalidScope`, name the scopes this build does not know either.
fn explain_scope(f: Failure, scope: &str) -> Failure {
    match f {
        Failure::Refused(m) if m.ends_with("(invalidScope)") => {
            let unknown: Vec<&str> = scope
                .split(' ')
                .filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case("app_token"))
                .filter(|s| patrol_core::scope::lookup(s).is_none())
                .collect();
            if unknown.is_empty() {
                Failure::Refused(m)
            } else {
                Failure::Refused(format!("{m}: unknown scope {}", unknown.join(", ")))
            }
        }
        other => other,
    }
}

/// The server caps a `validTo` beyond its maximum lifetime silently: say so.
fn note_capped(requested: Option<DateTime<Utc>>, t: &PatToken) {
    if let Some(r) = requested {
        if t.valid_to + chrono::Duration::seconds(1) < r {
            eprintln!(
                "note: the server capped the expiration at {} (its maximum token lifetime)",
                date(&t.valid_to)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_scopes_are_named() {
        let f = explain_scope(
            Failure::refused("a scope is unknown (invalidScope)"),
            "vso.code vso.nonsense app_token",
        );
        assert_eq!(
            f.to_string(),
            "a scope is unknown (invalidScope): unknown scope vso.nonsense"
        );
        let f = explain_scope(Failure::refused("x (invalidScope)"), "vso.code");
        assert_eq!(f.to_string(), "x (invalidScope)");
        let other = Failure::refused("no (tokenNotFound)");
        assert_eq!(explain_scope(other.clone(), "vso.nonsense"), other);
    }
}
