use patrol_core::pat::PatRuleError;
use patrol_core::scope::ScopeError;
use patrol_store::StoreError;

/// What a use case can refuse, in the domain's words. The HTTP layer maps
/// each to the Azure DevOps shape exactly once.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Rule(#[from] PatRuleError),
    #[error(transparent)]
    Scope(#[from] ScopeError),
    /// Unknown id, or somebody else's: indistinguishable on purpose.
    #[error("token not found")]
    TokenNotFound,
    /// The token is revoked and cannot be changed.
    #[error("the token is revoked")]
    TokenRevoked,
    /// An organization-scoped PAT touched through another organization.
    #[error("the token belongs to another organization")]
    WrongOrganization,
    #[error("organization '{0}' does not exist")]
    OrgNotFound(String),
    #[error("you are not a member of organization '{0}'")]
    NotAMember(String),
    #[error("{0}")]
    BadRequest(String),
    /// The caller already holds the most active PATs allowed.
    #[error("you already have {0} active personal access tokens; revoke some first")]
    TooManyTokens(u64),
    #[error("storage failure: {0}")]
    Store(#[from] StoreError),
}
