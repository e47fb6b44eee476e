//! The JSON of Patrol's admin API (`/patrol/v1/admin/…`, `/patrol/v1/audit`),
//! defined once with its OpenAPI schema, and converted from and to the
//! domain's types field by field (a new field is a compile error here).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use patrol_core::policy::{AllowList, LifespanRestriction, OrgPolicy, Restriction, TenantPolicy};
use patrol_core::roles::user_key;
use patrol_core::user::{AuditEvent, Organization};

use super::super::wire::PatToken;
use crate::app::{violation_name, DryRunRefusal, ListedRule, UserSummary};
use crate::http::error::policy_error;

/// Users (`<issuer>|<subject>`) and groups a restriction does not apply to.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AllowListDoc {
    pub users: Vec<String>,
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RestrictionDoc {
    pub enabled: bool,
    pub allow: AllowListDoc,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct LifespanDoc {
    pub enabled: bool,
    /// 1–3650; default 30.
    pub max_days: u32,
    pub allow: AllowListDoc,
}

/// The tenant's policies. Absent fields take their defaults (everything
/// off, leaked-PAT auto-revocation on, a 30-day lifespan when enabled).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TenantPolicyDoc {
    /// Refuse tokens for all organizations (`globalPatPolicyViolation`).
    pub restrict_global_pats: RestrictionDoc,
    /// Refuse full-access (`app_token`) tokens (`fullScopePatPolicyViolation`).
    pub restrict_full_scope_pats: RestrictionDoc,
    /// Refuse expiries further than `maxDays` away (`patLifespanPolicyViolation`).
    pub max_lifespan: LifespanDoc,
    /// Revoke PATs found leaked in public places.
    pub revoke_leaked_pats: bool,
}

/// One organization's policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct OrgPolicyDoc {
    /// Only the allow-list may create tokens that reach the organization
    /// (`disablePatCreationPolicyViolation`).
    pub restrict_pat_creation: bool,
    pub allow: AllowListDoc,
    /// Everyone else may still create packaging-only tokens.
    pub allow_packaging_pats: bool,
}

impl From<AllowList> for AllowListDoc {
    fn from(AllowList { users, groups }: AllowList) -> Self {
        Self { users, groups }
    }
}
impl From<AllowListDoc> for AllowList {
    fn from(AllowListDoc { users, groups }: AllowListDoc) -> Self {
        Self { users, groups }
    }
}
impl From<Restriction> for RestrictionDoc {
    fn from(Restriction { enabled, allow }: Restriction) -> Self {
        Self {
            enabled,
            allow: allow.into(),
        }
    }
}
impl From<RestrictionDoc> for Restriction {
    fn from(RestrictionDoc { enabled, allow }: RestrictionDoc) -> Self {
        Self {
            enabled,
            allow: allow.into(),
        }
    }
}
impl Default for LifespanDoc {
    fn default() -> Self {
        LifespanRestriction::default().into()
    }
}
impl From<LifespanRestriction> for LifespanDoc {
    fn from(l: LifespanRestriction) -> Self {
        let LifespanRestriction {
            enabled,
            max_days,
            allow,
        } = l;
        Self {
            enabled,
            max_days,
            allow: allow.into(),
        }
    }
}
impl From<LifespanDoc> for LifespanRestriction {
    fn from(l: LifespanDoc) -> Self {
        let LifespanDoc {
            enabled,
            max_days,
            allow,
        } = l;
        Self {
            enabled,
            max_days,
            allow: allow.into(),
        }
    }
}
impl Default for TenantPolicyDoc {
    fn default() -> Self {
        TenantPolicy::default().into()
    }
}
impl From<TenantPolicy> for TenantPolicyDoc {
    fn from(t: TenantPolicy) -> Self {
        let TenantPolicy {
            restrict_global_pats,
            restrict_full_scope_pats,
            max_lifespan,
            revoke_leaked_pats,
        } = t;
        Self {
            restrict_global_pats: restrict_global_pats.into(),
            restrict_full_scope_pats: restrict_full_scope_pats.into(),
            max_lifespan: max_lifespan.into(),
            revoke_leaked_pats,
        }
    }
}
impl From<TenantPolicyDoc> for TenantPolicy {
    fn from(t: TenantPolicyDoc) -> Self {
        let TenantPolicyDoc {
            restrict_global_pats,
            restrict_full_scope_pats,
            max_lifespan,
            revoke_leaked_pats,
        } = t;
        Self {
            restrict_global_pats: restrict_global_pats.into(),
            restrict_full_scope_pats: restrict_full_scope_pats.into(),
            max_lifespan: max_lifespan.into(),
            revoke_leaked_pats,
        }
    }
}
impl From<OrgPolicy> for OrgPolicyDoc {
    fn from(o: OrgPolicy) -> Self {
        let OrgPolicy {
            restrict_pat_creation,
            allow,
            allow_packaging_pats,
        } = o;
        Self {
            restrict_pat_creation,
            allow: allow.into(),
            allow_packaging_pats,
        }
    }
}
impl From<OrgPolicyDoc> for OrgPolicy {
    fn from(o: OrgPolicyDoc) -> Self {
        let OrgPolicyDoc {
            restrict_pat_creation,
            allow,
            allow_packaging_pats,
        } = o;
        Self {
            restrict_pat_creation,
            allow: allow.into(),
            allow_packaging_pats,
        }
    }
}

/// An organization's policy, named.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgPolicyEntry {
    pub organization: String,
    pub organization_id: Uuid,
    pub policy: OrgPolicyDoc,
}

impl From<(Organization, OrgPolicy)> for OrgPolicyEntry {
    fn from((o, p): (Organization, OrgPolicy)) -> Self {
        Self {
            organization: o.name,
            organization_id: o.id,
            policy: p.into(),
        }
    }
}

/// Every policy the caller may see.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PoliciesDoc {
    pub tenant: TenantPolicyDoc,
    /// The organizations the caller administers.
    pub organizations: Vec<OrgPolicyEntry>,
}

/// Policies to try before switching them on; absent parts: as in force.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct DryRunRequest {
    pub tenant: Option<TenantPolicyDoc>,
    /// Organization name → proposed policy.
    pub organizations: BTreeMap<String, OrgPolicyDoc>,
}

/// A user, briefly.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserRef {
    pub id: Uuid,
    /// `<issuer>|<subject>`.
    pub key: String,
    pub display_name: String,
}

/// An active token the proposed policies would refuse.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DryRunItem {
    pub token: PatToken,
    pub owner: UserRef,
    /// The `patTokenError` enforcement would answer.
    pub pat_token_error: crate::http::wire::PatTokenError,
    /// The policy, in words.
    pub policy: &'static str,
    /// For an organization's policy, its name.
    pub organization: Option<String>,
}

impl From<DryRunRefusal> for DryRunItem {
    fn from(r: DryRunRefusal) -> Self {
        Self {
            token: PatToken::from_pat(&r.pat, None),
            owner: UserRef {
                id: r.owner.id,
                key: user_key(&r.owner.issuer, &r.owner.subject),
                display_name: r.owner.display_name,
            },
            pat_token_error: policy_error(&r.violation),
            policy: violation_name(&r.violation),
            organization: r.org,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DryRunResult {
    pub refused: Vec<DryRunItem>,
}

/// A user's roles.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolesDoc {
    pub tenant_admin: bool,
    /// Organizations (lower case) they administer.
    pub org_admin: Vec<String>,
}

/// A user as administration shows them.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserDoc {
    pub id: Uuid,
    pub issuer: String,
    pub subject: String,
    /// `<issuer>|<subject>`: how configuration and allow-lists name them.
    pub key: String,
    /// How the Token Admin API names them.
    pub descriptor: String,
    pub display_name: String,
    pub email: Option<String>,
    pub disabled: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[schema(value_type = String, format = DateTime)]
    pub last_sign_in: DateTime<Utc>,
    pub roles: RolesDoc,
    pub groups: Vec<String>,
    /// Organization names.
    pub organizations: Vec<String>,
}

impl From<UserSummary> for UserDoc {
    fn from(s: UserSummary) -> Self {
        let u = s.user;
        Self {
            key: user_key(&u.issuer, &u.subject),
            descriptor: s.descriptor.to_string(),
            id: u.id,
            issuer: u.issuer,
            subject: u.subject,
            display_name: u.display_name,
            email: u.email,
            disabled: u.disabled,
            created_at: u.created_at,
            last_sign_in: u.last_sign_in,
            roles: RolesDoc {
                tenant_admin: s.roles.tenant_admin,
                org_admin: s.roles.org_admin.into_iter().collect(),
            },
            groups: s.groups,
            organizations: s.member_of.into_iter().map(|o| o.name).collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsersPageDoc {
    pub users: Vec<UserDoc>,
    /// Pass back for the next page; `null` on the last one.
    pub continuation_token: Option<String>,
}

/// A user's tokens, as far as the caller administers them.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserTokensDoc {
    pub user: UserDoc,
    pub tokens: Vec<AdminToken>,
}

/// A token with its status.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminToken {
    #[serde(flatten)]
    pub token: PatToken,
    /// active | expired | revoked | inactive
    pub status: &'static str,
}

/// A revocation rule to make.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewRevocationRule {
    /// Space-separated scopes; a token granting any of them is revoked.
    pub scopes: String,
    /// Default: now.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub created_before: Option<DateTime<Utc>>,
    /// Only tokens reaching this organization; absent: every token
    /// (tenant administrators only).
    #[serde(default)]
    pub organization: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevocationRuleDoc {
    pub id: Uuid,
    /// `null`: every organization.
    pub organization: Option<String>,
    pub scopes: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_before: DateTime<Utc>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// `<issuer>|<subject>` of the administrator.
    pub created_by: String,
    /// How many tokens it revoked.
    pub revoked: u64,
}

impl From<ListedRule> for RevocationRuleDoc {
    fn from(l: ListedRule) -> Self {
        let rule = l.rule;
        Self {
            id: rule.id,
            organization: l.org.map(|o| o.name),
            scopes: rule.scopes.as_string(),
            created_before: rule.created_before,
            created_at: rule.created_at,
            created_by: rule.created_by,
            revoked: rule.revoked,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevocationRulesDoc {
    pub rules: Vec<RevocationRuleDoc>,
}

/// One audit record.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEventDoc {
    pub id: Uuid,
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
    /// e.g. `pat.create`, `pat.revoke`, `auth.reject`, `admin.policy_set`.
    pub action: String,
    /// success | failure
    pub outcome: &'static str,
    /// `<issuer>|<subject>`, `unauthenticated`, or a resource server.
    pub actor: String,
    pub actor_user: Option<Uuid>,
    pub client_id: Option<String>,
    pub target_pat: Option<Uuid>,
    pub target_user: Option<Uuid>,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
    pub detail: Option<String>,
}

impl From<AuditEvent> for AuditEventDoc {
    fn from(e: AuditEvent) -> Self {
        Self {
            id: e.id,
            at: e.at,
            action: e.action.as_str().to_owned(),
            outcome: e.outcome.as_str(),
            actor: e.actor,
            actor_user: e.actor_user,
            client_id: e.client_id,
            target_pat: e.target_pat,
            target_user: e.target_user,
            source_ip: e.source_ip,
            request_id: e.request_id,
            detail: e.detail,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPageDoc {
    /// `tenant`, `organizations` or `own`: whose events the caller reads.
    pub view: &'static str,
    pub events: Vec<AuditEventDoc>,
    /// Pass back for the next page; `null` on the last one.
    pub continuation_token: Option<String>,
}
