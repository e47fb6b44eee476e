//! The connection to a Patrol server: its URL, the access token every
//! request carries (from `PATROL_ACCESS_TOKEN`, or the stored sign-in,
//! refreshed silently when it is due or when the server answers 401), and
//! bounded reads of the answers.
//!
//! Requests never follow redirects (a bearer token is never sent on to
//! another address), and plain http is accepted only for loopback servers.

use std::sync::Arc;
use std::time::Duration;

use patrol_auth::rp::{ClientAuth, RelyingParty, RpConfig, RpError};
use patrol_core::clock::Clock;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use secrecy::ExposeSecret as _;
use url::Url;

use super::creds::{Login, Store};
use super::failure::{self, AuthHint, Failure};

/// Every request and answer must fit in this long.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest answer read from the server.
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;
/// A token this close to its expiry is refreshed before use.
const REFRESH_MARGIN_SECS: i64 = 60;

/// The redirect URI given to the relying party when only refreshing (the
/// token endpoint does not see it).
pub const REFRESH_ONLY_REDIRECT: &str = "http://127.0.0.1/callback";

/// A Patrol server's base URL (`https://patrol.example.com`, maybe with a
/// path prefix), without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server(Url);

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

impl Server {
    /// An absolute https URL, or http on a loopback address; no query, no
    /// fragment, no user name or password.
    pub fn parse(text: &str) -> Result<Server, Failure> {
        let bad = |why: &str| Failure::local(format!("the server URL '{text}' {why}"));
        let url = Url::parse(text.trim()).map_err(|_| bad("is not an absolute URL"))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => {
                return Err(bad(
                    "uses plain http: tokens would cross the network unencrypted (use https; \
                     http is accepted only for 127.0.0.1, ::1 and localhost)",
                ))
            }
            _ => return Err(bad("must start with https://")),
        }
        if !url.has_host() || url.query().is_some() || url.fragment().is_some() {
            return Err(bad("must be a base URL without query or fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("must not contain a user name or password"));
        }
        let mut url = url;
        let path = url.path().trim_end_matches('/').to_owned();
        url.set_path(&path);
        Ok(Server(url))
    }

    /// The URL as the credentials are keyed by.
    pub fn as_str(&self) -> &str {
        self.0.as_str().trim_end_matches('/')
    }

    /// The base URL + the given path segments (each percent-encoded).
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.0.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }
}

impl std::fmt::Display for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An answer's body, at most [`MAX_ANSWER_BYTES`]; a redirect is refused
/// (the token is never sent on to another address).
pub async fn read_bounded(
    server: &Server,
    mut resp: reqwest::Response,
) -> Result<Vec<u8>, Failure> {
    let status = resp.status().as_u16();
    if resp.status().is_redirection() {
        return Err(Failure::refused(format!(
            "the Patrol server {server} answered with a redirect (HTTP {status}); give the URL it really lives at"
        )));
    }
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err(Failure::refused(format!(
                        "the Patrol server {server} sent an answer too large to read"
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                return Err(failure::unreachable(
                    "the Patrol server",
                    server.as_str(),
                    &e,
                ))
            }
        }
    }
}

/// The HTTP client for the Patrol server: no redirects, bounded time.
pub fn http_client() -> Result<reqwest::Client, Failure> {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(HTTP_TIMEOUT)
        .default_headers(headers)
        .user_agent(concat!("patrol-cli/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Failure::local(format!("starting the HTTP client: {e}")))
}

/// The relying party of a command-line sign-in: a public client (PKCE, no
/// secret) of `issuer`.
pub fn relying_party(
    login: &Login,
    redirect_uri: &str,
    clock: Arc<dyn Clock>,
) -> Result<RelyingParty, Failure> {
    let cfg = RpConfig {
        issuer: login.issuer.clone(),
        discovery_url: login.discovery_url.clone(),
        client_id: login.client_id.clone(),
        client_auth: ClientAuth::None,
        redirect_uri: redirect_uri.to_owned(),
        scopes: login.scopes.clone(),
        resource: login.resource.clone(),
        extra_authorize_params: Vec::new(),
    };
    let http = patrol_auth::http_client(HTTP_TIMEOUT)
        .map_err(|e| Failure::local(format!("starting the HTTP client: {e}")))?;
    let rp = RelyingParty::new(cfg, http, clock);
    rp.check_config().map_err(|e| {
        Failure::refused(format!(
            "the server's sign-in settings cannot be used: {}",
            failure::sanitize(&e.to_string())
        ))
    })?;
    Ok(rp)
}

/// An identity-provider failure in words: unreachable (exit 3) or refused (exit 1).
pub fn idp_failure(doing: &str, issuer: &str, e: &RpError) -> Failure {
    let said = failure::sanitize(&e.to_string());
    match e {
        RpError::Unavailable(_) => Failure::Unreachable(format!(
            "cannot reach the identity provider {issuer} {doing}: {said}"
        )),
        _ => Failure::refused(format!(
            "the identity provider {issuer} refused {doing}: {said}"
        )),
    }
}

/// Where the access token comes from.
pub enum Auth {
    /// `PATROL_ACCESS_TOKEN`: used as it is, nothing written to disk.
    Env(String),
    /// The stored sign-in for this server, refreshed when due.
    Stored { store: Store, login: Box<Login> },
    /// A token `patrol login` just received, tried before it is stored.
    Fresh(String),
}

/// An answer of the server, read in full (bounded).
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// A connection to one server with one identity.
pub struct Client {
    http: reqwest::Client,
    pub server: Server,
    auth: Auth,
    clock: Arc<dyn Clock>,
}

impl Client {
    pub fn new(server: Server, auth: Auth, clock: Arc<dyn Clock>) -> Result<Client, Failure> {
        Ok(Client {
            http: http_client()?,
            server,
            auth,
            clock,
        })
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    fn hint(&self) -> (String, String) {
        match &self.auth {
            Auth::Env(_) => (
                "the access token in PATROL_ACCESS_TOKEN".into(),
                "get a fresh one from your identity provider".into(),
            ),
            Auth::Stored { .. } => (
                "the stored sign-in".into(),
                format!("run `patrol login --server {}` again", self.server),
            ),
            Auth::Fresh(_) => (
                "the new sign-in".into(),
                "the server does not trust the issuer it names for the command line \
                 (its [cli] and [[auth.issuers]] settings disagree)"
                    .into(),
            ),
        }
    }

    /// A non-2xx answer as a failure in words.
    pub fn failure(&self, answer: &Answer) -> Failure {
        let (source, remedy) = self.hint();
        failure::from_answer(
            answer.status,
            &answer.headers,
            &answer.body,
            &AuthHint {
                source: &source,
                remedy: &remedy,
            },
        )
    }

    /// Sends a request with the access token; after a 401 a stored sign-in
    /// is refreshed and the request sent once more.
    pub async fn send(
        &mut self,
        method: Method,
        url: Url,
        json: Option<Vec<u8>>,
    ) -> Result<Answer, Failure> {
        let token = self.access_token(false).await?;
        let answer = self
            .send_once(&method, &url, json.as_deref(), &token)
            .await?;
        if answer.status != 401 || !matches!(self.auth, Auth::Stored { .. }) {
            return Ok(answer);
        }
        let fresh = self.access_token(true).await?;
        // Two of our own tokens, no outside party's guess: no timing to leak.
        if fresh == token {
            return Ok(answer);
        }
        self.send_once(&method, &url, json.as_deref(), &fresh).await
    }

    async fn send_once(
        &self,
        method: &Method,
        url: &Url,
        json: Option<&[u8]>,
        token: &str,
    ) -> Result<Answer, Failure> {
        let mut bearer = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            Failure::local("the access token contains characters a header cannot carry")
        })?;
        bearer.set_sensitive(true);
        let mut req = self
            .http
            .request(method.clone(), url.clone())
            .header(AUTHORIZATION, bearer);
        if let Some(body) = json {
            req = req
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| failure::unreachable("the Patrol server", self.server.as_str(), &e))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = read_bounded(&self.server, resp).await?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// The token to send. A stored sign-in is refreshed when it expires within
    /// a minute, or when `after_401` (unless another command already did).
    async fn access_token(&mut self, after_401: bool) -> Result<String, Failure> {
        let now = self.clock.now().timestamp();
        let server = self.server.clone();
        let clock = self.clock.clone();
        match &mut self.auth {
            Auth::Env(token) | Auth::Fresh(token) => Ok(token.clone()),
            Auth::Stored { store, login } => {
                let due = login
                    .expires_at
                    .is_some_and(|at| at - REFRESH_MARGIN_SECS <= now);
                if (due || after_401) && login.refresh_token.is_some() {
                    **login = refresh(store, &server, login, after_401, clock).await?;
                }
                Ok(login.access_token.clone())
            }
        }
    }
}

/// Refreshes the stored sign-in of `server` under the credentials lock. If
/// another command refreshed it meanwhile, its result is used instead.
async fn refresh(
    store: &Store,
    server: &Server,
    used: &Login,
    force: bool,
    clock: Arc<dyn Clock>,
) -> Result<Login, Failure> {
    let _lock = store.lock()?;
    let mut creds = store.load()?;
    let Some(mut login) = creds.logins.get(server.as_str()).cloned() else {
        return Err(Failure::local(format!(
            "signed out of {server} meanwhile; run `patrol login --server {server}`"
        )));
    };
    let now = clock.now().timestamp();
    let due = login
        .expires_at
        .is_some_and(|at| at - REFRESH_MARGIN_SECS <= now);
    // Has another command refreshed it meanwhile? (Our own two tokens, not a guess.)
    if login.access_token != used.access_token && !due {
        return Ok(login);
    }
    if !force && !due {
        return Ok(login);
    }
    let Some(refresh_token) = login.refresh_token.clone() else {
        return Ok(login);
    };
    let rp = relying_party(&login, REFRESH_ONLY_REDIRECT, clock)?;
    let tokens = rp.refresh(&refresh_token).await.map_err(|e| {
        let f = idp_failure("to renew the sign-in", &login.issuer, &e);
        match f {
            Failure::Refused(m) => {
                Failure::Refused(format!("{m}; run `patrol login --server {server}` again"))
            }
            other => other,
        }
    })?;
    login.access_token = tokens.access_token.expose_secret().to_owned();
    login.expires_at = expires_at(tokens.expires_in, &login.access_token, now);
    if let Some(rotated) = tokens.refresh_token {
        login.refresh_token = Some(rotated.expose_secret().to_owned());
    }
    creds
        .logins
        .insert(server.as_str().to_owned(), login.clone());
    store.save(&creds)?;
    Ok(login)
}

/// When an access token expires: `now + expires_in`, else the JWT's `exp`
/// (read, not verified: only to know when to refresh), else unknown.
pub fn expires_at(expires_in: Option<u64>, access_token: &str, now: i64) -> Option<i64> {
    if let Some(secs) = expires_in {
        return Some(now.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX)));
    }
    use base64::Engine as _;
    let payload = access_token.split('.').nth(1)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&raw).ok()?;
    claims.get("exp")?.as_i64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls() {
        let s = Server::parse("https://patrol.example.com/").unwrap();
        assert_eq!(s.as_str(), "https://patrol.example.com");
        assert_eq!(
            s.url(&["fab rikam", "_apis", "tokens", "pats"]).as_str(),
            "https://patrol.example.com/fab%20rikam/_apis/tokens/pats"
        );
        let prefixed = Server::parse("https://example.com/patrol/").unwrap();
        assert_eq!(prefixed.as_str(), "https://example.com/patrol");
        assert_eq!(
            prefixed.url(&["patrol", "v1", "cli-config"]).as_str(),
            "https://example.com/patrol/patrol/v1/cli-config"
        );
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:9",
        ] {
            assert!(Server::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://patrol.example.com",
            "ftp://patrol.example.com",
            "patrol.example.com",
            "https://patrol.example.com/?x=1",
            "https://u:p@patrol.example.com",
            "https://patrol.example.com/#f",
        ] {
            let e = Server::parse(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
        }
        assert!(Server::parse("http://patrol.example.com")
            .unwrap_err()
            .to_string()
            .contains("plain http"));
    }

    #[test]
    fn expiry_from_the_answer_or_the_token() {
        assert_eq!(expires_at(Some(3600), "opaque", 1000), Some(4600));
        use base64::Engine as _;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"exp":1234}"#);
        assert_eq!(
            expires_at(None, &format!("h.{payload}.s"), 1000),
            Some(1234)
        );
        assert_eq!(expires_at(None, "opaque", 1000), None);
        assert_eq!(expires_at(None, "a.!!.c", 1000), None);
    }
}
