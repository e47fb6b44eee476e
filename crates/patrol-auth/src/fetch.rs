//! Every outbound HTTP request of this crate goes through here: the client (which never
//! follows a redirect), the discovery URL, one discovery fetch with its cache, and reads
//! bounded in size and time. The verifier (discovery + JWKS) and the relying party
//! (discovery, token and revocation endpoints) both use it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;
use url::Url;

/// Largest discovery or JWKS document read.
pub(crate) const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

/// The HTTP client for identity-provider requests. It never follows a redirect: a token,
/// refresh or revocation request redirected by a compromised or misconfigured endpoint would
/// otherwise re-send the code, PKCE verifier, refresh token or client secret to another host.
/// The only way to make one is [`http_client`], so the verifier and the relying party cannot
/// be handed a client that follows redirects.
#[derive(Clone, Debug)]
pub struct HttpClient(reqwest::Client);

/// The client handed to [`crate::OidcVerifier`] and [`crate::rp::RelyingParty`]: redirects
/// are never followed (a 3xx answer is an error), and `timeout` bounds every request (the
/// callers also set their own, shorter, per-request bounds). Proxy settings come from the
/// environment, as reqwest reads them.
pub fn http_client(timeout: Duration) -> Result<HttpClient, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .build()
        .map(HttpClient)
}

/// `configured`, else `issuer` + `/.well-known/openid-configuration` (OpenID Connect
/// Discovery §4).
pub(crate) fn discovery_url(issuer: &str, configured: Option<&str>) -> String {
    match configured {
        Some(u) => u.to_owned(),
        None => format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ),
    }
}

/// Why a request or a document failed. `Display` never contains a request body, so no
/// secret; it is logged, never shown to clients.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("{}", describe_http(.0))]
    Http(reqwest::Error),
    #[error("redirected with status {0} (redirects are never followed)")]
    Redirected(u16),
    #[error("unexpected status {0}")]
    Status(u16),
    #[error("response too large")]
    TooLarge,
    #[error("malformed document: {0}")]
    Json(#[from] serde_json::Error),
    #[error("discovery document names another issuer")]
    IssuerMismatch,
    #[error("discovery document has an unusable {0}")]
    BadEndpoint(&'static str),
    #[error("no usable signing keys")]
    NoKeys,
}

/// A reqwest error as text: its kind and causes, nothing from the request.
fn describe_http(e: &reqwest::Error) -> String {
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

/// Removes control characters and every value in `secrets` (4 characters or longer), and
/// truncates to `max` characters: for text from the network that ends up in errors and logs.
pub(crate) fn sanitize(s: &str, secrets: &[&str], max: usize) -> String {
    let mut s = s.to_owned();
    for secret in secrets.iter().filter(|v| v.len() >= 4) {
        s = s.replace(secret, "[redacted]");
    }
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// Sends `req`; a 3xx answer is an error.
async fn send(req: reqwest::RequestBuilder) -> Result<reqwest::Response, FetchError> {
    let resp = req.send().await.map_err(FetchError::Http)?;
    if resp.status().is_redirection() {
        return Err(FetchError::Redirected(resp.status().as_u16()));
    }
    Ok(resp)
}

/// Reads a response body of at most `limit` bytes.
async fn read_limited(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, FetchError> {
    if resp.content_length().is_some_and(|l| l > limit as u64) {
        return Err(FetchError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(FetchError::Http)? {
        if body.len() + chunk.len() > limit {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// GETs a JSON document (2xx, at most [`MAX_DOCUMENT_BYTES`]) within `timeout`.
pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
    http: &HttpClient,
    url: &str,
    timeout: Duration,
) -> Result<T, FetchError> {
    let req = http
        .0
        .get(url)
        .header(ACCEPT, "application/json")
        .timeout(timeout);
    let resp = send(req).await?;
    if !resp.status().is_success() {
        return Err(FetchError::Status(resp.status().as_u16()));
    }
    let body = read_limited(resp, MAX_DOCUMENT_BYTES).await?;
    Ok(serde_json::from_slice(&body)?)
}

/// POSTs `form` as `application/x-www-form-urlencoded` (with `authorization` when given)
/// within `timeout`; returns the status and at most `limit` bytes of the answer. A redirect
/// is [`FetchError::Redirected`] and was not followed.
pub(crate) async fn post_form(
    http: &HttpClient,
    url: &Url,
    authorization: Option<HeaderValue>,
    form: &[(&str, &str)],
    limit: usize,
    timeout: Duration,
) -> Result<(u16, Vec<u8>), FetchError> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut req = http
        .0
        .post(url.clone())
        .header(ACCEPT, "application/json")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .timeout(timeout)
        .body(body);
    if let Some(value) = authorization {
        req = req.header(AUTHORIZATION, value);
    }
    let resp = send(req).await?;
    let status = resp.status().as_u16();
    Ok((status, read_limited(resp, limit).await?))
}

/// The members of a discovery document this crate reads.
#[derive(Debug, Deserialize)]
pub(crate) struct DiscoveryDocument {
    pub(crate) issuer: String,
    #[serde(default)]
    pub(crate) jwks_uri: Option<String>,
    #[serde(default)]
    pub(crate) authorization_endpoint: Option<String>,
    #[serde(default)]
    pub(crate) token_endpoint: Option<String>,
    #[serde(default)]
    pub(crate) end_session_endpoint: Option<String>,
    #[serde(default)]
    pub(crate) revocation_endpoint: Option<String>,
}

/// What a caller keeps of a discovery document, or why the document is unusable.
pub(crate) type Extract<T> = fn(DiscoveryDocument) -> Result<T, FetchError>;

/// One issuer's discovery document: fetched on demand, checked (`issuer` must be exactly the
/// configured one, OpenID Connect Discovery §4.3), reduced to `T` by `extract`, and cached.
/// Only usable documents are cached. Concurrent callers share one fetch.
pub(crate) struct Discovery<T> {
    url: String,
    issuer: String,
    timeout: Duration,
    /// After this the cached value is refetched on the next [`Discovery::get`]; `None`: kept
    /// until [`Discovery::refetch`].
    max_age: Option<Duration>,
    extract: Extract<T>,
    cached: RwLock<Option<(Arc<T>, Instant)>>,
    fetch_lock: tokio::sync::Mutex<()>,
    fetches: AtomicU64,
}

impl<T> Discovery<T> {
    pub(crate) fn new(
        issuer: &str,
        configured_url: Option<&str>,
        timeout: Duration,
        max_age: Option<Duration>,
        extract: Extract<T>,
    ) -> Self {
        Discovery {
            url: discovery_url(issuer, configured_url),
            issuer: issuer.to_owned(),
            timeout,
            max_age,
            extract,
            cached: RwLock::new(None),
            fetch_lock: tokio::sync::Mutex::new(()),
            fetches: AtomicU64::new(0),
        }
    }

    /// Discovery requests sent so far.
    pub(crate) fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// The cached value of any age.
    pub(crate) fn cached(&self) -> Option<Arc<T>> {
        self.cached_within(None)
    }

    fn cached_within(&self, max_age: Option<Duration>) -> Option<Arc<T>> {
        let guard = self.cached.read().unwrap_or_else(|e| e.into_inner());
        let (value, fetched_at) = guard.as_ref()?;
        if max_age.is_some_and(|m| fetched_at.elapsed() > m) {
            return None;
        }
        Some(value.clone())
    }

    /// The cached value while it is fresh, else a fetch. When that fetch fails and an older
    /// value is cached, the older value is returned (and the next call tries again).
    pub(crate) async fn get(&self, http: &HttpClient) -> Result<Arc<T>, FetchError> {
        if let Some(value) = self.cached_within(self.max_age) {
            return Ok(value);
        }
        let _guard = self.fetch_lock.lock().await;
        if let Some(value) = self.cached_within(self.max_age) {
            return Ok(value);
        }
        match self.fetch(http).await {
            Ok(value) => Ok(value),
            Err(e) => match self.cached() {
                Some(stale) => {
                    tracing::warn!(issuer = %self.issuer, error = %e,
                        "OIDC discovery refresh failed; keeping the cached document");
                    Ok(stale)
                }
                None => Err(e),
            },
        }
    }

    /// Fetches the document again whatever is cached (e.g. when the JWKS it named is gone).
    /// A failure keeps the cached value and is returned.
    pub(crate) async fn refetch(&self, http: &HttpClient) -> Result<Arc<T>, FetchError> {
        let _guard = self.fetch_lock.lock().await;
        self.fetch(http).await
    }

    async fn fetch(&self, http: &HttpClient) -> Result<Arc<T>, FetchError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let doc: DiscoveryDocument = get_json(http, &self.url, self.timeout).await?;
        if doc.issuer != self.issuer {
            return Err(FetchError::IssuerMismatch);
        }
        let value = Arc::new((self.extract)(doc)?);
        *self.cached.write().unwrap_or_else(|e| e.into_inner()) =
            Some((value.clone(), Instant::now()));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_urls() {
        assert_eq!(
            discovery_url("https://idp.example/", None),
            "https://idp.example/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("https://idp.example/tenant/v2.0", None),
            "https://idp.example/tenant/v2.0/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("https://idp.example", Some("https://other/d")),
            "https://other/d"
        );
    }

    #[test]
    fn sanitizing() {
        assert_eq!(
            sanitize("a\r\nb SECRET-1 c\u{1b}[31m", &["SECRET-1", "ab"], 100),
            "ab [redacted] c[31m"
        );
        assert_eq!(sanitize(&"x".repeat(50), &[], 10).len(), 10);
    }
}
