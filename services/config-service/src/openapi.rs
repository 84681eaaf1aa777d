//! The OpenAPI document of config-service, generated from the handlers and types. It is served at
//! /openapi.json and checked in at proto/openapi/config-service.json (a test fails on drift).

use serde::Serialize;
use service_kit::{BadInput, BearerAuth, Refusals};
use utoipa::{OpenApi, ToSchema};

use crate::api::*;

#[derive(OpenApi)]
#[openapi(
    info(title = "config-service", description = "Companies, fingerprint report names, the employee directory, Bayzat credentials and the audit log."),
    paths(
        list_companies, create_company, get_company, update_company, add_report_name, remove_report_name,
        list_employees, upsert_employees, upload_employees_csv, deactivate_employee,
        get_config, put_config, test_connection, snapshot, list_audit, decrypted_key,
        list_webhooks, create_webhook, get_webhook, update_webhook, delete_webhook, rotate_secret,
        list_deliveries, replay_delivery,
        list_contacts, add_contact, update_contact, remove_contact, test_contacts,
    ),
    modifiers(&BearerAuth, &BadInput, &Refusals),
    tags(
        (name = "companies", description = "Companies and the fingerprint report names that map to them"),
        (name = "employees", description = "The employee directory"),
        (name = "bayzat", description = "Bayzat configuration per company"),
        (name = "directory", description = "The snapshot the other services validate against"),
        (name = "audit", description = "The system's audit log"),
        (name = "webhooks", description = "Where the bridge sends its events, signed; their delivery log and replays"),
        (name = "notifications", description = "Who is mailed about a company's events, in which language"),
        (name = "internal", description = "For sync-service only"),
    )
)]
struct ApiDoc;

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// When a company's punches go to Bayzat: manual (as soon as their import completes), hourly
/// (at the next top of the hour) or daily (at `daily_at`), in the company's time zone.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncFrequencyName {
    Manual,
    Hourly,
    Daily,
}
