//! `--git`: a repository's entire history, through the real `git` CLI.
//!
//! 1. `git log --all --reverse --topo-order --root -c --raw -z` lists, for
//!    every commit reachable from any ref (parents first), the blobs it adds
//!    or changes and their paths. `-c` makes a merge list the paths whose
//!    content differs from every parent (a conflict resolution); any other
//!    blob of a merge's tree comes from a parent, so every blob of every
//!    commit appears at least once. Each blob is kept once, with the first
//!    (oldest) commit and path that introduced it — so a token added in one
//!    commit and deleted in a later one is still found, and reported where
//!    it was added.
//! 2. `git cat-file --batch` streams those blobs; each is scanned in memory.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

use super::{Location, Sink};

/// One blob to scan and where it first appeared.
struct Introduced {
    blob: String,
    commit: String,
    path: String,
}

const GITLINK_MODE: &str = "160000";

pub(super) fn scan_history(repo: &Path, sink: &Sink) -> anyhow::Result<()> {
    let check = git(repo)
        .args(["rev-parse", "--git-dir"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("running git (is it installed?)")?;
    if !check.success() {
        bail!("not a git repository");
    }
    let blobs = introduced_blobs(repo)?;
    scan_blobs(repo, &blobs, sink)
}

fn git(repo: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(repo).env("GIT_OPTIONAL_LOCKS", "0");
    cmd
}

fn introduced_blobs(repo: &Path) -> anyhow::Result<Vec<Introduced>> {
    let mut child = git(repo)
        .args([
            "-c",
            "log.showSignature=false",
            "log",
            "--all",
            "--reverse",
            "--topo-order",
            "--root",
            "-c",
            "--raw",
            "--no-abbrev",
            "--no-renames",
            "--no-ext-diff",
            "--no-textconv",
            "--no-color",
            "-z",
            "--format=%x01%H",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running git log")?;
    let (Some(stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        bail!("git log: no pipes");
    };
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    // Streamed: the log of a large history does not have to fit in memory.
    let mut log = LogParser::default();
    let mut reader = BufReader::with_capacity(1 << 16, stdout);
    let mut record = Vec::new();
    let read = loop {
        record.clear();
        match reader.read_until(0, &mut record) {
            Ok(0) => break Ok(()),
            Ok(_) => {
                if record.last() == Some(&0) {
                    record.pop();
                }
                log.record(&record);
            }
            Err(e) => break Err(e),
        }
    };
    drop(reader);
    let status = child.wait().context("waiting for git log")?;
    let stderr = errors.join().unwrap_or_default();
    if !status.success() {
        let first = stderr.lines().next().unwrap_or("unknown error").trim();
        // A repository without any commit has no history to scan.
        if first.contains("does not have any commits") {
            return Ok(Vec::new());
        }
        bail!("git log failed: {first}");
    }
    read.context("reading git log")?;
    Ok(log.introduced)
}

/// Parses the `-z` raw log record by record: `\x01<commit>` records, then
/// per changed path a `:<modes> <ids> <status>` record (`::…` for a merge's
/// combined form) followed by a verbatim path record.
#[derive(Default)]
struct LogParser {
    commit: String,
    /// After a `:` record: the blob it introduces, if it is one to scan; the
    /// next record is its path.
    pending: Option<Option<String>>,
    seen: HashSet<String>,
    introduced: Vec<Introduced>,
}

impl LogParser {
    fn record(&mut self, record: &[u8]) {
        if let Some(blob) = self.pending.take() {
            if let Some(blob) = blob {
                self.introduced.push(Introduced {
                    blob,
                    commit: self.commit.clone(),
                    path: String::from_utf8_lossy(record).into_owned(),
                });
            }
            return;
        }
        let record = record.strip_prefix(b"\n").unwrap_or(record);
        if let Some(id) = record.strip_prefix(b"\x01") {
            self.commit = String::from_utf8_lossy(id).into_owned();
        } else if record.starts_with(b":") {
            let blob = self.new_blob(&String::from_utf8_lossy(record));
            self.pending = Some(blob);
        }
    }

    /// The blob id a `:` record introduces, unless it is a deletion, a
    /// submodule commit, or a blob already seen.
    fn new_blob(&mut self, meta: &str) -> Option<String> {
        let parents = meta.bytes().take_while(|&b| b == b':').count();
        let fields: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
        // Modes (parents + 1), ids (parents + 1), status: the result's mode
        // is fields[parents], its id the second to last field.
        let mode = fields.get(parents)?;
        let id = fields.get(fields.len().checked_sub(2)?)?;
        let deleted = id.bytes().all(|b| b == b'0');
        if deleted || *mode == GITLINK_MODE || !self.seen.insert(id.to_string()) {
            return None;
        }
        Some(id.to_string())
    }
}

fn scan_blobs(repo: &Path, blobs: &[Introduced], sink: &Sink) -> anyhow::Result<()> {
    if blobs.is_empty() {
        return Ok(());
    }
    let mut child = git(repo)
        .args(["cat-file", "--batch", "--buffer"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("running git cat-file")?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        bail!("git cat-file: no pipes");
    };
    let ids: Vec<String> = blobs.iter().map(|b| b.blob.clone()).collect();
    // Feed the ids from another thread so that neither pipe can fill up
    // while the other side waits.
    let feeder = std::thread::spawn(move || -> std::io::Result<()> {
        let mut w = std::io::BufWriter::new(&mut stdin);
        for id in &ids {
            writeln!(w, "{id}")?;
        }
        w.flush()
    });

    let result = read_batch(BufReader::with_capacity(1 << 20, stdout), blobs, sink);
    let fed = feeder.join();
    let status = child.wait().context("waiting for git cat-file")?;
    result?;
    match fed {
        Ok(Ok(())) => {}
        Ok(Err(e)) => bail!("writing to git cat-file: {e}"),
        Err(_) => bail!("writing to git cat-file failed"),
    }
    if !status.success() {
        bail!("git cat-file failed ({status})");
    }
    Ok(())
}

fn read_batch(mut r: impl BufRead, blobs: &[Introduced], sink: &Sink) -> anyhow::Result<()> {
    let mut header = String::new();
    let mut content = Vec::new();
    for blob in blobs {
        header.clear();
        if r.read_line(&mut header)? == 0 {
            bail!("git cat-file ended early");
        }
        // "<id> <type> <size>" or "<id> missing".
        let mut parts = header.split_whitespace();
        let (_, kind, size) = (parts.next(), parts.next(), parts.next());
        let Some(size) = size.and_then(|s| s.parse::<u64>().ok()) else {
            sink.error(
                format!("{}:{}", short(&blob.commit), blob.path),
                "object missing from the repository",
            );
            continue;
        };
        content.clear();
        (&mut r).take(size).read_to_end(&mut content)?;
        let mut newline = [0u8; 1];
        r.read_exact(&mut newline)?;
        if content.len() as u64 != size {
            bail!("git cat-file ended early");
        }
        sink.progress.file(size);
        if kind != Some("blob") {
            continue;
        }
        let sniff = content.get(..8000).unwrap_or(&content);
        if !sink.binary && memchr::memchr(0, sniff).is_some() {
            continue;
        }
        let hits = sink.scanner.scan(&content);
        sink.add(
            || Location::Git {
                commit: blob.commit.clone(),
                path: blob.path.clone(),
                blob: blob.blob.clone(),
            },
            hits,
        );
    }
    Ok(())
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_merge_and_odd_paths() {
        let z = "\x01c1\0\n:000000 100644 0000 aaaa A\0a.txt\0\
                 :000000 160000 0000 ssss A\0sub\0\
                 \x01c2\0\n:100644 100644 aaaa bbbb M\0:odd\nname\0\
                 :100644 000000 bbbb 0000 D\0gone\0\
                 \x01c3\0\0::100644 100644 100644 aaaa bbbb cccc MM\0m.txt\0\
                 \x01c4\0\n:000000 100644 0000 aaaa A\0copy.txt\0";
        let mut log = LogParser::default();
        for record in z.as_bytes().split(|&b| b == 0) {
            log.record(record);
        }
        let got: Vec<(String, String, String)> = log
            .introduced
            .into_iter()
            .map(|i| (i.blob, i.commit, i.path))
            .collect();
        let want = [
            ("aaaa", "c1", "a.txt"),
            ("bbbb", "c2", ":odd\nname"),
            ("cccc", "c3", "m.txt"),
        ];
        let want: Vec<(String, String, String)> = want
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect();
        assert_eq!(got, want);
    }
}
