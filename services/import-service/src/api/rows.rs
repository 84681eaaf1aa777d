//! An import's rows: a page of them, or all of them as CSV or as an Excel workbook.

use actix_web::{web, HttpResponse};
use auth::{Caller, Permission};
use chrono::NaiveDate;
use serde::Deserialize;
use service_kit::{Page, PageQuery, Problem};
use utoipa::IntoParams;

use super::{RowDeliveryState, RowOutcome};
use crate::access::Access;
use crate::errors::{AccessError, DirectoryFailure};
use crate::store::imports::Import;
use crate::store::rows::{self, RowFilter, StoredRow};
use crate::AppState;

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
            let snapshot = state
                .directory
                .current()
                .await
                .map_err(DirectoryFailure::from)?;
            let company = snapshot
                .companies
                .iter()
                .find(|c| c.slug == *key || c.id.to_string() == *key)
                .ok_or(AccessError::NoSuchCompany)?;
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
    let export = Export::start(&state, &caller, *path, &query).await?;
    let import_id = export.import_id;
    let (body, chunks) = tokio::sync::mpsc::channel(EXPORT_CHUNKS_AHEAD);
    tokio::spawn(stream_export(
        state.pool.clone(),
        import_id,
        export.filter,
        export.header,
        export.first,
        body,
    ));
    Ok(download(
        "text/csv; charset=utf-8",
        &format!("import-{import_id}-rows.csv"),
        chunks,
    ))
}

/// What both exports know before their answer starts.
struct Export {
    import_id: i64,
    filter: RowFilter,
    header: Vec<String>,
    first: rows::ExportPage,
}

impl Export {
    /// The caller's rights, the import and the filter, and the first page of rows, which is read
    /// before the answer starts: until then a failure is still a status.
    async fn start(
        state: &AppState,
        caller: &Caller,
        id: i64,
        query: &RowQuery,
    ) -> Result<Self, Problem> {
        caller.require(Permission::ReadImports)?;
        let access = Access::of(state, caller).await?;
        let import = access.load(state, id).await?;
        let filter = row_filter(state, caller, &access, &import, query).await?;
        let mut conn = db::connection(&state.pool).await?;
        let first = rows::export_page(&mut conn, import.id, &filter, 0, EXPORT_PAGE_ROWS).await?;
        Ok(Self {
            import_id: import.id,
            filter,
            header: export_header(&import),
            first,
        })
    }
}

/// A download streamed from `chunks` as they are written.
fn download(content_type: &str, filename: &str, mut chunks: ExportChunks) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{filename}\""),
        ))
        .streaming(futures_util::stream::poll_fn(move |cx| {
            chunks.poll_recv(cx)
        }))
}

/// The chunks of an export's body, as its writer sends them.
type ExportChunks = tokio::sync::mpsc::Receiver<Result<web::Bytes, std::io::Error>>;

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
    // Refused only when the client has gone already: there is no body left to cut short.
    let _ = body
        .send(Err(std::io::Error::other("the export failed part way")))
        .await;
}

/// The media type of an .xlsx workbook.
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
/// The most characters Excel keeps in a cell; a longer cell is cut there in the workbook export.
const XLSX_CELL_CHARS: usize = 32_767;
/// Bytes of the workbook gathered before they go to the client.
const XLSX_CHUNK: usize = 64 * 1024;

#[utoipa::path(get, path = "/v1/imports/{id}/rows.xlsx", tag = "imports", params(("id" = i64, Path, description = "import id", example = 1), RowQuery),
    responses((status = 200, body = String, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", description = "the rows as an Excel workbook: the same columns and filters as rows.csv, every cell text, cells starting with = + - @ written with a leading quote"),
              (status = 404, description = "not_found: no such import or company, or none the token may see"),
              (status = 503, description = "database_unavailable, directory_unavailable")),
    security(("bearer" = [])))]
pub async fn export_rows_xlsx(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<i64>,
    query: web::Query<RowQuery>,
) -> Result<HttpResponse, Problem> {
    let Export {
        import_id,
        filter,
        header,
        first,
    } = Export::start(&state, &caller, *path, &query).await?;
    let export = XlsxExport {
        runtime: tokio::runtime::Handle::current(),
        pool: state.pool.clone(),
        import_id,
        filter,
        header,
        // The sheet's rows wait in a file until the workbook is put together, not in memory.
        tempdir: state.storage_dir.clone(),
    };
    let (body, chunks) = tokio::sync::mpsc::channel(EXPORT_CHUNKS_AHEAD);
    tokio::task::spawn_blocking(move || export.write(first, body));
    Ok(download(
        XLSX,
        &format!("import-{import_id}-rows.xlsx"),
        chunks,
    ))
}

/// A workbook export being written, on a blocking thread (the workbook writer blocks).
struct XlsxExport {
    runtime: tokio::runtime::Handle,
    pool: db::Pool,
    import_id: i64,
    filter: RowFilter,
    header: Vec<String>,
    tempdir: std::path::PathBuf,
}

type Body = tokio::sync::mpsc::Sender<Result<web::Bytes, std::io::Error>>;

impl XlsxExport {
    /// Writes the rows a page at a time into a constant-memory worksheet (each row goes to a
    /// temporary file as it is written), then streams the workbook into the answer's body as it
    /// is zipped. Memory holds a page of rows and a row of cells, whatever the import's size.
    ///
    /// As with the CSV export, a failure once the answer has started is logged and ends the body
    /// with an error, so the client sees an incomplete download, never a file that looks whole.
    fn write(self, first: rows::ExportPage, body: Body) {
        let import_id = self.import_id;
        let started = std::time::Instant::now();
        let mut out = BodyWriter {
            body: body.clone(),
            buffer: Vec::with_capacity(XLSX_CHUNK),
        };
        let result = self.write_into(first, &mut out).and_then(|rows| {
            out.send().map_err(|e| e.to_string())?;
            Ok(rows)
        });
        match result {
            Ok(rows) => tracing::info!(
                import_id,
                rows,
                ms = started.elapsed().as_millis() as u64,
                "workbook export written"
            ),
            Err(_) if body.is_closed() => {
                tracing::info!(import_id, "the client stopped reading the export")
            }
            Err(error) => {
                tracing::error!(import_id, %error, "the export failed part way; its body is cut short");
                let _ =
                    body.blocking_send(Err(std::io::Error::other("the export failed part way")));
            }
        }
    }

    /// Returns the number of rows written.
    fn write_into(self, first: rows::ExportPage, out: &mut BodyWriter) -> Result<u32, String> {
        let failed = |e: rust_xlsxwriter::XlsxError| e.to_string();
        let mut book = rust_xlsxwriter::Workbook::new();
        book.set_tempdir(&self.tempdir).map_err(failed)?;
        let sheet = book.add_worksheet_with_constant_memory().map_err(failed)?;
        sheet.set_name("Rows").map_err(failed)?;
        write_xlsx_row(sheet, 0, self.header).map_err(failed)?;
        let mut next = 1;
        let mut page = first;
        loop {
            for row in page.rows {
                write_xlsx_row(sheet, next, export_cells(row)).map_err(failed)?;
                next += 1;
            }
            let Some(last) = page.last else {
                break;
            };
            page = self
                .runtime
                .block_on(async {
                    let mut conn = db::connection(&self.pool).await?;
                    rows::export_page(
                        &mut conn,
                        self.import_id,
                        &self.filter,
                        last,
                        EXPORT_PAGE_ROWS,
                    )
                    .await
                    .map_err(db::DbError::Query)
                })
                .map_err(|e| e.to_string())?;
        }
        book.save_to_writer(&mut *out).map_err(failed)?;
        Ok(next - 1)
    }
}

/// One row of the workbook export: every cell as text, kept from being read as a formula.
fn write_xlsx_row(
    sheet: &mut rust_xlsxwriter::Worksheet,
    row: u32,
    cells: Vec<String>,
) -> Result<(), rust_xlsxwriter::XlsxError> {
    for (column, cell) in cells.iter().enumerate() {
        if cell.is_empty() {
            continue;
        }
        let Ok(column) = u16::try_from(column) else {
            break;
        };
        let mut text = report::export_cell(cell);
        if let Some((cut, _)) = text.char_indices().nth(XLSX_CELL_CHARS) {
            text.truncate(cut);
        }
        sheet.write_string(row, column, text)?;
    }
    Ok(())
}

/// The answer's body as a `Write`: chunks of [`XLSX_CHUNK`] bytes, waiting while the client
/// is [`EXPORT_CHUNKS_AHEAD`] chunks behind.
struct BodyWriter {
    body: Body,
    buffer: Vec<u8>,
}

impl BodyWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(XLSX_CHUNK));
        self.body
            .blocking_send(Ok(web::Bytes::from(chunk)))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
    }
}

impl std::io::Write for BodyWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= XLSX_CHUNK {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
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
