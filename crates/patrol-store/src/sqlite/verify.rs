//! The verify path's lookup in one round trip: the PAT a presented secret's
//! keyed hash matches, its owner, and the owner's organizations.

use sqlx::{Row, SqlitePool};

use patrol_core::hashing::KeyedHash;
use patrol_core::user::{Organization, User};

use super::{backend, from_us, uuid, SqliteStore, PAT_COLUMNS};
use crate::{StoreError, StoreResult, VerifyRecord};

pub(super) async fn find_for_verify(
    pool: &SqlitePool,
    candidates: &[KeyedHash],
) -> StoreResult<Option<VerifyRecord>> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| {
        let pat_columns: Vec<String> = PAT_COLUMNS.split(", ").map(|c| format!("p.{c}")).collect();
        format!(
            "SELECT {}, u.id AS u_id, u.issuer AS u_issuer, u.subject AS u_subject, \
             u.display_name AS u_display_name, u.email AS u_email, u.email_verified AS u_email_verified, \
             u.created_at_us AS u_created_at_us, \
             u.last_sign_in_us AS u_last_sign_in_us, u.disabled AS u_disabled, \
             (SELECT group_concat(o.id || ' ' || o.name, char(10)) FROM memberships m \
              JOIN organizations o ON o.id = m.org_id WHERE m.user_id = u.id) AS u_orgs \
             FROM pats p JOIN users u ON u.id = p.owner_id WHERE p.token_hash = ? AND p.key_id = ?",
            pat_columns.join(", ")
        )
    });
    for c in candidates {
        let row = sqlx::query(sql)
            .bind(&c.digest.as_bytes()[..])
            .bind(&c.key_id)
            .fetch_optional(pool)
            .await
            .map_err(backend)?;
        let Some(row) = row else { continue };
        let pat = SqliteStore::pat_from_row(&row)?;
        let owner = User {
            id: uuid(row.try_get::<&str, _>("u_id").map_err(backend)?)?,
            issuer: row.try_get("u_issuer").map_err(backend)?,
            subject: row.try_get("u_subject").map_err(backend)?,
            display_name: row.try_get("u_display_name").map_err(backend)?,
            email: row.try_get("u_email").map_err(backend)?,
            email_verified: row.try_get::<i64, _>("u_email_verified").map_err(backend)? != 0,
            created_at: from_us(row.try_get("u_created_at_us").map_err(backend)?)?,
            last_sign_in: from_us(row.try_get("u_last_sign_in_us").map_err(backend)?)?,
            disabled: row.try_get::<i64, _>("u_disabled").map_err(backend)? != 0,
        };
        let orgs: Option<String> = row.try_get("u_orgs").map_err(backend)?;
        // Organization names are letters, digits and '-': no separators inside.
        let mut member_of = orgs
            .as_deref()
            .unwrap_or("")
            .lines()
            .map(|l| match l.split_once(' ') {
                Some((id, name)) => Ok(Organization {
                    id: uuid(id)?,
                    name: name.to_owned(),
                }),
                None => Err(StoreError::Corrupt("organization list".into())),
            })
            .collect::<StoreResult<Vec<_>>>()?;
        member_of.sort_by_key(|o| o.name.to_lowercase());
        return Ok(Some(VerifyRecord {
            pat,
            owner,
            member_of,
        }));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, Utc};
    use uuid::Uuid;

    use patrol_core::hashing::{ServerKey, TokenHasher};
    use patrol_core::pat::{OrgTarget, Pat};
    use patrol_core::scope::ScopeSet;
    use patrol_core::secret::PatSecret;
    use patrol_core::user::{AuditEvent, Outcome, UserClaims};

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
            let pat = Pat {
                authorization_id: Uuid::new_v4(),
                owner,
                display_name: "p".into(),
                scopes: ScopeSet::parse("vso.code").unwrap(),
                target: OrgTarget::All,
                valid_from: now,
                valid_to: now + Duration::days(1),
                created_at: now,
                revoked_at: None,
                last_used: None,
            };
            let audit = AuditEvent {
                actor_user: Some(owner),
                target_pat: Some(pat.authorization_id),
                target_user: Some(owner),
                ..AuditEvent::new("pat.create", now, "t", Outcome::Success)
            };
            store
                .create_pat(&pat, &hasher.hash(&secret), &audit)
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
