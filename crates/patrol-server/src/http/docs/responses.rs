//! The answers operations share, described once: each set is a type that
//! handlers list in `#[utoipa::path(responses(…))]`, pointing at response
//! components registered in the document by [`register`]. The bodies are the
//! types the server writes (`WrappedException`, `OAuthError`), so the
//! document cannot drift from them.

use std::collections::BTreeMap;

use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr};
use utoipa::IntoResponses;

const JSON: &str = "application/json";
const TEXT: &str = "text/plain";

/// Marks a header schema whose header is always sent; [`super::publish`]
/// turns it into the header's `required: true` (utoipa's `Header` has no
/// such field).
pub const REQUIRED_HEADER: &str = "x-patrol-required-header";

fn schema_ref(name: &str) -> RefOr<utoipa::openapi::Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

fn json(description: &str, schema: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        JSON,
        ContentBuilder::new()
            .schema(Some(schema_ref(schema)))
            .build(),
    )
}

fn wrapped(description: &str) -> ResponseBuilder {
    json(description, "WrappedException")
}

fn text(description: &str) -> ResponseBuilder {
    let body = ObjectBuilder::new().schema_type(Type::String);
    ResponseBuilder::new()
        .description(description)
        .content(TEXT, ContentBuilder::new().schema(Some(body)).build())
}

fn header(required: bool, description: &str, schema: ObjectBuilder) -> Header {
    let schema = if required {
        schema.extensions(Some(Extensions::from_iter([(
            REQUIRED_HEADER,
            serde_json::Value::Bool(true),
        )])))
    } else {
        schema
    };
    HeaderBuilder::new()
        .schema(schema)
        .description(Some(description))
        .build()
}

fn string_header(required: bool, description: &str) -> Header {
    header(
        required,
        description,
        ObjectBuilder::new().schema_type(Type::String),
    )
}

fn challenge(scheme: &str, required: bool, description: &str) -> Header {
    header(
        required,
        description,
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(format!("^{scheme} realm=\"patrol\""))),
    )
}

fn retry_after() -> Header {
    header(
        true,
        "Seconds to wait before trying again.",
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0)),
    )
}

/// Every shared response, by component name.
fn components() -> Vec<(&'static str, Response)> {
    vec![
        (
            "AdoBadRequest",
            wrapped(
                "Bad request: `api-version` missing, malformed or out of range \
                 (`VssVersionNotSpecifiedException`, `VssInvalidApiVersionException`, \
                 `VssVersionOutOfRangeException`); a query parameter out of its pattern \
                 (`ArgumentException`); a body that is empty (`ArgumentNullException`), not a JSON \
                 object or with a field of the wrong type (`JsonReaderException`); the caller's \
                 active-PAT limit (`SessionTokenCreateException`).",
            )
            .build(),
        ),
        (
            "ApiUnauthorized",
            text(
                "No credentials, an invalid or expired access token, or a PAT (the management API \
                 takes only OIDC access tokens). Plain text, so that SDKs raise their \
                 authentication error.",
            )
            .header(
                "WWW-Authenticate",
                challenge(
                    "Bearer",
                    true,
                    "`Bearer realm=\"patrol\"`, with `error=\"invalid_token\"` when a credential was \
                     refused.",
                ),
            )
            .build(),
        ),
        (
            "ApiForbidden",
            wrapped(
                "A valid token that may not do this (`InvalidAccessException`): without the delegated \
                 scope (`vso.pats` to read, `vso.pats_manage` to change), from a service principal, \
                 managed identity or client-credentials grant, of a disabled user, or of a user who \
                 is not a member of the organization.",
            )
            .header(
                "WWW-Authenticate",
                challenge(
                    "Bearer",
                    false,
                    "On a missing scope: `Bearer realm=\"patrol\", error=\"insufficient_scope\", \
                     scope=\"…\"`.",
                ),
            )
            .build(),
        ),
        (
            "OrganizationNotFound",
            wrapped("No such organization (`OrganizationNotFoundException`).").build(),
        ),
        (
            "PayloadTooLarge",
            wrapped(
                "The body is larger than `server.max_body_bytes` (`RequestTooLargeException`); the \
                 connection is then closed.",
            )
            .header(
                "Connection",
                string_header(false, "`close` when the rest of the body was left unread."),
            )
            .build(),
        ),
        (
            "ApiTooManyRequests",
            wrapped(
                "Too many failed authentications from this address \
                 (`RequestLimitExceededException`).",
            )
            .header("Retry-After", retry_after())
            .build(),
        ),
        (
            "InternalError",
            wrapped("A fault; the cause is logged, the body stays generic (`InternalServerError`).")
                .build(),
        ),
        (
            "IdpUnavailable",
            wrapped(
                "The identity provider cannot be reached and no signing keys are cached \
                 (`ServiceUnavailableException`).",
            )
            .header("Retry-After", retry_after())
            .build(),
        ),
        (
            "VerifyBadRequest",
            text("The proxy asked for an unknown scope, or for more than 32 scopes or organizations: a configuration error.")
                .build(),
        ),
        (
            "VerifyUnauthorized",
            text("No PAT, or one that is not valid: unknown, revoked, expired, inactive or malformed — all alike.")
                .header(
                    "WWW-Authenticate",
                    challenge("Basic", true, "`Basic realm=\"patrol\"`, so that git and browsers ask for credentials."),
                )
                .build(),
        ),
        (
            "VerifyForbidden",
            text("A valid PAT without a required scope, or not valid in a required organization.").build(),
        ),
        (
            "VerifyTooManyRequests",
            text("Too many failures from this address, or with this token.")
                .header("Retry-After", retry_after())
                .build(),
        ),
        (
            "VerifyUnavailable",
            text("The store cannot be reached: the request is refused (fail closed).").build(),
        ),
        (
            "OAuthBadRequest",
            json(
                "`invalid_request`: no `token`, the body is not `application/x-www-form-urlencoded`, \
                 or it is larger than 16 KiB.",
                "OAuthError",
            )
            .build(),
        ),
        (
            "OAuthUnauthorized",
            json(
                "`invalid_client`: the resource server did not authenticate (HTTP Basic with its \
                 client id and secret).",
                "OAuthError",
            )
            .header(
                "WWW-Authenticate",
                challenge("Basic", true, "`Basic realm=\"patrol\"`."),
            )
            .build(),
        ),
        (
            "OAuthTooManyRequests",
            json(
                "`too_many_requests`: too many failed client authentications from this address.",
                "OAuthError",
            )
            .header("Retry-After", retry_after())
            .build(),
        ),
        (
            "OAuthUnavailable",
            json(
                "`temporarily_unavailable`: the store cannot be reached.",
                "OAuthError",
            )
            .build(),
        ),
    ]
}

/// Adds every shared response to the document's components.
pub fn register(openapi: &mut OpenApi) {
    let registered = openapi.components.get_or_insert_with(Default::default);
    for (name, response) in components() {
        registered
            .responses
            .insert(name.to_owned(), RefOr::T(response));
    }
}

/// `status → component` references, checked against [`components`] by the tests.
fn refs(list: &[(&str, &str)]) -> BTreeMap<String, RefOr<Response>> {
    list.iter()
        .map(|(status, name)| {
            (
                (*status).to_owned(),
                RefOr::Ref(Ref::from_response_name(*name)),
            )
        })
        .collect()
}

/// What every PAT API operation can answer besides its success: the
/// management API's refusals (`docs/ado-wire-contract.md` §3.7).
pub struct PatApiRefusals;

impl IntoResponses for PatApiRefusals {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        refs(&[
            ("400", "AdoBadRequest"),
            ("401", "ApiUnauthorized"),
            ("403", "ApiForbidden"),
            ("404", "OrganizationNotFound"),
            ("413", "PayloadTooLarge"),
            ("429", "ApiTooManyRequests"),
            ("500", "InternalError"),
            ("503", "IdpUnavailable"),
        ])
    }
}

/// Forward-auth's refusals: plain text, so any proxy can pass them on.
pub struct ForwardAuthRefusals;

impl IntoResponses for ForwardAuthRefusals {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        refs(&[
            ("400", "VerifyBadRequest"),
            ("401", "VerifyUnauthorized"),
            ("403", "VerifyForbidden"),
            ("413", "PayloadTooLarge"),
            ("429", "VerifyTooManyRequests"),
            ("503", "VerifyUnavailable"),
        ])
    }
}

/// Introspection's refusals: RFC 6749 §5.2-style error bodies.
pub struct IntrospectionRefusals;

impl IntoResponses for IntrospectionRefusals {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        refs(&[
            ("400", "OAuthBadRequest"),
            ("401", "OAuthUnauthorized"),
            ("413", "PayloadTooLarge"),
            ("429", "OAuthTooManyRequests"),
            ("503", "OAuthUnavailable"),
        ])
    }
}

/// Forward-auth's success: no body, the identity in headers.
pub struct ForwardAuthOk;

impl IntoResponses for ForwardAuthOk {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let ok = ResponseBuilder::new()
            .description(
                "The PAT is valid and holds every requirement; the identity is in the headers.",
            )
            .header(
                "X-Patrol-User",
                string_header(
                    false,
                    "The owner's display name, for display only: it can change and is not \
                     unique (left out when it cannot be a header value).",
                ),
            )
            .header(
                "X-Patrol-User-Id",
                header(
                    true,
                    "The owner's Patrol user id: stable and unforgeable, the header to \
                     authorise on.",
                    ObjectBuilder::new().schema_type(Type::String).format(Some(
                        utoipa::openapi::SchemaFormat::KnownFormat(
                            utoipa::openapi::KnownFormat::Uuid,
                        ),
                    )),
                ),
            )
            .header(
                "X-Patrol-User-Issuer",
                string_header(true, "The identity provider the owner signs in with."),
            )
            .header(
                "X-Patrol-User-Subject",
                string_header(
                    true,
                    "The owner's subject at that provider (with the issuer, the owner's key).",
                ),
            )
            .header(
                "X-Patrol-User-Email",
                string_header(
                    false,
                    "The owner's email, only when the identity provider vouches for it.",
                ),
            )
            .header(
                "X-Patrol-Authorization-Id",
                header(
                    true,
                    "The PAT's authorizationId.",
                    ObjectBuilder::new().schema_type(Type::String).format(Some(
                        utoipa::openapi::SchemaFormat::KnownFormat(
                            utoipa::openapi::KnownFormat::Uuid,
                        ),
                    )),
                ),
            )
            .header(
                "X-Patrol-Scopes",
                string_header(true, "The PAT's scopes, space-separated."),
            )
            .build();
        BTreeMap::from([("200".to_owned(), RefOr::T(ok))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every reference a response set makes names a registered component.
    #[test]
    fn every_reference_resolves() {
        let names: Vec<&str> = components().iter().map(|(n, _)| *n).collect();
        let sets = [
            PatApiRefusals::responses(),
            ForwardAuthRefusals::responses(),
            IntrospectionRefusals::responses(),
        ];
        for set in sets {
            for (status, response) in set {
                let RefOr::Ref(r) = response else {
                    panic!("{status} is inline")
                };
                let name = r.ref_location.rsplit('/').next().unwrap();
                assert!(names.contains(&name), "{status}: {name}");
            }
        }
    }
}
