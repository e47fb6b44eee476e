//! `patrol scan`: finds checksum-valid Patrol tokens in files, directories,
//! stdin or a git repository's history, and prints where (never the token).
//! The detection itself is `patrol_scan`; this module walks, reads and reports.
//! User guide: `docs/scan.md`.

mod git;
mod progress;
mod walk;

use std::fmt::Display;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use anyhow::Context;
use clap::{Args, ValueEnum};
use patrol_core::token::ProviderSignature;
use patrol_scan::{checksum_name, format_name, Formats, Hit, ScanConfig, Scanner};

use progress::Progress;

#[derive(Args)]
pub struct ScanArgs {
    /// Files and directories to scan (`-` reads stdin); with --git, repositories.
    #[arg(value_name = "PATH", default_value = ".")]
    paths: Vec<PathBuf>,
    /// Print one JSON object per token found.
    #[arg(long)]
    json: bool,
    /// Scan the entire history instead: every blob of every commit reachable
    /// from any ref, reported with the commit that added it and its path.
    #[arg(long)]
    git: bool,
    /// Look for one token family only.
    #[arg(long, value_enum, value_name = "FAMILY")]
    only: Option<Only>,
    /// Provider signature of 84/88-character keys (repeatable); default AZDO.
    #[arg(long = "signature", value_name = "SIG", default_value = "AZDO")]
    signatures: Vec<ProviderSignature>,
    /// Also scan binary files (a NUL byte in the first 8000 bytes, git's rule).
    #[arg(long)]
    binary: bool,
    /// Do not respect .gitignore, .ignore and git's exclude files.
    #[arg(long)]
    no_ignore: bool,
    /// Worker threads for directory walks (default: one per CPU).
    #[arg(long, short = 'j', value_name = "N")]
    threads: Option<usize>,
    /// Send the hits to a Patrol server's leak-report intake (not available yet).
    #[arg(long, value_name = "URL")]
    report: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Only {
    /// 84/88-character identifiable keys.
    Cask,
    /// Legacy 52-character base32 PATs.
    Legacy,
}

/// Where a hit was found.
enum Location {
    File(String),
    Stdin,
    Git {
        commit: String,
        path: String,
        blob: String,
    },
}

struct Found {
    location: Location,
    hit: Hit,
}

/// What every worker shares: the scanner, the results, the error count and
/// the progress display.
struct Sink {
    scanner: Scanner,
    binary: bool,
    found: Mutex<Vec<Found>>,
    errors: AtomicU64,
    progress: Progress,
}

impl Sink {
    fn add(&self, location: impl Fn() -> Location, hits: Vec<Hit>) {
        if hits.is_empty() {
            return;
        }
        self.progress.hits(hits.len() as u64);
        let mut found = self.found.lock().unwrap_or_else(|e| e.into_inner());
        found.extend(hits.into_iter().map(|hit| Found {
            location: location(),
            hit,
        }));
    }

    /// One clean line on stderr; the scan goes on, the exit status becomes 2.
    fn error(&self, what: impl Display, err: impl Display) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.progress
            .suspend(|| eprintln!("patrol scan: {what}: {err}"));
    }
}

pub fn run(args: ScanArgs) -> anyhow::Result<ExitCode> {
    if args.report.is_some() {
        anyhow::bail!(
            "--report is not available yet: the Patrol server has no leak-report intake \
             endpoint so far; run the scan without --report"
        );
    }
    let config = ScanConfig {
        signatures: args.signatures.clone(),
        formats: match args.only {
            None => Formats::All,
            Some(Only::Cask) => Formats::Cask,
            Some(Only::Legacy) => Formats::Legacy,
        },
    };
    let mut sink = Sink {
        scanner: Scanner::new(&config),
        binary: args.binary,
        found: Mutex::new(Vec::new()),
        errors: AtomicU64::new(0),
        progress: Progress::start(),
    };

    if args.git {
        for repo in &args.paths {
            if let Err(e) = git::scan_history(repo, &sink) {
                sink.error(repo.display(), format!("{e:#}"));
            }
        }
    } else {
        let threads = args
            .threads
            .or_else(|| std::thread::available_parallelism().ok().map(Into::into))
            .unwrap_or(1);
        walk::scan_paths(&args.paths, &sink, threads, !args.no_ignore);
    }
    sink.progress.finish();

    let mut found = sink.found.into_inner().unwrap_or_else(|e| e.into_inner());
    if !args.git {
        // Parallel walks finish in any order; print in a stable one.
        found.sort_by(|a, b| {
            (a.location.sort_key(), a.hit.offset).cmp(&(b.location.sort_key(), b.hit.offset))
        });
    }
    print_hits(&found, args.json).context("writing the results")?;

    let errors = sink.errors.load(Ordering::Relaxed);
    if !found.is_empty() {
        eprintln!(
            "patrol scan: {} token{} found; treat each as leaked and revoke it",
            found.len(),
            if found.len() == 1 { "" } else { "s" }
        );
    }
    Ok(if errors > 0 {
        ExitCode::from(2)
    } else if found.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

impl Location {
    fn sort_key(&self) -> &str {
        match self {
            Location::File(p) => p,
            Location::Stdin => "",
            Location::Git { path, .. } => path,
        }
    }

    fn display(&self) -> String {
        match self {
            Location::File(p) => p.clone(),
            Location::Stdin => "<stdin>".to_owned(),
            Location::Git { commit, path, .. } => {
                format!("{}:{path}", commit.get(..12).unwrap_or(commit))
            }
        }
    }
}

fn print_hits(found: &[Found], json: bool) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for f in found {
        let h = &f.hit;
        if json {
            let mut v = serde_json::json!({
                "path": match &f.location {
                    Location::File(p) => p.as_str(),
                    Location::Stdin => "<stdin>",
                    Location::Git { path, .. } => path.as_str(),
                },
                "line": h.line,
                "column": h.column,
                "offset": h.offset,
                "format": format_name(h.format),
                "checksum": checksum_name(h.checksum),
                "signature": h.signature,
                "redacted": h.redacted(),
                "fingerprint": h.fingerprint(),
            });
            if let (Location::Git { commit, blob, .. }, Some(obj)) =
                (&f.location, v.as_object_mut())
            {
                obj.insert("commit".into(), commit.as_str().into());
                obj.insert("blob".into(), blob.as_str().into());
            }
            writeln!(out, "{v}")?;
        } else {
            writeln!(
                out,
                "{}:{}:{}  {}  {}",
                f.location.display(),
                h.line,
                h.column,
                format_name(h.format),
                h.redacted()
            )?;
        }
    }
    out.flush()
}
