//! The relying party's configuration and its static checks.

use url::Url;

use super::{ClientAuth, RpError};
use crate::fetch::discovery_url;

/// Authorization parameters set by [`super::RelyingParty::authorization_url`] that
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
    /// Static checks of the configuration.
    pub fn validate(&self) -> Result<(), RpError> {
        let issuer =
            Url::parse(&self.issuer).map_err(|_| RpError::Invalid("issuer is not a URL"))?;
        if !matches!(issuer.scheme(), "https" | "http") {
            return Err(RpError::Invalid("issuer must be an http(s) URL"));
        }
        if Url::parse(&discovery_url(&self.issuer, self.discovery_url.as_deref())).is_err() {
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

    /// The scopes as sent: single spaces.
    pub(crate) fn normalized_scopes(&self) -> String {
        self.scopes.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use patrol_core::clock::SystemClock;
    use secrecy::SecretString;

    use super::*;
    use crate::rp::RelyingParty;

    fn cfg() -> RpConfig {
        RpConfig {
            issuer: "https://idp.example".into(),
            discovery_url: None,
            client_id: "c".into(),
            client_auth: ClientAuth::SecretPost(SecretString::from("shh-secret")),
            redirect_uri: "https://patrol.example/ui/callback".into(),
            scopes: "openid  profile".into(),
            resource: None,
            extra_authorize_params: vec![("prompt".into(), "consent".into())],
        }
    }

    #[test]
    fn config_validation() {
        assert!(cfg().validate().is_ok());
        assert_eq!(cfg().normalized_scopes(), "openid profile");
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
                discovery_url: Some("not a url".into()),
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
        let http = crate::http_client(std::time::Duration::from_secs(1)).unwrap();
        for c in bad {
            assert!(matches!(c.validate(), Err(RpError::Invalid(_))), "{c:?}");
            let rp = RelyingParty::new(c, http.clone(), Arc::new(SystemClock));
            assert!(rp.check_config().is_err());
        }
    }
}
