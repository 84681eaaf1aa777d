//! From uploaded bytes to stored rows and queued punches.
//!
//! Two passes with bounded memory (DESIGN.md §5): while the upload streams to disk its sha256 and
//! the file-level facts are collected; then the stored file is read again, row by row, validated
//! against the directory snapshot and written in batches. Everything an import stores (rows,
//! punches, outbox messages, counts) commits in one transaction: an import is all there or not at
//! all.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, Utc};
use diesel_async::{AnsiTransactionManager, TransactionManager};
use report::{
    DateOrder, Directory, FactsCollector, FileFacts, FileProblem, Outcome, ReadOptions, ReportRow,
    RowReader, RowResult,
};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::queueing;
use crate::store::imports::{self, Completion, Import, NewImport};
use crate::store::punches::{self, NewPunch, PunchKey};
use crate::store::rows::{self, NewRow};
use crate::store::Conn;

/// Rows written per statement.
const BATCH_ROWS: usize = 5_000;
/// Bytes read from the stored file at a time.
const READ_CHUNK: usize = 256 * 1024;
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
    #[error("storing the upload: {0}")]
    Io(#[from] std::io::Error),
}

/// An upload being received: written to disk, hashed and read for file facts as it arrives.
pub struct Receiving {
    file: tokio::fs::File,
    path: PathBuf,
    hasher: Sha256,
    facts: FactsCollector,
    size: u64,
    max: u64,
}

/// An upload fully received.
pub struct Received {
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
    pub facts: FileFacts,
}

impl Receiving {
    pub async fn new(dir: &Path, max: u64, options: &UploadOptions) -> Result<Self, UploadError> {
        let path = dir.join(format!("upload-{}.part", uuid::Uuid::new_v4().simple()));
        let file = tokio::fs::File::create(&path).await?;
        Ok(Self {
            file,
            path,
            hasher: Sha256::new(),
            facts: FactsCollector::new(ReadOptions {
                date_order: options.date_order,
            }),
            size: 0,
            max,
        })
    }

    pub async fn push(&mut self, chunk: &[u8]) -> Result<(), UploadError> {
        self.size += chunk.len() as u64;
        if self.size > self.max {
            return Err(UploadError::TooLarge(self.max));
        }
        self.file.write_all(chunk).await?;
        self.hasher.update(chunk);
        self.facts.feed(chunk);
        Ok(())
    }

    /// The file-level verdict; the partial file is removed when the file is refused.
    pub async fn finish(mut self) -> Result<Received, UploadError> {
        self.file.flush().await?;
        drop(self.file);
        match self.facts.finish() {
            Ok(facts) => Ok(Received {
                path: self.path,
                sha256: hex::encode(self.hasher.finalize()),
                size: self.size,
                facts,
            }),
            Err(problem) => {
                let _ = tokio::fs::remove_file(&self.path).await;
                Err(UploadError::File(problem))
            }
        }
    }

    /// Gives up on the upload and removes what was written.
    pub async fn abandon(self) {
        drop(self.file);
        let _ = tokio::fs::remove_file(&self.path).await;
    }
}

/// Reads a stored file's rows, in order, handing them to `each` in batches.
pub async fn read_rows<E>(
    path: &Path,
    facts: &FileFacts,
    mut each: impl AsyncFnMut(Vec<ReportRow>) -> Result<(), E>,
) -> Result<(), E>
where
    E: From<std::io::Error>,
{
    let mut file = tokio::fs::File::open(path).await?;
    let mut reader = RowReader::new(facts);
    let mut buffer = vec![0u8; READ_CHUNK];
    let mut rows = Vec::new();
    loop {
        let n = file.read(&mut buffer).await?;
        if n == 0 {
            break;
        }
        reader.feed(&buffer[..n], &mut rows);
        if rows.len() >= BATCH_ROWS {
            each(std::mem::take(&mut rows)).await?;
        }
    }
    reader.finish(&mut rows);
    if !rows.is_empty() {
        each(rows).await?;
    }
    Ok(())
}

/// The validation directory built from config-service's snapshot.
pub fn directory_of(snapshot: &directory::DirectorySnapshot) -> Result<Directory, String> {
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
    .map_err(|e| format!("the employee directory cannot be used: {e}"))
}

/// Counts kept while rows are written.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Tally {
    pub total: i32,
    pub valid: i32,
    pub invalid: i32,
    pub skipped: i32,
    pub punches_new: i32,
    pub duplicate_punches_in_file: i32,
    pub duplicate_punches_known: i32,
    pub unmapped_departments: BTreeMap<String, i32>,
    pub unknown_employees: BTreeMap<String, i32>,
}

impl Tally {
    fn count(&mut self, result: &RowResult) {
        self.total += 1;
        match result.outcome {
            Outcome::Valid => self.valid += 1,
            Outcome::Invalid => self.invalid += 1,
            Outcome::Skipped => self.skipped += 1,
        }
        for issue in &result.errors {
            match issue.code.as_str() {
                "unmapped_department" => {
                    *self
                        .unmapped_departments
                        .entry(result.department.clone())
                        .or_default() += 1
                }
                "unknown_employee" => {
                    let id = result
                        .report_employee_id
                        .clone()
                        .or_else(|| result.employee_id.clone())
                        .unwrap_or_default();
                    *self.unknown_employees.entry(id).or_default() += 1;
                }
                _ => {}
            }
        }
    }

    pub fn unmapped_json(&self) -> serde_json::Value {
        json!(self
            .unmapped_departments
            .iter()
            .map(|(name, rows)| json!({ "name": name, "rows": rows }))
            .collect::<Vec<_>>())
    }

    pub fn unknown_json(&self) -> serde_json::Value {
        json!(self
            .unknown_employees
            .iter()
            .map(|(id, rows)| json!({ "employee_id": id, "rows": rows }))
            .collect::<Vec<_>>())
    }
}

fn outcome_name(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Valid => "valid",
        Outcome::Invalid => "invalid",
        Outcome::Skipped => "skipped",
    }
}

fn punches_json(result: &RowResult) -> serde_json::Value {
    json!(result
        .punches
        .iter()
        .map(|p| json!({ "type": p.punch_type.as_str(), "time": p.time.to_string() }))
        .collect::<Vec<_>>())
}

/// The row as stored, before its punches are known.
fn new_row(row: &ReportRow, result: &RowResult) -> NewRow {
    NewRow {
        line: i32::try_from(row.line).unwrap_or(i32::MAX),
        raw: json!(row.raw),
        outcome: outcome_name(&result.outcome),
        errors: json!(result.errors),
        warnings: json!(result.warnings),
        department: result.department.clone(),
        company_id: result.company_id,
        employee_id: result.employee_id.clone(),
        bayzat_emp_id: result.bayzat_emp_id.clone(),
        work_date: result.date,
        punches: punches_json(result),
        punch_ids: Vec::new(),
        known_punch_ids: Vec::new(),
        queued: false,
    }
}

/// Writes one batch of validated rows and their punches. A punch already stored by an earlier
/// import is recorded on the row as known (never sent again); one stored by this import is an
/// in-file repeat.
pub async fn write_batch(
    conn: &mut Conn,
    import_id: i64,
    batch: &[(ReportRow, RowResult)],
    tally: &mut Tally,
) -> diesel::QueryResult<()> {
    let mut rows: Vec<NewRow> = batch
        .iter()
        .map(|(row, result)| new_row(row, result))
        .collect();
    let mut wanted: Vec<NewPunch> = Vec::new();
    let mut first_in_batch: HashMap<PunchKey, usize> = HashMap::new();
    for (row, result) in batch {
        tally.count(result);
        let (Outcome::Valid, Some(company_id), Some(emp_id)) =
            (&result.outcome, result.company_id, &result.bayzat_emp_id)
        else {
            continue;
        };
        for punch in &result.punches {
            let key = PunchKey {
                company_id,
                emp_id: emp_id.clone(),
                time: punch.time.as_naive(),
            };
            if !first_in_batch.contains_key(&key) {
                first_in_batch.insert(key.clone(), wanted.len());
                wanted.push(NewPunch {
                    key,
                    punch_type: punch.punch_type.as_str(),
                    line: i32::try_from(row.line).unwrap_or(i32::MAX),
                });
            }
        }
    }
    let written = punches::upsert_batch(conn, import_id, &wanted).await?;
    let by_key: HashMap<PunchKey, &punches::WrittenPunch> = written
        .iter()
        .map(|w| {
            (
                PunchKey {
                    company_id: w.company_id,
                    emp_id: w.emp_id.clone(),
                    time: w.punch_time,
                },
                w,
            )
        })
        .collect();
    let mut claimed: HashMap<i64, ()> = HashMap::new();
    let mut conflict_keys = Vec::new();
    let mut conflict_times = Vec::new();
    let mut conflict_rows = Vec::new();
    for (index, (_, result)) in batch.iter().enumerate() {
        let (Outcome::Valid, Some(company_id), Some(emp_id)) =
            (&result.outcome, result.company_id, &result.bayzat_emp_id)
        else {
            continue;
        };
        let row = &mut rows[index];
        for punch in &result.punches {
            let key = PunchKey {
                company_id,
                emp_id: emp_id.clone(),
                time: punch.time.as_naive(),
            };
            let Some(stored) = by_key.get(&key) else {
                continue;
            };
            if stored.import_id != import_id {
                row.known_punch_ids.push(stored.id);
                tally.duplicate_punches_known += 1;
            } else {
                row.punch_ids.push(stored.id);
                if stored.inserted && claimed.insert(stored.id, ()).is_none() {
                    tally.punches_new += 1;
                } else {
                    tally.duplicate_punches_in_file += 1;
                }
            }
        }
        if let Some(date) = result.date {
            let times: Vec<String> = result
                .punches
                .iter()
                .map(|p| format!("\"{}\"", p.time))
                .collect();
            conflict_keys.push((company_id, emp_id.clone(), date));
            conflict_times.push(format!("{{{}}}", times.join(",")));
            conflict_rows.push(index);
        }
    }
    for found in punches::conflicting_days(conn, import_id, &conflict_keys, &conflict_times).await?
    {
        if let Some(&index) = conflict_rows.get(usize::try_from(found).unwrap_or(usize::MAX)) {
            let row = &mut rows[index];
            let day: NaiveDate = conflict_keys[usize::try_from(found).unwrap_or(0)].2;
            if let Some(warnings) = row.warnings.as_array_mut() {
                warnings.push(json!({
                    "code": "conflicts_with_earlier_import",
                    "message": format!("an earlier import has other punch times for this employee on {day}; both are kept"),
                }));
            }
        }
    }
    rows::insert_batch(conn, import_id, &rows).await
}

/// Who uploads: the token's subject and team.
#[derive(Debug, Clone, Copy)]
pub struct Uploader<'a> {
    pub sub: &'a str,
    pub team: Option<&'a str>,
}

/// Stores a received, not yet imported report as a new import and reads it in.
pub async fn import(
    pool: &db::Pool,
    snapshot: &directory::DirectorySnapshot,
    received: Received,
    storage_dir: &Path,
    filename: &str,
    options: UploadOptions,
    uploader: Uploader<'_>,
) -> Result<Import, String> {
    let (uploaded_by, team) = (uploader.sub, uploader.team);
    let mut conn = db::connection(pool).await.map_err(|e| e.to_string())?;
    let facts_json = serde_json::to_value(&received.facts).map_err(|e| e.to_string())?;
    let started = imports::insert(
        &mut conn,
        &NewImport {
            filename,
            file_path: None,
            sha256: &received.sha256,
            size_bytes: i64::try_from(received.size).unwrap_or(i64::MAX),
            status: "processing",
            options: json!(options),
            facts: Some(facts_json),
            uploaded_by,
            team,
            started_at: Some(Utc::now()),
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    let stored_path = storage_dir.join(format!("{}-{}.csv", started.id, received.sha256));
    tokio::fs::rename(&received.path, &stored_path)
        .await
        .map_err(|e| e.to_string())?;
    let directory = directory_of(snapshot)?;
    let import_id = started.id;
    let stored = stored_path.to_string_lossy().into_owned();
    let context = ImportContext {
        import_id,
        directory: &directory,
        facts: &received.facts,
        path: &stored_path,
        stored: &stored,
        filename,
        options,
        uploaded_by,
    };
    AnsiTransactionManager::begin_transaction(&mut *conn)
        .await
        .map_err(|e| e.to_string())?;
    let result = store_import(&mut conn, &context).await;
    let result = match result {
        Ok(import) => AnsiTransactionManager::commit_transaction(&mut *conn)
            .await
            .map(|()| import)
            .map_err(TxError::from),
        Err(error) => {
            let _ = AnsiTransactionManager::rollback_transaction(&mut *conn).await;
            Err(error)
        }
    };
    match result {
        Ok(import) => Ok(import),
        Err(error) => {
            let reason = error.to_string();
            let _ = imports::fail(&mut conn, import_id, &reason).await;
            let _ = tokio::fs::remove_file(&stored_path).await;
            Err(reason)
        }
    }
}

/// What storing one import needs.
struct ImportContext<'a> {
    import_id: i64,
    directory: &'a Directory,
    facts: &'a FileFacts,
    path: &'a Path,
    stored: &'a str,
    filename: &'a str,
    options: UploadOptions,
    uploaded_by: &'a str,
}

/// Inside the import's transaction: reads the stored file, writes rows and punches in batches,
/// queues what may be queued, and completes the import.
async fn store_import(conn: &mut Conn, context: &ImportContext<'_>) -> Result<Import, TxError> {
    let import_id = context.import_id;
    let now = Utc::now();
    let mut tally = Tally::default();
    let mut file = tokio::fs::File::open(context.path).await?;
    let mut reader = Some(RowReader::new(context.facts));
    let mut buffer = vec![0u8; READ_CHUNK];
    let mut rows: Vec<ReportRow> = Vec::new();
    loop {
        let n = file.read(&mut buffer).await?;
        match (n, reader.take()) {
            (0, Some(done)) => done.finish(&mut rows),
            (_, Some(mut reading)) => {
                reading.feed(&buffer[..n], &mut rows);
                reader = Some(reading);
            }
            (_, None) => {}
        }
        if rows.len() >= BATCH_ROWS || (n == 0 && !rows.is_empty()) {
            let batch: Vec<(ReportRow, RowResult)> = std::mem::take(&mut rows)
                .into_iter()
                .map(|row| {
                    let result = report::validate(&row, context.directory, now);
                    (row, result)
                })
                .collect();
            write_batch(conn, import_id, &batch, &mut tally).await?;
        }
        if n == 0 {
            break;
        }
    }
    if tally.total == 0 {
        return Err(TxError::NoRows);
    }
    let options = context.options;
    let held_reason = if options.hold {
        Some("hold")
    } else if options.strict && tally.invalid > 0 {
        Some("strict")
    } else {
        None
    };
    let queued = match held_reason {
        None => queueing::queue_import(conn, import_id).await?,
        Some(_) => Vec::new(),
    };
    let completion = Completion {
        total_records: tally.total,
        processed_records: tally.total,
        successful_records: tally.valid,
        failed_records: tally.invalid,
        skipped_records: tally.skipped,
        punches_new: tally.punches_new,
        duplicate_punches_in_file: tally.duplicate_punches_in_file,
        duplicate_punches_known: tally.duplicate_punches_known,
        unmapped_departments: tally.unmapped_json(),
        unknown_employees: tally.unknown_json(),
        held_reason: Some(held_reason.map(str::to_owned)),
    };
    diesel::update(crate::schema::imports::table.find(import_id))
        .set(crate::schema::imports::file_path.eq(context.stored))
        .execute(conn)
        .await?;
    let import = imports::complete(conn, import_id, &completion).await?;
    queueing::audit(
        conn,
        context.uploaded_by,
        "import.uploaded",
        None,
        format!("import {import_id}"),
        json!({ "filename": context.filename, "sha256": import.sha256, "options": options, "rows": tally, "queued": queued }),
    )
    .await?;
    Ok(import)
}

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

/// Why an import's transaction was rolled back.
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    #[error("database: {0}")]
    Database(#[from] diesel::result::Error),
    #[error("reading the stored report: {0}")]
    Io(#[from] std::io::Error),
    #[error("the report has no data rows")]
    NoRows,
}

/// A dry run's report: everything an import would say, nothing stored.
#[derive(Debug, Serialize)]
pub struct DryRun {
    pub dry_run: bool,
    pub filename: String,
    pub sha256: String,
    pub facts: FileFacts,
    pub rows: Tally,
    pub unmapped_departments: serde_json::Value,
    pub unknown_employees: serde_json::Value,
    /// The first rows with their outcome (all are counted in `rows`).
    pub row_results: Vec<serde_json::Value>,
}

/// Validates a received report without storing anything; the file is removed afterwards.
pub async fn dry_run(
    snapshot: &directory::DirectorySnapshot,
    received: Received,
    filename: &str,
) -> Result<DryRun, std::io::Error> {
    let directory = directory_of(snapshot).map_err(std::io::Error::other)?;
    let now = Utc::now();
    let mut tally = Tally::default();
    let mut listed = Vec::new();
    let read = read_rows(&received.path, &received.facts, async |rows: Vec<ReportRow>| {
        for row in rows {
            let result = report::validate(&row, &directory, now);
            tally.count(&result);
            if listed.len() < DRY_RUN_ROWS {
                listed.push(json!({
                    "line": row.line, "raw": row.raw, "outcome": outcome_name(&result.outcome), "errors": result.errors,
                    "warnings": result.warnings, "company_id": result.company_id, "employee_id": result.employee_id,
                    "date": result.date, "punches": punches_json(&result),
                }));
            }
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
    let _ = tokio::fs::remove_file(&received.path).await;
    read?;
    Ok(DryRun {
        dry_run: true,
        filename: filename.to_owned(),
        sha256: received.sha256,
        unmapped_departments: tally.unmapped_json(),
        unknown_employees: tally.unknown_json(),
        facts: received.facts,
        rows: tally,
        row_results: listed,
    })
}
