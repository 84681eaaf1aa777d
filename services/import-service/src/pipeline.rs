//! From uploaded bytes to stored rows and queued punches.
//!
//! Two passes with bounded memory (docs/architecture.md#reading-fingerprint-reports): while the upload streams to disk its sha256 and
//! the file-level facts are collected; then the stored file is read again, row by row, validated
//! against the directory snapshot and written in batches. Everything an import stores (rows,
//! punches, outbox messages, counts) commits in one transaction: an import is all there or not at
//! all.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use report::{
    DateOrder, Directory, FactsCollector, FileFacts, FileForm, FileProblem, ImportSummary,
    IssueCode, ReadOptions, ReportRow, RowResult, Scope,
};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use workbook::WorkbookProblem;

use crate::batch::{Prepared, Queueing, RowWriter, Written};
use crate::bridge_events;
use crate::errors::{DirectoryFailure, ImportError, ReadingError, StoreError};
use crate::queueing;
use crate::reading::{self, WorkbookFactsError};
use crate::store::imports::{self, Import, NewImport};
use crate::store::punches::StateCount;
use crate::store::tx::{self, Completion, ImportTx};

/// Rows read, validated and written at a time. Larger batches mean fewer look-ups of stored
/// punches (one per employee per batch) and better ordered inserts; the reader keeps at most a
/// few batches ahead of the writer.
const BATCH_ROWS: usize = 20_000;
/// At most this many bytes of cells in a batch, whatever its number of rows.
const BATCH_BYTES: usize = 16 * 1024 * 1024;
/// Bytes of an upload gathered before they are written to the stored file.
const WRITE_BUFFER: usize = 1024 * 1024;
/// Rows a dry run lists (it counts them all).
const DRY_RUN_ROWS: usize = 1_000;

/// The options of an upload.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct UploadOptions {
    pub dry_run: bool,
    pub strict: bool,
    pub hold: bool,
    #[serde(skip)]
    pub date_order: Option<DateOrder>,
    pub force: bool,
}

/// Why an upload is refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the upload is larger than {0} bytes")]
    TooLarge(u64),
    #[error("{0}")]
    File(FileProblem),
    /// An Excel workbook that cannot be read, or has no sheet by the `sheet` option's name.
    #[error("{0}")]
    Workbook(WorkbookProblem),
    #[error("storing the upload: {0}")]
    Io(#[from] std::io::Error),
}

/// The partial file of an upload (`upload-*.part` in the storage folder). Removed when dropped,
/// whatever ended the upload (a refusal, an error, a client that went away); once the file has
/// been moved to its stored name there is nothing left to remove.
pub struct PartFile(PathBuf);

impl PartFile {
    /// The prefix and suffix of a partial file's name.
    pub const PREFIX: &'static str = "upload-";
    pub const SUFFIX: &'static str = ".part";

    fn new(dir: &Path) -> Self {
        Self(dir.join(format!(
            "{}{}{}",
            Self::PREFIX,
            uuid::Uuid::new_v4().simple(),
            Self::SUFFIX
        )))
    }
}

impl std::ops::Deref for PartFile {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for PartFile {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        match std::fs::remove_file(&self.0) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %self.0.display(), error = %e, "could not remove a partial upload")
            }
        }
    }
}

/// Bytes that decide whether an upload is a workbook ([`workbook::sniff`]).
const SNIFFED_BYTES: usize = 8;

/// An upload being received: written to disk, hashed and read for file facts as it arrives.
///
/// A text report's facts are collected as its bytes arrive. A workbook (known by its first
/// bytes, never its name) can only be read once whole: its bytes are only stored, and its
/// facts collected from the stored file at the end.
pub struct Receiving {
    /// Buffered: an upload arrives in small chunks, and each write of a tokio file is a trip to
    /// a blocking thread.
    file: tokio::io::BufWriter<tokio::fs::File>,
    path: PartFile,
    hasher: Sha256,
    facts: FactsCollector,
    read_options: ReadOptions,
    /// The first bytes, held back from the text collector until they say what the file is.
    prefix: Vec<u8>,
    /// Decided once [`SNIFFED_BYTES`] have arrived: `Some` for a workbook.
    form: Option<Option<workbook::WorkbookFormat>>,
    /// The worksheet the upload names (`sheet`); ignored for a text report.
    sheet: Option<String>,
    size: u64,
    max: u64,
}

/// An upload fully received.
pub struct Received {
    /// Removed when the `Received` is dropped, unless it was moved to its stored name.
    pub path: PartFile,
    pub sha256: String,
    pub size: u64,
    pub facts: FileFacts,
}

impl Receiving {
    pub async fn new(
        dir: &Path,
        max: u64,
        options: &UploadOptions,
        sheet: Option<String>,
    ) -> Result<Self, UploadError> {
        let path = PartFile::new(dir);
        let file = tokio::fs::File::create(&*path).await?;
        let read_options = ReadOptions {
            date_order: options.date_order,
        };
        Ok(Self {
            file: tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file),
            path,
            hasher: Sha256::new(),
            facts: FactsCollector::new(read_options),
            read_options,
            prefix: Vec::with_capacity(SNIFFED_BYTES),
            form: None,
            sheet,
            size: 0,
            max,
        })
    }

    /// Feeds the text collector, once the first bytes have shown the upload is not a workbook.
    fn collect(&mut self, mut chunk: &[u8]) {
        if self.form.is_none() {
            let wanted = (SNIFFED_BYTES - self.prefix.len()).min(chunk.len());
            self.prefix.extend_from_slice(&chunk[..wanted]);
            chunk = &chunk[wanted..];
            if self.prefix.len() < SNIFFED_BYTES {
                return;
            }
            let sniffed = workbook::sniff(&self.prefix);
            self.form = Some(sniffed);
            if sniffed.is_none() {
                let prefix = std::mem::take(&mut self.prefix);
                self.facts.feed(&prefix);
            }
        }
        if self.form == Some(None) {
            self.facts.feed(chunk);
        }
    }

    pub async fn push(&mut self, chunk: &[u8]) -> Result<(), UploadError> {
        self.size += chunk.len() as u64;
        if self.size > self.max {
            return Err(UploadError::TooLarge(self.max));
        }
        self.file.write_all(chunk).await?;
        self.hasher.update(chunk);
        self.collect(chunk);
        Ok(())
    }

    /// The file-level verdict; the partial file is removed when the file is refused.
    pub async fn finish(mut self) -> Result<Received, UploadError> {
        self.file.flush().await?;
        drop(self.file);
        let facts = match self.form {
            Some(Some(_)) => {
                let (path, sheet, options) = (
                    self.path.to_path_buf(),
                    self.sheet.take(),
                    self.read_options,
                );
                tokio::task::spawn_blocking(move || {
                    reading::workbook_facts(&path, sheet.as_deref(), options)
                })
                .await
                .map_err(|e| UploadError::Io(std::io::Error::other(e)))?
                .map_err(|error| match error {
                    WorkbookFactsError::Workbook(problem) => {
                        tracing::info!(
                            code = problem.code(),
                            detail = problem.detail().unwrap_or_default(),
                            "workbook refused"
                        );
                        UploadError::Workbook(problem)
                    }
                    WorkbookFactsError::File(problem) => UploadError::File(problem),
                    WorkbookFactsError::Io(error) => UploadError::Io(error),
                })?
            }
            // Text, or too short to be anything else: the held-back bytes are its start.
            _ => {
                let prefix = std::mem::take(&mut self.prefix);
                self.facts.feed(&prefix);
                self.facts.finish().map_err(UploadError::File)?
            }
        };
        Ok(Received {
            path: self.path,
            sha256: hex::encode(self.hasher.finalize()),
            size: self.size,
            facts,
        })
    }

    /// Gives up on the upload and removes what was written.
    pub async fn abandon(self) {
        drop(self.file);
        drop(self.path);
    }
}

/// Reads a stored file's rows, in order, handing them to `each` in batches. The reading is
/// done on a blocking thread, a batch ahead of `each`.
pub async fn read_rows<E>(
    path: &Path,
    facts: &FileFacts,
    mut each: impl AsyncFnMut(Vec<ReportRow>) -> Result<(), E>,
) -> Result<(), E>
where
    E: From<std::io::Error>,
{
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<ReportRow>>(1);
    let reading = {
        let (path, facts) = (path.to_path_buf(), facts.clone());
        tokio::task::spawn_blocking(move || {
            let mut rows = Vec::new();
            reading::each_row(&path, &facts, |row| {
                rows.push(row);
                if rows.len() >= BATCH_ROWS
                    && sender.blocking_send(std::mem::take(&mut rows)).is_err()
                {
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            })?;
            if !rows.is_empty() {
                // Refused only when the reader stopped listening: it has its answer already.
                let _ = sender.blocking_send(rows);
            }
            Ok::<_, std::io::Error>(())
        })
    };
    while let Some(rows) = receiver.recv().await {
        each(rows).await?;
    }
    reading.await.map_err(std::io::Error::other)??;
    Ok(())
}

/// The validation directory built from config-service's snapshot.
pub fn directory_of(
    snapshot: &directory::DirectorySnapshot,
) -> Result<Directory, DirectoryFailure> {
    Directory::new(
        snapshot
            .companies
            .iter()
            .map(|c| report::DirectoryCompany {
                id: c.id,
                slug: c.slug.clone(),
                timezone: c.timezone.clone(),
                report_names: c.fingerprint_report_names.clone(),
                employees: c
                    .employees
                    .iter()
                    .map(|e| report::DirectoryEmployee {
                        employee_id: e.employee_id.clone(),
                        bayzat_emp_id: e.bayzat_emp_id.clone(),
                        active: e.active,
                    })
                    .collect(),
            })
            .collect(),
    )
    .map_err(DirectoryFailure::Unusable)
}

fn punches_json(result: &RowResult) -> serde_json::Value {
    json!(result
        .punches
        .iter()
        .map(|p| json!({ "type": p.punch_type.as_str(), "time": p.time.to_string() }))
        .collect::<Vec<_>>())
}

/// Reads and validates a stored file on a thread of its own and gathers each batch's punches,
/// handing the batches to the writer through `batches`. The channel holds one batch, so reading
/// stays a batch ahead of writing and memory stays bounded. Stops when the writer hangs up.
fn read_batches(
    path: &Path,
    facts: &FileFacts,
    directory: &Directory,
    scope: Scope<'_>,
    now: chrono::DateTime<Utc>,
    batches: &tokio::sync::mpsc::Sender<Prepared>,
) -> std::io::Result<()> {
    let mut rows: Vec<ReportRow> = Vec::new();
    // The bytes of cells of the rows waiting to be a batch.
    let mut waiting = 0;
    let send = |rows: Vec<ReportRow>| {
        let batch = rows
            .into_iter()
            .map(|row| {
                let result = report::validate_within(&row, directory, now, scope);
                (row, result)
            })
            .collect();
        batches.blocking_send(Prepared::new(batch)).is_ok()
    };
    let mut writer_gone = false;
    reading::each_row(path, facts, |row| {
        waiting += row.raw.iter().map(String::len).sum::<usize>();
        rows.push(row);
        // A batch ends at BATCH_ROWS rows or BATCH_BYTES of cells, whichever comes first, so a
        // file of very wide rows is written in smaller batches.
        if rows.len() >= BATCH_ROWS || waiting >= BATCH_BYTES {
            waiting = 0;
            if !send(std::mem::take(&mut rows)) {
                writer_gone = true;
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    })?;
    if !writer_gone && !rows.is_empty() {
        send(rows);
    }
    Ok(())
}

/// Who uploads: the token's subject, team and companies (`None`: every company).
#[derive(Debug, Clone, Copy)]
pub struct Uploader<'a> {
    pub sub: &'a str,
    pub team: Option<&'a str>,
    pub companies: Option<&'a [String]>,
}

/// The validation scope of an import: the companies its uploader's token covered, as recorded
/// in its options (`companies`); every company when none were recorded.
pub fn stored_scope(options: &serde_json::Value) -> Option<Vec<String>> {
    serde_json::from_value(options.get("companies")?.clone()).ok()
}

/// The scope a recorded list of companies stands for.
pub fn scope_of(companies: &Option<Vec<String>>) -> Scope<'_> {
    match companies {
        None => Scope::All,
        Some(slugs) => Scope::Only(slugs),
    }
}

/// Imports this process is reading in, with their stored files. An import whose upload request
/// the server cut off at a stop stays listed until [`fail_cut_off`].
static IN_FLIGHT: std::sync::Mutex<BTreeMap<i64, PathBuf>> = std::sync::Mutex::new(BTreeMap::new());

fn in_flight() -> std::sync::MutexGuard<'static, BTreeMap<i64, PathBuf>> {
    IN_FLIGHT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The last step of a stop, once the server has finished (or, past its grace, cut off) the
/// requests in progress: an import cut off mid-way (its transaction never committed) is marked
/// failed now, with its stored report kept and recorded, so it can be uploaded again from there.
pub async fn fail_cut_off(pool: &db::Pool) {
    use diesel_async::AsyncConnection;
    /// What such an import shows as its error.
    const CUT_OFF: &str = "interrupted: the service stopped while reading this report; nothing \
                           of it was stored, and the report is kept: upload it again";
    let cut_off: Vec<(i64, PathBuf)> = std::mem::take(&mut *in_flight()).into_iter().collect();
    if cut_off.is_empty() {
        return;
    }
    let Ok(mut conn) = db::connection(pool).await else {
        tracing::warn!("imports cut off by the stop are marked failed at the next start");
        return;
    };
    for (import_id, path) in cut_off {
        let kept = path.to_string_lossy().into_owned();
        let marked = conn
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                if let Some(filename) =
                    imports::fail_cut_off(conn, import_id, CUT_OFF, &kept).await?
                {
                    let failed =
                        bridge_events::import_failed(import_id, &filename, CUT_OFF, Utc::now());
                    bridge_events::enqueue(conn, &[failed]).await?;
                }
                Ok(())
            })
            .await;
        match marked {
            Ok(_) => {
                tracing::warn!(import_id, file = %path.display(), "import cut off by the stop: failed, report kept")
            }
            Err(error) => {
                tracing::warn!(import_id, %error, "import cut off by the stop not marked failed")
            }
        }
    }
}

/// Stores a received, not yet imported report as a new import and reads it in. Returns the
/// import and how many of its punches it left in which state, per company.
#[allow(clippy::too_many_arguments)]
pub async fn import(
    pool: &db::Pool,
    database_url: &str,
    snapshot: &directory::DirectorySnapshot,
    received: Received,
    storage_dir: &Path,
    filename: &str,
    options: UploadOptions,
    uploader: Uploader<'_>,
) -> Result<(Import, Vec<StateCount>), ImportError> {
    let (uploaded_by, team) = (uploader.sub, uploader.team);
    let scope: Option<Vec<String>> = uploader.companies.map(<[String]>::to_vec);
    let mut options_json = json!(options);
    if let Some(companies) = &scope {
        options_json["companies"] = json!(companies);
    }
    let mut conn = db::connection(pool).await?;
    // A value that cannot be stored as JSON is what diesel would have refused binding it.
    let facts_json = serde_json::to_value(&received.facts).map_err(|error| {
        db::DbError::Query(diesel::result::Error::SerializationError(Box::new(error)))
    })?;
    let started = imports::insert(
        &mut conn,
        &NewImport {
            filename,
            file_path: None,
            sha256: &received.sha256,
            size_bytes: i64::try_from(received.size).unwrap_or(i64::MAX),
            status: "processing",
            options: options_json,
            facts: Some(facts_json),
            uploaded_by,
            team,
            started_at: Some(Utc::now()),
        },
    )
    .await?;
    // The connection goes back to the pool while the import's own transaction runs.
    drop(conn);
    // Named for what it holds, so whoever opens the storage folder opens it with the right program.
    let extension = match &received.facts.form {
        FileForm::Text { .. } => "csv",
        FileForm::Workbook { format, .. } => match format {
            report::WorkbookFormat::Xlsx => "xlsx",
            report::WorkbookFormat::Xls => "xls",
        },
    };
    let stored_path = storage_dir.join(format!("{}-{}.{extension}", started.id, received.sha256));
    if let Err(error) = tokio::fs::rename(&received.path, &stored_path).await {
        // Recorded as failed, so that the import is not left processing; the partial file
        // goes with `received`.
        fail(
            pool,
            started.id,
            "the report could not be stored; the service log says why",
        )
        .await;
        return Err(ImportError::StoredFile(error));
    }
    let import_id = started.id;
    in_flight().insert(import_id, stored_path.clone());
    let result = async {
        let directory = Arc::new(directory_of(snapshot)?);
        let context = ImportContext {
            import_id,
            directory,
            facts: received.facts.clone(),
            path: stored_path.clone(),
            stored: stored_path.to_string_lossy().into_owned(),
            filename,
            sha256: &received.sha256,
            options,
            uploaded_by,
            scope,
        };
        let tx = ImportTx::begin(database_url).await?;
        match store_import(&tx, &context).await {
            Ok(counts) => {
                tx.commit().await?;
                Ok(counts)
            }
            Err(error) => {
                tx.rollback().await;
                Err(error)
            }
        }
    }
    .await;
    // Committed or rolled back: no longer cut off by a stop.
    in_flight().remove(&import_id);
    let counts = match result {
        Ok(counts) => counts,
        Err(error) => {
            fail(pool, import_id, &shown(&error)).await;
            if let Err(error) = tokio::fs::remove_file(&stored_path).await {
                if error.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(import_id, file = %stored_path.display(), %error, "could not remove the report of a failed import");
                }
            }
            return Err(ImportError::NotStored {
                import_id,
                source: error,
            });
        }
    };
    let mut conn = db::connection(pool).await?;
    let import = imports::find(&mut conn, import_id)
        .await?
        .ok_or(ImportError::Gone(import_id))?;
    Ok((import, counts))
}

/// Marks an import failed with `reason`, and tells of it (`import.failed`) in the same
/// transaction. When that cannot be recorded the import stays `processing` until the next start
/// marks it interrupted; the log says so.
async fn fail(pool: &db::Pool, import_id: i64, reason: &str) {
    use diesel_async::AsyncConnection;
    let recorded = async {
        let mut conn = db::connection(pool).await?;
        conn.transaction::<_, diesel::result::Error, _>(async |conn| {
            if let Some(filename) = imports::fail(conn, import_id, reason).await? {
                let failed = bridge_events::import_failed(import_id, &filename, reason, Utc::now());
                bridge_events::enqueue(conn, &[failed]).await?;
            }
            Ok(())
        })
        .await?;
        Ok::<_, db::DbError>(())
    }
    .await;
    if let Err(error) = recorded {
        tracing::error!(import_id, %error, %reason, "the failed import could not be marked failed; the next start marks it interrupted");
    }
}

/// What storing one import needs.
struct ImportContext<'a> {
    import_id: i64,
    directory: Arc<Directory>,
    facts: FileFacts,
    path: PathBuf,
    stored: String,
    filename: &'a str,
    sha256: &'a str,
    options: UploadOptions,
    uploaded_by: &'a str,
    scope: Option<Vec<String>>,
}

/// Inside the import's transaction: reads the stored file (on a blocking thread) while writing
/// its rows and punches in batches, queues what may be queued, and completes the import.
async fn store_import(
    tx: &ImportTx,
    context: &ImportContext<'_>,
) -> Result<Vec<StateCount>, StoreError> {
    let import_id = context.import_id;
    let started = Instant::now();
    let options = context.options;
    // Held imports wait for release; a strict one waits until the whole file proves valid.
    let queue_as_written = !options.hold && !options.strict;
    let queueing = if queue_as_written {
        Queueing::now(import_id)
    } else {
        Queueing::Later
    };
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Prepared>(1);
    let reading = {
        let (path, facts, directory, companies) = (
            context.path.clone(),
            context.facts.clone(),
            context.directory.clone(),
            context.scope.clone(),
        );
        let now = Utc::now();
        tokio::task::spawn_blocking(move || {
            read_batches(
                &path,
                &facts,
                &directory,
                scope_of(&companies),
                now,
                &sender,
            )
        })
    };
    let mut writer = RowWriter::new(tx, import_id, queueing);
    let mut waiting = std::time::Duration::ZERO;
    loop {
        let asked = Instant::now();
        let Some(batch) = receiver.recv().await else {
            break;
        };
        waiting += asked.elapsed();
        writer.write(batch).await?;
    }
    reading
        .await
        .map_err(|e| StoreError::Io(std::io::Error::other(e)))??;
    let written = started.elapsed();
    let Written {
        summary,
        mut queued,
        timings,
        added,
        companies,
    } = writer.finish().await?;
    if summary.total == 0 {
        return Err(StoreError::NoRows);
    }
    let held_reason = if options.hold {
        Some("hold")
    } else if options.strict && summary.invalid > 0 {
        Some("strict")
    } else {
        None
    };
    if held_reason.is_none() && !queue_as_written {
        queued = tx.queue_new_punches(import_id).await?;
    }
    tx.complete(
        import_id,
        summary.total,
        &Completion::of(&summary, held_reason),
        &context.stored,
    )
    .await?;
    tx.enqueue(&[queueing::audit_event(
        context.uploaded_by,
        "import.uploaded",
        None,
        format!("import {import_id}"),
        json!({ "filename": context.filename, "sha256": context.sha256, "options": options, "rows": summary, "queued": queued }),
    )?])
    .await?;
    // Told to the companies it concerns as it is committed: completed, and what needs a look.
    tx.enqueue(&bridge_events::messages(&bridge_events::import_stored(
        import_id,
        context.filename,
        &summary,
        &companies,
        held_reason,
        Utc::now(),
    ))?)
    .await?;
    let state = if held_reason.is_none() {
        "queued"
    } else {
        "new"
    };
    let counts = added
        .into_iter()
        .map(|(company_id, count)| StateCount {
            company_id,
            state: state.to_owned(),
            count,
        })
        .collect();
    tracing::info!(
        import = import_id,
        rows = summary.total,
        punches_new = summary.punches_new,
        written_ms = written.as_millis() as u64,
        waited_for_reading_ms = waiting.as_millis() as u64,
        looking_up_ms = timings.looking_up.as_millis() as u64,
        copying_punches_ms = timings.copying_punches.as_millis() as u64,
        copying_rows_ms = timings.copying_rows.as_millis() as u64,
        queueing_ms = timings.queueing.as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        "import stored"
    );
    Ok(counts)
}

/// What a failed import records and shows: the report's own problems as they are, a database
/// or storage failure without its library text (which goes to the log).
fn shown(error: &StoreError) -> String {
    match error {
        StoreError::Transaction(_) => {
            "the database did not store the import; the service log says why".to_owned()
        }
        StoreError::Io(_) => {
            "the stored report could not be read; the service log says why".to_owned()
        }
        StoreError::Directory(_) | StoreError::NoRows => error.to_string(),
    }
}

/// A dry run's report: everything an import would say, nothing stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DryRun {
    /// Always true.
    pub dry_run: bool,
    pub filename: String,
    pub sha256: String,
    /// What was learnt about the file: encoding, delimiter, header, columns, date order.
    #[schema(value_type = Object)]
    pub facts: FileFacts,
    /// Counts of all the rows (no punch is looked up, so the punch counts are 0).
    pub rows: ImportSummary,
    #[schema(value_type = Vec<crate::api::UnmappedDepartment>)]
    pub unmapped_departments: serde_json::Value,
    #[schema(value_type = Vec<crate::api::UnknownEmployee>)]
    pub unknown_employees: serde_json::Value,
    /// The first rows with their outcome (all are counted in `rows`).
    #[schema(value_type = Vec<Object>)]
    pub row_results: Vec<serde_json::Value>,
}

/// How many rows of a received report name a company outside `scope` (the file stays).
pub async fn rows_outside(
    snapshot: &directory::DirectorySnapshot,
    received: &Received,
    scope: Scope<'_>,
) -> Result<u64, ReadingError> {
    let directory = directory_of(snapshot)?;
    let now = Utc::now();
    let mut outside = 0;
    read_rows(
        &received.path,
        &received.facts,
        async |rows: Vec<ReportRow>| {
            for row in rows {
                let result = report::validate_within(&row, &directory, now, scope);
                if result
                    .errors
                    .iter()
                    .any(|e| e.code == IssueCode::CompanyNotPermitted)
                {
                    outside += 1;
                }
            }
            Ok::<_, std::io::Error>(())
        },
    )
    .await
    .map_err(UploadError::Io)?;
    Ok(outside)
}

/// Validates a received report within `scope` without storing anything; the file is removed
/// afterwards.
pub async fn dry_run(
    snapshot: &directory::DirectorySnapshot,
    received: Received,
    filename: &str,
    scope: Scope<'_>,
) -> Result<DryRun, ReadingError> {
    let directory = directory_of(snapshot)?;
    let now = Utc::now();
    let mut summary = ImportSummary::new();
    let mut listed = Vec::new();
    let read = read_rows(&received.path, &received.facts, async |rows: Vec<ReportRow>| {
        for row in rows {
            let result = report::validate_within(&row, &directory, now, scope);
            summary.add(&result);
            if listed.len() < DRY_RUN_ROWS {
                listed.push(json!({
                    "line": row.line, "raw": row.raw, "outcome": result.outcome.as_str(), "errors": result.errors,
                    "warnings": result.warnings, "company_id": result.company_id, "employee_id": result.employee_id,
                    "date": result.date, "punches": punches_json(&result),
                }));
            }
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
    let Received {
        path,
        sha256,
        facts,
        ..
    } = received;
    // Removed now (its drop logs a failure to), not once the answer is written.
    drop(path);
    read.map_err(UploadError::Io)?;
    Ok(DryRun {
        dry_run: true,
        filename: filename.to_owned(),
        sha256,
        unmapped_departments: tx::unmapped_departments(&summary),
        unknown_employees: tx::unknown_employees(&summary),
        facts,
        rows: summary,
        row_results: listed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Receives `bytes` in chunks of `chunk` bytes into a folder of its own.
    async fn receive(
        bytes: &[u8],
        chunk: usize,
        sheet: Option<&str>,
    ) -> Result<FileFacts, UploadError> {
        let dir = std::env::temp_dir().join(format!("receiving-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut receiving = Receiving::new(
            &dir,
            u64::MAX,
            &UploadOptions::default(),
            sheet.map(str::to_owned),
        )
        .await
        .unwrap();
        for part in bytes.chunks(chunk) {
            receiving.push(part).await.unwrap();
        }
        let facts = receiving.finish().await.map(|received| received.facts);
        std::fs::remove_dir_all(&dir).unwrap();
        facts
    }

    #[tokio::test]
    async fn a_workbook_is_known_by_its_first_bytes_however_they_arrive() {
        let workbook = fixture("workbooks/zktime-daily.xlsx");
        let text = fixture("basic.csv");
        let (text_facts, _) = report::read_report(&text, ReadOptions::default()).unwrap();
        for chunk in [1, 3, 7, 8, 9, 64 * 1024] {
            let facts = receive(&workbook, chunk, None).await.unwrap();
            assert_eq!(
                facts.form,
                FileForm::Workbook {
                    format: report::WorkbookFormat::Xlsx,
                    sheet: "Daily Attendance".into()
                },
                "in chunks of {chunk}"
            );
            assert_eq!(facts.header_line, 3);
            assert_eq!(
                receive(&text, chunk, Some("Ignored")).await.unwrap(),
                text_facts,
                "in chunks of {chunk}"
            );
        }
        // Shorter than the bytes that tell: read as text (and refused as such, not as a workbook).
        assert!(matches!(
            receive(b"PK\x03\x04", 1, None).await,
            Err(UploadError::File(FileProblem::NotText))
        ));
        assert!(matches!(
            receive(&workbook, 1024, Some("Payroll")).await,
            Err(UploadError::Workbook(WorkbookProblem::SheetNotFound { .. }))
        ));
    }
}
