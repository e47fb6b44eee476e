//! The verify path's lookup in one round trip: the PAT a presented secret's
//! keyed hash matches, its owner, and the owner's organizations.

use std::sync::OnceLock;

use sqlx::PgPool;

use patrol_core::hashing::KeyedHash;

use super::MEMBER_OF_SQL;
use crate::rows::{qualified, VerifyRow, PAT_COLUMNS, USER_COLUMNS};
use crate::{StoreResult, VerifyRecord};

fn sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        format!(
            "SELECT {}, {}, {MEMBER_OF_SQL} AS member_of \
             FROM pats p JOIN users u ON u.id = p.owner_id WHERE p.token_hash = $1 AND p.key_id = $2",
            qualified("p", PAT_COLUMNS),
            qualified("u", USER_COLUMNS),
        )
    })
}

pub(super) async fn find_for_verify(
    pool: &PgPool,
    candidates: &[KeyedHash],
) -> StoreResult<Option<VerifyRecord>> {
    for c in candidates {
        let row: Option<VerifyRow> = sqlx::query_as(sql())
            .bind(&c.digest.as_bytes()[..])
            .bind(&c.key_id)
            .fetch_optional(pool)
            .await?;
        if let Some(row) = row {
            return row.try_into().map(Some);
        }
    }
    Ok(None)
}
