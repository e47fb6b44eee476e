//! `patrol dev`: the embedded default — SQLite and the built-in issuer in one
//! data directory, reused on the next start.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use patrol_auth::rp::{ClientAuth, RpConfig};

use crate::config::{CliLogin, Config, Env, KeyRef, SecretSource, WebClient};

/// The issuer name `patrol dev` users are keyed under, whatever the port.
pub const USER_ISSUER: &str = "patrol-dev";
pub const DEV_ORGS: &[&str] = &["fabrikam", "contoso"];
pub const DEFAULT_DATA_DIR: &str = ".patrol-dev";
const SERVER_KEY_FILE: &str = "server-key";
const STATE_FILE: &str = "dev-server.json";

/// What a running `patrol dev` leaves in its data directory for `patrol dev token`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DevServerInfo {
    pub base_url: String,
    pub issuer: String,
    pub pid: u32,
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents)?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, contents)?;
    Ok(())
}

/// The data directory's server key file, generated on first start.
fn ensure_server_key(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let path = data_dir.join(SERVER_KEY_FILE);
    if !path.exists() {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        write_private(&path, hex::encode(k).as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(path)
}

/// The configuration `patrol dev` runs with: the environment's settings,
/// then the data directory's database, key and organizations, and `port`.
pub fn config(data_dir: &Path, port: u16, env: &Env) -> anyhow::Result<Config> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let key = ensure_server_key(data_dir)?;
    let mut cfg = Config::load(None, env)?;
    cfg.server.listen = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    cfg.database.sqlite_path = data_dir.join("patrol.db");
    cfg.organizations.names = DEV_ORGS.iter().map(|s| (*s).to_owned()).collect();
    cfg.keys.server_keys = vec![KeyRef {
        id: "dev".into(),
        secret: SecretSource::File(key),
    }];
    Ok(cfg)
}

/// The web page's sign-in client under `patrol dev`: the built-in issuer's
/// public client (PKCE, no secret).
pub fn web_client(issuer_url: &str, public_url: String, scopes: &str) -> WebClient {
    let rp = RpConfig {
        issuer: issuer_url.to_owned(),
        discovery_url: None,
        client_id: patrol_auth::DEV_PUBLIC_CLIENT_ID.to_owned(),
        client_auth: ClientAuth::None,
        redirect_uri: String::new(),
        scopes: scopes.to_owned(),
        resource: None,
        extra_authorize_params: Vec::new(),
    };
    WebClient::new(rp, public_url)
}

/// What `patrol login` signs in with under `patrol dev`: the built-in
/// issuer's public client, which accepts loopback redirect URIs on any port.
pub fn cli_login(issuer_url: &str) -> CliLogin {
    CliLogin {
        issuer: issuer_url.to_owned(),
        discovery_url: None,
        client_id: patrol_auth::DEV_PUBLIC_CLIENT_ID.to_owned(),
        scopes: "openid profile offline_access vso.pats vso.pats_manage".to_owned(),
        resource: None,
    }
}

pub fn write_info(data_dir: &Path, info: &DevServerInfo) -> anyhow::Result<()> {
    let path = data_dir.join(STATE_FILE);
    std::fs::write(&path, serde_json::to_vec_pretty(info)?)
        .with_context(|| format!("writing {}", path.display()))
}

pub fn read_info(data_dir: &Path) -> anyhow::Result<DevServerInfo> {
    let path = data_dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no running `patrol dev` found in {} (start one with `patrol dev`)",
            data_dir.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))
}

pub fn default_data_dir() -> PathBuf {
    std::env::var_os("PATROL_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
}
