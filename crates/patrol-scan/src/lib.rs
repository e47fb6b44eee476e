#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
//! Finds Patrol tokens in bytes: 84-character identifiable keys with any
//! configured provider signature (both checksum encodings), the 88-character
//! long form, and legacy 52-character base32 PATs. Every candidate is
//! validated by `patrol_core::token::validate` (Marvin32 or CRC32), so
//! look-alikes are never reported. Format: `docs/token-format.md`.
//!
//! # Word boundaries
//!
//! A token is reported only where it stands as a whole word of its own
//! alphabet, the rule of Microsoft's own detectors:
//!
//! * 84/88-char keys: the 84 (or 86) alphanumeric characters are a maximal
//!   run of `[A-Za-z0-9]` — the byte before and the byte after are not ASCII
//!   letters or digits (or are the start/end of input). The long form is the
//!   86-character run followed by `==`. (SEC101/200's `(^|[^A-Za-z0-9])`
//!   prefix, applied on both sides.) `_`, `-`, `+`, `/`, `=`, quotes, `:`,
//!   `@` and whitespace all separate, so `PAT_<key>`, `"<key>"` and
//!   `https://user:<key>@host` are found.
//! * Legacy 52-char PATs: a maximal run of `[a-z2-7]` of exactly 52
//!   characters (SEC101/102's `(?:[^2-7a-z]|^)…(?:[^2-7a-z]|$)`), so an
//!   uppercase letter or one of `0 1 8 9` also separates.
//!
//! A valid token glued to more characters of its alphabet is therefore not
//! reported: it is part of a longer string, not a token.
//!
//! # Speed
//!
//! 84/88-char keys: `memmem` for the fixed core signature `JQQJ9` (common to
//! every provider signature), then structure, signature and checksum around
//! each hit. Legacy PATs have no fixed bytes: the `legacy` module samples 16
//! bytes every 37 (any 52-byte run contains a whole sample), classifies them
//! 8 at a time with integer arithmetic (SWAR), and looks closer only where a
//! whole sample is in the alphabet. Input is processed in blocks that stay in
//! the CPU cache while both passes and the line count run over them.

mod detect;
mod legacy;
mod lines;
mod stream;
pub mod synth;

#[cfg(test)]
mod tests;

use std::fmt;

use patrol_core::secret::PatSecret;
use patrol_core::token::{ChecksumEncoding, ProviderSignature, TokenFormat};
use sha2::{Digest, Sha256};

/// Which token families to look for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Formats {
    /// 84/88-char keys and legacy 52-char PATs.
    #[default]
    All,
    /// 84/88-char keys only.
    Cask,
    /// Legacy 52-char PATs only.
    Legacy,
}

/// What a [`Scanner`] looks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanConfig {
    /// Provider signatures (characters 76..80) that mark a Patrol key,
    /// compared case-insensitively. Default: `AZDO`.
    pub signatures: Vec<ProviderSignature>,
    pub formats: Formats,
}

impl Default for ScanConfig {
    fn default() -> Self {
        Self {
            signatures: vec![ProviderSignature::DEFAULT],
            formats: Formats::All,
        }
    }
}

/// One checksum-valid token found in the input.
#[derive(Clone)]
pub struct Hit {
    /// Byte offset of the token's first character.
    pub offset: u64,
    /// 1-based line (lines end with `\n`).
    pub line: u64,
    /// 1-based byte column.
    pub column: u64,
    pub format: TokenFormat,
    pub checksum: ChecksumEncoding,
    /// Characters 76..80 as written (84/88-char keys only).
    pub signature: Option<String>,
    secret: PatSecret,
}

impl Hit {
    /// The full token. Never print it: use [`Hit::redacted`].
    pub fn secret(&self) -> &PatSecret {
        &self.secret
    }

    /// Length of the token in bytes (84, 88 or 52).
    pub fn len(&self) -> usize {
        self.secret.expose().len()
    }

    /// Always false: a hit is a whole token.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// A form safe to print: the first 4 random characters, then for 84/88-char
    /// keys the fixed non-secret fields (`JQQJ99`, date, signature), e.g.
    /// `Synt…JQQJ99BF…AZDO`, and for legacy PATs `abcd…(52)`. The rest of the
    /// random part and the checksum are never shown.
    pub fn redacted(&self) -> String {
        redact(self.secret.expose(), self.format)
    }

    /// `sha256:` and the first 16 hex digits of SHA-256 of the token: tells
    /// hits of the same token apart without revealing it.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.secret.expose().as_bytes());
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }
}

impl fmt::Debug for Hit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hit")
            .field("offset", &self.offset)
            .field("line", &self.line)
            .field("column", &self.column)
            .field("format", &self.format)
            .field("checksum", &self.checksum)
            .field("signature", &self.signature)
            .field("redacted", &self.redacted())
            .finish()
    }
}

fn redact(token: &str, format: TokenFormat) -> String {
    let head = token.get(..4).unwrap_or_default();
    match format {
        TokenFormat::Cask84 | TokenFormat::Cask88 => {
            let fixed = token.get(52..60).unwrap_or_default();
            let signature = token.get(76..80).unwrap_or_default();
            format!("{head}…{fixed}…{signature}")
        }
        TokenFormat::Legacy52 => format!("{head}…({})", token.len()),
    }
}

/// `cask-84`, `cask-88` or `legacy-52` (the names `patrol token inspect` uses).
pub fn format_name(format: TokenFormat) -> &'static str {
    match format {
        TokenFormat::Cask84 => "cask-84",
        TokenFormat::Cask88 => "cask-88",
        TokenFormat::Legacy52 => "legacy-52",
    }
}

/// `marvin32-base62`, `marvin32-raw-base64`, `crc32-user` or `crc32-app`.
pub fn checksum_name(checksum: ChecksumEncoding) -> &'static str {
    match checksum {
        ChecksumEncoding::Base62 => "marvin32-base62",
        ChecksumEncoding::RawBase64 => "marvin32-raw-base64",
        ChecksumEncoding::Crc32User => "crc32-user",
        ChecksumEncoding::Crc32App => "crc32-app",
    }
}

/// Finds tokens. Cheap to share between threads (`Sync`); build it once.
pub struct Scanner {
    detector: detect::Detector,
}

impl Scanner {
    pub fn new(config: &ScanConfig) -> Self {
        Self {
            detector: detect::Detector::new(config),
        }
    }

    /// Every token in `hay`, in order, with line and column.
    pub fn scan(&self, hay: &[u8]) -> Vec<Hit> {
        let mut hits = Vec::new();
        stream::scan_slice(&self.detector, hay, &mut hits);
        lines::locate_in(hay, &mut hits);
        hits
    }

    /// Every token read from `reader`, in order, with line and column,
    /// reading through `buf` (keep it between calls to reuse its allocation).
    /// Memory use is one block, whatever the input's size.
    pub fn scan_reader<R: std::io::Read>(
        &self,
        reader: R,
        buf: &mut Vec<u8>,
    ) -> std::io::Result<Vec<Hit>> {
        stream::scan_reader(&self.detector, reader, buf, |_| false).map(Option::unwrap_or_default)
    }

    /// [`Scanner::scan_reader`], but first shows `skip` the first block of
    /// input (up to 256 KiB, less only if the input is shorter); if it
    /// returns true, stops there and returns `None` — e.g. for binary files.
    pub fn scan_reader_unless<R: std::io::Read>(
        &self,
        reader: R,
        buf: &mut Vec<u8>,
        skip: impl FnOnce(&[u8]) -> bool,
    ) -> std::io::Result<Option<Vec<Hit>>> {
        stream::scan_reader(&self.detector, reader, buf, skip)
    }
}
