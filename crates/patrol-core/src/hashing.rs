//! Keyed hashing of PAT secrets: the store only ever sees
//! `HMAC-SHA256(server_key, secret)` plus the id of the key used.
//!
//! Several keys may be configured; the first one hashes new secrets, all of
//! them are tried on lookup, so tokens minted under an old key keep working
//! until that key is removed from the configuration.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::secret::PatSecret;

type HmacSha256 = Hmac<Sha256>;

/// A server key: a short public id and secret bytes (at least 32).
pub struct ServerKey {
    id: String,
    key: SecretSlice<u8>,
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerKey")
            .field("id", &self.id)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("server key id must be 1-32 characters of [A-Za-z0-9._-]")]
    BadId,
    #[error("server key must be at least 32 bytes")]
    TooShort,
    #[error("at least one server key is required")]
    NoKeys,
    #[error("duplicate server key id '{0}'")]
    DuplicateId(String),
}

impl ServerKey {
    pub fn new(id: &str, key: Vec<u8>) -> Result<Self, KeyError> {
        let id_ok = !id.is_empty()
            && id.len() <= 32
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !id_ok {
            return Err(KeyError::BadId);
        }
        if key.len() < 32 {
            return Err(KeyError::TooShort);
        }
        Ok(Self {
            id: id.to_owned(),
            key: SecretSlice::from(key),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn mac(&self, secret: &str) -> TokenDigest {
        // HMAC accepts keys of any length, so this cannot fail; fall back to
        // an all-zero digest that can never match a stored one otherwise.
        let Ok(mut mac) = HmacSha256::new_from_slice(self.key.expose_secret()) else {
            return TokenDigest([0; 32]);
        };
        mac.update(secret.as_bytes());
        TokenDigest(mac.finalize().into_bytes().into())
    }
}

/// The 32-byte keyed hash of a PAT secret. Comparison is constant-time.
#[derive(Clone, Copy)]
pub struct TokenDigest(pub [u8; 32]);

impl TokenDigest {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    pub fn from_slice(b: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(b).ok().map(Self)
    }
}

impl PartialEq for TokenDigest {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}
impl Eq for TokenDigest {}

impl std::fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenDigest(..)")
    }
}

/// A keyed hash together with the id of the key that produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedHash {
    pub key_id: String,
    pub digest: TokenDigest,
}

/// The configured server keys, current first.
#[derive(Debug)]
pub struct TokenHasher {
    keys: Vec<ServerKey>,
}

impl TokenHasher {
    pub fn new(keys: Vec<ServerKey>) -> Result<Self, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::NoKeys);
        }
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].iter().any(|o| o.id == k.id) {
                return Err(KeyError::DuplicateId(k.id.clone()));
            }
        }
        Ok(Self { keys })
    }

    /// The hash under the current key, to store for a new secret.
    pub fn hash(&self, secret: &PatSecret) -> KeyedHash {
        let key = &self.keys[0];
        KeyedHash {
            key_id: key.id.clone(),
            digest: key.mac(secret.expose()),
        }
    }

    /// One candidate per configured key, to look a presented secret up.
    pub fn candidates(&self, secret: &str) -> Vec<KeyedHash> {
        self.keys
            .iter()
            .map(|k| KeyedHash {
                key_id: k.id.clone(),
                digest: k.mac(secret),
            })
            .collect()
    }

    /// Constant-time check of a presented secret against a stored hash.
    pub fn verify(&self, secret: &str, stored: &KeyedHash) -> bool {
        self.keys
            .iter()
            .find(|k| k.id == stored.key_id)
            .is_some_and(|k| k.mac(secret) == stored.digest) // ct: TokenDigest eq is ct_eq
    }

    /// A 32-byte subkey of the current server key for another purpose
    /// (`label` names it, e.g. `"patrol web session seal v1"`), so one
    /// configured secret never serves two uses directly.
    pub fn derive_key(&self, label: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(
            self.keys[0]
                .mac(&format!("patrol-derive\0{label}"))
                .as_bytes(),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, b: u8) -> ServerKey {
        ServerKey::new(id, vec![b; 32]).unwrap()
    }

    #[test]
    fn hmac_matches_rfc4231_style_reference() {
        // HMAC-SHA256 with key = 32 bytes of 0x0b over "Hi There" (computed
        // independently with Python's hmac module).
        let k = ServerKey::new("k1", vec![0x0b; 32]).unwrap();
        let d = k.mac("Hi There");
        let hex: String = d.0.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7"
        );
    }

    #[test]
    fn rotation_old_tokens_verify_until_key_removed() {
        let old = TokenHasher::new(vec![key("k1", 1)]).unwrap();
        let secret = PatSecret::new("token-text".into());
        let stored = old.hash(&secret);
        assert_eq!(stored.key_id, "k1");

        let rotated = TokenHasher::new(vec![key("k2", 2), key("k1", 1)]).unwrap();
        assert!(rotated.verify("token-text", &stored));
        assert!(rotated.candidates("token-text").contains(&stored));
        assert_eq!(rotated.hash(&secret).key_id, "k2");

        let removed = TokenHasher::new(vec![key("k2", 2)]).unwrap();
        assert!(!removed.verify("token-text", &stored));
        assert!(!removed.candidates("token-text").contains(&stored));
    }

    #[test]
    fn derived_keys_differ_by_label_and_key() {
        let a = TokenHasher::new(vec![key("a", 1)]).unwrap();
        let b = TokenHasher::new(vec![key("b", 2)]).unwrap();
        assert_ne!(a.derive_key("x"), a.derive_key("y"));
        assert_ne!(a.derive_key("x"), b.derive_key("x"));
        assert_eq!(a.derive_key("x"), a.derive_key("x"));
    }

    #[test]
    fn wrong_secret_does_not_verify() {
        let h = TokenHasher::new(vec![key("k1", 1)]).unwrap();
        let stored = h.hash(&PatSecret::new("a".into()));
        assert!(!h.verify("b", &stored));
    }

    #[test]
    fn key_validation() {
        assert_eq!(ServerKey::new("", vec![0; 32]).err(), Some(KeyError::BadId));
        assert_eq!(
            ServerKey::new("a b", vec![0; 32]).err(),
            Some(KeyError::BadId)
        );
        assert_eq!(
            ServerKey::new("k", vec![0; 31]).err(),
            Some(KeyError::TooShort)
        );
        assert_eq!(TokenHasher::new(vec![]).err(), Some(KeyError::NoKeys));
        assert!(matches!(
            TokenHasher::new(vec![key("a", 1), key("a", 2)]),
            Err(KeyError::DuplicateId(_))
        ));
        assert!(!format!("{:?}", key("k", 7)).contains("7, 7"));
    }
}
