//! The location service official clients use to find every URL:
//! `OPTIONS /_apis`, `GET /_apis/ResourceAreas`, `GET /_apis/connectionData`.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use uuid::Uuid;

use super::AppState;

pub const TOKENS_AREA_ID: &str = "55967393-20ef-45c6-a96c-b5d5d5986a9a";
pub const PATS_LOCATION_ID: &str = "2c1965e2-28da-4aa1-bc64-b8a58537ae9b";
pub const TOKEN_ADMIN_AREA_ID: &str = "af68438b-ed04-4407-9eb6-f1dbae3f922e";
/// Patrol's own location for the one-call regenerate.
pub const PATS_REGENERATE_LOCATION_ID: &str = "7f1c9a52-3b0e-4a51-9d7e-5f2a7c0e8b31";
const DEPLOYMENT_ID: &str = "5a3e2f64-8b7d-4c1e-9f0a-2d6b8c4e1a70";

fn location(id: &str, area: &str, resource: &str, route: &str, min: &str, released: &str) -> Value {
    json!({
        "id": id, "area": area, "resourceName": resource, "routeTemplate": route,
        "resourceVersion": 1, "minVersion": min, "maxVersion": "7.2", "releasedVersion": released
    })
}

/// Every resource Patrol serves: the PAT API, its regenerate, and Token Admin.
pub fn locations() -> Vec<Value> {
    vec![
        location(
            "e81700f7-3be2-46de-8624-2eb35882fcaa",
            "Location",
            "ResourceAreas",
            "_apis/{resource}/{areaId}",
            "3.2",
            "0.0",
        ),
        location(
            "00d9565f-ed9c-4a06-9a50-00e7896ccab4",
            "Location",
            "ConnectionData",
            "_apis/{resource}",
            "1.0",
            "0.0",
        ),
        location(
            PATS_LOCATION_ID,
            "Tokens",
            "Pats",
            "_apis/{area}/{resource}",
            "6.1",
            "0.0",
        ),
        // The unmerged Go client commit uses the area id as the location id.
        location(
            TOKENS_AREA_ID,
            "Tokens",
            "Pats",
            "_apis/{area}/{resource}",
            "6.1",
            "0.0",
        ),
        location(
            PATS_REGENERATE_LOCATION_ID,
            "Tokens",
            "PatsRegenerate",
            "_apis/{area}/pats/regenerate",
            "6.1",
            "0.0",
        ),
        location(
            TOKEN_ADMIN_AREA_ID,
            "TokenAdmin",
            "PersonalAccessTokens",
            "_apis/{area}/{resource}/{subjectDescriptor}",
            "5.0",
            "7.1",
        ),
        location(
            "a9c08b2c-5466-4e22-8626-1ff304ffdf0f",
            "TokenAdmin",
            "Revocations",
            "_apis/{area}/{resource}",
            "5.0",
            "7.1",
        ),
        location(
            "ee4afb16-e7ab-4ed8-9d4b-4ef3e78f97e4",
            "TokenAdmin",
            "RevocationRules",
            "_apis/{area}/{resource}",
            "5.0",
            "7.1",
        ),
    ]
}

fn json_response(body: Value) -> Response {
    let mut r = (StatusCode::OK, axum::Json(body)).into_response();
    // .NET insists on exactly `application/json` as the media type.
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

/// `OPTIONS /_apis`, `/{org}/_apis`, `/{org}/_apis/{area}` (Node asks per area).
pub async fn options() -> Response {
    let value = locations();
    json_response(json!({ "count": value.len(), "value": value }))
}

/// Empty on purpose: the Python SDK then uses its base URL for every client
/// ("on-prem mode") instead of phoning Microsoft's hosts.
pub async fn resource_areas() -> Response {
    json_response(json!({ "count": 0, "value": [] }))
}

fn base_url(state: &AppState, headers: &HeaderMap, org: Option<&str>) -> String {
    let root = state.public_url.clone().unwrap_or_else(|| {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        format!("http://{host}")
    });
    let root = root.trim_end_matches('/');
    match org {
        Some(o) => format!("{root}/{o}/"),
        None => format!("{root}/"),
    }
}

/// `GET /_apis/ResourceAreas/{areaId}` for clients that ask for one area.
pub async fn resource_area(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(params): Path<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let org = get("organization");
    let area = get("area_id").unwrap_or("").to_ascii_lowercase();
    let name = match area.as_str() {
        TOKENS_AREA_ID => "Tokens",
        TOKEN_ADMIN_AREA_ID => "TokenAdmin",
        _ => {
            return super::error::ApiError::NotFound {
                type_key: "ResourceAreaNotFoundException",
                message: format!(
                    "The resource area {} is not registered on this server.",
                    area.chars().take(40).collect::<String>()
                ),
            }
            .into_response()
        }
    };
    json_response(
        json!({ "id": area, "name": name, "locationUrl": base_url(&state, &headers, org) }),
    )
}

/// `GET /_apis/connectionData`: an on-premises service owner, so the .NET
/// client never traverses to other hosts.
pub async fn connection_data(
    State(state): State<AppState>,
    headers: HeaderMap,
    org: Option<Path<String>>,
) -> Response {
    let org_name = org.map(|Path(o)| o);
    let instance = match &org_name {
        Some(o) => state.app.org_by_name(o).await.ok().flatten().map(|o| o.id),
        None => None,
    };
    let base = base_url(&state, &headers, org_name.as_deref());
    let anonymous = json!({
        "id": Uuid::nil(), "descriptor": null, "subjectDescriptor": null,
        "providerDisplayName": "Anonymous", "isActive": true, "properties": {}
    });
    json_response(json!({
        "authenticatedUser": anonymous,
        "authorizedUser": anonymous,
        "instanceId": instance.unwrap_or_else(Uuid::nil),
        "deploymentId": DEPLOYMENT_ID,
        "deploymentType": "onPremises",
        "locationServiceData": {
            "serviceOwner": "00000000-0000-0000-0000-000000000000",
            "defaultAccessMappingMoniker": "PublicAccessMapping",
            "lastChangeId": 1,
            "lastChangeId64": 1,
            "accessMappings": [{
                "displayName": "Public Access Mapping", "moniker": "PublicAccessMapping",
                "accessPoint": base, "serviceOwner": "00000000-0000-0000-0000-000000000000", "virtualDirectory": ""
            }],
            "serviceDefinitions": [],
            "clientCacheFresh": false,
            "clientCacheTimeToLive": 3600
        },
        "webApplicationRelativeDirectory": "/"
    }))
}
