//! PostgreSQL for tests (feature `test-support`): a fresh, empty database
//! per test, in the cluster `PATROL_TEST_POSTGRES_URL` names (a superuser's
//! URL; `scripts/test.sh` starts one cluster for the whole suite), or else
//! in a throwaway cluster this process starts once with
//! `scripts/pg-throwaway.sh` and that is stopped when the process ends.
//!
//! Nothing here skips: when PostgreSQL cannot be had, the error says why
//! and the test using it fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::sync::OnceLock;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};
use uuid::Uuid;

use crate::{PostgresOptions, PostgresStore};

/// The environment variable naming an existing cluster to use.
pub const POSTGRES_URL_ENV: &str = "PATROL_TEST_POSTGRES_URL";

/// `scripts/pg-throwaway.sh` of this repository.
pub fn throwaway_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg-throwaway.sh")
}

/// The superuser URL of the cluster the tests use: the environment's, or
/// this process's own throwaway cluster (started on first use).
pub fn cluster_url() -> Result<String, String> {
    if let Ok(url) = std::env::var(POSTGRES_URL_ENV) {
        if !url.is_empty() {
            return Ok(url);
        }
    }
    static OWN: OnceLock<Result<String, String>> = OnceLock::new();
    OWN.get_or_init(start_throwaway).clone()
}

/// Start a cluster in a fresh directory under the system's temporary
/// directory (directly there: the `postgres` user must reach it), watched
/// by the script so that it stops when this process ends.
fn start_throwaway() -> Result<String, String> {
    let dir = std::env::temp_dir().join(format!(
        "patrol-pg-{}-{}",
        std::process::id(),
        Uuid::new_v4().simple()
    ));
    let script = throwaway_script();
    let out = Command::new("bash")
        .arg(&script)
        .arg("start")
        .arg(&dir)
        .arg("--watch")
        .arg(std::process::id().to_string())
        .output()
        .map_err(|e| format!("running {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "could not start a throwaway PostgreSQL cluster ({} start {}): {}",
            script.display(),
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if url.is_empty() {
        return Err(format!("{} printed no URL", script.display()));
    }
    Ok(url)
}

/// A new, empty database (named `patrol_test_<random>`) in the test cluster;
/// its URL. Databases are left behind for the cluster's end.
pub async fn fresh_database_url() -> Result<String, String> {
    let cluster = cluster_url()?;
    let admin = PgConnectOptions::from_str(&cluster).map_err(|e| format!("{cluster}: {e}"))?;
    let name = format!("patrol_test_{}", Uuid::new_v4().simple());
    let mut conn = admin
        .connect()
        .await
        .map_err(|e| format!("connecting to the test cluster: {e}"))?;
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .map_err(|e| format!("CREATE DATABASE {name}: {e}"))?;
    let _ = conn.close().await;
    let mut url = url::Url::parse(&cluster).map_err(|e| format!("{cluster}: {e}"))?;
    url.set_path(&name);
    Ok(url.into())
}

/// A migrated [`PostgresStore`] over a fresh database, and its URL.
pub async fn fresh_store() -> Result<(PostgresStore, String), String> {
    let url = fresh_database_url().await?;
    let store =
        PostgresStore::connect(&url, PostgresOptions::default()).map_err(|e| e.to_string())?;
    store.migrate().await.map_err(|e| e.to_string())?;
    Ok((store, url))
}
