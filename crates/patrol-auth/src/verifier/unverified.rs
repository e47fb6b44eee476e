//! What [`super::OidcVerifier`] reads from a JWT before it touches a key: the size bound, the
//! compact shape, the header, the unverified `iss` that picks the issuer, and the header rules
//! of that issuer. Pure functions (no keys, no I/O, no clock), so they can be tested and fuzzed
//! on their own (`fuzz/fuzz_targets/jwt.rs`).
//!
//! Nothing here makes a token trustworthy: [`inspect_access_token`] only tells what the
//! verifier would decide *before* checking the signature, expiry and audience.

use jsonwebtoken::{Algorithm, Header};

use super::rules::{reason, typ_matches, unverified_issuer};
use super::{AuthError, IssuerConfig, Purpose, MAX_TOKEN_BYTES};
use crate::claims::{classify, Claims, PrincipalKind};

/// A JWT as read before verification.
#[derive(Clone, Debug)]
pub struct UnverifiedJwt {
    /// The decoded JOSE header.
    pub header: Header,
    /// `iss` of the (unverified) payload: good only for choosing an issuer configuration.
    pub issuer: String,
}

/// The first step of every verification: at most [`MAX_TOKEN_BYTES`], exactly three
/// dot-separated parts, a header jsonwebtoken decodes, and a string `iss` in the payload.
pub fn read_unverified(token: &str) -> Result<UnverifiedJwt, AuthError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::Invalid("token too large"));
    }
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Invalid("not a JWS compact token"));
    };
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| AuthError::Invalid("malformed or unsupported header"))?;
    let issuer = unverified_issuer(payload)?;
    Ok(UnverifiedJwt { header, issuer })
}

/// The header rules of the chosen issuer: an algorithm it is pinned to, the `typ` the purpose
/// asks for (the issuer's `required_typ` for an access token; anything but `at+jwt` for an ID
/// token), no `crit`, and a non-empty `kid`, which is returned.
pub(super) fn check_header<'h>(
    header: &'h Header,
    algorithms: &[Algorithm],
    required_typ: Option<&str>,
    purpose: Purpose<'_>,
) -> Result<&'h str, AuthError> {
    if !algorithms.contains(&header.alg) {
        return Err(AuthError::Invalid("algorithm not allowed"));
    }
    match purpose {
        Purpose::Access => {
            if let Some(required) = required_typ {
                if !typ_matches(header.typ.as_deref(), required) {
                    return Err(AuthError::Invalid("wrong typ"));
                }
            }
        }
        Purpose::IdToken { .. } => {
            if typ_matches(header.typ.as_deref(), "at+jwt") {
                return Err(AuthError::Invalid("access token presented as ID token"));
            }
        }
    }
    if header.crit.is_some() {
        return Err(AuthError::Invalid("unsupported crit header"));
    }
    header
        .kid
        .as_deref()
        .filter(|k| !k.is_empty())
        .ok_or(AuthError::Invalid("missing kid"))
}

/// What [`inspect_access_token`] found.
#[derive(Clone, Debug)]
pub struct Inspection {
    pub header: Header,
    /// The non-empty `kid` the verifier would look up.
    pub kid: String,
    /// The claims, deserialised exactly as after a successful signature check.
    pub claims: Claims,
    /// [`classify`] of the claims under `cfg`.
    pub principal: PrincipalKind,
}

/// Reads an access token the way [`super::OidcVerifier::verify`] does up to the signature check
/// for an issuer configured as `cfg` (steps that need no key): [`read_unverified`], the issuer
/// match, the header rules, then the claims (deserialised with jsonwebtoken as `verify` does)
/// and their classification. **Not a verification**: signature, expiry, audience and tenant
/// are not checked.
pub fn inspect_access_token(token: &str, cfg: &IssuerConfig) -> Result<Inspection, AuthError> {
    let jwt = read_unverified(token)?;
    if jwt.issuer != cfg.issuer {
        return Err(AuthError::Invalid("unknown issuer"));
    }
    let kid = check_header(
        &jwt.header,
        &cfg.pinned_algorithms(),
        cfg.required_typ.as_deref(),
        Purpose::Access,
    )?
    .to_owned();
    let claims = jsonwebtoken::dangerous::insecure_decode::<Claims>(token)
        .map_err(|e| AuthError::Invalid(reason(e.kind())))?
        .claims;
    let principal = classify(&claims, cfg);
    Ok(Inspection {
        header: jwt.header,
        kid,
        claims,
        principal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use serde_json::json;

    fn b64(v: &serde_json::Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn jwt(header: serde_json::Value, claims: serde_json::Value) -> String {
        format!("{}.{}.c2ln", b64(&header), b64(&claims))
    }

    fn cfg() -> IssuerConfig {
        serde_json::from_value(json!({
            "issuer": "https://idp.example",
            "audiences": ["api"],
            "algorithms": ["RS256", "ES256"],
            "required_typ": "at+jwt",
            "service_account_username_prefix": "service-account-",
        }))
        .unwrap()
    }

    fn refusal(token: &str) -> &'static str {
        match inspect_access_token(token, &cfg()) {
            Err(AuthError::Invalid(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    fn header() -> serde_json::Value {
        json!({"alg": "RS256", "typ": "at+jwt", "kid": "k1"})
    }

    #[test]
    fn reads_header_claims_and_principal() {
        let t = jwt(
            header(),
            json!({"iss": "https://idp.example", "sub": "s", "aud": "api", "exp": 1.5e9,
                   "scp": ["vso.pats", "vso.code"], "name": "Ann"}),
        );
        let r = read_unverified(&t).unwrap();
        assert_eq!(r.issuer, "https://idp.example");
        assert_eq!(r.header.alg, Algorithm::RS256);
        let i = inspect_access_token(&t, &cfg()).unwrap();
        assert_eq!(i.kid, "k1");
        assert_eq!(i.claims.exp, Some(1_500_000_000));
        assert_eq!(i.claims.scp.as_deref(), Some("vso.pats vso.code"));
        assert_eq!(i.principal, PrincipalKind::User);

        let robot = jwt(
            header(),
            json!({"iss": "https://idp.example", "sub": "c", "azp": "c"}),
        );
        assert_eq!(
            inspect_access_token(&robot, &cfg()).unwrap().principal,
            PrincipalKind::NonHuman("sub equals client id")
        );
    }

    #[test]
    fn refusals_in_the_verifiers_order() {
        let claims = json!({"iss": "https://idp.example", "sub": "s"});
        let with = |h: serde_json::Value| jwt(h, claims.clone());
        assert_eq!(refusal(&"a".repeat(MAX_TOKEN_BYTES + 1)), "token too large");
        assert_eq!(refusal("a.b"), "not a JWS compact token");
        assert_eq!(refusal("a.b.c.d"), "not a JWS compact token");
        assert_eq!(refusal("!!.b.c"), "malformed or unsupported header");
        assert_eq!(
            refusal(&format!("{}.e30.c2ln", b64(&header()))),
            "missing iss"
        );
        assert_eq!(
            refusal(&jwt(header(), json!({"iss": "https://other"}))),
            "unknown issuer"
        );
        assert_eq!(
            refusal(&with(json!({"alg": "HS256", "typ": "at+jwt", "kid": "k"}))),
            "algorithm not allowed"
        );
        assert_eq!(
            refusal(&with(json!({"alg": "RS256", "typ": "JWT", "kid": "k"}))),
            "wrong typ"
        );
        assert_eq!(
            refusal(&with(
                json!({"alg": "RS256", "typ": "at+jwt", "kid": "k", "crit": ["exp"]})
            )),
            "unsupported crit header"
        );
        assert_eq!(
            refusal(&with(json!({"alg": "RS256", "typ": "at+jwt", "kid": ""}))),
            "missing kid"
        );
        assert_eq!(
            refusal(&jwt(
                header(),
                json!({"iss": "https://idp.example", "exp": "soon"})
            )),
            "malformed claims"
        );
    }

    #[test]
    fn id_tokens_refuse_access_token_typ() {
        let h: Header = serde_json::from_value(
            json!({"alg": "RS256", "typ": "application/AT+JWT", "kid": "k"}),
        )
        .unwrap();
        let id = Purpose::IdToken {
            client_id: "web",
            nonce: "n",
        };
        assert!(matches!(
            check_header(&h, &[Algorithm::RS256], None, id),
            Err(AuthError::Invalid("access token presented as ID token"))
        ));
        assert_eq!(
            check_header(&h, &[Algorithm::RS256], Some("at+jwt"), Purpose::Access).unwrap(),
            "k"
        );
    }
}
