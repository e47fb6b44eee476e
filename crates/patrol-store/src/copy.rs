//! Copying a SQLite deployment into PostgreSQL (`patrol migrate
//! --from-sqlite`, docs/deployment.md): every table, in foreign-key order, in
//! one PostgreSQL transaction, into a migrated database that holds no rows
//! yet. Both schemas keep the same column representation (TEXT ids, BIGINT
//! microseconds, booleans, digests as bytes), so each value is copied as it
//! is; the token hashes stay valid as long as the server keys are the same.

use std::collections::BTreeSet;

use sqlx::postgres::Postgres;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row};

use crate::{PostgresStore, SqliteStore, StoreError, StoreResult};

/// Every table, parents before the tables whose foreign keys name them.
pub const COPY_ORDER: &[&str] = &[
    "users",
    "organizations",
    "memberships",
    "pats",
    "audit_events",
    "notice_intents",
    "web_sessions",
    "user_claims",
    "membership_removals",
    "policies",
    "revocation_rules",
    "scim_users",
    "outbox",
    "job_leases",
    "job_schedules",
    "notice_prefs",
    "webhooks",
];

/// Tables PostgreSQL derives itself while rows arrive (a trigger on `pats`
/// keeps `active_pat_days`): not copied, checked after the copy.
const DERIVED: &[&str] = &["active_pat_days"];

/// Rows per `INSERT` (PostgreSQL takes at most 65,535 parameters).
const BATCH: usize = 500;

/// One table copied: rows read from SQLite, rows now in PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedTable {
    pub table: String,
    pub sqlite_rows: u64,
    pub postgres_rows: u64,
}

/// How a PostgreSQL column's values are read from SQLite and bound.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Text,
    Int,
    Bool,
    Bytes,
}

#[derive(Debug)]
enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(Option<bool>),
    Bytes(Option<Vec<u8>>),
}

fn kind(table: &str, column: &str, data_type: &str) -> StoreResult<Kind> {
    Ok(match data_type {
        "text" => Kind::Text,
        "bigint" | "integer" => Kind::Int,
        "boolean" => Kind::Bool,
        "bytea" => Kind::Bytes,
        other => {
            return Err(StoreError::Backend(format!(
                "cannot copy {table}.{column}: PostgreSQL type {other}"
            )))
        }
    })
}

fn read(row: &SqliteRow, i: usize, k: Kind) -> StoreResult<Value> {
    Ok(match k {
        Kind::Text => Value::Text(row.try_get(i)?),
        Kind::Int => Value::Int(row.try_get(i)?),
        Kind::Bool => Value::Bool(row.try_get(i)?),
        Kind::Bytes => Value::Bytes(row.try_get(i)?),
    })
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Copy every row of `from` into `to`, which must be migrated and hold no
/// rows; `from` must be migrated to the same schema version (open it with
/// [`SqliteStore::open`]). All or nothing: one transaction, committed only
/// when every table's count in PostgreSQL equals SQLite's.
pub async fn sqlite_to_postgres(
    from: &SqliteStore,
    to: &PostgresStore,
) -> StoreResult<Vec<CopiedTable>> {
    let src = from.pool();
    let mut tx = to.pool().begin().await?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
         AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut *tx)
    .await?;
    let tables: BTreeSet<String> = tables.into_iter().collect();
    if let Some(t) = tables
        .iter()
        .find(|t| !COPY_ORDER.contains(&t.as_str()) && !DERIVED.contains(&t.as_str()))
    {
        return Err(StoreError::Backend(format!(
            "table {t} is not among those this version copies: refusing a partial copy"
        )));
    }
    for t in COPY_ORDER.iter().chain(DERIVED) {
        if !tables.contains(*t) {
            return Err(StoreError::Backend(format!(
                "table {t} is missing from PostgreSQL: migrate it first"
            )));
        }
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {}", quote(t)))
            .fetch_one(&mut *tx)
            .await?;
        if n > 0 {
            return Err(StoreError::Conflict(format!(
                "the PostgreSQL database is not empty ({t} holds {n} rows): \
                 copy only into a freshly migrated database"
            )));
        }
    }

    let mut copied = Vec::new();
    for table in COPY_ORDER {
        let columns: Vec<(String, String)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(table)
        .fetch_all(&mut *tx)
        .await?;
        let kinds = columns
            .iter()
            .map(|(c, t)| kind(table, c, t))
            .collect::<StoreResult<Vec<_>>>()?;
        let list = columns
            .iter()
            .map(|(c, _)| quote(c))
            .collect::<Vec<_>>()
            .join(", ");
        // Read in rowid order, a page at a time (every copied table has a rowid).
        let select = format!(
            "SELECT rowid, {list} FROM {} WHERE rowid > ? ORDER BY rowid LIMIT {BATCH}",
            quote(table)
        );
        let mut after = i64::MIN;
        let mut read_rows = 0u64;
        loop {
            let page: Vec<SqliteRow> = sqlx::query(&select)
                .bind(after)
                .fetch_all(src)
                .await
                .map_err(|e| StoreError::Backend(format!("reading {table} from SQLite: {e}")))?;
            let Some(last) = page.last() else { break };
            after = last.try_get(0)?;
            let mut batch = Vec::with_capacity(page.len());
            for row in &page {
                let values = kinds
                    .iter()
                    .enumerate()
                    .map(|(i, k)| read(row, i + 1, *k))
                    .collect::<StoreResult<Vec<_>>>()?;
                batch.push(values);
            }
            read_rows += batch.len() as u64;
            insert(&mut tx, table, &list, batch).await?;
        }
        let sqlite_rows: i64 =
            sqlx::query_scalar(&format!("SELECT count(*) FROM {}", quote(table)))
                .fetch_one(src)
                .await?;
        let postgres_rows: i64 =
            sqlx::query_scalar(&format!("SELECT count(*) FROM {}", quote(table)))
                .fetch_one(&mut *tx)
                .await?;
        if sqlite_rows as u64 != read_rows || postgres_rows != sqlite_rows {
            return Err(StoreError::Backend(format!(
                "{table}: {sqlite_rows} rows in SQLite, {read_rows} read, {postgres_rows} in \
                 PostgreSQL: nothing copied"
            )));
        }
        copied.push(CopiedTable {
            table: (*table).to_owned(),
            sqlite_rows: sqlite_rows as u64,
            postgres_rows: postgres_rows as u64,
        });
    }
    // The trigger-kept counts agree with SQLite's (the per-user cap reads them).
    let derived: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT owner_id, day, n FROM active_pat_days WHERE n <> 0 ORDER BY owner_id, day",
    )
    .fetch_all(src)
    .await?;
    let kept: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT owner_id, day, n FROM active_pat_days WHERE n <> 0 ORDER BY owner_id, day",
    )
    .fetch_all(&mut *tx)
    .await?;
    if derived != kept {
        return Err(StoreError::Backend(
            "active token counts differ between SQLite and PostgreSQL after the copy: \
             nothing copied"
                .into(),
        ));
    }
    tx.commit().await?;
    Ok(copied)
}

async fn insert(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    table: &str,
    columns: &str,
    rows: Vec<Vec<Value>>,
) -> StoreResult<()> {
    let mut q: QueryBuilder<'_, Postgres> =
        QueryBuilder::new(format!("INSERT INTO {} ({columns}) ", quote(table)));
    q.push_values(rows, |mut b, row| {
        for v in row {
            match v {
                Value::Text(v) => b.push_bind(v),
                Value::Int(v) => b.push_bind(v),
                Value::Bool(v) => b.push_bind(v),
                Value::Bytes(v) => b.push_bind(v),
            };
        }
    });
    q.build()
        .execute(&mut **tx)
        .await
        .map_err(|e| StoreError::Backend(format!("copying {table}: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::PostgresOptions;

    /// One or two rows in every copied table, with NULLs, both booleans and
    /// bytes wherever the schema has them.
    const FILL: &[&str] = &[
        "INSERT INTO users (id, issuer, subject, display_name, email, email_verified, \
         created_at_us, last_sign_in_us, last_interactive_sign_in_us, disabled) VALUES ('u1','iss','s1','Alice','a@x',1,10,11,NULL,0), \
         ('u2','iss','s2','Bob',NULL,0,20,21,22,1)",
        "INSERT INTO organizations VALUES ('o1','Fab','fab',5)",
        "INSERT INTO memberships VALUES ('u1','o1'), ('u2','o1')",
        "INSERT INTO pats (authorization_id, owner_id, display_name, scopes, target_orgs, \
         valid_from_us, valid_to_us, created_at_us, revoked_at_us, last_used_at_us, last_used_ip, \
         last_used_agent, first_used_at_us, key_id, token_hash) VALUES \
         ('p1','u1','ci','vso.code','o1',1,90000000000000,1,NULL,5,'10.0.0.1','curl',4,'k1',x'0102'), \
         ('p2','u1','old','vso.code',NULL,1,90000000000000,1,3,NULL,NULL,NULL,NULL,'k0',x'ff00')",
        "INSERT INTO audit_events VALUES ('a1',7,'pat.create','u1','iss|s1','cli','p1','u1',\
         '10.0.0.1','r1','success',NULL), ('a2',8,'pat.revoke',NULL,'iss|s1',NULL,NULL,NULL,NULL,\
         NULL,'failure','why')",
        "INSERT INTO notice_intents VALUES ('a1',7,'{}')",
        "INSERT INTO web_sessions VALUES (x'aa','u1',1,2,3,4,NULL), (x'bb','u2',1,2,3,4,x'00ff')",
        "INSERT INTO user_claims VALUES ('u1','{\"groups\":[]}',9)",
        "INSERT INTO membership_removals VALUES ('u2','o1',12)",
        "INSERT INTO policies VALUES ('tenant','{}',13,'admin')",
        "INSERT INTO revocation_rules VALUES ('r1','o1','vso.code',1,2,'admin',3), \
         ('r2',NULL,'',1,2,'admin',0)",
        "INSERT INTO scim_users VALUES ('c1','Alice','alice','ext',1,'{}','u1',1,2,3), \
         ('c2','Bob','bob',NULL,NULL,'{}',NULL,1,2,3), ('c3','Eve','eve',NULL,0,'{}',NULL,1,2,3)",
        "INSERT INTO outbox VALUES ('x1','d1','email','pat.created','u1','p1',NULL,'{}',1,2,0,\
         NULL,NULL,NULL), ('x2','d2','webhook','pat.revoked',NULL,NULL,'w1','{}',1,2,3,4,5,'boom')",
        "INSERT INTO job_leases VALUES ('jobs','host-1',99)",
        "INSERT INTO job_schedules VALUES ('purge',5,NULL), ('warn',6,4)",
        "INSERT INTO notice_prefs VALUES ('u1','pat.expiring',0), ('u2','pat.created',1)",
        "INSERT INTO webhooks VALUES ('w1','u1','https://h/x','sealed','',1), \
         ('w2',NULL,'https://h/y','sealed','pat.revoked',2)",
    ];

    async fn rows_sqlite(s: &SqliteStore, table: &str, kinds: &[Kind], list: &str) -> Vec<String> {
        let rows = sqlx::query(&format!("SELECT {list} FROM {table}"))
            .fetch_all(s.pool())
            .await
            .unwrap();
        let mut out: Vec<String> = rows
            .iter()
            .map(|r| {
                let v: Vec<Value> = (0..kinds.len())
                    .map(|i| read(r, i, kinds[i]).unwrap())
                    .collect();
                format!("{v:?}")
            })
            .collect();
        out.sort();
        out
    }

    async fn rows_postgres(
        s: &PostgresStore,
        table: &str,
        kinds: &[Kind],
        list: &str,
    ) -> Vec<String> {
        let rows = sqlx::query(&format!("SELECT {list} FROM {table}"))
            .fetch_all(s.pool())
            .await
            .unwrap();
        let mut out: Vec<String> = rows
            .iter()
            .map(|r| {
                let v: Vec<Value> = kinds
                    .iter()
                    .enumerate()
                    .map(|(i, k)| match k {
                        Kind::Text => Value::Text(r.try_get(i).unwrap()),
                        Kind::Int => Value::Int(r.try_get(i).unwrap()),
                        Kind::Bool => Value::Bool(r.try_get(i).unwrap()),
                        Kind::Bytes => Value::Bytes(r.try_get(i).unwrap()),
                    })
                    .collect();
                format!("{v:?}")
            })
            .collect();
        out.sort();
        out
    }

    /// Every table and every column arrives as it was; a second copy, or a
    /// copy into a database with a table this version does not know, is
    /// refused without writing anything.
    #[tokio::test]
    async fn every_row_and_column_arrives_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let from = SqliteStore::open(&dir.path().join("p.db")).await.unwrap();
        for sql in FILL {
            sqlx::query(sql)
                .execute(from.pool())
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        let (to, _url) = crate::test_support::fresh_store().await.unwrap();
        let copied = sqlite_to_postgres(&from, &to).await.unwrap();
        assert_eq!(copied.len(), COPY_ORDER.len());
        for c in &copied {
            assert!(c.sqlite_rows >= 1, "{} was filled", c.table);
            assert_eq!(c.sqlite_rows, c.postgres_rows);
        }
        for table in COPY_ORDER {
            let columns: Vec<(String, String)> = sqlx::query_as(
                "SELECT column_name::text, data_type::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1 \
                 ORDER BY ordinal_position",
            )
            .bind(table)
            .fetch_all(to.pool())
            .await
            .unwrap();
            let kinds: Vec<Kind> = columns
                .iter()
                .map(|(c, t)| kind(table, c, t).unwrap())
                .collect();
            let list = columns
                .iter()
                .map(|(c, _)| quote(c))
                .collect::<Vec<_>>()
                .join(", ");
            let a = rows_sqlite(&from, table, &kinds, &list).await;
            let b = rows_postgres(&to, table, &kinds, &list).await;
            assert_eq!(a, b, "{table}");
        }
        // The trigger-kept count: one active token of u1.
        let n: i64 = sqlx::query_scalar("SELECT sum(n)::bigint FROM active_pat_days")
            .fetch_one(to.pool())
            .await
            .unwrap();
        assert_eq!(n, 1);

        let again = sqlite_to_postgres(&from, &to).await.unwrap_err();
        assert!(again.to_string().contains("not empty"), "{again}");

        let other_url = crate::test_support::fresh_database_url().await.unwrap();
        let other = PostgresStore::connect(&other_url, PostgresOptions::default()).unwrap();
        other.migrate().await.unwrap();
        sqlx::query("CREATE TABLE later_feature (id TEXT)")
            .execute(other.pool())
            .await
            .unwrap();
        let e = sqlite_to_postgres(&from, &other).await.unwrap_err();
        assert!(e.to_string().contains("later_feature"), "{e}");
    }
}
