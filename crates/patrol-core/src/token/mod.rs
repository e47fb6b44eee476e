//! The identifiable PAT format: Microsoft's "legacy CASK" / HIS v2 common
//! annotated security key, as used by Azure DevOps PATs, plus the legacy
//! 52-character ADO PAT for validation only.
//!
//! Reference: `docs/token-format.md` §1 (sources: microsoft/security-utilities
//! `IdentifiableSecrets.cs`, `LegacyCommonAnnotatedSecurityKey.cs`,
//! `SEC101_102_AdoPat.cs`).
//!
//! 84-char layout (0-based, end-exclusive):
//!
//! ```text
//! [0,52)  random (base62 from a CSPRNG)      [60,72) platform-reserved (9 bytes)
//! [52,56) "JQQJ"                             [72,76) provider-reserved (3 bytes)
//! 56      '9'                                [76,80) provider signature, e.g. "AZDO"
//! 57      kind: '9' | 'D' | 'H'              [80,84) Marvin32 checksum (base62 or raw base64)
//! 58      year (base64 value + 2024)         88-char long form: 2 more checksum chars + "=="
//! 59      month 'A'..='L'
//! ```
//!
//! [`validate`] is on the request hot path: it works on bytes (never on
//! `char`s, so any UTF-8 is safe), allocates only the few short strings of the
//! returned [`TokenInfo`], and never panics. Errors never contain token text.

mod cask;
mod codec;
mod legacy;
pub mod marvin;

#[cfg(test)]
mod tests;

pub use cask::{mint, mint_default};

/// Marvin32 seed of the CASK checksum: "Default0" reversed, read little-endian.
pub const CASK_CHECKSUM_SEED: u64 = 0x4465_6661_756C_7430;

/// Length of the standard form.
pub const CASK_LEN: usize = 84;
/// Length of the long form (full 4-byte checksum, ends in `==`).
pub const CASK_LONG_LEN: usize = 88;
/// Length of a legacy (pre-2024) ADO PAT.
pub const LEGACY_LEN: usize = 52;

/// Everything that can be wrong with a token's format or with mint inputs.
/// Messages are human-readable and never contain token text.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TokenFormatError {
    #[error("token has length {0}; expected 84, 88 or 52")]
    WrongLength(usize),
    #[error("token has an invalid character at byte position {position}")]
    InvalidCharacter { position: usize },
    #[error("token's fixed field `{field}` has an unexpected value")]
    FixedField { field: &'static str },
    #[error("token checksum does not match")]
    BadChecksum,
    #[error("token's provider signature is not the expected one")]
    WrongSignature,
    #[error("provider signature must be 4 ASCII letters or digits, the first a letter")]
    InvalidSignature,
    #[error("mint date must lie in the years 2024 to 2085")]
    DateOutOfRange,
    #[error("reserved bytes must base64-encode to letters and digits only (no '+' or '/')")]
    InvalidReserved,
    #[error("the random number source failed")]
    RandomSource,
}

/// A 4-character provider signature (characters 76..80 of a CASK token):
/// exactly 4 ASCII alphanumerics, the first a letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProviderSignature([u8; 4]);

impl ProviderSignature {
    /// `AZDO`.
    pub const DEFAULT: ProviderSignature = ProviderSignature(*b"AZDO");

    pub fn parse(s: &str) -> Result<Self, TokenFormatError> {
        match *s.as_bytes() {
            [a, b, c, d]
                if a.is_ascii_alphabetic()
                    && b.is_ascii_alphanumeric()
                    && c.is_ascii_alphanumeric()
                    && d.is_ascii_alphanumeric() =>
            {
                Ok(Self([a, b, c, d]))
            }
            _ => Err(TokenFormatError::InvalidSignature),
        }
    }

    pub fn as_str(&self) -> &str {
        // Always ASCII by construction, so the fallback is unreachable.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    pub fn as_bytes(&self) -> &[u8; 4] {
        &self.0
    }

    /// Case-insensitive comparison with the signature bytes of a token.
    pub fn matches(&self, signature: &[u8]) -> bool {
        self.0.eq_ignore_ascii_case(signature)
    }
}

impl Default for ProviderSignature {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl std::fmt::Display for ProviderSignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ProviderSignature {
    type Err = TokenFormatError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for ProviderSignature {
    type Error = TokenFormatError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ProviderSignature> for String {
    fn from(s: ProviderSignature) -> String {
        s.as_str().to_owned()
    }
}

/// What goes into a minted token besides randomness and the date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MintOptions {
    pub signature: ProviderSignature,
    /// Characters 60..72. Every 6-bit group must be < 62 (no `+`/`/`).
    pub platform_reserved: [u8; 9],
    /// Characters 72..76. Every 6-bit group must be < 62 (no `+`/`/`).
    pub provider_reserved: [u8; 3],
}

/// Platform-reserved bytes like real ADO PATs (`ACAAAAAAAAAA`).
pub const DEFAULT_PLATFORM_RESERVED: [u8; 9] = [0, 0x20, 0, 0, 0, 0, 0, 0, 0];
/// Provider-reserved bytes like real ADO PATs (`AAAS`).
pub const DEFAULT_PROVIDER_RESERVED: [u8; 3] = [0, 0, 0x12];

impl Default for MintOptions {
    fn default() -> Self {
        Self {
            signature: ProviderSignature::DEFAULT,
            platform_reserved: DEFAULT_PLATFORM_RESERVED,
            provider_reserved: DEFAULT_PROVIDER_RESERVED,
        }
    }
}

impl MintOptions {
    pub fn new(
        signature: ProviderSignature,
        platform_reserved: [u8; 9],
        provider_reserved: [u8; 3],
    ) -> Result<Self, TokenFormatError> {
        let opts = Self {
            signature,
            platform_reserved,
            provider_reserved,
        };
        opts.check()?;
        Ok(opts)
    }

    /// Default reserved fields with the given signature.
    pub fn with_signature(signature: ProviderSignature) -> Self {
        Self {
            signature,
            ..Self::default()
        }
    }

    /// The fields are public, so [`mint`] re-checks them through this.
    pub(crate) fn check(&self) -> Result<(), TokenFormatError> {
        if reserved_encodes_alnum(&self.platform_reserved)
            && reserved_encodes_alnum(&self.provider_reserved)
        {
            Ok(())
        } else {
            Err(TokenFormatError::InvalidReserved)
        }
    }
}

/// True when every 6-bit group of `bytes` (a multiple of 3 long) is < 62,
/// i.e. the base64 text is alphanumeric.
fn reserved_encodes_alnum(bytes: &[u8]) -> bool {
    bytes.chunks(3).all(|c| {
        let mut n = 0u32;
        for i in 0..3 {
            n = (n << 8) | u32::from(c.get(i).copied().unwrap_or(0));
        }
        (0..4).all(|k| (n >> (18 - 6 * k)) & 0x3F < 62)
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenFormat {
    /// 84-char common annotated key.
    Cask84,
    /// 88-char long form (full 4-byte checksum, ends in `==`).
    Cask88,
    /// 52-char lowercase base32 legacy ADO PAT.
    Legacy52,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumEncoding {
    /// Marvin32, base62 text (library v1.7.0+, real 2025 ADO PATs, what we mint).
    Base62,
    /// Marvin32, raw base64 of the checksum bytes (pre-v1.7.0 keys).
    RawBase64,
    /// Legacy PAT, CRC32 with the user-PAT seed.
    Crc32User,
    /// Legacy PAT, CRC32 with the application-PAT seed.
    Crc32App,
}

/// The non-secret facts a valid token carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    pub format: TokenFormat,
    pub checksum: ChecksumEncoding,
    /// `'9'` (standard), `'D'` (derived) or `'H'` (hashed data); CASK only.
    pub kind: Option<char>,
    /// Characters 76..80 as written (case preserved); CASK only.
    pub signature: Option<String>,
    pub minted_year: Option<i32>,
    /// 1..=12.
    pub minted_month: Option<u32>,
    /// Characters 60..72; CASK only.
    pub platform_reserved: Option<String>,
    /// Characters 72..76; CASK only.
    pub provider_reserved: Option<String>,
}

/// Full offline check of a token: length, character classes, fixed fields,
/// and checksum (Marvin32 in either encoding for CASK forms; CRC32 with either
/// seed for the legacy form). Any signature whose first character is a letter
/// is accepted; use [`validate_for`] to pin it.
pub fn validate(token: &str) -> Result<TokenInfo, TokenFormatError> {
    validate_inner(token, None)
}

/// [`validate`], plus: a CASK token's signature must equal `expected`
/// (ASCII case-insensitively). Legacy 52-char tokens carry no signature and pass.
pub fn validate_for(
    token: &str,
    expected: &ProviderSignature,
) -> Result<TokenInfo, TokenFormatError> {
    validate_inner(token, Some(expected))
}

fn validate_inner(
    token: &str,
    expected: Option<&ProviderSignature>,
) -> Result<TokenInfo, TokenFormatError> {
    let b = token.as_bytes();
    match b.len() {
        CASK_LEN | CASK_LONG_LEN => {
            let parts = cask::check(b)?;
            if let Some(expected) = expected {
                if !expected.matches(b.get(76..80).unwrap_or_default()) {
                    return Err(TokenFormatError::WrongSignature);
                }
            }
            Ok(parts.info(token))
        }
        LEGACY_LEN => {
            let checksum = legacy::check(b)?;
            Ok(TokenInfo {
                format: TokenFormat::Legacy52,
                checksum,
                kind: None,
                signature: None,
                minted_year: None,
                minted_month: None,
                platform_reserved: None,
                provider_reserved: None,
            })
        }
        n => Err(TokenFormatError::WrongLength(n)),
    }
}
