//! The configuration's sections as written in TOML (and overridden from the
//! environment). A key left out takes the value of the section's `Default`;
//! an unknown key is an error. What the keys mean: docs/patrol.example.toml.

use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;

use patrol_auth::verifier::IssuerConfig;
use patrol_core::token::ProviderSignature;

use super::secrets::{KeyRef, SecretSource};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSection {
    pub listen: SocketAddr,
    /// The externally visible base URL (for ResourceAreas and links).
    pub public_url: Option<String>,
    pub log_format: LogFormat,
    /// Forwarded headers are honoured only from these peers.
    pub trusted_proxies: Vec<IpAddr>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// A client must send a request's headers within this long; it is also
    /// how long an idle keep-alive connection stays open.
    pub header_read_timeout_secs: u64,
    /// A request (body included) must be answered within this long (408 after).
    pub request_timeout_secs: u64,
    /// Most connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// On shutdown, in-flight requests get this long to finish.
    pub shutdown_grace_secs: u64,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            log_format: LogFormat::Text,
            trusted_proxies: Vec::new(),
            max_body_bytes: 64 * 1024,
            header_read_timeout_secs: 10,
            request_timeout_secs: 30,
            max_connections: 4096,
            shutdown_grace_secs: 20,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct KeysSection {
    /// Current key first; older keys keep verifying tokens hashed under them.
    pub server_keys: Vec<KeyRef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokensSection {
    /// 4-character provider signature at positions 76–80 of minted tokens.
    pub signature: ProviderSignature,
    pub default_lifetime_days: u32,
    pub max_lifetime_days: u32,
    /// A PAT never used within this many days of creation stops working (0 = never).
    pub inactive_after_days: u32,
    /// Most active (unrevoked, unexpired) PATs one user may hold.
    pub max_active_per_user: u64,
    /// PATs stop working while their owner has not signed in interactively
    /// (on the web page) for this many days (0 = never).
    pub require_interactive_signin_days: u32,
    /// Expired and revoked tokens stay listed this many days…
    pub retention_days: u32,
    /// …and are deleted this many days after that (their audit records stay).
    pub purge_after_days: u32,
}

impl Default for TokensSection {
    fn default() -> Self {
        Self {
            signature: ProviderSignature::DEFAULT,
            default_lifetime_days: 30,
            max_lifetime_days: 365,
            inactive_after_days: 90,
            max_active_per_user: 500,
            require_interactive_signin_days: 0,
            retention_days: 90,
            purge_after_days: 90,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSection {
    /// Trusted OIDC issuers for the management API.
    pub issuers: Vec<IssuerConfig>,
    /// Accept Entra's legacy `user_impersonation` scope in place of `vso.pats*`.
    pub accept_user_impersonation: bool,
    /// Failed management-API authentications (bad JWT, PAT presented) allowed
    /// per source address per minute before answering 429.
    pub max_failures_per_ip: u32,
}

impl Default for AuthSection {
    fn default() -> Self {
        Self {
            issuers: Vec::new(),
            accept_user_impersonation: false,
            max_failures_per_ip: 30,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrganizationsSection {
    /// Organizations created at start-up.
    pub names: Vec<String>,
    /// Every signed-in user becomes a member of every organization.
    pub auto_join: bool,
}

impl Default for OrganizationsSection {
    fn default() -> Self {
        Self {
            names: Vec::new(),
            auto_join: true,
        }
    }
}

/// The verify path: forward-auth, introspection, cache and failure limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerifySection {
    /// Verified PATs kept in memory (0 turns the cache off).
    pub cache_capacity: usize,
    /// How long a cached answer is trusted. This replica sees its own changes
    /// at once, other replicas' (PostgreSQL) when their notice arrives; this
    /// bounds what a missed notice can cost.
    pub cache_ttl_secs: u64,
    /// Failed verifications allowed per source address per window.
    pub max_failures_per_ip: u32,
    /// Failed verifications allowed per presented token per window.
    pub max_failures_per_token: u32,
    /// Length of the failure-counting window.
    pub failure_window_secs: u64,
    /// Most addresses and tokens tracked by the failure limiter.
    pub limiter_capacity: usize,
    /// Last-use records are written at least this often…
    pub usage_flush_interval_ms: u64,
    /// …or as soon as this many are waiting.
    pub usage_batch_size: usize,
    /// Services allowed to call the introspection endpoint.
    pub resource_servers: Vec<ResourceServerRef>,
}

impl Default for VerifySection {
    fn default() -> Self {
        Self {
            cache_capacity: 10_000,
            cache_ttl_secs: 5,
            max_failures_per_ip: 10,
            max_failures_per_token: 100,
            failure_window_secs: 60,
            limiter_capacity: 100_000,
            usage_flush_interval_ms: 1000,
            usage_batch_size: 256,
            resource_servers: Vec::new(),
        }
    }
}

/// A registered resource server (introspection caller) and where its secret lives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceServerRef {
    pub client_id: String,
    /// The client secret (at least 16 characters).
    pub secret: SecretSource,
}
