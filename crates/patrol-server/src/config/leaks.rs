//! `[leaks]`: who may report leaked tokens (docs/leaks.md). GitHub's secret
//! scanning signs its reports with ECDSA P-256 keys it publishes; Patrol
//! never fetches them (no network at run time), they are configured here —
//! inline, or as a file in the shape GitHub serves them. GitLab's token
//! revocation presents a shared secret.

use std::path::PathBuf;

use base64::Engine;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use secrecy::SecretString;
use serde::Deserialize;

use super::settings::invalid;
use super::{ConfigError, Env, SecretSource};

/// `[leaks]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeaksSection {
    pub github: GitHubLeaksSection,
    pub gitlab: GitLabLeaksSection,
}

/// `[leaks.github]`: the intake is on when at least one key is configured.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GitHubLeaksSection {
    pub public_keys: Vec<GitHubKeyEntry>,
    /// A file shaped like `GET https://api.github.com/meta/public_keys/secret_scanning`
    /// (`{"public_keys": [{"key_identifier": …, "key": …}]}`).
    pub public_keys_file: Option<PathBuf>,
}

/// One published key: its identifier and its PEM (`-----BEGIN PUBLIC KEY-----`).
#[derive(Debug, Clone, Deserialize)]
pub struct GitHubKeyEntry {
    pub key_identifier: String,
    pub key: String,
}

#[derive(Deserialize)]
struct KeysFile {
    public_keys: Vec<GitHubKeyEntry>,
}

/// `[leaks.gitlab]`: the intake is on when `token` is set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GitLabLeaksSection {
    /// The pre-shared token GitLab sends in `Authorization`.
    pub token: Option<SecretSource>,
}

/// The resolved intake credentials.
#[derive(Debug, Default)]
pub struct LeakIntake {
    pub github_keys: Vec<GitHubKey>,
    pub gitlab_token: Option<SecretString>,
}

/// A GitHub signing key.
#[derive(Debug, Clone)]
pub struct GitHubKey {
    pub id: String,
    pub key: VerifyingKey,
}

/// Shortest GitLab token accepted.
const MIN_GITLAB_TOKEN_CHARS: usize = 16;

impl LeakIntake {
    /// Is `signature_b64` (base64 of a DER ECDSA signature) a signature of
    /// `body` by the key named `key_id`? Verified over the raw bytes.
    pub fn github_signed(&self, key_id: &str, signature_b64: &str, body: &[u8]) -> bool {
        let Some(k) = self.github_keys.iter().find(|k| k.id == key_id) else {
            return false;
        };
        let Ok(der) = base64::engine::general_purpose::STANDARD.decode(signature_b64.trim()) else {
            return false;
        };
        let Ok(sig) = Signature::from_der(&der) else {
            return false;
        };
        k.key.verify(body, &sig).is_ok()
    }
}

impl LeaksSection {
    pub(super) fn resolve(&self, env: &Env) -> Result<LeakIntake, ConfigError> {
        let key = "leaks.github.public_keys";
        let mut entries = self.github.public_keys.clone();
        if let Some(path) = &self.github.public_keys_file {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
                path: path.clone(),
                source: e,
            })?;
            let file: KeysFile = serde_json::from_str(&text).map_err(|e| ConfigError::File {
                path: path.clone(),
                message: format!("not a GitHub public-keys document: {e}"),
            })?;
            entries.extend(file.public_keys);
        }
        let mut github_keys = Vec::with_capacity(entries.len());
        for e in entries {
            if e.key_identifier.trim().is_empty() {
                return Err(invalid(key, "key_identifier must not be empty"));
            }
            let vk = VerifyingKey::from_public_key_pem(e.key.trim()).map_err(|err| {
                invalid(
                    key,
                    format!(
                        "key '{}' is not a P-256 public key in PEM: {err}",
                        e.key_identifier
                    ),
                )
            })?;
            github_keys.push(GitHubKey {
                id: e.key_identifier,
                key: vk,
            });
        }
        let gitlab_token = match &self.gitlab.token {
            None => None,
            Some(src) => {
                let t = src.read(env, "leaks.gitlab.token")?;
                if secrecy::ExposeSecret::expose_secret(&t).chars().count() < MIN_GITLAB_TOKEN_CHARS
                {
                    return Err(invalid(
                        "leaks.gitlab.token",
                        format!("must be at least {MIN_GITLAB_TOKEN_CHARS} characters"),
                    ));
                }
                Some(t)
            }
        };
        Ok(LeakIntake {
            github_keys,
            gitlab_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::SigningKey;
    use p256::pkcs8::{EncodePublicKey, LineEnding};

    fn section(id: &str, pem: String) -> LeaksSection {
        LeaksSection {
            github: GitHubLeaksSection {
                public_keys: vec![GitHubKeyEntry {
                    key_identifier: id.into(),
                    key: pem,
                }],
                public_keys_file: None,
            },
            gitlab: GitLabLeaksSection::default(),
        }
    }

    #[test]
    fn signatures_check_against_the_named_key_over_the_raw_body() {
        let sk = SigningKey::random(&mut rand::rngs::OsRng);
        let pem = sk
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let intake = section("k1", pem).resolve(&Env::default()).unwrap();
        let body = br#"[{"token":"x","type":"t","url":"","source":"content"}]"#;
        let sig: Signature = sk.sign(body);
        let b64 = base64::engine::general_purpose::STANDARD.encode(sig.to_der().as_bytes());
        assert!(intake.github_signed("k1", &b64, body));
        assert!(!intake.github_signed("k2", &b64, body), "unknown key id");
        assert!(!intake.github_signed("k1", &b64, b" [{}]"), "other body");
        assert!(!intake.github_signed("k1", "not base64!", body));
        assert!(!intake.github_signed("k1", "AAAA", body), "not DER");
    }

    #[test]
    fn keys_load_from_githubs_published_document() {
        let sk = SigningKey::random(&mut rand::rngs::OsRng);
        let pem = sk
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let doc = serde_json::json!({"public_keys": [
            {"key_identifier": "gh-1", "key": pem, "is_current": true}
        ]});
        std::fs::write(&path, doc.to_string()).unwrap();
        let s = LeaksSection {
            github: GitHubLeaksSection {
                public_keys: Vec::new(),
                public_keys_file: Some(path.clone()),
            },
            ..LeaksSection::default()
        };
        let intake = s.resolve(&Env::default()).unwrap();
        let sig: Signature = sk.sign(b"[]");
        let b64 = base64::engine::general_purpose::STANDARD.encode(sig.to_der().as_bytes());
        assert!(intake.github_signed("gh-1", &b64, b"[]"));
        std::fs::write(&path, "{}").unwrap();
        let err = s.resolve(&Env::default()).unwrap_err().to_string();
        assert!(err.contains("keys.json"), "{err}");
    }

    #[test]
    fn bad_keys_and_short_tokens_are_refused_by_name() {
        let err = section(
            "k1",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----".into(),
        )
        .resolve(&Env::default())
        .unwrap_err();
        assert!(
            err.to_string().contains("leaks.github.public_keys"),
            "{err}"
        );
        let s = LeaksSection {
            gitlab: GitLabLeaksSection {
                token: Some(SecretSource::Env("GL".into())),
            },
            ..LeaksSection::default()
        };
        let env: Env = [("GL", "short")].into_iter().collect();
        assert!(s
            .resolve(&env)
            .unwrap_err()
            .to_string()
            .contains("leaks.gitlab.token"));
        let env: Env = [("GL", "a-long-enough-shared-secret")]
            .into_iter()
            .collect();
        assert!(s.resolve(&env).unwrap().gitlab_token.is_some());
    }
}
