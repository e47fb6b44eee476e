//! The continuation token of the PAT list (`continuationToken`), as Azure
//! DevOps writes it: `base64("{row}-patapitoken")`, rows counted from 1
//! (`docs/ado-wire-contract.md` §4.4), so the token for "the next page starts
//! at offset 20" is the base64 of `21-patapitoken`; and the exact pattern the
//! OpenAPI document gives for them.
//!
//! Pure text in, offset out: no I/O. Every offset up to
//! [`MAX_CONTINUATION_OFFSET`] round-trips
//! (`decode_continuation(&encode_continuation(n)) == Some(n)`).

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;

/// The most digits a row may have: every such number fits a `u64`.
const MAX_ROW_DIGITS: usize = 19;

/// The largest offset a token can name: the row `9…9` (19 digits) minus one.
/// [`encode_continuation`] of a larger offset writes a token
/// [`decode_continuation`] refuses; no list has that many rows.
pub const MAX_CONTINUATION_OFFSET: u64 = 9_999_999_999_999_999_998;

/// The longest token [`decode_continuation`] accepts: the padded base64 of a
/// 19-digit row and `-patapitoken` (31 bytes). Longer text is refused before
/// it is decoded.
pub const MAX_CONTINUATION_BYTES: usize = 44;

/// `base64("{row}-patapitoken")`, rows counted from 1. Never panics; past
/// [`MAX_CONTINUATION_OFFSET`] the token does not decode.
pub fn encode_continuation(next_offset: u64) -> String {
    STANDARD.encode(format!("{}-patapitoken", next_offset.saturating_add(1)))
}

/// The offset a token names; empty means the first page. The token is
/// standard base64, with its canonical padding or none, of `{row}-patapitoken`
/// where the row is 1 to 19 digits without a leading zero. Nothing else.
pub fn decode_continuation(token: &str) -> Option<u64> {
    if token.is_empty() {
        return Some(0);
    }
    if token.len() > MAX_CONTINUATION_BYTES {
        return None;
    }
    let raw = if token.ends_with('=') {
        STANDARD.decode(token)
    } else {
        STANDARD_NO_PAD.decode(token)
    }
    .ok()?;
    let row = raw.strip_suffix(b"-patapitoken")?;
    let canonical = matches!(row.first(), Some(b'1'..=b'9'))
        && row.len() <= MAX_ROW_DIGITS
        && row.iter().all(u8::is_ascii_digit);
    if !canonical {
        return None;
    }
    let row: u64 = std::str::from_utf8(row).ok()?.parse().ok()?;
    row.checked_sub(1)
}

/// Every token [`decode_continuation`] accepts, and nothing else, as a regular
/// expression (the OpenAPI `pattern` of `continuationToken`; empty is
/// documented separately).
///
/// Base64 turns each 3 bytes into 4 characters: the first takes the top 6
/// bits of byte 1; the second its low 2 bits and the top 4 of byte 2; the
/// third the low 4 of byte 2 and the top 2 of byte 3; the fourth the low 6 of
/// byte 3. A digit (`0x30`–`0x39`) has top 4 bits `0011` and top 2 bits `00`,
/// so within a group only the first two characters depend on each other:
///
/// * 3 digits: `([MN][DTjz]|O[DT])[AEIMQUYcgk][w-z0-5]` — the first digit of a
///   row is not `0`, which takes `MD` out of its first group;
/// * digit, `-`, `p`: `([MN][CSiy]|O[CS])1w`;
/// * digit, digit, `-`: `([MN][DTjz]|O[DT])[AEIMQUYcgk]t`.
///
/// The rest of `-patapitoken` then encodes to one of three fixed tails, by
/// the number of digits modulo 3.
pub const CONTINUATION_PATTERN: &str = concat!(
    "^(",
    // 3, 6, …, 18 digits, then "-patapitoken" from a group boundary.
    "(M[Tjz]|N[DTjz]|O[DT])[AEIMQUYcgk][w-z0-5]",
    "(([MN][DTjz]|O[DT])[AEIMQUYcgk][w-z0-5]){0,5}",
    "LXBhdGFwaXRva2Vu",
    // 1, 4, …, 19 digits: the last one shares its group with "-p".
    "|((M[Siy]|N[CSiy]|O[CS])1w",
    "|(M[Tjz]|N[DTjz]|O[DT])[AEIMQUYcgk][w-z0-5]",
    "(([MN][DTjz]|O[DT])[AEIMQUYcgk][w-z0-5]){0,5}",
    "([MN][CSiy]|O[CS])1w)",
    "YXRhcGl0b2tlbg(==)?",
    // 2, 5, …, 17 digits: the last two share their group with "-".
    "|((M[Tjz]|N[DTjz]|O[DT])[AEIMQUYcgk]t",
    "|(M[Tjz]|N[DTjz]|O[DT])[AEIMQUYcgk][w-z0-5]",
    "(([MN][DTjz]|O[DT])[AEIMQUYcgk][w-z0-5]){0,4}",
    "([MN][DTjz]|O[DT])[AEIMQUYcgk]t)",
    "cGF0YXBpdG9rZW4=?",
    ")$"
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pattern() -> regex::Regex {
        regex::Regex::new(CONTINUATION_PATTERN).unwrap()
    }

    #[test]
    fn continuation_tokens() {
        assert_eq!(encode_continuation(20), "MjEtcGF0YXBpdG9rZW4=");
        assert_eq!(decode_continuation("MjEtcGF0YXBpdG9rZW4="), Some(20));
        assert_eq!(decode_continuation("MjEtcGF0YXBpdG9rZW4"), Some(20));
        assert_eq!(decode_continuation(""), Some(0));
        assert_eq!(decode_continuation("garbage!"), None);
        for refused in [
            "0-patapitoken",
            "00-patapitoken",
            "021-patapitoken",
            "+21-patapitoken",
            "-patapitoken",
            "21-patapitokens",
            "12345678901234567890-patapitoken",
        ] {
            let token = STANDARD.encode(refused);
            assert_eq!(decode_continuation(&token), None, "{refused}");
            assert!(!pattern().is_match(&token), "{refused}");
        }
        for bad_padding in [
            "MjEtcGF0YXBpdG9rZW4==",
            " MjEtcGF0YXBpdG9rZW4=",
            "MjEtcGF0YXBpdG9rZW4= ",
        ] {
            assert_eq!(decode_continuation(bad_padding), None, "{bad_padding:?}");
            assert!(!pattern().is_match(bad_padding), "{bad_padding:?}");
        }
        let largest = "9".repeat(MAX_ROW_DIGITS).parse::<u64>().unwrap();
        let token = encode_continuation(largest - 1);
        assert_eq!(decode_continuation(&token), Some(largest - 1));
        assert!(pattern().is_match(&token));
    }

    #[test]
    fn every_row_length_and_padding_matches_the_pattern() {
        for digits in 1..=MAX_ROW_DIGITS {
            for first in 1..=9u64 {
                for fill in ['0', '5', '9'] {
                    let row: u64 = format!("{first}{}", fill.to_string().repeat(digits - 1))
                        .parse()
                        .unwrap();
                    let padded = encode_continuation(row - 1);
                    let bare = padded.trim_end_matches('=');
                    for token in [padded.as_str(), bare] {
                        assert_eq!(decode_continuation(token), Some(row - 1), "{token}");
                        assert!(pattern().is_match(token), "{row}: {token}");
                    }
                }
            }
        }
    }

    #[test]
    fn extremes() {
        // The `continuation` fuzz target found the row of u64::MAX
        // overflowing (`offset + 1`); encoding saturates now, and the offsets
        // a token can name end at MAX_CONTINUATION_OFFSET.
        let t = encode_continuation(MAX_CONTINUATION_OFFSET);
        assert_eq!(t.len(), MAX_CONTINUATION_BYTES);
        assert_eq!(decode_continuation(&t), Some(MAX_CONTINUATION_OFFSET));
        assert!(pattern().is_match(&t));
        for past in [MAX_CONTINUATION_OFFSET + 1, u64::MAX - 1, u64::MAX] {
            assert_eq!(decode_continuation(&encode_continuation(past)), None);
        }
        assert_eq!(
            encode_continuation(u64::MAX),
            STANDARD.encode(format!("{}-patapitoken", u64::MAX))
        );
    }

    #[test]
    fn long_tokens_are_refused_before_decoding() {
        // A leading zero is refused anyway; the point is that nothing longer
        // than the longest token is decoded at all.
        let long = format!("{}=", "A".repeat(MAX_CONTINUATION_BYTES));
        assert_eq!(decode_continuation(&long), None);
        let longest = STANDARD.encode(format!("{}-patapitoken", "9".repeat(MAX_ROW_DIGITS)));
        assert_eq!(longest.len(), MAX_CONTINUATION_BYTES);
        assert!(decode_continuation(&longest).is_some());
    }

    proptest! {
        #[test]
        fn issued_tokens_match(offset in 0u64..=MAX_CONTINUATION_OFFSET) {
            let token = encode_continuation(offset);
            prop_assert_eq!(decode_continuation(&token), Some(offset));
            prop_assert!(pattern().is_match(&token));
            prop_assert!(pattern().is_match(token.trim_end_matches('=')));
        }

        #[test]
        fn every_string_of_the_pattern_decodes(
            token in CONTINUATION_PATTERN.trim_start_matches('^').trim_end_matches('$')
        ) {
            prop_assert!(decode_continuation(&token).is_some(), "{}", token);
        }

        #[test]
        fn pattern_and_decoder_agree_on_base64_text(token in "[A-Za-z0-9+/]{1,40}={0,3}") {
            let decodes = decode_continuation(&token).is_some();
            prop_assert_eq!(pattern().is_match(&token), decodes, "{}", token);
        }

        #[test]
        fn pattern_and_decoder_agree_on_encoded_near_misses(
            row in "[0-9+-]{0,21}",
            suffix in "(-patapitoken|-patapitoke|patapitoken|-patapitokenn|-PATAPITOKEN)",
            pad in any::<bool>(),
        ) {
            let encoded = STANDARD.encode(format!("{row}{suffix}"));
            let token = if pad { encoded } else { encoded.trim_end_matches('=').to_owned() };
            let decodes = decode_continuation(&token).is_some();
            prop_assert_eq!(pattern().is_match(&token), decodes, "{} {}", row, token);
        }
    }
}
