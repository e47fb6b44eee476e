//! Input in blocks: each window is `BLOCK` bytes plus [`OVERLAP`] of
//! look-ahead; tokens starting in the block are reported from that window,
//! tokens starting in the overlap from the next one (which begins with them).
//! A block is small enough to stay in the CPU cache while both detectors run
//! over it, and a reader never needs more than one window of memory.

use std::io::{self, Read};

use crate::detect::{Detector, OVERLAP};
use crate::lines::Lines;
use crate::Hit;

/// Block size: measured on the benchmark corpus (`bench/scan.sh`); large
/// enough that per-read costs vanish, small enough for L2.
pub(crate) const BLOCK: usize = 256 * 1024;

/// Scans a whole slice (offsets relative to its start).
pub(crate) fn scan_slice(detector: &Detector, hay: &[u8], out: &mut Vec<Hit>) {
    let mut start = 0usize;
    loop {
        let end = hay.len().min(start + BLOCK + OVERLAP);
        let window = hay.get(start..end).unwrap_or_default();
        let prev = start.checked_sub(1).and_then(|i| hay.get(i)).copied();
        if end == hay.len() {
            detector.scan_window(window, prev, window.len(), start as u64, out);
            return;
        }
        detector.scan_window(window, prev, BLOCK, start as u64, out);
        start += BLOCK;
    }
}

/// Scans everything `reader` yields; see [`crate::Scanner::scan_reader_unless`].
///
/// `buf` holds `OVERLAP` bytes carried over from the previous window, then
/// one `BLOCK` of fresh input: every read asks for exactly `BLOCK` bytes, so
/// reads from a file stay aligned to its pages.
pub(crate) fn scan_reader<R: Read>(
    detector: &Detector,
    mut reader: R,
    buf: &mut Vec<u8>,
    skip: impl FnOnce(&[u8]) -> bool,
) -> io::Result<Option<Vec<Hit>>> {
    let cap = OVERLAP + BLOCK;
    if buf.len() != cap {
        buf.resize(cap, 0);
    }
    let mut skip = Some(skip);
    let mut hits = Vec::new();
    let mut lines = Lines::default();
    let mut start = OVERLAP; // where the window begins in `buf`: nothing carried yet
    let mut base = 0u64; // input offset of `buf[start]`
    let mut prev = None;
    loop {
        let mut filled = OVERLAP;
        let eof = fill(&mut reader, buf, &mut filled)?;
        let window = buf.get(start..filled).unwrap_or_default();
        if skip.take().is_some_and(|skip| skip(window)) {
            return Ok(None);
        }
        // Not at the end: tokens starting in the last OVERLAP bytes are
        // reported from the next window, which begins with those bytes.
        let limit = if eof {
            window.len()
        } else {
            window.len() - OVERLAP
        };
        let first = hits.len();
        detector.scan_window(window, prev, limit, base, &mut hits);
        let block = window.get(..limit).unwrap_or_default();
        // The last window is counted only up to its last hit: a file that
        // fits in one window and has no hit (most files) counts nothing.
        lines.locate_block(block, base, hits.get_mut(first..).unwrap_or_default(), eof);
        if eof {
            return Ok(Some(hits));
        }
        prev = block.last().copied();
        buf.copy_within(filled - OVERLAP..filled, 0);
        base += limit as u64;
        start = 0;
    }
}

/// Reads until `buf` is full (false) or the reader is exhausted (true).
fn fill<R: Read>(reader: &mut R, buf: &mut [u8], filled: &mut usize) -> io::Result<bool> {
    while *filled < buf.len() {
        match reader.read(buf.get_mut(*filled..).unwrap_or_default()) {
            Ok(0) => return Ok(true),
            Ok(n) => *filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}
