//! Marvin32, the keyed checksum used by Microsoft's identifiable secrets.
//!
//! A port of the reference algorithm (SymCrypt; `Marvin.Net5.cs` in
//! microsoft/security-utilities). All arithmetic wraps, so it cannot overflow
//! or panic on any input.

/// The 64-bit Marvin32 hash of `data` under `seed` (p0 = low 32 bits of the
/// seed, p1 = high 32 bits). The result is `(p1 << 32) | p0`.
#[inline]
pub fn marvin32(data: &[u8], seed: u64) -> u64 {
    let mut p0 = seed as u32;
    let mut p1 = (seed >> 32) as u32;

    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        p0 = p0.wrapping_add(w);
        block(&mut p0, &mut p1);
    }

    let tail: u32 = match *chunks.remainder() {
        [] => 0x80,
        [b0] => 0x8000 | u32::from(b0),
        [b0, b1] => 0x80_0000 | (u32::from(b1) << 8) | u32::from(b0),
        [b0, b1, b2, ..] => {
            0x8000_0000 | (u32::from(b2) << 16) | (u32::from(b1) << 8) | u32::from(b0)
        }
    };
    p0 = p0.wrapping_add(tail);
    block(&mut p0, &mut p1);
    block(&mut p0, &mut p1);

    (u64::from(p1) << 32) | u64::from(p0)
}

/// Marvin32 folded to 32 bits (`hi ^ lo`), as `Marvin.ComputeHash32` does.
#[inline]
pub fn checksum32(data: &[u8], seed: u64) -> u32 {
    let h = marvin32(data, seed);
    ((h >> 32) as u32) ^ (h as u32)
}

#[inline(always)]
fn block(p0: &mut u32, p1: &mut u32) {
    *p1 ^= *p0;
    *p0 = p0.rotate_left(20);
    *p0 = p0.wrapping_add(*p1);
    *p1 = p1.rotate_left(9);
    *p1 ^= *p0;
    *p0 = p0.rotate_left(27);
    *p0 = p0.wrapping_add(*p1);
    *p1 = p1.rotate_left(19);
}

#[cfg(test)]
mod tests {
    use super::*;

    // `docs/token-format.md` §1.4 (microsoft/security-utilities
    // `src/security_utilities_rust/src/marvin_tests.rs`, SymCrypt vectors).
    #[test]
    fn vector_abc() {
        assert_eq!(
            marvin32(b"abc", 0xd53c_d9ce_cd08_93b7),
            0x22c7_4339_4927_69bf
        );
    }

    #[test]
    fn vector_alphabet() {
        assert_eq!(
            marvin32(b"abcdefghijklmnopqrstuvwxyz", 0x0ddd_deee_efff_f000),
            0xa128_eb7e_7260_aca2
        );
    }

    #[test]
    fn vectors_short_tails() {
        let seed = 0x004f_b61a_001b_dbcc;
        assert_eq!(marvin32(&[], seed), 0x30ed_35c1_00cd_3c7d);
        assert_eq!(marvin32(&[175], seed), 0x48e7_3fc7_7d75_ddc1);
        assert_eq!(marvin32(&[231, 15], seed), 0xb5f6_e1fc_485d_bff8);
        assert_eq!(marvin32(&[55, 244, 149], seed), 0xf0b0_7c78_9b8c_f7e8);
    }

    #[test]
    fn checksum32_folds_hi_lo() {
        let seed = 0x004f_b61a_001b_dbcc;
        assert_eq!(checksum32(&[], seed), 0x30ed_35c1 ^ 0x00cd_3c7d);
    }

    #[test]
    fn no_overflow_on_extreme_inputs() {
        // All-ones data and seed exercise every wrapping add.
        let data = [0xFFu8; 67];
        for len in 0..data.len() {
            let _ = marvin32(&data[..len], u64::MAX);
        }
    }
}
