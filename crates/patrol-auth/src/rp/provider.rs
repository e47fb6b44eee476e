//! The provider's endpoints, from its discovery document.

use url::Url;

use crate::fetch::{DiscoveryDocument, FetchError};

/// The endpoints the relying party uses, from the provider's discovery document.
#[derive(Clone, Debug)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    pub end_session_endpoint: Option<Url>,
    pub revocation_endpoint: Option<Url>,
}

impl ProviderMetadata {
    /// The endpoints of a discovery document (whose `issuer` was already checked). Endpoints
    /// must be https, or http when the issuer itself is http (development).
    pub(crate) fn from_document(doc: DiscoveryDocument) -> Result<Self, FetchError> {
        let allow_http = doc.issuer.starts_with("http://");
        let endpoint = |name: &'static str, value: Option<&str>| {
            value
                .and_then(|v| endpoint_url(v, allow_http))
                .ok_or(FetchError::BadEndpoint(name))
        };
        let optional =
            |name: &'static str, value: Option<&str>| match value.filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => endpoint(name, Some(v)).map(Some),
            };
        Ok(ProviderMetadata {
            authorization_endpoint: endpoint(
                "authorization_endpoint",
                doc.authorization_endpoint.as_deref(),
            )?,
            token_endpoint: endpoint("token_endpoint", doc.token_endpoint.as_deref())?,
            end_session_endpoint: optional(
                "end_session_endpoint",
                doc.end_session_endpoint.as_deref(),
            )?,
            revocation_endpoint: optional(
                "revocation_endpoint",
                doc.revocation_endpoint.as_deref(),
            )?,
            issuer: doc.issuer,
        })
    }
}

/// An absolute https URL (http too when `allow_http`) with a host and no fragment.
fn endpoint_url(value: &str, allow_http: bool) -> Option<Url> {
    let url = Url::parse(value).ok()?;
    let scheme_ok = url.scheme() == "https" || (allow_http && url.scheme() == "http");
    (scheme_ok && url.fragment().is_none() && url.has_host()).then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_rules() {
        assert!(endpoint_url("https://idp/token", false).is_some());
        assert!(endpoint_url("http://idp/token", false).is_none());
        assert!(endpoint_url("http://idp/token", true).is_some());
        assert!(endpoint_url("https://idp/token#x", false).is_none());
        assert!(endpoint_url("javascript:alert(1)", true).is_none());
        assert!(endpoint_url("/token", true).is_none());
    }

    #[test]
    fn metadata_from_documents() {
        let doc = |issuer: &str, token: &str, revoke: Option<&str>| DiscoveryDocument {
            issuer: issuer.into(),
            jwks_uri: None,
            authorization_endpoint: Some(format!("{issuer}/authorize?tenant=t1")),
            token_endpoint: Some(token.into()),
            end_session_endpoint: Some(String::new()),
            revocation_endpoint: revoke.map(str::to_owned),
        };
        let m = ProviderMetadata::from_document(doc(
            "https://idp",
            "https://idp/token",
            Some("https://idp/revoke"),
        ))
        .unwrap();
        assert_eq!(m.authorization_endpoint.query(), Some("tenant=t1"));
        assert_eq!(m.token_endpoint.as_str(), "https://idp/token");
        assert!(m.end_session_endpoint.is_none(), "empty means absent");
        assert!(m.revocation_endpoint.is_some());
        // http endpoints only for an http issuer.
        assert!(ProviderMetadata::from_document(doc("http://idp", "http://idp/t", None)).is_ok());
        for (d, what) in [
            (
                doc("https://idp", "http://idp/token", None),
                "token_endpoint",
            ),
            (
                doc("https://idp", "https://idp/token", Some("/revoke")),
                "revocation_endpoint",
            ),
        ] {
            match ProviderMetadata::from_document(d) {
                Err(FetchError::BadEndpoint(name)) => assert_eq!(name, what),
                other => panic!("{what}: {other:?}"),
            }
        }
        let mut missing = doc("https://idp", "https://idp/token", None);
        missing.token_endpoint = None;
        assert!(ProviderMetadata::from_document(missing).is_err());
    }
}
