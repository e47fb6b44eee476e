//! The `Authorization` header parsers of `patrol_core::credential`:
//! `parse_authorization`, `parse_authorization_limited`, `parse_basic`,
//! `parse_client_basic`, and the `form_urldecode` they rely on.
//!
//! Beyond "no panic": nothing longer than the limit is accepted; the limited
//! and unlimited parsers agree within the limit; the three Basic readers agree
//! with each other; what `parse_basic` / `parse_client_basic` return
//! re-encodes to a header that parses to the same credentials; the PAT is
//! never empty and never longer than the header.
#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use patrol_core::credential::{
    form_urldecode, parse_authorization, parse_authorization_limited, parse_basic,
    parse_client_basic, CredentialError, MAX_AUTHORIZATION_BYTES,
};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use secrecy::ExposeSecret as _;

fuzz_target!(|data: &[u8]| {
    let value = String::from_utf8_lossy(data);
    check(&value);
});

fn secret(
    r: Result<patrol_core::secret::PatSecret, CredentialError>,
) -> Result<String, CredentialError> {
    r.map(|s| s.expose().to_owned())
}

fn check(v: &str) {
    // --- parse_authorization and its limited twin.
    let pat = secret(parse_authorization(Some(v)));
    if v.len() > MAX_AUTHORIZATION_BYTES {
        assert_eq!(pat, Err(CredentialError::Malformed));
    }
    if let Ok(p) = &pat {
        assert!(!p.is_empty());
        assert!(p.len() <= v.len());
    }
    assert_ne!(pat, Err(CredentialError::Missing));
    let unlimited = secret(parse_authorization_limited(Some(v), usize::MAX));
    if v.len() <= MAX_AUTHORIZATION_BYTES {
        assert_eq!(unlimited, pat);
    }
    if let Some(below) = v.len().checked_sub(1) {
        assert_eq!(
            secret(parse_authorization_limited(Some(v), below)),
            Err(CredentialError::Malformed)
        );
    }

    // --- parse_basic: any user name, the password as sent.
    let basic = parse_basic(Some(v));
    if v.len() > MAX_AUTHORIZATION_BYTES {
        assert!(matches!(basic, Err(CredentialError::Malformed)));
    }
    match &basic {
        Ok(c) => {
            let (user, pass) = (c.username.as_str(), c.password.expose());
            assert!(!user.contains(':'), "the user name ends at the first colon");
            // parse_authorization reads the same header: the password, else
            // the user name, else nothing.
            let want = if !pass.is_empty() {
                Ok(pass.to_owned())
            } else if !user.is_empty() {
                Ok(user.to_owned())
            } else {
                Err(CredentialError::Empty)
            };
            assert_eq!(pat, want);
            // Re-encoded, it reads the same.
            let again = parse_basic(Some(&basic_header(&format!("{user}:{pass}"))));
            if let Ok(again) = again {
                assert_eq!(again.username, user);
                assert_eq!(again.password.expose(), pass);
            } else {
                // Only a re-encoding over the size limit can fail.
                assert!(basic_header(&format!("{user}:{pass}")).len() > MAX_AUTHORIZATION_BYTES);
            }
        }
        Err(CredentialError::UnsupportedScheme) => {
            let bearer = pat.is_ok() || pat == Err(CredentialError::Empty);
            assert!(
                bearer || pat == Err(CredentialError::UnsupportedScheme),
                "{pat:?}"
            );
        }
        Err(e) => {
            // A Basic header parse_basic cannot read, parse_authorization cannot either.
            assert_eq!(pat.as_ref().err(), Some(e));
        }
    }

    // --- parse_client_basic: form-urlencoded id and secret (RFC 6749 §2.3.1).
    match parse_client_basic(Some(v)) {
        Ok(c) => {
            let (id, sec) = (c.client_id.as_str(), c.client_secret.expose_secret());
            assert!(!id.is_empty());
            // The same header read as plain Basic: the parts form-decode to these.
            let plain = parse_basic(Some(v)).unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(form_urldecode(&plain.username).as_deref(), Some(id));
            assert_eq!(
                form_urldecode(plain.password.expose()).as_deref(),
                Some(sec)
            );
            // Re-encoded the way a client must send them, they read the same.
            let header = basic_header(&format!("{}:{}", form_encode(id), form_encode(sec)));
            match parse_client_basic(Some(&header)) {
                Ok(again) => {
                    assert_eq!(again.client_id, id);
                    assert_eq!(again.client_secret.expose_secret(), sec);
                }
                Err(e) => {
                    assert_eq!(e, CredentialError::Malformed);
                    assert!(header.len() > MAX_AUTHORIZATION_BYTES);
                }
            }
        }
        Err(CredentialError::Missing) => panic!("Missing for a present header"),
        Err(e) => {
            if let Ok(plain) = &basic {
                // Readable as Basic, so refused for the client rules only: no
                // colon (then the user name is empty), an empty id, or a part
                // that does not form-decode.
                let id = form_urldecode(&plain.username);
                let sec = form_urldecode(plain.password.expose());
                let ok = id.as_deref().is_some_and(|i| !i.is_empty()) && sec.is_some();
                assert!(!ok, "client credentials refused with {e:?}");
            }
        }
    }

    // --- form_urldecode on the raw text: what decodes re-encodes to itself.
    if let Some(decoded) = form_urldecode(v) {
        assert_eq!(
            form_urldecode(&form_encode(&decoded)).as_deref(),
            Some(&*decoded)
        );
    }
}

fn basic_header(text: &str) -> String {
    format!("Basic {}", STANDARD.encode(text))
}

fn form_encode(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}
