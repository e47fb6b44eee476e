//! Authentication for Patrol: validation of OIDC access and ID tokens from configured issuers
//! (discovery + JWKS), the OpenID Connect relying party behind the web UI's sign-in ([`rp`]),
//! and the built-in development OIDC issuer used by `patrol dev`.
//!
//! Nothing in this crate logs a token, a JWT, a client secret, an authorization code, a PKCE
//! verifier or an `Authorization` value.

pub mod claims;
#[cfg(feature = "net")]
pub mod dev_issuer;
#[cfg(feature = "net")]
mod fetch;
#[cfg(feature = "net")]
mod jwks;
#[cfg(feature = "net")]
pub mod rp;
pub mod verifier;

pub use claims::{classify, Claims, PrincipalKind};
#[cfg(feature = "net")]
pub use dev_issuer::{
    dev_user, dev_users, DevIssuer, DevIssuerError, DevUser, DEV_AUDIENCE, DEV_PUBLIC_CLIENT_ID,
    DEV_SP_CLIENT_ID, DEV_SP_OBJECT_ID, DEV_TENANT_ID,
};
#[cfg(feature = "net")]
pub use fetch::{http_client, HttpClient};
#[cfg(feature = "net")]
pub use verifier::OidcVerifier;
pub use verifier::{AuthError, IssuerConfig, SubjectClaim, VerifiedToken, MAX_TOKEN_BYTES};
