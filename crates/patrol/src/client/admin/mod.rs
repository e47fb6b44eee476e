//! `patrol admin …`: the administrator's half of a running server —
//! policies (`policy`), an organization's members (`members`), a user's
//! tokens (`tokens`), revocation rules (`rules`) and the audit log
//! (`audit`), over Patrol's admin API (docs/admin.md) with the same
//! connection, sign-in and exit codes as `patrol token`.
//!
//! Layout: `args` (clap), `api` (the HTTP calls, user look-up, refusals in
//! words), then one file per subcommand.

mod api;
mod args;
mod audit;
mod people;
mod policy;
mod rules;

use std::sync::Arc;

use patrol_core::clock::Clock;
use serde_json::Value;

pub use args::{AdminCmd, ADMIN_EXAMPLES};

use super::failure::Failure;

type ClockRef = Arc<dyn Clock>;

/// Runs one `patrol admin …` command.
pub async fn run(cmd: AdminCmd, clock: ClockRef) -> Result<(), Failure> {
    match cmd {
        AdminCmd::Policy(c) => policy::run(c, clock).await,
        AdminCmd::Members(c) => people::members(c, clock).await,
        AdminCmd::Tokens(c) => people::tokens(c, clock).await,
        AdminCmd::Rules(c) => rules::run(c, clock).await,
        AdminCmd::Users(c) => people::users(c, clock).await,
        AdminCmd::Audit(a) => audit::run(a, clock).await,
    }
}

/// One text to standard output. When the reader has gone (`| head`), the
/// command ends quietly: nobody is left to read the rest.
fn print(text: &str) -> Result<(), Failure> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(Failure::local(format!("writing the output: {e}"))),
    }
}

/// JSON to standard output, indented.
fn print_json(v: &Value) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(v)
        .map_err(|e| Failure::local(format!("encoding the output: {e}")))?;
    print(&text)
}
