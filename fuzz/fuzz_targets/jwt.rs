//! JWT header and claims parsing in `patrol_auth`: `read_unverified` (what the
//! verifier reads before it touches a key) and `inspect_access_token` (header
//! rules, claims deserialisation and classification, as `verify` does them).
//!
//! Input: a first line of issuer options, then either one compact token
//! (`h.p.s`, taken as is) or up to three lines `header JSON`, `claims JSON`,
//! `signature` that are base64url-encoded into a token here, so the fuzzer
//! works on the JSON directly. Options are space-separated words: algorithm
//! names (the issuer's pinned list; none means RS256), `typ=X` (required
//! typ), `sa=X` (service-account username prefix), `tid=X` (tenant, the
//! Entra preset), `oid` / `sub` (subject claim), `vouch` / `novouch`
//! (whether the issuer vouches for emails), `client=X` (allowed client ids).
//!
//! Beyond "no panic": nothing over `MAX_TOKEN_BYTES` is read; an accepted
//! token has three parts, a pinned algorithm, the required typ, no crit, a
//! non-empty kid; the claims' `iss` is the one that chose the issuer; the
//! principal is `classify` of the claims; claims survive a serialise /
//! deserialise round trip; the claim accessors only ever return claim values;
//! an email is vouched for only if there is one, never against an explicit
//! `email_verified: false`, and by the token alone only for the `email` claim.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use patrol_auth::verifier::{inspect_access_token, read_unverified};
use patrol_auth::{classify, AuthError, Claims, IssuerConfig, SubjectClaim, MAX_TOKEN_BYTES};

const FIXED_ISSUER: &str = "https://login.example/tenant/v2.0";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (options, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let token = if rest.contains('\n') {
        let mut parts = rest.splitn(3, '\n');
        let header = parts.next().unwrap_or_default();
        let claims = parts.next().unwrap_or_default();
        let signature = parts.next().unwrap_or("c2ln");
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims),
            signature
        )
    } else {
        rest.to_owned()
    };
    check(&token, options);
});

fn config(issuer: &str, options: &str) -> IssuerConfig {
    let mut algorithms = Vec::new();
    let mut required_typ = None;
    let mut prefix = None;
    let mut tenant_id = None;
    let mut subject_claim = None;
    let mut emails_verified = None;
    let mut allowed_client_ids: Option<Vec<String>> = None;
    for word in options.split_whitespace() {
        if let Some(t) = word.strip_prefix("typ=") {
            required_typ = Some(t.to_owned());
        } else if let Some(p) = word.strip_prefix("sa=") {
            prefix = Some(p.to_owned());
        } else if let Some(t) = word.strip_prefix("tid=") {
            tenant_id = Some(t.to_owned());
        } else if let Some(c) = word.strip_prefix("client=") {
            allowed_client_ids
                .get_or_insert_with(Vec::new)
                .push(c.to_owned());
        } else if word == "oid" {
            subject_claim = Some(SubjectClaim::Oid);
        } else if word == "sub" {
            subject_claim = Some(SubjectClaim::Sub);
        } else if word == "vouch" || word == "novouch" {
            emails_verified = Some(word == "vouch");
        } else {
            algorithms.push(word.to_owned());
        }
    }
    if algorithms.is_empty() {
        algorithms.push("RS256".to_owned());
    }
    IssuerConfig {
        issuer: issuer.to_owned(),
        discovery_url: None,
        audiences: vec!["api://patrol".to_owned()],
        algorithms,
        leeway_secs: 60,
        required_typ,
        tenant_id,
        service_account_username_prefix: prefix,
        subject_claim,
        emails_verified,
        allowed_client_ids,
    }
}

fn check(token: &str, options: &str) {
    let read = read_unverified(token);
    if token.len() > MAX_TOKEN_BYTES {
        assert!(matches!(read, Err(AuthError::Invalid("token too large"))));
    }
    let jwt = match read {
        Ok(jwt) => jwt,
        Err(e) => {
            assert!(matches!(e, AuthError::Invalid(_)), "{e:?}");
            // Any issuer: the same refusal, before the issuer is even looked at.
            let again = inspect_access_token(token, &config(FIXED_ISSUER, options));
            assert_eq!(reason(&again), reason(&Err::<(), _>(e)));
            return;
        }
    };
    assert!(token.len() <= MAX_TOKEN_BYTES);
    assert_eq!(token.split('.').count(), 3);

    // An issuer configured for another `iss` refuses the token.
    if jwt.issuer != FIXED_ISSUER {
        let other = inspect_access_token(token, &config(FIXED_ISSUER, options));
        assert_eq!(reason(&other), Some("unknown issuer"));
    }

    // The issuer this `iss` chooses.
    let cfg = config(&jwt.issuer, options);
    let inspection = match inspect_access_token(token, &cfg) {
        Ok(i) => i,
        Err(AuthError::Invalid(_)) => return,
        Err(e) => panic!("{e:?} without any I/O"),
    };
    let header = &inspection.header;
    assert_eq!(header, &jwt.header);
    let alg = format!("{:?}", header.alg);
    assert!(
        cfg.algorithms.iter().any(|a| a.trim() == alg),
        "{alg} is not pinned"
    );
    assert!(header.crit.is_none());
    assert_eq!(header.kid.as_deref(), Some(inspection.kid.as_str()));
    assert!(!inspection.kid.is_empty());
    if let Some(required) = &cfg.required_typ {
        let typ = header
            .typ
            .as_deref()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let required = required.trim().to_ascii_lowercase();
        assert!(typ == required || typ == format!("application/{required}"));
    }

    let claims = &inspection.claims;
    assert_eq!(claims.iss, jwt.issuer, "two readings of `iss` disagree");
    assert_eq!(inspection.principal, classify(claims, &cfg));

    // Claims survive a serialise / deserialise round trip unchanged.
    let value = serde_json::to_value(claims).unwrap_or_else(|e| panic!("{e}"));
    let back: Claims = serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(serde_json::to_value(&back).ok(), Some(value));

    // Accessors return claim values only.
    let fields = [
        &claims.name,
        &claims.preferred_username,
        &claims.email,
        &claims.upn,
    ];
    let is_field = |s: &str| fields.iter().any(|f| f.as_deref() == Some(s));
    if let Some(e) = claims.email() {
        assert!(is_field(e) && !e.is_empty());
    }
    if let Some(n) = claims.display_name() {
        assert!(is_field(n) && !n.is_empty());
    }
    if let Some(c) = claims.client_id() {
        let ids = [&claims.azp, &claims.appid, &claims.client_id];
        assert!(ids.iter().any(|f| f.as_deref() == Some(c)) && !c.is_empty());
    }
    let scp = claims.scp.as_deref().unwrap_or_default();
    for s in claims.scopes() {
        assert!(!s.is_empty() && scp.contains(s));
    }
    let _ = patrol_auth::claims::classify_id_token(claims, &cfg);

    // Email vouching: never without an email, never against `email_verified:
    // false`; the token's own `true` covers only the `email` claim.
    for issuer_vouches in [false, true] {
        if claims.email_verified_by(issuer_vouches) {
            assert!(claims.email().is_some());
            assert_ne!(claims.email_verified, Some(false));
            if !issuer_vouches {
                assert!(claims.email.as_deref().is_some_and(|e| !e.is_empty()));
            }
        }
    }
    // An issuer's word can only add to the token's.
    assert!(!claims.email_verified_by(false) || claims.email_verified_by(true));
}

fn reason<T>(r: &Result<T, AuthError>) -> Option<&'static str> {
    match r {
        Err(AuthError::Invalid(reason)) => Some(reason),
        _ => None,
    }
}
