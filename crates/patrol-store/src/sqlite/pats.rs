//! PATs: each change written with its audit record, listing, lookup by
//! keyed hash, last-use bookkeeping and counts.

use chrono::{DateTime, Utc};
use sqlx::{SqliteConnection, SqlitePool};
use uuid::Uuid;

use patrol_core::hashing::KeyedHash;
use patrol_core::pat::{ListFilter, Pat, SortBy};
use patrol_core::user::AuditEvent;

use super::{audit, jobs, with_audit};
use crate::common::{active_count, cap, IfUnchanged, MUST_EXIST};
use crate::group::NewPat;
use crate::rows::{
    convert_all, target_text, us, HashedPatRow, PatRow, StatusCountsRow, PAT_COLUMNS,
};
use crate::{AdminPatQuery, PatQuery, StatusCounts, StoreError, StoreResult, UsageRecord};

/// Creates in order in the caller's transaction, sent to SQLite as one
/// query (each query is a hand-over to the connection's thread and back);
/// the ids of those stored. Each create's first statement counts the
/// owner's active PATs and inserts the new one only when the cap allows. A
/// transaction's first write takes the database's single write lock before
/// its count reads: concurrent creates are serialised, and each counts the
/// rows of those before it, in its transaction too. The audit record and
/// the notices (or the record's intent) follow only if the PAT was stored.
pub(super) async fn insert_all(
    conn: &mut SqliteConnection,
    creates: &[&NewPat],
) -> StoreResult<Vec<String>> {
    let mut sql = String::new();
    for new in creates {
        sql += &create_sql(
            new.notices.as_ref().map_or(0, Vec::len),
            new.intent().is_some(),
        );
    }
    let mut q = sqlx::query(&sql);
    for new in creates {
        q = bind_create(q, new);
    }
    let stored = q.fetch_all(&mut *conn).await?;
    Ok(stored
        .iter()
        .map(|row| sqlx::Row::try_get(row, 0))
        .collect::<Result<_, _>>()?)
}

/// `new`'s values for [`create_sql`]: in the order of its `?`s.
fn bind_create<'q>(q: super::Write<'q>, new: &'q NewPat) -> super::Write<'q> {
    let NewPat {
        pat,
        hash,
        audit,
        max_active,
        notices,
    } = new;
    let id = pat.authorization_id.to_string();
    let mut q = q
        .bind(pat.owner.to_string())
        .bind(us(pat.created_at))
        .bind(cap(*max_active))
        .bind(id.clone())
        .bind(pat.owner.to_string())
        .bind(&pat.display_name)
        .bind(pat.scopes.as_string())
        .bind(target_text(&pat.target))
        .bind(us(pat.valid_from))
        .bind(us(pat.valid_to))
        .bind(us(pat.created_at))
        .bind(pat.revoked_at.map(us))
        .bind(&hash.key_id)
        .bind(&hash.digest.as_bytes()[..]);
    q = audit::bind_event(q, audit).bind(id.clone());
    match (notices, &audit.notice) {
        (Some(notices), _) => {
            for item in notices {
                q = jobs::bind_item(q, item).bind(id.clone());
            }
        }
        (None, Some(intent)) => {
            q = q
                .bind(audit.id.to_string())
                .bind(us(audit.at))
                .bind(intent)
                .bind(id);
        }
        (None, None) => {}
    }
    q
}

/// The statements of a create with `notices` (or its record's `intent`).
/// The parameters are all `?`, bound in order across the statements (as
/// sqlx binds a multi-statement query): the owner, now and the cap, the
/// PAT's columns, the audit record's, then the intent's or each notice's.
/// Each write after the first carries the PAT's id last, as it happens
/// only if the PAT was stored.
fn create_sql(notices: usize, intent: bool) -> String {
    let stored = "WHERE EXISTS (SELECT 1 FROM pats WHERE authorization_id = ?)";
    let mut sql = format!(
        "WITH asked (owner, now, cap) AS (SELECT ?, ?, ?) \
         INSERT INTO pats (authorization_id, owner_id, display_name, scopes, target_orgs, valid_from_us, \
         valid_to_us, created_at_us, revoked_at_us, key_id, token_hash) \
         SELECT {} FROM asked WHERE cap IS NULL OR ({}) < cap RETURNING authorization_id;\n\
         INSERT INTO audit_events ({}) SELECT {} {stored};\n",
        audit::placeholders(11),
        active_count("asked.owner", "asked.now"),
        audit::EVENT_COLUMNS,
        audit::placeholders(audit::EVENT_VALUES),
    );
    if intent {
        sql += &format!(
            "INSERT INTO notice_intents (audit_id, at_us, intent) SELECT ?, ?, ? {stored};\n"
        );
    }
    for _ in 0..notices {
        sql += &format!(
            "INSERT INTO outbox ({}) SELECT {} {stored} ON CONFLICT (dedupe_key) DO NOTHING;\n",
            jobs::ITEM_COLUMNS,
            audit::placeholders(jobs::ITEM_VALUES)
        );
    }
    sql
}

pub(super) async fn get(pool: &SqlitePool, id: Uuid) -> StoreResult<Option<Pat>> {
    let row: Option<PatRow> = sqlx::query_as(&format!(
        "SELECT {PAT_COLUMNS} FROM pats WHERE authorization_id = ?"
    ))
    .bind(id.to_string())
    .fetch_optional(pool)
    .await?;
    row.map(Pat::try_from).transpose()
}

pub(super) async fn list(pool: &SqlitePool, q: &PatQuery) -> StoreResult<Vec<Pat>> {
    let rows: Vec<PatRow> = sqlx::query_as(&list_sql(q.filter, q.sort, q.ascending))
        .bind(q.owner.to_string())
        .bind(us(q.now))
        .bind(i64::from(q.limit))
        .bind(i64::try_from(q.offset).unwrap_or(i64::MAX))
        .bind(q.ended_after.map(us))
        .fetch_all(pool)
        .await?;
    convert_all(rows)
}

/// The owner's page: `?1` owner, `?2` now, `?3` limit, `?4` offset, `?5`
/// ended-after. Each order reads an index in order (`pats_owner_name`,
/// `pats_owner_expiry`, migration 0009), so a page costs its offset and
/// limit, not the owner's token count. By status with every token listed,
/// each status is its own index range, read only as far as the page needs.
fn list_sql(filter: ListFilter, sort: SortBy, ascending: bool) -> String {
    let dir = if ascending { "ASC" } else { "DESC" };
    let by_name =
        format!("display_name COLLATE NOCASE {dir}, valid_to_us {dir}, authorization_id {dir}");
    let by_expiry =
        format!("valid_to_us {dir}, display_name COLLATE NOCASE {dir}, authorization_id {dir}");
    let retained =
        "AND (?5 IS NULL OR MIN(COALESCE(revoked_at_us, valid_to_us), valid_to_us) >= ?5)";
    // Named, as the planner would otherwise take the expiry index for an
    // active filter's `valid_to_us > now` and sort the owner's whole set.
    let (name_index, expiry_index) = ("pats_owner_name", "pats_owner_expiry");
    let page = |filter: ListFilter, index: &str, order: &str| {
        format!(
            "SELECT {PAT_COLUMNS} FROM pats INDEXED BY {index} WHERE owner_id = ?1 {} {retained} \
             ORDER BY {order} LIMIT ?3 OFFSET ?4",
            filter_sql(filter, 2)
        )
    };
    match (sort, filter) {
        (SortBy::DisplayName, f) => page(f, name_index, &by_name),
        (SortBy::DisplayDate, f) => page(f, expiry_index, &by_expiry),
        // One status only: by status is by name.
        (SortBy::Status, f) if f != ListFilter::All => page(f, name_index, &by_name),
        (SortBy::Status, _) => {
            // Active, then expired, then revoked (reversed when descending);
            // each part read by name, at most offset + limit rows of it.
            // Each part through the index that holds only its rows, or
            // (expired) their range: active by name, expired by expiry up
            // to now, revoked by the revoked tokens' own index.
            let part = |rank: u8, f: ListFilter, index: &str| {
                format!(
                    "SELECT * FROM (SELECT {rank} AS status_rank, {PAT_COLUMNS} FROM pats \
                     INDEXED BY {index} WHERE owner_id = ?1 {} {retained} \
                     ORDER BY {by_name} LIMIT ?3 + ?4)",
                    filter_sql(f, 2)
                )
            };
            format!(
                "SELECT {PAT_COLUMNS} FROM ({} UNION ALL {} UNION ALL {}) \
                 ORDER BY status_rank {dir}, {by_name} LIMIT ?3 OFFSET ?4",
                part(0, ListFilter::Active, name_index),
                part(1, ListFilter::Expired, expiry_index),
                part(2, ListFilter::Revoked, "pats_owner_revoked"),
            )
        }
    }
}

/// `filter` as a condition on the PAT columns, with `now` bound as `?{now}`.
fn filter_sql(filter: ListFilter, now: u8) -> String {
    match filter {
        ListFilter::Active => format!("AND revoked_at_us IS NULL AND valid_to_us > ?{now}"),
        ListFilter::Revoked => format!("AND revoked_at_us IS NOT NULL AND ?{now} = ?{now}"),
        ListFilter::Expired => format!("AND revoked_at_us IS NULL AND valid_to_us <= ?{now}"),
        ListFilter::All => format!("AND ?{now} = ?{now}"),
    }
}

/// Across owners, by id; owners given as a JSON array (`json_each`). A PAT
/// reaches an organization named among its space-separated targets, or —
/// a global one — every organization its owner belongs to.
pub(super) async fn list_admin(pool: &SqlitePool, q: &AdminPatQuery) -> StoreResult<Vec<Pat>> {
    let owners = (!q.owners.is_empty())
        .then(|| serde_json::to_string(&q.owners))
        .transpose()
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    let sql = format!(
        "SELECT {PAT_COLUMNS} FROM pats WHERE \
         (?1 IS NULL OR owner_id IN (SELECT value FROM json_each(?1))) \
         AND (?2 IS NULL OR instr(' ' || target_orgs || ' ', ' ' || ?2 || ' ') > 0 \
              OR (target_orgs IS NULL AND owner_id IN (SELECT user_id FROM memberships WHERE org_id = ?2))) \
         AND (?3 IS NULL OR authorization_id >= ?3) {} \
         ORDER BY authorization_id LIMIT ?5",
        filter_sql(q.filter, 4)
    );
    let rows: Vec<PatRow> = sqlx::query_as(&sql)
        .bind(owners)
        .bind(q.org.map(|o| o.to_string()))
        .bind(q.from.map(|f| f.to_string()))
        .bind(us(q.now))
        .bind(i64::from(q.limit))
        .fetch_all(pool)
        .await?;
    convert_all(rows)
}

pub(super) async fn update(pool: &SqlitePool, pat: &Pat, audit: &AuditEvent) -> StoreResult<()> {
    let write = sqlx::query(
        "UPDATE pats SET display_name = ?, scopes = ?, target_orgs = ?, valid_to_us = ? \
         WHERE authorization_id = ?",
    )
    .bind(&pat.display_name)
    .bind(pat.scopes.as_string())
    .bind(target_text(&pat.target))
    .bind(us(pat.valid_to))
    .bind(pat.authorization_id.to_string());
    with_audit(pool, write, Some(audit), MUST_EXIST).await?;
    Ok(())
}

pub(super) async fn replace_secret(
    pool: &SqlitePool,
    id: Uuid,
    hash: &KeyedHash,
    audit: &AuditEvent,
) -> StoreResult<()> {
    let write =
        sqlx::query("UPDATE pats SET key_id = ?, token_hash = ? WHERE authorization_id = ?")
            .bind(&hash.key_id)
            .bind(&hash.digest.as_bytes()[..])
            .bind(id.to_string());
    with_audit(pool, write, Some(audit), MUST_EXIST).await?;
    Ok(())
}

/// The audit record is kept even when the PAT was already revoked.
pub(super) async fn revoke(
    pool: &SqlitePool,
    id: Uuid,
    at: DateTime<Utc>,
    audit: &AuditEvent,
) -> StoreResult<bool> {
    let write = sqlx::query(
        "UPDATE pats SET revoked_at_us = ? WHERE authorization_id = ? AND revoked_at_us IS NULL",
    )
    .bind(us(at))
    .bind(id.to_string());
    Ok(with_audit(pool, write, Some(audit), IfUnchanged::Commit).await? > 0)
}

pub(super) async fn find_by_hash(
    pool: &SqlitePool,
    candidates: &[KeyedHash],
) -> StoreResult<Option<(Pat, KeyedHash)>> {
    let sql =
        format!("SELECT {PAT_COLUMNS}, token_hash FROM pats WHERE token_hash = ? AND key_id = ?");
    for c in candidates {
        let row: Option<HashedPatRow> = sqlx::query_as(&sql)
            .bind(&c.digest.as_bytes()[..])
            .bind(&c.key_id)
            .fetch_optional(pool)
            .await?;
        if let Some(row) = row {
            let (pat, digest) = row.into_parts()?;
            let key_id = c.key_id.clone();
            return Ok(Some((pat, KeyedHash { key_id, digest })));
        }
    }
    Ok(None)
}

/// Last use only moves forward, whatever order the batch arrives in; the
/// first use is kept once set (the inactivity rule reads it).
pub(super) async fn record_usage(pool: &SqlitePool, batch: &[UsageRecord]) -> StoreResult<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    for u in batch {
        sqlx::query(
            "UPDATE pats SET first_used_at_us = ? \
             WHERE authorization_id = ? AND (first_used_at_us IS NULL OR first_used_at_us > ?)",
        )
        .bind(us(u.last_use.at))
        .bind(u.authorization_id.to_string())
        .bind(us(u.last_use.at))
        .execute(&mut *tx)
        .await?;
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
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn count_active_for_owner(
    pool: &SqlitePool,
    owner: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    let n: i64 = sqlx::query_scalar(&format!("SELECT {}", active_count("?1", "?2")))
        .bind(owner.to_string())
        .bind(us(now))
        .fetch_one(pool)
        .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

pub(super) async fn count_by_status(
    pool: &SqlitePool,
    now: DateTime<Utc>,
) -> StoreResult<StatusCounts> {
    let row: StatusCountsRow = sqlx::query_as(
        "SELECT \
           COALESCE(SUM(CASE WHEN revoked_at_us IS NULL AND valid_to_us > ?1 THEN 1 ELSE 0 END), 0) AS active, \
           COALESCE(SUM(CASE WHEN revoked_at_us IS NULL AND valid_to_us <= ?1 THEN 1 ELSE 0 END), 0) AS expired, \
           COALESCE(SUM(CASE WHEN revoked_at_us IS NOT NULL THEN 1 ELSE 0 END), 0) AS revoked \
         FROM pats",
    )
    .bind(us(now))
    .fetch_one(pool)
    .await?;
    Ok(row.into())
}
