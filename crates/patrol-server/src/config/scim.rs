//! `[scim]`: the SCIM 2.0 endpoint (`/scim/v2`) identity providers
//! provision users through (docs/scim.md), and its bearer secrets.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::settings::invalid;
use super::{ConfigError, Env, SecretSource};

/// Shortest provisioning secret accepted.
const MIN_SECRET_CHARS: usize = 32;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScimSection {
    pub enabled: bool,
    /// The provisioning client's bearer secrets; several may be valid at
    /// once (rotation).
    pub tokens: Vec<SecretSource>,
}

impl ScimSection {
    /// On with at least one secret, each long enough (`Some`), or off.
    pub(crate) fn resolve(&self, env: &Env) -> Result<Option<Vec<SecretString>>, ConfigError> {
        if !self.enabled {
            return Ok(None);
        }
        if self.tokens.is_empty() {
            return Err(invalid(
                "scim.tokens",
                "SCIM is enabled but no token is configured: add { env = \"VARIABLE\" } or { file = \"/path\" }",
            ));
        }
        self.tokens
            .iter()
            .enumerate()
            .map(|(i, src)| {
                let what = format!("SCIM token {}", i + 1);
                let secret = src.read(env, &what)?;
                if secret.expose_secret().chars().count() < MIN_SECRET_CHARS {
                    return Err(ConfigError::Secret {
                        what,
                        message: format!(
                            "the secret must be at least {MIN_SECRET_CHARS} characters"
                        ),
                    });
                }
                Ok(secret)
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(text: &str) -> Result<Option<Vec<SecretString>>, String> {
        let s: ScimSection = toml::from_str(text).map_err(|e| e.to_string())?;
        let env: Env = [
            ("A", "a".repeat(32)),
            ("B", "b".repeat(40)),
            ("SHORT", "x".repeat(31)),
        ]
        .into_iter()
        .collect();
        s.resolve(&env).map_err(|e| e.to_string())
    }

    #[test]
    fn off_by_default_and_on_with_every_secret() {
        assert!(resolve("").unwrap().is_none());
        assert!(resolve("tokens = [{ env = \"A\" }]").unwrap().is_none());
        let on = resolve("enabled = true\ntokens = [{ env = \"A\" }, { env = \"B\" }]")
            .unwrap()
            .unwrap();
        let got: Vec<&str> = on.iter().map(|s| s.expose_secret()).collect();
        assert_eq!(got, ["a".repeat(32), "b".repeat(40)]);
    }

    #[test]
    fn missing_short_or_literal_secrets_are_refused_by_name() {
        let e = resolve("enabled = true").unwrap_err();
        assert!(e.contains("scim.tokens"), "{e}");
        let e = resolve("enabled = true\ntokens = [{ env = \"SHORT\" }]").unwrap_err();
        assert!(
            e.contains("SCIM token 1") && e.contains("32 characters"),
            "{e}"
        );
        assert!(!e.contains(&"x".repeat(31)), "no secret in errors: {e}");
        let e = resolve("enabled = true\ntokens = [{ env = \"NOPE\" }]").unwrap_err();
        assert!(e.contains("NOPE"), "{e}");
        assert!(resolve("enabled = true\ntokens = [\"literal-secret\"]").is_err());
    }
}
