//! Legacy candidates: maximal runs of exactly 52 `[a-z2-7]` bytes. There is
//! no fixed byte to search for, so the input is sampled: 16 bytes at offsets
//! 0, 37, 74, … Any 52-byte run contains one whole sample (37 + 16 − 1 = 52),
//! so only where a sample lies wholly in the alphabet can a run be there; the
//! sample is classified 8 bytes at a time with SWAR arithmetic on `u64`s. In
//! text almost no sample does (words are shorter than 16 letters), and most
//! already fail on their first 8 bytes, so the loop costs about one load and
//! a dozen integer operations per 37 bytes; the rare whole samples are
//! measured byte by byte.
//!
//! Measured on the benchmark corpus (`bench/scan.sh`), one thread, in memory:
//! ≈ 4–6 GB/s; 8-byte samples every 45 bytes ≈ 2.5 GB/s (too many long words
//! pass); one bit per byte with 52-run detection by shifts ≈ 1.8 GB/s;
//! sampling single bytes every 52 and scanning around those in the alphabet
//! ≈ 1.1 GB/s (most do, and the short scans mispredict).

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
fn word(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(bytes);
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
    let mut p = 0usize;
    while let Some(sample) = hay.get(p..p + SAMPLE) {
        let (lo, hi) = sample.split_at(8);
        if class_high_bits(word(hi)) != HIGH || class_high_bits(word(lo)) != HIGH {
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
