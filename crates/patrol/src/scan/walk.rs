//! Files, directories and stdin. Directories are walked in parallel by the
//! `ignore` crate (ripgrep's walker): `.gitignore`, `.ignore` and git's
//! exclude files are respected (also outside a git repository), hidden files
//! are scanned, `.git` directories and symbolic links are not (unless named).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use ignore::{WalkBuilder, WalkState};

use super::{Location, Sink};

/// git's rule for binary content: a NUL byte in the first 8000 bytes.
const BINARY_SNIFF: usize = 8000;

pub(super) fn scan_paths(paths: &[PathBuf], sink: &Sink, threads: usize, ignore_files: bool) {
    let mut roots = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            scan_stdin(sink);
        } else if let Err(e) = std::fs::symlink_metadata(path) {
            sink.error(path.display(), e);
        } else {
            roots.push(path);
        }
    }
    let Some((first, rest)) = roots.split_first() else {
        return;
    };
    let mut builder = WalkBuilder::new(first);
    for root in rest {
        builder.add(root);
    }
    builder
        .threads(threads)
        .hidden(false)
        .require_git(false)
        .ignore(ignore_files)
        .git_ignore(ignore_files)
        .git_exclude(ignore_files)
        .git_global(ignore_files)
        .parents(ignore_files)
        .filter_entry(|e| e.file_name() != ".git");

    builder.build_parallel().run(|| {
        let mut buf = Vec::new();
        Box::new(move |entry| {
            match entry {
                Ok(entry) => {
                    // Paths named on the command line are scanned even if
                    // binary, and may be pipes (`patrol scan <(git diff)`).
                    let explicit = entry.depth() == 0;
                    let is_file = entry.file_type().is_some_and(|t| t.is_file());
                    let named_non_dir =
                        explicit && std::fs::metadata(entry.path()).is_ok_and(|m| !m.is_dir());
                    if is_file || named_non_dir {
                        scan_file(entry.path(), explicit, sink, &mut buf);
                    }
                }
                Err(e) => sink.error("walk", e),
            }
            WalkState::Continue
        })
    });
}

fn scan_stdin(sink: &Sink) {
    let mut buf = Vec::new();
    match sink.scanner.scan_reader(io::stdin().lock(), &mut buf) {
        Ok(hits) => sink.add(|| Location::Stdin, hits),
        Err(e) => sink.error("<stdin>", e),
    }
}

fn scan_file(path: &Path, explicit: bool, sink: &Sink, buf: &mut Vec<u8>) {
    match scan_one(path, explicit || sink.binary, sink, buf) {
        Ok((bytes, hits)) => {
            sink.progress.file(bytes);
            if !hits.is_empty() {
                let shown = path.display().to_string();
                sink.add(|| Location::File(shown.clone()), hits);
            }
        }
        Err(e) => sink.error(path.display(), e),
    }
}

/// Scans one file; returns the bytes read and the hits.
fn scan_one(
    path: &Path,
    binary_ok: bool,
    sink: &Sink,
    buf: &mut Vec<u8>,
) -> io::Result<(u64, Vec<patrol_scan::Hit>)> {
    let mut file = CountingReader {
        inner: File::open(path)?,
        bytes: 0,
    };
    let is_binary = |first: &[u8]| {
        let sniff = first.get(..BINARY_SNIFF).unwrap_or(first);
        !binary_ok && memchr::memchr(0, sniff).is_some()
    };
    let hits = sink
        .scanner
        .scan_reader_unless(&mut file, buf, is_binary)?
        .unwrap_or_default();
    Ok((file.bytes, hits))
}

struct CountingReader<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        self.bytes += n as u64;
        Ok(n)
    }
}
