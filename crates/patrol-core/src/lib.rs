#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
//! Patrol's pure domain: the identifiable token format, the scope catalog and
//! lattice, the PAT model and its lifecycle rules.
//!
//! No async, no I/O, no SQL, no HTTP. Time is always passed in.

pub mod clock;
pub mod credential;
pub mod descriptor;
#[cfg(any(test, feature = "test-support"))]
mod fixtures;
pub mod forwarded;
pub mod hashing;
pub mod paging;
pub mod pat;
pub mod policy;
pub mod revocation;
pub mod roles;
pub mod scim;
pub mod scope;
pub mod secret;
pub mod session;
pub mod token;
pub mod user;
