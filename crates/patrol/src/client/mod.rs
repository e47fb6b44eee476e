//! The command-line client of a running Patrol server: `patrol login`,
//! `patrol logout`, `patrol token list | show | create | update | regenerate
//! | revoke | rotate`, and `patrol completions`. User guide: docs/cli.md.
//!
//! Layout: `args` (clap), `session` (which server, organization and token),
//! `conn` (HTTP to the server, silent refresh), `creds` + `files` (the stored
//! sign-in, owner-only files), `login` (loopback OIDC sign-in), `pats` (the
//! PAT API), `tokens` (the commands), `render` (tables and JSON), `failure`
//! (plain-word errors and exit codes).
//!
//! A future `patrol admin …` slots in beside `tokens`: its own subcommand
//! enum in `args`, its calls beside `pats` over the same [`conn::Client`]
//! (token, refresh, errors), and `render` for its output.

mod args;
mod conn;
mod creds;
mod failure;
mod files;
mod login;
mod pats;
mod render;
mod session;
mod tokens;

use std::process::ExitCode;
use std::sync::Arc;

use patrol_core::clock::{Clock, SystemClock};

pub use args::{LoginArgs, LogoutArgs, TokenCmd};
use failure::EXIT_LOCAL;

/// Runs one client command to its exit code; a failure is one line on
/// standard error.
fn run<F>(f: impl FnOnce(Arc<dyn Clock>) -> F) -> ExitCode
where
    F: std::future::Future<Output = Result<(), failure::Failure>>,
{
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(EXIT_LOCAL);
        }
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match runtime.block_on(f(clock)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// `patrol login`.
pub fn login(args: LoginArgs) -> ExitCode {
    run(|clock| login::login(args, clock))
}

/// `patrol logout`.
pub fn logout(args: LogoutArgs) -> ExitCode {
    run(|clock| login::logout(args, clock))
}

/// `patrol token …` (the PAT API).
pub fn token(cmd: TokenCmd) -> ExitCode {
    run(|clock| tokens::run(cmd, clock))
}

/// `patrol completions SHELL`: the completion script of `cmd` on stdout.
pub fn completions(shell: clap_complete::Shell, cmd: &mut clap::Command) -> ExitCode {
    let name = cmd.get_name().to_owned();
    let mut buf = Vec::new();
    clap_complete::generate(shell, cmd, name, &mut buf);
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(&buf).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: writing the completions: {e}");
            ExitCode::from(EXIT_LOCAL)
        }
    }
}
