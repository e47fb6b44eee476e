//! The continuation-token pair of `patrol_core::paging`.
//!
//! Beyond "no panic": a token that decodes is at most
//! `MAX_CONTINUATION_BYTES` long and is exactly what `encode_continuation`
//! writes for its offset, with or without the `=` padding (nothing else is
//! accepted); `CONTINUATION_PATTERN`, the OpenAPI pattern, matches exactly
//! the non-empty tokens that decode; every offset (the input's first 8
//! bytes) up to `MAX_CONTINUATION_OFFSET` encodes within the limit and
//! decodes back to itself, and a larger one encodes to a token that is
//! refused.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use patrol_core::paging::{
    decode_continuation, encode_continuation, CONTINUATION_PATTERN, MAX_CONTINUATION_BYTES,
    MAX_CONTINUATION_OFFSET,
};
use regex::Regex;

fn pattern() -> &'static Regex {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    PATTERN.get_or_init(|| Regex::new(CONTINUATION_PATTERN).expect("the pattern compiles"))
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let decoded = decode_continuation(&text);
    if !text.is_empty() {
        assert_eq!(pattern().is_match(&text), decoded.is_some(), "{text:?}");
    }
    if let Some(offset) = decoded {
        assert!(
            text.len() <= MAX_CONTINUATION_BYTES,
            "{} bytes accepted",
            text.len()
        );
        assert!(offset <= MAX_CONTINUATION_OFFSET);
        if text.is_empty() {
            assert_eq!(offset, 0);
        } else {
            let written = encode_continuation(offset);
            assert!(
                text == written || text == written.trim_end_matches('='),
                "{text:?} accepted as {offset}, which is written {written:?}"
            );
        }
    }

    let mut raw = [0u8; 8];
    for (r, d) in raw.iter_mut().zip(data) {
        *r = *d;
    }
    let offset = u64::from_le_bytes(raw);
    let token = encode_continuation(offset);
    if offset <= MAX_CONTINUATION_OFFSET {
        assert!(token.len() <= MAX_CONTINUATION_BYTES);
        assert_eq!(decode_continuation(&token), Some(offset));
        assert_eq!(
            decode_continuation(token.trim_end_matches('=')),
            Some(offset)
        );
    } else {
        assert_eq!(decode_continuation(&token), None);
    }
});
