//! `patrol_core::token::{validate, validate_for}` on arbitrary text: the
//! 84/88-char CASK form and the legacy 52-char form.
//!
//! Beyond "no panic": validation is deterministic; an accepted token has a
//! length the format allows and every field of its `TokenInfo` is the text at
//! that field's position; `validate_for` agrees with `validate` plus the
//! signature rule; a refusal names a length or position that is really wrong.
#![no_main]

use libfuzzer_sys::fuzz_target;
use patrol_core::token::{
    validate, validate_for, ChecksumEncoding, ProviderSignature, TokenFormat, TokenFormatError,
    TokenInfo, CASK_LEN, CASK_LONG_LEN, LEGACY_LEN,
};

const B32: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check(&text);
});

fn check(t: &str) {
    let b = t.as_bytes();
    let result = validate(t);
    assert_eq!(result, validate(t), "validate is not deterministic");

    match &result {
        Ok(info) => check_info(t, info),
        Err(TokenFormatError::WrongLength(n)) => {
            assert_eq!(*n, b.len());
            assert!(![CASK_LEN, CASK_LONG_LEN, LEGACY_LEN].contains(n));
        }
        Err(TokenFormatError::InvalidCharacter { position }) => {
            check_invalid_character(b, *position)
        }
        Err(e) => {
            assert!(
                [CASK_LEN, CASK_LONG_LEN, LEGACY_LEN].contains(&b.len()),
                "{e:?} for length {}",
                b.len()
            );
            if b.len() == LEGACY_LEN {
                assert_eq!(*e, TokenFormatError::BadChecksum);
            }
        }
    }

    // validate_for: the same answer as validate, plus the signature rule.
    let mut signatures = vec![ProviderSignature::DEFAULT];
    if let Some(sig) = t.get(76..80).and_then(|s| ProviderSignature::parse(s).ok()) {
        signatures.push(sig);
        if let Ok(flipped) = ProviderSignature::parse(&swap_case(sig.as_str())) {
            signatures.push(flipped);
        }
    }
    for sig in &signatures {
        let pinned = validate_for(t, sig);
        match (&result, &pinned) {
            (Err(e), p) => assert_eq!(p, &Err(e.clone())),
            (Ok(info), Ok(p)) => {
                assert_eq!(info, p);
                if let Some(s) = &info.signature {
                    assert!(sig.as_str().eq_ignore_ascii_case(s));
                }
            }
            (Ok(info), Err(TokenFormatError::WrongSignature)) => {
                let s = info.signature.as_deref().unwrap_or_default();
                assert!(info.format != TokenFormat::Legacy52);
                assert!(!sig.as_str().eq_ignore_ascii_case(s));
            }
            (Ok(_), Err(e)) => panic!("validate accepted, validate_for refused with {e:?}"),
        }
    }
}

fn check_info(t: &str, info: &TokenInfo) {
    let b = t.as_bytes();
    match info.format {
        TokenFormat::Legacy52 => {
            assert_eq!(b.len(), LEGACY_LEN);
            assert!(b.iter().all(|c| B32.contains(c)));
            assert!(matches!(b[51], b'a' | b'q'), "leftover bits must be zero");
            assert!(matches!(
                info.checksum,
                ChecksumEncoding::Crc32User | ChecksumEncoding::Crc32App
            ));
            let cask_fields = [
                info.signature.is_some(),
                info.kind.is_some(),
                info.minted_year.is_some(),
                info.minted_month.is_some(),
                info.platform_reserved.is_some(),
                info.provider_reserved.is_some(),
            ];
            assert!(cask_fields.iter().all(|f| !f));
        }
        TokenFormat::Cask84 | TokenFormat::Cask88 => {
            let long = info.format == TokenFormat::Cask88;
            assert_eq!(b.len(), if long { CASK_LONG_LEN } else { CASK_LEN });
            let alnum_end = if long { 86 } else { 84 };
            assert!(b[..alnum_end].iter().all(u8::is_ascii_alphanumeric));
            if long {
                assert_eq!(&b[86..], b"==");
            }
            assert!(matches!(
                info.checksum,
                ChecksumEncoding::Base62 | ChecksumEncoding::RawBase64
            ));
            assert_eq!(&t[52..57], "JQQJ9");
            assert_eq!(info.kind, Some(char::from(b[57])));
            assert!(matches!(b[57], b'9' | b'D' | b'H'));
            let month = info.minted_month.unwrap_or(0);
            assert!((1..=12).contains(&month));
            assert_eq!(u32::from(b[59] - b'A') + 1, month);
            let year = info.minted_year.unwrap_or(0);
            assert!((2024..=2085).contains(&year), "{year}");
            assert_eq!(info.platform_reserved.as_deref(), Some(&t[60..72]));
            assert_eq!(info.provider_reserved.as_deref(), Some(&t[72..76]));
            assert_eq!(info.signature.as_deref(), Some(&t[76..80]));
            assert!(b[76].is_ascii_alphabetic());
            // The signature a token carries can always be pinned.
            let sig = ProviderSignature::parse(&t[76..80]).ok();
            assert!(sig.is_some());
        }
    }
}

/// A refusal for a bad character names the first bad byte of its field.
fn check_invalid_character(b: &[u8], position: usize) {
    assert!(position < b.len(), "position {position} of {}", b.len());
    match b.len() {
        LEGACY_LEN => {
            let first_bad = b.iter().position(|c| !B32.contains(c));
            // Either the first non-base32 byte, or a last character whose
            // leftover bits are not zero.
            assert!(first_bad == Some(position) || (first_bad.is_none() && position == 51));
        }
        CASK_LEN | CASK_LONG_LEN => {
            let alnum_end = if b.len() == CASK_LONG_LEN { 86 } else { 84 };
            let first_bad = b[..alnum_end]
                .iter()
                .position(|c| !c.is_ascii_alphanumeric());
            match first_bad {
                Some(p) => assert_eq!(p, position),
                None => {
                    assert!(position >= alnum_end);
                    assert_ne!(b[position], b'=');
                    assert!(b[alnum_end..position].iter().all(|&c| c == b'='));
                }
            }
        }
        n => panic!("InvalidCharacter for length {n}"),
    }
}

fn swap_case(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_uppercase() {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect()
}
