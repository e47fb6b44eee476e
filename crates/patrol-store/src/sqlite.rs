//! The SQLite implementation: WAL, foreign keys, embedded migrations.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use uuid::Uuid;

use patrol_core::hashing::{KeyedHash, TokenDigest};
use patrol_core::pat::{LastUse, ListFilter, OrgTarget, Pat, SortBy};
use patrol_core::scope::ScopeSet;
use patrol_core::session::{SessionKey, WebSession};
use patrol_core::user::{AuditEvent, Organization, Outcome, User, UserClaims};

use crate::{
    AuditQuery, PatQuery, StatusCounts, Store, StoreError, StoreResult, UsageRecord, VerifyRecord,
};

mod verify;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

fn backend(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict(d.message().to_owned())
        }
        _ => StoreError::Backend(e.to_string()),
    }
}

fn us(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_us(v: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_micros(v).ok_or_else(|| StoreError::Corrupt(format!("timestamp {v}")))
}

fn uuid(s: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(s).map_err(|_| StoreError::Corrupt(format!("uuid {s}")))
}

fn opt_uuid(s: Option<String>) -> StoreResult<Option<Uuid>> {
    s.as_deref().map(uuid).transpose()
}

impl SqliteStore {
    /// Open (creating if missing) the database at `path` and run migrations.
    pub async fn open(path: &std::path::Path) -> StoreResult<Self> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // Create, switch to WAL and migrate over one connection before the
        // pool opens more: a second connection asking for WAL while the first
        // migrates gets "database is locked" at once, whatever the busy
        // timeout. Once the file is in WAL mode that request is a no-op, and
        // the pool's own migration run finds nothing left to do.
        {
            use sqlx::Connection as _;
            let mut conn = sqlx::SqliteConnection::connect_with(&opts)
                .await
                .map_err(backend)?;
            MIGRATOR
                .run(&mut conn)
                .await
                .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))?;
            conn.close().await.map_err(backend)?;
        }
        Self::connect(opts).await
    }

    /// Open from a `sqlite:` URL (e.g. `sqlite::memory:` in tests).
    pub async fn open_url(url: &str) -> StoreResult<Self> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(backend)?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        Self::connect(opts).await
    }

    async fn connect(opts: SqliteConnectOptions) -> StoreResult<Self> {
        let in_memory = opts.get_filename().as_os_str() == ":memory:";
        let pool = SqlitePoolOptions::new()
            // An in-memory database exists per connection: keep exactly one.
            .max_connections(if in_memory { 1 } else { 8 })
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts)
            .await
            .map_err(backend)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))?;
        Ok(Self { pool })
    }

    /// The journal mode in effect (`wal` for file databases).
    pub async fn journal_mode(&self) -> StoreResult<String> {
        let row = sqlx::query("PRAGMA journal_mode")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        row.try_get::<String, _>(0).map_err(backend)
    }

    fn pat_from_row(row: &SqliteRow) -> StoreResult<Pat> {
        let scopes: String = row.try_get("scopes").map_err(backend)?;
        let target: Option<String> = row.try_get("target_orgs").map_err(backend)?;
        let target = match target {
            None => OrgTarget::All,
            Some(t) => OrgTarget::Orgs(t.split_whitespace().map(uuid).collect::<StoreResult<_>>()?),
        };
        let last_used = match row
            .try_get::<Option<i64>, _>("last_used_at_us")
            .map_err(backend)?
        {
            None => None,
            Some(at) => Some(LastUse {
                at: from_us(at)?,
                source_ip: row.try_get("last_used_ip").map_err(backend)?,
                user_agent: row.try_get("last_used_agent").map_err(backend)?,
            }),
        };
        Ok(Pat {
            authorization_id: uuid(
                row.try_get::<&str, _>("authorization_id")
                    .map_err(backend)?,
            )?,
            owner: uuid(row.try_get::<&str, _>("owner_id").map_err(backend)?)?,
            display_name: row.try_get("display_name").map_err(backend)?,
            scopes: ScopeSet::parse(&scopes)
                .map_err(|e| StoreError::Corrupt(format!("scopes: {e}")))?,
            target,
            valid_from: from_us(row.try_get("valid_from_us").map_err(backend)?)?,
            valid_to: from_us(row.try_get("valid_to_us").map_err(backend)?)?,
            created_at: from_us(row.try_get("created_at_us").map_err(backend)?)?,
            revoked_at: row
                .try_get::<Option<i64>, _>("revoked_at_us")
                .map_err(backend)?
                .map(from_us)
                .transpose()?,
            last_used,
        })
    }

    fn user_from_row(row: &SqliteRow) -> StoreResult<User> {
        Ok(User {
            id: uuid(row.try_get::<&str, _>("id").map_err(backend)?)?,
            issuer: row.try_get("issuer").map_err(backend)?,
            subject: row.try_get("subject").map_err(backend)?,
            display_name: row.try_get("display_name").map_err(backend)?,
            email: row.try_get("email").map_err(backend)?,
            email_verified: row.try_get::<i64, _>("email_verified").map_err(backend)? != 0,
            created_at: from_us(row.try_get("created_at_us").map_err(backend)?)?,
            last_sign_in: from_us(row.try_get("last_sign_in_us").map_err(backend)?)?,
            disabled: row.try_get::<i64, _>("disabled").map_err(backend)? != 0,
        })
    }
}

fn org_from_row(r: &SqliteRow) -> StoreResult<Organization> {
    Ok(Organization {
        id: uuid(r.try_get::<&str, _>("id").map_err(backend)?)?,
        name: r.try_get("name").map_err(backend)?,
    })
}

fn target_text(t: &OrgTarget) -> Option<String> {
    match t {
        OrgTarget::All => None,
        OrgTarget::Orgs(ids) => Some(
            ids.iter()
                .map(Uuid::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        ),
    }
}

async fn insert_audit<'e, E>(exec: E, ev: &AuditEvent) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    sqlx::query(
        "INSERT INTO audit_events (id, at_us, action, actor_user, actor, client_id, target_pat, \
         target_user, source_ip, request_id, outcome, detail) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
    )
    .bind(ev.id.to_string())
    .bind(us(ev.at))
    .bind(&ev.action)
    .bind(ev.actor_user.map(|u| u.to_string()))
    .bind(&ev.actor)
    .bind(&ev.client_id)
    .bind(ev.target_pat.map(|u| u.to_string()))
    .bind(ev.target_user.map(|u| u.to_string()))
    .bind(&ev.source_ip)
    .bind(&ev.request_id)
    .bind(ev.outcome.as_str())
    .bind(&ev.detail)
    .execute(exec)
    .await
    .map_err(backend)?;
    Ok(())
}

const PAT_COLUMNS: &str =
    "authorization_id, owner_id, display_name, scopes, target_orgs, valid_from_us, \
     valid_to_us, created_at_us, revoked_at_us, last_used_at_us, last_used_ip, last_used_agent";

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn upsert_user(&self, c: &UserClaims, now: DateTime<Utc>) -> StoreResult<User> {
        let row = sqlx::query(
            "INSERT INTO users (id, issuer, subject, display_name, email, email_verified, \
             created_at_us, last_sign_in_us) VALUES (?,?,?,?,?,?,?,?) \
             ON CONFLICT (issuer, subject) DO UPDATE SET display_name = excluded.display_name, \
             email = excluded.email, email_verified = excluded.email_verified, \
             last_sign_in_us = excluded.last_sign_in_us \
             RETURNING *",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(&c.issuer)
        .bind(&c.subject)
        .bind(&c.display_name)
        .bind(&c.email)
        .bind(i64::from(c.email_verified && c.email.is_some()))
        .bind(us(now))
        .bind(us(now))
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        Self::user_from_row(&row)
    }

    async fn get_user(&self, id: Uuid) -> StoreResult<Option<User>> {
        let row = sqlx::query("SELECT * FROM users WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(Self::user_from_row).transpose()
    }

    async fn set_user_disabled(&self, id: Uuid, disabled: bool) -> StoreResult<()> {
        let r = sqlx::query("UPDATE users SET disabled = ? WHERE id = ?")
            .bind(i64::from(disabled))
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn ensure_org(&self, name: &str, now: DateTime<Utc>) -> StoreResult<Organization> {
        sqlx::query(
            "INSERT INTO organizations (id, name, name_lower, created_at_us) VALUES (?,?,?,?) \
             ON CONFLICT (name_lower) DO NOTHING",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(name)
        .bind(name.to_lowercase())
        .bind(us(now))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        self.org_by_name(name).await?.ok_or(StoreError::NotFound)
    }

    async fn org_by_name(&self, name: &str) -> StoreResult<Option<Organization>> {
        let row = sqlx::query("SELECT id, name FROM organizations WHERE name_lower = ?")
            .bind(name.to_lowercase())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        match row {
            None => Ok(None),
            Some(r) => org_from_row(&r).map(Some),
        }
    }

    async fn list_orgs(&self) -> StoreResult<Vec<Organization>> {
        let rows = sqlx::query("SELECT id, name FROM organizations ORDER BY name_lower")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(org_from_row).collect()
    }

    async fn add_member(&self, user: Uuid, org: Uuid) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO memberships (user_id, org_id) VALUES (?,?) ON CONFLICT DO NOTHING",
        )
        .bind(user.to_string())
        .bind(org.to_string())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn is_member(&self, user: Uuid, org: Uuid) -> StoreResult<bool> {
        let row = sqlx::query("SELECT 1 FROM memberships WHERE user_id = ? AND org_id = ?")
            .bind(user.to_string())
            .bind(org.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        Ok(row.is_some())
    }

    async fn member_orgs(&self, user: Uuid) -> StoreResult<Vec<Organization>> {
        let rows = sqlx::query(
            "SELECT o.id, o.name FROM organizations o JOIN memberships m ON m.org_id = o.id \
             WHERE m.user_id = ? ORDER BY o.name_lower",
        )
        .bind(user.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(org_from_row).collect()
    }

    async fn create_pat(&self, pat: &Pat, hash: &KeyedHash, audit: &AuditEvent) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "INSERT INTO pats (authorization_id, owner_id, display_name, scopes, target_orgs, valid_from_us, \
             valid_to_us, created_at_us, revoked_at_us, key_id, token_hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        )
        .bind(pat.authorization_id.to_string())
        .bind(pat.owner.to_string())
        .bind(&pat.display_name)
        .bind(pat.scopes.as_string())
        .bind(target_text(&pat.target))
        .bind(us(pat.valid_from))
        .bind(us(pat.valid_to))
        .bind(us(pat.created_at))
        .bind(pat.revoked_at.map(us))
        .bind(&hash.key_id)
        .bind(&hash.digest.as_bytes()[..])
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        insert_audit(&mut *tx, audit).await?;
        tx.commit().await.map_err(backend)
    }

    async fn get_pat(&self, id: Uuid) -> StoreResult<Option<Pat>> {
        let row = sqlx::query(&format!(
            "SELECT {PAT_COLUMNS} FROM pats WHERE authorization_id = ?"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.as_ref().map(Self::pat_from_row).transpose()
    }

    async fn list_pats(&self, q: &PatQuery) -> StoreResult<Vec<Pat>> {
        let filter = match q.filter {
            ListFilter::Active => "AND revoked_at_us IS NULL AND valid_to_us > ?2",
            ListFilter::Revoked => "AND revoked_at_us IS NOT NULL AND ?2 = ?2",
            ListFilter::Expired => "AND revoked_at_us IS NULL AND valid_to_us <= ?2",
            ListFilter::All => "AND ?2 = ?2",
        };
        let dir = if q.ascending { "ASC" } else { "DESC" };
        let order = match q.sort {
            SortBy::DisplayName => format!("display_name COLLATE NOCASE {dir}, valid_to_us {dir}"),
            SortBy::DisplayDate => format!("valid_to_us {dir}, display_name COLLATE NOCASE {dir}"),
            SortBy::Status => format!(
                "CASE WHEN revoked_at_us IS NOT NULL THEN 2 WHEN valid_to_us <= ?2 THEN 1 ELSE 0 END {dir}, \
                 display_name COLLATE NOCASE {dir}"
            ),
        };
        let sql = format!(
            "SELECT {PAT_COLUMNS} FROM pats WHERE owner_id = ?1 {filter} \
             ORDER BY {order}, authorization_id {dir} LIMIT ?3 OFFSET ?4"
        );
        let rows = sqlx::query(&sql)
            .bind(q.owner.to_string())
            .bind(us(q.now))
            .bind(i64::from(q.limit))
            .bind(i64::try_from(q.offset).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(Self::pat_from_row).collect()
    }

    async fn update_pat(&self, pat: &Pat, audit: &AuditEvent) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let r = sqlx::query(
            "UPDATE pats SET display_name = ?, scopes = ?, target_orgs = ?, valid_to_us = ? \
             WHERE authorization_id = ?",
        )
        .bind(&pat.display_name)
        .bind(pat.scopes.as_string())
        .bind(target_text(&pat.target))
        .bind(us(pat.valid_to))
        .bind(pat.authorization_id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut *tx, audit).await?;
        tx.commit().await.map_err(backend)
    }

    async fn replace_secret(
        &self,
        id: Uuid,
        hash: &KeyedHash,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let r =
            sqlx::query("UPDATE pats SET key_id = ?, token_hash = ? WHERE authorization_id = ?")
                .bind(&hash.key_id)
                .bind(&hash.digest.as_bytes()[..])
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut *tx, audit).await?;
        tx.commit().await.map_err(backend)
    }

    async fn revoke_pat(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        audit: &AuditEvent,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let r = sqlx::query(
            "UPDATE pats SET revoked_at_us = ? WHERE authorization_id = ? AND revoked_at_us IS NULL",
        )
        .bind(us(at))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        insert_audit(&mut *tx, audit).await?;
        tx.commit().await.map_err(backend)?;
        Ok(r.rows_affected() > 0)
    }

    async fn find_by_hash(
        &self,
        candidates: &[KeyedHash],
    ) -> StoreResult<Option<(Pat, KeyedHash)>> {
        for c in candidates {
            let row = sqlx::query(&format!(
                "SELECT {PAT_COLUMNS}, key_id, token_hash FROM pats WHERE token_hash = ? AND key_id = ?"
            ))
            .bind(&c.digest.as_bytes()[..])
            .bind(&c.key_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
            if let Some(row) = row {
                let pat = Self::pat_from_row(&row)?;
                let digest: Vec<u8> = row.try_get("token_hash").map_err(backend)?;
                let digest = TokenDigest::from_slice(&digest)
                    .ok_or_else(|| StoreError::Corrupt("token_hash length".into()))?;
                return Ok(Some((
                    pat,
                    KeyedHash {
                        key_id: c.key_id.clone(),
                        digest,
                    },
                )));
            }
        }
        Ok(None)
    }

    async fn find_for_verify(&self, candidates: &[KeyedHash]) -> StoreResult<Option<VerifyRecord>> {
        verify::find_for_verify(&self.pool, candidates).await
    }

    async fn record_usage(&self, batch: &[UsageRecord]) -> StoreResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(backend)?;
        for u in batch {
            sqlx::query(
                "UPDATE pats SET last_used_at_us = ?, last_used_ip = ?, last_used_agent = ? \
                 WHERE authorization_id = ? AND (last_used_at_us IS NULL OR last_used_at_us < ?)",
            )
            .bind(us(u.last_use.at))
            .bind(&u.last_use.source_ip)
            .bind(&u.last_use.user_agent)
            .bind(u.authorization_id.to_string())
            .bind(us(u.last_use.at))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn count_active_for_owner(&self, owner: Uuid, now: DateTime<Utc>) -> StoreResult<u64> {
        let row = sqlx::query(
            "SELECT COUNT(*) FROM pats WHERE owner_id = ? AND revoked_at_us IS NULL AND valid_to_us > ?",
        )
        .bind(owner.to_string())
        .bind(us(now))
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        let n: i64 = row.try_get(0).map_err(backend)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn count_by_status(&self, now: DateTime<Utc>) -> StoreResult<StatusCounts> {
        let row = sqlx::query(
            "SELECT \
               COALESCE(SUM(CASE WHEN revoked_at_us IS NULL AND valid_to_us > ?1 THEN 1 ELSE 0 END), 0) AS active, \
               COALESCE(SUM(CASE WHEN revoked_at_us IS NULL AND valid_to_us <= ?1 THEN 1 ELSE 0 END), 0) AS expired, \
               COALESCE(SUM(CASE WHEN revoked_at_us IS NOT NULL THEN 1 ELSE 0 END), 0) AS revoked \
             FROM pats",
        )
        .bind(us(now))
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        let get = |c: &str| -> StoreResult<u64> {
            Ok(u64::try_from(row.try_get::<i64, _>(c).map_err(backend)?).unwrap_or(0))
        };
        Ok(StatusCounts {
            active: get("active")?,
            expired: get("expired")?,
            revoked: get("revoked")?,
        })
    }

    async fn create_session(&self, s: &WebSession, audit: &AuditEvent) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "INSERT INTO web_sessions (id_hash, user_id, created_at_us, expires_at_us, last_seen_us, \
             access_expires_at_us, sealed_refresh_token) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&s.key.0[..])
        .bind(s.user_id.to_string())
        .bind(us(s.created_at))
        .bind(us(s.expires_at))
        .bind(us(s.last_seen))
        .bind(us(s.access_expires_at))
        .bind(s.sealed_refresh_token.as_deref())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        insert_audit(&mut *tx, audit).await?;
        tx.commit().await.map_err(backend)
    }

    async fn get_session(&self, key: &SessionKey) -> StoreResult<Option<WebSession>> {
        let row = sqlx::query("SELECT * FROM web_sessions WHERE id_hash = ?")
            .bind(&key.0[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.map(|r| {
            let hash: Vec<u8> = r.try_get("id_hash").map_err(backend)?;
            Ok(WebSession {
                key: SessionKey::from_slice(&hash)
                    .ok_or_else(|| StoreError::Corrupt("session id hash".into()))?,
                user_id: uuid(r.try_get::<&str, _>("user_id").map_err(backend)?)?,
                created_at: from_us(r.try_get("created_at_us").map_err(backend)?)?,
                expires_at: from_us(r.try_get("expires_at_us").map_err(backend)?)?,
                last_seen: from_us(r.try_get("last_seen_us").map_err(backend)?)?,
                access_expires_at: from_us(r.try_get("access_expires_at_us").map_err(backend)?)?,
                sealed_refresh_token: r.try_get("sealed_refresh_token").map_err(backend)?,
            })
        })
        .transpose()
    }

    async fn update_session(&self, s: &WebSession) -> StoreResult<()> {
        let r = sqlx::query(
            "UPDATE web_sessions SET last_seen_us = ?, access_expires_at_us = ?, \
             sealed_refresh_token = ? WHERE id_hash = ?",
        )
        .bind(us(s.last_seen))
        .bind(us(s.access_expires_at))
        .bind(s.sealed_refresh_token.as_deref())
        .bind(&s.key.0[..])
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_session(
        &self,
        key: &SessionKey,
        audit: Option<&AuditEvent>,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let r = sqlx::query("DELETE FROM web_sessions WHERE id_hash = ?")
            .bind(&key.0[..])
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if let Some(a) = audit {
            insert_audit(&mut *tx, a).await?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(r.rows_affected() > 0)
    }

    async fn purge_sessions(
        &self,
        now: DateTime<Utc>,
        idle_before: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let r =
            sqlx::query("DELETE FROM web_sessions WHERE expires_at_us <= ? OR last_seen_us < ?")
                .bind(us(now))
                .bind(us(idle_before))
                .execute(&self.pool)
                .await
                .map_err(backend)?;
        Ok(r.rows_affected())
    }

    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        insert_audit(&self.pool, event).await
    }

    async fn list_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        let rows = sqlx::query(
            "SELECT * FROM audit_events WHERE (?1 IS NULL OR actor_user = ?1) AND (?2 IS NULL OR target_pat = ?2) \
             AND (?3 IS NULL OR action = ?3) ORDER BY at_us DESC, id LIMIT ?4",
        )
        .bind(q.actor_user.map(|u| u.to_string()))
        .bind(q.target_pat.map(|u| u.to_string()))
        .bind(&q.action)
        .bind(i64::from(q.limit.max(1)))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|r| {
                let outcome: String = r.try_get("outcome").map_err(backend)?;
                Ok(AuditEvent {
                    id: uuid(r.try_get::<&str, _>("id").map_err(backend)?)?,
                    at: from_us(r.try_get("at_us").map_err(backend)?)?,
                    action: r.try_get("action").map_err(backend)?,
                    actor_user: opt_uuid(r.try_get("actor_user").map_err(backend)?)?,
                    actor: r.try_get("actor").map_err(backend)?,
                    client_id: r.try_get("client_id").map_err(backend)?,
                    target_pat: opt_uuid(r.try_get("target_pat").map_err(backend)?)?,
                    target_user: opt_uuid(r.try_get("target_user").map_err(backend)?)?,
                    source_ip: r.try_get("source_ip").map_err(backend)?,
                    request_id: r.try_get("request_id").map_err(backend)?,
                    outcome: if outcome == "success" {
                        Outcome::Success
                    } else {
                        Outcome::Failure
                    },
                    detail: r.try_get("detail").map_err(backend)?,
                })
            })
            .collect()
    }
}
