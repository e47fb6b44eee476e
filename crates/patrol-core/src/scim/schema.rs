//! The User attributes Patrol keeps: a subset of RFC 7643 §4.1, enough for
//! Entra ID's and Okta's default attribute mappings. The `Schemas` endpoint
//! publishes exactly this table.

use serde_json::{Map, Value};

use super::{boolean, ScimError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Complex,
    Reference,
}

impl AttrType {
    pub fn as_str(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::Complex => "complex",
            AttrType::Reference => "reference",
        }
    }
}

/// One attribute of the schema.
#[derive(Debug)]
pub struct AttrDef {
    pub name: &'static str,
    pub kind: AttrType,
    pub multi: bool,
    pub required: bool,
    /// Values compared case-sensitively.
    pub case_exact: bool,
    /// `uniqueness: server` (else none).
    pub unique: bool,
    pub canonical: &'static [&'static str],
    pub sub: &'static [AttrDef],
    pub description: &'static str,
}

const fn string(name: &'static str, description: &'static str) -> AttrDef {
    AttrDef {
        name,
        kind: AttrType::String,
        multi: false,
        required: false,
        case_exact: false,
        unique: false,
        canonical: &[],
        sub: &[],
        description,
    }
}

const fn typed(name: &'static str, kind: AttrType, description: &'static str) -> AttrDef {
    AttrDef {
        kind,
        ..string(name, description)
    }
}

const fn multi(
    name: &'static str,
    canonical: &'static [&'static str],
    description: &'static str,
) -> AttrDef {
    AttrDef {
        kind: AttrType::Complex,
        multi: true,
        sub: &[],
        canonical,
        ..string(name, description)
    }
}

const NAME_SUB: &[AttrDef] = &[
    string("formatted", "The full name."),
    string("familyName", "The family name."),
    string("givenName", "The given name."),
    string("middleName", "The middle name."),
    string("honorificPrefix", "Title prefix, e.g. Ms."),
    string("honorificSuffix", "Suffix, e.g. III."),
];

const EMAIL_TYPES: &[&str] = &["work", "home", "other"];
const PHONE_TYPES: &[&str] = &["work", "home", "mobile", "fax", "pager", "other"];

const EMAIL_SUB: &[AttrDef] = &[
    string("value", "The email address."),
    string("display", "A label for display."),
    AttrDef {
        canonical: EMAIL_TYPES,
        ..string("type", "work, home or other.")
    },
    typed("primary", AttrType::Boolean, "The preferred address."),
];

const PHONE_SUB: &[AttrDef] = &[
    string("value", "The phone number."),
    string("display", "A label for display."),
    AttrDef {
        canonical: PHONE_TYPES,
        ..string("type", "work, home, mobile, fax, pager or other.")
    },
    typed("primary", AttrType::Boolean, "The preferred number."),
];

/// The core User schema's attributes Patrol keeps.
pub static USER_ATTRIBUTES: &[AttrDef] = &[
    AttrDef {
        required: true,
        unique: true,
        ..string(
            "userName",
            "Unique identifier, matched to a sign-in's preferred_username or email.",
        )
    },
    AttrDef {
        kind: AttrType::Complex,
        sub: NAME_SUB,
        ..string("name", "The components of the user's name.")
    },
    string("displayName", "The name shown."),
    string("nickName", "The casual name."),
    typed(
        "profileUrl",
        AttrType::Reference,
        "A URI of the user's profile.",
    ),
    string("title", "The user's title."),
    string("userType", "The user's relation to the organization."),
    string(
        "preferredLanguage",
        "Preferred language (RFC 7231 Accept-Language form).",
    ),
    string("locale", "Default location for localisation."),
    string("timezone", "Time zone (IANA name)."),
    typed(
        "active",
        AttrType::Boolean,
        "Whether the user may sign in and their PATs work.",
    ),
    AttrDef {
        sub: EMAIL_SUB,
        ..multi("emails", EMAIL_TYPES, "Email addresses.")
    },
    AttrDef {
        sub: PHONE_SUB,
        ..multi("phoneNumbers", PHONE_TYPES, "Phone numbers.")
    },
];

/// The declared attribute `name` (case-insensitive).
pub(crate) fn lookup(name: &str) -> Option<&'static AttrDef> {
    find(USER_ATTRIBUTES, name)
}

pub(crate) fn find(defs: &'static [AttrDef], name: &str) -> Option<&'static AttrDef> {
    defs.iter().find(|d| d.name.eq_ignore_ascii_case(name))
}

fn wrong(name: &str, what: &str) -> ScimError {
    ScimError::InvalidValue(format!("{name} must be {what}"))
}

impl AttrDef {
    /// `value` in this attribute's shape with the schema's spelling of
    /// sub-attribute names; `None` when it holds nothing.
    pub(crate) fn conform(&self, value: &Value) -> Result<Option<Value>, ScimError> {
        if value.is_null() {
            return Ok(None);
        }
        if self.multi {
            let items: Vec<&Value> = match value {
                Value::Array(a) => a.iter().collect(),
                Value::Object(_) => vec![value],
                _ => return Err(wrong(self.name, "a list")),
            };
            let mut out = Vec::new();
            for item in items {
                if let Some(v) = self.conform_single(item)? {
                    out.push(v);
                }
            }
            return Ok((!out.is_empty()).then_some(Value::Array(out)));
        }
        self.conform_single(value)
    }

    fn conform_single(&self, value: &Value) -> Result<Option<Value>, ScimError> {
        match self.kind {
            AttrType::String | AttrType::Reference => match value {
                Value::String(s) => Ok(Some(Value::String(s.clone()))),
                Value::Null => Ok(None),
                _ => Err(wrong(self.name, "a string")),
            },
            AttrType::Boolean => boolean(value)
                .map(|b| Some(Value::Bool(b)))
                .ok_or_else(|| wrong(self.name, "a boolean")),
            AttrType::Complex => {
                let Value::Object(obj) = value else {
                    return Err(wrong(self.name, "an object"));
                };
                let mut out = Map::new();
                for (k, v) in obj {
                    let Some(def) = find(self.sub, k) else {
                        continue;
                    };
                    if let Some(v) = def.conform(v)? {
                        out.insert(def.name.to_owned(), v);
                    }
                }
                Ok((!out.is_empty()).then_some(Value::Object(out)))
            }
        }
    }
}
