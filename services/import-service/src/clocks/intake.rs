//! Storing a clock's ATTLOG upload: each line becomes a row of the clock's import of the day and
//! each valid line's punch goes into the ledger, written by the same batch writer as a report's
//! rows, in one transaction with the import's counts and the ready messages.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use clock_push::parse_attlog_line;
use report::{IssueCode, Punch, ReportRow, RowIssue, RowResult, Scope, ValidationOutcome};
use serde_json::json;

use crate::batch::{Prepared, Queueing, RowWriter, Written};
use crate::errors::DirectoryFailure;
use crate::queueing::{self, Queued};
use crate::store::clocks::{self, Clock, APPROVED};
use crate::store::tx::{Completion, ImportTx, TxError};
use crate::AppState;

/// Why an upload was not stored (the terminal is not acknowledged and sends it again).
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Directory(#[from] DirectoryFailure),
    #[error("database: {0}")]
    Database(#[from] db::DbError),
    #[error(transparent)]
    Tx(#[from] TxError),
}

impl From<diesel::result::Error> for IntakeError {
    fn from(error: diesel::result::Error) -> Self {
        IntakeError::Database(db::DbError::from(error))
    }
}

/// The clock's time zone; UTC when its name is not one.
pub fn time_zone(clock: &Clock) -> Tz {
    clock.time_zone.parse().unwrap_or(Tz::UTC)
}

/// The clock's local day at `now`: which import its upload goes to.
pub fn local_day(clock: &Clock, now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&time_zone(clock)).date_naive()
}

/// The lines of an ATTLOG body that are not blank, each with its fields.
pub fn lines(body: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(body)
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .filter(|line| !line.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// The validation directory of the clock: its companies only, each named by its slug (which
/// stands for the department a report row would give).
pub struct ClockDirectory {
    directory: report::Directory,
    /// The clock's companies the directory has, in the clock's order.
    slugs: Vec<String>,
    /// What the rows come from, as a row of no company names it ("clock SN1").
    source: String,
}

impl ClockDirectory {
    pub fn new(
        snapshot: &directory::DirectorySnapshot,
        clock: &Clock,
    ) -> Result<Self, DirectoryFailure> {
        Self::for_companies(
            snapshot,
            &clock.company_ids,
            format!("clock {}", clock.serial_number),
        )
    }

    /// The directory of these companies, in this order, for rows from `source`.
    pub fn for_companies(
        snapshot: &directory::DirectorySnapshot,
        company_ids: &[i64],
        source: String,
    ) -> Result<Self, DirectoryFailure> {
        let companies: Vec<report::DirectoryCompany> = company_ids
            .iter()
            .filter_map(|id| snapshot.company(*id))
            .map(|c| report::DirectoryCompany {
                id: c.id,
                slug: c.slug.clone(),
                timezone: c.timezone.clone(),
                report_names: vec![c.slug.clone()],
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
            .collect();
        let slugs = companies.iter().map(|c| c.slug.clone()).collect();
        Ok(Self {
            directory: report::Directory::new(companies).map_err(DirectoryFailure::Unusable)?,
            slugs,
            source,
        })
    }

    /// The clock's companies the directory has, in the clock's order.
    pub fn slugs(&self) -> &[String] {
        &self.slugs
    }

    /// One ATTLOG line as a validated row numbered `line`: its punch when the line reads and the
    /// PIN is an employee of exactly one of the clock's companies, otherwise an invalid row saying
    /// why (`ambiguous_employee` when several know it).
    pub fn row(&self, line: i32, text: &str, now: DateTime<Utc>) -> (ReportRow, RowResult) {
        let raw: Vec<String> = text.split('\t').map(|f| f.trim().to_owned()).collect();
        let mut row = ReportRow {
            line: u64::try_from(line).unwrap_or(0),
            raw,
            employee_id: None,
            name: String::new(),
            department: String::new(),
            date: None,
            punches: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
        };
        match parse_attlog_line(text) {
            Ok(record) => {
                row.employee_id = Some(record.pin.as_str().to_owned());
                row.date = Some(record.time.date());
                row.punches.push(Punch {
                    punch_type: record.punch_type(),
                    time: record.time,
                });
            }
            Err(error) => {
                row.employee_id = row.raw.first().filter(|f| !f.is_empty()).cloned();
                row.errors
                    .push(RowIssue::new(IssueCode::BadRow, error.to_string()));
            }
        }
        if self.slugs.is_empty() {
            row.errors.push(RowIssue::new(
                IssueCode::UnmappedDepartment,
                format!("{} is not assigned to any company", self.source),
            ));
            let result = report::validate_within(&row, &self.directory, now, Scope::All);
            return (row, result);
        }
        // Every company of the clock is asked: a PIN two of them know is nobody's punch.
        let mut first = None;
        let mut valid = Vec::new();
        for slug in &self.slugs {
            row.department.clone_from(slug);
            let result = report::validate_within(&row, &self.directory, now, Scope::All);
            if result.outcome == ValidationOutcome::Valid {
                valid.push((slug, result));
            } else if first.is_none() {
                first = Some(result);
            }
        }
        if valid.len() == 1 {
            let (slug, result) = valid.remove(0);
            row.department.clone_from(slug);
            return (row, result);
        }
        row.department.clone_from(&self.slugs[0]);
        if valid.len() > 1 {
            let names: Vec<&str> = valid.iter().map(|(slug, _)| slug.as_str()).collect();
            row.errors.push(RowIssue::new(
                IssueCode::AmbiguousEmployee,
                format!(
                    "PIN {} is an employee of {}: {} is shared by these companies, so the punch \
                     cannot be given to one",
                    row.employee_id.as_deref().unwrap_or_default(),
                    names.join(" and "),
                    self.source
                ),
            ));
            row.department.clone_from(valid[0].0);
            let result = report::validate_within(&row, &self.directory, now, Scope::All);
            return (row, result);
        }
        let result = first
            .unwrap_or_else(|| report::validate_within(&row, &self.directory, now, Scope::All));
        (row, result)
    }
}

/// What storing an upload came to.
#[derive(Debug)]
pub struct Stored {
    pub import_id: i64,
    /// Lines stored as rows: what the terminal is acknowledged.
    pub lines: usize,
    pub written: Written,
}

/// The import options of a clock's day import. No `companies` scope: the clock's companies
/// change, and its rows are validated against those it has at the time.
fn options(clock: &Clock) -> serde_json::Value {
    json!({
        "source": "clock",
        "clock_id": clock.id,
        "serial_number": clock.serial_number,
    })
}

/// Stores an ATTLOG body of `clock` (approved or pending; the caller refuses a disabled one):
/// one transaction, committed before this returns.
pub async fn store_attlog(
    state: &AppState,
    clock: &Clock,
    body: &[u8],
) -> Result<Stored, IntakeError> {
    let now = Utc::now();
    let texts = lines(body);
    let snapshot = state
        .directory
        .current()
        .await
        .map_err(DirectoryFailure::from)?;
    let directory = ClockDirectory::new(&snapshot, clock)?;
    let mut conn = db::connection(&state.pool).await?;
    let import_id =
        clocks::day_import(&mut conn, clock, local_day(clock, now), options(clock)).await?;
    // Not held while the transaction waits for the writers' lock: uploads of many clocks at
    // once would otherwise hold the whole pool, and the outbox relay would wait behind them.
    drop(conn);
    let written = append_rows(
        &state.database_url,
        import_id,
        clock.state == APPROVED,
        |first| {
            texts
                .iter()
                .enumerate()
                .map(|(offset, text)| {
                    let line = first + i64::try_from(offset).unwrap_or(i64::MAX);
                    directory.row(i32::try_from(line).unwrap_or(i32::MAX), text, now)
                })
                .collect()
        },
        async |tx| {
            if !texts.is_empty() {
                tx.client()
                    .execute(clocks::PUNCHED, &[&clock.id, &now])
                    .await
                    .map_err(TxError::from)?;
            }
            Ok(())
        },
    )
    .await?;
    if !written.queued.is_empty() {
        state.relay.wake();
    }
    let mut conn = db::connection(&state.pool).await?;
    recount(&mut conn, import_id).await;
    Ok(Stored {
        import_id,
        lines: texts.len(),
        written,
    })
}

/// Appends rows to a day import (a clock's or a pulled server's) in one transaction, committed
/// before this returns: `rows` makes them numbered from the line it is given (after the
/// import's last), their punches queued at once when `approved`, otherwise held; the import's
/// counts and lists follow. `within` runs in the same transaction after the rows are written
/// (a pull's cursor advances with its rows); its error rolls everything back.
pub async fn append_rows(
    database_url: &str,
    import_id: i64,
    approved: bool,
    rows: impl FnOnce(i64) -> Vec<(ReportRow, RowResult)>,
    within: impl AsyncFnOnce(&ImportTx) -> Result<(), TxError>,
) -> Result<Written, IntakeError> {
    let tx = ImportTx::begin(database_url).await?;
    let result = async {
        // Lines follow the import's last: under the transaction's lock nothing else adds rows.
        let before = tx.appending(import_id).await?;
        let rows = rows(before.as_ref().map_or(0, |b| i64::from(b.last_line)) + 1);
        let queueing = if approved {
            Queueing::now(import_id)
        } else {
            Queueing::Later
        };
        let mut writer = RowWriter::new(&tx, import_id, queueing);
        writer.write(Prepared::new(rows)).await?;
        let written = writer.finish().await?;
        let mut completion = Completion::of(&written.summary, (!approved).then_some("hold"));
        // The counts and lists so far, as committed before this transaction took the lock
        // (nothing commits rows to the import meanwhile), with these rows' added: not counted
        // again over the import's rows, which grow all day.
        if let Some(import) = before {
            completion.valid = completion.valid.saturating_add(import.valid);
            completion.invalid = completion.invalid.saturating_add(import.invalid);
            completion.skipped = completion.skipped.saturating_add(import.skipped);
            completion.unknown_employees = merged(
                &import.unknown_employees,
                &completion.unknown_employees,
                "employee_id",
            );
            completion.unmapped_departments = merged(
                &import.unmapped_departments,
                &completion.unmapped_departments,
                "name",
            );
        }
        tx.reprocessed(import_id, &completion).await?;
        within(&tx).await?;
        Ok::<_, IntakeError>(written)
    }
    .await;
    match result {
        Ok(written) => {
            tx.commit().await?;
            Ok(written)
        }
        Err(error) => {
            tx.rollback().await;
            Err(error)
        }
    }
}

/// The import's counts after rows were added or rewritten: its rows' outcomes counted over all
/// its rows, the punch counts added to.
async fn counts(tx: &ImportTx, import_id: i64, completion: Completion<'_>) -> Result<(), TxError> {
    let (valid, invalid, skipped) = tx.outcome_counts(import_id).await?;
    let to_i32 = |n: i64| i32::try_from(n).unwrap_or(i32::MAX);
    tx.reprocessed(
        import_id,
        &Completion {
            valid: to_i32(valid),
            invalid: to_i32(invalid),
            skipped: to_i32(skipped),
            ..completion
        },
    )
    .await
}

/// Two lists of named counts (`[{"<key>": …, "rows": n}]`) as one, the counts of a name added.
fn merged(before: &serde_json::Value, added: &serde_json::Value, key: &str) -> serde_json::Value {
    let mut rows: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
    for entry in [before, added]
        .into_iter()
        .filter_map(serde_json::Value::as_array)
        .flatten()
    {
        if let Some(name) = entry[key].as_str() {
            *rows.entry(name.to_owned()).or_default() += entry["rows"].as_i64().unwrap_or(0);
        }
    }
    serde_json::Value::Array(
        rows.into_iter()
            .map(|(name, n)| json!({ key: name, "rows": n }))
            .collect(),
    )
}

/// The import's total, once the rows are committed. It is shown, never relied on: a failure is
/// only logged.
async fn recount(conn: &mut crate::store::Conn, import_id: i64) {
    if let Err(error) = clocks::recount(conn, import_id).await {
        tracing::warn!(%error, import = import_id, "recounting a clock import failed");
    }
}

/// What follows validating a clock import's rows again.
#[derive(Debug, Clone, Copy)]
pub enum Afterwards<'a> {
    /// The rows stay held (the clock is about to be approved, which releases them).
    StayHeld,
    /// The newly valid rows' punches are queued in the same transaction, recorded as the
    /// import reprocessed by the actor: the directory changed after the rows came.
    Queue { actor: &'a str },
}

/// Validates again the rows of a clock's import that were not queued (its companies or the
/// directory may have changed since), in one transaction; then as `afterwards` says.
pub async fn revalidate(
    state: &AppState,
    clock: &Clock,
    import_id: i64,
    afterwards: Afterwards<'_>,
) -> Result<(Written, Vec<Queued>), IntakeError> {
    const PAGE_ROWS: i64 = 5_000;
    let now = Utc::now();
    let snapshot = state
        .directory
        .current()
        .await
        .map_err(DirectoryFailure::from)?;
    let directory = ClockDirectory::new(&snapshot, clock)?;
    let tx = ImportTx::begin(&state.database_url).await?;
    let result = async {
        let mut writer = RowWriter::new(&tx, import_id, Queueing::Later);
        let mut after = 0;
        loop {
            let page = tx.unqueued_rows(import_id, after, PAGE_ROWS).await?;
            let Some(&(last, _)) = page.last() else {
                break;
            };
            let mut rows = Vec::with_capacity(page.len());
            let mut numbers = Vec::with_capacity(page.len());
            for (line, cells) in page {
                // A row whose raw values retention removed stays as it is.
                let Some(cells) = cells else {
                    continue;
                };
                rows.push(directory.row(line, &cells.join("\t"), now));
                numbers.push(line);
            }
            tx.delete_rows(import_id, &numbers).await?;
            writer.write(Prepared::new(rows)).await?;
            after = last;
        }
        let written = writer.finish().await?;
        let queued = match afterwards {
            Afterwards::StayHeld => Vec::new(),
            Afterwards::Queue { actor } => {
                let queued = tx.queue_new_punches(import_id).await?;
                tx.enqueue(&[queueing::audit_event(
                    actor,
                    "import.reprocessed",
                    None,
                    format!("import {import_id}"),
                    json!({ "now_valid": written.summary.valid, "still_invalid": written.summary.invalid, "queued": queued }),
                )
                .map_err(TxError::from)?])
                .await?;
                queued
            }
        };
        let held = match afterwards {
            Afterwards::StayHeld => Some("hold"),
            Afterwards::Queue { .. } => None,
        };
        // Every row not queued was rewritten: the lists are this rewrite's.
        counts(&tx, import_id, Completion::of(&written.summary, held)).await?;
        Ok::<_, TxError>((written, queued))
    }
    .await;
    match result {
        Ok(outcome) => {
            tx.commit().await?;
            if !outcome.1.is_empty() {
                state.relay.wake();
            }
            let mut conn = db::connection(&state.pool).await?;
            recount(&mut conn, import_id).await;
            Ok(outcome)
        }
        Err(error) => {
            tx.rollback().await;
            Err(error.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn company(id: i64, slug: &str, employees: &[(&str, Option<&str>, bool)]) -> serde_json::Value {
        json!({
            "id": id, "slug": slug, "name_en": slug, "name_ar": null, "timezone": "Asia/Dubai",
            "fingerprint_report_names": [format!("{slug} dept")], "is_enabled": true,
            "sync_frequency": "manual", "daily_at": null, "api_key_configured": true,
            "employees": employees.iter().map(|(id, bayzat, active)| json!({
                "employee_id": id, "name": "", "bayzat_emp_id": bayzat, "active": active,
            })).collect::<Vec<_>>(),
        })
    }

    fn snapshot() -> directory::DirectorySnapshot {
        serde_json::from_value(json!({
            "version": 1,
            "companies": [
                company(1, "acme", &[("100", None, true), ("0042", Some("B-42"), true), ("7", None, false)]),
                company(2, "globex", &[("200", None, true), ("100", Some("G-100"), true)]),
            ],
        }))
        .unwrap()
    }

    fn clock(company_ids: Vec<i64>) -> Clock {
        let now = Utc::now();
        Clock {
            id: 1,
            serial_number: "SN1".to_owned(),
            state: "approved".to_owned(),
            company_ids,
            time_zone: "Asia/Dubai".to_owned(),
            allowed_network: None,
            handshake: None,
            last_seen_at: None,
            last_punch_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    fn codes(result: &RowResult) -> Vec<&'static str> {
        result.errors.iter().map(|e| e.code.as_str()).collect()
    }

    #[test]
    fn a_lobby_clocks_pin_is_the_employee_of_the_one_company_that_knows_it() {
        let now = Utc::now();
        let directory = ClockDirectory::new(&snapshot(), &clock(vec![2, 1])).unwrap();
        let (row, result) = directory.row(3, "200\t2026-11-05 08:00:00\t0\t1\t0", now);
        assert_eq!(row.line, 3);
        assert_eq!(row.raw, ["200", "2026-11-05 08:00:00", "0", "1", "0"]);
        assert_eq!(result.outcome, ValidationOutcome::Valid);
        assert_eq!(result.company_id, Some(2));
        assert_eq!(result.punches.len(), 1);
        assert_eq!(result.punches[0].punch_type, domain::PunchType::CheckIn);

        // Only the second company knows it; leading zeros as a report's ids have them.
        let (row, result) = directory.row(4, "42\t2026-11-05 17:00:00\t1", now);
        assert_eq!(result.outcome, ValidationOutcome::Valid);
        assert_eq!(result.company_id, Some(1));
        assert_eq!(row.department, "acme");
        assert_eq!(result.bayzat_emp_id.as_deref(), Some("B-42"));
        assert_eq!(result.punches[0].punch_type, domain::PunchType::CheckOut);
    }

    #[test]
    fn a_pin_two_of_a_lobby_clocks_companies_know_is_an_invalid_row_naming_both() {
        let now = Utc::now();
        let directory = ClockDirectory::new(&snapshot(), &clock(vec![2, 1])).unwrap();
        let (_, result) = directory.row(1, "100\t2026-11-05 08:00:00\t0", now);
        assert_eq!(result.outcome, ValidationOutcome::Invalid);
        assert_eq!(codes(&result), ["ambiguous_employee"]);
        let message = &result.errors[0].message;
        assert!(
            message.contains("100") && message.contains("globex") && message.contains("acme"),
            "{message}"
        );
        // A clock of one of them gives the punch to that one.
        let single = ClockDirectory::new(&snapshot(), &clock(vec![1])).unwrap();
        let (_, result) = single.row(1, "100\t2026-11-05 08:00:00\t0", now);
        assert_eq!(result.outcome, ValidationOutcome::Valid);
        assert_eq!(result.company_id, Some(1));
    }

    #[test]
    fn unknown_inactive_and_unreadable_lines_are_invalid_rows_with_their_reasons() {
        let now = Utc.with_ymd_and_hms(2026, 12, 5, 8, 0, 0).unwrap();
        let directory = ClockDirectory::new(&snapshot(), &clock(vec![1])).unwrap();
        let (row, result) = directory.row(1, "9999\t2026-11-05 08:00:00\t0", now);
        assert_eq!(result.outcome, ValidationOutcome::Invalid);
        assert_eq!(codes(&result), ["unknown_employee"]);
        assert!(
            result.errors[0].message.contains("9999"),
            "{:?}",
            result.errors
        );
        assert_eq!(row.department, "acme");

        let (_, result) = directory.row(2, "7\t2026-11-05 08:00:00\t0", now);
        assert_eq!(codes(&result), ["unknown_employee"]);
        assert!(result.errors[0].message.contains("inactive"));

        let (row, result) = directory.row(3, "100\tyesterday\t0", now);
        assert_eq!(result.outcome, ValidationOutcome::Invalid);
        assert_eq!(codes(&result)[0], "bad_row");
        assert_eq!(row.raw, ["100", "yesterday", "0"]);
        assert!(result.punches.is_empty());

        let (_, result) = directory.row(4, "100\t2026-12-09 08:00:00\t0", now);
        assert_eq!(codes(&result), ["invalid_date"], "more than a day ahead");
    }

    #[test]
    fn a_clock_of_no_company_gives_invalid_rows_saying_so() {
        let directory = ClockDirectory::new(&snapshot(), &clock(Vec::new())).unwrap();
        let (_, result) = directory.row(1, "100\t2026-11-05 08:00:00\t0", Utc::now());
        assert_eq!(result.outcome, ValidationOutcome::Invalid);
        assert_eq!(codes(&result), ["unmapped_department"]);
        assert!(result.errors[0].message.contains("SN1"));
    }

    #[test]
    fn an_upload_goes_to_the_clocks_local_day_and_blank_lines_are_not_rows() {
        let mut c = clock(vec![1]);
        let late = Utc.with_ymd_and_hms(2026, 11, 5, 21, 0, 0).unwrap();
        assert_eq!(local_day(&c, late).to_string(), "2026-11-06");
        c.time_zone = "not a zone".to_owned();
        assert_eq!(local_day(&c, late).to_string(), "2026-11-05");
        assert_eq!(lines(b"a\r\n\r\n  \nb\n").len(), 2);
    }

    #[test]
    fn lists_of_named_counts_add_up() {
        let before = json!([{ "employee_id": "9", "rows": 2 }, { "employee_id": "8", "rows": 1 }]);
        let added = json!([{ "employee_id": "9", "rows": 1 }]);
        assert_eq!(
            merged(&before, &added, "employee_id"),
            json!([{ "employee_id": "8", "rows": 1 }, { "employee_id": "9", "rows": 3 }])
        );
        assert_eq!(merged(&json!([]), &json!([]), "name"), json!([]));
    }
}
