//! The OpenAPI document of import-service, generated from the handlers. Served at /openapi.json
//! and checked in at proto/openapi/import-service.json (a test fails on drift).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api::*;

#[derive(OpenApi)]
#[openapi(
    info(title = "import-service", description = "Fingerprint reports in: validated rows, de-duplicated punches, delivery progress."),
    paths(upload, list_imports, get_import, list_rows, export_rows, reprocess, release, cancel),
    modifiers(&BearerAuth),
    tags((name = "imports", description = "Uploaded reports, their rows and their delivery"))
)]
struct ApiDoc;

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
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
