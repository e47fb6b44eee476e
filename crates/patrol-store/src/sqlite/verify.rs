//! The verify path's lookup in one round trip: the PAT a presented secret's
//! keyed hash matches, its owner, and the owner's organizations.

use std::sync::OnceLock;

use sqlx::SqlitePool;

use patrol_core::hashing::KeyedHash;

use crate::rows::{qualified, VerifyRow, MEMBER_OF_SQL, PAT_COLUMNS, USER_COLUMNS};
use crate::{StoreResult, VerifyRecord};

fn sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        format!(
            "SELECT {}, {}, {MEMBER_OF_SQL} AS member_of \
             FROM pats p JOIN users u ON u.id = p.owner_id WHERE p.token_hash = ? AND p.key_id = ?",
            qualified("p", PAT_COLUMNS),
            qualified("u", USER_COLUMNS),
        )
    })
}

pub(super) async fn find_for_verify(
    pool: &SqlitePool,
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

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use patrol_core::hashing::{ServerKey, TokenHasher};
    use patrol_core::pat::Pat;
    use patrol_core::secret::PatSecret;
    use patrol_core::user::{AuditAction, AuditEvent, UserClaims};

    use crate::{SqliteStore, Store};

    #[tokio::test]
    async fn one_round_trip_answers_like_three() {
        let store = SqliteStore::open_url("sqlite::memory:").await.unwrap();
        let now = Utc::now();
        let claims = UserClaims {
            issuer: "i".into(),
            subject: "s".into(),
            display_name: "Alice".into(),
            email: Some("a@example.com".into()),
            email_verified: true,
        };
        let user = store.upsert_user(&claims, now).await.unwrap();
        let lonely = store
            .upsert_user(
                &UserClaims {
                    subject: "t".into(),
                    ..claims
                },
                now,
            )
            .await
            .unwrap();
        for name in ["Zeta", "alpha", "Mid"] {
            let o = store.ensure_org(name, now).await.unwrap();
            store.add_member(user.id, o.id).await.unwrap();
        }
        let hasher = TokenHasher::new(vec![ServerKey::new("k", vec![1; 32]).unwrap()]).unwrap();
        for owner in [user.id, lonely.id] {
            let secret = PatSecret::new(format!("secret-of-{owner}"));
            let pat = Pat::fixture(owner, now);
            let audit = AuditEvent::for_pat(AuditAction::PatCreate, &pat, "t");
            store
                .create_pat(&pat, &hasher.hash(&secret), &audit, None)
                .await
                .unwrap();
            let candidates = hasher.candidates(secret.expose());
            let one = store.find_for_verify(&candidates).await.unwrap().unwrap();
            let (p, _) = store.find_by_hash(&candidates).await.unwrap().unwrap();
            assert_eq!(one.pat, p);
            assert_eq!(Some(one.owner), store.get_user(owner).await.unwrap());
            assert_eq!(one.member_of, store.member_orgs(owner).await.unwrap());
        }
        let unknown = hasher.candidates("nobody");
        assert!(store.find_for_verify(&unknown).await.unwrap().is_none());
    }
}
