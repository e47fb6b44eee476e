//! Subject descriptors: how the Token Admin API names a user
//! (docs/ado-wire-contract.md §5). Azure DevOps uses Graph descriptors,
//! `<kind>.<base64url(identifier)>`; Patrol understands two kinds:
//!
//! - `aad.<base64url(oid)>` — a user whose subject is an object id (a GUID,
//!   as Microsoft Entra ID issues them): every Patrol user with that subject,
//!   whichever configured issuer signed them in;
//! - `patrol.<base64url(user id)>` — exactly one Patrol user, by the id
//!   Patrol gave them; valid for every user.
//!
//! Padding is optional, and standard base64 (`+`, `/`) is accepted too.

use std::fmt;

use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use uuid::Uuid;

use crate::user::User;

/// Longest descriptor accepted, in bytes.
pub const MAX_DESCRIPTOR_BYTES: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectDescriptor {
    /// An object id (lower-case hyphenated GUID text).
    Aad(String),
    /// A Patrol user id.
    Patrol(Uuid),
}

impl SubjectDescriptor {
    /// `None` for anything that is not one of the two kinds.
    pub fn parse(s: &str) -> Option<Self> {
        if s.len() > MAX_DESCRIPTOR_BYTES {
            return None;
        }
        let (kind, data) = s.split_once('.')?;
        let data = data.trim_end_matches('=');
        let raw = URL_SAFE_NO_PAD
            .decode(data)
            .or_else(|_| STANDARD_NO_PAD.decode(data))
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        let id = Uuid::parse_str(text.trim()).ok()?;
        match kind.to_ascii_lowercase().as_str() {
            "aad" => Some(Self::Aad(id.to_string())),
            "patrol" => Some(Self::Patrol(id)),
            _ => None,
        }
    }

    /// The descriptor shown for `user`: `aad.` when its subject is a GUID,
    /// else `patrol.`.
    pub fn of(user: &User) -> Self {
        match Uuid::parse_str(&user.subject) {
            Ok(oid) => Self::Aad(oid.to_string()),
            Err(_) => Self::Patrol(user.id),
        }
    }
}

impl fmt::Display for SubjectDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Aad(oid) => write!(f, "aad.{}", URL_SAFE_NO_PAD.encode(oid)),
            Self::Patrol(id) => write!(f, "patrol.{}", URL_SAFE_NO_PAD.encode(id.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn user(subject: &str) -> User {
        User::fixture("i", subject, Utc::now())
    }

    #[test]
    fn entra_shaped_users_get_aad_descriptors_and_others_patrol_ones() {
        let oid = "a11ce000-0000-4000-8000-000000000001";
        let u = user(oid);
        let d = SubjectDescriptor::of(&u);
        assert_eq!(d, SubjectDescriptor::Aad(oid.into()));
        assert_eq!(
            d.to_string(),
            "aad.YTExY2UwMDAtMDAwMC00MDAwLTgwMDAtMDAwMDAwMDAwMDAx"
        );
        assert_eq!(SubjectDescriptor::parse(&d.to_string()), Some(d));
        let k = user("alice");
        let d = SubjectDescriptor::of(&k);
        assert_eq!(d, SubjectDescriptor::Patrol(k.id));
        assert_eq!(SubjectDescriptor::parse(&d.to_string()), Some(d));
    }

    #[test]
    fn parsing_is_lenient_about_case_and_padding_only() {
        let oid = "A11CE000-0000-4000-8000-000000000001";
        let padded = format!("AAD.{}==", STANDARD_NO_PAD.encode(oid));
        assert_eq!(
            SubjectDescriptor::parse(&padded),
            Some(SubjectDescriptor::Aad(oid.to_lowercase()))
        );
        for bad in [
            "",
            "aad",
            "aad.",
            "msa.YTExY2UwMDAtMDAwMC00MDAwLTgwMDAtMDAwMDAwMDAwMDAx",
            "aad.!!!",
            "aad.YWxpY2U",
            &format!("aad.{}", "A".repeat(600)),
        ] {
            assert_eq!(SubjectDescriptor::parse(bad), None, "{bad}");
        }
    }
}
