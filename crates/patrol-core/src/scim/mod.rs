//! SCIM 2.0 users (RFC 7643/7644) as Patrol keeps them: the provisioned
//! record, the attributes Patrol declares (its `Schemas` document), and the
//! pure rules for reading what a provisioning client sends — resources,
//! filters (`filter.rs`) and PATCH operations (`patch.rs`).
//!
//! Attribute names are case-insensitive on the wire; everything is turned
//! into the schema's spelling on the way in. Attributes the schema does not
//! declare are ignored (identity providers send more than Patrol keeps).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

pub mod filter;
pub mod patch;
mod schema;

pub use schema::{AttrDef, AttrType, USER_ATTRIBUTES};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A user a provisioning client (Entra ID, Okta, …) told Patrol about.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimUser {
    pub id: Uuid,
    pub data: UserData,
    /// The Patrol user this record is joined to: matched when provisioned,
    /// or at their first sign-in.
    pub user_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Increases with every change (the resource's ETag).
    pub version: u64,
}

/// What the client controls.
#[derive(Debug, Clone, PartialEq)]
pub struct UserData {
    pub user_name: String,
    /// The identity provider's id for the user (Entra: the object id).
    pub external_id: Option<String>,
    /// `None`: the client never said (or removed it), which counts as active.
    pub active: Option<bool>,
    /// Every other declared attribute that has a value, in the schema's spelling.
    pub attributes: Map<String, Value>,
}

/// A request Patrol cannot act on, with the SCIM `scimType` it answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScimError {
    #[error("{0}")]
    InvalidFilter(String),
    #[error("{0}")]
    InvalidPath(String),
    #[error("{0}")]
    NoTarget(String),
    #[error("{0}")]
    InvalidValue(String),
    #[error("{0}")]
    InvalidSyntax(String),
    #[error("{0}")]
    Mutability(String),
    #[error("{0}")]
    Uniqueness(String),
}

impl ScimError {
    /// The `scimType` of the error response.
    pub fn scim_type(&self) -> &'static str {
        match self {
            ScimError::InvalidFilter(_) => "invalidFilter",
            ScimError::InvalidPath(_) => "invalidPath",
            ScimError::NoTarget(_) => "noTarget",
            ScimError::InvalidValue(_) => "invalidValue",
            ScimError::InvalidSyntax(_) => "invalidSyntax",
            ScimError::Mutability(_) => "mutability",
            ScimError::Uniqueness(_) => "uniqueness",
        }
    }
}

/// Strip the core schema's URN from an attribute path
/// (`urn:…:core:2.0:User:name.givenName` → `name.givenName`).
pub fn strip_urn(path: &str) -> &str {
    match path.get(..USER_SCHEMA.len()) {
        Some(p) if p.eq_ignore_ascii_case(USER_SCHEMA) => {
            path[USER_SCHEMA.len()..].trim_start_matches(':')
        }
        _ => path,
    }
}

/// SCIM booleans, plus the strings Entra ID sends (`"True"`, `"False"`).
pub fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

impl UserData {
    /// Read a full User resource (create, replace). `id`, `meta`, `schemas`
    /// and undeclared attributes are ignored; `userName` is required;
    /// an absent `active` counts as true.
    pub fn from_resource(body: &Value) -> Result<Self, ScimError> {
        let Value::Object(obj) = body else {
            return Err(ScimError::InvalidSyntax(
                "the body must be a JSON object".into(),
            ));
        };
        let mut attributes = Map::new();
        let mut user_name = None;
        let mut external_id = None;
        let mut active = None;
        for (key, value) in obj {
            let key = strip_urn(key);
            if value.is_null() {
                continue;
            }
            if key.eq_ignore_ascii_case("externalId") {
                match value {
                    Value::String(s) if !s.is_empty() => external_id = Some(s.clone()),
                    Value::String(_) => {}
                    _ => return Err(invalid("externalId must be a string")),
                }
                continue;
            }
            let Some(def) = schema::lookup(key) else {
                continue;
            };
            match def.name {
                "userName" => match value {
                    Value::String(s) if !s.trim().is_empty() => user_name = Some(s.clone()),
                    _ => return Err(invalid("userName must be a non-empty string")),
                },
                "active" => {
                    active =
                        Some(boolean(value).ok_or_else(|| invalid("active must be a boolean"))?);
                }
                _ => {
                    if let Some(v) = def.conform(value)? {
                        attributes.insert(def.name.to_owned(), v);
                    }
                }
            }
        }
        let user_name = user_name.ok_or_else(|| invalid("userName is required"))?;
        Ok(Self {
            user_name,
            external_id,
            active,
            attributes,
        })
    }

    /// The resource's attributes as JSON (without `schemas`, `id`, `meta`).
    pub fn to_object(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("userName".into(), Value::String(self.user_name.clone()));
        if let Some(e) = &self.external_id {
            m.insert("externalId".into(), Value::String(e.clone()));
        }
        if let Some(a) = self.active {
            m.insert("active".into(), Value::Bool(a));
        }
        for (k, v) in &self.attributes {
            m.insert(k.clone(), v.clone());
        }
        m
    }

    /// May the user sign in, and their PATs work? (An absent `active` says yes.)
    pub fn is_active(&self) -> bool {
        self.active.unwrap_or(true)
    }

    /// The user's primary (else first) email, as a sign-in's
    /// `preferred_username`/email would be matched against.
    pub fn emails(&self) -> Vec<&str> {
        let Some(Value::Array(list)) = self.attributes.get("emails") else {
            return Vec::new();
        };
        list.iter()
            .filter_map(|e| e.get("value").and_then(Value::as_str))
            .collect()
    }
}

fn invalid(msg: &str) -> ScimError {
    ScimError::InvalidValue(msg.to_owned())
}

#[cfg(test)]
mod tests;
