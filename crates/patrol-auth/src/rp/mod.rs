//! OpenID Connect relying party (client) for the web UI's sign-in, as a backend-for-frontend:
//! authorization code + PKCE S256 + `state` + `nonce`, tokens kept server-side, refresh with
//! the refresh token, RFC 7009 revocation at sign-out (`docs/security.md` item 24).
//!
//! The ID token is validated by [`crate::OidcVerifier::verify_id_token`], which shares the
//! issuer's discovery + JWKS cache with access-token validation.
//!
//! Nothing here logs or puts into an error's `Display` a token, client secret, client
//! assertion, authorization code or PKCE verifier. Requests go out through
//! [`crate::HttpClient`], which never follows a redirect: a redirected token request is an
//! error, not replayed elsewhere.

mod client_auth;
mod config;
mod error;
mod pkce;
mod provider;
mod token_response;

use std::sync::Arc;
use std::time::Duration;

use patrol_core::clock::Clock;
use reqwest::header::HeaderValue;
use secrecy::ExposeSecret as _;
use url::Url;

use crate::fetch::{self, Discovery, FetchError, HttpClient};
use error::error_response;
use token_response::parse_token_response;

pub use client_auth::{basic_authorization, ClientAuth, ClientKey};
pub use config::RpConfig;
pub use error::RpError;
pub use pkce::{random_value, Pkce};
pub use provider::ProviderMetadata;
pub use token_response::TokenSet;

/// Largest token or revocation response read.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Timeout of each outbound request.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// A cached discovery document is refreshed after this (a failed refresh keeps the old one).
const DISCOVERY_TTL: Duration = Duration::from_secs(60 * 60);

struct Inner {
    cfg: RpConfig,
    config_error: Option<&'static str>,
    http: HttpClient,
    clock: Arc<dyn Clock>,
    discovery: Discovery<ProviderMetadata>,
}

/// The relying party. Cheap to clone. Caches the provider's discovery document after the
/// first successful fetch (refreshed hourly; while none is cached, every call retries).
#[derive(Clone)]
pub struct RelyingParty {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelyingParty")
            .field("issuer", &self.inner.cfg.issuer)
            .field("client_id", &self.inner.cfg.client_id)
            .field("client_auth", &self.inner.cfg.client_auth.method())
            .finish_non_exhaustive()
    }
}

/// What a token-endpoint or revocation request sends, besides client authentication.
type Form<'a> = Vec<(&'static str, &'a str)>;

impl RelyingParty {
    /// A relying party sending its requests with `http` (see [`crate::http_client`]); `clock`
    /// dates its client assertions. The configuration is checked here but errors surface from
    /// every call (and from [`RelyingParty::check_config`], for failing fast at startup).
    pub fn new(cfg: RpConfig, http: HttpClient, clock: Arc<dyn Clock>) -> Self {
        let config_error = match cfg.validate() {
            Ok(()) => None,
            Err(RpError::Invalid(reason)) => Some(reason),
            Err(_) => Some("invalid configuration"),
        };
        let discovery = Discovery::new(
            &cfg.issuer,
            cfg.discovery_url.as_deref(),
            HTTP_TIMEOUT,
            Some(DISCOVERY_TTL),
            ProviderMetadata::from_document,
        );
        RelyingParty {
            inner: Arc::new(Inner {
                cfg,
                config_error,
                http,
                clock,
                discovery,
            }),
        }
    }

    pub fn client_id(&self) -> &str {
        &self.inner.cfg.client_id
    }

    pub fn config(&self) -> &RpConfig {
        &self.inner.cfg
    }

    /// The configuration error found by [`RelyingParty::new`], if any.
    pub fn check_config(&self) -> Result<(), RpError> {
        match self.inner.config_error {
            Some(reason) => Err(RpError::Invalid(reason)),
            None => Ok(()),
        }
    }

    /// The provider's endpoints (cached discovery document).
    pub async fn metadata(&self) -> Result<Arc<ProviderMetadata>, RpError> {
        self.check_config()?;
        self.inner
            .discovery
            .get(&self.inner.http)
            .await
            .map_err(|e| {
                tracing::warn!(issuer = %self.inner.cfg.issuer, error = %e, "OIDC discovery failed");
                RpError::Unavailable(format!("discovery: {e}"))
            })
    }

    /// The URL to send the browser to: `response_type=code`, `client_id`, `redirect_uri`,
    /// `scope`, `state`, `nonce`, `code_challenge` + `code_challenge_method=S256`, `resource`
    /// when configured, then the extra parameters.
    pub async fn authorization_url(
        &self,
        state: &str,
        nonce: &str,
        code_challenge: &str,
    ) -> Result<Url, RpError> {
        if state.is_empty() || nonce.is_empty() {
            return Err(RpError::Invalid("state and nonce must not be empty"));
        }
        if !Pkce::is_well_formed_challenge(code_challenge) {
            return Err(RpError::Invalid("malformed PKCE code_challenge"));
        }
        let meta = self.metadata().await?;
        let cfg = &self.inner.cfg;
        let mut url = meta.authorization_endpoint.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &cfg.client_id)
                .append_pair("redirect_uri", &cfg.redirect_uri)
                .append_pair("scope", &cfg.normalized_scopes())
                .append_pair("state", state)
                .append_pair("nonce", nonce)
                .append_pair("code_challenge", code_challenge)
                .append_pair("code_challenge_method", "S256");
            if let Some(resource) = &cfg.resource {
                q.append_pair("resource", resource);
            }
            for (k, v) in &cfg.extra_authorize_params {
                q.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// Redeems an authorization code (RFC 6749 §4.1.3 + RFC 7636 `code_verifier`).
    pub async fn exchange_code(
        &self,
        code: &str,
        code_verifier: &str,
    ) -> Result<TokenSet, RpError> {
        if code.is_empty() || code_verifier.is_empty() {
            return Err(RpError::Invalid("code and code_verifier must not be empty"));
        }
        let cfg = &self.inner.cfg;
        let mut form: Form<'_> = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &cfg.redirect_uri),
            ("code_verifier", code_verifier),
        ];
        if let Some(resource) = &cfg.resource {
            form.push(("resource", resource));
        }
        self.token_request(form, &[code, code_verifier]).await
    }

    /// Refresh-token grant (RFC 6749 §6). The response may carry a rotated refresh token;
    /// when it does not, keep using the old one.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenSet, RpError> {
        if refresh_token.is_empty() {
            return Err(RpError::Invalid("refresh_token must not be empty"));
        }
        let mut form: Form<'_> = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        if let Some(resource) = &self.inner.cfg.resource {
            form.push(("resource", resource));
        }
        self.token_request(form, &[refresh_token]).await
    }

    /// Best effort RFC 7009 revocation of a refresh token. `Ok(false)` when the provider does
    /// not advertise a `revocation_endpoint`.
    pub async fn revoke_refresh_token(&self, refresh_token: &str) -> Result<bool, RpError> {
        if refresh_token.is_empty() {
            return Err(RpError::Invalid("refresh_token must not be empty"));
        }
        let meta = self.metadata().await?;
        let Some(endpoint) = &meta.revocation_endpoint else {
            return Ok(false);
        };
        let form: Form<'_> = vec![
            ("token", refresh_token),
            ("token_type_hint", "refresh_token"),
        ];
        let (status, body) = self.post_form(&meta, endpoint, form, "revocation").await?;
        if (200..300).contains(&status) {
            return Ok(true);
        }
        Err(error_response(
            status,
            &body,
            &[refresh_token],
            "revocation",
        ))
    }

    /// RP-initiated logout URL (OpenID Connect RP-Initiated Logout 1.0), when the provider
    /// advertises an `end_session_endpoint`: `client_id`, and the given `id_token_hint`,
    /// `post_logout_redirect_uri` and `state`.
    pub async fn end_session_url(
        &self,
        id_token_hint: Option<&str>,
        post_logout_redirect_uri: Option<&str>,
        state: Option<&str>,
    ) -> Result<Option<Url>, RpError> {
        let meta = self.metadata().await?;
        let Some(endpoint) = &meta.end_session_endpoint else {
            return Ok(None);
        };
        let mut url = endpoint.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &self.inner.cfg.client_id);
            if let Some(hint) = id_token_hint {
                q.append_pair("id_token_hint", hint);
            }
            if let Some(uri) = post_logout_redirect_uri {
                q.append_pair("post_logout_redirect_uri", uri);
            }
            if let Some(state) = state {
                q.append_pair("state", state);
            }
        }
        Ok(Some(url))
    }

    async fn token_request(&self, form: Form<'_>, sent: &[&str]) -> Result<TokenSet, RpError> {
        let meta = self.metadata().await?;
        let result = match self
            .post_form(&meta, &meta.token_endpoint, form, "token")
            .await
        {
            Ok((status, body)) => parse_token_response(status, &body, sent),
            Err(e) => Err(e),
        };
        if let Err(e) = &result {
            tracing::debug!(issuer = %self.inner.cfg.issuer, error = %e, "token request failed");
        }
        result
    }

    /// POSTs a form with client authentication; returns the status and the (bounded) body.
    async fn post_form(
        &self,
        meta: &ProviderMetadata,
        endpoint: &Url,
        mut form: Form<'_>,
        what: &str,
    ) -> Result<(u16, Vec<u8>), RpError> {
        let cfg = &self.inner.cfg;
        let assertion;
        let mut authorization = None;
        match &cfg.client_auth {
            ClientAuth::None => form.push(("client_id", &cfg.client_id)),
            ClientAuth::SecretBasic(secret) => {
                let mut value = HeaderValue::from_str(&basic_authorization(&cfg.client_id, secret))
                    .map_err(|_| RpError::Invalid("unusable client credentials"))?;
                value.set_sensitive(true);
                authorization = Some(value);
            }
            ClientAuth::SecretPost(secret) => {
                form.push(("client_id", &cfg.client_id));
                form.push(("client_secret", secret.expose_secret()));
            }
            ClientAuth::PrivateKeyJwt(key) => {
                let now = self.inner.clock.now().timestamp();
                assertion = key.assertion(&cfg.client_id, meta.token_endpoint.as_str(), now)?;
                form.push(("client_id", &cfg.client_id));
                form.push((
                    "client_assertion_type",
                    client_auth::JWT_BEARER_ASSERTION_TYPE,
                ));
                form.push(("client_assertion", &assertion));
            }
        }
        fetch::post_form(
            &self.inner.http,
            endpoint,
            authorization,
            &form,
            MAX_RESPONSE_BYTES,
            HTTP_TIMEOUT,
        )
        .await
        .map_err(|e| match e {
            FetchError::Redirected(_) => RpError::Invalid("the endpoint redirected the request"),
            e => RpError::Unavailable(format!("{what} endpoint: {e}")),
        })
    }
}
