//! The SQLite side of the group commit (`crate::group`). SQLite has one
//! writer at a time: creates that each took the write lock for themselves
//! spent their time waiting for it (the busy handler sleeps between tries)
//! and writing the same index pages to the WAL again and again.

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection as _, SqlitePool};

use super::pats;
use crate::group::{Committer, NewPat};
use crate::StoreResult;

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
    async fn together(&mut self, creates: &[&NewPat]) -> StoreResult<Vec<String>> {
        let Some((opts, own)) = &mut self.own else {
            let mut conn = self.pool.acquire().await?;
            return together(&mut conn, creates).await;
        };
        let conn = match own {
            Some(conn) => conn,
            None => own.insert(SqliteConnection::connect_with(opts).await?),
        };
        let written = together(conn, creates).await;
        if written.is_err() {
            // Opened again for the next group, in case it broke.
            *own = None;
        }
        written
    }
}

async fn together(conn: &mut SqliteConnection, creates: &[&NewPat]) -> StoreResult<Vec<String>> {
    let mut tx = conn.begin().await?;
    let stored = pats::insert_all(&mut tx, creates).await?;
    tx.commit().await?;
    Ok(stored)
}
