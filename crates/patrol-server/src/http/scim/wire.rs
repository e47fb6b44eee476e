//! SCIM wire shapes: resources with `meta`, list responses, the discovery
//! documents and the error shape (RFC 7644 §3.12), all `application/scim+json`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use patrol_core::scim::{AttrDef, ScimError, ScimUser, USER_ATTRIBUTES, USER_SCHEMA};

use crate::app::{AppError, MAX_SCIM_PAGE};

pub const CONTENT_TYPE: &str = "application/scim+json";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// A JSON answer with SCIM's content type.
pub struct Scim(pub StatusCode, pub Value);

impl IntoResponse for Scim {
    fn into_response(self) -> Response {
        let mut resp = (self.0, self.1.to_string()).into_response();
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        resp
    }
}

/// A SCIM error answer.
#[derive(Debug)]
pub struct ScimFailure {
    pub status: StatusCode,
    pub scim_type: Option<&'static str>,
    pub detail: String,
    pub retry_after: Option<u64>,
}

impl ScimFailure {
    pub fn new(
        status: StatusCode,
        scim_type: Option<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, format!("{what} not found"))
    }
}

impl From<ScimError> for ScimFailure {
    fn from(e: ScimError) -> Self {
        let status = match e {
            ScimError::Uniqueness(_) => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        };
        Self::new(status, Some(e.scim_type()), e.to_string())
    }
}

impl From<AppError> for ScimFailure {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Scim(s) => s.into(),
            AppError::UserNotFound => Self::not_found("User"),
            other => {
                tracing::error!(error = %other, "SCIM request failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    None,
                    "the request could not be completed",
                )
            }
        }
    }
}

impl IntoResponse for ScimFailure {
    fn into_response(self) -> Response {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let (Some(t), Value::Object(m)) = (self.scim_type, &mut body) {
            m.insert("scimType".into(), Value::String(t.into()));
        }
        let mut resp = Scim(self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"patrol-scim\""),
            );
        }
        if let Some(s) = self
            .retry_after
            .and_then(|s| HeaderValue::from_str(&s.to_string()).ok())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, s);
        }
        resp
    }
}

/// A user resource as the client reads it.
pub fn user_resource(u: &ScimUser, base: &str) -> Value {
    let mut m = Map::new();
    m.insert("schemas".into(), json!([USER_SCHEMA]));
    m.insert("id".into(), Value::String(u.id.to_string()));
    m.extend(u.data.to_object());
    m.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": u.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "lastModified": u.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "location": format!("{base}/Users/{}", u.id),
            "version": etag(u),
        }),
    );
    Value::Object(m)
}

pub fn etag(u: &ScimUser) -> String {
    format!("W/\"{}\"", u.version)
}

/// `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5), comma-separated,
/// applied to a rendered resource. `id` and `schemas` are always returned.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    pub attributes: Vec<String>,
    pub excluded: Vec<String>,
}

impl Projection {
    pub fn parse(attributes: Option<&str>, excluded: Option<&str>) -> Self {
        let split = |s: Option<&str>| -> Vec<String> {
            s.unwrap_or("")
                .split(',')
                .map(|a| patrol_core::scim::strip_urn(a.trim()).to_owned())
                .filter(|a| !a.is_empty())
                .collect()
        };
        Self {
            attributes: split(attributes),
            excluded: split(excluded),
        }
    }

    pub fn apply(&self, resource: Value) -> Value {
        let Value::Object(mut m) = resource else {
            return resource;
        };
        let always = |k: &str| k == "id" || k == "schemas";
        if !self.attributes.is_empty() {
            let mut kept = Map::new();
            for (k, v) in m {
                if always(&k) {
                    kept.insert(k, v);
                    continue;
                }
                let wanted: Vec<&str> = self
                    .attributes
                    .iter()
                    .filter_map(|a| {
                        let (top, sub) = a.split_once('.').unwrap_or((a, ""));
                        top.eq_ignore_ascii_case(&k).then_some(sub)
                    })
                    .collect();
                if wanted.is_empty() {
                    continue;
                }
                let v = match (&v, wanted.contains(&"")) {
                    (Value::Object(inner), false) => Value::Object(
                        inner
                            .iter()
                            .filter(|(s, _)| wanted.iter().any(|w| w.eq_ignore_ascii_case(s)))
                            .map(|(s, x)| (s.clone(), x.clone()))
                            .collect(),
                    ),
                    _ => v,
                };
                kept.insert(k, v);
            }
            m = kept;
        }
        m.retain(|k, _| {
            always(k)
                || !self
                    .excluded
                    .iter()
                    .any(|e| !e.contains('.') && e.eq_ignore_ascii_case(k))
        });
        Value::Object(m)
    }
}

pub fn list_response(total: u64, start_index: u64, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_SCIM_PAGE},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": false},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer secret",
            "description": "A secret from Patrol's [scim] tokens, sent as Authorization: Bearer <secret>.",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        },
    })
}

pub fn user_resource_type(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "People who may hold PATs",
        "schema": USER_SCHEMA,
        "schemaExtensions": [],
        "meta": {
            "resourceType": "ResourceType",
            "location": format!("{base}/ResourceTypes/User"),
        },
    })
}

fn attribute(d: &AttrDef) -> Value {
    let mut a = json!({
        "name": d.name,
        "type": d.kind.as_str(),
        "multiValued": d.multi,
        "description": d.description,
        "required": d.required,
        "caseExact": d.case_exact,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": if d.unique { "server" } else { "none" },
    });
    if let Value::Object(m) = &mut a {
        if !d.sub.is_empty() {
            m.insert(
                "subAttributes".into(),
                Value::Array(d.sub.iter().map(attribute).collect()),
            );
        }
        if !d.canonical.is_empty() && d.sub.is_empty() {
            m.insert("canonicalValues".into(), json!(d.canonical));
        }
        if d.kind == patrol_core::scim::AttrType::Reference {
            m.insert("referenceTypes".into(), json!(["external"]));
        }
    }
    a
}

/// Every schema Patrol serves: User (what it keeps) and the three the
/// discovery documents follow (RFC 7643 §7).
pub fn schemas(base: &str) -> Vec<Value> {
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": USER_SCHEMA,
        "name": "User",
        "description": "User Account",
        "attributes": USER_ATTRIBUTES.iter().map(attribute).collect::<Vec<_>>(),
    });
    let meta: Vec<Value> =
        serde_json::from_str(include_str!("meta_schemas.json")).unwrap_or_default();
    std::iter::once(user)
        .chain(meta)
        .map(|mut s| {
            if let Value::Object(m) = &mut s {
                let id = m.get("id").and_then(Value::as_str).unwrap_or("").to_owned();
                m.insert(
                    "meta".into(),
                    json!({"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")}),
                );
            }
            s
        })
        .collect()
}
