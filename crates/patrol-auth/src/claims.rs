//! Access-token claims and the user-vs-machine classification (`docs/security.md` item 11).

use serde::{Deserialize, Deserializer, Serialize};

use crate::verifier::IssuerConfig;

/// Claims of a validated OIDC access token.
///
/// Deserialisation is lenient about shapes real providers use (`aud` as string or array,
/// `scp` as a space-separated string or an array (Okta), numeric dates as integers or floats),
/// and strict about everything else: a claim of an unexpected type makes the token invalid.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    #[serde(default)]
    pub sub: Option<String>,
    #[serde(default, deserialize_with = "string_or_seq")]
    pub aud: Vec<String>,
    #[serde(default, deserialize_with = "opt_numeric_date")]
    pub exp: Option<i64>,
    #[serde(default, deserialize_with = "opt_numeric_date")]
    pub nbf: Option<i64>,
    #[serde(default, deserialize_with = "opt_numeric_date")]
    pub iat: Option<i64>,
    #[serde(default)]
    pub oid: Option<String>,
    #[serde(default)]
    pub tid: Option<String>,
    /// Delegated scopes, space separated (an array form is joined with spaces).
    #[serde(default, deserialize_with = "opt_space_joined")]
    pub scp: Option<String>,
    #[serde(default, deserialize_with = "opt_string_or_seq")]
    pub roles: Option<Vec<String>>,
    #[serde(default)]
    pub idtyp: Option<String>,
    #[serde(default)]
    pub azp: Option<String>,
    #[serde(default)]
    pub appid: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub preferred_username: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// OpenID Connect's `email_verified`: `true`/`false`, also as the strings `"true"` /
    /// `"false"` (Amazon Cognito). Any other value counts as `false`: not vouched for.
    #[serde(default, deserialize_with = "opt_lenient_bool")]
    pub email_verified: Option<bool>,
    #[serde(default)]
    pub upn: Option<String>,
    #[serde(default, deserialize_with = "opt_string_or_seq")]
    pub amr: Option<Vec<String>>,
    #[serde(default)]
    pub acr: Option<String>,
    #[serde(default)]
    pub gty: Option<String>,
    /// Every other claim, untouched.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Claims {
    /// The OAuth client the token was issued to: `azp`, else `appid` (Entra v1), else `client_id`
    /// (RFC 9068).
    pub fn client_id(&self) -> Option<&str> {
        non_empty(&self.azp)
            .or_else(|| non_empty(&self.appid))
            .or_else(|| non_empty(&self.client_id))
    }

    /// A human-readable name: `name`, else `preferred_username`, else the email address.
    pub fn display_name(&self) -> Option<&str> {
        non_empty(&self.name)
            .or_else(|| non_empty(&self.preferred_username))
            .or_else(|| self.email())
    }

    /// An email address: `email`, else `preferred_username` when it looks like one, else `upn`.
    /// Informational only: users are keyed by `(issuer, subject claim)`, never by email, and
    /// the address is passed to other services only when [`Claims::email_verified_by`] says so.
    pub fn email(&self) -> Option<&str> {
        non_empty(&self.email)
            .or_else(|| non_empty(&self.preferred_username).filter(|u| u.contains('@')))
            .or_else(|| non_empty(&self.upn))
    }

    /// Whether [`Claims::email`] is vouched for, when the issuer does (`issuer_vouches`: it is
    /// configured as verifying every address it issues) or does not.
    ///
    /// `email_verified: false` is never vouched for. `email_verified: true` vouches for the
    /// `email` claim only (OpenID Connect Core §5.1), not for a `preferred_username` or `upn`
    /// standing in for a missing one. Without `email_verified`, only the issuer's word counts.
    pub fn email_verified_by(&self, issuer_vouches: bool) -> bool {
        if self.email().is_none() {
            return false;
        }
        match self.email_verified {
            Some(false) => false,
            Some(true) => issuer_vouches || non_empty(&self.email).is_some(),
            None => issuer_vouches,
        }
    }

    /// Every OAuth client id the token names (`azp`, `appid`, `client_id`; empty values left
    /// out). A client allow-list must accept each of them.
    pub fn client_ids(&self) -> impl Iterator<Item = &str> {
        [&self.azp, &self.appid, &self.client_id]
            .into_iter()
            .filter_map(non_empty)
    }

    /// The delegated scopes as individual values.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scp.as_deref().unwrap_or("").split_whitespace()
    }
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// Whether a token was issued to a human user or to a machine (service principal, managed
/// identity, client-credentials client).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrincipalKind {
    User,
    /// Not a user; the reason is for logs and audit only.
    NonHuman(&'static str),
}

/// Classifies a (validated) token as a user or a non-human principal.
///
/// Non-human when: `idtyp == "app"` (Entra); no delegated `scp` but `roles` present (app-only
/// permissions); `sub` equals the client id (`azp`, `client_id` or `appid`; RFC 9068
/// client-credentials tokens); `gty == "client-credentials"` (Auth0); or `preferred_username`
/// starts with the issuer's configured service-account prefix (Keycloak `service-account-`).
pub fn classify(claims: &Claims, cfg: &IssuerConfig) -> PrincipalKind {
    classify_with(claims, cfg, true)
}

/// [`classify`] for an ID token. ID tokens never carry delegated `scp` while they may carry
/// the user's app `roles` (Entra), so the "roles without `scp`" rule does not apply; every
/// other rule does.
pub fn classify_id_token(claims: &Claims, cfg: &IssuerConfig) -> PrincipalKind {
    classify_with(claims, cfg, false)
}

fn classify_with(claims: &Claims, cfg: &IssuerConfig, access_token: bool) -> PrincipalKind {
    if claims
        .idtyp
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("app"))
    {
        return PrincipalKind::NonHuman("idtyp=app");
    }
    let has_scp = claims.scopes().next().is_some();
    let has_roles = claims.roles.as_ref().is_some_and(|r| !r.is_empty());
    if access_token && !has_scp && has_roles {
        return PrincipalKind::NonHuman("roles without delegated scp");
    }
    if let Some(sub) = non_empty(&claims.sub) {
        let client_ids = [&claims.azp, &claims.client_id, &claims.appid];
        if client_ids.iter().any(|c| non_empty(c) == Some(sub)) {
            return PrincipalKind::NonHuman("sub equals client id");
        }
    }
    if claims.gty.as_deref() == Some("client-credentials") {
        return PrincipalKind::NonHuman("gty=client-credentials");
    }
    if let Some(prefix) = non_empty(&cfg.service_account_username_prefix) {
        if claims
            .preferred_username
            .as_deref()
            .is_some_and(|u| u.starts_with(prefix))
        {
            return PrincipalKind::NonHuman("service-account username");
        }
    }
    PrincipalKind::User
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

fn string_or_seq<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<OneOrMany>::deserialize(d)?
        .map(OneOrMany::into_vec)
        .unwrap_or_default())
}

fn opt_string_or_seq<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    Ok(Option::<OneOrMany>::deserialize(d)?.map(OneOrMany::into_vec))
}

fn opt_space_joined<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<OneOrMany>::deserialize(d)?.map(|v| match v {
        OneOrMany::One(s) => s,
        OneOrMany::Many(v) => v.join(" "),
    }))
}

fn opt_lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Bool(b)) => Some(b),
        Some(serde_json::Value::String(s)) => Some(s.eq_ignore_ascii_case("true")),
        Some(_) => Some(false),
    })
}

fn opt_numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num {
        Int(i64),
        Float(f64),
    }
    match Option::<Num>::deserialize(d)? {
        None => Ok(None),
        Some(Num::Int(i)) => Ok(Some(i)),
        Some(Num::Float(f)) if f.is_finite() && f.abs() < 1e15 => Ok(Some(f.trunc() as i64)),
        Some(Num::Float(_)) => Err(serde::de::Error::custom("numeric date out of range")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(prefix: Option<&str>) -> IssuerConfig {
        IssuerConfig {
            issuer: "https://idp.example".into(),
            discovery_url: None,
            audiences: vec!["api".into()],
            algorithms: vec!["RS256".into()],
            leeway_secs: 60,
            required_typ: None,
            tenant_id: None,
            service_account_username_prefix: prefix.map(str::to_owned),
            subject_claim: None,
            emails_verified: None,
            allowed_client_ids: None,
        }
    }

    fn claims(v: serde_json::Value) -> Claims {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn classify_fixtures() {
        let keycloak = cfg(Some("service-account-"));
        let plain = cfg(None);
        let cases: Vec<(&str, serde_json::Value, &IssuerConfig, PrincipalKind)> = vec![
            (
                "entra user",
                json!({"iss":"i","sub":"s1","oid":"o1","idtyp":"user","scp":"vso.pats","azp":"cli"}),
                &keycloak,
                PrincipalKind::User,
            ),
            (
                "entra app idtyp",
                json!({"iss":"i","sub":"o2","oid":"o2","idtyp":"app","roles":["x"],"azp":"c2"}),
                &keycloak,
                PrincipalKind::NonHuman("idtyp=app"),
            ),
            (
                "entra app without idtyp: roles, no scp",
                json!({"iss":"i","sub":"o3","oid":"o3","roles":["Patrol.Read"],"azp":"c3"}),
                &keycloak,
                PrincipalKind::NonHuman("roles without delegated scp"),
            ),
            (
                "RFC 9068 client credentials: sub == client_id",
                json!({"iss":"i","sub":"robot","client_id":"robot","scp":"vso.pats"}),
                &keycloak,
                PrincipalKind::NonHuman("sub equals client id"),
            ),
            (
                "sub == azp",
                json!({"iss":"i","sub":"ci-robot","azp":"ci-robot","scope":"x"}),
                &keycloak,
                PrincipalKind::NonHuman("sub equals client id"),
            ),
            (
                "entra v1 sub == appid",
                json!({"iss":"i","sub":"a1","appid":"a1","scp":"user_impersonation"}),
                &keycloak,
                PrincipalKind::NonHuman("sub equals client id"),
            ),
            (
                "auth0 client credentials",
                json!({"iss":"i","sub":"abc@clients","azp":"abc","gty":"client-credentials"}),
                &keycloak,
                PrincipalKind::NonHuman("gty=client-credentials"),
            ),
            (
                "keycloak service account",
                json!({"iss":"i","sub":"u-123","azp":"svc","preferred_username":"service-account-svc"}),
                &keycloak,
                PrincipalKind::NonHuman("service-account username"),
            ),
            (
                "keycloak prefix not configured -> user",
                json!({"iss":"i","sub":"u-123","azp":"svc","preferred_username":"service-account-svc"}),
                &plain,
                PrincipalKind::User,
            ),
            (
                "user with roles and scp",
                json!({"iss":"i","sub":"u","scp":"vso.pats","roles":["Admin"]}),
                &keycloak,
                PrincipalKind::User,
            ),
        ];
        for (name, v, c, want) in cases {
            assert_eq!(classify(&claims(v), c), want, "{name}");
        }
    }

    #[test]
    fn lenient_shapes() {
        let c = claims(json!({
            "iss":"i","aud":"one","exp":1.7e9,"scp":["a","b"],"roles":"r","amr":["pwd","mfa"],
            "preferred_username":"alice@example.com","custom":{"x":1}
        }));
        assert_eq!(c.aud, vec!["one"]);
        assert_eq!(c.exp, Some(1_700_000_000));
        assert_eq!(c.scp.as_deref(), Some("a b"));
        assert_eq!(c.scopes().collect::<Vec<_>>(), vec!["a", "b"]);
        assert_eq!(c.roles, Some(vec!["r".to_string()]));
        assert_eq!(c.email(), Some("alice@example.com"));
        assert_eq!(c.display_name(), Some("alice@example.com"));
        assert!(c.extra.contains_key("custom"));
        let c = claims(json!({"iss":"i","aud":["a","b"],"appid":"x","upn":"u@x","name":"N"}));
        assert_eq!(c.aud.len(), 2);
        assert_eq!(c.client_id(), Some("x"));
        assert_eq!(c.email(), Some("u@x"));
        assert_eq!(c.display_name(), Some("N"));
        let c = claims(json!({"iss":"i","preferred_username":"bob"}));
        assert_eq!(c.email(), None);
        assert!(serde_json::from_value::<Claims>(json!({"iss":"i","exp":"soon"})).is_err());
        let c = claims(json!({"iss":"i","azp":"a","appid":"","client_id":"c"}));
        assert_eq!(c.client_ids().collect::<Vec<_>>(), vec!["a", "c"]);
        assert_eq!(claims(json!({"iss":"i"})).client_ids().count(), 0);
        assert!(serde_json::from_value::<Claims>(json!({"iss":["a"]})).is_err());
    }

    #[test]
    fn email_is_vouched_for_only_by_email_verified_or_the_issuer() {
        let email = |v: serde_json::Value| claims(v).email_verified_by(false);
        let vouched = |v: serde_json::Value| claims(v).email_verified_by(true);
        // Not vouched for: no email_verified, false, or anything that is not true.
        assert!(!email(json!({"iss":"i","email":"a@x"})));
        assert!(!email(
            json!({"iss":"i","email":"a@x","email_verified":false})
        ));
        assert!(!email(
            json!({"iss":"i","email":"a@x","email_verified":"false"})
        ));
        assert!(!email(json!({"iss":"i","email":"a@x","email_verified":1})));
        assert!(!email(
            json!({"iss":"i","email":"a@x","email_verified":"yes"})
        ));
        // email_verified vouches for `email` itself only, not a stand-in.
        assert!(email(
            json!({"iss":"i","email":"a@x","email_verified":true})
        ));
        assert!(email(
            json!({"iss":"i","email":"a@x","email_verified":"TRUE"})
        ));
        assert!(!email(
            json!({"iss":"i","preferred_username":"a@x","email_verified":true})
        ));
        assert!(!email(json!({"iss":"i","upn":"a@x","email_verified":true})));
        // An issuer that vouches for its emails: every stand-in too, unless the token says false.
        assert!(vouched(json!({"iss":"i","email":"a@x"})));
        assert!(vouched(json!({"iss":"i","upn":"a@x"})));
        assert!(vouched(
            json!({"iss":"i","preferred_username":"a@x","email_verified":true})
        ));
        assert!(!vouched(
            json!({"iss":"i","email":"a@x","email_verified":false})
        ));
        // No address, nothing to vouch for.
        assert!(!vouched(json!({"iss":"i","preferred_username":"bob"})));
        assert!(!email(json!({"iss":"i","email":"","email_verified":true})));
        // null is "not said".
        assert_eq!(
            claims(json!({"iss":"i","email_verified":null})).email_verified,
            None
        );
    }
}
