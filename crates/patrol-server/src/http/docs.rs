//! OpenAPI 3.1 at `/openapi.json` and a Swagger UI at `/docs`, its assets
//! embedded in the binary (no CDN).

use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use super::{verify, wire};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        // The verify path: a PAT as a Basic password (any user name) or a
        // Bearer value; introspection callers use their client id and secret.
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        components.add_security_scheme(
            "pat_bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("PAT")
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Patrol",
        description = "Personal access tokens, Azure DevOps-compatible. The PAT Lifecycle API accepts only OIDC \
                       access tokens issued on behalf of a user (scope vso.pats; vso.pats_manage for changes).",
        license(name = "MIT")
    ),
    components(schemas(
        wire::PatToken,
        wire::PatTokenResult,
        wire::PagedPatTokens,
        wire::PatTokenCreateRequest,
        wire::PatTokenUpdateRequest,
        verify::introspect::Introspection,
        crate::config::CliLogin
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "pats", description = "PAT Lifecycle Management (Azure DevOps wire contract)"),
        (name = "verify", description = "Using a PAT: forward-auth for reverse proxies, RFC 7662 introspection"),
        (name = "cli", description = "Where the `patrol` command line signs in")
    )
)]
pub struct ApiDoc;

/// `/docs` and `/openapi.json` for `openapi`: [`ApiDoc`] plus the paths the
/// documented routers registered.
pub fn router(openapi: utoipa::openapi::OpenApi) -> Router {
    Router::new().merge(SwaggerUi::new("/docs").url("/openapi.json", openapi))
}
