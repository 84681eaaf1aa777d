//! Uploading a report: multipart or raw body, dry runs, and what a file's problems answer.

use actix_multipart::Multipart;
use actix_web::{web, HttpRequest, HttpResponse};
use auth::{Caller, Permission};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use service_kit::Problem;
use utoipa::{IntoParams, ToSchema};

use super::{view, ImportView};
use crate::access::Access;
use crate::errors::{DirectoryFailure, UploadRequestError};
use crate::pipeline::{self, Receiving, UploadOptions};
use crate::store::imports;
use crate::AppState;

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
    /// For an Excel workbook: the worksheet to read (its name; case and surrounding spaces
    /// aside when that names one sheet only). Without it the first worksheet with a recognised
    /// header is read. Ignored for a text report, which has no sheets.
    pub sheet: Option<String>,
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

/// Receives the body (multipart `file`, or the raw body) into a [`Receiving`].
async fn receive(
    state: &AppState,
    req: &HttpRequest,
    mut payload: web::Payload,
    options: &UploadOptions,
    query: &UploadQuery,
) -> Result<(pipeline::Received, String), Problem> {
    let sheet = query.sheet.clone().filter(|s| !s.is_empty());
    let mut receiving =
        Receiving::new(&state.storage_dir, state.max_upload_bytes, options, sheet).await?;
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
                let mut field = field.map_err(|_| UploadRequestError::InvalidMultipart)?;
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
                    // Broken off: the client went away, or stopped sending (the
                    // `checked_input` middleware then answers 408 instead).
                    let chunk = chunk.map_err(|_| UploadRequestError::MultipartInterrupted)?;
                    receiving.push(&chunk).await?;
                }
            }
            if !found {
                return Err(UploadRequestError::MissingFile.into());
            }
        } else {
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|_| UploadRequestError::BodyInterrupted)?;
                receiving.push(&chunk).await?;
            }
        }
        Ok(())
    }
    .await;
    match outcome {
        Ok(()) => Ok((receiving.finish().await?, filename)),
        Err(problem) => {
            receiving.abandon().await;
            Err(problem)
        }
    }
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
              (status = 422, description = "empty_file, not_text, no_header, missing_columns (naming them), no_rows; workbook_encrypted, workbook_corrupt, workbook_no_worksheets, workbook_too_large: an Excel workbook that cannot be read (password-protected, damaged or not a workbook, only macro or chart sheets, too large); sheet_not_found: `sheet` names no worksheet of the workbook (the detail lists them); company_not_permitted: a strict upload by a token limited to some companies with rows of others"),
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
        Some(other) => return Err(UploadRequestError::InvalidDateOrder(other.to_owned()).into()),
    };
    if let Some(sheet) = &query.sheet {
        service_kit::check_text("sheet", sheet)?;
    }
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
            // Its partial file goes with it.
            drop(received);
            return Ok(HttpResponse::Ok().json(view(&state, &access, earlier, true).await?));
        }
    }
    let snapshot = match state.directory.current().await {
        Ok(snapshot) => snapshot,
        Err(error) => {
            drop(received);
            return Err(DirectoryFailure::from(error).into());
        }
    };
    let scope = match caller.visible_companies() {
        None => report::Scope::All,
        Some(slugs) => report::Scope::Only(slugs),
    };
    if options.dry_run {
        let report = pipeline::dry_run(&snapshot, received, &filename, scope).await?;
        return Ok(HttpResponse::Ok().json(report));
    }
    if options.strict && caller.is_limited() {
        // Strict: a file with rows of companies the token does not cover is refused whole.
        let outside = pipeline::rows_outside(&snapshot, &received, scope).await;
        if !matches!(outside, Ok(0)) {
            drop(received);
            return Err(match outside {
                Ok(rows) => UploadRequestError::CompanyNotPermitted(rows).into(),
                Err(error) => error.into(),
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
    .inspect_err(|_| {
        state.metrics.failed();
        // A failed import is told of (`import.failed`) through the outbox too.
        state.relay.wake();
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
