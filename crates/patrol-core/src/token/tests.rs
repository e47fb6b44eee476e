//! Token-format tests: `docs/token-format.md` §1.4 vectors, exhaustive single-character flips,
//! look-alikes, legacy CRC, an independent checksum implementation, and
//! property tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::Engine as _;
use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashSet;

// ---------------------------------------------------------------- vectors

/// §1.4, raw-base64 checksum, minted by Microsoft's Rust code (2026-11).
const RAW_KEYS: [&str; 3] = [
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaJQQJ99CKAAAAAAAAAAAAAAAAAZDOb85G",
    "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZJQQJ99CKAAAAAAAAAAAAAAAAAZDOAHBB",
    "7777777777777777777777777777777777777777777777777777JQQJ99CKAAAAAAAAAAAAAAAAAZDO5pRh",
];
/// §1.4, base62 checksum (current scheme, like real ADO PATs).
const B62_84: &str =
    "SyntheticTestKeyForPatServiceDoNotUse0123456789abcdeJQQJ99BFACAAAAASNFZ4AAASAZDO10AW";
const B62_88: &str =
    "SyntheticTestKeyForPatServiceDoNotUse0123456789abcdeJQQJ99BFACAAAAASNFZ4AAASAZDO10AWOg==";
const ALL_A: &str =
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAJQQJ99AAAAAAAAAAAAAAAAAAAZDO4PXM";

fn all_valid_keys() -> Vec<&'static str> {
    let mut v = RAW_KEYS.to_vec();
    v.extend([B62_84, B62_88, ALL_A]);
    v
}

fn alnum() -> impl Iterator<Item = u8> {
    (b'0'..=b'9').chain(b'A'..=b'Z').chain(b'a'..=b'z')
}

fn date(y: i32, m: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, 15, 12, 0, 0).unwrap()
}

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

#[test]
fn raw_base64_vectors_validate() {
    for key in RAW_KEYS {
        let info = validate(key).unwrap();
        assert_eq!(
            info,
            TokenInfo {
                format: TokenFormat::Cask84,
                checksum: ChecksumEncoding::RawBase64,
                kind: Some('9'),
                signature: Some("AZDO".into()),
                minted_year: Some(2026),
                minted_month: Some(11),
                platform_reserved: Some("AAAAAAAAAAAA".into()),
                provider_reserved: Some("AAAA".into()),
            }
        );
        assert_eq!(
            validate_for(key, &ProviderSignature::DEFAULT).unwrap(),
            info
        );
    }
}

#[test]
fn base62_vectors_validate() {
    let info = validate(B62_84).unwrap();
    assert_eq!(
        info,
        TokenInfo {
            format: TokenFormat::Cask84,
            checksum: ChecksumEncoding::Base62,
            kind: Some('9'),
            signature: Some("AZDO".into()),
            minted_year: Some(2025),
            minted_month: Some(6),
            platform_reserved: Some("ACAAAAASNFZ4".into()),
            provider_reserved: Some("AAAS".into()),
        }
    );
    let long = validate(B62_88).unwrap();
    assert_eq!(
        long,
        TokenInfo {
            format: TokenFormat::Cask88,
            ..info
        }
    );

    let a = validate(ALL_A).unwrap();
    assert_eq!(a.format, TokenFormat::Cask84);
    assert_eq!(a.checksum, ChecksumEncoding::Base62);
    assert_eq!((a.minted_year, a.minted_month), (Some(2024), Some(1)));
    assert_eq!(a.signature.as_deref(), Some("AZDO"));
}

#[test]
fn spec_marvin_value_for_base62_vector() {
    // §1.4: Marvin32 = 0x0a58c136, LE 36 c1 58 0a, base62 "10AWOg", raw "NsFY".
    let data = STANDARD.decode(&B62_84[..80]).unwrap();
    assert_eq!(data.len(), 60);
    assert_eq!(marvin::checksum32(&data, CASK_CHECKSUM_SEED), 0x0a58_c136);
    // The raw alternative is accepted too.
    let raw = format!("{}NsFY", &B62_84[..80]);
    assert_eq!(
        validate(&raw).unwrap().checksum,
        ChecksumEncoding::RawBase64
    );
}

#[test]
fn seed_is_default0_reversed() {
    let mut b = *b"Default0";
    b.reverse();
    assert_eq!(u64::from_le_bytes(b), CASK_CHECKSUM_SEED);
}

#[test]
fn spec_negative_case_char_10() {
    let mut k = B62_84.as_bytes().to_vec();
    k[10] = if k[10] == b'X' { b'Y' } else { b'X' };
    let k = String::from_utf8(k).unwrap();
    assert_eq!(validate(&k), Err(TokenFormatError::BadChecksum));
}

// ---------------------------------------------------------------- flips

fn replace_at(s: &str, i: usize, c: u8) -> String {
    let mut b = s.as_bytes().to_vec();
    b[i] = c;
    String::from_utf8(b).unwrap()
}

#[test]
fn every_single_alnum_flip_is_rejected() {
    let mut tried = 0usize;
    for key in all_valid_keys() {
        for i in 0..key.len() {
            for c in alnum() {
                if key.as_bytes()[i] == c {
                    continue;
                }
                let flipped = replace_at(key, i, c);
                tried += 1;
                assert!(
                    validate(&flipped).is_err(),
                    "flip of {key} at {i} to {} accepted",
                    c as char
                );
            }
        }
    }
    assert!(tried > 30_000);
}

#[test]
fn every_single_alnum_flip_of_minted_tokens_is_rejected() {
    let mut r = rng(7);
    for n in 0..4 {
        let t = mint(date(2030 + n, 3), &MintOptions::default(), &mut r).unwrap();
        let t = t.expose();
        for i in 0..t.len() {
            for c in [b'A', b'z', b'0', b'9', b'Q', b'g', b'w'] {
                if t.as_bytes()[i] != c {
                    assert!(validate(&replace_at(t, i, c)).is_err(), "pos {i}");
                }
            }
        }
    }
}

#[test]
fn fixed_field_errors_are_specific() {
    let k = B62_84;
    assert!(matches!(
        validate(&replace_at(k, 53, b'X')),
        Err(TokenFormatError::FixedField { .. })
    ));
    assert!(matches!(
        validate(&replace_at(k, 56, b'8')),
        Err(TokenFormatError::FixedField { field }) if field.contains("version")
    ));
    assert!(matches!(
        validate(&replace_at(k, 57, b'A')),
        Err(TokenFormatError::FixedField { field }) if field.contains("kind")
    ));
    assert!(matches!(
        validate(&replace_at(k, 59, b'M')),
        Err(TokenFormatError::FixedField { field }) if field.contains("month")
    ));
    assert_eq!(
        validate(&replace_at(k, 76, b'1')),
        Err(TokenFormatError::InvalidSignature)
    );
    assert_eq!(
        validate(&replace_at(k, 81, b'z')),
        Err(TokenFormatError::BadChecksum)
    );
}

// ---------------------------------------------------------------- look-alikes

#[test]
fn wrong_lengths_are_rejected() {
    for key in all_valid_keys() {
        assert_eq!(
            validate(&key[..key.len() - 1]),
            Err(TokenFormatError::WrongLength(key.len() - 1))
        );
        assert_eq!(
            validate(&format!("{key}A")),
            Err(TokenFormatError::WrongLength(key.len() + 1))
        );
        assert!(validate(&format!(" {key}")).is_err());
        assert!(validate(&format!("{key}\n")).is_err());
    }
    assert_eq!(validate(""), Err(TokenFormatError::WrongLength(0)));
    // The 84-char key with a bogus "==" is 86 long.
    assert!(validate(&format!("{B62_84}==")).is_err());
    // 88 form without "==" but with two alnum chars: rejected at 86.
    assert_eq!(
        validate(&format!("{}AA", &B62_88[..86])),
        Err(TokenFormatError::InvalidCharacter { position: 86 })
    );
}

#[test]
fn base64_and_base64url_specials_are_rejected_everywhere() {
    for key in all_valid_keys() {
        let end = if key.len() == 88 { 86 } else { key.len() };
        for i in 0..end {
            for c in [b'+', b'/', b'-', b'_', b'=', b' ', b'.'] {
                assert_eq!(
                    validate(&replace_at(key, i, c)),
                    Err(TokenFormatError::InvalidCharacter { position: i }),
                    "{} at {i}",
                    c as char
                );
            }
        }
    }
}

#[test]
fn non_ascii_is_rejected_by_byte_position() {
    // Same byte length, multibyte char replacing two ASCII chars.
    let mut s = String::from(&B62_84[..10]);
    s.push('é');
    s.push_str(&B62_84[12..]);
    assert_eq!(s.len(), 84);
    assert_eq!(
        validate(&s),
        Err(TokenFormatError::InvalidCharacter { position: 10 })
    );
    // Multibyte char straddling the checksum / field boundaries.
    for at in [0, 50, 51, 55, 56, 57, 58, 59, 75, 79, 80, 81] {
        let s = format!("{}€{}", &B62_84[..at], &B62_84[at + 3..]);
        assert_eq!(s.len(), 84);
        assert!(validate(&s).is_err());
    }
    // Whole strings of multibyte characters with valid-looking lengths.
    assert!(validate(&"é".repeat(42)).is_err());
    assert!(validate(&"€".repeat(28)).is_err());
    assert!(validate(&"€".repeat(26)).is_err()); // 78 bytes
    assert!(validate(&"\u{10348}".repeat(22)).is_err()); // 88 bytes
    assert!(validate(&"ä".repeat(26)).is_err()); // 52 bytes -> legacy path
                                                 // Legacy path with a multibyte char.
    let legacy = legacy_encode(&[7u8; 28], legacy::USER_PAT_SEED);
    let s = format!("{}ü{}", &legacy[..20], &legacy[22..]);
    assert_eq!(s.len(), 52);
    assert_eq!(
        validate(&s),
        Err(TokenFormatError::InvalidCharacter { position: 20 })
    );
}

#[test]
fn lower_case_signature_and_validate_for() {
    // Changing the case of the signature changes the checksummed bytes.
    let lower = format!("{}azdo{}", &B62_84[..76], &B62_84[80..]);
    assert_eq!(validate(&lower), Err(TokenFormatError::BadChecksum));

    let azdo = ProviderSignature::parse("AZDO").unwrap();
    let other = ProviderSignature::parse("PTRL").unwrap();
    let azdo_lower = ProviderSignature::parse("azdo").unwrap();
    for key in all_valid_keys() {
        assert!(validate_for(key, &azdo).is_ok());
        assert!(validate_for(key, &azdo_lower).is_ok(), "case-insensitive");
        assert_eq!(
            validate_for(key, &other),
            Err(TokenFormatError::WrongSignature)
        );
    }

    // A token minted with a lower-case signature validates for either case
    // and is rejected for another signature.
    let opts = MintOptions::with_signature(ProviderSignature::parse("ptrl").unwrap());
    let t = mint(date(2026, 1), &opts, &mut rng(1)).unwrap();
    assert_eq!(&t.expose()[76..80], "ptrl");
    assert!(validate_for(t.expose(), &other).is_ok());
    assert_eq!(
        validate_for(t.expose(), &azdo),
        Err(TokenFormatError::WrongSignature)
    );
    // A bad token fails for its own reason, not as a signature mismatch.
    assert_eq!(
        validate_for(&replace_at(B62_84, 3, b'q'), &other),
        Err(TokenFormatError::BadChecksum)
    );
}

#[test]
fn error_messages_never_contain_token_text() {
    let key = B62_84;
    let cases = [
        replace_at(key, 3, b'+'),
        replace_at(key, 3, b'q'),
        replace_at(key, 57, b'A'),
        key[..83].to_string(),
        replace_at(key, 76, b'1'),
    ];
    for c in &cases {
        let err = validate(c).unwrap_err();
        let msg = format!("{err} {err:?}");
        assert!(!msg.contains(&c[..8]), "{msg}");
        assert!(!msg.contains("Synthetic"), "{msg}");
    }
    let err = validate_for(key, &ProviderSignature::parse("PTRL").unwrap()).unwrap_err();
    assert!(!format!("{err}").contains("AZDO"));
}

// ---------------------------------------------------------------- kinds D/H, 88 forms

/// Recomputes the checksum of a modified 84-char body.
fn reseal(body80: &str) -> String {
    let mut text = [0u8; 84];
    text[..80].copy_from_slice(body80.as_bytes());
    cask::seal(&mut text).unwrap();
    String::from_utf8(text.to_vec()).unwrap()
}

#[test]
fn derived_and_hashed_kinds_validate() {
    for kind in ['D', 'H', '9'] {
        let body = format!("{}{}{}", &B62_84[..57], kind, &B62_84[58..80]);
        let t = reseal(&body);
        let info = validate(&t).unwrap();
        assert_eq!(info.kind, Some(kind));
    }
    for kind in ['A', '8', 'd', 'h', 'Z'] {
        let body = format!("{}{}{}", &B62_84[..57], kind, &B62_84[58..80]);
        assert!(matches!(
            validate(&reseal(&body)),
            Err(TokenFormatError::FixedField { .. })
        ));
    }
}

#[test]
fn year_and_month_decoding() {
    for (year_char, year) in [
        ('A', 2024),
        ('Z', 2049),
        ('a', 2050),
        ('z', 2075),
        ('0', 2076),
        ('9', 2085),
    ] {
        for (month_char, month) in [('A', 1), ('F', 6), ('L', 12)] {
            let body = format!(
                "{}{year_char}{month_char}{}",
                &B62_84[..58],
                &B62_84[60..80]
            );
            let info = validate(&reseal(&body)).unwrap();
            assert_eq!(info.minted_year, Some(year));
            assert_eq!(info.minted_month, Some(month));
        }
    }
}

// ---------------------------------------------------------------- independent checksum

/// Base64 engine that, like .NET's `Convert.FromBase64String`, ignores the
/// trailing bits of the last symbol.
fn lenient_b64() -> GeneralPurpose {
    GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    )
}

/// A direct port of Base62.Net's `BaseConvert(bytes, 256, 62)` (long division
/// over a digit vector), deliberately unlike the production u32 encoder.
fn base62_net(bytes: &[u8]) -> String {
    const CHARS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut source: Vec<u32> = bytes.iter().map(|&b| u32::from(b)).collect();
    let leading = source
        .iter()
        .take_while(|&&x| x == 0)
        .count()
        .min(source.len() - 1);
    let mut result: Vec<u32> = Vec::new();
    while !source.is_empty() {
        let mut quotient = Vec::new();
        let mut remainder = 0u32;
        for &s in &source {
            let acc = s + remainder * 256;
            let digit = acc / 62;
            remainder = acc % 62;
            if !quotient.is_empty() || digit > 0 {
                quotient.push(digit);
            }
        }
        result.insert(0, remainder);
        source = quotient;
    }
    let mut out = "0".repeat(leading);
    out.extend(result.iter().map(|&d| CHARS[d as usize] as char));
    out
}

/// §1.2 computed the C# way: `GetBase62EncodedChecksum` = base64(frombase64(
/// base62(LE checksum bytes).PadRight(6,'0') + "==")). Returns the 8-char text.
fn independent_base62_checksum(token: &str) -> String {
    let data = STANDARD.decode(&token[..80]).unwrap();
    assert_eq!(data.len(), 60);
    let ck = marvin::checksum32(&data, 0x4465_6661_756C_7430);
    let le = ck.to_le_bytes();
    let text = base62_net(&le);
    assert!(text.len() <= 6);
    let padded = format!("{text:0<6}==");
    let bytes = lenient_b64().decode(padded.as_bytes()).unwrap();
    STANDARD.encode(bytes)
}

/// Same value via plain u32 arithmetic, big-endian digit extraction.
fn independent_base62_u32(ck: u32) -> String {
    let le = ck.to_le_bytes();
    let v = u32::from_be_bytes(le);
    let zeros = le.iter().take_while(|&&b| b == 0).count().min(3);
    let mut digits = Vec::new();
    let mut pow = 1u64;
    while pow * 62 <= u64::from(v) {
        pow *= 62;
    }
    let mut rest = u64::from(v);
    loop {
        let d = rest / pow;
        rest %= pow;
        digits.push(
            b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[d as usize] as char,
        );
        if pow == 1 {
            break;
        }
        pow /= 62;
    }
    let s: String = "0".repeat(zeros) + &digits.into_iter().collect::<String>();
    format!("{s:0<6}")
}

#[test]
fn independent_base62_matches_spec_vector() {
    assert_eq!(independent_base62_checksum(B62_84), "10AWOg==");
    assert_eq!(independent_base62_u32(0x0a58_c136), "10AWOg");
    assert_eq!(independent_base62_checksum(ALL_A)[..4], ALL_A[80..]);
}

#[test]
fn independent_checksum_agrees_on_minted_tokens() {
    let mut r = rng(42);
    let lenient = lenient_b64();
    for i in 0..5_000u32 {
        let y = 2024 + (i % 62) as i32;
        let t = mint(date(y, 1 + i % 12), &MintOptions::default(), &mut r).unwrap();
        let t = t.expose();
        let full = independent_base62_checksum(t);
        assert_eq!(&t[80..], &full[..4], "token {i}");

        // Second independent route (u32 digits).
        let data = STANDARD.decode(&t[..80]).unwrap();
        let ck = marvin::checksum32(&data, CASK_CHECKSUM_SEED);
        let via_u32 = independent_base62_u32(ck);
        assert_eq!(&t[80..], &via_u32[..4]);

        // The 88-char long form built independently validates as Cask88/Base62.
        let long = format!("{}{}", &t[..80], full);
        let info = validate(&long).unwrap();
        assert_eq!(info.format, TokenFormat::Cask88);
        assert_eq!(info.checksum, ChecksumEncoding::Base62);
        // Canonical 6th char agrees with the lenient round trip of u32 route.
        let canon = STANDARD.encode(lenient.decode(format!("{via_u32}==")).unwrap());
        assert_eq!(canon, full);

        // The raw-base64 alternatives (84 and 88) validate when alphanumeric.
        let raw84 = format!("{}{}", &t[..80], &STANDARD.encode(&ck.to_le_bytes()[..3]));
        let raw88 = format!("{}{}", &t[..80], STANDARD.encode(ck.to_le_bytes()));
        for (raw, fmt) in [(raw84, TokenFormat::Cask84), (raw88, TokenFormat::Cask88)] {
            if raw[80..]
                .trim_end_matches('=')
                .bytes()
                .all(|b| b.is_ascii_alphanumeric())
            {
                let info = validate(&raw).unwrap();
                assert_eq!(info.format, fmt);
                assert_eq!(info.checksum, ChecksumEncoding::RawBase64);
            } else {
                assert!(validate(&raw).is_err());
            }
        }
    }
}

#[test]
fn independent_base62_covers_leading_zero_bytes() {
    // Checksums whose LE bytes start with zeros exercise the '0'-prefix rule.
    for ck in [
        0u32,
        0x0500_0000,
        0x0000_0100,
        0x0012_3400,
        0x1234_5600,
        0xFFFF_FF00,
        1,
        u32::MAX,
    ] {
        let le = ck.to_le_bytes();
        let padded = format!("{:0<6}==", base62_net(&le));
        let canon = STANDARD.encode(lenient_b64().decode(padded).unwrap());
        let prod = codec::base62_checksum_text(ck);
        assert_eq!(canon.as_bytes()[..6], prod, "{ck:#x}");
        assert_eq!(independent_base62_u32(ck)[..5], canon[..5]);
        let raw = STANDARD.encode(le);
        assert_eq!(raw.as_bytes()[..6], codec::raw_checksum_text(ck));
    }
}

// ---------------------------------------------------------------- mint

#[test]
fn minted_tokens_have_the_expected_layout() {
    let t = mint(date(2025, 6), &MintOptions::default(), &mut rng(3)).unwrap();
    let s = t.expose();
    assert_eq!(s.len(), 84);
    assert!(s[..52].bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(&s[52..60], "JQQJ99BF");
    assert_eq!(&s[60..72], "ACAAAAAAAAAA");
    assert_eq!(&s[72..76], "AAAS");
    assert_eq!(&s[76..80], "AZDO");
    assert!(!format!("{t:?}").contains(&s[..20]));
    let info = validate(s).unwrap();
    assert_eq!(info.checksum, ChecksumEncoding::Base62);
    assert_eq!(info.minted_year, Some(2025));
    assert_eq!(info.minted_month, Some(6));
    assert_eq!(info.platform_reserved.as_deref(), Some("ACAAAAAAAAAA"));
    assert_eq!(info.provider_reserved.as_deref(), Some("AAAS"));
}

#[test]
fn mint_default_works() {
    let t = mint_default(Utc::now()).unwrap();
    assert_eq!(t.expose().len(), 84);
    assert!(validate_for(t.expose(), &ProviderSignature::default()).is_ok());
}

#[test]
fn mint_date_range() {
    let opts = MintOptions::default();
    let mut r = rng(5);
    for y in [2023, 2086, 1970, 9999] {
        assert_eq!(
            mint(date(y, 6), &opts, &mut r).unwrap_err(),
            TokenFormatError::DateOutOfRange
        );
    }
    let first = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    let last = Utc.with_ymd_and_hms(2085, 12, 31, 23, 59, 59).unwrap();
    assert_eq!(&mint(first, &opts, &mut r).unwrap().expose()[58..60], "AA");
    assert_eq!(&mint(last, &opts, &mut r).unwrap().expose()[58..60], "9L");
    let before = Utc.with_ymd_and_hms(2023, 12, 31, 23, 59, 59).unwrap();
    let after = Utc.with_ymd_and_hms(2086, 1, 1, 0, 0, 0).unwrap();
    assert!(mint(before, &opts, &mut r).is_err());
    assert!(mint(after, &opts, &mut r).is_err());
}

#[test]
fn reserved_bytes_must_encode_alnum() {
    let sig = ProviderSignature::DEFAULT;
    assert!(MintOptions::new(sig, DEFAULT_PLATFORM_RESERVED, DEFAULT_PROVIDER_RESERVED).is_ok());
    // 0xF8 >> 2 = 62 -> '+'; 0xFC >> 2 = 63 -> '/'.
    assert_eq!(
        MintOptions::new(sig, [0xF8, 0, 0, 0, 0, 0, 0, 0, 0], [0; 3]),
        Err(TokenFormatError::InvalidReserved)
    );
    assert_eq!(
        MintOptions::new(sig, [0; 9], [0xFF, 0xFF, 0xFF]),
        Err(TokenFormatError::InvalidReserved)
    );
    assert_eq!(
        MintOptions::new(sig, [0; 9], [0, 0, 0x3E]), // last group 62 -> '+'
        Err(TokenFormatError::InvalidReserved)
    );
    // Largest all-alnum value: every group 61 ('9').
    assert!(MintOptions::new(
        sig,
        [0xF7, 0xDF, 0x7D, 0xF7, 0xDF, 0x7D, 0xF7, 0xDF, 0x7D],
        [0xF7, 0xDF, 0x7D]
    )
    .is_ok());
    // Bypassing `new` through the public fields is caught by mint.
    let bad = MintOptions {
        provider_reserved: [0xFF; 3],
        ..MintOptions::default()
    };
    assert_eq!(
        mint(date(2026, 1), &bad, &mut rng(1)).unwrap_err(),
        TokenFormatError::InvalidReserved
    );
    // Exhaustive over single bytes in each position of a 3-byte group.
    for pos in 0..3 {
        for v in 0..=255u8 {
            let mut r = [0u8; 3];
            r[pos] = v;
            let ok = MintOptions::new(sig, [0; 9], r).is_ok();
            let text = STANDARD.encode(r);
            assert_eq!(ok, text.bytes().all(|b| b.is_ascii_alphanumeric()), "{r:?}");
        }
    }
}

#[test]
fn provider_signature_parse() {
    for ok in ["AZDO", "PTRL", "ptrl", "Ab12", "z999"] {
        let s = ProviderSignature::parse(ok).unwrap();
        assert_eq!(s.as_str(), ok);
        assert_eq!(s.to_string(), ok);
        assert_eq!(ok.parse::<ProviderSignature>().unwrap(), s);
    }
    for bad in [
        "", "AZD", "AZDOX", "1AZD", "AZ-O", "AZ+O", "AZ/O", "AZ O", "ÄZDO", "AZDÖ", "AZD\0",
    ] {
        assert_eq!(
            ProviderSignature::parse(bad),
            Err(TokenFormatError::InvalidSignature),
            "{bad}"
        );
    }
    assert_eq!(ProviderSignature::default(), ProviderSignature::DEFAULT);
    assert_eq!(MintOptions::default().signature.as_str(), "AZDO");
}

#[test]
fn hundred_thousand_minted_tokens_are_unique_and_valid() {
    let opts = MintOptions::default();
    let mut r = rand::rngs::OsRng;
    let now = Utc::now();
    let mut seen = HashSet::with_capacity(100_000);
    for _ in 0..100_000 {
        let t = mint(now, &opts, &mut r).unwrap();
        let s = t.expose();
        assert_eq!(s.len(), 84);
        assert!(validate(s).is_ok());
        assert!(seen.insert(s.to_owned()));
    }
    assert_eq!(seen.len(), 100_000);
}

#[test]
fn random_part_is_roughly_uniform_base62() {
    let mut counts = [0u32; 128];
    let mut r = rng(11);
    for _ in 0..2_000 {
        let t = mint(date(2026, 2), &MintOptions::default(), &mut r).unwrap();
        for b in t.expose()[..52].bytes() {
            counts[b as usize] += 1;
        }
    }
    // 104,000 chars over 62 symbols: ~1677 each.
    for c in alnum() {
        let n = counts[c as usize];
        assert!((1400..2000).contains(&n), "{} -> {n}", c as char);
    }
}

/// An RNG whose every byte is rejected by the sampler.
struct StuckRng;
impl rand::RngCore for StuckRng {
    fn next_u32(&mut self) -> u32 {
        u32::MAX
    }
    fn next_u64(&mut self) -> u64 {
        u64::MAX
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.fill(0xFF);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        dest.fill(0xFF);
        Ok(())
    }
}
impl rand::CryptoRng for StuckRng {}

/// An RNG that reports failure.
struct FailingRng;
impl rand::RngCore for FailingRng {
    fn next_u32(&mut self) -> u32 {
        0
    }
    fn next_u64(&mut self) -> u64 {
        0
    }
    fn fill_bytes(&mut self, _dest: &mut [u8]) {}
    fn try_fill_bytes(&mut self, _dest: &mut [u8]) -> Result<(), rand::Error> {
        Err(rand::Error::new(std::io::Error::other("no entropy")))
    }
}
impl rand::CryptoRng for FailingRng {}

#[test]
fn broken_rngs_return_errors_not_panics() {
    let opts = MintOptions::default();
    assert_eq!(
        mint(date(2026, 1), &opts, &mut StuckRng).unwrap_err(),
        TokenFormatError::RandomSource
    );
    assert_eq!(
        mint(date(2026, 1), &opts, &mut FailingRng).unwrap_err(),
        TokenFormatError::RandomSource
    );
}

// ---------------------------------------------------------------- legacy 52

/// Test-only legacy encoder (§1.6): 28 token bytes + `CRC32 ^ seed` spread
/// over bytes 22, 8, 7, 2 (little-endian), lowercase base32, no padding.
fn legacy_encode(token_bytes: &[u8; 28], seed: u32) -> String {
    let crc = crc32fast::hash(token_bytes) ^ seed;
    let mut b = [0u8; 32];
    b[0..2].copy_from_slice(&token_bytes[0..2]);
    b[3..7].copy_from_slice(&token_bytes[2..6]);
    b[9..22].copy_from_slice(&token_bytes[6..19]);
    b[23..32].copy_from_slice(&token_bytes[19..28]);
    let le = crc.to_le_bytes();
    b[22] = le[0];
    b[8] = le[1];
    b[7] = le[2];
    b[2] = le[3];
    // RFC 4648 base32, bit by bit (independent of the production decoder).
    let mut out = String::new();
    let bits: Vec<u8> = b
        .iter()
        .flat_map(|byte| (0..8).rev().map(move |i| (byte >> i) & 1))
        .collect();
    for chunk in bits.chunks(5) {
        let mut v = 0u8;
        for k in 0..5 {
            v = (v << 1) | chunk.get(k).copied().unwrap_or(0);
        }
        out.push(legacy::B32_ALPHABET[v as usize] as char);
    }
    out
}

#[test]
fn legacy_user_and_app_pats_validate() {
    let mut r = rng(99);
    for i in 0..200 {
        let tb: [u8; 28] = r.gen();
        let user = legacy_encode(&tb, legacy::USER_PAT_SEED);
        let app = legacy_encode(&tb, legacy::APP_PAT_SEED);
        assert_eq!(user.len(), 52);
        assert!(user.ends_with('a') || user.ends_with('q'), "{i}");
        let u = validate(&user).unwrap();
        assert_eq!(u.format, TokenFormat::Legacy52);
        assert_eq!(u.checksum, ChecksumEncoding::Crc32User);
        assert_eq!(u.kind, None);
        assert_eq!(u.signature, None);
        assert_eq!(u.minted_year, None);
        assert_eq!(validate(&app).unwrap().checksum, ChecksumEncoding::Crc32App);
        // Legacy tokens carry no signature: validate_for passes them.
        assert!(validate_for(&user, &ProviderSignature::parse("PTRL").unwrap()).is_ok());
        // Some other seed fails.
        assert_eq!(
            validate(&legacy_encode(&tb, 0x1234_5678)),
            Err(TokenFormatError::BadChecksum)
        );
        // Upper case is not accepted.
        assert!(validate(&user.to_uppercase()).is_err());
    }
}

#[test]
fn legacy_every_single_flip_is_rejected() {
    let mut r = rng(100);
    for seed in [legacy::USER_PAT_SEED, legacy::APP_PAT_SEED] {
        for _ in 0..3 {
            let tb: [u8; 28] = r.gen();
            let t = legacy_encode(&tb, seed);
            assert!(validate(&t).is_ok());
            for i in 0..52 {
                for &c in legacy::B32_ALPHABET {
                    if t.as_bytes()[i] != c {
                        assert!(validate(&replace_at(&t, i, c)).is_err(), "pos {i}");
                    }
                }
                for c in [b'A', b'Z', b'0', b'1', b'8', b'9', b'=', b'+'] {
                    assert_eq!(
                        validate(&replace_at(&t, i, c)),
                        Err(TokenFormatError::InvalidCharacter { position: i })
                    );
                }
            }
        }
    }
}

#[test]
fn legacy_last_char_must_be_a_or_q() {
    let t = legacy_encode(&[42u8; 28], legacy::USER_PAT_SEED);
    for &c in legacy::B32_ALPHABET {
        let s = replace_at(&t, 51, c);
        let res = validate(&s);
        if c == t.as_bytes()[51] {
            assert!(res.is_ok());
        } else if c == b'a' || c == b'q' {
            assert_eq!(res, Err(TokenFormatError::BadChecksum));
        } else {
            assert_eq!(
                res,
                Err(TokenFormatError::InvalidCharacter { position: 51 })
            );
        }
    }
}

// ---------------------------------------------------------------- properties

fn signature_strategy() -> impl Strategy<Value = ProviderSignature> {
    "[A-Za-z][A-Za-z0-9]{3}".prop_map(|s| ProviderSignature::parse(&s).unwrap())
}

/// Reserved bytes built from 6-bit groups < 62, so they always encode alnum.
fn reserved_strategy<const N: usize>() -> impl Strategy<Value = [u8; N]> {
    proptest::collection::vec(0u8..62, N / 3 * 4).prop_map(|groups| {
        let mut out = [0u8; N];
        for (g, o) in groups.chunks(4).zip(out.chunks_mut(3)) {
            let n = (u32::from(g[0]) << 18)
                | (u32::from(g[1]) << 12)
                | (u32::from(g[2]) << 6)
                | u32::from(g[3]);
            o[0] = (n >> 16) as u8;
            o[1] = (n >> 8) as u8;
            o[2] = n as u8;
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn prop_mint_validate_round_trip(
        year in 2024i32..=2085,
        month in 1u32..=12,
        day in 1u32..=28,
        secs in 0u32..86_400,
        sig in signature_strategy(),
        platform in reserved_strategy::<9>(),
        provider in reserved_strategy::<3>(),
        seed in any::<u64>(),
    ) {
        let now = Utc.with_ymd_and_hms(year, month, day, secs / 3600, secs / 60 % 60, secs % 60).unwrap();
        let opts = MintOptions::new(sig, platform, provider).unwrap();
        let t = mint(now, &opts, &mut rng(seed)).unwrap();
        let s = t.expose();
        prop_assert_eq!(s.len(), 84);
        let info = validate_for(s, &sig).unwrap();
        prop_assert_eq!(info.format, TokenFormat::Cask84);
        prop_assert_eq!(info.checksum, ChecksumEncoding::Base62);
        prop_assert_eq!(info.kind, Some('9'));
        prop_assert_eq!(info.minted_year, Some(year));
        prop_assert_eq!(info.minted_month, Some(month));
        prop_assert_eq!(info.signature.as_deref(), Some(sig.as_str()));
        prop_assert_eq!(info.platform_reserved.unwrap(), STANDARD.encode(platform));
        prop_assert_eq!(info.provider_reserved.unwrap(), STANDARD.encode(provider));
        prop_assert_eq!(&s[80..], &independent_base62_checksum(s)[..4]);
    }

    #[test]
    fn prop_validate_never_panics_on_any_string(s in any::<String>()) {
        let _ = validate(&s);
        let _ = validate_for(&s, &ProviderSignature::DEFAULT);
    }

    #[test]
    fn prop_validate_never_panics_on_plausible_lengths(
        s in prop_oneof![
            "\\PC{84}", "\\PC{88}", "\\PC{52}", "\\PC{20,30}", "[\\x00-\\x7f]{84}", "[\\x00-\\x7f]{88}",
        ]
    ) {
        let _ = validate(&s);
    }

    #[test]
    fn prop_validate_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        let s = String::from_utf8_lossy(&bytes);
        let _ = validate(&s);
    }

    #[test]
    fn prop_random_alnum_84_rejected(s in "[A-Za-z0-9]{84}") {
        // Fixed fields almost never line up; either way it must not panic.
        let r = validate(&s);
        prop_assert!(r.is_err());
    }

    #[test]
    fn prop_random_alnum_52_lower_rejected_or_legacy(s in "[a-z2-7]{52}") {
        if let Ok(info) = validate(&s) {
            prop_assert_eq!(info.format, TokenFormat::Legacy52);
        }
    }

    #[test]
    fn prop_regex_shaped_candidates_fail_checksum(
        s in "[A-Za-z0-9]{52}JQQJ9[9DH][A-Za-z0-9][A-L][A-Za-z0-9]{16}[A-Za-z][A-Za-z0-9]{7}([A-Za-z0-9]{2}==)?"
    ) {
        // Passes every structural check; a random checksum matches with
        // probability ~1.3e-7, so expect BadChecksum.
        prop_assert_eq!(validate(&s), Err(TokenFormatError::BadChecksum));
    }

    #[test]
    fn prop_flip_of_minted_token_rejected(seed in any::<u64>(), pos in 0usize..84, c in "[A-Za-z0-9]") {
        let t = mint(date(2027, 4), &MintOptions::default(), &mut rng(seed)).unwrap();
        let s = t.expose();
        let c = c.as_bytes()[0];
        prop_assume!(s.as_bytes()[pos] != c);
        prop_assert!(validate(&replace_at(s, pos, c)).is_err());
    }
}
