//! OpenID Connect relying party (client) for the web UI's sign-in, as a backend-for-frontend:
//! authorization code + PKCE S256 + `state` + `nonce`, tokens kept server-side, refresh with
//! the refresh token, RFC 7009 revocation at sign-out (security.md item 24).
//!
//! The ID token is validated by [`crate::OidcVerifier::verify_id_token`], which shares the
//! issuer's discovery + JWKS cache with access-token validation.
//!
//! Nothing here logs or puts into an error's `Display` a token, client secret, client
//! assertion, authorization code or PKCE verifier. Pass a `reqwest::Client` that does not
//! follow redirects: a redirected token request must not be replayed elsewhere.

mod client_auth;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use url::Url;

pub use client_auth::{
    basic_authorization, ClientAuth, ClientKey, ASSERTION_LIFETIME_SECS, JWT_BEARER_ASSERTION_TYPE,
};

/// Largest token, revocation or discovery response read.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Timeout of each outbound request.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// A cached discovery document is refreshed after this (a failed refresh keeps the old one).
pub const DISCOVERY_TTL: Duration = Duration::from_secs(60 * 60);
/// Longest `error` / `error_description` kept from an OAuth error response.
const MAX_ERROR_CHARS: usize = 200;
/// Authorization parameters set by [`RelyingParty::authorization_url`] that
/// `extra_authorize_params` may not override.
const RESERVED_AUTHORIZE_PARAMS: [&str; 11] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "resource",
    "request",
    "request_uri",
];

/// Relying-party configuration.
#[derive(Clone, Debug)]
pub struct RpConfig {
    /// Exact expected `iss` (also the discovery document's `issuer`).
    pub issuer: String,
    /// Defaults to `issuer` + `/.well-known/openid-configuration`.
    pub discovery_url: Option<String>,
    pub client_id: String,
    pub client_auth: ClientAuth,
    pub redirect_uri: String,
    /// Space separated; must include `openid`.
    pub scopes: String,
    /// RFC 8707 resource indicator (an absolute URI; Entra v1-style application ids are
    /// passed through), sent on authorize and token requests when set.
    pub resource: Option<String>,
    /// Extra authorization-request parameters (e.g. `prompt=consent`). They may not override
    /// the protocol parameters this module sets.
    pub extra_authorize_params: Vec<(String, String)>,
}

impl RpConfig {
    /// The discovery document URL.
    pub fn discovery_url(&self) -> String {
        match &self.discovery_url {
            Some(u) => u.clone(),
            None => format!(
                "{}/.well-known/openid-configuration",
                self.issuer.trim_end_matches('/')
            ),
        }
    }

    /// Static checks of the configuration.
    pub fn validate(&self) -> Result<(), RpError> {
        let issuer =
            Url::parse(&self.issuer).map_err(|_| RpError::Invalid("issuer is not a URL"))?;
        if !matches!(issuer.scheme(), "https" | "http") {
            return Err(RpError::Invalid("issuer must be an http(s) URL"));
        }
        if Url::parse(&self.discovery_url()).is_err() {
            return Err(RpError::Invalid("discovery_url is not a URL"));
        }
        if self.client_id.is_empty() {
            return Err(RpError::Invalid("client_id is empty"));
        }
        let redirect = Url::parse(&self.redirect_uri)
            .map_err(|_| RpError::Invalid("redirect_uri is not a URL"))?;
        if redirect.fragment().is_some() {
            return Err(RpError::Invalid("redirect_uri must not have a fragment"));
        }
        if !self.scopes.split_whitespace().any(|s| s == "openid") {
            return Err(RpError::Invalid("scopes must include openid"));
        }
        if self
            .resource
            .as_deref()
            .is_some_and(|r| r.is_empty() || r.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(RpError::Invalid("resource must be a non-empty URI"));
        }
        if self
            .extra_authorize_params
            .iter()
            .any(|(k, _)| RESERVED_AUTHORIZE_PARAMS.contains(&k.as_str()))
        {
            return Err(RpError::Invalid(
                "extra_authorize_params may not override protocol parameters",
            ));
        }
        Ok(())
    }
}

/// Why a relying-party operation failed. `Display` never contains a token, secret or code.
#[derive(Debug, thiserror::Error)]
pub enum RpError {
    /// Network error, timeout, 5xx or 429, unusable discovery document. Retry later.
    #[error("identity provider unavailable: {0}")]
    Unavailable(String),
    /// An OAuth error response (`invalid_grant` etc.), sanitized: control characters removed,
    /// at most 200 characters each.
    #[error("identity provider rejected the request: {error}{}", describe(.description))]
    Rejected {
        error: String,
        description: Option<String>,
    },
    /// A malformed response or a bad configuration.
    #[error("invalid identity provider response or relying-party configuration: {0}")]
    Invalid(&'static str),
}

fn describe(description: &Option<String>) -> String {
    match description {
        Some(d) => format!(" ({d})"),
        None => String::new(),
    }
}

impl RpError {
    /// The OAuth `error` code of a [`RpError::Rejected`].
    pub fn oauth_error(&self) -> Option<&str> {
        match self {
            RpError::Rejected { error, .. } => Some(error),
            _ => None,
        }
    }

    /// `invalid_grant`: the code or refresh token is invalid, expired, used or revoked, so
    /// the user must sign in again.
    pub fn is_invalid_grant(&self) -> bool {
        self.oauth_error() == Some("invalid_grant")
    }
}

/// Tokens from a token response. `Debug` redacts every token.
#[derive(Clone)]
pub struct TokenSet {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub id_token: Option<SecretString>,
    pub expires_in: Option<u64>,
    pub scope: Option<String>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let present = |t: &Option<SecretString>| if t.is_some() { "[redacted]" } else { "None" };
        f.debug_struct("TokenSet")
            .field("access_token", &"[redacted]")
            .field("refresh_token", &present(&self.refresh_token))
            .field("id_token", &present(&self.id_token))
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

/// A PKCE pair (RFC 7636, S256). `Debug` redacts the verifier.
#[derive(Clone)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkce")
            .field("verifier", &"[redacted]")
            .field("challenge", &self.challenge)
            .finish()
    }
}

impl Pkce {
    /// 32 random bytes as a base64url verifier (43 characters) and its S256 challenge.
    pub fn generate() -> Pkce {
        let verifier = random_value();
        let challenge = Pkce::challenge_for(&verifier);
        Pkce {
            verifier,
            challenge,
        }
    }

    /// `BASE64URL(SHA256(verifier))`.
    pub fn challenge_for(verifier: &str) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
    }
}

/// 32 random bytes (OS RNG) as base64url without padding: for `state`, `nonce`, session ids.
pub fn random_value() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The endpoints this module uses, from the provider's discovery document.
#[derive(Clone, Debug)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    pub end_session_endpoint: Option<Url>,
    pub revocation_endpoint: Option<Url>,
}

#[derive(Deserialize)]
struct RawDiscovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    #[serde(default)]
    end_session_endpoint: Option<String>,
    #[serde(default)]
    revocation_endpoint: Option<String>,
}

struct CachedMetadata {
    meta: Arc<ProviderMetadata>,
    fetched_at: Instant,
}

struct Inner {
    cfg: RpConfig,
    config_error: Option<&'static str>,
    http: reqwest::Client,
    metadata: RwLock<Option<CachedMetadata>>,
    fetch_lock: tokio::sync::Mutex<()>,
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
    /// A relying party; the configuration is checked here but errors surface from every call
    /// (and from [`RelyingParty::check_config`], for failing fast at startup).
    pub fn new(cfg: RpConfig, http: reqwest::Client) -> Self {
        let config_error = match cfg.validate() {
            Ok(()) => None,
            Err(RpError::Invalid(reason)) => Some(reason),
            Err(_) => Some("invalid configuration"),
        };
        RelyingParty {
            inner: Arc::new(Inner {
                cfg,
                config_error,
                http,
                metadata: RwLock::new(None),
                fetch_lock: tokio::sync::Mutex::new(()),
            }),
        }
    }

    pub fn client_id(&self) -> &str {
        &self.inner.cfg.client_id
    }

    pub fn issuer(&self) -> &str {
        &self.inner.cfg.issuer
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
        if let Some(meta) = self.cached_metadata(true) {
            return Ok(meta);
        }
        let _guard = self.inner.fetch_lock.lock().await;
        if let Some(meta) = self.cached_metadata(true) {
            return Ok(meta);
        }
        match self.fetch_metadata().await {
            Ok(meta) => {
                let meta = Arc::new(meta);
                *self
                    .inner
                    .metadata
                    .write()
                    .unwrap_or_else(|e| e.into_inner()) = Some(CachedMetadata {
                    meta: meta.clone(),
                    fetched_at: Instant::now(),
                });
                Ok(meta)
            }
            Err(e) => match self.cached_metadata(false) {
                Some(stale) => {
                    tracing::warn!(issuer = %self.inner.cfg.issuer, error = %e,
                        "OIDC discovery refresh failed; keeping the cached document");
                    Ok(stale)
                }
                None => {
                    tracing::warn!(issuer = %self.inner.cfg.issuer, error = %e, "OIDC discovery failed");
                    Err(e)
                }
            },
        }
    }

    fn cached_metadata(&self, fresh_only: bool) -> Option<Arc<ProviderMetadata>> {
        let guard = self
            .inner
            .metadata
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let cached = guard.as_ref()?;
        if fresh_only && cached.fetched_at.elapsed() > DISCOVERY_TTL {
            return None;
        }
        Some(cached.meta.clone())
    }

    async fn fetch_metadata(&self) -> Result<ProviderMetadata, RpError> {
        let cfg = &self.inner.cfg;
        let url = cfg.discovery_url();
        let resp = self
            .inner
            .http
            .get(&url)
            .header(ACCEPT, "application/json")
            .timeout(HTTP_TIMEOUT)
            .send()
            .await
            .map_err(|e| RpError::Unavailable(format!("discovery: {}", http_error(&e))))?;
        let status = resp.status().as_u16();
        let body = read_limited(resp)
            .await
            .map_err(|e| RpError::Unavailable(format!("discovery: {e}")))?;
        if status != 200 {
            return Err(RpError::Unavailable(format!(
                "discovery returned status {status}"
            )));
        }
        let raw: RawDiscovery = serde_json::from_slice(&body)
            .map_err(|_| RpError::Unavailable("malformed discovery document".into()))?;
        if raw.issuer != cfg.issuer {
            return Err(RpError::Unavailable(
                "discovery document names another issuer".into(),
            ));
        }
        let allow_http = cfg.issuer.starts_with("http://");
        let endpoint = |name: &str, value: &str| {
            endpoint_url(value, allow_http).ok_or_else(|| {
                RpError::Unavailable(format!("discovery document has an unusable {name}"))
            })
        };
        let optional = |name: &str, value: Option<&str>| match value.filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => endpoint(name, v).map(Some),
        };
        Ok(ProviderMetadata {
            authorization_endpoint: endpoint(
                "authorization_endpoint",
                &raw.authorization_endpoint,
            )?,
            token_endpoint: endpoint("token_endpoint", &raw.token_endpoint)?,
            end_session_endpoint: optional(
                "end_session_endpoint",
                raw.end_session_endpoint.as_deref(),
            )?,
            revocation_endpoint: optional(
                "revocation_endpoint",
                raw.revocation_endpoint.as_deref(),
            )?,
            issuer: raw.issuer,
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
        let well_formed = code_challenge.len() == 43
            && code_challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !well_formed {
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
                .append_pair("scope", &normalize_scopes(&cfg.scopes))
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
        let (status, body) = self
            .post_form(&meta, &meta.token_endpoint, form, "token")
            .await?;
        let result = parse_token_response(status, &body, sent);
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
        form: Form<'_>,
        what: &str,
    ) -> Result<(u16, Vec<u8>), RpError> {
        let cfg = &self.inner.cfg;
        let assertion;
        let mut form: Vec<(&str, &str)> = form;
        let mut req = self
            .inner
            .http
            .post(endpoint.clone())
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .timeout(HTTP_TIMEOUT);
        match &cfg.client_auth {
            ClientAuth::None => form.push(("client_id", &cfg.client_id)),
            ClientAuth::SecretBasic(secret) => {
                let mut value = HeaderValue::from_str(&basic_authorization(&cfg.client_id, secret))
                    .map_err(|_| RpError::Invalid("unusable client credentials"))?;
                value.set_sensitive(true);
                req = req.header(AUTHORIZATION, value);
            }
            ClientAuth::SecretPost(secret) => {
                form.push(("client_id", &cfg.client_id));
                form.push(("client_secret", secret.expose_secret()));
            }
            ClientAuth::PrivateKeyJwt(key) => {
                let now = chrono::Utc::now().timestamp();
                assertion = key.assertion(&cfg.client_id, meta.token_endpoint.as_str(), now)?;
                form.push(("client_id", &cfg.client_id));
                form.push(("client_assertion_type", JWT_BEARER_ASSERTION_TYPE));
                form.push(("client_assertion", &assertion));
            }
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let resp =
            req.body(body).send().await.map_err(|e| {
                RpError::Unavailable(format!("{what} endpoint: {}", http_error(&e)))
            })?;
        if resp.url() != endpoint {
            // The client followed a redirect: never trust what came back from elsewhere.
            return Err(RpError::Invalid("the endpoint redirected the request"));
        }
        let status = resp.status().as_u16();
        let body = read_limited(resp)
            .await
            .map_err(|e| RpError::Unavailable(format!("{what} endpoint: {e}")))?;
        Ok((status, body))
    }
}

/// Endpoint URLs must be https, or http when the issuer itself is http (development).
fn endpoint_url(value: &str, allow_http: bool) -> Option<Url> {
    let url = Url::parse(value).ok()?;
    let scheme_ok = url.scheme() == "https" || (allow_http && url.scheme() == "http");
    (scheme_ok && url.fragment().is_none() && url.has_host()).then_some(url)
}

fn normalize_scopes(scopes: &str) -> String {
    scopes.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A reqwest error without anything from the request body.
fn http_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut msg = kind.to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    sanitize(&msg, &[], 300)
}

/// Reads a response body of at most [`MAX_RESPONSE_BYTES`].
async fn read_limited(mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
    if resp
        .content_length()
        .is_some_and(|l| l > MAX_RESPONSE_BYTES as u64)
    {
        return Err("response too large".into());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("reading the response: {}", http_error(&e)))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err("response too large".into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Removes control characters and every value in `secrets`, and truncates to `max` chars.
fn sanitize(s: &str, secrets: &[&str], max: usize) -> String {
    let mut s = s.to_owned();
    for secret in secrets.iter().filter(|v| v.len() >= 4) {
        s = s.replace(secret, "[redacted]");
    }
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<serde_json::Value>,
}

fn oauth_error(body: &[u8], sent: &[&str]) -> Option<RpError> {
    let e: OAuthErrorBody = serde_json::from_slice(body).ok()?;
    // RFC 6749 §5.2: `error` is %x20-21 / %x23-5B / %x5D-7E.
    let error: String = sanitize(&e.error, sent, MAX_ERROR_CHARS)
        .chars()
        .filter(|c| matches!(*c, ' '..='~') && *c != '"' && *c != '\\')
        .collect();
    if error.is_empty() {
        return None;
    }
    let description = match e.error_description {
        Some(serde_json::Value::String(d)) => Some(sanitize(&d, sent, MAX_ERROR_CHARS)),
        _ => None,
    }
    .filter(|d| !d.is_empty());
    Some(RpError::Rejected { error, description })
}

/// Maps a non-success response to an error.
fn error_response(status: u16, body: &[u8], sent: &[&str], what: &str) -> RpError {
    if status >= 500 || status == 429 {
        return RpError::Unavailable(format!("{what} endpoint returned status {status}"));
    }
    if (400..500).contains(&status) {
        if let Some(e) = oauth_error(body, sent) {
            return e;
        }
    }
    RpError::Invalid("unexpected response from the identity provider")
}

#[derive(Deserialize)]
struct RawTokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

fn parse_expires_in(v: Option<serde_json::Value>) -> Result<Option<u64>, RpError> {
    let bad = RpError::Invalid("malformed expires_in");
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(u), _) => Ok(Some(u)),
            (None, Some(f)) if f.is_finite() && f >= 0.0 && f <= u64::MAX as f64 => {
                Ok(Some(f as u64))
            }
            _ => Err(bad),
        },
        Some(serde_json::Value::String(s)) => s.trim().parse::<u64>().map(Some).map_err(|_| bad),
        Some(_) => Err(bad),
    }
}

/// Interprets a token-endpoint response. `sent` lists the secrets of the request, scrubbed
/// from any error text.
fn parse_token_response(status: u16, body: &[u8], sent: &[&str]) -> Result<TokenSet, RpError> {
    if !(200..300).contains(&status) {
        return Err(error_response(status, body, sent, "token"));
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| RpError::Invalid("token response is not JSON"))?;
    if value.get("access_token").is_none() && value.get("error").is_some() {
        // Some providers answer errors with 200.
        return Err(
            oauth_error(body, sent).unwrap_or(RpError::Invalid("malformed token error response"))
        );
    }
    // serde messages may quote values, so they are never surfaced.
    let raw: RawTokenResponse =
        serde_json::from_value(value).map_err(|_| RpError::Invalid("malformed token response"))?;
    if raw.access_token.is_empty() {
        return Err(RpError::Invalid("token response without access_token"));
    }
    if raw
        .token_type
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
    {
        return Err(RpError::Invalid("token_type is not Bearer"));
    }
    let secret = |t: Option<String>| t.filter(|t| !t.is_empty()).map(SecretString::from);
    Ok(TokenSet {
        expires_in: parse_expires_in(raw.expires_in)?,
        access_token: SecretString::from(raw.access_token),
        refresh_token: secret(raw.refresh_token),
        id_token: secret(raw.id_token),
        scope: raw.scope.filter(|s| !s.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_rfc7636_vector() {
        assert_eq!(
            Pkce::challenge_for("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let p = Pkce::generate();
        assert_eq!(p.verifier.len(), 43);
        assert_eq!(p.challenge, Pkce::challenge_for(&p.verifier));
        assert_ne!(Pkce::generate().verifier, p.verifier);
        assert!(!format!("{p:?}").contains(&p.verifier));
    }

    #[test]
    fn random_values() {
        let a = random_value();
        assert_eq!(a.len(), 43);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(a, random_value());
    }

    #[test]
    fn token_set_debug_is_redacted() {
        let body = br#"{"access_token":"AT-secret-1","token_type":"Bearer","expires_in":"3600",
            "refresh_token":"RT-secret-2","id_token":"ID-secret-3","scope":"openid vso.pats"}"#;
        let t = parse_token_response(200, body, &[]).unwrap();
        assert_eq!(t.access_token.expose_secret(), "AT-secret-1");
        assert_eq!(
            t.refresh_token.as_ref().unwrap().expose_secret(),
            "RT-secret-2"
        );
        assert_eq!(t.id_token.as_ref().unwrap().expose_secret(), "ID-secret-3");
        assert_eq!(t.expires_in, Some(3600));
        assert_eq!(t.scope.as_deref(), Some("openid vso.pats"));
        let dbg = format!("{t:?} {:?}", t.clone());
        assert!(!dbg.contains("secret"), "{dbg}");
        assert!(dbg.contains("[redacted]") && dbg.contains("3600"));
    }

    #[test]
    fn token_response_shapes() {
        let ok = |body: &str| parse_token_response(200, body.as_bytes(), &[]);
        let t = ok(r#"{"access_token":"a","token_type":"bearer","expires_in":60}"#).unwrap();
        assert_eq!(t.expires_in, Some(60));
        assert!(t.refresh_token.is_none() && t.id_token.is_none() && t.scope.is_none());
        assert_eq!(
            ok(r#"{"access_token":"a","expires_in":59.9}"#)
                .unwrap()
                .expires_in,
            Some(59)
        );
        assert_eq!(
            ok(r#"{"access_token":"a","refresh_token":""}"#)
                .unwrap()
                .refresh_token
                .map(|_| ()),
            None
        );
        for bad in [
            r#"{"access_token":"a","expires_in":-1}"#,
            r#"{"access_token":"a","expires_in":"soon"}"#,
            r#"{"access_token":"a","expires_in":[1]}"#,
            r#"{"access_token":"a","token_type":"DPoP"}"#,
            r#"{"access_token":""}"#,
            r#"{"access_token":7}"#,
            r#"{"token_type":"Bearer"}"#,
            r#"not json"#,
            r#"[]"#,
        ] {
            assert!(matches!(ok(bad), Err(RpError::Invalid(_))), "{bad}");
        }
        // An error with status 200.
        assert!(ok(r#"{"error":"invalid_grant"}"#)
            .unwrap_err()
            .is_invalid_grant());
    }

    #[test]
    fn error_responses_are_sanitized() {
        let long = "x".repeat(500);
        let body = format!(
            r#"{{"error":"invalid_grant\u0007\"\\","error_description":"bad code CODE-123456 \n\r\u001b[31m{long}"}}"#
        );
        let e = parse_token_response(400, body.as_bytes(), &["CODE-123456"]).unwrap_err();
        let RpError::Rejected { error, description } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(error, "invalid_grant");
        let d = description.as_deref().unwrap();
        assert!(d.starts_with("bad code [redacted] [31mxxx"), "{d}");
        assert_eq!(d.chars().count(), 200);
        let shown = e.to_string();
        assert!(!shown.contains("CODE-123456") && !shown.chars().any(char::is_control));
        assert!(shown.starts_with("identity provider rejected the request: invalid_grant ("));

        assert!(matches!(
            parse_token_response(503, br#"{"error":"temporarily_unavailable"}"#, &[]),
            Err(RpError::Unavailable(_))
        ));
        assert!(matches!(
            parse_token_response(429, b"", &[]),
            Err(RpError::Unavailable(_))
        ));
        assert!(matches!(
            parse_token_response(400, b"<html>nope</html>", &[]),
            Err(RpError::Invalid(_))
        ));
        assert!(matches!(
            parse_token_response(302, b"", &[]),
            Err(RpError::Invalid(_))
        ));
        let e = parse_token_response(401, br#"{"error":"invalid_client"}"#, &[]).unwrap_err();
        assert_eq!(e.oauth_error(), Some("invalid_client"));
        assert_eq!(
            e.to_string(),
            "identity provider rejected the request: invalid_client"
        );
    }

    fn cfg() -> RpConfig {
        RpConfig {
            issuer: "https://idp.example".into(),
            discovery_url: None,
            client_id: "c".into(),
            client_auth: ClientAuth::SecretPost(SecretString::from("shh-secret")),
            redirect_uri: "https://patrol.example/ui/callback".into(),
            scopes: "openid profile".into(),
            resource: None,
            extra_authorize_params: vec![("prompt".into(), "consent".into())],
        }
    }

    #[test]
    fn config_validation() {
        assert!(cfg().validate().is_ok());
        assert_eq!(
            cfg().discovery_url(),
            "https://idp.example/.well-known/openid-configuration"
        );
        assert!(!format!("{:?}", cfg()).contains("shh-secret"));
        let bad = [
            RpConfig {
                scopes: "profile email".into(),
                ..cfg()
            },
            RpConfig {
                client_id: String::new(),
                ..cfg()
            },
            RpConfig {
                issuer: "idp.example".into(),
                ..cfg()
            },
            RpConfig {
                redirect_uri: "/callback".into(),
                ..cfg()
            },
            RpConfig {
                resource: Some("not a uri".into()),
                ..cfg()
            },
            RpConfig {
                resource: Some(String::new()),
                ..cfg()
            },
            RpConfig {
                extra_authorize_params: vec![("nonce".into(), "fixed".into())],
                ..cfg()
            },
        ];
        for c in bad {
            assert!(matches!(c.validate(), Err(RpError::Invalid(_))), "{c:?}");
            let rp = RelyingParty::new(c, reqwest::Client::new());
            assert!(rp.check_config().is_err());
        }
    }

    #[test]
    fn endpoint_rules() {
        assert!(endpoint_url("https://idp/token", false).is_some());
        assert!(endpoint_url("http://idp/token", false).is_none());
        assert!(endpoint_url("http://idp/token", true).is_some());
        assert!(endpoint_url("https://idp/token#x", false).is_none());
        assert!(endpoint_url("javascript:alert(1)", true).is_none());
        assert!(endpoint_url("/token", true).is_none());
    }
}
