//! The REST API of import-service: thin handlers over the pipeline and the storage functions.
//! Uploads (with dry runs) are in `uploads`, reading imports in `imports`, their rows and the
//! rows exports in `rows`, and the operator's actions (release, cancel, reprocess) in `actions`;
//! what each failure answers is in `crate::errors`.

mod actions;
mod imports;
mod rows;
mod uploads;

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::access::Access;
use crate::errors::AccessError;
use crate::store::imports::Import;
use crate::store::punches;
use crate::AppState;

pub use actions::*;
pub use imports::*;
pub use rows::*;
pub use uploads::*;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/openapi.json", web::get().to(openapi))
        .service(
            web::scope("/v1/imports")
                .route("", web::post().to(uploads::upload))
                .route("", web::get().to(imports::list_imports))
                .route("/{id}", web::get().to(imports::get_import))
                .route("/{id}/rows", web::get().to(rows::list_rows))
                .route("/{id}/rows.csv", web::get().to(rows::export_rows))
                .route("/{id}/rows.xlsx", web::get().to(rows::export_rows_xlsx))
                .route("/{id}/reprocess", web::post().to(actions::reprocess))
                .route("/{id}/release", web::post().to(actions::release))
                .route("/{id}/cancel", web::post().to(actions::cancel)),
        );
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(crate::openapi::document())
}

/// An import's status.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    Pending,
    Processing,
    Completed,
    Failed,
}

/// A department no company's report names match.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnmappedDepartment {
    pub name: String,
    pub rows: i64,
}

/// An employee id the directory does not know.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnknownEmployee {
    pub employee_id: String,
    pub rows: i64,
}

/// What became of a row.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RowOutcome {
    Valid,
    Invalid,
    Skipped,
}

/// Where a row's punches are on their way to Bayzat, worst first.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RowDeliveryState {
    Failed,
    Syncing,
    Pending,
    Synced,
    Skipped,
}

/// An error or a warning on a row.
#[derive(Debug, Serialize, ToSchema)]
pub struct RowIssueView {
    /// A stable code, e.g. unknown_employee, invalid_time, weekday_mismatch.
    pub code: String,
    pub message: String,
}

/// A punch derived from a row.
#[derive(Debug, Serialize, ToSchema)]
pub struct PunchView {
    #[serde(rename = "type")]
    pub punch_type: PunchKind,
    /// The company's local wall-clock time, `YYYY-MM-DD HH:MM:SS`, without offset.
    #[schema(
        pattern = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$",
        example = "2026-11-02 08:59:00"
    )]
    pub time: String,
}

/// checkIn or checkOut.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum PunchKind {
    CheckIn,
    CheckOut,
}

/// An import as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportView {
    #[serde(flatten)]
    #[schema(value_type = Import)]
    pub import: serde_json::Value,
    /// Per company slug: its punches by delivery state.
    #[schema(value_type = HashMap<String, HashMap<String, i64>>)]
    pub progress: serde_json::Value,
    /// True when these bytes were imported before and that import is returned.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reused: bool,
    /// True when the import also concerns companies outside the token's scope (not named):
    /// what is shown is only the token's part, and actions on the whole import are refused.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub concerns_other_companies: bool,
}

/// The import as `access` may see it, with its punches' progress counted now.
async fn view(
    state: &AppState,
    access: &Access,
    import: Import,
    reused: bool,
) -> Result<ImportView, AccessError> {
    let mut conn = db::connection(&state.pool).await?;
    let counts = punches::progress(&mut conn, import.id).await?;
    drop(conn);
    access.view(state, import, counts, reused).await
}

/// The view of an import (its fields as the caller may see them) whose punch counts by company
/// and state are known.
pub(crate) async fn view_of(
    state: &AppState,
    import: serde_json::Value,
    counts: Vec<punches::StateCount>,
    reused: bool,
) -> ImportView {
    // Without the directory the progress is still shown, by company id instead of slug.
    let snapshot = match state.directory.current().await {
        Ok(snapshot) => Some(snapshot),
        Err(error) => {
            tracing::warn!(%error, "directory snapshot unavailable; progress shown by company id");
            None
        }
    };
    let mut progress: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for count in counts {
        let company = snapshot
            .as_ref()
            .and_then(|s| s.company(count.company_id))
            .map(|c| c.slug.clone())
            .unwrap_or_else(|| count.company_id.to_string());
        *progress
            .entry(company)
            .or_default()
            .entry(count.state)
            .or_default() += count.count;
    }
    ImportView {
        import,
        progress: json!(progress),
        reused,
        concerns_other_companies: false,
    }
}
