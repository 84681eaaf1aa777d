//! The OpenAPI document of import-service, generated from the handlers. Served at /openapi.json
//! and checked in at proto/openapi/import-service.json (a test fails on drift).

use service_kit::{BadInput, BearerAuth, Refusals};
use utoipa::OpenApi;

use crate::api::*;

#[derive(OpenApi)]
#[openapi(
    info(title = "import-service", description = "Fingerprint reports in: validated rows, de-duplicated punches, delivery progress."),
    paths(upload, list_imports, get_import, list_rows, export_rows, export_rows_xlsx, reprocess, release, cancel),
    components(schemas(DateOrderChoice, ImportStatus, RowOutcome, RowDeliveryState)),
    modifiers(&BearerAuth, &BadInput, &Refusals),
    tags((name = "imports", description = "Uploaded reports, their rows and their delivery"))
)]
struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
