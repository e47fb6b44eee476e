//! Tokens built from fuzz input must validate, then survive mutation.
//!
//! Random bytes almost never carry a correct checksum, so this target builds
//! tokens that must be valid, three ways, and checks `validate` accepts them
//! with exactly the facts they were built with:
//!
//! * `mint` with a fuzz-driven "random" source, date and mint options (the
//!   options' fields are public, so invalid reserved bytes must be refused by
//!   `mint` itself, never produce a token that does not validate);
//! * an 84/88-char CASK token with the pre-v1.7.0 raw base64 checksum, built
//!   here independently (the base64 crate and `marvin::checksum32`);
//! * a legacy 52-char PAT (`docs/token-format.md` §1.6: base32 of 28 bytes plus
//!   `CRC32 ^ seed` spread over four positions), built here independently.
//!
//! Then one fuzz-chosen byte is overwritten and the result goes through the
//! same checks as the `token` target's input (determinism, no panic).
#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use patrol_core::token::marvin::checksum32;
use patrol_core::token::{
    mint, validate, validate_for, ChecksumEncoding, MintOptions, ProviderSignature, TokenFormat,
    TokenFormatError, CASK_CHECKSUM_SEED,
};
use rand::{CryptoRng, RngCore};

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const B32: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
const USER_PAT_SEED: u32 = 0xE0B9_692D;
const APP_PAT_SEED: u32 = 0x1019_F92E;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = run(&mut u);
});

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let token = match u.int_in_range(0u8..=2)? {
        0 => minted(u)?,
        1 => raw_checksum_cask(u)?,
        _ => legacy(u)?,
    };
    let Some(token) = token else { return Ok(()) };

    // One overwritten byte: whatever the answer, it is stable and no panic.
    let mut bytes = token.into_bytes();
    let at = u.choose_index(bytes.len())?;
    bytes[at] = u.arbitrary()?;
    let mutated = String::from_utf8_lossy(&bytes);
    let first = validate(&mutated);
    assert_eq!(first, validate(&mutated));
    if let Ok(info) = &first {
        assert_eq!(
            validate_for(&mutated, &ProviderSignature::DEFAULT).is_ok(),
            info.signature
                .as_deref()
                .is_none_or(|s| s.eq_ignore_ascii_case("AZDO"))
        );
    }
    Ok(())
}

/// A "random" source that replays fuzz bytes (and fails when they run out),
/// counting the bytes it handed out that base62 sampling can use (< 248).
struct Replay<'a> {
    bytes: &'a [u8],
    usable: usize,
}

impl RngCore for Replay<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        let _ = self.try_fill_bytes(dest);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> std::result::Result<(), rand::Error> {
        if self.bytes.is_empty() {
            return Err(rand::Error::new("replayed bytes exhausted"));
        }
        for (i, d) in dest.iter_mut().enumerate() {
            *d = self.bytes[i % self.bytes.len()];
        }
        self.usable += dest.iter().filter(|&&b| b < 248).count();
        self.bytes = &self.bytes[dest.len().min(self.bytes.len())..];
        Ok(())
    }
}
impl CryptoRng for Replay<'_> {}

fn minted(u: &mut Unstructured<'_>) -> Result<Option<String>> {
    let year = u.int_in_range(2020..=2090)?;
    let month = u.int_in_range(1..=12)?;
    let now = date(year, month);
    let sig: [u8; 4] = u.arbitrary()?;
    let signature = std::str::from_utf8(&sig)
        .ok()
        .and_then(|s| ProviderSignature::parse(s).ok())
        .unwrap_or(ProviderSignature::DEFAULT);
    let opts = MintOptions {
        signature,
        platform_reserved: u.arbitrary()?,
        provider_reserved: u.arbitrary()?,
    };
    let valid_opts = MintOptions::new(
        opts.signature,
        opts.platform_reserved,
        opts.provider_reserved,
    )
    .is_ok();
    let mut rng = Replay {
        bytes: u.arbitrary()?,
        usable: 0,
    };

    match mint(now, &opts, &mut rng) {
        Ok(secret) => {
            assert!((2024..=2085).contains(&year) && valid_opts);
            let token = secret.expose().to_owned();
            let info = validate(&token).unwrap_or_else(|e| panic!("minted token refused: {e:?}"));
            assert_eq!(info.format, TokenFormat::Cask84);
            assert_eq!(info.checksum, ChecksumEncoding::Base62);
            assert_eq!(info.kind, Some('9'));
            assert_eq!(info.minted_year, Some(year));
            assert_eq!(info.minted_month, Some(month));
            assert_eq!(info.signature.as_deref(), Some(signature.as_str()));
            assert_eq!(
                info.platform_reserved,
                Some(STANDARD.encode(opts.platform_reserved))
            );
            assert_eq!(
                info.provider_reserved,
                Some(STANDARD.encode(opts.provider_reserved))
            );
            assert!(token[..52].bytes().all(|c| c.is_ascii_alphanumeric()));
            assert_eq!(validate_for(&token, &signature), Ok(info));
            Ok(Some(token))
        }
        Err(TokenFormatError::DateOutOfRange) => {
            assert!(!(2024..=2085).contains(&year));
            Ok(None)
        }
        Err(TokenFormatError::InvalidReserved) => {
            assert!(!valid_opts);
            Ok(None)
        }
        Err(TokenFormatError::RandomSource) => {
            // Only a source that fails before yielding 52 usable bytes.
            assert!(rng.usable < 52, "{} usable random bytes", rng.usable);
            Ok(None)
        }
        Err(e) => panic!("mint failed with {e:?}"),
    }
}

fn pick(u: &mut Unstructured<'_>, alphabet: &[u8]) -> Result<u8> {
    Ok(alphabet[u.choose_index(alphabet.len())?])
}

fn raw_checksum_cask(u: &mut Unstructured<'_>) -> Result<Option<String>> {
    let long: bool = u.arbitrary()?;
    let mut text = Vec::with_capacity(88);
    for _ in 0..52 {
        text.push(pick(u, ALNUM)?);
    }
    text.extend_from_slice(b"JQQJ9");
    text.push(pick(u, b"9DH")?);
    let year_char = pick(u, ALNUM)?;
    text.push(year_char);
    let month_char = pick(u, b"ABCDEFGHIJKL")?;
    text.push(month_char);
    for _ in 60..76 {
        text.push(pick(u, ALNUM)?);
    }
    text.push(pick(u, &ALNUM[..52])?);
    for _ in 77..80 {
        text.push(pick(u, ALNUM)?);
    }
    let data = STANDARD
        .decode(&text)
        .unwrap_or_else(|e| panic!("80 alphanumerics are base64: {e}"));
    let checksum = STANDARD.encode(checksum32(&data, CASK_CHECKSUM_SEED).to_le_bytes());
    let checksum = if long { &checksum[..] } else { &checksum[..4] };
    text.extend_from_slice(checksum.as_bytes());
    let token = String::from_utf8(text).unwrap_or_default();

    let result = validate(&token);
    if !checksum
        .trim_end_matches('=')
        .bytes()
        .all(|c| c.is_ascii_alphanumeric())
    {
        // A raw checksum with '+' or '/' cannot be written in this format.
        assert!(matches!(
            result,
            Err(TokenFormatError::InvalidCharacter { position }) if position >= 80
        ));
        return Ok(None);
    }
    let info = result.unwrap_or_else(|e| panic!("raw-checksum token refused: {e:?}"));
    assert_eq!(
        info.format,
        if long {
            TokenFormat::Cask88
        } else {
            TokenFormat::Cask84
        }
    );
    // The base62 text of the same checksum may coincide with the raw one.
    assert!(matches!(
        info.checksum,
        ChecksumEncoding::RawBase64 | ChecksumEncoding::Base62
    ));
    // ALNUM is in base64 order: a character's index is its 6-bit value.
    let year_value = ALNUM.iter().position(|&c| c == year_char).unwrap_or(99) as i32;
    assert_eq!(info.minted_year, Some(2024 + year_value));
    assert_eq!(info.minted_month, Some(u32::from(month_char - b'A') + 1));
    assert_eq!(info.signature.as_deref(), Some(&token[76..80]));
    Ok(Some(token))
}

fn legacy(u: &mut Unstructured<'_>) -> Result<Option<String>> {
    let token_bytes: [u8; 28] = u.arbitrary()?;
    let app: bool = u.arbitrary()?;
    let seed = if app { APP_PAT_SEED } else { USER_PAT_SEED };

    // b[0..2] ‖ b[3..7] ‖ b[9..22] ‖ b[23..32] carry the 28 token bytes;
    // CRC32(token bytes) ^ seed goes little-endian into b[22], b[8], b[7], b[2].
    let mut b = [0u8; 32];
    let mut src = token_bytes.iter();
    for r in [0..2, 3..7, 9..22, 23..32] {
        for i in r {
            b[i] = src.next().copied().unwrap_or(0);
        }
    }
    let mut crc = crc32(&token_bytes) ^ seed;
    for i in [22, 8, 7, 2] {
        b[i] = crc as u8;
        crc >>= 8;
    }
    // Lowercase RFC 4648 base32 without padding: 256 bits -> 52 characters.
    let mut out = String::with_capacity(52);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &byte in &b {
        acc = (acc << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(B32[((acc >> bits) & 31) as usize]));
        }
    }
    out.push(char::from(B32[((acc << (5 - bits)) & 31) as usize]));

    let info = validate(&out).unwrap_or_else(|e| panic!("legacy PAT refused: {e:?}"));
    assert_eq!(info.format, TokenFormat::Legacy52);
    assert_eq!(
        info.checksum,
        if app {
            ChecksumEncoding::Crc32App
        } else {
            ChecksumEncoding::Crc32User
        }
    );
    assert_eq!(validate_for(&out, &ProviderSignature::DEFAULT), Ok(info));
    Ok(Some(out))
}

/// CRC-32/IEEE (bitwise; independent of the crate's crc32fast).
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Noon on the 15th of `year`-`month`, UTC.
fn date(year: i32, month: u32) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone as _;
    chrono::Utc
        .with_ymd_and_hms(year, month, 15, 12, 0, 0)
        .single()
        .unwrap_or_default()
}
