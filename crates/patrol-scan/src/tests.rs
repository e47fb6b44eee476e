//! Planted tokens at known positions, boundaries, block seams, readers, and a
//! brute-force reference scanner compared on random inputs.

use std::io::Read;

use patrol_core::token::{ChecksumEncoding, ProviderSignature, TokenFormat};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::stream::BLOCK;
use crate::synth::{self, Kind};
use crate::{Formats, Hit, ScanConfig, Scanner};

/// `docs/token-format.md` vectors (independent of our encoders).
const RAW_84: &str =
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaJQQJ99CKAAAAAAAAAAAAAAAAAZDOb85G";
const B62_84: &str =
    "SyntheticTestKeyForPatServiceDoNotUse0123456789abcdeJQQJ99BFACAAAAASNFZ4AAASAZDO10AW";
const B62_88: &str =
    "SyntheticTestKeyForPatServiceDoNotUse0123456789abcdeJQQJ99BFACAAAAASNFZ4AAASAZDO10AWOg==";

fn scanner() -> Scanner {
    Scanner::new(&ScanConfig::default())
}

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

fn tok(kind: Kind, r: &mut StdRng) -> String {
    synth::token(kind, ProviderSignature::DEFAULT, r).unwrap()
}

fn offsets(hits: &[Hit]) -> Vec<u64> {
    hits.iter().map(|h| h.offset).collect()
}

/// Reads at most `step` bytes per call, to move the block seams around.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(out.len()).min(self.data.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn scan_reader(s: &Scanner, data: &[u8], step: usize) -> Vec<Hit> {
    let mut buf = Vec::new();
    s.scan_reader(Trickle { data, step }, &mut buf).unwrap()
}

#[test]
fn finds_spec_vectors_with_line_column_format_and_checksum() {
    let text = format!("first line\n  PAT = \"{RAW_84}\"\nx={B62_84} and\n\t{B62_88}\n");
    let hits = scanner().scan(text.as_bytes());
    let got: Vec<_> = hits
        .iter()
        .map(|h| (h.line, h.column, h.format, h.checksum))
        .collect();
    assert_eq!(
        got,
        vec![
            (2, 10, TokenFormat::Cask84, ChecksumEncoding::RawBase64),
            (3, 3, TokenFormat::Cask84, ChecksumEncoding::Base62),
            (4, 2, TokenFormat::Cask88, ChecksumEncoding::Base62),
        ]
    );
    assert_eq!(hits[0].offset, text.find(RAW_84).unwrap() as u64);
    assert_eq!(hits[2].secret().expose(), B62_88);
    assert_eq!(hits[1].signature.as_deref(), Some("AZDO"));
}

#[test]
fn every_kind_is_found_and_named() {
    let mut r = rng(1);
    for kind in Kind::ALL {
        let t = tok(kind, &mut r);
        let hits = scanner().scan(format!("token: {t}\n").as_bytes());
        assert_eq!(hits.len(), 1, "{kind:?}");
        let h = &hits[0];
        assert_eq!((h.offset, h.line, h.column), (7, 1, 8));
        let (format, checksum) = match kind {
            Kind::Cask84Base62 => (TokenFormat::Cask84, ChecksumEncoding::Base62),
            Kind::Cask84Raw => (TokenFormat::Cask84, ChecksumEncoding::RawBase64),
            Kind::Cask88Base62 => (TokenFormat::Cask88, ChecksumEncoding::Base62),
            Kind::Cask88Raw => (TokenFormat::Cask88, ChecksumEncoding::RawBase64),
            Kind::LegacyUser => (TokenFormat::Legacy52, ChecksumEncoding::Crc32User),
            Kind::LegacyApp => (TokenFormat::Legacy52, ChecksumEncoding::Crc32App),
        };
        assert_eq!((h.format, h.checksum), (format, checksum), "{kind:?}");
        assert_eq!(h.len(), t.len());
    }
}

#[test]
fn start_and_end_of_buffer_and_adjacent_tokens() {
    let mut r = rng(2);
    for kind in Kind::ALL {
        let t = tok(kind, &mut r);
        assert_eq!(offsets(&scanner().scan(t.as_bytes())), vec![0], "{kind:?}");
        let u = tok(kind, &mut r);
        // One separator between two tokens; a `,` even after the long form's `==`.
        for sep in [" ", "\n", ",", "\"", "_", "-", "/"] {
            let s = format!("{t}{sep}{u}");
            let want = vec![0, (t.len() + sep.len()) as u64];
            assert_eq!(
                offsets(&scanner().scan(s.as_bytes())),
                want,
                "{kind:?} {sep:?}"
            );
        }
    }
}

#[test]
fn embedded_in_longer_runs_follows_each_formats_word_rule() {
    let mut r = rng(3);
    for kind in [Kind::Cask84Base62, Kind::Cask84Raw, Kind::Cask88Base62] {
        let t = tok(kind, &mut r);
        for glued in [format!("x{t}"), format!("0{t}")] {
            assert!(
                scanner().scan(glued.as_bytes()).is_empty(),
                "{kind:?} {glued}"
            );
        }
        if kind != Kind::Cask88Base62 {
            assert!(scanner().scan(format!("{t}Z").as_bytes()).is_empty());
        }
        // Separators that are not alphanumeric do not glue.
        assert_eq!(scanner().scan(format!("+{t}=").as_bytes()).len(), 1);
    }
    // The long form ends at `==`: what follows does not matter.
    let long = tok(Kind::Cask88Raw, &mut r);
    assert_eq!(scanner().scan(format!("{long}abc").as_bytes()).len(), 1);
    // 84 chars then two more alphanumerics without `==`: neither form.
    let t = tok(Kind::Cask84Base62, &mut r);
    assert!(scanner().scan(format!("{t}ab").as_bytes()).is_empty());

    let legacy = tok(Kind::LegacyUser, &mut r);
    for glued in ["a", "z", "2", "7"] {
        assert!(scanner()
            .scan(format!("{glued}{legacy}").as_bytes())
            .is_empty());
        assert!(scanner()
            .scan(format!("{legacy}{glued}").as_bytes())
            .is_empty());
    }
    // Uppercase and 0/1/8/9 are outside the base32 alphabet, so they separate.
    for sep in ["A", "Z", "0", "1", "8", "9"] {
        let s = format!("{sep}{legacy}{sep}");
        assert_eq!(offsets(&scanner().scan(s.as_bytes())), vec![1], "{sep}");
    }
}

#[test]
fn corrupted_look_alikes_are_never_reported() {
    let mut r = rng(4);
    let mut text = String::new();
    for _ in 0..50 {
        for kind in Kind::ALL {
            let t = tok(kind, &mut r);
            text.push_str(&synth::corrupt(&t, &mut r));
            text.push('\n');
        }
    }
    // Shape-perfect fakes: right fixed fields, wrong checksum.
    text.push_str(&B62_84.replace("10AW", "10AX"));
    text.push('\n');
    text.push_str(&RAW_84.replace("AZDO", "AZD0"));
    assert!(scanner().scan(text.as_bytes()).is_empty());
}

#[test]
fn only_and_signatures_filter() {
    let mut r = rng(5);
    let legacy = tok(Kind::LegacyApp, &mut r);
    let abcd = ProviderSignature::parse("ABCD").unwrap();
    let custom = synth::token(Kind::Cask84Base62, abcd, &mut r).unwrap();
    let text = format!("{B62_84}\n{legacy}\n{custom}\n");
    let only = |formats| {
        Scanner::new(&ScanConfig {
            formats,
            ..ScanConfig::default()
        })
    };
    assert_eq!(only(Formats::Cask).scan(text.as_bytes()).len(), 1);
    assert_eq!(only(Formats::Legacy).scan(text.as_bytes())[0].line, 2);
    assert_eq!(scanner().scan(text.as_bytes()).len(), 2); // AZDO only by default
    let both = Scanner::new(&ScanConfig {
        signatures: vec![ProviderSignature::DEFAULT, abcd],
        formats: Formats::All,
    });
    let lines: Vec<u64> = both.scan(text.as_bytes()).iter().map(|h| h.line).collect();
    assert_eq!(lines, vec![1, 2, 3]);
    // Signatures compare case-insensitively, as the format says.
    let lower = ProviderSignature::parse("abcd").unwrap();
    let s = Scanner::new(&ScanConfig {
        signatures: vec![lower],
        formats: Formats::Cask,
    });
    assert_eq!(s.scan(text.as_bytes()).len(), 1);
}

#[test]
fn redaction_and_debug_never_show_the_secret() {
    let mut r = rng(6);
    for kind in Kind::ALL {
        let t = tok(kind, &mut r);
        let h = scanner().scan(t.as_bytes()).remove(0);
        let shown = format!("{} {:?} {}", h.redacted(), h, h.fingerprint());
        assert!(!shown.contains(&t));
        // No 12 consecutive characters of the random part appear.
        for w in t.as_bytes()[..52].windows(12) {
            assert!(!shown.contains(std::str::from_utf8(w).unwrap()), "{shown}");
        }
    }
    let h = scanner().scan(B62_84.as_bytes()).remove(0);
    assert_eq!(h.redacted(), "Synt…JQQJ99BF…AZDO");
    assert!(h.fingerprint().starts_with("sha256:") && h.fingerprint().len() == 23);
}

#[test]
fn tokens_across_every_block_seam_position() {
    let mut r = rng(7);
    let s = scanner();
    for kind in Kind::ALL {
        let t = tok(kind, &mut r);
        for delta in (0..=t.len() + 2).chain([t.len() + 60, 130]) {
            let at = BLOCK + 1 - delta.min(BLOCK);
            let mut data = vec![b'.'; 2 * BLOCK + 300];
            data[at..at + t.len()].copy_from_slice(t.as_bytes());
            // A glued look-alike right before the seam too.
            data[at - 60] = b'q';
            assert_eq!(offsets(&s.scan(&data)), vec![at as u64], "{kind:?} {delta}");
            let via_reader = scan_reader(&s, &data, 7919);
            assert_eq!(offsets(&via_reader), vec![at as u64], "{kind:?} {delta}");
            assert_eq!(
                (via_reader[0].line, via_reader[0].column),
                (1, at as u64 + 1)
            );
        }
    }
}

#[test]
fn reader_counts_lines_across_blocks_and_reuses_its_buffer() {
    let mut r = rng(8);
    let mut text = String::new();
    for i in 0..40_000 {
        text.push_str(&format!("line {i} filler text\n"));
        if i % 10_000 == 7 {
            text.push_str(&format!("key={}\n", tok(Kind::LegacyUser, &mut r)));
        }
    }
    assert!(text.len() > 2 * BLOCK);
    let s = scanner();
    let reference = s.scan(text.as_bytes());
    assert_eq!(reference.len(), 4);
    assert_eq!((reference[0].line, reference[0].column), (9, 5));
    let pos = |v: &[Hit]| {
        v.iter()
            .map(|h| (h.offset, h.line, h.column))
            .collect::<Vec<_>>()
    };
    let mut buf = Vec::new();
    for _ in 0..2 {
        let hits = s.scan_reader(text.as_bytes(), &mut buf).unwrap();
        assert_eq!(pos(&hits), pos(&reference));
    }
    // A short input after a long one: stale buffer bytes must not matter.
    assert!(s.scan_reader(&b"short"[..], &mut buf).unwrap().is_empty());
}

#[test]
fn long_runs_of_the_alphabets_cost_no_hits() {
    let s = scanner();
    assert!(s.scan(&vec![b'a'; 3 * BLOCK]).is_empty());
    assert!(s.scan(&b"JQQJ9".repeat(BLOCK / 2)).is_empty());
    assert!(s.scan(b"").is_empty());
    assert!(s.scan(b"JQQJ9").is_empty());
}

// ------------------------------------------------------------ reference

/// Brute force over every position: the definition the fast scanner must meet.
fn reference(hay: &[u8], signature: &[u8; 4]) -> Vec<u64> {
    let alnum = |c: u8| c.is_ascii_alphanumeric();
    let b32 = |c: u8| c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c);
    let mut out = Vec::new();
    for s in 0..hay.len() {
        let before = |f: &dyn Fn(u8) -> bool| s == 0 || !f(hay[s - 1]);
        let run = |f: &dyn Fn(u8) -> bool| hay[s..].iter().take_while(|&&c| f(c)).count();
        if before(&alnum) {
            let n = run(&alnum);
            let len = match n {
                84 => Some(84),
                86 if hay.get(s + 86..s + 88) == Some(b"==".as_slice()) => Some(88),
                _ => None,
            };
            if let Some(len) = len {
                let t = std::str::from_utf8(&hay[s..s + len]).unwrap();
                if hay[s + 76..s + 80].eq_ignore_ascii_case(signature)
                    && patrol_core::token::validate(t).is_ok()
                {
                    out.push(s as u64);
                }
            }
        }
        if before(&b32) && run(&b32) == 52 {
            let t = std::str::from_utf8(&hay[s..s + 52]).unwrap();
            if patrol_core::token::validate(t).is_ok() {
                out.push(s as u64);
            }
        }
    }
    out
}

/// Text made of pieces that stress the boundaries: valid tokens, corrupted
/// ones, runs of each alphabet of every length around 52/84/86, separators.
fn noisy(seed: u64, pieces: usize) -> Vec<u8> {
    noisy_counted(seed, pieces).0
}

/// [`noisy`] and the number of valid tokens written (glued to neighbours or not).
fn noisy_counted(seed: u64, pieces: usize) -> (Vec<u8>, usize) {
    let mut r = rng(seed);
    let mut out = Vec::new();
    let mut valid = 0;
    for _ in 0..pieces {
        match r.gen_range(0..10) {
            0 | 1 => {
                let kind = Kind::ALL[r.gen_range(0..Kind::ALL.len())];
                let t = tok(kind, &mut r);
                if r.gen_bool(0.3) {
                    out.extend(synth::corrupt(&t, &mut r).bytes());
                } else {
                    out.extend(t.bytes());
                    valid += 1;
                }
            }
            2 | 3 => {
                let n = r.gen_range(40..100);
                out.extend((0..n).map(|_| b"abcxyz2367"[r.gen_range(0..10)]));
            }
            4 => {
                let n = r.gen_range(1..100);
                out.extend((0..n).map(|_| b"AZaz09JQ"[r.gen_range(0..8)]));
            }
            5 => out.extend_from_slice(b"JQQJ99"),
            6 => out.extend_from_slice(b"=="),
            _ => out.push(b" \n=_-+/\"\x00\xff"[r.gen_range(0..10)]),
        }
    }
    (out, valid)
}

#[test]
fn noisy_inputs_exercise_found_and_glued_tokens() {
    // The property tests below are only as good as their inputs: check that
    // these contain both reported tokens and valid tokens glued to neighbours.
    let (mut reported, mut valid) = (0, 0);
    for seed in 0..20 {
        let (hay, n) = noisy_counted(seed, 300);
        reported += reference(&hay, b"AZDO").len();
        valid += n;
    }
    // Most valid tokens are reported, a good share are glued (not reported).
    assert!(reported > valid / 3, "{reported} of {valid}");
    assert!(reported < valid * 9 / 10, "{reported} of {valid}");
    let legacy = (0..20)
        .flat_map(|seed| scanner().scan(&noisy(seed, 300)))
        .filter(|h| h.format == TokenFormat::Legacy52)
        .count();
    assert!(legacy > 20, "{legacy}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn prop_matches_reference_scanner(seed in any::<u64>(), pieces in 1usize..400) {
        let hay = noisy(seed, pieces);
        let want = reference(&hay, b"AZDO");
        let got = scanner().scan(&hay);
        prop_assert_eq!(offsets(&got), want.clone());
        // Lines and columns against a naive count.
        for h in &got {
            let before = &hay[..h.offset as usize];
            let line = before.iter().filter(|&&c| c == b'\n').count() as u64 + 1;
            let col = before.iter().rev().take_while(|&&c| c != b'\n').count() as u64 + 1;
            prop_assert_eq!((h.line, h.column), (line, col));
        }
    }

    #[test]
    fn prop_reader_agrees_with_slice(seed in any::<u64>(), step in 1usize..5000) {
        // Large enough to cross block seams.
        let mut hay = noisy(seed, 300);
        let pad = BLOCK - hay.len() % BLOCK + (seed % 200) as usize;
        hay.splice(0..0, std::iter::repeat_n(b'z', pad));
        hay.extend(noisy(seed ^ 1, 300));
        let slice = scanner().scan(&hay);
        let read = scan_reader(&scanner(), &hay, step);
        let pos = |v: &[Hit]| v.iter().map(|h| (h.offset, h.line, h.column)).collect::<Vec<_>>();
        prop_assert_eq!(pos(&read), pos(&slice));
        prop_assert_eq!(offsets(&slice), reference(&hay, b"AZDO"));
    }
}
