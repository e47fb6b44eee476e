//! Policies (one JSON document per scope) and revocation rules.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use patrol_core::policy::Policies;
use patrol_core::revocation::RevocationRule;
use patrol_core::user::AuditEvent;

use super::audit;
use crate::rows::{convert_all, org_id, policy_from_json, us, PolicyRow, RevocationRuleRow};
use crate::{PolicyChange, StoreError, StoreResult};

const TENANT: &str = "tenant";

pub(super) async fn policies(pool: &PgPool) -> StoreResult<Policies> {
    let rows: Vec<PolicyRow> = sqlx::query_as("SELECT scope, body FROM policies")
        .fetch_all(pool)
        .await?;
    let mut out = Policies::default();
    for row in &rows {
        if row.scope == TENANT {
            out.tenant = policy_from_json(row)?;
        } else {
            out.orgs.insert(org_id(&row.scope)?, policy_from_json(row)?);
        }
    }
    Ok(out)
}

pub(super) async fn set_policy(
    pool: &PgPool,
    change: PolicyChange<'_>,
    now: DateTime<Utc>,
    ev: &AuditEvent,
) -> StoreResult<()> {
    let json = |r: serde_json::Result<String>| r.map_err(|e| StoreError::Backend(e.to_string()));
    let (scope, body) = match change {
        PolicyChange::Tenant(p) => (TENANT.to_owned(), json(serde_json::to_string(p))?),
        PolicyChange::Org(id, p) => (id.to_string(), json(serde_json::to_string(p))?),
    };
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO policies (scope, body, updated_at_us, updated_by) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (scope) DO UPDATE SET body = EXCLUDED.body, \
         updated_at_us = EXCLUDED.updated_at_us, updated_by = EXCLUDED.updated_by",
    )
    .bind(scope)
    .bind(body)
    .bind(us(now))
    .bind(&ev.actor)
    .execute(&mut *tx)
    .await?;
    audit::insert(&mut tx, ev, true).await?;
    tx.commit().await?;
    Ok(())
}

/// Each revocation with its record, the rule with its own, in one transaction.
pub(super) async fn revoke_many(
    pool: &PgPool,
    at: DateTime<Utc>,
    revocations: &[(uuid::Uuid, AuditEvent)],
    rule: Option<(&RevocationRule, &AuditEvent)>,
) -> StoreResult<u64> {
    super::again_if_rolled_back(|| revoke_many_once(pool, at, revocations, rule)).await
}

async fn revoke_many_once(
    pool: &PgPool,
    at: DateTime<Utc>,
    revocations: &[(uuid::Uuid, AuditEvent)],
    rule: Option<(&RevocationRule, &AuditEvent)>,
) -> StoreResult<u64> {
    // In id order, as `pats::record_usage` updates rows: no deadlock.
    let mut ordered: Vec<&(uuid::Uuid, AuditEvent)> = revocations.iter().collect();
    ordered.sort_by_key(|(id, _)| id.to_string());
    let mut tx = pool.begin().await?;
    let mut revoked = 0;
    for (id, ev) in ordered {
        let changed = sqlx::query(
            "UPDATE pats SET revoked_at_us = $1 WHERE authorization_id = $2 AND revoked_at_us IS NULL",
        )
        .bind(us(at))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        audit::insert(&mut tx, ev, changed > 0).await?;
        revoked += changed;
    }
    if let Some((r, ev)) = rule {
        sqlx::query(
            "INSERT INTO revocation_rules (id, org_id, scopes, created_before_us, created_at_us, \
             created_by, revoked) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(r.id.to_string())
        .bind(r.org.map(|o| o.to_string()))
        .bind(r.scopes.as_string())
        .bind(us(r.created_before))
        .bind(us(r.created_at))
        .bind(&r.created_by)
        .bind(i64::try_from(revoked).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        audit::insert(&mut tx, ev, true).await?;
    }
    tx.commit().await?;
    Ok(revoked)
}

pub(super) async fn list_revocation_rules(pool: &PgPool) -> StoreResult<Vec<RevocationRule>> {
    let rows: Vec<RevocationRuleRow> = sqlx::query_as(
        "SELECT id, org_id, scopes, created_before_us, created_at_us, created_by, revoked \
         FROM revocation_rules ORDER BY created_at_us DESC, id",
    )
    .fetch_all(pool)
    .await?;
    convert_all(rows)
}
