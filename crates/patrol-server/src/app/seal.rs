//! Authenticated encryption for what the server keeps but must not read back
//! in plaintext from disk or a cookie: IdP refresh tokens and the sign-in
//! state cookie. XChaCha20-Poly1305 under a subkey of the server key; the
//! purpose is bound as associated data, so one kind of box never opens as
//! another.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;

const NONCE: usize = 24;

#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    pub fn new(key: [u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: purpose.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, purpose: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE + 16 {
            return None;
        }
        let (nonce, body) = sealed.split_at(NONCE);
        let nonce: [u8; NONCE] = nonce.try_into().ok()?;
        self.cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: body,
                    aad: purpose.as_bytes(),
                },
            )
            .ok()
    }

    /// Sealed and base64url-encoded, for a cookie value.
    pub fn seal_text(&self, purpose: &str, plaintext: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(self.seal(purpose, plaintext))
    }

    pub fn open_text(&self, purpose: &str, text: &str) -> Option<Vec<u8>> {
        let raw = URL_SAFE_NO_PAD.decode(text).ok()?;
        self.open(purpose, &raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let s = Sealer::new([7; 32]);
        let boxed = s.seal("refresh", b"secret-refresh-token");
        assert!(
            !boxed.windows(6).any(|w| w == b"secret"),
            "ciphertext must not contain the plaintext"
        );
        assert_eq!(s.open("refresh", &boxed).unwrap(), b"secret-refresh-token");
        assert!(s.open("login", &boxed).is_none(), "purpose is bound");
        let mut bad = boxed.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(s.open("refresh", &bad).is_none());
        assert!(Sealer::new([8; 32]).open("refresh", &boxed).is_none());
        assert!(s.open("refresh", &boxed[..10]).is_none());
        assert_ne!(s.seal("x", b"a"), s.seal("x", b"a"), "random nonces");
        let t = s.seal_text("login", b"{}");
        assert_eq!(s.open_text("login", &t).unwrap(), b"{}");
        assert!(s.open_text("login", "not base64!").is_none());
    }
}
