//! The OpenAPI document of import-service, generated from the handlers. Served at /openapi.json
//! and checked in at proto/openapi/import-service.json (a test fails on drift).

use service_kit::{BadInput, BearerAuth, Refusals};
use utoipa::OpenApi;

use crate::api::*;
use crate::clocks::admin::*;
use crate::clocks::biotime_admin::*;

#[derive(OpenApi)]
#[openapi(
    info(title = "import-service", description = "Fingerprint reports and pushing clocks in: validated rows, de-duplicated punches, delivery progress."),
    paths(upload, list_imports, get_import, list_rows, export_rows, export_rows_xlsx, reprocess, release, cancel, list_clocks, register_clock, update_clock, approve_clock, disable_clock, clock_punches, list_biotime_servers, register_biotime_server, update_biotime_server, pull_biotime_server),
    components(schemas(DateOrderChoice, ImportStatus, RowOutcome, RowDeliveryState)),
    modifiers(&BearerAuth, &BadInput, &Refusals),
    tags((name = "imports", description = "Uploaded reports, their rows and their delivery"), (name = "clocks", description = "Terminals that push their punches: registry, approval, their rows"), (name = "biotime", description = "BioTime servers whose transactions are pulled: registry, pull status, pulling now"))
)]
struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
