//! The OpenAPI document of sync-service, generated from the handlers and types. It is served at
//! /openapi.json and checked in at proto/openapi/sync-service.json (a test fails on drift).

use serde::Serialize;
use service_kit::{BadInput, BearerAuth, Refusals};
use utoipa::{OpenApi, ToSchema};

use crate::api::*;
use crate::dead_letters::*;

#[derive(OpenApi)]
#[openapi(
    info(title = "sync-service", description = "Delivery of punches to Bayzat: batches, deliveries, retries, sync now, each company's sync health, and the dead letters of every queue."),
    paths(
        list_batches, get_batch, retry_batch, sync_company_now, sync_import_now, sync_health,
        company_usage, list_deliveries, list_dead_letters, replay_dead_letter,
    ),
    components(schemas(BatchStatus, DeliveryStateName, DeadLetterState)),
    modifiers(&BearerAuth, &BadInput, &Refusals),
    tags(
        (name = "batches", description = "One company's punches of one import, and their retry"),
        (name = "deliveries", description = "Each punch on its way to Bayzat"),
        (name = "sync", description = "Sync now and company sync health"),
        (name = "dead-letters", description = "Messages no consumer could handle, and their replay"),
    )
)]
struct ApiDoc;

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// A delivery's state.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStateName {
    Pending,
    Scheduled,
    Held,
    Paused,
    Sending,
    Delivered,
    RetryWait,
    Failed,
    Rejected,
    Cancelled,
}

/// checkIn or checkOut.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum PunchKind {
    CheckIn,
    CheckOut,
}

/// A batch's status.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    Pending,
    Processing,
    Completed,
    Failed,
}

/// Whether a company's punches go to Bayzat: active, paused_auth (Bayzat refused the key) or
/// disabled.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CompanySyncState {
    Active,
    PausedAuth,
    Disabled,
}

/// Which dead letters: waiting (not replayed yet), replayed or all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeadLetterState {
    Waiting,
    Replayed,
    All,
}

/// The words of [`DeadLetterState`], as the `state` filter takes them.
impl std::str::FromStr for DeadLetterState {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "waiting" => Ok(DeadLetterState::Waiting),
            "replayed" => Ok(DeadLetterState::Replayed),
            "all" => Ok(DeadLetterState::All),
            _ => Err(()),
        }
    }
}
