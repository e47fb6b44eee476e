use patrol_core::pat::PatRuleError;
use patrol_core::policy::{PolicyError, Violation};
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
    /// A service principal, managed identity or client-credentials token.
    #[error("Service principals are not allowed to perform this action.")]
    NonHuman,
    /// A token issued to an OAuth client the issuer's `allowed_client_ids`
    /// does not list (`None`: the token names no client at all).
    #[error("the application is not allowed to manage personal access tokens")]
    ClientNotAllowed(Option<String>),
    /// A user's token without the delegated scope the action needs.
    #[error("the access token lacks the scope {0}")]
    MissingScope(&'static str),
    /// The user is disabled: nothing may be done in their name.
    #[error("This user is disabled.")]
    UserDisabled,
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
    /// An organization's token can stay there or widen to all, never move.
    #[error("an organization's token cannot move to another organization")]
    CannotMoveOrganization,
    /// A token for all organizations asked by someone who belongs to none.
    #[error("you are not a member of any organization")]
    NoOrganization,
    /// Patrol itself failed (e.g. no randomness to mint with): a 500.
    #[error("internal failure: {0}")]
    Internal(String),
    /// The caller already holds the most active PATs allowed.
    #[error("you already have {0} active personal access tokens; revoke some first")]
    TooManyTokens(u64),
    /// A token policy refuses the token as it would be stored.
    #[error(transparent)]
    Policy(Violation),
    /// A policy document an administrator sent cannot be stored.
    #[error(transparent)]
    InvalidPolicy(#[from] PolicyError),
    /// The caller lacks the administrator role (or the delegated scope) for this.
    #[error("you are not an administrator of {0}")]
    NotAnAdmin(String),
    /// No such user (administration).
    #[error("the user was not found")]
    UserNotFound,
    #[error("storage failure: {0}")]
    Store(#[from] StoreError),
}

impl AppError {
    /// "Not an administrator of organization '{org}'".
    pub fn not_admin_of(org: &str) -> Self {
        AppError::NotAnAdmin(format!("organization '{org}'"))
    }

    /// "Not an administrator of the tenant".
    pub fn not_tenant_admin() -> Self {
        AppError::NotAnAdmin("the tenant".into())
    }
}
