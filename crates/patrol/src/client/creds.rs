//! The stored sign-in: `credentials.json` in the user's configuration
//! directory (`$PATROL_CONFIG_DIR`, else `$XDG_CONFIG_HOME/patrol` or
//! `~/.config/patrol`), mode 0600 in a 0700 directory, one entry per server.
//! A lock file serialises the read-refresh-write of a silent refresh, so two
//! commands at once never both spend the same (rotating) refresh token.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::failure::Failure;
use super::files;

/// Overrides the configuration directory (tests, several identities).
pub const CONFIG_DIR_ENV: &str = "PATROL_CONFIG_DIR";
const FILE: &str = "credentials.json";
const LOCK: &str = "credentials.lock";
const VERSION: u32 = 1;

/// Everything stored: the sign-ins, and which server commands use by default.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Credentials {
    pub version: u32,
    /// The server of the last `patrol login`.
    #[serde(default)]
    pub default_server: Option<String>,
    /// Server base URL → its sign-in.
    #[serde(default)]
    pub logins: BTreeMap<String, Login>,
}

/// One server's sign-in: where it came from (so it can be refreshed without
/// asking the server again) and the issuer's tokens. `Debug` redacts them.
#[derive(Clone, Serialize, Deserialize)]
pub struct Login {
    pub issuer: String,
    #[serde(default)]
    pub discovery_url: Option<String>,
    pub client_id: String,
    pub scopes: String,
    #[serde(default)]
    pub resource: Option<String>,
    /// The organization chosen at login (`--org`).
    #[serde(default)]
    pub organization: Option<String>,
    /// Who signed in, from the ID token (for `patrol login`'s message).
    #[serde(default)]
    pub user: Option<String>,
    pub access_token: String,
    /// Unix seconds; `None` when the issuer did not say.
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("organization", &self.organization)
            .field("user", &self.user)
            .field("access_token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// The configuration directory and the files in it.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// An exclusive hold on the credentials (released when dropped).
pub struct Locked {
    _file: std::fs::File,
}

fn io_failure(what: &str, path: &Path, e: &std::io::Error) -> Failure {
    Failure::local(format!("{what} {}: {e}", path.display()))
}

impl Store {
    /// `$PATROL_CONFIG_DIR`, else the platform's configuration directory + `patrol`.
    pub fn open() -> Result<Store, Failure> {
        let dir = match std::env::var_os(CONFIG_DIR_ENV).filter(|v| !v.is_empty()) {
            Some(d) => PathBuf::from(d),
            None => dirs::config_dir()
                .map(|d| d.join("patrol"))
                .ok_or_else(|| {
                    Failure::local(format!(
                        "no configuration directory (set HOME, XDG_CONFIG_HOME or {CONFIG_DIR_ENV})"
                    ))
                })?,
        };
        Ok(Store { dir })
    }

    #[cfg(test)]
    pub fn at(dir: PathBuf) -> Store {
        Store { dir }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE)
    }

    /// The stored sign-ins; none when the file does not exist. A file others
    /// may read is tightened to 0600 first.
    pub fn load(&self) -> Result<Credentials, Failure> {
        let path = self.path();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Credentials {
                    version: VERSION,
                    ..Credentials::default()
                })
            }
            Err(e) => return Err(io_failure("reading", &path, &e)),
        };
        if files::tighten(&path).map_err(|e| io_failure("securing", &path, &e))? {
            eprintln!(
                "warning: {} could be read by other users; it is now private to you (0600)",
                path.display()
            );
        }
        let creds: Credentials = serde_json::from_str(&text).map_err(|e| {
            Failure::local(format!(
                "{} is damaged ({e}); remove it and run `patrol login` again",
                path.display()
            ))
        })?;
        if creds.version != VERSION {
            return Err(Failure::local(format!(
                "{} was written by another version of patrol; remove it and run `patrol login` again",
                path.display()
            )));
        }
        Ok(creds)
    }

    /// Writes the sign-ins (0600, atomically), or removes the file when none is left.
    pub fn save(&self, creds: &Credentials) -> Result<(), Failure> {
        let path = self.path();
        if creds.logins.is_empty() {
            return match std::fs::remove_file(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io_failure("removing", &path, &e)),
            };
        }
        files::ensure_private_dir(&self.dir).map_err(|e| io_failure("creating", &self.dir, &e))?;
        let json = serde_json::to_vec_pretty(creds)
            .map_err(|e| Failure::local(format!("encoding the credentials: {e}")))?;
        files::write_private(&path, &json).map_err(|e| io_failure("writing", &path, &e))
    }

    /// Waits for, and takes, the exclusive lock on the credentials.
    pub fn lock(&self) -> Result<Locked, Failure> {
        files::ensure_private_dir(&self.dir).map_err(|e| io_failure("creating", &self.dir, &e))?;
        let path = self.dir.join(LOCK);
        let mut opts = std::fs::OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let file = opts
            .open(&path)
            .map_err(|e| io_failure("opening", &path, &e))?;
        fs4::fs_std::FileExt::lock_exclusive(&file)
            .map_err(|e| io_failure("locking", &path, &e))?;
        Ok(Locked { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(org: &str) -> Login {
        Login {
            issuer: "https://idp.test".into(),
            discovery_url: None,
            client_id: "patrol-cli".into(),
            scopes: "openid offline_access vso.pats".into(),
            resource: None,
            organization: Some(org.into()),
            user: Some("Alice".into()),
            access_token: "eyJ.access.secret".into(),
            expires_at: Some(1_900_000_000),
            refresh_token: Some("refresh-secret".into()),
        }
    }

    #[test]
    fn round_trip_removal_and_redaction() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join("patrol"));
        let mut creds = store.load().unwrap();
        assert!(creds.logins.is_empty());
        creds.default_server = Some("https://patrol.test".into());
        creds
            .logins
            .insert("https://patrol.test".into(), login("fabrikam"));
        store.save(&creds).unwrap();
        let back = store.load().unwrap();
        assert_eq!(back.default_server.as_deref(), Some("https://patrol.test"));
        let l = &back.logins["https://patrol.test"];
        assert_eq!(l.organization.as_deref(), Some("fabrikam"));
        assert_eq!(l.refresh_token.as_deref(), Some("refresh-secret"));
        let debug = format!("{back:?}");
        assert!(!debug.contains("secret"), "{debug}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&store.path()), 0o600);
            assert_eq!(mode(&dir.path().join("patrol")), 0o700);
        }
        {
            let _held = store.lock().unwrap();
        }
        let _again = store.lock().unwrap();
        creds.logins.clear();
        store.save(&creds).unwrap();
        assert!(!store.path().exists());
    }

    #[test]
    fn damaged_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().to_owned());
        std::fs::write(store.path(), "{not json").unwrap();
        let e = store.load().unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("credentials.json is damaged"), "{e}");
        std::fs::write(store.path(), r#"{"version": 99}"#).unwrap();
        assert!(store
            .load()
            .unwrap_err()
            .to_string()
            .contains("another version"));
    }
}
