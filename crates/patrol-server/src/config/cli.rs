//! `[cli]`: the sign-in the `patrol` command line is told to use
//! (`GET /patrol/v1/cli-config`). The command line is a public client: it
//! signs in with authorization code + PKCE through a loopback redirect
//! (RFC 8252), so there is no secret here.

use serde::{Deserialize, Serialize};

use patrol_auth::verifier::IssuerConfig;

use super::settings::invalid;
use super::ConfigError;

/// `[cli]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CliSection {
    pub enabled: bool,
    /// The issuer `patrol login` signs in with; it must also be one of
    /// `[[auth.issuers]]`, whose rules check the access tokens it returns.
    pub issuer: Option<String>,
    pub discovery_url: Option<String>,
    /// The public client registered for the command line (no secret; its
    /// redirect URIs are `http://127.0.0.1:<any port>/callback`).
    pub client_id: Option<String>,
    pub scopes: String,
    /// RFC 8707 resource indicator sent on authorize and token requests.
    pub resource: Option<String>,
}

impl Default for CliSection {
    fn default() -> Self {
        Self {
            enabled: false,
            issuer: None,
            discovery_url: None,
            client_id: None,
            scopes: "openid profile offline_access vso.pats vso.pats_manage".into(),
            resource: None,
        }
    }
}

/// What `GET /patrol/v1/cli-config` answers: where and how the command line
/// signs in. Public information, like an OIDC discovery document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CliLogin {
    /// The issuer (its discovery document is `discovery_url`, or the issuer +
    /// `/.well-known/openid-configuration`).
    pub issuer: String,
    pub discovery_url: Option<String>,
    /// The public client the command line signs in as.
    pub client_id: String,
    /// Space-separated scopes to request.
    pub scopes: String,
    /// RFC 8707 resource indicator, when the issuer needs one.
    pub resource: Option<String>,
}

impl CliSection {
    /// `None` unless enabled; then every key is checked.
    pub(super) fn resolve(
        &self,
        issuers: &[IssuerConfig],
    ) -> Result<Option<CliLogin>, ConfigError> {
        if !self.enabled {
            return Ok(None);
        }
        let Some(issuer) = self.issuer.as_deref().filter(|i| !i.is_empty()) else {
            return Err(invalid("cli.issuer", "cli.enabled needs cli.issuer"));
        };
        if !issuers.iter().any(|i| i.issuer == issuer) {
            return Err(invalid(
                "cli.issuer",
                format!("'{issuer}' must also be configured in [[auth.issuers]]"),
            ));
        }
        let client_id = match self.client_id.as_deref() {
            Some(id) if !id.trim().is_empty() => id.to_owned(),
            _ => return Err(invalid("cli.client_id", "cli.enabled needs cli.client_id")),
        };
        for (key, value) in [
            ("cli.issuer", Some(issuer)),
            ("cli.discovery_url", self.discovery_url.as_deref()),
        ] {
            if let Some(v) = value {
                let ok = url::Url::parse(v)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
                if !ok {
                    return Err(invalid(key, format!("'{v}' is not an http(s) URL")));
                }
            }
        }
        if !self.scopes.split_whitespace().any(|s| s == "openid") {
            return Err(invalid("cli.scopes", "must include openid"));
        }
        if self
            .resource
            .as_deref()
            .is_some_and(|r| r.is_empty() || r.chars().any(char::is_whitespace))
        {
            return Err(invalid("cli.resource", "must be a non-empty URI"));
        }
        Ok(Some(CliLogin {
            issuer: issuer.to_owned(),
            discovery_url: self.discovery_url.clone(),
            client_id,
            scopes: self.scopes.split_whitespace().collect::<Vec<_>>().join(" "),
            resource: self.resource.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    use super::*;

    fn resolve(cli: &str) -> Result<Option<CliLogin>, String> {
        let text = format!(
            "[[auth.issuers]]\nissuer = \"https://idp.test\"\naudiences = [\"api\"]\n[cli]\n{cli}\n"
        );
        let cfg: Config = toml::from_str(&text).map_err(|e| e.to_string())?;
        cfg.cli
            .resolve(&cfg.auth.issuers)
            .map_err(|e| e.to_string())
    }

    const OK: &str = "enabled = true\nissuer = \"https://idp.test\"\nclient_id = \"patrol-cli\"";

    #[test]
    fn an_enabled_section_becomes_the_discovery_document() {
        let login = resolve(OK).unwrap().unwrap();
        assert_eq!(login.issuer, "https://idp.test");
        assert_eq!(login.client_id, "patrol-cli");
        assert_eq!(
            login.scopes,
            "openid profile offline_access vso.pats vso.pats_manage"
        );
        assert_eq!(login.resource, None);
        let json = serde_json::to_value(&login).unwrap();
        assert_eq!(json["client_id"], "patrol-cli");
        assert!(json["resource"].is_null());
        let with = resolve(&format!(
            "{OK}\nscopes = \"openid  offline_access api://patrol/.default\"\nresource = \"api://patrol\""
        ))
        .unwrap()
        .unwrap();
        assert_eq!(with.scopes, "openid offline_access api://patrol/.default");
        assert_eq!(with.resource.as_deref(), Some("api://patrol"));
        // Off by default, and then nothing else is required.
        assert_eq!(resolve("").unwrap(), None);
        assert_eq!(resolve("client_id = \"x\"").unwrap(), None);
    }

    #[test]
    fn section_rules_name_the_key() {
        for (cli, key) in [
            ("enabled = true", "cli.issuer"),
            (
                "enabled = true\nissuer = \"https://other.test\"\nclient_id = \"c\"",
                "cli.issuer",
            ),
            (
                "enabled = true\nissuer = \"https://idp.test\"",
                "cli.client_id",
            ),
            (&format!("{OK}\nscopes = \"profile\""), "cli.scopes"),
            (&format!("{OK}\nresource = \"\""), "cli.resource"),
            (
                &format!("{OK}\ndiscovery_url = \"nope\""),
                "cli.discovery_url",
            ),
        ] {
            let e = resolve(cli).unwrap_err();
            assert!(e.starts_with(key), "{cli}: {e}");
        }
        assert!(resolve("secret = \"x\"").unwrap_err().contains("secret"));
    }
}
