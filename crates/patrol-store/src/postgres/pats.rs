//! PATs: each change written with its audit record, listing, lookup by
//! keyed hash, last-use bookkeeping and counts.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use patrol_core::hashing::KeyedHash;
use patrol_core::pat::{ListFilter, Pat, SortBy};
use patrol_core::user::AuditEvent;

use super::with_audit;
use crate::common::{active_count, IfUnchanged, MUST_EXIST};
use crate::rows::{
    convert_all, target_text, us, HashedPatRow, PatRow, StatusCountsRow, PAT_COLUMNS,
};
use crate::{AdminPatQuery, PatQuery, StatusCounts, StoreResult, UsageRecord};

pub(super) async fn get(pool: &PgPool, id: Uuid) -> StoreResult<Option<Pat>> {
    let row: Option<PatRow> = sqlx::query_as(&format!(
        "SELECT {PAT_COLUMNS} FROM pats WHERE authorization_id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(pool)
    .await?;
    row.map(Pat::try_from).transpose()
}

pub(super) async fn list(pool: &PgPool, q: &PatQuery) -> StoreResult<Vec<Pat>> {
    let sql = list_sql(q.filter, q.sort, q.ascending);
    let rows: Vec<PatRow> = sqlx::query_as(&sql)
        .persistent(false)
        .bind(q.owner.to_string())
        .bind(us(q.now))
        .bind(i64::from(q.limit))
        .bind(i64::try_from(q.offset).unwrap_or(i64::MAX))
        .bind(q.ended_after.map(us))
        .fetch_all(pool)
        .await?;
    convert_all(rows)
}

/// `filter` as a condition on the PAT columns, with `now` bound as `${now}`
/// (a BIGINT; referenced in every case so its type is always known).
fn filter_sql(filter: ListFilter, now: u8) -> String {
    match filter {
        ListFilter::Active => format!("AND revoked_at_us IS NULL AND valid_to_us > ${now}"),
        ListFilter::Revoked => {
            format!("AND revoked_at_us IS NOT NULL AND ${now}::BIGINT IS NOT NULL")
        }
        ListFilter::Expired => format!("AND revoked_at_us IS NULL AND valid_to_us <= ${now}"),
        ListFilter::All => format!("AND ${now}::BIGINT IS NOT NULL"),
    }
}

/// Across owners, by id. A PAT reaches an organization named among its
/// space-separated targets, or — a global one — every organization its
/// owner belongs to.
pub(super) async fn list_admin(pool: &PgPool, q: &AdminPatQuery) -> StoreResult<Vec<Pat>> {
    let owners: Option<Vec<String>> =
        (!q.owners.is_empty()).then(|| q.owners.iter().map(Uuid::to_string).collect());
    let sql = format!(
        "SELECT {PAT_COLUMNS} FROM pats WHERE \
         ($1::TEXT[] IS NULL OR owner_id = ANY($1)) \
         AND ($2::TEXT IS NULL OR strpos(' ' || target_orgs || ' ', ' ' || $2 || ' ') > 0 \
              OR (target_orgs IS NULL AND owner_id IN (SELECT user_id FROM memberships WHERE org_id = $2))) \
         AND ($3::TEXT IS NULL OR authorization_id >= $3) {} \
         ORDER BY authorization_id LIMIT $5",
        filter_sql(q.filter, 4)
    );
    let rows: Vec<PatRow> = sqlx::query_as(&sql)
        .persistent(false)
        .bind(owners)
        .bind(q.org.map(|o| o.to_string()))
        .bind(q.from.map(|f| f.to_string()))
        .bind(us(q.now))
        .bind(i64::from(q.limit))
        .fetch_all(pool)
        .await?;
    convert_all(rows)
}

pub(super) async fn update(pool: &PgPool, pat: &Pat, audit: &AuditEvent) -> StoreResult<()> {
    let write = sqlx::query(
        "UPDATE pats SET display_name = $1, scopes = $2, target_orgs = $3, valid_to_us = $4 \
         WHERE authorization_id = $5",
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
    pool: &PgPool,
    id: Uuid,
    hash: &KeyedHash,
    audit: &AuditEvent,
) -> StoreResult<()> {
    let write =
        sqlx::query("UPDATE pats SET key_id = $1, token_hash = $2 WHERE authorization_id = $3")
            .bind(&hash.key_id)
            .bind(&hash.digest.as_bytes()[..])
            .bind(id.to_string());
    with_audit(pool, write, Some(audit), MUST_EXIST).await?;
    Ok(())
}

/// The audit record is kept even when the PAT was already revoked.
pub(super) async fn revoke(
    pool: &PgPool,
    id: Uuid,
    at: DateTime<Utc>,
    audit: &AuditEvent,
) -> StoreResult<bool> {
    let write = sqlx::query(
        "UPDATE pats SET revoked_at_us = $1 WHERE authorization_id = $2 AND revoked_at_us IS NULL",
    )
    .bind(us(at))
    .bind(id.to_string());
    Ok(with_audit(pool, write, Some(audit), IfUnchanged::Commit).await? > 0)
}

pub(super) async fn find_by_hash(
    pool: &PgPool,
    candidates: &[KeyedHash],
) -> StoreResult<Option<(Pat, KeyedHash)>> {
    let sql =
        format!("SELECT {PAT_COLUMNS}, token_hash FROM pats WHERE token_hash = $1 AND key_id = $2");
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

/// Last use only moves forward, whatever order the batch arrives in (and
/// whichever replica writes it); the first use is kept once set. Rows are
/// updated in id order, as every multi-row change does (`revoke_many`), so
/// two such transactions never wait for each other's row locks in a cycle.
pub(super) async fn record_usage(pool: &PgPool, batch: &[UsageRecord]) -> StoreResult<()> {
    if batch.is_empty() {
        return Ok(());
    }
    super::again_if_rolled_back(|| record_usage_once(pool, batch)).await
}

async fn record_usage_once(pool: &PgPool, batch: &[UsageRecord]) -> StoreResult<()> {
    let mut ordered: Vec<&UsageRecord> = batch.iter().collect();
    ordered.sort_by_key(|u| u.authorization_id.to_string());
    let mut tx = pool.begin().await?;
    for u in ordered {
        sqlx::query(
            "UPDATE pats SET first_used_at_us = $1 \
             WHERE authorization_id = $2 AND (first_used_at_us IS NULL OR first_used_at_us > $1)",
        )
        .bind(us(u.last_use.at))
        .bind(u.authorization_id.to_string())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE pats SET last_used_at_us = $1, last_used_ip = $2, last_used_agent = $3 \
             WHERE authorization_id = $4 AND (last_used_at_us IS NULL OR last_used_at_us < $1)",
        )
        .bind(us(u.last_use.at))
        .bind(&u.last_use.source_ip)
        .bind(&u.last_use.user_agent)
        .bind(u.authorization_id.to_string())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn count_active_for_owner(
    pool: &PgPool,
    owner: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    let n: i64 = sqlx::query_scalar(&format!("SELECT ({})::BIGINT", active_count("$1", "$2")))
        .bind(owner.to_string())
        .bind(us(now))
        .fetch_one(pool)
        .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The owner's page: `$1` owner, `$2` now, `$3` limit, `$4` offset, `$5`
/// ended-after; each order matches an index of migration 0003. By status
/// with every token listed, each status is its own index range, read only
/// as far as the page needs.
fn list_sql(filter: ListFilter, sort: SortBy, ascending: bool) -> String {
    let dir = if ascending { "ASC" } else { "DESC" };
    // lower() of a COLLATE "C" column folds ASCII only: SQLite's NOCASE.
    let by_name = format!("lower(display_name) {dir}, valid_to_us {dir}, authorization_id {dir}");
    let by_expiry = format!("valid_to_us {dir}, lower(display_name) {dir}, authorization_id {dir}");
    let retained = "AND ($5::BIGINT IS NULL \
                    OR LEAST(COALESCE(revoked_at_us, valid_to_us), valid_to_us) >= $5)";
    let page = |filter: ListFilter, order: &str| {
        format!(
            "SELECT {PAT_COLUMNS} FROM pats WHERE owner_id = $1 {} {retained} \
             ORDER BY {order} LIMIT $3 OFFSET $4",
            filter_sql(filter, 2)
        )
    };
    match (sort, filter) {
        (SortBy::DisplayName, f) => page(f, &by_name),
        (SortBy::DisplayDate, f) => page(f, &by_expiry),
        (SortBy::Status, f) if f != ListFilter::All => page(f, &by_name),
        (SortBy::Status, _) => {
            let part = |rank: u8, f: ListFilter| {
                format!(
                    "(SELECT {rank} AS status_rank, {PAT_COLUMNS} FROM pats \
                     WHERE owner_id = $1 {} {retained} ORDER BY {by_name} LIMIT $3 + $4)",
                    filter_sql(f, 2)
                )
            };
            format!(
                "SELECT {PAT_COLUMNS} FROM ({} UNION ALL {} UNION ALL {}) AS by_status \
                 ORDER BY status_rank {dir}, {by_name} LIMIT $3 OFFSET $4",
                part(0, ListFilter::Active),
                part(1, ListFilter::Expired),
                part(2, ListFilter::Revoked),
            )
        }
    }
}

pub(super) async fn count_by_status(
    pool: &PgPool,
    now: DateTime<Utc>,
) -> StoreResult<StatusCounts> {
    let row: StatusCountsRow = sqlx::query_as(
        "SELECT \
           COUNT(*) FILTER (WHERE revoked_at_us IS NULL AND valid_to_us > $1) AS active, \
           COUNT(*) FILTER (WHERE revoked_at_us IS NULL AND valid_to_us <= $1) AS expired, \
           COUNT(*) FILTER (WHERE revoked_at_us IS NOT NULL) AS revoked \
         FROM pats",
    )
    .bind(us(now))
    .fetch_one(pool)
    .await?;
    Ok(row.into())
}
