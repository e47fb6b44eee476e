//! The per-section resolvers `Config → Settings` uses: token lifetimes and
//! the session policy, allowed OAuth clients, the verify path, server keys,
//! registered resource servers. Each checks its ranges and reads its secrets.

use std::collections::HashMap;

use chrono::Duration;
use secrecy::{ExposeSecret, SecretString};

use patrol_auth::verifier::IssuerConfig;
use patrol_core::hashing::ServerKey;
use patrol_core::pat::LifetimePolicy;
use patrol_core::token::MintOptions;

use crate::app::verify::VerifySettings;
use crate::app::{Policy, SessionPolicy};

use super::sections::{TokensSection, VerifySection};
use super::settings::{
    at_least, between, invalid, seconds, UsageSettings, MAX_DAYS, MIN_RS_SECRET_CHARS,
};
use super::{Config, ConfigError, Env};

pub(super) fn tokens(t: &TokensSection) -> Result<Policy, ConfigError> {
    let max = between("tokens.max_lifetime_days", t.max_lifetime_days, 1, MAX_DAYS)?;
    let default = between(
        "tokens.default_lifetime_days",
        t.default_lifetime_days,
        1,
        max,
    )?;
    let inactive = between(
        "tokens.inactive_after_days",
        t.inactive_after_days,
        0,
        MAX_DAYS,
    )?;
    let signin = between(
        "tokens.require_interactive_signin_days",
        t.require_interactive_signin_days,
        0,
        MAX_DAYS,
    )?;
    Ok(Policy {
        mint: MintOptions::with_signature(t.signature),
        lifetime: LifetimePolicy {
            default_lifetime: Duration::days(i64::from(default)),
            max_lifetime: Duration::days(i64::from(max)),
        },
        inactive_after: (inactive > 0).then(|| Duration::days(i64::from(inactive))),
        require_interactive_signin: (signin > 0).then(|| Duration::days(i64::from(signin))),
        auto_join: true,
        max_active_per_user: at_least("tokens.max_active_per_user", t.max_active_per_user, 1)?,
        accept_user_impersonation: false,
        session: SessionPolicy::default(),
        allowed_clients: HashMap::new(),
        notify: crate::app::NotifyPolicy::default(),
    })
}

/// `[[auth.issuers]] allowed_client_ids` → issuer → accepted clients. A
/// list, when given, names at least one client (leave it out to accept any).
pub(super) fn allowed_clients(
    issuers: &[IssuerConfig],
) -> Result<HashMap<String, Vec<String>>, ConfigError> {
    let mut out = HashMap::new();
    for i in issuers {
        let Some(ids) = &i.allowed_client_ids else {
            continue;
        };
        let key = "auth.issuers.allowed_client_ids";
        if ids.is_empty() {
            return Err(invalid(
                key,
                format!(
                    "issuer '{}': name at least one client, or leave the key out to accept any",
                    i.issuer
                ),
            ));
        }
        if let Some(bad) = ids
            .iter()
            .find(|c| c.trim().is_empty() || c.trim() != c.as_str())
        {
            return Err(invalid(
                key,
                format!("issuer '{}': '{bad}' is not a client id", i.issuer),
            ));
        }
        out.insert(i.issuer.clone(), ids.clone());
    }
    Ok(out)
}

pub(super) fn verify(v: &VerifySection) -> Result<(VerifySettings, UsageSettings), ConfigError> {
    between("verify.cache_ttl_secs", v.cache_ttl_secs, 0, 300)?;
    at_least("verify.max_failures_per_ip", v.max_failures_per_ip, 1)?;
    at_least("verify.max_failures_per_token", v.max_failures_per_token, 1)?;
    between(
        "verify.failure_window_secs",
        v.failure_window_secs,
        1,
        86_400,
    )?;
    at_least("verify.limiter_capacity", v.limiter_capacity, 1)?;
    between(
        "verify.usage_flush_interval_ms",
        v.usage_flush_interval_ms,
        1,
        60_000,
    )?;
    between("verify.usage_batch_size", v.usage_batch_size, 1, 100_000)?;
    for (i, rs) in v.resource_servers.iter().enumerate() {
        let id = &rs.client_id;
        let id_ok = !id.is_empty()
            && id.len() <= 128
            && id.bytes().all(|b| b.is_ascii_graphic() && b != b':');
        if !id_ok {
            return Err(invalid(
                "verify.resource_servers",
                format!("client_id '{id}' is not valid"),
            ));
        }
        if v.resource_servers[..i].iter().any(|o| &o.client_id == id) {
            return Err(invalid(
                "verify.resource_servers",
                format!("duplicate client_id '{id}'"),
            ));
        }
    }
    let settings = VerifySettings {
        cache_capacity: v.cache_capacity,
        cache_ttl: seconds(v.cache_ttl_secs),
        max_failures_per_ip: v.max_failures_per_ip,
        max_failures_per_token: v.max_failures_per_token,
        failure_window: seconds(v.failure_window_secs),
        limiter_capacity: v.limiter_capacity,
    };
    let usage = UsageSettings {
        flush_interval: std::time::Duration::from_millis(v.usage_flush_interval_ms),
        batch_size: v.usage_batch_size,
    };
    Ok((settings, usage))
}

pub(super) fn server_keys(cfg: &Config, env: &Env) -> Result<Vec<ServerKey>, ConfigError> {
    let refs = &cfg.keys.server_keys;
    if refs.is_empty() {
        return Err(invalid(
            "keys.server_keys",
            "no server key configured: set PATROL_SERVER_KEY (or PATROL_SERVER_KEY_FILE) or [keys] server_keys",
        ));
    }
    for (i, k) in refs.iter().enumerate() {
        if refs[..i].iter().any(|o| o.id == k.id) {
            return Err(invalid(
                "keys.server_keys",
                format!("duplicate key id '{}'", k.id),
            ));
        }
    }
    refs.iter().map(|k| k.load(env)).collect()
}

pub(super) fn resource_servers(
    v: &VerifySection,
    env: &Env,
) -> Result<Vec<(String, SecretString)>, ConfigError> {
    v.resource_servers
        .iter()
        .map(|rs| {
            let what = format!("resource server '{}'", rs.client_id);
            let secret = rs.secret.read(env, &what)?;
            if secret.expose_secret().chars().count() < MIN_RS_SECRET_CHARS {
                return Err(ConfigError::Secret {
                    what,
                    message: format!(
                        "the secret must be at least {MIN_RS_SECRET_CHARS} characters"
                    ),
                });
            }
            Ok((rs.client_id.clone(), secret))
        })
        .collect()
}
