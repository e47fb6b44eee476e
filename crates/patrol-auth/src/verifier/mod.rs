//! Validation of OIDC access tokens from configured issuers (discovery + JWKS).
//!
//! `docs/security.md` items 10 and 13-15. Nothing here ever logs a token or a claim value that could
//! be one; failure reasons are static strings.

#[cfg(feature = "net")]
mod accepted;
mod config;
#[cfg(feature = "net")]
mod oidc;
mod rules;
mod unverified;

pub use config::*;
#[cfg(feature = "net")]
pub use oidc::OidcVerifier;
pub use unverified::{inspect_access_token, read_unverified, Inspection, UnverifiedJwt};
