#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
//! `patrol`: the one binary — `serve`, `dev`, `token inspect`, `scan`, and
//! the client of a running server (`login`, `logout`, `token …`; in `client/`).

mod client;
mod migrate;
mod scan;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, CommandFactory as _, Parser, Subcommand, ValueEnum};

use patrol_auth::dev_issuer::{dev_users, DevIssuer};
use patrol_core::token::{self, ChecksumEncoding, TokenFormat};
use patrol_server::config::{Config, Env, LogFormat, EXAMPLE_CONFIG};
use patrol_server::{dev, telemetry, Application, DevMode};

const TOP_EXAMPLES: &str = "\
Examples:
  patrol dev                                        # a development server on :8080
  patrol login --server http://127.0.0.1:8080 --org fabrikam
  patrol token create --name ci --scope vso.code --expires-in 30d
  patrol token list --status all
  patrol admin audit --follow

Exit status of the client commands (login, logout, token …, admin …):
  0 done, 1 refused by the server, 2 usage or local error, 3 cannot reach the server.
Guide: docs/cli.md";

#[derive(Parser)]
#[command(
    name = "patrol",
    version,
    about = "Self-hosted personal access tokens, Azure DevOps-compatible",
    after_help = TOP_EXAMPLES
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the server with a configuration file (production).
    #[command(after_help = "Examples:\n  \
        patrol serve --config /etc/patrol/patrol.toml\n  \
        PATROL_SERVER_KEY_FILE=/run/secrets/key patrol serve -c patrol.toml --log-format json")]
    Serve {
        #[arg(long, short, env = "PATROL_CONFIG")]
        config: Option<PathBuf>,
        #[arg(long, value_enum)]
        log_format: Option<LogFmt>,
    },
    /// Apply the schema migrations to the configured database and exit; or
    /// copy a SQLite deployment into PostgreSQL (`--from-sqlite`).
    #[command(after_help = "Examples:\n  \
        patrol migrate --config /etc/patrol/patrol.toml\n  \
        PATROL_DATABASE_URL=postgres://patrol@db/patrol patrol migrate -c patrol.toml \\\n      \
        --from-sqlite /var/lib/patrol/patrol.db\n\
        Guide: docs/deployment.md")]
    Migrate(migrate::MigrateArgs),
    /// Run a development server: SQLite and a built-in OIDC issuer in one data directory.
    #[command(after_help = "Examples:\n  \
        patrol dev\n  \
        patrol dev --port 0 --data-dir /tmp/patrol-dev\n  \
        TOKEN=$(patrol dev token --user alice)")]
    Dev(DevArgs),
    /// Sign in to a Patrol server in the browser (OIDC with PKCE, loopback redirect).
    Login(client::LoginArgs),
    /// Forget the stored sign-in and revoke its refresh token.
    Logout(client::LogoutArgs),
    /// Manage your personal access tokens on a server, or check one offline.
    #[command(after_help = "Examples:\n  \
        patrol token list\n  \
        patrol token create --name ci --scope vso.code --expires-in 30d\n  \
        patrol token rotate ID --write-to /run/secrets/token\n  \
        patrol token inspect - < token.txt")]
    Token {
        #[command(subcommand)]
        cmd: TokenCmd,
    },
    /// Administer a running server: policies, members, users' tokens, revocation rules, audit log.
    #[command(subcommand, after_help = client::ADMIN_EXAMPLES)]
    Admin(client::AdminCmd),
    /// Print a shell completion script.
    #[command(after_help = "Examples:\n  \
        patrol completions bash > ~/.local/share/bash-completion/completions/patrol\n  \
        patrol completions zsh > \"${fpath[1]}/_patrol\"\n  \
        patrol completions fish > ~/.config/fish/completions/patrol.fish")]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the fully commented example configuration.
    #[command(after_help = "Examples:\n  patrol print-config > patrol.toml")]
    PrintConfig,
    /// Find leaked tokens in files, directories, stdin or git history.
    /// Exit status: 0 nothing found, 1 tokens found, 2 error.
    Scan(scan::ScanArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFmt {
    Text,
    Json,
}

impl From<LogFmt> for LogFormat {
    fn from(f: LogFmt) -> Self {
        match f {
            LogFmt::Text => LogFormat::Text,
            LogFmt::Json => LogFormat::Json,
        }
    }
}

#[derive(Args)]
struct DevArgs {
    #[command(subcommand)]
    cmd: Option<DevCmd>,
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Data directory (SQLite file, server key, issuer signing key).
    #[arg(long, env = "PATROL_DATA_DIR", default_value = dev::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    #[arg(long, value_enum)]
    log_format: Option<LogFmt>,
    /// Send emails to this SMTP server (smtp://host:port, smtps://…) instead
    /// of writing them to <data dir>/outbox/.
    #[arg(long, value_name = "URL")]
    smtp_url: Option<String>,
}

#[derive(Subcommand)]
enum DevCmd {
    /// Print a fresh access token from the running dev server's issuer.
    #[command(after_help = "Examples:\n  \
        patrol dev token --user alice\n  \
        patrol dev token --user bob --scope vso.pats\n  \
        patrol dev token --service-principal")]
    Token {
        /// Dev user to issue for: alice, bob or admin.
        #[arg(
            long,
            conflicts_with = "service_principal",
            required_unless_present = "service_principal"
        )]
        user: Option<String>,
        /// Delegated scopes (`scp`).
        #[arg(long, default_value = "vso.pats vso.pats_manage")]
        scope: String,
        /// Issue a client-credentials token for the demo service principal instead.
        #[arg(long)]
        service_principal: bool,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        lifetime: i64,
        #[arg(long, env = "PATROL_DATA_DIR", default_value = dev::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Check a token's format and checksum offline; `-` reads it from stdin.
    /// Exit status 0 only for a well-formed, checksum-valid token.
    #[command(after_help = "Examples:\n  \
        patrol token inspect - < token.txt\n  \
        patrol token inspect --json \"$TOKEN\"")]
    Inspect {
        #[arg(allow_hyphen_values = true)]
        token: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    #[command(flatten)]
    Api(client::TokenCmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.cmd {
        Cmd::Serve { config, log_format } => {
            // Defaults → file → environment → command-line flags.
            let env = Env::process();
            let mut cfg = Config::load(config.as_deref(), &env)?;
            if let Some(f) = log_format {
                cfg.server.log_format = f.into();
            }
            let settings = cfg.resolve(&env)?;
            telemetry::init(settings.server.log_format);
            runtime()?.block_on(async move {
                let app = Application::builder(settings).build().await?;
                tracing::info!(address = %app.local_addr(), "patrol listening");
                println!("patrol listening on http://{}", app.local_addr());
                app.run(patrol_server::shutdown_signal()).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Migrate(args) => migrate::run(args),
        Cmd::Dev(args) => match args.cmd {
            None => {
                run_dev(args.port, args.data_dir, args.log_format, args.smtp_url)?;
                Ok(ExitCode::SUCCESS)
            }
            Some(DevCmd::Token {
                user,
                scope,
                service_principal,
                lifetime,
                data_dir,
            }) => {
                let info = dev::read_info(&data_dir)?;
                let issuer = DevIssuer::load_or_create(&data_dir)
                    .context("loading the development issuer")?;
                let jwt = if service_principal {
                    issuer.mint_sp_token(&info.issuer, lifetime)?
                } else {
                    let name = user.unwrap_or_default();
                    let Some(u) = dev_users()
                        .iter()
                        .find(|u| u.username.eq_ignore_ascii_case(&name))
                    else {
                        let known: Vec<&str> = dev_users().iter().map(|u| u.username).collect();
                        anyhow::bail!("unknown dev user '{name}' (known: {})", known.join(", "));
                    };
                    issuer.mint_user_token(&info.issuer, u, &scope, lifetime)?
                };
                println!("{jwt}");
                Ok(ExitCode::SUCCESS)
            }
        },
        Cmd::Token {
            cmd: TokenCmd::Inspect { token, json },
        } => Ok(inspect(&token, json)),
        Cmd::Token {
            cmd: TokenCmd::Api(cmd),
        } => Ok(client::token(cmd)),
        Cmd::Admin(cmd) => Ok(client::admin(cmd)),
        Cmd::Login(args) => Ok(client::login(args)),
        Cmd::Logout(args) => Ok(client::logout(args)),
        Cmd::Completions { shell } => Ok(client::completions(shell, &mut Cli::command())),
        Cmd::PrintConfig => {
            print!("{EXAMPLE_CONFIG}");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Scan(args) => scan::run(args),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn run_dev(
    port: u16,
    data_dir: PathBuf,
    log_format: Option<LogFmt>,
    smtp_url: Option<String>,
) -> anyhow::Result<()> {
    let env = Env::process();
    let mut cfg = dev::config(&data_dir, port, &env)?;
    if let Some(f) = log_format {
        cfg.server.log_format = f.into();
    }
    if smtp_url.is_some() {
        cfg.smtp.url = smtp_url;
    }
    let settings = cfg.resolve(&env)?;
    telemetry::init(settings.server.log_format);
    runtime()?.block_on(async move {
        let app = Application::builder(settings)
            .dev(DevMode { data_dir: data_dir.clone() })
            .build()
            .await?;
        let base = format!("http://{}", app.local_addr());
        let issuer = app.dev_issuer.clone().unwrap_or_default();
        dev::write_info(&data_dir, &dev::DevServerInfo { base_url: base.clone(), issuer: issuer.clone(), pid: std::process::id() })?;
        let dd = data_dir.display();
        let mail_to = match &app.smtp_url {
            Some(u) => format!("sent to {u}"),
            None => format!("written to {dd}/outbox/  (--smtp-url URL sends them)"),
        };
        let dd_flag = if data_dir == std::path::Path::new(dev::DEFAULT_DATA_DIR) { String::new() } else { format!(" --data-dir {dd}") };
        println!(
            "Patrol dev server listening on {base}\n\
             \n  data directory   {dd}  (SQLite database, server key, issuer signing key; reused next time)\
             \n  OIDC issuer      {issuer}  (users: alice, bob, admin; demo service principal)\
             \n  organizations    fabrikam, contoso  (every dev user is a member of both)\
             \n  web page         {base}/tokens  (sign in as alice, bob or admin)\
             \n  API docs         {base}/docs\
             \n  SCIM endpoint    {base}/scim/v2  (bearer secret in {dd}/{scim})\
             \n  health           {base}/healthz   metrics {base}/metrics\
             \n  emails           {mail_to}\
             \n\nNext, in another terminal:\
             \n  patrol login --server {base} --org fabrikam   (then: patrol token list)\
             \n\nOr with the REST API:\
             \n  TOKEN=$(patrol dev token --user alice{dd_flag})\
             \n  curl -s -X POST \"{base}/fabrikam/_apis/tokens/pats?api-version=7.1-preview.1\" \\\
             \n    -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\\
             \n    -d '{{\"displayName\":\"my first PAT\",\"scope\":\"vso.code\",\"allOrgs\":false}}'\
             \n  curl -s \"{base}/fabrikam/_apis/tokens/pats?api-version=7.1-preview.1\" -H \"Authorization: Bearer $TOKEN\"\
             \n\n(From a source checkout, `patrol` is `cargo run -q -p patrol --`.)",
            scim = dev::SCIM_TOKEN_FILE,
        );
        app.run(patrol_server::shutdown_signal()).await
    })
}

fn inspect(arg: &str, as_json: bool) -> ExitCode {
    let text = if arg == "-" {
        let mut s = String::new();
        if std::io::stdin().read_to_string(&mut s).is_err() {
            eprintln!("error: could not read the token from stdin");
            return ExitCode::from(2);
        }
        s
    } else {
        arg.to_owned()
    };
    let candidate = text.trim();
    match token::validate(candidate) {
        Ok(info) => {
            let format = match info.format {
                TokenFormat::Cask84 => "cask-84",
                TokenFormat::Cask88 => "cask-88",
                TokenFormat::Legacy52 => "legacy-52",
            };
            let checksum = match info.checksum {
                ChecksumEncoding::Base62 => "marvin32-base62",
                ChecksumEncoding::RawBase64 => "marvin32-raw-base64",
                ChecksumEncoding::Crc32User => "crc32-user",
                ChecksumEncoding::Crc32App => "crc32-app",
            };
            let minted = match (info.minted_year, info.minted_month) {
                (Some(y), Some(m)) => Some(format!("{y:04}-{m:02}")),
                _ => None,
            };
            if as_json {
                let v = serde_json::json!({
                    "valid": true, "format": format, "checksum": checksum,
                    "signature": info.signature, "kind": info.kind.map(String::from), "minted": minted,
                    "platformReserved": info.platform_reserved, "providerReserved": info.provider_reserved,
                });
                println!("{v}");
            } else {
                let desc = match info.format {
                    TokenFormat::Cask84 => {
                        "84-character identifiable key (common annotated security key)"
                    }
                    TokenFormat::Cask88 => "88-character identifiable key (long form)",
                    TokenFormat::Legacy52 => "52-character legacy Azure DevOps PAT (base32)",
                };
                println!("valid:      yes");
                println!("format:     {desc}");
                println!("checksum:   valid ({checksum})");
                if let Some(s) = &info.signature {
                    println!("signature:  {s}");
                }
                if let Some(k) = info.kind {
                    let kind = match k {
                        '9' => "standard key",
                        'D' => "derived key",
                        'H' => "hashed data",
                        _ => "unknown",
                    };
                    println!("kind:       {kind}");
                }
                if let Some(m) = minted {
                    println!("minted:     {m}");
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            if as_json {
                println!(
                    "{}",
                    serde_json::json!({"valid": false, "reason": e.to_string()})
                );
            } else {
                println!("valid:      no");
                println!("reason:     {e}");
            }
            ExitCode::from(1)
        }
    }
}
