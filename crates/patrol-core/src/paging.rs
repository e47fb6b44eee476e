//! The continuation token of the PAT list (`continuationToken`), as Azure
//! DevOps writes it: `base64("{row}-patapitoken")`, rows counted from 1, so
//! the token for "the next page starts at offset 20" is the base64 of
//! `21-patapitoken`.
//!
//! Pure text in, offset out: no I/O. Every `u64` offset round-trips
//! (`decode_continuation(&encode_continuation(n)) == Some(n)`).

use base64::Engine;

/// Longest token considered (after trimming blanks). The longest token
/// [`encode_continuation`] writes is 44 characters (the base64 of
/// `18446744073709551616-patapitoken`); anything beyond this is refused
/// without being decoded.
pub const MAX_CONTINUATION_BYTES: usize = 64;

const SUFFIX: &str = "patapitoken";

/// `base64("{next_offset + 1}-patapitoken")`.
pub fn encode_continuation(next_offset: u64) -> String {
    // u128: the row of offset u64::MAX is 2^64, which must not overflow.
    let row = u128::from(next_offset) + 1;
    base64::engine::general_purpose::STANDARD.encode(format!("{row}-{SUFFIX}"))
}

/// The offset a continuation token stands for. Empty (or blank) means the
/// first page. Accepts the token with or without its `=` padding; `None`
/// for anything that is not a token [`encode_continuation`] could have
/// written (bad base64, other text, row 0, a row past `u64::MAX + 1`, or
/// longer than [`MAX_CONTINUATION_BYTES`]).
pub fn decode_continuation(token: &str) -> Option<u64> {
    let t = token.trim();
    if t.is_empty() {
        return Some(0);
    }
    if t.len() > MAX_CONTINUATION_BYTES {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(t)
        .or_else(|_| {
            base64::engine::general_purpose::STANDARD_NO_PAD.decode(t.trim_end_matches('='))
        })
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (row, suffix) = text.split_once('-')?;
    if suffix != SUFFIX {
        return None;
    }
    let row: u128 = row.parse().ok()?;
    u64::try_from(row.checked_sub(1)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    #[test]
    fn wire_format() {
        assert_eq!(encode_continuation(20), "MjEtcGF0YXBpdG9rZW4=");
        assert_eq!(decode_continuation("MjEtcGF0YXBpdG9rZW4="), Some(20));
        assert_eq!(decode_continuation("MjEtcGF0YXBpdG9rZW4"), Some(20));
        assert_eq!(decode_continuation(" MjEtcGF0YXBpdG9rZW4=\t"), Some(20));
        assert_eq!(encode_continuation(0), STANDARD.encode("1-patapitoken"));
        assert_eq!(decode_continuation(""), Some(0));
        assert_eq!(decode_continuation("   "), Some(0));
    }

    #[test]
    fn refusals() {
        for bad in [
            "garbage!".to_owned(),
            STANDARD.encode("0-patapitoken"),
            STANDARD.encode("-patapitoken"),
            STANDARD.encode("21-patapitokens"),
            STANDARD.encode("21"),
            STANDARD.encode("x-patapitoken"),
            STANDARD.encode("18446744073709551617-patapitoken"),
            STANDARD.encode([0xff, b'-']),
        ] {
            assert_eq!(decode_continuation(&bad), None, "{bad}");
        }
    }

    #[test]
    fn extremes_round_trip() {
        // Found by the `continuation` fuzz target: the row of u64::MAX
        // overflowed (a panic in debug builds, a wrapped row 0 in release).
        for n in [0, 1, 19, 20, u64::from(u32::MAX), u64::MAX - 1, u64::MAX] {
            let t = encode_continuation(n);
            assert!(t.len() <= MAX_CONTINUATION_BYTES, "{t}");
            assert_eq!(decode_continuation(&t), Some(n), "{t}");
        }
        assert_eq!(
            encode_continuation(u64::MAX),
            STANDARD.encode("18446744073709551616-patapitoken")
        );
    }

    #[test]
    fn long_tokens_are_refused_before_decoding() {
        // Leading zeros keep the row valid, but the token is over the limit.
        let padded = STANDARD.encode(format!("{}21-patapitoken", "0".repeat(40)));
        assert!(padded.len() > MAX_CONTINUATION_BYTES);
        assert_eq!(decode_continuation(&padded), None);
        let short = STANDARD.encode("0021-patapitoken");
        assert_eq!(decode_continuation(&short), Some(20));
    }
}
