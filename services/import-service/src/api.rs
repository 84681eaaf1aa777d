//! The REST API of import-service: thin handlers over the pipeline and the storage functions.

use std::collections::BTreeMap;

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use auth::{Caller, Permission};
use chrono::{DateTime, NaiveDate, Utc};
use diesel_async::AsyncConnection;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use service_kit::{Page, PageQuery, Problem};
use utoipa::{IntoParams, ToSchema};

use crate::access::Access;
use crate::pipeline::{self, Receiving, UploadError, UploadOptions};
use crate::queueing;
use crate::store::imports::{self, Import, ImportFilter};
use crate::store::punches;
use crate::store::rows::{self, RowFilter, StoredRow};
use crate::AppState;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/openapi.json", web::get().to(openapi))
        .service(
            web::scope("/v1/imports")
                .route("", web::post().to(upload))
                .route("", web::get().to(list_imports))
                .route("/{id}", web::get().to(get_import))
                .route("/{id}/rows", web::get().to(list_rows))
                .route("/{id}/rows.csv", web::get().to(export_rows))
                .route("/{id}/reprocess", web::post().to(reprocess))
                .route("/{id}/release", web::post().to(release))
                .route("/{id}/cancel", web::post().to(cancel)),
        );
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(crate::openapi::document())
}

/// Upload options, as query parameters.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// Validate and report; store nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Queue nothing if any row is invalid.
    #[serde(default)]
    pub strict: bool,
    /// Queue nothing until the import is released.
    #[serde(default)]
    pub hold: bool,
    /// `dmy` or `mdy`: how to read slashed dates the file itself does not decide.
    #[param(value_type = Option<DateOrderChoice>)]
    pub date_order: Option<String>,
    /// Import bytes that were imported before (otherwise the earlier import is returned).
    #[serde(default)]
    pub force: bool,
    /// The file's name, for a raw-body upload (a multipart upload's `file` field names its own).
    pub filename: Option<String>,
}

/// How to read slashed dates: day first or month first.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DateOrderChoice {
    Dmy,
    Mdy,
}

/// A multipart upload: the report in the `file` field (other fields are ignored).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The report; its file name is the import's.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

/// A raw-body upload: the report's bytes as they are (`filename` names it).
#[derive(Debug, ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
pub struct RawReport(Vec<u8>);

/// What an upload answers with 200: the earlier import of the same bytes (`reused`), or a dry
/// run's report (`dry_run`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum UploadAnswer {
    Earlier(ImportView),
    DryRun(Box<pipeline::DryRun>),
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

fn file_problem(problem: &report::FileProblem) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        problem.code(),
        "The file is not a usable attendance report",
    )
    .with_detail(problem.to_string())
}

fn upload_problem(error: UploadError) -> Problem {
    match error {
        UploadError::TooLarge(max) => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "The upload is too large",
        )
        .with_detail(format!("at most {max} bytes")),
        UploadError::File(problem) => file_problem(&problem),
        UploadError::Io(e) => {
            tracing::error!(error = %e, "storing an upload failed");
            Problem::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "storage_failed",
                "The upload could not be stored",
            )
        }
    }
}

pub(crate) fn directory_problem(error: directory::DirectoryError) -> Problem {
    tracing::error!(%error, "directory snapshot unavailable");
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "directory_unavailable",
        "The employee directory cannot be read right now",
    )
    .with_detail("try again shortly; the service log says why")
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

async fn view(
    state: &AppState,
    access: &Access,
    import: Import,
    reused: bool,
) -> Result<ImportView, Problem> {
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
) -> Result<ImportView, Problem> {
    let snapshot = state.directory.current().await.ok();
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
    Ok(ImportView {
        import,
        progress: json!(progress),
        reused,
        concerns_other_companies: false,
    })
}

/// Receives the body (multipart `file`, or the raw body) into a [`Receiving`].
async fn receive(
    state: &AppState,
    req: &HttpRequest,
    mut payload: web::Payload,
    options: &UploadOptions,
    query: &UploadQuery,
) -> Result<(pipeline::Received, String), Problem> {
    let mut receiving = Receiving::new(&state.storage_dir, state.max_upload_bytes, options)
        .await
        .map_err(upload_problem)?;
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut filename = query
        .filename
        .clone()
        .unwrap_or_else(|| "report.csv".to_owned());
    let outcome: Result<(), Problem> = async {
        if content_type.starts_with("multipart/form-data") {
            let mut multipart = Multipart::new(req.headers(), payload);
            let mut found = false;
            while let Some(field) = multipart.next().await {
                let mut field = field.map_err(|_| {
                    Problem::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_multipart",
                        "The multipart body is not valid",
                    )
                })?;
                if field.name() != Some("file") {
                    continue;
                }
                // `filename*` (RFC 6266: it wins over `filename`), else `filename`.
                let disposition = field.content_disposition();
                let name = disposition
                    .and_then(|d| d.get_filename_ext())
                    .map(|ext| String::from_utf8_lossy(&ext.value).into_owned())
                    .or_else(|| {
                        disposition
                            .and_then(|d| d.get_filename())
                            .map(str::to_owned)
                    });
                if let Some(name) = name {
                    service_kit::check_text("filename", &name)?;
                    filename = name;
                }
                found = true;
                while let Some(chunk) = field.next().await {
                    let chunk = chunk.map_err(|_| interrupted("invalid_multipart"))?;
                    receiving.push(&chunk).await.map_err(upload_problem)?;
                }
            }
            if !found {
                return Err(Problem::new(
                    StatusCode::BAD_REQUEST,
                    "missing_file",
                    "The multipart body has no `file` field",
                ));
            }
        } else {
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|_| interrupted("invalid_body"))?;
                receiving.push(&chunk).await.map_err(upload_problem)?;
            }
        }
        Ok(())
    }
    .await;
    match outcome {
        Ok(()) => Ok((receiving.finish().await.map_err(upload_problem)?, filename)),
        Err(problem) => {
            receiving.abandon().await;
            Err(problem)
        }
    }
}

/// A body that broke off (the client went away, or stopped sending: the `checked_input`
/// middleware then answers 408 instead).
fn interrupted(code: &str) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, code, "The upload was interrupted")
}

#[utoipa::path(post, path = "/v1/imports", tag = "imports", params(UploadQuery),
    request_body(content(
        (UploadForm = "multipart/form-data"),
        (String = "text/csv"),
        (RawReport = "application/octet-stream"),
    ), description = "the report: the `file` field of a multipart body, or the raw body (any other content type) named by `filename`"),
    responses((status = 201, body = ImportView, description = "imported"),
              (status = 200, body = UploadAnswer, description = "these bytes were imported before (the earlier import, `reused`), or a dry run's report (`dry_run`)"),
              (status = 400, description = "invalid_query: date_order is not dmy or mdy; missing_file: a multipart body without a `file` field; invalid_multipart, invalid_body: the body is broken or was interrupted; invalid_text: a control character in a parameter or the file name"),
              (status = 413, description = "too_large: the upload is larger than allowed"),
              (status = 422, description = "empty_file, not_text, no_header, missing_columns (naming them), no_rows; company_not_permitted: a strict upload by a token limited to some companies with rows of others"),
              (status = 503, description = "database_unavailable, directory_unavailable: the database or the employee directory cannot be read right now"),
              (status = 507, description = "storage_failed: the upload could not be stored")),
    security(("bearer" = [])))]
pub async fn upload(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
    query: web::Query<UploadQuery>,
) -> Result<HttpResponse, Problem> {
    caller.require(Permission::UploadImports)?;
    let query = query.into_inner();
    let date_order = match query.date_order.as_deref() {
        None | Some("") => None,
        Some("dmy") => Some(report::DateOrder::DayFirst),
        Some("mdy") => Some(report::DateOrder::MonthFirst),
        Some(other) => {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                "date_order is dmy or mdy",
            )
            .with_detail(format!("got {other:?}")))
        }
    };
    let options = UploadOptions {
        dry_run: query.dry_run,
        strict: query.strict,
        hold: query.hold,
        date_order,
        force: query.force,
    };
    let access = Access::of(&state, &caller).await?;
    let started = std::time::Instant::now();
    let (received, filename) = receive(&state, &req, payload, &options, &query).await?;
    let received_at = started.elapsed();
    if !options.dry_run && !options.force {
        let mut conn = db::connection(&state.pool).await?;
        let mut reusable = None;
        for earlier in imports::by_sha256(&mut conn, &received.sha256, 20).await? {
            if access.may_reuse(&caller, &earlier) && access.can_see(&mut conn, &earlier).await? {
                reusable = Some(earlier);
                break;
            }
        }
        drop(conn);
        if let Some(earlier) = reusable {
            let _ = tokio::fs::remove_file(&received.path).await;
            return Ok(HttpResponse::Ok().json(view(&state, &access, earlier, true).await?));
        }
    }
    let snapshot = match state.directory.current().await {
        Ok(snapshot) => snapshot,
        Err(error) => {
            let _ = tokio::fs::remove_file(&received.path).await;
            return Err(directory_problem(error));
        }
    };
    let scope = match caller.visible_companies() {
        None => report::Scope::All,
        Some(slugs) => report::Scope::Only(slugs),
    };
    if options.dry_run {
        let report = pipeline::dry_run(&snapshot, received, &filename, scope)
            .await
            .map_err(|e| upload_problem(UploadError::Io(e)))?;
        return Ok(HttpResponse::Ok().json(report));
    }
    if options.strict && caller.is_limited() {
        // Strict: a file with rows of companies the token does not cover is refused whole.
        let outside = pipeline::rows_outside(&snapshot, &received, scope).await;
        if !matches!(outside, Ok(0)) {
            let _ = tokio::fs::remove_file(&received.path).await;
            return Err(match outside {
                Ok(rows) => Problem::unprocessable(
                    "company_not_permitted",
                    format!(
                        "{rows} rows name companies this token does not cover; strict imports nothing"
                    ),
                ),
                Err(e) => upload_problem(UploadError::Io(e)),
            });
        }
    }
    let (import, counts) = pipeline::import(
        &state.pool,
        &state.database_url,
        &snapshot,
        received,
        &state.storage_dir,
        &filename,
        options,
        pipeline::Uploader {
            sub: caller.sub(),
            team: caller.claims().team.as_deref(),
            companies: caller.visible_companies(),
        },
    )
    .await
    .map_err(|reason| {
        state.metrics.failed();
        // The reason can be the database's own words: it goes to the log, not to the caller.
        tracing::error!(%reason, "import failed");
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "import_failed",
            "The report could not be stored",
        )
    })?;
    state.relay.wake();
    state.metrics.stored(&import);
    let stored_at = started.elapsed();
    // The import's punches are in the states it wrote them in: no need to count them again.
    let body = access.view(&state, import, counts, false).await?;
    tracing::info!(
        received_ms = received_at.as_millis() as u64,
        stored_ms = stored_at.as_millis() as u64,
        answered_ms = started.elapsed().as_millis() as u64,
        "upload handled"
    );
    Ok(HttpResponse::Created().json(body))
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportListQuery {
    /// pending, processing, completed or failed.
    #[param(value_type = Option<ImportStatus>)]
    pub status: Option<String>,
    pub uploaded_by: Option<String>,
    /// Uploaded at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Uploaded before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

#[utoipa::path(get, path = "/v1/imports", tag = "imports", params(ImportListQuery),
    responses((status = 200, body = Page<Import>, description = "a page of imports, newest first; a token limited to some companies sees those with rows of its companies or uploaded by its user, with only its companies' counts")), security(("bearer" = [])))]
pub async fn list_imports(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ImportListQuery>,
) -> Result<HttpResponse, Problem> {
    caller.require(Permission::ReadImports)?;
    let access = Access::of(&state, &caller).await?;
    let query = query.into_inner();
    let page = PageQuery {
        page: query.page,
        per_page: query.per_page,
    };
    let filter = ImportFilter {
        status: query.status,
        uploaded_by: query.uploaded_by,
        from: query.from,
        to: query.to,
        visible_to: access.visibility(),
    };
    let mut conn = db::connection(&state.pool).await?;
    let (items, total) = imports::page(&mut conn, &filter, page.offset(), page.limit()).await?;
    drop(conn);
    let mut shown = Vec::with_capacity(items.len());
    for import in items {
        shown.push(access.listed(&state, import).await?);
    }
    Ok(HttpResponse::Ok().json(page.of(shown, total)))
}

async fn load(state: &AppState, id: i64) -> Result<Import, Problem> {
    let mut conn = db::connection(&state.pool).await?;
    imports::find(&mut conn, id)
        .await?
        .ok_or_else(|| Problem::not_found("import"))
}

#[utoipa::path(get, path = "/v1/imports/{id}", tag = "imports", params(("id" = i64, Path, description = "import id", example = 1)),
    responses((status = 200, body = ImportView), (status = 404, description = "not_found: no such import, or none the token may see")), security(("bearer" = [])))]
pub async fn get_import(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    caller.require(Permission::ReadImports)?;
    let access = Access::of(&state, &caller).await?;
    let import = access.load(&state, *path).await?;
    Ok(HttpResponse::Ok().json(view(&state, &access, import, false).await?))
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RowQuery {
    /// valid, invalid or skipped.
    #[param(value_type = Option<RowOutcome>)]
    pub outcome: Option<String>,
    /// An error code, e.g. unknown_employee.
    pub error: Option<String>,
    /// Company id or slug.
    pub company: Option<String>,
    pub employee: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// failed, syncing, pending, synced or skipped.
    #[param(value_type = Option<RowDeliveryState>)]
    pub delivery_state: Option<String>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

/// The row filter of a query, limited to the caller's companies (and, for the uploader of the
/// import or an unrestricted token, the rows of no company).
async fn row_filter(
    state: &AppState,
    caller: &Caller,
    access: &Access,
    import: &Import,
    query: &RowQuery,
) -> Result<RowFilter, Problem> {
    let company_id = match &query.company {
        None => None,
        Some(key) => {
            let snapshot = state.directory.current().await.map_err(directory_problem)?;
            let company = snapshot
                .companies
                .iter()
                .find(|c| c.slug == *key || c.id.to_string() == *key)
                .ok_or_else(|| Problem::not_found("company"))?;
            caller.require_company(&company.slug)?;
            Some(company.id)
        }
    };
    let (company_ids, unassigned) = access.rows(import);
    Ok(RowFilter {
        company_ids,
        unassigned,
        outcome: query.outcome.clone(),
        error_code: query.error.clone(),
        company_id,
        employee_id: query.employee.clone(),
        from: query.from,
        to: query.to,
        delivery_state: query.delivery_state.clone(),
    })
}

#[utoipa::path(get, path = "/v1/imports/{id}/rows", tag = "imports", params(("id" = i64, Path, description = "import id", example = 1), RowQuery),
    responses((status = 200, body = Page<StoredRow>, description = "a page of rows with outcome, errors, warnings, punches and delivery state"),
              (status = 404, description = "not_found: no such import or company, or none the token may see"),
              (status = 503, description = "database_unavailable, directory_unavailable")),
    security(("bearer" = [])))]
pub async fn list_rows(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<i64>,
    query: web::Query<RowQuery>,
) -> Result<HttpResponse, Problem> {
    caller.require(Permission::ReadImports)?;
    let access = Access::of(&state, &caller).await?;
    let import = access.load(&state, *path).await?;
    let filter = row_filter(&state, &caller, &access, &import, &query).await?;
    let page = PageQuery {
        page: query.page,
        per_page: query.per_page,
    };
    let mut conn = db::connection(&state.pool).await?;
    let (items, total) =
        rows::page(&mut conn, import.id, &filter, page.offset(), page.limit()).await?;
    Ok(HttpResponse::Ok().json(page.of(items, total)))
}

/// Rows read from the database at a time for an export.
const EXPORT_PAGE_ROWS: i64 = 5_000;
/// Chunks of an export written ahead of the client (each a page of rows as CSV).
const EXPORT_CHUNKS_AHEAD: usize = 2;

#[utoipa::path(get, path = "/v1/imports/{id}/rows.csv", tag = "imports", params(("id" = i64, Path, description = "import id", example = 1), RowQuery),
    responses((status = 200, body = String, content_type = "text/csv", description = "the rows; cells starting with = + - @ are written with a leading quote"),
              (status = 404, description = "not_found: no such import or company, or none the token may see"),
              (status = 503, description = "database_unavailable, directory_unavailable")),
    security(("bearer" = [])))]
pub async fn export_rows(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<i64>,
    query: web::Query<RowQuery>,
) -> Result<HttpResponse, Problem> {
    caller.require(Permission::ReadImports)?;
    let access = Access::of(&state, &caller).await?;
    let import = access.load(&state, *path).await?;
    let filter = row_filter(&state, &caller, &access, &import, &query).await?;
    // The first page is read before the answer starts: until then a failure is still a status.
    let mut conn = db::connection(&state.pool).await?;
    let first = rows::export_page(&mut conn, import.id, &filter, 0, EXPORT_PAGE_ROWS).await?;
    drop(conn);
    let header = export_header(&import);
    let import_id = import.id;
    let (body, mut chunks) = tokio::sync::mpsc::channel(EXPORT_CHUNKS_AHEAD);
    tokio::spawn(stream_export(
        state.pool.clone(),
        import_id,
        filter,
        header,
        first,
        body,
    ));
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"import-{import_id}-rows.csv\""),
        ))
        .streaming(futures_util::stream::poll_fn(move |cx| {
            chunks.poll_recv(cx)
        })))
}

/// Writes an export into its answer's body a page at a time, from the page read already: a
/// page is read while the one before waits for the client, and no more than
/// [`EXPORT_CHUNKS_AHEAD`] pages wait, so memory stays a few pages whatever the import's size.
/// Each page takes a connection for its own queries only, so a slow client holds none.
///
/// A failure once the answer has started cannot change its status: it is logged and the body
/// ends with an error, which cuts the connection before the body's last chunk, so the client
/// sees an incomplete download rather than a file that looks whole.
async fn stream_export(
    pool: db::Pool,
    import_id: i64,
    filter: RowFilter,
    header: Vec<String>,
    first: rows::ExportPage,
    body: tokio::sync::mpsc::Sender<Result<web::Bytes, std::io::Error>>,
) {
    let mut header = Some(header);
    let mut page = first;
    let failure = loop {
        let chunk = match export_chunk(header.take(), page.rows).await {
            Ok(chunk) => chunk,
            Err(error) => break error.to_string(),
        };
        if !chunk.is_empty() && body.send(Ok(web::Bytes::from(chunk))).await.is_err() {
            tracing::info!(import_id, "the client stopped reading the export");
            return;
        }
        let Some(last) = page.last else {
            return;
        };
        let mut conn = match db::connection(&pool).await {
            Ok(conn) => conn,
            Err(error) => break error.to_string(),
        };
        page = match rows::export_page(&mut conn, import_id, &filter, last, EXPORT_PAGE_ROWS).await
        {
            Ok(page) => page,
            Err(error) => break error.to_string(),
        };
    };
    tracing::error!(import_id, error = %failure, "the export failed part way; its body is cut short");
    let _ = body
        .send(Err(std::io::Error::other("the export failed part way")))
        .await;
}

/// The export's columns: the row's outcome first, then the row as the file had it, one column
/// per original column.
fn export_header(import: &Import) -> Vec<String> {
    let original: Vec<String> = import
        .facts
        .as_ref()
        .and_then(|f| serde_json::from_value(f["header"].clone()).ok())
        .unwrap_or_default();
    let mut header: Vec<String> = [
        "line",
        "outcome",
        "errors",
        "warnings",
        "department",
        "company_id",
        "employee_id",
        "bayzat_emp_id",
        "date",
        "punches",
        "delivery_state",
        "delivery_detail",
    ]
    .iter()
    .map(|h| (*h).to_owned())
    .collect();
    header.extend(original);
    header
}

/// A row's cells in the export's columns.
fn export_cells(row: StoredRow) -> Vec<String> {
    let codes = |v: &serde_json::Value| {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|i| i["code"].as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    };
    let punches = row
        .punches
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    format!(
                        "{} {}",
                        p["type"].as_str().unwrap_or(""),
                        p["time"].as_str().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    let raw: Vec<String> = row
        .raw
        .and_then(|r| serde_json::from_value(r).ok())
        .unwrap_or_default();
    let mut cells = vec![
        row.line.to_string(),
        row.outcome,
        codes(&row.errors),
        codes(&row.warnings),
        row.department,
        row.company_id.map(|c| c.to_string()).unwrap_or_default(),
        row.employee_id.unwrap_or_default(),
        row.bayzat_emp_id.unwrap_or_default(),
        row.work_date.map(|d| d.to_string()).unwrap_or_default(),
        punches,
        row.delivery_state.unwrap_or_default(),
        row.delivery_detail.unwrap_or_default(),
    ];
    cells.extend(raw);
    cells
}

/// A page of the export as CSV (after the header, for the first), every cell kept from being
/// read as a spreadsheet formula. Rows need not have as many cells as the header: a line of the
/// report may have had fewer or more.
///
/// Written into a buffer of its own, not through a writer over the body: csv-async's writer
/// flushes with a blocking wait when dropped, which must never wait on the client.
async fn export_chunk(
    header: Option<Vec<String>>,
    rows: Vec<StoredRow>,
) -> csv_async::Result<Vec<u8>> {
    let mut csv = csv_async::AsyncWriterBuilder::new()
        .flexible(true)
        .create_writer(Vec::new());
    let escaped = |cells: Vec<String>| -> Vec<String> {
        cells.iter().map(|c| report::export_cell(c)).collect()
    };
    if let Some(header) = header {
        csv.write_record(&escaped(header)).await?;
    }
    for row in rows {
        csv.write_record(&escaped(export_cells(row))).await?;
    }
    Ok(csv.into_inner().await?)
}

/// The import an operator's action (release, cancel, reprocess) is about: the caller must manage
/// imports and may act on every company the import touches, and a cancelled import takes no
/// action (`when_cancelled` says why).
async fn actionable_import(
    state: &AppState,
    caller: &Caller,
    id: i64,
    when_cancelled: &str,
) -> Result<(Import, Access), Problem> {
    caller.require(Permission::ManageImports)?;
    let access = Access::of(state, caller).await?;
    let import = access.load(state, id).await?;
    let mut conn = db::connection(&state.pool).await?;
    access.require_whole(&mut conn, &import).await?;
    if import.cancelled_at.is_some() {
        return Err(Problem::conflict("import_cancelled", when_cancelled));
    }
    Ok((import, access))
}

#[utoipa::path(post, path = "/v1/imports/{id}/release", tag = "imports", params(("id" = i64, Path, description = "import id", example = 1)),
    responses((status = 200, body = ImportView), (status = 403, description = "forbidden: the role; forbidden_company: the import concerns companies the token does not cover"), (status = 404, description = "no such import, or none the token may see"), (status = 409, description = "not held, or cancelled")), security(("bearer" = [])))]
pub async fn release(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let (import, access) = actionable_import(
        &state,
        &caller,
        *path,
        "a cancelled import cannot be released",
    )
    .await?;
    if import.held_reason.is_none() {
        return Err(Problem::conflict(
            "not_held",
            "the import is not held; its valid rows were queued",
        ));
    }
    let queued = crate::release::release(&state.database_url, import.id, caller.sub())
        .await
        .map_err(|error| {
            tracing::error!(%error, "release failed");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "release_failed",
                "The import could not be released",
            )
        })?;
    tracing::info!(import = import.id, companies = queued.len(), "released");
    state.relay.wake();
    Ok(
        HttpResponse::Ok()
            .json(view(&state, &access, load(&state, import.id).await?, false).await?),
    )
}

#[utoipa::path(post, path = "/v1/imports/{id}/cancel", tag = "imports", params(("id" = i64, Path, description = "import id", example = 1)),
    responses((status = 200, body = ImportView), (status = 403, description = "forbidden: the role; forbidden_company: the import concerns companies the token does not cover"), (status = 404, description = "no such import, or none the token may see"), (status = 409, description = "already cancelled")), security(("bearer" = [])))]
pub async fn cancel(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let (import, access) =
        actionable_import(&state, &caller, *path, "the import is already cancelled").await?;
    let mut conn = db::connection(&state.pool).await?;
    conn.transaction::<_, Problem, _>(async |conn| {
        imports::set_cancelled(conn, import.id).await?;
        imports::set_held(conn, import.id, None).await?;
        let companies = punches::cancel(conn, import.id).await?;
        queueing::announce_cancel(conn, import.id, &companies).await?;
        queueing::audit(
            conn,
            caller.sub(),
            "import.cancelled",
            None,
            format!("import {}", import.id),
            json!({ "companies": companies }),
        )
        .await?;
        Ok(())
    })
    .await?;
    state.relay.wake();
    Ok(
        HttpResponse::Ok()
            .json(view(&state, &access, load(&state, import.id).await?, false).await?),
    )
}

#[utoipa::path(post, path = "/v1/imports/{id}/reprocess", tag = "imports", params(("id" = i64, Path, description = "import id", example = 1)),
    responses((status = 200, body = ImportView), (status = 403, description = "forbidden: the role; forbidden_company: the import concerns companies the token does not cover"), (status = 404, description = "no such import, or none the token may see"), (status = 409, description = "cancelled, or its rows' raw values are gone")), security(("bearer" = [])))]
pub async fn reprocess(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<i64>,
) -> Result<HttpResponse, Problem> {
    let (import, access) = actionable_import(
        &state,
        &caller,
        *path,
        "a cancelled import cannot be reprocessed",
    )
    .await?;
    let snapshot = state.directory.current().await.map_err(directory_problem)?;
    let import = crate::reprocess::reprocess(
        &state.pool,
        &state.database_url,
        &snapshot,
        &import,
        caller.sub(),
    )
    .await
    .map_err(|reason| {
        if is_internal(&reason) {
            tracing::error!(%reason, "reprocess failed");
            return Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "reprocess_failed",
                "The import could not be reprocessed",
            );
        }
        Problem::new(
            StatusCode::CONFLICT,
            "cannot_reprocess",
            "The import cannot be reprocessed",
        )
        .with_detail(reason)
    })?;
    state.relay.wake();
    Ok(HttpResponse::Ok().json(view(&state, &access, import, false).await?))
}

/// Whether a failure's reason is the database's, the broker's or the file system's own words
/// (logged, never answered) rather than something about the import itself.
fn is_internal(reason: &str) -> bool {
    ["database", "outbox:", "reading the stored report:"]
        .iter()
        .any(|prefix| reason.starts_with(prefix))
}
