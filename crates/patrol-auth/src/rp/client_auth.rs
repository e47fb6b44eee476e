//! How the relying party authenticates to the token and revocation endpoints: none (public
//! client), `client_secret_basic`, `client_secret_post` or `private_key_jwt` (RFC 7523).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;

use super::{random_value, RpError};

/// Lifetime of a client assertion.
const ASSERTION_LIFETIME_SECS: i64 = 60;
/// `client_assertion_type` for RFC 7523 client authentication.
pub(crate) const JWT_BEARER_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Client authentication at the token (and revocation) endpoint.
#[derive(Clone)]
pub enum ClientAuth {
    /// Public client: only `client_id` is sent in the form.
    None,
    /// `client_secret_basic`: HTTP Basic with the form-urlencoded id and secret (RFC 6749
    /// §2.3.1).
    SecretBasic(SecretString),
    /// `client_secret_post`: `client_id` and `client_secret` in the form.
    SecretPost(SecretString),
    /// `private_key_jwt`: a signed client assertion (RFC 7523, OpenID Connect Core §9).
    PrivateKeyJwt(ClientKey),
}

impl ClientAuth {
    /// The `token_endpoint_auth_method` name of this method.
    pub fn method(&self) -> &'static str {
        match self {
            ClientAuth::None => "none",
            ClientAuth::SecretBasic(_) => "client_secret_basic",
            ClientAuth::SecretPost(_) => "client_secret_post",
            ClientAuth::PrivateKeyJwt(_) => "private_key_jwt",
        }
    }
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientAuth::None => f.write_str("None"),
            ClientAuth::SecretBasic(_) => f.write_str("SecretBasic([redacted])"),
            ClientAuth::SecretPost(_) => f.write_str("SecretPost([redacted])"),
            ClientAuth::PrivateKeyJwt(k) => f.debug_tuple("PrivateKeyJwt").field(k).finish(),
        }
    }
}

/// A private key for `private_key_jwt`: RS256 (RSA, at least 2048 bits) or ES256 (P-256).
#[derive(Clone)]
pub struct ClientKey {
    key: EncodingKey,
    alg: Algorithm,
    kid: Option<String>,
    /// Certificate thumbprints (`x5t`, `x5t#S256`), how Microsoft Entra
    /// identifies a certificate credential.
    x5t: Option<(String, String)>,
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// The body of the first PEM block labelled `label` (`-----BEGIN {label}-----` ... END).
fn pem_block<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)?;
    let stop = text.get(start..)?.find(&end)? + start + end.len();
    text.get(start..stop)
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    jti: String,
    iat: i64,
    exp: i64,
}

impl ClientKey {
    /// Reads a PEM private key: PKCS#8 (`PRIVATE KEY`, RSA or EC P-256), PKCS#1
    /// (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`, P-256). The algorithm follows from the
    /// key: RS256 for RSA, ES256 for P-256. Encrypted keys are not supported.
    pub fn from_pem(pem: &[u8], kid: Option<String>) -> Result<ClientKey, RpError> {
        use p256::pkcs8::EncodePrivateKey as _;
        use rsa::pkcs1::{DecodeRsaPrivateKey as _, EncodeRsaPrivateKey as _};
        use rsa::pkcs8::DecodePrivateKey as _;
        use rsa::traits::PublicKeyParts as _;

        let text =
            std::str::from_utf8(pem).map_err(|_| RpError::Invalid("client key is not PEM"))?;
        let rsa_key = if let Some(block) = pem_block(text, "RSA PRIVATE KEY") {
            Some(
                rsa::RsaPrivateKey::from_pkcs1_pem(block)
                    .map_err(|_| RpError::Invalid("malformed PKCS#1 RSA private key"))?,
            )
        } else if let Some(block) = pem_block(text, "PRIVATE KEY") {
            rsa::RsaPrivateKey::from_pkcs8_pem(block).ok()
        } else {
            None
        };
        let (key, alg) = if let Some(rsa_key) = rsa_key {
            if rsa_key.size() < 256 {
                return Err(RpError::Invalid("RSA client key is shorter than 2048 bits"));
            }
            let der = rsa_key
                .to_pkcs1_der()
                .map_err(|_| RpError::Invalid("unusable RSA private key"))?;
            (EncodingKey::from_rsa_der(der.as_bytes()), Algorithm::RS256)
        } else {
            let secret = if let Some(block) = pem_block(text, "EC PRIVATE KEY") {
                p256::SecretKey::from_sec1_pem(block)
                    .map_err(|_| RpError::Invalid("EC client key is malformed or not P-256"))?
            } else if let Some(block) = pem_block(text, "PRIVATE KEY") {
                p256::SecretKey::from_pkcs8_pem(block).map_err(|_| {
                    RpError::Invalid("client key is neither RSA nor EC P-256 (PKCS#8)")
                })?
            } else if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
                return Err(RpError::Invalid("encrypted client keys are not supported"));
            } else {
                return Err(RpError::Invalid("client key is not a PEM private key"));
            };
            let der = secret
                .to_pkcs8_der()
                .map_err(|_| RpError::Invalid("unusable EC private key"))?;
            (EncodingKey::from_ec_der(der.as_bytes()), Algorithm::ES256)
        };
        let kid = kid.filter(|k| !k.is_empty());
        let key = ClientKey {
            key,
            alg,
            kid,
            x5t: None,
        };
        // Fail at configuration time, not at the first sign-in.
        key.assertion("probe", "https://probe.invalid/token", 0)
            .map_err(|_| RpError::Invalid("client key cannot sign"))?;
        Ok(key)
    }

    /// Name the key's certificate (PEM `CERTIFICATE`) in assertion headers by
    /// its thumbprints: `x5t` (SHA-1, what Entra documents) and `x5t#S256`.
    /// The certificate is the one registered with the provider; that it
    /// holds this key's public half is the provider's check.
    pub fn with_certificate(mut self, cert_pem: &[u8]) -> Result<ClientKey, RpError> {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        use base64::Engine as _;
        use sha1::Digest as _;
        let text = std::str::from_utf8(cert_pem)
            .map_err(|_| RpError::Invalid("certificate is not PEM"))?;
        let block =
            pem_block(text, "CERTIFICATE").ok_or(RpError::Invalid("no PEM CERTIFICATE block"))?;
        let body: String = block
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .concat();
        let der = STANDARD
            .decode(body.trim())
            .map_err(|_| RpError::Invalid("malformed PEM certificate"))?;
        // A DER certificate is a SEQUENCE.
        if der.first() != Some(&0x30) || der.len() < 64 {
            return Err(RpError::Invalid("malformed PEM certificate"));
        }
        let sha1 = URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&der));
        let sha256 = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&der));
        self.x5t = Some((sha1, sha256));
        Ok(self)
    }

    /// RS256 or ES256.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The `kid` put in assertion headers, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// A client assertion: `iss` = `sub` = `client_id`, `aud` = `audience` (the token endpoint
    /// URL), a random `jti`, `iat` = `now`, `exp` = `now` + 60 s.
    pub fn assertion(&self, client_id: &str, audience: &str, now: i64) -> Result<String, RpError> {
        let mut header = Header::new(self.alg);
        header.typ = Some("JWT".to_owned());
        header.kid = self.kid.clone();
        if let Some((sha1, sha256)) = &self.x5t {
            header.x5t = Some(sha1.clone());
            header.x5t_s256 = Some(sha256.clone());
        }
        let claims = AssertionClaims {
            iss: client_id,
            sub: client_id,
            aud: audience,
            jti: random_value(),
            iat: now,
            exp: now.saturating_add(ASSERTION_LIFETIME_SECS),
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|_| RpError::Invalid("could not sign the client assertion"))
    }
}

/// One `application/x-www-form-urlencoded` component (RFC 6749 §2.3.1, Appendix B).
fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The `Authorization` value for `client_secret_basic`: both parts are form-urlencoded before
/// base64 (RFC 6749 §2.3.1).
pub fn basic_authorization(client_id: &str, secret: &SecretString) -> String {
    let pair = format!(
        "{}:{}",
        form_encode(client_id),
        form_encode(secret.expose_secret())
    );
    format!("Basic {}", STANDARD.encode(pair))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    #[test]
    fn client_secret_basic_encoding() {
        // RFC 6749 §2.3.1 example.
        assert_eq!(
            basic_authorization("s6BhdRkqt3", &SecretString::from("7Fjfp0ZBr1KtDRbnfVdmIw")),
            "Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3"
        );
        // Reserved characters are form-urlencoded first: ':' in the id must not split it.
        let value = basic_authorization("my client:1", &SecretString::from("p@ss:w/rd+%é"));
        let decoded = STANDARD
            .decode(value.strip_prefix("Basic ").unwrap())
            .unwrap();
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            "my+client%3A1:p%40ss%3Aw%2Frd%2B%25%C3%A9"
        );
    }

    #[test]
    fn pem_blocks() {
        let text = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n\
                    -----BEGIN EC PRIVATE KEY-----\nabc\n-----END EC PRIVATE KEY-----\n";
        assert_eq!(
            pem_block(text, "EC PRIVATE KEY"),
            Some("-----BEGIN EC PRIVATE KEY-----\nabc\n-----END EC PRIVATE KEY-----")
        );
        assert_eq!(pem_block(text, "PRIVATE KEY"), None);
        assert_eq!(
            pem_block("-----BEGIN PRIVATE KEY-----\nx", "PRIVATE KEY"),
            None
        );
    }

    fn ec_pems() -> (String, String, String) {
        use p256::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let sec1 = secret.to_sec1_pem(LineEnding::LF).unwrap().to_string();
        let pkcs8 = secret.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
        let public = secret
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        (sec1, pkcs8, public)
    }

    fn decode_part(token: &str, idx: usize) -> serde_json::Value {
        let part = token.split('.').nth(idx).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn assertion_claims_and_signature() {
        let (sec1, pkcs8, public) = ec_pems();
        let with_params = format!(
            "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{sec1}"
        );
        for pem in [sec1.as_str(), pkcs8.as_str(), with_params.as_str()] {
            let key = ClientKey::from_pem(pem.as_bytes(), Some("k1".into())).unwrap();
            assert_eq!(key.algorithm(), Algorithm::ES256);
            let aud = "https://idp.example/oauth2/token";
            let jwt = key.assertion("client-1", aud, 1_700_000_000).unwrap();
            let header = decode_part(&jwt, 0);
            assert_eq!(header["alg"], "ES256");
            assert_eq!(header["kid"], "k1");
            assert_eq!(header["typ"], "JWT");
            let claims = decode_part(&jwt, 1);
            assert_eq!(claims["iss"], "client-1");
            assert_eq!(claims["sub"], "client-1");
            assert_eq!(claims["aud"], aud);
            assert_eq!(claims["iat"], 1_700_000_000);
            assert_eq!(claims["exp"], 1_700_000_060);
            assert_eq!(claims["jti"].as_str().unwrap().len(), 43);
            assert_ne!(
                key.assertion("client-1", aud, 0).unwrap(),
                key.assertion("client-1", aud, 0).unwrap(),
                "fresh jti every time"
            );
            let dk = jsonwebtoken::DecodingKey::from_ec_pem(public.as_bytes()).unwrap();
            let mut v = jsonwebtoken::Validation::new(Algorithm::ES256);
            v.validate_exp = false;
            v.set_audience(&[aud]);
            jsonwebtoken::decode::<serde_json::Value>(&jwt, &dk, &v).unwrap();
        }
        // No kid configured: no kid header.
        let key = ClientKey::from_pem(pkcs8.as_bytes(), None).unwrap();
        let jwt = key.assertion("c", "https://a/token", 0).unwrap();
        assert!(decode_part(&jwt, 0).get("kid").is_none());
    }

    #[test]
    fn certificate_thumbprints_in_the_header() {
        let (_, pkcs8, _) = ec_pems();
        // Thumbprints computed independently: `openssl x509 -outform der | sha1sum / sha256sum`.
        let cert = include_str!("../../tests/fixtures/web-client-cert.pem");
        let key = ClientKey::from_pem(pkcs8.as_bytes(), None)
            .unwrap()
            .with_certificate(cert.as_bytes())
            .unwrap();
        let header = decode_part(&key.assertion("c", "https://a/token", 0).unwrap(), 0);
        assert_eq!(header["x5t"], "7ZhiElcyqCchYY6OFrW6Oy1wKbw");
        assert_eq!(
            header["x5t#S256"],
            "D4xRLkhj1Uljmnat9FtgrTCiepUaRYc0RQr6DLxhk_k"
        );
        let key = ClientKey::from_pem(pkcs8.as_bytes(), None).unwrap();
        assert!(key.clone().with_certificate(b"not pem").is_err());
        assert!(key
            .clone()
            .with_certificate(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
            .is_err());
        assert!(
            decode_part(&key.assertion("c", "https://a/token", 0).unwrap(), 0)
                .get("x5t")
                .is_none()
        );
    }

    #[test]
    fn rejects_unusable_keys() {
        for pem in [
            "",
            "not a key",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        ] {
            assert!(
                matches!(
                    ClientKey::from_pem(pem.as_bytes(), None),
                    Err(RpError::Invalid(_))
                ),
                "{pem}"
            );
        }
        // A 1024-bit RSA key is refused.
        use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};
        let small = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
        let pem = small.to_pkcs8_pem(LineEnding::LF).unwrap();
        assert!(matches!(
            ClientKey::from_pem(pem.as_bytes(), None),
            Err(RpError::Invalid("RSA client key is shorter than 2048 bits"))
        ));
    }

    #[test]
    fn debug_is_redacted() {
        let (_, pkcs8, _) = ec_pems();
        let key = ClientKey::from_pem(pkcs8.as_bytes(), Some("kid-1".into())).unwrap();
        let auths = [
            ClientAuth::None,
            ClientAuth::SecretBasic(SecretString::from("s3cr3t-basic")),
            ClientAuth::SecretPost(SecretString::from("s3cr3t-post")),
            ClientAuth::PrivateKeyJwt(key),
        ];
        let rendered: Vec<String> = auths.iter().map(|a| format!("{a:?}")).collect();
        assert_eq!(rendered[0], "None");
        assert_eq!(rendered[1], "SecretBasic([redacted])");
        assert_eq!(rendered[2], "SecretPost([redacted])");
        assert!(rendered[3].contains("ES256") && rendered[3].contains("kid-1"));
        let all = rendered.join(" ");
        assert!(!all.contains("s3cr3t"));
        assert!(!all.contains("PRIVATE KEY") && !all.contains(&pkcs8[40..80]));
        assert_eq!(
            auths.iter().map(ClientAuth::method).collect::<Vec<_>>(),
            [
                "none",
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt"
            ]
        );
    }
}
