//! Synthetic tokens of every format the scanner finds, and corrupted
//! look-alikes, for tests and the benchmark corpus (`bench/scan.sh`). They
//! are well-formed and checksum-valid but belong to no server.
//!
//! 84-char base62 keys come from `patrol_core::token::mint`; the other
//! encodings are re-sealed here from the Marvin32 checksum, and legacy PATs
//! are encoded from scratch (`docs/token-format.md`), so the scanner's
//! validation is tested against an independent encoder.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{TimeZone, Utc};
use patrol_core::token::marvin::checksum32;
use patrol_core::token::{
    self, MintOptions, ProviderSignature, TokenFormatError, CASK_CHECKSUM_SEED,
};
use rand::rngs::StdRng;
use rand::Rng;

/// Every kind of token the scanner reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// 84 chars, base62 checksum (what Patrol mints).
    Cask84Base62,
    /// 84 chars, raw-base64 checksum (pre-2024-09 keys).
    Cask84Raw,
    /// 88-char long form, base62 checksum.
    Cask88Base62,
    /// 88-char long form, raw-base64 checksum.
    Cask88Raw,
    /// Legacy 52-char PAT, user-PAT CRC seed.
    LegacyUser,
    /// Legacy 52-char PAT, application-PAT CRC seed.
    LegacyApp,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Cask84Base62,
        Kind::Cask84Raw,
        Kind::Cask88Base62,
        Kind::Cask88Raw,
        Kind::LegacyUser,
        Kind::LegacyApp,
    ];

    pub fn is_legacy(self) -> bool {
        matches!(self, Kind::LegacyUser | Kind::LegacyApp)
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const B32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A valid token of `kind` (`signature` applies to 84/88-char keys).
pub fn token(
    kind: Kind,
    signature: ProviderSignature,
    rng: &mut StdRng,
) -> Result<String, TokenFormatError> {
    match kind {
        Kind::LegacyUser => Ok(legacy(rng.gen(), 0xE0B9_692D)),
        Kind::LegacyApp => Ok(legacy(rng.gen(), 0x1019_F92E)),
        _ => loop {
            // Like Microsoft's generators, redraw keys whose raw-base64
            // checksum would contain `+` or `/` (never valid).
            let key = cask(kind, signature, rng)?;
            if key
                .bytes()
                .take(86)
                .all(|c| c.is_ascii_alphanumeric() || c == b'=')
            {
                return Ok(key);
            }
        },
    }
}

/// An 84/88-char key of `kind`: minted, then re-sealed in the kind's encoding.
fn cask(
    kind: Kind,
    signature: ProviderSignature,
    rng: &mut StdRng,
) -> Result<String, TokenFormatError> {
    let month = rng.gen_range(1..=12);
    let now = Utc
        .with_ymd_and_hms(2025, month, 15, 12, 0, 0)
        .single()
        .ok_or(TokenFormatError::DateOutOfRange)?;
    let minted = token::mint(now, &MintOptions::with_signature(signature), rng)?;
    let body = minted.expose().get(..80).unwrap_or_default();
    let data = STANDARD
        .decode(body)
        .map_err(|_| TokenFormatError::BadChecksum)?;
    let ck = checksum32(&data, CASK_CHECKSUM_SEED);
    let raw = STANDARD.encode(ck.to_le_bytes()); // 6 characters and "=="
    let b62 = base62_checksum(ck);
    let tail = match kind {
        Kind::Cask84Raw => raw.get(..4).unwrap_or_default().to_owned(),
        Kind::Cask88Base62 => format!("{b62}=="),
        Kind::Cask88Raw => raw,
        _ => b62.get(..4).unwrap_or_default().to_owned(),
    };
    Ok(format!("{body}{tail}"))
}

/// The same token with one character changed to another of its alphabet, so
/// that it keeps its shape (and still matches a format regex) but fails its
/// checksum. Retries until validation really fails.
pub fn corrupt(token: &str, rng: &mut StdRng) -> String {
    let legacy = token.len() == 52;
    loop {
        let mut b = token.as_bytes().to_vec();
        // Positions outside the fixed fields: the random part or the checksum.
        let pos = if legacy || rng.gen_bool(0.5) {
            rng.gen_range(0..52)
        } else {
            rng.gen_range(80..84)
        };
        let alphabet: &[u8] = if legacy { B32 } else { B62 };
        let Some(slot) = b.get_mut(pos) else {
            return token.to_owned();
        };
        let replacement = alphabet[rng.gen_range(0..alphabet.len())];
        if replacement == *slot {
            continue;
        }
        *slot = replacement;
        let out: String = b.into_iter().map(char::from).collect();
        if token::validate(&out).is_err() {
            return out;
        }
    }
}

/// Six base62 checksum characters, canonicalised the way Microsoft's
/// `GetBase62EncodedChecksum` does (`docs/token-format.md`): the checksum's
/// little-endian bytes read as a big-endian number, one `0` per leading zero
/// byte, right-padded with `0`, and the sixth character's low 4 bits cleared
/// by a base64 round trip.
fn base62_checksum(checksum: u32) -> String {
    let value = u32::from_be_bytes(checksum.to_le_bytes());
    let zeros = (value.leading_zeros() / 8).min(3) as usize;
    let mut digits = Vec::new();
    let mut x = value;
    loop {
        digits.push(B62[(x % 62) as usize]);
        x /= 62;
        if x == 0 {
            break;
        }
    }
    let mut text = vec![b'0'; zeros];
    text.extend(digits.iter().rev());
    text.resize(6, b'0');
    let sixth = B64.iter().position(|&c| c == text[5]).unwrap_or(0) & 0x30;
    text[5] = B64[sixth];
    text.into_iter().map(char::from).collect()
}

/// A legacy PAT (Microsoft's `SEC101_102_AdoPat` rule): 28 random bytes plus
/// `CRC32(them) ^ seed` little-endian in bytes 22, 8, 7 and 2, lowercase
/// base32 without padding.
fn legacy(random: [u8; 28], seed: u32) -> String {
    let crc = crc32fast::hash(&random) ^ seed;
    let mut b = [0u8; 32];
    b[0..2].copy_from_slice(&random[0..2]);
    b[3..7].copy_from_slice(&random[2..6]);
    b[9..22].copy_from_slice(&random[6..19]);
    b[23..32].copy_from_slice(&random[19..28]);
    let [c0, c1, c2, c3] = crc.to_le_bytes();
    b[22] = c0;
    b[8] = c1;
    b[7] = c2;
    b[2] = c3;
    let mut out = String::with_capacity(52);
    let (mut acc, mut bits) = (0u32, 0u32);
    for byte in b {
        acc = (acc << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(B32[((acc >> bits) & 31) as usize]));
        }
    }
    out.push(char::from(B32[((acc << (5 - bits)) & 31) as usize]));
    out
}
