#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! What only the SQLite store has: its database files (never a token's text,
//! readable by their owner only) and WAL mode.

use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;

use patrol_core::hashing::{ServerKey, TokenHasher};
use patrol_core::pat::Pat;
use patrol_core::secret::PatSecret;
use patrol_core::token::{mint, MintOptions};
use patrol_core::user::{AuditAction, AuditEvent, Outcome, UserClaims};
use patrol_store::{SqliteStore, Store};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
}

fn claims(iss: &str, sub: &str) -> UserClaims {
    UserClaims {
        issuer: iss.into(),
        subject: sub.into(),
        display_name: format!("User {sub}"),
        email: None,
        email_verified: false,
    }
}

fn pat(owner: Uuid, name: &str, valid_to: DateTime<Utc>) -> Pat {
    Pat {
        display_name: name.into(),
        valid_to,
        ..Pat::fixture(owner, t0())
    }
}

/// Store `p` under a fresh secret; the secret.
async fn create(s: &SqliteStore, p: &Pat) -> PatSecret {
    let hasher = TokenHasher::new(vec![ServerKey::new("k1", vec![7; 32]).unwrap()]).unwrap();
    let secret = mint(t0(), &MintOptions::default(), &mut rand::rngs::OsRng).unwrap();
    let ev = AuditEvent::new(AuditAction::PatCreate, t0(), "test", Outcome::Success);
    s.create_pat(p, &hasher.hash(&secret), &ev, None)
        .await
        .unwrap();
    secret
}

async fn open() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("p.db")).await.unwrap();
    (dir, s)
}

/// A minted token's text must never be written to the database file, its
/// WAL or its shared-memory file — only its keyed hash.
#[tokio::test]
async fn database_files_never_contain_token_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let s = SqliteStore::open(&path).await.unwrap();
    let u = s.upsert_user(&claims("i", "u"), t0()).await.unwrap();
    let mut secrets = Vec::new();
    for i in 0..50 {
        let p = pat(u.id, &format!("t{i}"), t0() + Duration::days(1));
        secrets.push(create(&s, &p).await);
    }
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    assert!(bytes.len() > 4096, "database files were written");
    for secret in &secrets {
        let text = secret.expose().as_bytes();
        assert!(
            !bytes.windows(text.len()).any(|w| w == text),
            "token text found in the database files"
        );
        // Not even the random part alone.
        let random = &text[..52];
        assert!(!bytes.windows(52).any(|w| w == random));
    }
}

#[tokio::test]
async fn sqlite_runs_in_wal_mode() {
    let (_d, s) = open().await;
    assert_eq!(s.journal_mode().await.unwrap(), "wal");
}

/// The database and its WAL and shared-memory files are readable by their
/// owner only, whatever the process umask.
#[cfg(unix)]
#[tokio::test]
async fn database_files_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, s) = open().await;
    let u = s.upsert_user(&claims("i", "u"), t0()).await.unwrap();
    create(&s, &pat(u.id, "x", t0() + Duration::days(1))).await;
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let entry = entry.unwrap();
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        let name = entry.file_name().into_string().unwrap();
        assert_eq!(mode, 0o600, "{name} has mode {mode:o}");
        seen.push(name);
    }
    seen.sort();
    assert_eq!(seen, ["p.db", "p.db-shm", "p.db-wal"]);
}
