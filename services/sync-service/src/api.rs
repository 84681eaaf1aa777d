//! The REST API: batches, deliveries and company sync health for viewers; batch retry and sync
//! now for operators (docs/architecture.md#security). Every operator action is audited with `audit.recorded.v1`.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use auth::{Caller, Permission};
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use diesel_async::AsyncConnection;
use directory::DirectoryCompany;
use domain::{AuditRecordedV1, CompanyId, DeliveryState, DueReason, SyncDueV1};
use serde::{Deserialize, Serialize};
use serde_json::json;
use service_kit::{Page, PageQuery};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::errors::{AccessError, BatchError, DeliveryError, SyncError};
use crate::runtime::SyncContext;
use crate::store::batches::{self, Batch, BatchFilter};
use crate::store::deliveries::{self, DeliveryFilter, DeliveryRow, Selection};
use crate::store::requests::{self, LastError};
use crate::store::{clock_health, companies, status, Conn};
use crate::SERVICE;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/openapi.json", web::get().to(openapi))
        .service(
            web::scope("/v1")
                .route("/batches", web::get().to(list_batches))
                .route("/batches/{id}", web::get().to(get_batch))
                .route("/batches/{id}/retry", web::post().to(retry_batch))
                .route(
                    "/companies/{company}/sync-now",
                    web::post().to(sync_company_now),
                )
                .route(
                    "/companies/{company}/sync-health",
                    web::get().to(sync_health),
                )
                .route("/companies/{company}/usage", web::get().to(company_usage))
                .route("/imports/{id}/sync-now", web::post().to(sync_import_now))
                .route("/deliveries", web::get().to(list_deliveries))
                .route(
                    "/dead-letters",
                    web::get().to(crate::dead_letters::list_dead_letters),
                )
                .route(
                    "/dead-letters/{id}/replay",
                    web::post().to(crate::dead_letters::replay_dead_letter),
                ),
        );
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(crate::openapi::document())
}

/// Every company of the directory, by id.
async fn directory(shared: &SyncContext) -> Result<BTreeMap<i64, DirectoryCompany>, AccessError> {
    let snapshot = shared.directory.current().await?;
    Ok(snapshot
        .companies
        .iter()
        .map(|c| (c.id, c.clone()))
        .collect())
}

/// The company a request names (id or slug), once the caller may perform `permission` on it.
async fn authorized_company(
    shared: &SyncContext,
    caller: &Caller,
    permission: Permission,
    key: &str,
) -> Result<DirectoryCompany, AccessError> {
    caller.require(permission)?;
    let companies = directory(shared).await?;
    let company = companies
        .values()
        .find(|c| c.slug == key || c.id.to_string() == key)
        .cloned()
        .ok_or(AccessError::NoSuchCompany)?;
    caller.require_company(&company.slug)?;
    Ok(company)
}

/// The companies the caller may see: `None` for all.
pub(crate) async fn visible(
    shared: &SyncContext,
    caller: &Caller,
) -> Result<Option<Vec<i64>>, AccessError> {
    match caller.visible_companies() {
        None => Ok(None),
        Some(_) => Ok(Some(
            directory(shared)
                .await?
                .values()
                .filter(|c| caller.can_access_company(&c.slug))
                .map(|c| c.id)
                .collect(),
        )),
    }
}

/// Narrows a list to one company (id or slug) within what the caller may see.
pub(crate) async fn company_filter(
    shared: &SyncContext,
    caller: &Caller,
    company: Option<&str>,
) -> Result<Option<Vec<i64>>, AccessError> {
    let visible = visible(shared, caller).await?;
    let Some(key) = company else {
        return Ok(visible);
    };
    let company = authorized_company(shared, caller, Permission::ReadSyncData, key).await?;
    Ok(Some(vec![company.id]))
}

pub(crate) fn audit(
    caller: &Caller,
    action: &str,
    company_id: Option<i64>,
    target: String,
    details: serde_json::Value,
    at: DateTime<Utc>,
) -> AuditRecordedV1 {
    AuditRecordedV1 {
        actor: caller.sub().to_owned(),
        action: action.to_owned(),
        company_id: company_id.map(CompanyId),
        target: Some(target),
        details,
        service: SERVICE.to_owned(),
        at,
    }
}

async fn due(conn: &mut Conn, company_id: i64) -> diesel::QueryResult<()> {
    status::enqueue(
        conn,
        &SyncDueV1 {
            company_id: CompanyId(company_id),
            reason: DueReason::SyncNow,
        },
    )
    .await
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BatchQuery {
    /// Company id or slug.
    pub company: Option<String>,
    pub import_id: Option<i64>,
    /// pending, processing, completed or failed.
    #[param(value_type = Option<crate::openapi::BatchStatus>)]
    pub status: Option<String>,
}

#[utoipa::path(get, path = "/v1/batches", tag = "batches",
    params(BatchQuery, PageQuery),
    responses((status = 200, body = BatchPage), (status = 401), (status = 403)),
    security(("bearer" = [])))]
pub async fn list_batches(
    shared: web::Data<SyncContext>,
    caller: Caller,
    query: web::Query<BatchQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, BatchError> {
    caller.require(Permission::ReadSyncData)?;
    let filter = BatchFilter {
        company_ids: company_filter(&shared, &caller, query.company.as_deref()).await?,
        import_id: query.import_id,
        status: query.status.clone(),
    };
    let mut conn = db::connection(&shared.pool).await?;
    let (items, total) = batches::list(&mut conn, &filter, page.offset(), page.limit()).await?;
    Ok(HttpResponse::Ok().json(page.of(items, total)))
}

/// A page of batches.
#[derive(Serialize, ToSchema)]
pub struct BatchPage {
    pub items: Vec<Batch>,
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
}

/// A page of deliveries.
#[derive(Serialize, ToSchema)]
pub struct DeliveryPage {
    pub items: Vec<DeliveryRow>,
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
}

async fn find_batch(shared: &SyncContext, caller: &Caller, id: &str) -> Result<Batch, BatchError> {
    let id: Uuid = id.parse().map_err(|_| BatchError::NoSuchBatch)?;
    let mut conn = db::connection(&shared.pool).await?;
    let batch = batches::find(&mut conn, id)
        .await?
        .ok_or(BatchError::NoSuchBatch)?;
    drop(conn);
    if let Some(visible) = visible(shared, caller).await? {
        if !visible.contains(&batch.company_id) {
            return Err(BatchError::NoSuchBatch);
        }
    }
    Ok(batch)
}

#[utoipa::path(get, path = "/v1/batches/{id}", tag = "batches",
    params(("id" = String, Path, description = "batch id")),
    responses((status = 200, body = Batch), (status = 404)),
    security(("bearer" = [])))]
pub async fn get_batch(
    shared: web::Data<SyncContext>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, BatchError> {
    caller.require(Permission::ReadSyncData)?;
    Ok(HttpResponse::Ok().json(find_batch(&shared, &caller, &path).await?))
}

/// What a retry or sync-now queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct Queued {
    /// Deliveries now pending.
    pub queued: usize,
}

#[utoipa::path(post, path = "/v1/batches/{id}/retry", tag = "batches",
    params(("id" = String, Path, description = "batch id")),
    responses((status = 202, body = Queued), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn retry_batch(
    shared: web::Data<SyncContext>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, BatchError> {
    caller.require(Permission::RetryBatches)?;
    let batch = find_batch(&shared, &caller, &path).await?;
    let now = shared.clock.now();
    let selection = Selection {
        batch_id: Some(batch.id),
        from: vec![DeliveryState::Failed, DeliveryState::Rejected],
        ..Selection::default()
    };
    let event = audit(
        &caller,
        "batch.retried",
        Some(batch.company_id),
        batch.id.to_string(),
        json!({}),
        now,
    );
    let mut conn = db::connection(&shared.pool).await?;
    let queued = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            let changed =
                deliveries::transition(conn, &selection, DeliveryState::Pending, None, true, now)
                    .await?;
            status::record(conn, batch.company_id, &changed, now).await?;
            // The operator asks for a resend, typically because Bayzat now knows an employee it
            // refused: the senders must not reject those punches again from memory.
            companies::bump_config_version(conn, batch.company_id).await?;
            due(conn, batch.company_id).await?;
            let mut event = event;
            event.details = json!({ "queued": changed.len() });
            status::enqueue(conn, &event).await?;
            Ok(changed.len())
        })
        .await?;
    shared.relay.wake();
    Ok(HttpResponse::Accepted().json(Queued { queued }))
}

/// Scheduled deliveries of the selection → pending, and the company's sender told.
async fn sync_now(
    shared: &SyncContext,
    caller: &Caller,
    company_id: i64,
    import_id: Option<i64>,
) -> Result<usize, SyncError> {
    let now = shared.clock.now();
    let selection = Selection {
        company_id: Some(company_id),
        import_id,
        from: vec![DeliveryState::Scheduled, DeliveryState::RetryWait],
        ..Selection::default()
    };
    let (action, target) = match import_id {
        Some(id) => ("import.sync_now", id.to_string()),
        None => ("company.sync_now", company_id.to_string()),
    };
    let event = audit(caller, action, Some(company_id), target, json!({}), now);
    let mut conn = db::connection(&shared.pool).await?;
    let queued = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            let changed =
                deliveries::transition(conn, &selection, DeliveryState::Pending, None, false, now)
                    .await?;
            status::record(conn, company_id, &changed, now).await?;
            due(conn, company_id).await?;
            let mut event = event;
            event.details = json!({ "queued": changed.len() });
            status::enqueue(conn, &event).await?;
            Ok(changed.len())
        })
        .await?;
    shared.relay.wake();
    Ok(queued)
}

#[utoipa::path(post, path = "/v1/companies/{company}/sync-now", tag = "sync",
    params(("company" = String, Path, description = "id or slug", example = "advline")),
    responses((status = 202, body = Queued), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn sync_company_now(
    shared: web::Data<SyncContext>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, SyncError> {
    let company = authorized_company(&shared, &caller, Permission::SyncNow, &path).await?;
    let queued = sync_now(&shared, &caller, company.id, None).await?;
    Ok(HttpResponse::Accepted().json(Queued { queued }))
}

#[utoipa::path(post, path = "/v1/imports/{id}/sync-now", tag = "sync",
    params(("id" = i64, Path, description = "import id")),
    responses((status = 202, body = Queued), (status = 403, description = "forbidden: the role; forbidden_company: the import concerns companies the token does not cover"),
              (status = 404, description = "no deliveries of the import among the token's companies")),
    security(("bearer" = [])))]
pub async fn sync_import_now(
    shared: web::Data<SyncContext>,
    caller: Caller,
    path: web::Path<i64>,
) -> Result<HttpResponse, SyncError> {
    caller.require(Permission::SyncNow)?;
    let import_id = path.into_inner();
    let mut conn = db::connection(&shared.pool).await?;
    let owners = deliveries::companies_of_import(&mut conn, import_id).await?;
    drop(conn);
    // An import of none of the token's companies answers as a missing one; one that also
    // concerns companies the token does not cover is not the token's to push.
    let companies = directory(&shared).await?;
    let covered = |company_id: i64| {
        companies
            .get(&company_id)
            .is_some_and(|c| caller.can_access_company(&c.slug))
    };
    if !owners.iter().copied().any(covered) {
        return Err(SyncError::NoSuchImport);
    }
    if !owners.iter().copied().all(covered) {
        return Err(SyncError::ImportBeyondToken);
    }
    let mut queued = 0;
    for company_id in owners {
        queued += sync_now(&shared, &caller, company_id, Some(import_id)).await?;
    }
    Ok(HttpResponse::Accepted().json(Queued { queued }))
}

/// How a company's delivery to Bayzat is doing.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncHealth {
    pub company_id: i64,
    /// active, paused_auth or disabled.
    #[schema(value_type = crate::openapi::CompanySyncState)]
    pub state: String,
    pub state_reason: Option<String>,
    pub state_since: Option<DateTime<Utc>>,
    /// Deliveries by state.
    pub counts: BTreeMap<String, i64>,
    /// Seconds since the oldest delivery still waiting to go (pending, retry_wait, sending) was
    /// queued.
    pub oldest_pending_age_seconds: Option<i64>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_error: Option<LastError>,
    /// Bayzat calls in the last 24 hours, and the share of them accepted.
    pub calls_24h: i64,
    pub success_rate_24h: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    /// While Bayzat's last 429 holds: the company sends nothing before this time.
    pub rate_limited_until: Option<DateTime<Utc>>,
    /// Why the company is rate limited (with `rate_limited_until`).
    pub rate_limit_reason: Option<String>,
    /// Deliveries waiting for a later attempt (`retry_wait`): how many, when the first is due
    /// and why it waits; null when none waits.
    pub waiting: Option<deliveries::Waiting>,
    /// The clocks whose punches may be the company's (push terminals placed by an admin), as
    /// import-service last reported them, by serial number.
    pub clocks: Vec<ClockHealthView>,
}

/// A clock's health in a company's sync health.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClockHealthView {
    pub clock_id: i64,
    #[schema(example = "CKJ4201")]
    pub serial_number: String,
    /// approved or disabled.
    pub state: String,
    /// When it last called import-service; none until it first does.
    pub last_seen_at: Option<DateTime<Utc>>,
    pub last_punch_at: Option<DateTime<Utc>>,
    /// Punches it put into the ledger on its local day.
    pub punches_today: i64,
    /// Approved and quiet for longer than `CLOCK_SILENT_AFTER`, at the time of this answer.
    pub silent: bool,
    /// When import-service last reported it.
    pub observed_at: DateTime<Utc>,
}

#[utoipa::path(get, path = "/v1/companies/{company}/sync-health", tag = "sync",
    params(("company" = String, Path, description = "id or slug", example = "advline")),
    responses((status = 200, body = SyncHealth), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn sync_health(
    shared: web::Data<SyncContext>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, SyncError> {
    let company = authorized_company(&shared, &caller, Permission::ReadSyncData, &path).await?;
    let now = shared.clock.now();
    let mut conn = db::connection(&shared.pool).await?;
    let state = companies::find(&mut conn, company.id).await?;
    let counts = deliveries::counts(&mut conn, Some(company.id))
        .await?
        .into_iter()
        .map(|c| (c.state, c.count))
        .collect();
    let oldest = deliveries::oldest_waiting(&mut conn, company.id).await?;
    let summary = requests::summary(&mut conn, company.id, now - TimeDelta::hours(24)).await?;
    let last_error = requests::last_error(&mut conn, company.id).await?;
    let waiting = deliveries::waiting(&mut conn, company.id).await?;
    let clocks = clock_health::of_company(&mut conn, company.id)
        .await?
        .into_iter()
        .map(|health| ClockHealthView {
            silent: health.is_silent_at(now),
            clock_id: health.clock_id,
            serial_number: health.serial_number,
            state: health.state,
            last_seen_at: health.last_seen_at,
            last_punch_at: health.last_punch_at,
            punches_today: health.punches_today,
            observed_at: health.observed_at,
        })
        .collect();
    let rate_limited = state
        .as_ref()
        .and_then(|s| {
            s.rate_limited_until
                .map(|until| (until, s.rate_limit_reason.clone()))
        })
        .filter(|(until, _)| *until > now);
    Ok(HttpResponse::Ok().json(SyncHealth {
        company_id: company.id,
        state: state
            .as_ref()
            .map_or_else(|| "active".to_owned(), |s| s.state.clone()),
        state_reason: state.as_ref().and_then(|s| s.reason.clone()),
        state_since: state.as_ref().map(|s| s.since),
        counts,
        oldest_pending_age_seconds: oldest.map(|at| (now - at).num_seconds().max(0)),
        last_success_at: summary.last_success_at,
        last_error,
        calls_24h: summary.calls,
        success_rate_24h: (summary.calls > 0)
            .then(|| summary.accepted as f64 / summary.calls as f64),
        latency_p50_ms: summary.p50_ms,
        latency_p95_ms: summary.p95_ms,
        rate_limited_until: rate_limited.as_ref().map(|(until, _)| *until),
        rate_limit_reason: rate_limited.and_then(|(_, reason)| reason),
        waiting,
        clocks,
    }))
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// How many local days back, today included: 1 to 31 (default 7).
    pub days: Option<u32>,
}

/// A company's Bayzat calls per day, for the console's usage figures and chart.
#[derive(Debug, Serialize, ToSchema)]
pub struct Usage {
    pub company_id: i64,
    /// The IANA zone the days are counted in (the company's).
    pub timezone: String,
    /// Days with at least one call, oldest first.
    pub days: Vec<requests::DailyUsage>,
}

#[utoipa::path(get, path = "/v1/companies/{company}/usage", tag = "sync",
    params(("company" = String, Path, description = "id or slug", example = "advline"), UsageQuery),
    responses((status = 200, body = Usage), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub async fn company_usage(
    shared: web::Data<SyncContext>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<UsageQuery>,
) -> Result<HttpResponse, SyncError> {
    let company = authorized_company(&shared, &caller, Permission::ReadSyncData, &path).await?;
    let days = query.days.unwrap_or(7).clamp(1, 31);
    let zone: chrono_tz::Tz = company.timezone.parse().unwrap_or(chrono_tz::Asia::Dubai);
    let local_today = shared.clock.now().with_timezone(&zone).date_naive();
    let first_day = local_today - TimeDelta::days(i64::from(days) - 1);
    let since = first_day
        .and_hms_opt(0, 0, 0)
        .and_then(|midnight| midnight.and_local_timezone(zone).earliest())
        .map_or_else(
            || shared.clock.now() - TimeDelta::days(i64::from(days)),
            |t| t.with_timezone(&Utc),
        );
    let mut conn = db::connection(&shared.pool).await?;
    let days = requests::daily_usage(&mut conn, company.id, zone.name(), since).await?;
    Ok(HttpResponse::Ok().json(Usage {
        company_id: company.id,
        timezone: zone.name().to_owned(),
        days,
    }))
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Company id or slug.
    pub company: Option<String>,
    pub import_id: Option<i64>,
    pub batch_id: Option<Uuid>,
    #[param(value_type = Option<crate::openapi::DeliveryStateName>)]
    pub state: Option<String>,
    /// The empId sent to Bayzat.
    pub employee: Option<String>,
    /// Punch local time from (inclusive), `YYYY-MM-DDTHH:MM:SS` without offset, in the
    /// company's time zone.
    #[param(value_type = Option<String>, pattern = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$", example = "2026-11-02T00:00:00")]
    pub from: Option<NaiveDateTime>,
    /// Punch local time to (exclusive), `YYYY-MM-DDTHH:MM:SS` without offset.
    #[param(value_type = Option<String>, pattern = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$", example = "2026-11-03T00:00:00")]
    pub to: Option<NaiveDateTime>,
}

#[utoipa::path(get, path = "/v1/deliveries", tag = "deliveries",
    params(DeliveryQuery, PageQuery),
    responses((status = 200, body = DeliveryPage), (status = 401), (status = 403),
        (status = 422, description = "invalid_state: `state` is not a delivery state")),
    security(("bearer" = [])))]
pub async fn list_deliveries(
    shared: web::Data<SyncContext>,
    caller: Caller,
    query: web::Query<DeliveryQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, DeliveryError> {
    caller.require(Permission::ReadSyncData)?;
    let state = query
        .state
        .as_deref()
        .map(str::parse::<DeliveryState>)
        .transpose()
        .map_err(DeliveryError::InvalidState)?;
    let filter = DeliveryFilter {
        company_ids: company_filter(&shared, &caller, query.company.as_deref()).await?,
        import_id: query.import_id,
        batch_id: query.batch_id,
        state,
        emp_id: query.employee.clone(),
        from: query.from,
        to: query.to,
    };
    let mut conn = db::connection(&shared.pool).await?;
    let (items, total) = deliveries::list(&mut conn, &filter, page.offset(), page.limit()).await?;
    let page: Page<DeliveryRow> = page.of(items, total);
    Ok(HttpResponse::Ok().json(page))
}
