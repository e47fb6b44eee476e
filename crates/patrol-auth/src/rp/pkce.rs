//! PKCE (RFC 7636, S256) and the random values of a sign-in (`state`, `nonce`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

/// A PKCE pair (RFC 7636, S256). `Debug` redacts the verifier.
#[derive(Clone)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkce")
            .field("verifier", &"[redacted]")
            .field("challenge", &self.challenge)
            .finish()
    }
}

impl Pkce {
    /// 32 random bytes as a base64url verifier (43 characters) and its S256 challenge.
    pub fn generate() -> Pkce {
        let verifier = random_value();
        let challenge = Pkce::challenge_for(&verifier);
        Pkce {
            verifier,
            challenge,
        }
    }

    /// `BASE64URL(SHA256(verifier))`.
    pub fn challenge_for(verifier: &str) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
    }

    /// Whether `challenge` has the shape of an S256 challenge (43 base64url characters).
    pub(crate) fn is_well_formed_challenge(challenge: &str) -> bool {
        challenge.len() == 43
            && challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }
}

/// 32 random bytes (OS RNG) as base64url without padding: for `state`, `nonce`, session ids.
pub fn random_value() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_rfc7636_vector() {
        assert_eq!(
            Pkce::challenge_for("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let p = Pkce::generate();
        assert_eq!(p.verifier.len(), 43);
        assert_eq!(p.challenge, Pkce::challenge_for(&p.verifier));
        assert!(Pkce::is_well_formed_challenge(&p.challenge));
        assert!(!Pkce::is_well_formed_challenge("short"));
        assert!(!Pkce::is_well_formed_challenge(&"+".repeat(43)));
        assert_ne!(Pkce::generate().verifier, p.verifier);
        assert!(!format!("{p:?}").contains(&p.verifier));
    }

    #[test]
    fn random_values() {
        let a = random_value();
        assert_eq!(a.len(), 43);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(a, random_value());
    }
}
