//! The PAT secret as a type: never `Display`, `Debug` redacted, zeroised on drop.

use secrecy::{ExposeSecret, SecretString};

/// A PAT's plaintext. It exists only between minting (or an incoming request)
/// and hashing; it is shown once to its owner and never logged.
#[derive(Clone)]
pub struct PatSecret(SecretString);

impl PatSecret {
    pub fn new(text: String) -> Self {
        Self(SecretString::from(text))
    }

    /// The plaintext. Call sites are few and deliberate: hashing, the one
    /// creation response, and the offline format check.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for PatSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PatSecret([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = PatSecret::new("supersecretvalue".into());
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("supersecretvalue"));
        assert!(dbg.contains("REDACTED"));
        assert_eq!(s.expose(), "supersecretvalue");
    }
}
