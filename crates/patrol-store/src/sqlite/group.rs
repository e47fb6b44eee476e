//! The SQLite side of the group commit (`crate::group`). SQLite has one
//! writer at a time: creates that each took the write lock for themselves
//! spent their time waiting for it (the busy handler sleeps between tries)
//! and writing the same index pages to the WAL again and again.

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection as _, SqlitePool};

use super::pats;
use crate::group::{answer, refuse, Committer, Job, NewPat};
use crate::{StoreError, StoreResult};

/// Commits groups through its own connection (a database file): as
/// nothing else writes creates, that connection's page cache stays valid
/// from one group to the next, where a pooled connection's would have been
/// emptied by a commit on another. Without `own` (an in-memory database,
/// which exists per connection), through the pool.
pub(crate) struct Writer {
    pub pool: SqlitePool,
    /// Its own connection's options, and the connection once open.
    pub own: Option<(SqliteConnectOptions, Option<SqliteConnection>)>,
}

impl Committer for Writer {
    async fn commit(&mut self, group: Vec<Job>) {
        let Some((opts, own)) = &mut self.own else {
            match self.pool.acquire().await {
                Ok(mut conn) => {
                    commit(&mut conn, group).await;
                }
                Err(e) => refuse(group, &e.into()),
            }
            return;
        };
        if own.is_none() {
            match SqliteConnection::connect_with(opts).await {
                Ok(conn) => *own = Some(conn),
                Err(e) => return refuse(group, &e.into()),
            }
        }
        if let Some(conn) = own {
            if !commit(conn, group).await {
                // Opened again for the next group, in case it broke.
                *own = None;
            }
        }
    }
}

/// Commit `group` and answer each create; whether all went without error.
async fn commit(conn: &mut SqliteConnection, group: Vec<Job>) -> bool {
    if group.len() > 1 {
        match together(conn, &group).await {
            Ok(stored) => {
                answer(group, &stored);
                return true;
            }
            Err(e) => tracing::debug!(error = %e, creates = group.len(),
                "a group of creates failed; running them one by one"),
        }
    }
    let mut clean = group.len() == 1;
    for (new, done) in group {
        let answer = pats::create(conn, &new).await;
        clean &= matches!(answer, Ok(()) | Err(StoreError::LimitReached));
        let _ = done.send(answer);
    }
    clean
}

/// The group in one transaction: the ids stored, or the error that rolled
/// them all back.
async fn together(conn: &mut SqliteConnection, group: &[Job]) -> StoreResult<Vec<String>> {
    let creates: Vec<&NewPat> = group.iter().map(|(new, _)| new).collect();
    let mut tx = conn.begin().await?;
    let stored = pats::insert_all(&mut tx, &creates).await?;
    tx.commit().await?;
    Ok(stored)
}
