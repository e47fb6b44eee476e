//! Rows as the database hands them back, and their strict conversion into
//! domain types. The row structs derive `sqlx::FromRow` generically, so any
//! backend that stores the same column types (TEXT ids, 64-bit integer
//! microseconds, boolean flags, byte-string hashes) reuses them: SQLite and
//! PostgreSQL both do; only the SQL is written per backend.
//!
//! Decoding is strict: a value this version cannot read back (a malformed
//! id or time, an unknown audit action or outcome) is [`StoreError::Corrupt`],
//! never a guess.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use patrol_core::hashing::TokenDigest;
use patrol_core::pat::{LastUse, OrgTarget, Pat};
use patrol_core::revocation::RevocationRule;
use patrol_core::roles::RememberedClaims;
use patrol_core::scope::ScopeSet;
use patrol_core::session::{SessionKey, WebSession};
use patrol_core::user::{AuditEvent, Organization, User};

use crate::{StatusCounts, StoreError, StoreResult, UserEntry, VerifyRecord};

/// The PAT columns [`PatRow`] reads, in table order.
pub(crate) const PAT_COLUMNS: &str =
    "authorization_id, owner_id, display_name, scopes, target_orgs, valid_from_us, \
     valid_to_us, created_at_us, revoked_at_us, last_used_at_us, last_used_ip, last_used_agent, \
     first_used_at_us";

/// The user columns [`UserRow`] reads. Two are renamed so that a user can be
/// read from a join with `pats`, which has columns of the same names.
pub(crate) const USER_COLUMNS: &str =
    "id, issuer, subject, display_name AS user_display_name, email, email_verified, \
     created_at_us AS user_created_at_us, last_sign_in_us, last_interactive_sign_in_us, disabled";

/// `columns` (a `PAT_COLUMNS`-style list) qualified with a table alias.
pub(crate) fn qualified(alias: &str, columns: &str) -> String {
    columns
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Times are stored as microseconds since the Unix epoch (UTC).
pub(crate) fn us(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn from_us(v: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_micros(v).ok_or_else(|| StoreError::Corrupt(format!("timestamp {v}")))
}

pub(crate) fn uuid(s: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(s).map_err(|_| StoreError::Corrupt(format!("uuid {s}")))
}

pub(crate) fn opt_uuid(s: Option<String>) -> StoreResult<Option<Uuid>> {
    s.as_deref().map(uuid).transpose()
}

/// `target_orgs`: NULL for every organization, else space-separated ids.
pub(crate) fn target_text(t: &OrgTarget) -> Option<String> {
    match t {
        OrgTarget::All => None,
        OrgTarget::Orgs(ids) => Some(
            ids.iter()
                .map(Uuid::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        ),
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PatRow {
    authorization_id: String,
    owner_id: String,
    display_name: String,
    scopes: String,
    target_orgs: Option<String>,
    valid_from_us: i64,
    valid_to_us: i64,
    created_at_us: i64,
    revoked_at_us: Option<i64>,
    last_used_at_us: Option<i64>,
    last_used_ip: Option<String>,
    last_used_agent: Option<String>,
    first_used_at_us: Option<i64>,
}

impl TryFrom<PatRow> for Pat {
    type Error = StoreError;

    fn try_from(r: PatRow) -> StoreResult<Pat> {
        let target = match r.target_orgs {
            None => OrgTarget::All,
            Some(t) => OrgTarget::Orgs(t.split_whitespace().map(uuid).collect::<StoreResult<_>>()?),
        };
        let last_used = match r.last_used_at_us {
            None => None,
            Some(at) => Some(LastUse {
                at: from_us(at)?,
                source_ip: r.last_used_ip,
                user_agent: r.last_used_agent,
            }),
        };
        Ok(Pat {
            authorization_id: uuid(&r.authorization_id)?,
            owner: uuid(&r.owner_id)?,
            display_name: r.display_name,
            scopes: ScopeSet::parse(&r.scopes)
                .map_err(|e| StoreError::Corrupt(format!("scopes: {e}")))?,
            target,
            valid_from: from_us(r.valid_from_us)?,
            valid_to: from_us(r.valid_to_us)?,
            created_at: from_us(r.created_at_us)?,
            revoked_at: r.revoked_at_us.map(from_us).transpose()?,
            first_used_at: r.first_used_at_us.map(from_us).transpose()?,
            last_used,
        })
    }
}

/// A PAT with the stored digest of its secret.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct HashedPatRow {
    #[sqlx(flatten)]
    pub pat: PatRow,
    pub token_hash: Vec<u8>,
}

impl HashedPatRow {
    pub fn into_parts(self) -> StoreResult<(Pat, TokenDigest)> {
        let digest = TokenDigest::from_slice(&self.token_hash)
            .ok_or_else(|| StoreError::Corrupt("token_hash length".into()))?;
        Ok((self.pat.try_into()?, digest))
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct UserRow {
    id: String,
    issuer: String,
    subject: String,
    #[sqlx(rename = "user_display_name")]
    display_name: String,
    email: Option<String>,
    email_verified: bool,
    #[sqlx(rename = "user_created_at_us")]
    created_at_us: i64,
    last_sign_in_us: i64,
    last_interactive_sign_in_us: Option<i64>,
    disabled: bool,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(r: UserRow) -> StoreResult<User> {
        Ok(User {
            id: uuid(&r.id)?,
            issuer: r.issuer,
            subject: r.subject,
            display_name: r.display_name,
            email: r.email,
            email_verified: r.email_verified,
            created_at: from_us(r.created_at_us)?,
            last_sign_in: from_us(r.last_sign_in_us)?,
            last_interactive_sign_in: r.last_interactive_sign_in_us.map(from_us).transpose()?,
            disabled: r.disabled,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct OrgRow {
    id: String,
    name: String,
}

impl TryFrom<OrgRow> for Organization {
    type Error = StoreError;

    fn try_from(r: OrgRow) -> StoreResult<Organization> {
        Ok(Organization {
            id: uuid(&r.id)?,
            name: r.name,
        })
    }
}

/// The verify path's join: a PAT, its owner and the owner's organizations.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct VerifyRow {
    #[sqlx(flatten)]
    pat: PatRow,
    #[sqlx(flatten)]
    owner: UserRow,
    /// One `"{id} {name}"` line per organization, in any order; NULL for none.
    member_of: Option<String>,
}

impl TryFrom<VerifyRow> for VerifyRecord {
    type Error = StoreError;

    fn try_from(r: VerifyRow) -> StoreResult<VerifyRecord> {
        Ok(VerifyRecord {
            pat: r.pat.try_into()?,
            owner: r.owner.try_into()?,
            member_of: org_lines(r.member_of.as_deref())?,
        })
    }
}

/// `MEMBER_OF_SQL`'s answer: one `"{id} {name}"` line per organization, in
/// any order (NULL for none), sorted here by name.
fn org_lines(text: Option<&str>) -> StoreResult<Vec<Organization>> {
    // Organization names are letters, digits and '-': no separators inside.
    let mut orgs = text
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
    orgs.sort_by_key(|o| o.name.to_lowercase());
    Ok(orgs)
}

/// The organizations of the user `u.id`, as [`org_lines`] reads them
/// (SQLite's; PostgreSQL's is `postgres::MEMBER_OF_SQL`).
pub(crate) const MEMBER_OF_SQL: &str =
    "(SELECT group_concat(o.id || ' ' || o.name, char(10)) FROM memberships m \
     JOIN organizations o ON o.id = m.org_id WHERE m.user_id = u.id)";

/// A user, their remembered claims and their organizations.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct UserEntryRow {
    #[sqlx(flatten)]
    user: UserRow,
    claims: Option<String>,
    member_of: Option<String>,
}

/// Remembered claims as stored: a JSON object of string arrays.
pub(crate) fn claims_from_json(text: Option<&str>) -> StoreResult<RememberedClaims> {
    match text {
        None => Ok(RememberedClaims::default()),
        Some(t) => serde_json::from_str(t).map_err(|e| StoreError::Corrupt(format!("claims: {e}"))),
    }
}

impl TryFrom<UserEntryRow> for UserEntry {
    type Error = StoreError;

    fn try_from(r: UserEntryRow) -> StoreResult<UserEntry> {
        Ok(UserEntry {
            user: r.user.try_into()?,
            claims: claims_from_json(r.claims.as_deref())?,
            member_of: org_lines(r.member_of.as_deref())?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PolicyRow {
    pub scope: String,
    pub body: String,
}

/// A stored policy document; unknown fields or bad values are corrupt.
pub(crate) fn policy_from_json<T: serde::de::DeserializeOwned>(row: &PolicyRow) -> StoreResult<T> {
    serde_json::from_str(&row.body)
        .map_err(|e| StoreError::Corrupt(format!("policy {}: {e}", row.scope)))
}

pub(crate) fn org_id(s: &str) -> StoreResult<Uuid> {
    uuid(s)
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RevocationRuleRow {
    id: String,
    org_id: Option<String>,
    scopes: String,
    created_before_us: i64,
    created_at_us: i64,
    created_by: String,
    revoked: i64,
}

impl TryFrom<RevocationRuleRow> for RevocationRule {
    type Error = StoreError;

    fn try_from(r: RevocationRuleRow) -> StoreResult<RevocationRule> {
        Ok(RevocationRule {
            id: uuid(&r.id)?,
            org: opt_uuid(r.org_id)?,
            scopes: ScopeSet::parse(&r.scopes)
                .map_err(|e| StoreError::Corrupt(format!("rule scopes: {e}")))?,
            created_before: from_us(r.created_before_us)?,
            created_at: from_us(r.created_at_us)?,
            created_by: r.created_by,
            revoked: u64::try_from(r.revoked).unwrap_or(0),
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SessionRow {
    id_hash: Vec<u8>,
    user_id: String,
    created_at_us: i64,
    expires_at_us: i64,
    last_seen_us: i64,
    access_expires_at_us: i64,
    sealed_refresh_token: Option<Vec<u8>>,
}

impl TryFrom<SessionRow> for WebSession {
    type Error = StoreError;

    fn try_from(r: SessionRow) -> StoreResult<WebSession> {
        Ok(WebSession {
            key: SessionKey::from_slice(&r.id_hash)
                .ok_or_else(|| StoreError::Corrupt("session id hash".into()))?,
            user_id: uuid(&r.user_id)?,
            created_at: from_us(r.created_at_us)?,
            expires_at: from_us(r.expires_at_us)?,
            last_seen: from_us(r.last_seen_us)?,
            access_expires_at: from_us(r.access_expires_at_us)?,
            sealed_refresh_token: r.sealed_refresh_token,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AuditRow {
    id: String,
    at_us: i64,
    action: String,
    actor_user: Option<String>,
    actor: String,
    client_id: Option<String>,
    target_pat: Option<String>,
    target_user: Option<String>,
    source_ip: Option<String>,
    request_id: Option<String>,
    outcome: String,
    detail: Option<String>,
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = StoreError;

    fn try_from(r: AuditRow) -> StoreResult<AuditEvent> {
        let word = |e: patrol_core::user::UnknownWord| StoreError::Corrupt(format!("audit: {e}"));
        Ok(AuditEvent {
            id: uuid(&r.id)?,
            at: from_us(r.at_us)?,
            action: r.action.parse().map_err(word)?,
            actor_user: opt_uuid(r.actor_user)?,
            actor: r.actor,
            client_id: r.client_id,
            target_pat: opt_uuid(r.target_pat)?,
            target_user: opt_uuid(r.target_user)?,
            source_ip: r.source_ip,
            request_id: r.request_id,
            outcome: r.outcome.parse().map_err(word)?,
            detail: r.detail,
            notice: None,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StatusCountsRow {
    active: i64,
    expired: i64,
    revoked: i64,
}

impl From<StatusCountsRow> for StatusCounts {
    fn from(r: StatusCountsRow) -> StatusCounts {
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        StatusCounts {
            active: n(r.active),
            expired: n(r.expired),
            revoked: n(r.revoked),
        }
    }
}

/// Collect rows into domain values, stopping at the first that does not convert.
pub(crate) fn convert_all<R, T>(rows: Vec<R>) -> StoreResult<Vec<T>>
where
    T: TryFrom<R, Error = StoreError>,
{
    rows.into_iter().map(T::try_from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use patrol_core::user::{AuditAction, Outcome};

    fn audit_row(action: &str, outcome: &str) -> AuditRow {
        AuditRow {
            id: Uuid::new_v4().to_string(),
            at_us: 1_700_000_000_000_000,
            action: action.into(),
            actor_user: None,
            actor: "t".into(),
            client_id: None,
            target_pat: None,
            target_user: None,
            source_ip: None,
            request_id: None,
            outcome: outcome.into(),
            detail: None,
        }
    }

    #[test]
    fn audit_rows_decode_strictly() {
        let ok = AuditEvent::try_from(audit_row("web.session_end", "failure")).unwrap();
        assert_eq!(ok.action, AuditAction::WebSessionEnd);
        assert_eq!(ok.outcome, Outcome::Failure);
        for (action, outcome) in [
            ("pat.create", "successful"),
            ("pat.create", ""),
            ("pat.created", "success"),
        ] {
            let e = AuditEvent::try_from(audit_row(action, outcome)).unwrap_err();
            assert!(
                matches!(e, StoreError::Corrupt(_)),
                "{action} {outcome}: {e}"
            );
        }
    }

    #[test]
    fn org_targets_round_trip_through_their_column_text() {
        let ids = vec![Uuid::new_v4(), Uuid::new_v4()];
        let text = target_text(&OrgTarget::Orgs(ids.clone()));
        let row = PatRow {
            authorization_id: Uuid::new_v4().to_string(),
            owner_id: Uuid::new_v4().to_string(),
            display_name: "x".into(),
            scopes: "vso.code".into(),
            target_orgs: text,
            valid_from_us: 0,
            valid_to_us: 1,
            created_at_us: 0,
            revoked_at_us: None,
            last_used_at_us: None,
            last_used_ip: Some("ignored without a time".into()),
            last_used_agent: None,
            first_used_at_us: None,
        };
        let pat = Pat::try_from(row).unwrap();
        assert_eq!(pat.target, OrgTarget::Orgs(ids));
        assert_eq!(pat.last_used, None);
        assert_eq!(target_text(&OrgTarget::All), None);
    }

    #[test]
    fn bad_ids_and_times_are_corrupt_not_guessed() {
        let org = OrgRow {
            id: "not-a-uuid".into(),
            name: "x".into(),
        };
        assert!(matches!(
            Organization::try_from(org),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(from_us(i64::MAX), Err(StoreError::Corrupt(_))));
    }
}

pub(crate) const SCIM_COLUMNS: &str = "id, user_name, external_id, active, attributes, user_id, \
     created_at_us, updated_at_us, version";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ScimUserRow {
    id: String,
    user_name: String,
    external_id: Option<String>,
    active: Option<bool>,
    attributes: String,
    user_id: Option<String>,
    created_at_us: i64,
    updated_at_us: i64,
    version: i64,
}

impl TryFrom<ScimUserRow> for patrol_core::scim::ScimUser {
    type Error = StoreError;

    fn try_from(r: ScimUserRow) -> StoreResult<Self> {
        let attributes = serde_json::from_str(&r.attributes)
            .map_err(|e| StoreError::Corrupt(format!("scim user attributes: {e}")))?;
        Ok(Self {
            id: uuid(&r.id)?,
            data: patrol_core::scim::UserData {
                user_name: r.user_name,
                external_id: r.external_id,
                active: r.active,
                attributes,
            },
            user_id: r.user_id.as_deref().map(uuid).transpose()?,
            created_at: from_us(r.created_at_us)?,
            updated_at: from_us(r.updated_at_us)?,
            version: u64::try_from(r.version).unwrap_or(0),
        })
    }
}
