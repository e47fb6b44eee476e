//! The two detectors over one window of input: `memmem` for the 84/88-char
//! keys, `legacy::candidates` for legacy PATs. Both only propose candidates with
//! the right shape and boundaries; `patrol_core::token::validate` decides.

use memchr::memmem;
use patrol_core::secret::PatSecret;
use patrol_core::token::{self, ProviderSignature, CASK_LEN, CASK_LONG_LEN, LEGACY_LEN};

use crate::{Formats, Hit, ScanConfig};

/// The fixed core signature `JQQJ` and version `9` (characters 52..57).
const CORE: &[u8] = b"JQQJ9";
const CORE_OFFSET: usize = 52;
/// Alphanumeric characters of the long form before its `==`.
const LONG_ALNUM: usize = CASK_LONG_LEN - 2;

/// `[A-Za-z0-9]`: the 84/88-char keys' alphabet, and what glues a word.
#[inline(always)]
fn alnum(c: u8) -> bool {
    c.is_ascii_alphanumeric()
}

pub(crate) struct Detector {
    cask: Option<memmem::Finder<'static>>,
    legacy: bool,
    signatures: Vec<ProviderSignature>,
}

impl Detector {
    pub(crate) fn new(config: &ScanConfig) -> Self {
        let cask = !matches!(config.formats, Formats::Legacy) && !config.signatures.is_empty();
        Self {
            cask: cask.then(|| memmem::Finder::new(CORE).into_owned()),
            legacy: !matches!(config.formats, Formats::Cask),
            signatures: config.signatures.clone(),
        }
    }

    /// Appends to `out`, in offset order, the tokens of `hay` that start
    /// before `limit`. `prev` is the byte before `hay[0]` (`None`: start of
    /// input); the end of `hay` counts as the end of input, so a caller that
    /// has more input must keep `limit` at least [`OVERLAP`] before it.
    /// `base` is the offset of `hay[0]` in the whole input.
    pub(crate) fn scan_window(
        &self,
        hay: &[u8],
        prev: Option<u8>,
        limit: usize,
        base: u64,
        out: &mut Vec<Hit>,
    ) {
        let first = out.len();
        let mut emit = |start: usize, len: usize| {
            if let Some(hit) = validated(hay, start, len, base) {
                out.push(hit);
            }
        };
        if let Some(finder) = &self.cask {
            self.cask_candidates(finder, hay, prev, limit, &mut emit);
        }
        if self.legacy {
            crate::legacy::candidates(hay, prev, limit, &mut emit);
        }
        if self.cask.is_some() && self.legacy && out.len() - first > 1 {
            out[first..].sort_by_key(|h| h.offset);
        }
    }

    fn cask_candidates(
        &self,
        finder: &memmem::Finder<'_>,
        hay: &[u8],
        prev: Option<u8>,
        limit: usize,
        emit: &mut impl FnMut(usize, usize),
    ) {
        for core in finder.find_iter(hay) {
            let Some(start) = core.checked_sub(CORE_OFFSET) else {
                continue;
            };
            if start >= limit {
                break;
            }
            let before = if start == 0 {
                prev
            } else {
                hay.get(start - 1).copied()
            };
            if before.is_some_and(alnum) {
                continue;
            }
            let Some(len) = cask_length(hay, start) else {
                continue;
            };
            let signature = hay.get(start + 76..start + 80).unwrap_or_default();
            if self.signatures.iter().any(|s| s.matches(signature)) {
                emit(start, len);
            }
        }
    }
}

/// Bytes a caller must keep after `limit`: the longest token plus the byte
/// after it, so every token starting before `limit` is seen whole with its
/// right-hand boundary.
pub(crate) const OVERLAP: usize = 128;
const _: () = assert!(OVERLAP > CASK_LONG_LEN + 1 && OVERLAP > LEGACY_LEN + 1);

/// The token length at `start` (84 or 88) if the alphanumeric run starting
/// there is exactly 84 characters, or exactly 86 followed by `==`.
#[inline]
fn cask_length(hay: &[u8], start: usize) -> Option<usize> {
    let window = hay.get(start..)?;
    let run = window
        .iter()
        .take(LONG_ALNUM + 1)
        .take_while(|&&c| alnum(c))
        .count();
    match run {
        CASK_LEN => Some(CASK_LEN),
        LONG_ALNUM if window.get(LONG_ALNUM..CASK_LONG_LEN) == Some(b"==".as_slice()) => {
            Some(CASK_LONG_LEN)
        }
        _ => None,
    }
}

/// The hit at `hay[start..start + len]` if the token library accepts it.
fn validated(hay: &[u8], start: usize, len: usize, base: u64) -> Option<Hit> {
    let text = std::str::from_utf8(hay.get(start..start + len)?).ok()?;
    let info = token::validate(text).ok()?;
    Some(Hit {
        offset: base + start as u64,
        line: 0,
        column: 0,
        format: info.format,
        checksum: info.checksum,
        signature: info.signature,
        secret: PatSecret::new(text.to_owned()),
    })
}
