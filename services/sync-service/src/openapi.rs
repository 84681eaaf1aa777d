//! The OpenAPI document of sync-service, generated from the handlers and types. It is served at
//! /openapi.json and checked in at proto/openapi/sync-service.json (a test fails on drift).

use service_kit::BearerAuth;
use utoipa::OpenApi;

use crate::api::*;

#[derive(OpenApi)]
#[openapi(
    info(title = "sync-service", description = "Delivery of punches to Bayzat: batches, deliveries, retries, sync now and each company's sync health."),
    paths(
        list_batches, get_batch, retry_batch, sync_company_now, sync_import_now, sync_health,
        company_usage, list_deliveries,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "batches", description = "One company's punches of one import, and their retry"),
        (name = "deliveries", description = "Each punch on its way to Bayzat"),
        (name = "sync", description = "Sync now and company sync health"),
    )
)]
struct ApiDoc;

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
