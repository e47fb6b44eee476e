//! Legacy candidates: maximal runs of exactly 52 `[a-z2-7]` bytes. There is
//! no fixed byte to search for, so every byte is classified — 8 at a time
//! with SWAR arithmetic on `u64`s, then packed into one bit per byte — and
//! runs of 52 set bits are found with shifts on a 128-bit window (the
//! previous 64 bytes and the current 64). In text such runs hardly ever
//! exist, so the loop is branch-free arithmetic almost all of the time.
//!
//! Measured on the benchmark corpus (`bench/scan.sh`), this is several times
//! faster than sampling every 52nd byte and scanning around the samples that
//! fall in the alphabet: in text most samples do, and the short scans around
//! them mispredict.

use patrol_core::token::LEGACY_LEN;

const L: usize = LEGACY_LEN;
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// High bit of each byte set where `lo <= byte <= hi` (both ASCII).
#[inline(always)]
fn in_range(low7: u64, lo: u8, hi: u8) -> u64 {
    let ge_lo = low7.wrapping_add(u64::from(0x80 - lo) * ONES);
    let gt_hi = low7.wrapping_add(u64::from(0x7F - hi) * ONES);
    ge_lo & !gt_hi
}

/// High bit of each byte of `word` set where that byte is in `[a-z2-7]`.
#[inline(always)]
fn class_high_bits(word: u64) -> u64 {
    let low7 = word & !HIGH; // no carries between bytes below
    (in_range(low7, b'a', b'z') | in_range(low7, b'2', b'7')) & !word & HIGH
}

/// `[a-z2-7]` for single bytes.
#[inline(always)]
pub(crate) fn base32(c: u8) -> bool {
    c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c)
}

#[inline(always)]
fn load(hay: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(s) = hay.get(at..at + 8) {
        b.copy_from_slice(s);
    }
    u64::from_le_bytes(b)
}

/// Sample width and stride: every run of 52 contains one whole sample,
/// because `STRIDE + SAMPLE - 1 <= 52`.
const SAMPLE: usize = 16;
const STRIDE: usize = L + 1 - SAMPLE;

/// Calls `emit(start, 52)` for each maximal 52-byte run of `hay` starting
/// before `limit`. `prev` is the byte before `hay` (`None`: start of input).
pub(crate) fn candidates(
    hay: &[u8],
    prev: Option<u8>,
    limit: usize,
    emit: &mut impl FnMut(usize, usize),
) {
    let len = hay.len();
    let mut p = 0usize;
    while p + SAMPLE <= len {
        let whole = class_high_bits(load(hay, p)) & class_high_bits(load(hay, p + 8));
        if whole != HIGH {
            p += STRIDE; // the common case: no 16-byte run here
            continue;
        }
        // Rare: find the maximal run around the sample.
        let back = hay[..p]
            .iter()
            .rev()
            .take(L)
            .take_while(|&&c| base32(c))
            .count();
        let a = p - back;
        let ahead = hay
            .get(p + SAMPLE..)
            .unwrap_or_default()
            .iter()
            .take_while(|&&c| base32(c))
            .count();
        let b = p + SAMPLE + ahead;
        let open_left = a == 0 && prev.is_some_and(base32);
        if b - a == L && !open_left {
            if a >= limit {
                return;
            }
            emit(a, L);
        }
        // Later runs start after `b`: continue at the first sample past it.
        p += STRIDE * ((b - p) / STRIDE + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_bits_agree_with_base32_for_every_byte() {
        for c in 0..=255u8 {
            for lane in 0..8 {
                for fill in [b'!', b'a', 0xFF, 0x7F, 0x80] {
                    let mut b = [fill; 8];
                    b[lane] = c;
                    let bits = class_high_bits(u64::from_le_bytes(b)) & (0x80 << (8 * lane));
                    let want = if base32(c) { 0x80 << (8 * lane) } else { 0 };
                    assert_eq!(bits, want, "byte {c:#x} lane {lane} fill {fill:#x}");
                }
            }
        }
        assert_eq!(class_high_bits(u64::from_le_bytes(*b"az27qbmx")), HIGH);
        assert_eq!(class_high_bits(u64::from_le_bytes(*b"AZ0189{`")), 0);
    }
}
