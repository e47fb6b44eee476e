//! patrol-auth against real HTTP servers on 127.0.0.1: the access-token verifier and its key
//! handling, the built-in dev issuer, the OpenID Connect relying party, and the rule that no
//! identity-provider request ever follows a redirect. One test binary; shared helpers in
//! [`common`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod dev_issuer;
mod id_token;
mod jwks;
mod redirects;
mod rp;
mod rp_token_endpoint;
mod verifier;
