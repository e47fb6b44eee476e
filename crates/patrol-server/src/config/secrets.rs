//! Where secrets live. A secret is never written in the configuration: it is
//! read at start-up from exactly one of an environment variable or a file
//! (the `*_FILE` convention of container secrets). Every secret Patrol needs —
//! server keys, the web client secret, resource-server secrets, and whatever
//! comes next — is a [`SecretSource`] field, so the rule lives here once.

use std::fmt;
use std::path::PathBuf;

use base64::Engine;
use secrecy::SecretString;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use patrol_core::hashing::ServerKey;

use super::{ConfigError, Env};

/// "From environment variable X" or "from file F" — in TOML
/// `{ env = "VARIABLE" }` or `{ file = "/run/secrets/name" }`.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}

/// Shown instead of the value when a literal was written where a secret goes.
const NOT_A_LITERAL: &str = "a secret is never written in the configuration: use \
     { env = \"VARIABLE\" } or { file = \"/path\" }";

impl SecretSource {
    /// The one rule: exactly one of `env` and `file`, neither empty.
    pub fn new(env: Option<String>, file: Option<PathBuf>) -> Result<Self, String> {
        match (env, file) {
            (Some(var), None) if !var.is_empty() => Ok(Self::Env(var)),
            (None, Some(path)) if !path.as_os_str().is_empty() => Ok(Self::File(path)),
            (Some(_), None) | (None, Some(_)) => Err("`env` and `file` must not be empty".into()),
            _ => Err("give exactly one of `env` or `file`".into()),
        }
    }

    /// Read the secret; surrounding whitespace (a file's last newline) is
    /// dropped, and an empty secret is an error. `what` names it in errors.
    pub fn read(&self, env: &Env, what: &str) -> Result<SecretString, ConfigError> {
        let fail = |message: String| ConfigError::Secret {
            what: what.to_owned(),
            message,
        };
        let text = match self {
            Self::Env(var) => env
                .get(var)
                .ok_or_else(|| fail(format!("environment variable {var} is not set")))?
                .to_owned(),
            Self::File(path) => std::fs::read_to_string(path)
                .map_err(|e| fail(format!("reading {}: {e}", path.display())))?,
        };
        let secret = text.trim();
        if secret.is_empty() {
            return Err(fail(format!("{self:?} is empty")));
        }
        Ok(SecretString::from(secret.to_owned()))
    }
}

/// Names where the secret lives, never the secret.
impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(var) => write!(f, "environment variable {var}"),
            Self::File(path) => write!(f, "file {}", path.display()),
        }
    }
}

impl<'de> Deserialize<'de> for SecretSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (_, source) = d.deserialize_any(SecretVisitor { with_id: false })?;
        Ok(source)
    }
}

/// One server key: its id (stored beside every hash made with it) and where
/// its bytes live — in TOML `{ id = "2026-11", env = "VARIABLE" }` or
/// `{ id = "2026-11", file = "/path" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRef {
    pub id: String,
    pub secret: SecretSource,
}

impl KeyRef {
    /// Read and decode the key (hex or base64, at least 32 bytes).
    pub fn load(&self, env: &Env) -> Result<ServerKey, ConfigError> {
        let what = format!("server key '{}'", self.id);
        let text = self.secret.read(env, &what)?;
        let fail = |message: String| ConfigError::Secret {
            what: what.clone(),
            message,
        };
        let bytes = decode_key(secrecy::ExposeSecret::expose_secret(&text)).map_err(fail)?;
        ServerKey::new(&self.id, bytes).map_err(|e| fail(e.to_string()))
    }
}

impl<'de> Deserialize<'de> for KeyRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (id, secret) = d.deserialize_any(SecretVisitor { with_id: true })?;
        let id = id.ok_or_else(|| de::Error::missing_field("id"))?;
        Ok(Self { id, secret })
    }
}

/// Reads `{ env | file }` (and `id` for keys) without ever echoing a value
/// given where a table was expected: that value is probably the secret.
struct SecretVisitor {
    with_id: bool,
}

impl SecretVisitor {
    fn fields(&self) -> &'static [&'static str] {
        if self.with_id {
            &["id", "env", "file"]
        } else {
            &["env", "file"]
        }
    }
}

impl<'de> Visitor<'de> for SecretVisitor {
    type Value = (Option<String>, SecretSource);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{ env = \"VARIABLE\" } or { file = \"/path\" }")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut id, mut env, mut file) = (None, None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "id" if self.with_id => id = Some(map.next_value::<String>()?),
                "env" => env = Some(map.next_value::<String>()?),
                "file" => file = Some(map.next_value::<PathBuf>()?),
                other => return Err(de::Error::unknown_field(other, self.fields())),
            }
        }
        let source = SecretSource::new(env, file).map_err(de::Error::custom)?;
        Ok((id, source))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Err(E::custom(NOT_A_LITERAL))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Err(E::custom(NOT_A_LITERAL))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Err(E::custom(NOT_A_LITERAL))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(E::custom(NOT_A_LITERAL))
    }
}

/// A key as hex (64+ digits) or standard base64.
pub fn decode_key(text: &str) -> Result<Vec<u8>, String> {
    let t = text.trim();
    if t.len() >= 64 && t.len().is_multiple_of(2) && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex::decode(t).map_err(|e| format!("not valid hex: {e}"));
    }
    base64::engine::general_purpose::STANDARD
        .decode(t)
        .map_err(|_| "a server key must be hex or base64".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Holder {
        secret: SecretSource,
        #[serde(default)]
        keys: Vec<KeyRef>,
    }

    fn parse(text: &str) -> Result<Holder, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn exactly_one_of_env_or_file() {
        let h = parse("secret = { env = \"X\" }").unwrap();
        assert_eq!(h.secret, SecretSource::Env("X".into()));
        let h = parse("secret = { file = \"/run/s\" }").unwrap();
        assert_eq!(h.secret, SecretSource::File("/run/s".into()));
        for bad in [
            "secret = {}",
            "secret = { env = \"X\", file = \"/f\" }",
            "secret = { env = \"\" }",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let e = parse("secret = { value = \"X\" }").unwrap_err();
        assert!(e.contains("unknown field `value`"), "{e}");
        // An id belongs to keys only.
        assert!(parse("secret = { id = \"a\", env = \"X\" }").is_err());
    }

    #[test]
    fn a_literal_is_refused_without_being_repeated() {
        for literal in ["\"s3cret-value\"", "918273645"] {
            let e = toml::from_str::<Holder>(&format!("secret = {literal}"))
                .unwrap_err()
                .message()
                .to_owned();
            assert!(e.contains("never written in the configuration"), "{e}");
            assert!(!e.contains(literal.trim_matches('"')), "{e}");
        }
    }

    #[test]
    fn keys_name_their_id_and_source() {
        let h = parse(
            "secret = { env = \"X\" }\nkeys = [{ id = \"a\", env = \"K\" }, { id = \"b\", file = \"/k\" }]",
        )
        .unwrap();
        assert_eq!(h.keys[0].id, "a");
        assert_eq!(h.keys[1].secret, SecretSource::File("/k".into()));
        assert!(parse("secret = { env = \"X\" }\nkeys = [{ env = \"K\" }]")
            .unwrap_err()
            .contains("missing field `id`"));
        assert!(parse("secret = { env = \"X\" }\nkeys = [\"00ff\"]")
            .unwrap_err()
            .contains("never written"));
    }

    #[test]
    fn reading_trims_and_refuses_empty_or_missing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s");
        std::fs::write(&file, "  from-file\n").unwrap();
        let env: Env = [("SET", " from-env "), ("EMPTY", "  ")]
            .into_iter()
            .collect();
        let read = |s: SecretSource| {
            s.read(&env, "the thing")
                .map(|v| v.expose_secret().to_owned())
        };
        assert_eq!(read(SecretSource::File(file.clone())).unwrap(), "from-file");
        assert_eq!(read(SecretSource::Env("SET".into())).unwrap(), "from-env");
        let e = read(SecretSource::Env("EMPTY".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("the thing") && e.contains("empty"), "{e}");
        let e = read(SecretSource::Env("UNSET".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("UNSET is not set"), "{e}");
        let e = read(SecretSource::File(dir.path().join("missing")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing"), "{e}");
        // Debug names the source, never the value.
        assert!(!format!("{:?}", SecretSource::Env("SET".into())).contains("from-env"));
    }

    #[test]
    fn key_decoding() {
        assert_eq!(decode_key(&"ab".repeat(32)).unwrap(), vec![0xab; 32]);
        assert_eq!(decode_key("AAAA").unwrap(), vec![0, 0, 0]);
        assert!(decode_key("!!").is_err());
        let env: Env = [("K", "07".repeat(32))].into_iter().collect();
        let key = KeyRef {
            id: "k1".into(),
            secret: SecretSource::Env("K".into()),
        };
        assert!(key.load(&env).is_ok());
        let short: Env = [("K", "AAAA")].into_iter().collect();
        let e = key.load(&short).unwrap_err().to_string();
        assert!(
            e.contains("server key 'k1'") && e.contains("32 bytes"),
            "{e}"
        );
    }
}
