//! `patrol migrate`: bring the configured database's schema up to date and
//! exit (before rolling out a release whose replicas run with `[database]
//! migrate_on_start = false`), or copy a SQLite deployment into an empty
//! PostgreSQL database (`--from-sqlite`; docs/deployment.md).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use patrol_server::config::{Config, Env};
use patrol_server::storage;

#[derive(Args)]
pub struct MigrateArgs {
    /// The configuration `patrol serve` runs with (its `[database]` is migrated).
    #[arg(long, short, env = "PATROL_CONFIG")]
    config: Option<PathBuf>,
    /// Copy every row of this SQLite database (stop the server using it
    /// first) into the configured PostgreSQL database, which must hold no
    /// rows yet; all or nothing.
    #[arg(long, value_name = "PATH")]
    from_sqlite: Option<PathBuf>,
}

pub fn run(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let env = Env::process();
    let cfg = Config::load(args.config.as_deref(), &env)?;
    let settings = cfg.resolve(&env)?;
    let database = settings.database;
    super::runtime()?.block_on(async move {
        match args.from_sqlite {
            None => {
                let applied = storage::migrate(&database).await?;
                report_applied(&database.describe(), &applied);
            }
            Some(path) => {
                let (applied, copied) = storage::copy_from_sqlite(&database, &path).await?;
                report_applied(&database.describe(), &applied);
                println!("copied {} into {}:", path.display(), database.describe());
                let width = copied.iter().map(|c| c.table.len()).max().unwrap_or(0);
                let mut total = 0;
                for c in &copied {
                    println!("  {:<width$}  {:>9} rows", c.table, c.postgres_rows);
                    total += c.postgres_rows;
                }
                println!(
                    "{total} rows in {} tables; every table's count matches SQLite's",
                    copied.len()
                );
            }
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn report_applied(database: &str, applied: &[storage::Migration]) {
    if applied.is_empty() {
        println!("{database}: schema up to date, nothing to apply");
    } else {
        println!("{database}: applied {} migration(s):", applied.len());
        for m in applied {
            println!("  {m}");
        }
    }
}
