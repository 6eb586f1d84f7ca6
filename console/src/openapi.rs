//! The JSON API's routes, declared once with their OpenAPI description (utoipa): every `/v1/...`
//! route is registered here through `routes!`, which adds the handler to the router and its path
//! item to the document together, so the router and `/v1/openapi.json` (OpenAPI 3.1) cannot
//! disagree. A test walks the document against the router and this file (console/tests/openapi.rs).

use std::sync::OnceLock;

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{InfoBuilder, OpenApi, SecurityRequirement};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::{analytics, audit, incidents, integrations, keys, live, projects, rules, tokens, ConsoleState};

/// Every API route with its description.
pub fn api_router() -> OpenApiRouter<ConsoleState> {
    OpenApiRouter::new()
        .routes(routes!(incidents::list))
        .routes(routes!(incidents::get, incidents::patch))
        .routes(routes!(analytics::frustration_rate))
        .routes(routes!(analytics::top_elements))
        .routes(routes!(projects::list, projects::create))
        .routes(routes!(projects::get))
        .routes(routes!(keys::list, keys::create))
        .routes(routes!(keys::update))
        .routes(routes!(keys::revoke))
        .routes(routes!(integrations::list, integrations::create))
        .routes(routes!(integrations::get, integrations::update, integrations::delete))
        .routes(routes!(integrations::test))
        .routes(routes!(rules::list))
        .routes(routes!(rules::get, rules::put))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::revoke))
        .routes(routes!(audit::list))
        .routes(routes!(live::live))
        .routes(routes!(openapi_json))
}

/// The OpenAPI 3.1 document of [`api_router`], with bearer authentication on every operation.
pub fn openapi() -> &'static OpenApi {
    static DOC: OnceLock<OpenApi> = OnceLock::new();
    DOC.get_or_init(|| {
        let (_, mut doc) = api_router().split_for_parts();
        doc.info = InfoBuilder::new()
            .title("Friction console API")
            .version(env!("CARGO_PKG_VERSION"))
            .description(Some(
                "Incidents, projects, API keys, integrations, rules, tokens, audit log, analytics and live \
                 incident changes. Send `Authorization: Bearer frt_...`; see docs/console.md.",
            ))
            .build();
        doc.components.get_or_insert_with(Default::default).add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("frt_...").build()),
        );
        doc.security = Some(vec![SecurityRequirement::new("bearer", Vec::<String>::new())]);
        doc
    })
}

/// `GET /v1/openapi.json`: this API's OpenAPI 3.1 document (no token needed).
#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "the OpenAPI 3.1 document")))]
pub async fn openapi_json() -> Json<&'static OpenApi> {
    Json(openapi())
}
