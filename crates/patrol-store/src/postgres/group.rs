//! The PostgreSQL side of the group commit (`crate::group`): a group costs
//! seven round trips whatever its size, where each create alone cost six.
//! The owners with a cap are locked exclusively (their advisory locks, in
//! key order, so replicas never deadlock) and then counted exactly: a
//! statement sees what committed before it began, and no create for them
//! can commit meanwhile, here or on another replica. Each create is admitted in order while its owner's
//! count, the group's earlier ones included, is below its cap; those
//! admitted are written with one statement per table.

use std::collections::HashMap;

use sqlx::PgPool;
use uuid::Uuid;

use crate::common::active_count;
use crate::group::{Committer, NewPat};
use crate::rows::{target_text, us};
use crate::StoreResult;

pub(crate) struct Writer {
    pub pool: PgPool,
}

impl Committer for Writer {
    async fn together(&mut self, creates: &[&NewPat]) -> StoreResult<Vec<String>> {
        together(&self.pool, creates).await
    }
}

async fn together(pool: &PgPool, creates: &[&NewPat]) -> StoreResult<Vec<String>> {
    let mut tx = pool.begin().await?;
    // Each capped owner, with the moment its first create counts at.
    let mut capped: Vec<(String, i64)> = Vec::new();
    for new in creates {
        let owner = new.pat.owner.to_string();
        if new.max_active.is_some() && !capped.iter().any(|(o, _)| *o == owner) {
            capped.push((owner, us(new.pat.created_at)));
        }
    }
    let mut counts: HashMap<String, i64> = HashMap::new();
    if !capped.is_empty() {
        let mut keys: Vec<i64> = creates
            .iter()
            .filter(|new| new.max_active.is_some())
            .map(|new| owner_lock_key(new.pat.owner))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        sqlx::query("SELECT pg_advisory_xact_lock(k) FROM unnest($1::BIGINT[]) AS k")
            .bind(&keys)
            .execute(&mut *tx)
            .await?;
        let (owners, nows): (Vec<String>, Vec<i64>) = capped.into_iter().unzip();
        let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
            "SELECT o, ({})::BIGINT FROM unnest($1::TEXT[], $2::BIGINT[]) AS c (o, now)",
            active_count("c.o", "c.now")
        ))
        .bind(&owners)
        .bind(&nows)
        .fetch_all(&mut *tx)
        .await?;
        counts.extend(rows);
    }
    let admitted: Vec<&NewPat> = creates
        .iter()
        .copied()
        .filter(|new| match new.max_active {
            None => true,
            Some(max) => {
                let held = counts.entry(new.pat.owner.to_string()).or_insert(0);
                let fits = u64::try_from(*held).is_ok_and(|n| n < max);
                *held += i64::from(fits);
                fits
            }
        })
        .collect();
    if !admitted.is_empty() {
        insert_pats(&mut tx, &admitted).await?;
        insert_events(&mut tx, &admitted).await?;
        insert_notices(&mut tx, &admitted).await?;
    }
    tx.commit().await?;
    Ok(admitted
        .iter()
        .map(|new| new.pat.authorization_id.to_string())
        .collect())
}

/// The owner's advisory lock key: the first 8 bytes of their id (two
/// owners sharing one only wait for each other now and then).
fn owner_lock_key(owner: Uuid) -> i64 {
    let b = owner.as_bytes();
    i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// One column of every row: `f` of each.
fn column<T>(rows: &[&NewPat], f: impl Fn(&NewPat) -> T) -> Vec<T> {
    rows.iter().map(|new| f(new)).collect()
}

async fn insert_pats(conn: &mut sqlx::PgConnection, rows: &[&NewPat]) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO pats (authorization_id, owner_id, display_name, scopes, target_orgs, \
         valid_from_us, valid_to_us, created_at_us, revoked_at_us, key_id, token_hash) \
         SELECT * FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], \
         $6::BIGINT[], $7::BIGINT[], $8::BIGINT[], $9::BIGINT[], $10::TEXT[], $11::BYTEA[])",
    )
    .bind(column(rows, |n| n.pat.authorization_id.to_string()))
    .bind(column(rows, |n| n.pat.owner.to_string()))
    .bind(column(rows, |n| n.pat.display_name.clone()))
    .bind(column(rows, |n| n.pat.scopes.as_string()))
    .bind(column(rows, |n| target_text(&n.pat.target)))
    .bind(column(rows, |n| us(n.pat.valid_from)))
    .bind(column(rows, |n| us(n.pat.valid_to)))
    .bind(column(rows, |n| us(n.pat.created_at)))
    .bind(column(rows, |n| n.pat.revoked_at.map(us)))
    .bind(column(rows, |n| n.hash.key_id.clone()))
    .bind(column(rows, |n| n.hash.digest.as_bytes().to_vec()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The audit records, and the intents of those that carry one.
async fn insert_events(conn: &mut sqlx::PgConnection, rows: &[&NewPat]) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_events (id, at_us, action, actor_user, actor, client_id, target_pat, \
         target_user, source_ip, request_id, outcome, detail) \
         SELECT * FROM unnest($1::TEXT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], \
         $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::TEXT[], $11::TEXT[], $12::TEXT[])",
    )
    .bind(column(rows, |n| n.audit.id.to_string()))
    .bind(column(rows, |n| us(n.audit.at)))
    .bind(column(rows, |n| n.audit.action.as_str().to_owned()))
    .bind(column(rows, |n| n.audit.actor_user.map(|u| u.to_string())))
    .bind(column(rows, |n| n.audit.actor.clone()))
    .bind(column(rows, |n| n.audit.client_id.clone()))
    .bind(column(rows, |n| n.audit.target_pat.map(|u| u.to_string())))
    .bind(column(rows, |n| n.audit.target_user.map(|u| u.to_string())))
    .bind(column(rows, |n| n.audit.source_ip.clone()))
    .bind(column(rows, |n| n.audit.request_id.clone()))
    .bind(column(rows, |n| n.audit.outcome.as_str().to_owned()))
    .bind(column(rows, |n| n.audit.detail.clone()))
    .execute(&mut *conn)
    .await?;
    let promising: Vec<&NewPat> = rows
        .iter()
        .copied()
        .filter(|n| n.intent().is_some())
        .collect();
    if !promising.is_empty() {
        sqlx::query(
            "INSERT INTO notice_intents (audit_id, at_us, intent) \
             SELECT * FROM unnest($1::TEXT[], $2::BIGINT[], $3::TEXT[])",
        )
        .bind(column(&promising, |n| n.audit.id.to_string()))
        .bind(column(&promising, |n| us(n.audit.at)))
        .bind(column(&promising, |n| {
            n.intent().cloned().unwrap_or_default()
        }))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The notices queued with the creates, each unless its key is taken.
async fn insert_notices(conn: &mut sqlx::PgConnection, rows: &[&NewPat]) -> StoreResult<()> {
    let items: Vec<&crate::NewOutboxItem> = rows
        .iter()
        .flat_map(|n| n.notices.as_deref().unwrap_or_default())
        .collect();
    if items.is_empty() {
        return Ok(());
    }
    let col = |f: &dyn Fn(&crate::NewOutboxItem) -> Option<String>| -> Vec<Option<String>> {
        items.iter().map(|i| f(i)).collect()
    };
    sqlx::query(
        "INSERT INTO outbox (id, dedupe_key, channel, kind, user_id, pat_id, subscription, payload, \
         created_at_us, due_at_us) \
         SELECT * FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], \
         $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::BIGINT[], $10::BIGINT[]) \
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(col(&|i| Some(i.id.to_string())))
    .bind(col(&|i| Some(i.dedupe_key.clone())))
    .bind(col(&|i| Some(i.channel.clone())))
    .bind(col(&|i| Some(i.kind.clone())))
    .bind(col(&|i| i.user.map(|u| u.to_string())))
    .bind(col(&|i| i.pat.map(|u| u.to_string())))
    .bind(col(&|i| i.subscription.map(|u| u.to_string())))
    .bind(col(&|i| Some(i.payload.clone())))
    .bind(items.iter().map(|i| us(i.created_at)).collect::<Vec<_>>())
    .bind(items.iter().map(|i| us(i.due_at)).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
