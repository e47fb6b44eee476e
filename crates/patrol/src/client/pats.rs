//! The PAT Lifecycle API as the command line calls it
//! (docs/ado-wire-contract.md §4), with the server's own wire types.

use patrol_server::http::wire::{
    PagedPatTokens, PatToken, PatTokenCreateRequest, PatTokenError, PatTokenResult,
    PatTokenUpdateRequest,
};
use reqwest::Method;
use serde::de::DeserializeOwned;
use url::Url;
use uuid::Uuid;

use super::conn::{Answer, Client};
use super::failure::{self, Failure};

/// The api-version every request names.
pub const API_VERSION: &str = "7.1-preview.1";
/// Page size of list requests (the API's maximum).
const PAGE: &str = "100";
/// A list longer than this many pages is a server that never says "last page".
const MAX_PAGES: usize = 10_000;

/// `displayFilterOption`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusFilter {
    Active,
    Revoked,
    Expired,
    All,
}

/// `sortByOption`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SortBy {
    Name,
    Expires,
    Status,
}

impl StatusFilter {
    fn wire(self) -> &'static str {
        match self {
            StatusFilter::Active => "active",
            StatusFilter::Revoked => "revoked",
            StatusFilter::Expired => "expired",
            StatusFilter::All => "all",
        }
    }
}

impl SortBy {
    fn wire(self) -> &'static str {
        match self {
            SortBy::Name => "displayName",
            SortBy::Expires => "displayDate",
            SortBy::Status => "status",
        }
    }
}

/// The PAT API through one organization's URL.
pub struct Pats<'a> {
    client: &'a mut Client,
    org: String,
}

fn decode<T: DeserializeOwned>(client: &Client, answer: &Answer) -> Result<T, Failure> {
    serde_json::from_slice(&answer.body).map_err(|e| {
        Failure::refused(format!(
            "the answer of {} is not what a Patrol server sends ({}); is it a Patrol server?",
            client.server,
            failure::sanitize(&e.to_string())
        ))
    })
}

impl<'a> Pats<'a> {
    pub fn new(client: &'a mut Client, org: String) -> Self {
        Pats { client, org }
    }

    pub fn org(&self) -> &str {
        &self.org
    }

    pub fn client(&self) -> &Client {
        self.client
    }

    fn url(&self, regenerate: bool, query: &[(&str, &str)]) -> Url {
        let mut segments = vec![self.org.as_str(), "_apis", "tokens", "pats"];
        if regenerate {
            segments.push("regenerate");
        }
        let mut url = self.client.server.url(&segments);
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("api-version", API_VERSION);
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        url
    }

    /// Sends, then turns any non-2xx answer into a failure.
    async fn call(
        &mut self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, Failure> {
        let answer = self.client.send(method, url, body).await?;
        if !(200..300).contains(&answer.status) {
            return Err(self.client.failure(&answer));
        }
        Ok(answer)
    }

    /// A `PatTokenResult`: the token, or its `patTokenError` in words.
    async fn result(
        &mut self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> Result<PatToken, Failure> {
        let answer = self.call(method, url, body).await?;
        let result: PatTokenResult = decode(self.client, &answer)?;
        match result.pat_token {
            Some(t) if result.pat_token_error == PatTokenError::None => Ok(t),
            _ => {
                // The value as it stood on the wire, for the words and the code.
                let code = serde_json::to_value(result.pat_token_error)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                Err(Failure::refused(failure::pat_token_error(&code)))
            }
        }
    }

    /// Every page of the caller's tokens (all organizations, as the API lists).
    pub async fn list(
        &mut self,
        filter: StatusFilter,
        sort: SortBy,
        ascending: bool,
    ) -> Result<Vec<PatToken>, Failure> {
        let mut out = Vec::new();
        let mut continuation = String::new();
        for _ in 0..MAX_PAGES {
            let ascending = if ascending { "true" } else { "false" };
            let url = self.url(
                false,
                &[
                    ("displayFilterOption", filter.wire()),
                    ("sortByOption", sort.wire()),
                    ("isSortAscending", ascending),
                    ("$top", PAGE),
                    ("continuationToken", &continuation),
                ],
            );
            let answer = self.call(Method::GET, url, None).await?;
            let page: PagedPatTokens = decode(self.client, &answer)?;
            out.extend(page.pat_tokens);
            if page.continuation_token.is_empty() {
                return Ok(out);
            }
            if page.continuation_token == continuation {
                break;
            }
            continuation = page.continuation_token;
        }
        Err(Failure::refused(format!(
            "{} keeps answering with more pages; giving up",
            self.client.server
        )))
    }

    /// One short list request: does the server take the token, through this
    /// organization? (`patrol login --org`.)
    pub async fn probe(&mut self) -> Result<(), Failure> {
        let url = self.url(false, &[("$top", "1")]);
        let answer = self.call(Method::GET, url, None).await?;
        decode::<PagedPatTokens>(self.client, &answer).map(|_| ())
    }

    pub async fn get(&mut self, id: Uuid) -> Result<PatToken, Failure> {
        let url = self.url(false, &[("authorizationId", &id.to_string())]);
        self.result(Method::GET, url, None).await
    }

    pub async fn create(&mut self, req: &PatTokenCreateRequest) -> Result<PatToken, Failure> {
        let body = to_json(req)?;
        let url = self.url(false, &[]);
        self.result(Method::POST, url, Some(body)).await
    }

    pub async fn update(&mut self, req: &PatTokenUpdateRequest) -> Result<PatToken, Failure> {
        let body = to_json(req)?;
        let url = self.url(false, &[]);
        self.result(Method::PUT, url, Some(body)).await
    }

    pub async fn regenerate(&mut self, id: Uuid) -> Result<PatToken, Failure> {
        let url = self.url(true, &[("authorizationId", &id.to_string())]);
        self.result(Method::POST, url, None).await
    }

    pub async fn revoke(&mut self, id: Uuid) -> Result<(), Failure> {
        let url = self.url(false, &[("authorizationId", &id.to_string())]);
        self.call(Method::DELETE, url, None).await.map(|_| ())
    }

    /// The organization's id (`instanceId` of its connectionData), to name it
    /// in tables; `None` when the server does not say.
    pub async fn org_id(&mut self) -> Option<Uuid> {
        let url = self
            .client
            .server
            .url(&[self.org.as_str(), "_apis", "connectionData"]);
        let answer = self.client.send(Method::GET, url, None).await.ok()?;
        if answer.status != 200 {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&answer.body).ok()?;
        let id: Uuid = v.get("instanceId")?.as_str()?.parse().ok()?;
        (!id.is_nil()).then_some(id)
    }
}

fn to_json(value: &impl serde::Serialize) -> Result<Vec<u8>, Failure> {
    serde_json::to_vec(value).map_err(|e| Failure::local(format!("encoding the request: {e}")))
}
