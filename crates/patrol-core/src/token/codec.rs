//! Character tables and the two checksum encodings (`docs/token-format.md` §1.2).
//!
//! Everything here works on bytes and fixed-size arrays; nothing allocates and
//! nothing can panic.

/// The standard base64 alphabet (RFC 4648 §4).
pub(crate) const B64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The base62 alphabet used by Base62.Net (`0-9A-Za-z`).
pub(crate) const B62_ALPHABET: &[u8; 62] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Marker for "not an alphanumeric base64 character".
pub(crate) const INVALID: u8 = 0xFF;

/// Base64 6-bit value of every byte that is an ASCII alphanumeric; `INVALID`
/// for everything else, including `+`, `/`, `=`, and all non-ASCII bytes.
pub(crate) static ALNUM_B64_VALUE: [u8; 256] = build_alnum_b64_table();

const fn build_alnum_b64_table() -> [u8; 256] {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < 62 {
        t[B64_ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
}

/// The 6-bit base64 value of an alphanumeric byte, or `INVALID`.
#[inline(always)]
pub(crate) fn b64_value(b: u8) -> u8 {
    ALNUM_B64_VALUE[b as usize]
}

/// The base64 character for a 6-bit value (the value is masked to 6 bits).
#[inline(always)]
pub(crate) fn b64_char(v: u8) -> u8 {
    B64_ALPHABET[(v & 0x3F) as usize]
}

/// Base64-encodes `N*3` bytes into `N*4` characters.
pub(crate) fn b64_encode_into(bytes: &[u8], out: &mut [u8]) {
    for (src, dst) in bytes.chunks_exact(3).zip(out.chunks_exact_mut(4)) {
        let n = (u32::from(src[0]) << 16) | (u32::from(src[1]) << 8) | u32::from(src[2]);
        dst[0] = b64_char((n >> 18) as u8);
        dst[1] = b64_char((n >> 12) as u8);
        dst[2] = b64_char((n >> 6) as u8);
        dst[3] = b64_char(n as u8);
    }
}

/// The 6-character base62 checksum text of §1.2 (already canonicalised the way
/// `GetBase62EncodedChecksum` does it). The 84-char form keeps the first 4
/// characters, the 88-char form all 6 (followed by `==`).
///
/// Steps: the checksum's little-endian bytes are read as a big-endian integer;
/// Base62.Net emits one `'0'` per leading zero byte (at most 3), then the
/// integer's digits; the text is right-padded with `'0'` to 6 characters; the
/// result is base64-decoded and re-encoded as `xxxxxx==`, which clears the low
/// 4 bits of the sixth character.
#[inline]
pub(crate) fn base62_checksum_text(checksum: u32) -> [u8; 6] {
    let le = checksum.to_le_bytes();
    let value = u32::from_be_bytes(le);
    let leading_zero_bytes = (value.leading_zeros() / 8).min(3) as usize;

    // Digits, least significant first. A u32 has at most 6 base62 digits.
    let mut digits = [0u8; 6];
    let mut n_digits = 0usize;
    let mut x = value;
    for slot in digits.iter_mut() {
        *slot = (x % 62) as u8;
        n_digits += 1;
        x /= 62;
        if x == 0 {
            break;
        }
    }

    let mut out = [b'0'; 6];
    // Total length is at most 6 (see the unit test), so this never truncates.
    let most_significant_first = digits.iter().take(n_digits).rev();
    for (slot, &d) in out
        .iter_mut()
        .skip(leading_zero_bytes)
        .zip(most_significant_first)
    {
        *slot = B62_ALPHABET[d as usize % 62];
    }

    // Base64 round trip of "xxxxxx==": only the top 2 bits of the 6th char survive.
    out[5] = b64_char(b64_value(out[5]) & 0x30);
    out
}

/// The raw (pre-v1.7.0) checksum text: base64 of the 4 little-endian checksum
/// bytes without its `==`. The first 4 characters are base64 of the first 3
/// bytes (the 84-char form); all 6 are the 88-char form. May contain `+`/`/`.
#[inline]
pub(crate) fn raw_checksum_text(checksum: u32) -> [u8; 6] {
    let [c0, c1, c2, c3] = checksum.to_le_bytes();
    [
        b64_char(c0 >> 2),
        b64_char(((c0 & 0x03) << 4) | (c1 >> 4)),
        b64_char(((c1 & 0x0F) << 2) | (c2 >> 6)),
        b64_char(c2),
        b64_char(c3 >> 2),
        b64_char((c3 & 0x03) << 4),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_alphabet() {
        for (i, &c) in B64_ALPHABET.iter().enumerate().take(62) {
            assert_eq!(b64_value(c) as usize, i);
        }
        for c in [b'+', b'/', b'=', b'-', b'_', b' ', 0, 0x80, 0xFF] {
            assert_eq!(b64_value(c), INVALID);
        }
        let alnum = (0u8..=255).filter(|b| b.is_ascii_alphanumeric()).count();
        let valid = (0u8..=255).filter(|&b| b64_value(b) != INVALID).count();
        assert_eq!(alnum, 62);
        assert_eq!(valid, 62);
    }

    #[test]
    fn spec_vector_base62_and_raw() {
        // §1.4: Marvin32 = 0x0a58c136 -> base62 "10AWOg", raw "NsFY".
        assert_eq!(&base62_checksum_text(0x0a58_c136), b"10AWOg");
        assert_eq!(&raw_checksum_text(0x0a58_c136)[..4], b"NsFY");
    }

    #[test]
    fn leading_zero_bytes_and_zero() {
        // LE bytes 00 00 00 00 -> "0000" padded -> "000000" -> 6th char canonicalised.
        let t = base62_checksum_text(0);
        assert_eq!(&t[..5], b"00000");
        assert_eq!(t[5], b'w'); // '0' = 52 = 0b110100 -> 0b110000 = 48 = 'w'
                                // LE bytes 00 00 00 05 -> BE value 5 with 3 leading zero bytes -> "0005".
        let t = base62_checksum_text(0x0500_0000);
        assert_eq!(&t[..4], b"0005");
        // LE bytes 00 01 00 00 -> BE value 0x00010000 = 65536 -> "0" + "H32".
        let t = base62_checksum_text(0x0000_0100);
        assert_eq!(&t[..4], b"0H32");
    }

    #[test]
    fn never_exceeds_six_characters() {
        // Worst cases for each leading-zero count.
        for v in [
            u32::MAX,
            0x00FF_FFFF,
            0x0000_FFFF,
            0x0000_00FF,
            0x00E1_7A8F, // just below 62^4 * ... around the 5-digit boundary
            62u32.pow(4),
            62u32.pow(4) - 1,
            62u32.pow(5),
            62u32.pow(5) - 1,
        ] {
            let ck = u32::from_be_bytes(v.to_le_bytes());
            let lz = (v.leading_zeros() / 8).min(3);
            let mut digits = 0;
            let mut x = v;
            loop {
                digits += 1;
                x /= 62;
                if x == 0 {
                    break;
                }
            }
            assert!(lz + digits <= 6, "v={v:#x}");
            let _ = base62_checksum_text(ck);
        }
    }
}
