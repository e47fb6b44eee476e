//! The 84/88-char common annotated key: checking and minting (`docs/token-format.md` §1.1, §1.2).

use chrono::{DateTime, Datelike, Utc};
use rand::{CryptoRng, RngCore};

use super::codec::{
    b64_char, b64_encode_into, b64_value, base62_checksum_text, raw_checksum_text, B62_ALPHABET,
    INVALID,
};
use super::marvin::checksum32;
use super::{
    ChecksumEncoding, MintOptions, TokenFormat, TokenFormatError, TokenInfo, CASK_CHECKSUM_SEED,
    CASK_LEN, CASK_LONG_LEN,
};
use crate::secret::PatSecret;

/// Characters 52..56.
const CORE_SIGNATURE: &[u8; 4] = b"JQQJ";
/// Characters 0..80 decode to this many bytes; the checksum covers all of them.
const CHECKSUMMED_CHARS: usize = 80;
const CHECKSUMMED_BYTES: usize = 60;
const RANDOM_CHARS: usize = 52;
const FIRST_YEAR: i32 = 2024;
const LAST_YEAR: i32 = 2085;

/// Facts gathered by [`check`] without allocating.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CaskParts {
    long: bool,
    encoding: ChecksumEncoding,
    kind: u8,
    year: i32,
    month: u32,
}

impl CaskParts {
    /// Builds the public [`TokenInfo`]; `token` is the string `check` accepted,
    /// so every slice below is ASCII and in range.
    pub(crate) fn info(&self, token: &str) -> TokenInfo {
        let field = |r: std::ops::Range<usize>| token.get(r).map(str::to_owned);
        TokenInfo {
            format: if self.long {
                TokenFormat::Cask88
            } else {
                TokenFormat::Cask84
            },
            checksum: self.encoding,
            kind: Some(char::from(self.kind)),
            signature: field(76..80),
            minted_year: Some(self.year),
            minted_month: Some(self.month),
            platform_reserved: field(60..72),
            provider_reserved: field(72..76),
        }
    }
}

/// Decodes characters 0..80 (all must be alphanumeric base64) into 60 bytes.
/// On failure returns the byte position of the first bad character.
#[inline]
fn decode_checksummed(chars: &[u8]) -> Result<[u8; CHECKSUMMED_BYTES], usize> {
    let mut out = [0u8; CHECKSUMMED_BYTES];
    let mut bad = 0u8;
    for (quad, dst) in chars.chunks_exact(4).zip(out.chunks_exact_mut(3)) {
        let (v0, v1, v2, v3) = (
            b64_value(quad[0]),
            b64_value(quad[1]),
            b64_value(quad[2]),
            b64_value(quad[3]),
        );
        // Valid values are < 64; INVALID (0xFF) is the only one with bit 7 set.
        bad |= v0 | v1 | v2 | v3;
        let n = (u32::from(v0 & 0x3F) << 18)
            | (u32::from(v1 & 0x3F) << 12)
            | (u32::from(v2 & 0x3F) << 6)
            | u32::from(v3 & 0x3F);
        dst[0] = (n >> 16) as u8;
        dst[1] = (n >> 8) as u8;
        dst[2] = n as u8;
    }
    if bad & 0x80 != 0 || chars.len() < CHECKSUMMED_CHARS {
        return Err(first_invalid(chars, CHECKSUMMED_CHARS));
    }
    Ok(out)
}

/// The first position in `b[..end]` that is not alphanumeric (or `end`).
#[cold]
fn first_invalid(b: &[u8], end: usize) -> usize {
    b.iter()
        .take(end)
        .position(|&c| b64_value(c) == INVALID)
        .unwrap_or_else(|| b.len().min(end))
}

/// Checks an 84- or 88-byte candidate completely. Cheap rejections first,
/// Marvin32 last.
pub(crate) fn check(b: &[u8]) -> Result<CaskParts, TokenFormatError> {
    let long = match b.len() {
        CASK_LEN => false,
        CASK_LONG_LEN => true,
        n => return Err(TokenFormatError::WrongLength(n)),
    };
    let checksum_len = if long { 6 } else { 4 };
    let alnum_end = CHECKSUMMED_CHARS + checksum_len;

    // 1. Character classes (every byte of 0..84 / 0..86 alphanumeric; "==" after).
    let data = decode_checksummed(b.get(..CHECKSUMMED_CHARS).unwrap_or_default())
        .map_err(|position| TokenFormatError::InvalidCharacter { position })?;
    let given = b.get(CHECKSUMMED_CHARS..alnum_end).unwrap_or_default();
    if let Some(i) = given.iter().position(|&c| b64_value(c) == INVALID) {
        return Err(TokenFormatError::InvalidCharacter {
            position: CHECKSUMMED_CHARS + i,
        });
    }
    if long {
        for position in [86, 87] {
            if b.get(position) != Some(&b'=') {
                return Err(TokenFormatError::InvalidCharacter { position });
            }
        }
    }

    // 2. Fixed fields.
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    if b.get(52..56) != Some(CORE_SIGNATURE.as_slice()) {
        return Err(TokenFormatError::FixedField {
            field: "core signature (JQQJ)",
        });
    }
    if at(56) != b'9' {
        return Err(TokenFormatError::FixedField {
            field: "version (9)",
        });
    }
    let kind = at(57);
    if !matches!(kind, b'9' | b'D' | b'H') {
        return Err(TokenFormatError::FixedField { field: "key kind" });
    }
    let month_char = at(59);
    if !(b'A'..=b'L').contains(&month_char) {
        return Err(TokenFormatError::FixedField { field: "month" });
    }
    if !at(76).is_ascii_alphabetic() {
        return Err(TokenFormatError::InvalidSignature);
    }

    // 3. Marvin32 checksum, either encoding.
    let checksum = checksum32(&data, CASK_CHECKSUM_SEED);
    let encoding = if base62_checksum_text(checksum).get(..checksum_len) == Some(given) {
        ChecksumEncoding::Base62
    } else if raw_checksum_text(checksum).get(..checksum_len) == Some(given) {
        ChecksumEncoding::RawBase64
    } else {
        return Err(TokenFormatError::BadChecksum);
    };

    Ok(CaskParts {
        long,
        encoding,
        kind,
        year: FIRST_YEAR + i32::from(b64_value(at(58)) & 0x3F),
        month: u32::from(month_char - b'A') + 1,
    })
}

/// Writes the base62 checksum of `text[..80]` into `text[80..84]`.
pub(crate) fn seal(text: &mut [u8; CASK_LEN]) -> Result<(), TokenFormatError> {
    let mut data = decode_checksummed(&text[..CHECKSUMMED_CHARS])
        .map_err(|position| TokenFormatError::InvalidCharacter { position })?;
    let checksum = checksum32(&data, CASK_CHECKSUM_SEED);
    wipe(&mut data);
    let encoded = base62_checksum_text(checksum);
    text[CHECKSUMMED_CHARS..].copy_from_slice(&encoded[..4]);
    Ok(())
}

/// Mints an 84-char token dated `now`: 52 CSPRNG base62 characters, `JQQJ99`,
/// year/month, `opts`' reserved fields and signature, base62 Marvin32 checksum.
pub fn mint<R>(
    now: DateTime<Utc>,
    opts: &MintOptions,
    rng: &mut R,
) -> Result<PatSecret, TokenFormatError>
where
    R: RngCore + CryptoRng + ?Sized,
{
    let year = now.year();
    if !(FIRST_YEAR..=LAST_YEAR).contains(&year) {
        return Err(TokenFormatError::DateOutOfRange);
    }
    opts.check()?;

    let mut text = [0u8; CASK_LEN];
    fill_random_base62(&mut text[..RANDOM_CHARS], rng)?;
    text[52..56].copy_from_slice(CORE_SIGNATURE);
    text[56] = b'9';
    text[57] = b'9';
    text[58] = b64_char((year - FIRST_YEAR) as u8); // 0..=61: always alphanumeric
    text[59] = b'A' + now.month0() as u8; // month0 is 0..=11
    b64_encode_into(&opts.platform_reserved, &mut text[60..72]);
    b64_encode_into(&opts.provider_reserved, &mut text[72..76]);
    text[76..80].copy_from_slice(opts.signature.as_bytes());
    seal(&mut text)?;

    let secret: String = text.iter().copied().map(char::from).collect();
    wipe(&mut text);
    Ok(PatSecret::new(secret))
}

/// [`mint`] with the OS CSPRNG and [`MintOptions::default`] (`AZDO`).
pub fn mint_default(now: DateTime<Utc>) -> Result<PatSecret, TokenFormatError> {
    mint(now, &MintOptions::default(), &mut rand::rngs::OsRng)
}

/// Fills `out` with uniformly distributed base62 characters (rejection
/// sampling: bytes >= 248 = 4*62 are discarded, so there is no modulo bias).
fn fill_random_base62<R>(out: &mut [u8], rng: &mut R) -> Result<(), TokenFormatError>
where
    R: RngCore + CryptoRng + ?Sized,
{
    // A working CSPRNG needs one round with overwhelming probability; the cap
    // only stops a broken generator from looping forever.
    const MAX_ROUNDS: usize = 64;
    let mut pool = [0u8; 64];
    let mut filled = 0;
    for _ in 0..MAX_ROUNDS {
        if filled == out.len() {
            break;
        }
        rng.try_fill_bytes(&mut pool)
            .map_err(|_| TokenFormatError::RandomSource)?;
        for &r in pool.iter().filter(|&&r| r < 248) {
            match out.get_mut(filled) {
                Some(slot) => {
                    *slot = B62_ALPHABET[usize::from(r % 62)];
                    filled += 1;
                }
                None => break,
            }
        }
    }
    wipe(&mut pool);
    if filled == out.len() {
        Ok(())
    } else {
        Err(TokenFormatError::RandomSource)
    }
}

/// Best-effort scrub of secret material left in a stack buffer.
fn wipe(buf: &mut [u8]) {
    buf.fill(0);
    std::hint::black_box(&buf);
}
