//! `[web]`: the web page's OIDC sign-in client and sessions, and its
//! resolution into the relying party's configuration.

use std::path::PathBuf;

use chrono::Duration;
use serde::Deserialize;

use patrol_auth::rp::{ClientAuth, ClientKey, RpConfig};
use patrol_auth::verifier::IssuerConfig;

use super::secrets::SecretSource;
use super::settings::{between, invalid};
use super::{ConfigError, Env};

/// How Patrol authenticates to the issuer at its token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WebClientAuth {
    /// A public client (PKCE only).
    None,
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
    /// RFC 7523 client assertion signed with `private_key_file`.
    PrivateKeyJwt,
}

/// The web page: OIDC sign-in (authorization code + PKCE) and sessions.
/// `patrol dev` turns it on by itself against the built-in issuer.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebSection {
    pub enabled: bool,
    /// The issuer users sign in with; it must also be one of `[[auth.issuers]]`,
    /// whose rules the access token is checked against, as on the API.
    pub issuer: Option<String>,
    pub discovery_url: Option<String>,
    pub client_id: Option<String>,
    pub client_auth: WebClientAuth,
    /// For `client_secret_basic` / `client_secret_post`.
    pub client_secret: Option<SecretSource>,
    /// PEM private key (RSA or EC P-256) for `private_key_jwt`.
    pub private_key_file: Option<PathBuf>,
    /// `kid` put in the client assertion's header.
    pub private_key_id: Option<String>,
    /// The key's X.509 certificate (PEM), as registered with the provider:
    /// assertions then name it by thumbprint (`x5t`, `x5t#S256`), which is
    /// how Microsoft Entra finds certificate credentials.
    pub private_key_certificate_file: Option<PathBuf>,
    pub scopes: String,
    /// RFC 8707 resource indicator sent on authorize and token requests.
    pub resource: Option<String>,
    /// Absolute session lifetime: no refresh extends it.
    pub session_max_hours: u32,
    /// A session unused this long ends.
    pub session_idle_minutes: u32,
}

impl Default for WebSection {
    fn default() -> Self {
        Self {
            enabled: false,
            issuer: None,
            discovery_url: None,
            client_id: None,
            client_auth: WebClientAuth::default(),
            client_secret: None,
            private_key_file: None,
            private_key_id: None,
            private_key_certificate_file: None,
            scopes: "openid profile email offline_access vso.pats vso.pats_manage".into(),
            resource: None,
            session_max_hours: 12,
            session_idle_minutes: 60,
        }
    }
}

/// The web page's runtime settings.
#[derive(Debug)]
pub struct WebSettings {
    /// The configured sign-in client (`[web] enabled`). `patrol dev` signs
    /// in with its built-in issuer instead (see `dev::web_client`).
    pub client: Option<WebClient>,
    /// Scopes requested at sign-in (by `patrol dev`'s client too).
    pub scopes: String,
    /// Absolute session lifetime.
    pub session_max: Duration,
    /// A session unused this long ends.
    pub session_idle: Duration,
}

/// A sign-in client: the relying party's configuration and the public URL
/// its redirect URI lives under.
#[derive(Debug)]
pub struct WebClient {
    pub rp: RpConfig,
    /// The externally visible base URL (`scheme://host[:port]`).
    pub public_url: String,
}

impl WebClient {
    /// A client whose redirect URI is `public_url` + `/signin/callback`.
    pub fn new(mut rp: RpConfig, public_url: String) -> Self {
        rp.redirect_uri = format!("{}/signin/callback", public_url.trim_end_matches('/'));
        Self { rp, public_url }
    }
}

impl WebSection {
    /// Check the section and, when enabled, build the sign-in client:
    /// its credential is read here, once.
    pub(super) fn resolve(
        &self,
        public_url: Option<&url::Url>,
        issuers: &[IssuerConfig],
        env: &Env,
    ) -> Result<WebSettings, ConfigError> {
        let hours = between("web.session_max_hours", self.session_max_hours, 1, 24 * 90)?;
        let idle = between(
            "web.session_idle_minutes",
            self.session_idle_minutes,
            1,
            60 * 24 * 90,
        )?;
        if !self.scopes.split_whitespace().any(|s| s == "openid") {
            return Err(invalid("web.scopes", "must include openid"));
        }
        Ok(WebSettings {
            client: if self.enabled {
                Some(self.client(public_url, issuers, env)?)
            } else {
                None
            },
            scopes: self.scopes.clone(),
            session_max: Duration::hours(i64::from(hours)),
            session_idle: Duration::minutes(i64::from(idle)),
        })
    }

    fn client(
        &self,
        public_url: Option<&url::Url>,
        issuers: &[IssuerConfig],
        env: &Env,
    ) -> Result<WebClient, ConfigError> {
        let Some(issuer) = &self.issuer else {
            return Err(invalid("web.issuer", "web.enabled needs web.issuer"));
        };
        let Some(trusted) = issuers.iter().find(|i| &i.issuer == issuer) else {
            return Err(invalid(
                "web.issuer",
                format!("'{issuer}' must also be configured in [[auth.issuers]]"),
            ));
        };
        let client_id = match self.client_id.as_deref() {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => return Err(invalid("web.client_id", "web.enabled needs web.client_id")),
        };
        // The web page's access tokens are issued to its own client: an
        // allow-list without it would refuse every browser sign-in.
        if let Some(allowed) = &trusted.allowed_client_ids {
            if !allowed.contains(&client_id) {
                return Err(invalid(
                    "web.client_id",
                    format!("'{client_id}' must be in allowed_client_ids of the issuer '{issuer}'"),
                ));
            }
        }
        let Some(public) = public_url else {
            return Err(invalid(
                "server.public_url",
                "web.enabled needs server.public_url (https://…), the base of the redirect URI",
            ));
        };
        let loopback = match public.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        if public.scheme() != "https" && !loopback {
            return Err(invalid(
                "server.public_url",
                "web.enabled needs an https server.public_url (plain http only on localhost)",
            ));
        }
        let rp = RpConfig {
            issuer: issuer.clone(),
            discovery_url: self.discovery_url.clone(),
            client_id,
            client_auth: self.client_auth(env)?,
            redirect_uri: String::new(),
            scopes: self.scopes.clone(),
            resource: self.resource.clone(),
            extra_authorize_params: Vec::new(),
        };
        let client = WebClient::new(rp, public.as_str().to_owned());
        client
            .rp
            .validate()
            .map_err(|e| invalid("web", format!("sign-in client: {e}")))?;
        Ok(client)
    }

    fn client_auth(&self, env: &Env) -> Result<ClientAuth, ConfigError> {
        if self.private_key_certificate_file.is_some()
            && self.client_auth != WebClientAuth::PrivateKeyJwt
        {
            return Err(invalid(
                "web.private_key_certificate_file",
                "only used with client_auth = private_key_jwt",
            ));
        }
        let secret = |auth: &str| {
            self.client_secret
                .as_ref()
                .ok_or_else(|| {
                    invalid(
                        "web.client_secret",
                        format!(
                            "client_auth = {auth} needs web.client_secret = {{ env = \"…\" }} or {{ file = \"…\" }}"
                        ),
                    )
                })?
                .read(env, "web.client_secret")
        };
        Ok(match self.client_auth {
            WebClientAuth::None => {
                if self.client_secret.is_some() || self.private_key_file.is_some() {
                    return Err(invalid(
                        "web.client_auth",
                        "client_auth = none takes no secret or key",
                    ));
                }
                ClientAuth::None
            }
            WebClientAuth::ClientSecretBasic => {
                ClientAuth::SecretBasic(secret("client_secret_basic")?)
            }
            WebClientAuth::ClientSecretPost => {
                ClientAuth::SecretPost(secret("client_secret_post")?)
            }
            WebClientAuth::PrivateKeyJwt => {
                if self.private_key_file.is_none() {
                    return Err(invalid(
                        "web.private_key_file",
                        "client_auth = private_key_jwt needs web.private_key_file",
                    ));
                }
                if self.client_secret.is_some() {
                    return Err(invalid(
                        "web.client_secret",
                        "a client secret is not used with private_key_jwt; remove it",
                    ));
                }
                ClientAuth::PrivateKeyJwt(self.client_key()?)
            }
        })
    }

    fn client_key(&self) -> Result<ClientKey, ConfigError> {
        let read = |key: &str, path: &PathBuf| {
            std::fs::read(path).map_err(|e| ConfigError::Secret {
                what: key.to_owned(),
                message: format!("reading {}: {e}", path.display()),
            })
        };
        let Some(path) = &self.private_key_file else {
            return Err(invalid(
                "web.private_key_file",
                "client_auth = private_key_jwt needs web.private_key_file",
            ));
        };
        let pem = read("web.private_key_file", path)?;
        let key = ClientKey::from_pem(&pem, self.private_key_id.clone())
            .map_err(|e| invalid("web.private_key_file", e.to_string()))?;
        match &self.private_key_certificate_file {
            None => Ok(key),
            Some(cert) => {
                let pem = read("web.private_key_certificate_file", cert)?;
                key.with_certificate(&pem)
                    .map_err(|e| invalid("web.private_key_certificate_file", e.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    use super::*;

    fn env() -> Env {
        [("X", "s3cret-from-env")].into_iter().collect()
    }

    fn resolve(server: &str, web: &str) -> Result<WebSettings, String> {
        resolve_with_issuer("", server, web)
    }

    /// With `issuer` added to the `[[auth.issuers]]` block of the web's issuer.
    fn resolve_with_issuer(issuer: &str, server: &str, web: &str) -> Result<WebSettings, String> {
        let text = format!(
            "[server]\n{server}\n[[auth.issuers]]\nissuer = \"https://idp.test\"\naudiences = [\"api\"]\n{issuer}\n[web]\n{web}\n"
        );
        let mut cfg: Config = toml::from_str(&text).map_err(|e| e.to_string())?;
        cfg.keys.server_keys.clear();
        let public = cfg
            .server
            .public_url
            .as_deref()
            .map(|u| url::Url::parse(u).unwrap());
        cfg.web
            .resolve(public.as_ref(), &cfg.auth.issuers, &env())
            .map_err(|e| e.to_string())
    }

    const OK: &str = "enabled = true\nissuer = \"https://idp.test\"\nclient_id = \"web\"\nclient_secret = { env = \"X\" }";
    const HTTPS: &str = "public_url = \"https://patrol.test\"";

    #[test]
    fn an_enabled_client_is_built_once_with_its_secret() {
        let w = resolve(HTTPS, OK).unwrap();
        let client = w.client.unwrap();
        assert_eq!(
            client.rp.redirect_uri,
            "https://patrol.test/signin/callback"
        );
        assert_eq!(client.rp.client_id, "web");
        assert!(matches!(client.rp.client_auth, ClientAuth::SecretBasic(_)));
        assert_eq!(w.session_max, Duration::hours(12));
        assert_eq!(w.session_idle, Duration::minutes(60));
        let post = resolve(
            HTTPS,
            &format!("{OK}\nclient_auth = \"client_secret_post\""),
        )
        .unwrap();
        assert!(matches!(
            post.client.unwrap().rp.client_auth,
            ClientAuth::SecretPost(_)
        ));
        // Disabled: nothing else is required, and no client is built.
        assert!(resolve("", "enabled = false").unwrap().client.is_none());
    }

    #[test]
    fn section_rules() {
        let err = |server: &str, web: &str| resolve(server, web).unwrap_err();
        assert!(err("", OK).contains("public_url"));
        assert!(err("public_url = \"http://patrol.test\"", OK).contains("https"));
        resolve("public_url = \"http://127.0.0.1:8080\"", OK).unwrap();
        resolve("public_url = \"http://localhost:8080\"", OK).unwrap();
        assert!(
            err(HTTPS, &OK.replace("https://idp.test", "https://other.test"))
                .contains("[[auth.issuers]]")
        );
        assert!(
            err(HTTPS, &format!("{OK}\nclient_auth = \"private_key_jwt\""))
                .contains("private_key_file")
        );
        assert!(
            err(HTTPS, &OK.replace("client_secret = { env = \"X\" }", ""))
                .contains("client_secret")
        );
        assert!(err(HTTPS, &OK.replace("\"X\"", "\"UNSET_VARIABLE\"")).contains("UNSET_VARIABLE"));
        assert!(err(HTTPS, &format!("{OK}\nscopes = \"profile\"")).contains("openid"));
        assert!(err(
            HTTPS,
            &format!("{OK}\nprivate_key_certificate_file = \"/c.pem\"")
        )
        .contains("only used with"));
        assert!(err(HTTPS, &format!("{OK}\nclient_auth = \"none\"")).contains("no secret"));
        assert!(err(
            HTTPS,
            &OK.replace("client_id = \"web\"", "client_id = \"\"")
        )
        .contains("client_id"));
        // A literal secret is refused: secrets come from env or files.
        assert!(err(HTTPS, &OK.replace("{ env = \"X\" }", "\"s3cret\"")).contains("never written"));
    }

    /// The web page's own client must be on its issuer's client allow-list,
    /// or every browser sign-in would be refused.
    #[test]
    fn the_web_client_is_on_its_issuers_allow_list() {
        let e = resolve_with_issuer("allowed_client_ids = [\"cli\"]", HTTPS, OK).unwrap_err();
        assert!(
            e.starts_with("web.client_id") && e.contains("allowed_client_ids"),
            "{e}"
        );
        resolve_with_issuer("allowed_client_ids = [\"cli\", \"web\"]", HTTPS, OK).unwrap();
        // Disabled, the page's client does not matter.
        resolve_with_issuer("allowed_client_ids = [\"cli\"]", "", "enabled = false").unwrap();
    }

    #[test]
    fn session_lengths_are_bounded() {
        let err = |web: &str| resolve("", web).unwrap_err();
        assert!(err("session_max_hours = 0").contains("web.session_max_hours"));
        assert!(err("session_max_hours = 2161").contains("between 1 and 2160"));
        assert!(err("session_idle_minutes = 0").contains("web.session_idle_minutes"));
        // Far past what chrono could hold in minutes-as-i64 arithmetic later.
        assert!(err("session_idle_minutes = 4294967295").contains("web.session_idle_minutes"));
        assert!(err("session_max_hours = -1").contains("session_max_hours"));
    }

    #[test]
    fn the_client_secret_never_shows_in_debug_output() {
        let w = resolve(HTTPS, OK).unwrap();
        assert!(!format!("{w:?}").contains("s3cret-from-env"));
        let cfg: Config = toml::from_str(&format!("[web]\n{OK}")).unwrap();
        assert!(!format!("{cfg:?}").contains("s3cret-from-env"));
    }
}
