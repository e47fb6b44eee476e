//! The legacy 52-char ADO PAT (`docs/token-format.md` §1.6): lowercase RFC 4648 base32 of 32 bytes,
//! four of which hold `CRC32(other 28 bytes) ^ seed` (`SEC101_102_AdoPat.cs`).
//! Validation only; Patrol never mints these.

use super::codec::INVALID;
use super::{ChecksumEncoding, TokenFormatError, LEGACY_LEN};

/// `IdentifiableMetadata.AdoUserPatChecksumSeed`.
pub(crate) const USER_PAT_SEED: u32 = 0xE0B9_692D;
/// `IdentifiableMetadata.AdoApplicationPatChecksumSeed`.
pub(crate) const APP_PAT_SEED: u32 = 0x1019_F92E;

pub(crate) const B32_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

static B32_VALUE: [u8; 256] = build_b32_table();

const fn build_b32_table() -> [u8; 256] {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < 32 {
        t[B32_ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
}

/// The 28 checksummed bytes: b[0..2] ‖ b[3..7] ‖ b[9..22] ‖ b[23..32].
pub(crate) const CRC_RANGES: [std::ops::Range<usize>; 4] = [0..2, 3..7, 9..22, 23..32];

/// The embedded value, little-endian from b[22], b[8], b[7], b[2].
pub(crate) const EMBEDDED_INDICES: [usize; 4] = [22, 8, 7, 2];

/// Checks a 52-byte candidate and tells which seed its CRC uses.
pub(crate) fn check(b: &[u8]) -> Result<ChecksumEncoding, TokenFormatError> {
    if b.len() != LEGACY_LEN {
        return Err(TokenFormatError::WrongLength(b.len()));
    }

    let mut bytes = [0u8; 32];
    let mut acc: u32 = 0;
    let mut bits: u32 = 0;
    let mut out = 0usize;
    for (position, &c) in b.iter().enumerate() {
        let v = B32_VALUE[usize::from(c)];
        if v == INVALID {
            return Err(TokenFormatError::InvalidCharacter { position });
        }
        acc = ((acc << 5) | u32::from(v)) & 0x1FFF;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            if let Some(slot) = bytes.get_mut(out) {
                *slot = (acc >> bits) as u8;
            }
            out += 1;
        }
    }
    // 52 * 5 = 260 bits: 32 bytes and 4 leftover bits, which must be zero,
    // so the last character is 'a' or 'q'.
    if acc & ((1 << bits) - 1) != 0 {
        return Err(TokenFormatError::InvalidCharacter {
            position: LEGACY_LEN - 1,
        });
    }

    let crc = crc_of(&bytes);
    let embedded = u32::from_le_bytes(EMBEDDED_INDICES.map(|i| bytes[i]));
    if embedded == crc ^ USER_PAT_SEED {
        Ok(ChecksumEncoding::Crc32User)
    } else if embedded == crc ^ APP_PAT_SEED {
        Ok(ChecksumEncoding::Crc32App)
    } else {
        Err(TokenFormatError::BadChecksum)
    }
}

/// CRC32-IEEE of the 28 non-checksum bytes.
pub(crate) fn crc_of(bytes: &[u8; 32]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for r in CRC_RANGES {
        h.update(&bytes[r]);
    }
    h.finalize()
}
