//! Writes the benchmark corpus of `bench/scan.sh`: text-like files in nested
//! directories with planted valid tokens of every format and as many
//! corrupted look-alikes (one character changed: same shape, bad checksum).
//! Deterministic for a given seed.
//!
//! Usage: `cargo run --release -p patrol-scan --example corpus -- DIR [MIB] [SEED]`
//! (default 1024 MiB, seed 14). Prints one line of counts:
//! `bytes=… files=… valid_cask=… valid_legacy=… corrupt_cask=… corrupt_legacy=…`.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use patrol_core::token::ProviderSignature;
use patrol_scan::synth::{self, Kind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "with",
    "as",
    "was",
    "on",
    "be",
    "at",
    "by",
    "this",
    "had",
    "not",
    "are",
    "but",
    "from",
    "or",
    "have",
    "an",
    "they",
    "which",
    "one",
    "you",
    "were",
    "her",
    "all",
    "she",
    "there",
    "would",
    "their",
    "we",
    "him",
    "been",
    "has",
    "when",
    "who",
    "will",
    "more",
    "no",
    "if",
    "out",
    "so",
    "said",
    "what",
    "up",
    "its",
    "about",
    "into",
    "than",
    "them",
    "can",
    "only",
    "other",
    "new",
    "some",
    "could",
    "time",
    "these",
    "two",
    "may",
    "then",
    "do",
    "first",
    "any",
    "my",
    "now",
    "such",
    "like",
    "our",
    "over",
    "man",
    "me",
    "even",
    "most",
    "made",
    "after",
    "also",
    "did",
    "many",
    "before",
    "must",
    "through",
    "back",
    "years",
    "where",
    "much",
    "your",
    "way",
    "well",
    "down",
    "should",
    "because",
    "each",
    "just",
    "those",
    "people",
    "how",
    "too",
    "little",
    "state",
    "good",
    "very",
    "make",
    "world",
    "still",
    "own",
    "see",
    "men",
    "work",
    "long",
    "get",
    "here",
    "between",
    "both",
    "life",
    "being",
    "under",
    "never",
    "day",
    "same",
    "another",
    "know",
    "while",
    "last",
    "might",
    "great",
    "old",
    "year",
    "off",
    "come",
    "since",
    "against",
    "go",
    "came",
    "right",
    "used",
    "take",
    "three",
    "configuration",
    "repository",
    "pipeline",
    "deployment",
    "authentication",
    "environment",
    "variable",
    "function",
    "return",
    "string",
    "buffer",
    "request",
    "response",
    "session",
    "password",
    "token",
    "secret",
    "server",
];

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const HEX: &[u8] = b"0123456789abcdef";

#[derive(Default)]
struct Counts {
    bytes: u64,
    files: u64,
    valid_cask: u64,
    valid_legacy: u64,
    corrupt_cask: u64,
    corrupt_legacy: u64,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first().map(PathBuf::from) else {
        eprintln!("usage: corpus DIR [MIB] [SEED]");
        return ExitCode::from(2);
    };
    let mib: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1024);
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(14);
    match generate(&dir, mib << 20, seed) {
        Ok(c) => {
            println!(
                "bytes={} files={} valid_cask={} valid_legacy={} corrupt_cask={} corrupt_legacy={}",
                c.bytes, c.files, c.valid_cask, c.valid_legacy, c.corrupt_cask, c.corrupt_legacy
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("corpus: {e}");
            ExitCode::from(2)
        }
    }
}

fn generate(dir: &std::path::Path, total: u64, seed: u64) -> std::io::Result<Counts> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut c = Counts::default();
    while c.bytes < total {
        // Mostly 1–7 MiB files, one in eight small (4–64 KiB).
        let size = if rng.gen_ratio(1, 8) {
            rng.gen_range(4u64 << 10..64 << 10)
        } else {
            rng.gen_range(1u64 << 20..7 << 20)
        }
        .min(total - c.bytes);
        let sub = dir.join(format!("d{:02}/s{}", c.files % 16, c.files % 3));
        fs::create_dir_all(&sub)?;
        let path = sub.join(format!("f{:04}.txt", c.files));
        let mut w = BufWriter::with_capacity(1 << 20, fs::File::create(path)?);
        let mut written = 0u64;
        let mut line = Vec::with_capacity(256);
        while written < size {
            line.clear();
            text_line(&mut rng, &mut line, &mut c);
            w.write_all(&line)?;
            written += line.len() as u64;
        }
        w.flush()?;
        c.bytes += written;
        c.files += 1;
    }
    Ok(c)
}

/// One line of the mix: 55% word soup, 15% assignments of short alphanumeric
/// strings, 10% hex digests, 12% base64 blobs, 8% UUIDs; about one line in
/// 20,000 carries a planted token (valid or corrupted, 84/88-char or legacy).
fn text_line(rng: &mut StdRng, out: &mut Vec<u8>, c: &mut Counts) {
    if rng.gen_ratio(1, 20_000) {
        planted(rng, out, c);
        return;
    }
    let pick = rng.gen_range(0..100);
    if pick < 55 {
        for i in 0..rng.gen_range(4..16) {
            if i > 0 {
                out.push(if rng.gen_ratio(1, 12) { b',' } else { b' ' });
            }
            let w = WORDS[rng.gen_range(0..WORDS.len())].as_bytes();
            out.extend_from_slice(w);
            if i == 0 {
                out[0] = out[0].to_ascii_uppercase();
            }
        }
        out.push(b'.');
    } else if pick < 70 {
        let a = WORDS[rng.gen_range(0..WORDS.len())];
        let b = WORDS[rng.gen_range(0..WORDS.len())];
        out.extend_from_slice(format!("    let {a}_{b} = \"").as_bytes());
        let n = rng.gen_range(8..=40);
        random_from(rng, out, ALNUM, n);
        out.extend_from_slice(b"\";");
    } else if pick < 80 {
        out.extend_from_slice(b"commit ");
        let n = if rng.gen_bool(0.5) { 40 } else { 64 };
        random_from(rng, out, HEX, n);
    } else if pick < 92 {
        out.extend_from_slice(b"blob: ");
        let n = rng.gen_range(20..=160);
        random_from(rng, out, B64, n);
    } else {
        for (i, n) in [8, 4, 4, 4, 12].into_iter().enumerate() {
            if i > 0 {
                out.push(b'-');
            }
            random_from(rng, out, HEX, n);
        }
    }
    out.push(b'\n');
}

fn random_from(rng: &mut StdRng, out: &mut Vec<u8>, alphabet: &[u8], n: usize) {
    out.extend((0..n).map(|_| alphabet[rng.gen_range(0..alphabet.len())]));
}

fn planted(rng: &mut StdRng, out: &mut Vec<u8>, c: &mut Counts) {
    let kind = Kind::ALL[rng.gen_range(0..Kind::ALL.len())];
    let Ok(token) = synth::token(kind, ProviderSignature::DEFAULT, rng) else {
        return;
    };
    let valid = rng.gen_bool(0.5);
    let text = if valid {
        token
    } else {
        synth::corrupt(&token, rng)
    };
    match (kind.is_legacy(), valid) {
        (false, true) => c.valid_cask += 1,
        (true, true) => c.valid_legacy += 1,
        (false, false) => c.corrupt_cask += 1,
        (true, false) => c.corrupt_legacy += 1,
    }
    let line = match rng.gen_range(0..3) {
        0 => format!("PAT = \"{text}\"\n"),
        1 => format!("git clone https://build:{text}@dev.azure.com/fabrikam/_git/app\n"),
        _ => format!("export AZURE_DEVOPS_EXT_PAT={text}\n"),
    };
    out.extend_from_slice(line.as_bytes());
}
