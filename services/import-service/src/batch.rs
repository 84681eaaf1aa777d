//! Writing validated rows a batch at a time: the batch's punches are looked up among those
//! already stored (one query for the whole batch, and only for employees whose rows fall within a
//! recorded span of stored punches), the new ones copied in sorted by their unique key, then the
//! rows copied in with the ids of their punches. A punch stored by an earlier import is recorded on
//! the row as known and never sent again; one stored by this import is an in-file repeat.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use report::{ImportSummary, IssueCode, ReportRow, RowIssue, RowResult, ValidationOutcome};
use uuid::Uuid;

use crate::bridge_events::RowCompanies;
use crate::queueing::{Queued, ReadyMessages};
use crate::store::tx::{ImportTx, NewPunch, NewRow, TxResult, Warnings, Windows};

/// What becomes of the punches the rows add.
pub enum Queueing {
    /// Queued as they are written (state `queued`, one batch per company).
    Now {
        batches: HashMap<i64, Uuid>,
        messages: ReadyMessages,
    },
    /// Left `new` until the import is released or reprocessed.
    Later,
}

impl Queueing {
    pub fn now(import_id: i64) -> Self {
        Queueing::Now {
            batches: HashMap::new(),
            messages: ReadyMessages::new(import_id),
        }
    }
}

/// A punch of the batch, once per key.
struct Wanted {
    company_id: i64,
    emp: u32,
    time: NaiveDateTime,
    punch_type: &'static str,
    line: i32,
    /// Its id, once known: stored already, or reserved for copying in (0 until then; ids
    /// start at 1).
    id: i64,
    /// Stored by an earlier import: known, not this import's.
    known: bool,
    /// Counted already: as new, for the first row of this batch that gives it, or stored before
    /// this batch (never new).
    claimed: bool,
}

type Key = (i64, u32, NaiveDateTime);

fn line_of(row: &ReportRow) -> i32 {
    i32::try_from(row.line).unwrap_or(i32::MAX)
}

/// The company and the id Bayzat receives, for a row whose punches are stored.
fn punches_of(result: &RowResult) -> Option<(i64, &str)> {
    match (&result.outcome, result.company_id, &result.bayzat_emp_id) {
        (ValidationOutcome::Valid, Some(company_id), Some(emp_id)) => {
            Some((company_id, emp_id.as_str()))
        }
        _ => None,
    }
}

fn day_start(day: NaiveDate) -> NaiveDateTime {
    day.and_time(chrono::NaiveTime::MIN)
}

/// A batch of validated rows with its punches gathered: the part of writing that needs no
/// database, done on the reading thread while the batch before is being written.
pub struct Prepared {
    rows: Vec<(ReportRow, RowResult)>,
    /// Per row, for a row whose punches are stored: its company and employee.
    punching: Vec<Option<(i64, u32)>>,
    /// Employees by a small number, so punch keys are cheap to hash.
    emp_names: Vec<String>,
    emps: HashMap<String, u32>,
    /// Each punch once, sorted by the unique key (company, employee, time).
    wanted: Vec<Wanted>,
    by_key: HashMap<Key, usize>,
    /// Per employee, the time the batch's rows cover: their days (conflicts are looked for on
    /// them) and their punches (which an overnight shift puts on the next day).
    windows: HashMap<(i64, u32), (NaiveDateTime, NaiveDateTime)>,
}

impl Prepared {
    pub fn new(rows: Vec<(ReportRow, RowResult)>) -> Self {
        let mut emps: HashMap<String, u32> = HashMap::new();
        let mut emp_names: Vec<String> = Vec::new();
        let mut wanted: Vec<Wanted> = Vec::new();
        let mut first: HashMap<Key, usize> = HashMap::new();
        let mut windows: HashMap<(i64, u32), (NaiveDateTime, NaiveDateTime)> = HashMap::new();
        let mut punching = Vec::with_capacity(rows.len());
        for (row, result) in &rows {
            let Some((company_id, emp_id)) = punches_of(result) else {
                punching.push(None);
                continue;
            };
            let emp = match emps.get(emp_id) {
                Some(&emp) => emp,
                None => {
                    let emp = u32::try_from(emp_names.len()).unwrap_or(u32::MAX);
                    emps.insert(emp_id.to_owned(), emp);
                    emp_names.push(emp_id.to_owned());
                    emp
                }
            };
            punching.push(Some((company_id, emp)));
            let mut from = result.date.map(day_start);
            let mut until = result.date.and_then(|d| d.succ_opt()).map(day_start);
            for punch in &result.punches {
                let time = punch.time.as_naive();
                from = Some(from.map_or(time, |f| f.min(time)));
                let after = time + Duration::seconds(1);
                until = Some(until.map_or(after, |u| u.max(after)));
                first.entry((company_id, emp, time)).or_insert_with(|| {
                    wanted.push(Wanted {
                        company_id,
                        emp,
                        time,
                        punch_type: punch.punch_type.as_str(),
                        line: line_of(row),
                        id: 0,
                        known: false,
                        claimed: false,
                    });
                    wanted.len() - 1
                });
            }
            if let (Some(from), Some(until)) = (from, until) {
                windows
                    .entry((company_id, emp))
                    .and_modify(|(f, u)| {
                        *f = (*f).min(from);
                        *u = (*u).max(until);
                    })
                    .or_insert((from, until));
            }
        }
        // Byte order of the employee id: the order of the key's collation ("C").
        wanted.sort_by(|a, b| {
            (a.company_id, &emp_names[a.emp as usize], a.time).cmp(&(
                b.company_id,
                &emp_names[b.emp as usize],
                b.time,
            ))
        });
        let by_key = wanted
            .iter()
            .enumerate()
            .map(|(index, w)| ((w.company_id, w.emp, w.time), index))
            .collect();
        Self {
            rows,
            punching,
            emp_names,
            emps,
            wanted,
            by_key,
            windows,
        }
    }
}

/// Where writing spent its time, for the log line of an import.
#[derive(Debug, Default, Clone, Copy)]
pub struct Timings {
    pub looking_up: std::time::Duration,
    pub copying_punches: std::time::Duration,
    pub copying_rows: std::time::Duration,
    pub queueing: std::time::Duration,
}

/// What writing the rows came to.
#[derive(Debug)]
pub struct Written {
    /// The rows' outcomes and what became of their punches.
    pub summary: ImportSummary,
    /// What was queued per company, when punches were queued as they were written.
    pub queued: Vec<Queued>,
    pub timings: Timings,
    /// Punches copied in, per company.
    pub added: BTreeMap<i64, i64>,
    /// The companies of the rows and their unknown employees, for the import's events.
    pub companies: RowCompanies,
}

/// Writes the rows of one import in batches, in its transaction.
pub struct RowWriter<'t> {
    tx: &'t ImportTx,
    import_id: i64,
    queueing: Queueing,
    /// When punches queued by this import changed state.
    at: DateTime<Utc>,
    pub summary: ImportSummary,
    companies: RowCompanies,
    pub timings: Timings,
    /// The punch ids reserved so far, adjacent blocks merged.
    reserved: Vec<(i64, i64)>,
    added: BTreeMap<i64, i64>,
    /// Per company and employee, the first and last time of the punches written so far.
    own: HashMap<i64, HashMap<String, (NaiveDateTime, NaiveDateTime)>>,
}

impl<'t> RowWriter<'t> {
    pub fn new(tx: &'t ImportTx, import_id: i64, queueing: Queueing) -> Self {
        Self {
            tx,
            import_id,
            queueing,
            at: Utc::now(),
            summary: ImportSummary::new(),
            companies: RowCompanies::default(),
            timings: Timings::default(),
            reserved: Vec::new(),
            added: BTreeMap::new(),
            own: HashMap::new(),
        }
    }

    /// Records the punch ids the import now owns and the time its punches span, and completes
    /// the ready messages still open.
    pub async fn finish(self) -> TxResult<Written> {
        self.tx
            .record_punch_ids(self.import_id, &self.reserved)
            .await?;
        let spans: Vec<(i64, NaiveDateTime, NaiveDateTime)> = self
            .own
            .iter()
            .filter_map(|(&company_id, emps)| {
                let first = emps.values().map(|s| s.0).min()?;
                let last = emps.values().map(|s| s.1).max()?;
                Some((company_id, first, last))
            })
            .collect();
        self.tx.record_spans(self.import_id, &spans).await?;
        let queued = match self.queueing {
            Queueing::Now { messages, .. } => {
                let (rest, queued) = messages.finish()?;
                self.tx.enqueue(&rest).await?;
                queued
            }
            Queueing::Later => Vec::new(),
        };
        Ok(Written {
            summary: self.summary,
            queued,
            timings: self.timings,
            added: self.added,
            companies: self.companies,
        })
    }

    pub async fn write(&mut self, prepared: Prepared) -> TxResult<()> {
        let import_id = self.import_id;
        let Prepared {
            rows: batch,
            punching,
            emp_names,
            emps,
            mut wanted,
            by_key,
            windows,
        } = prepared;
        for (_, result) in &batch {
            self.summary.add(result);
            self.companies.add(result);
        }

        // What is stored already: exact keys are known punches (or repeats of this import's),
        // other times of an earlier import on a row's day are conflicts. Only employees whose
        // windows reach into the recorded span of an import, or of what this transaction wrote
        // so far, can have any.
        let clock = Instant::now();
        let mut recorded: HashMap<i64, Vec<(NaiveDateTime, NaiveDateTime)>> = HashMap::new();
        if let (Some(from), Some(until)) = (
            windows.values().map(|w| w.0).min(),
            windows.values().map(|w| w.1).max(),
        ) {
            let mut companies: Vec<i64> = windows.keys().map(|k| k.0).collect();
            companies.sort_unstable();
            companies.dedup();
            for (company_id, first, last) in self.tx.stored_spans(&companies, from, until).await? {
                recorded.entry(company_id).or_default().push((first, last));
            }
        }
        let overlaps =
            |span: &(NaiveDateTime, NaiveDateTime), from, until| span.0 < until && span.1 >= from;
        let mut query = Windows::default();
        for (&(company_id, emp), &(from, until)) in &windows {
            let name = emp_names[emp as usize].as_str();
            let own = self
                .own
                .get(&company_id)
                .and_then(|emps| emps.get(name))
                .is_some_and(|span| overlaps(span, from, until));
            let before = recorded
                .get(&company_id)
                .is_some_and(|spans| spans.iter().any(|span| overlaps(span, from, until)));
            if own || before {
                query.company_ids.push(company_id);
                query.emp_ids.push(name);
                query.from.push(from);
                query.until.push(until);
            }
        }
        let stored = self.tx.stored_punches(&query).await?;
        let mut earlier_days: HashMap<(i64, u32, NaiveDate), Vec<NaiveDateTime>> = HashMap::new();
        for punch in &stored {
            let Some(&emp) = emps.get(punch.emp_id.as_str()) else {
                continue;
            };
            if let Some(&index) = by_key.get(&(punch.company_id, emp, punch.time)) {
                let w = &mut wanted[index];
                w.id = punch.id;
                w.known = punch.import_id != import_id;
                // A stored punch is never new for this batch.
                w.claimed = true;
            }
            if punch.import_id != import_id {
                earlier_days
                    .entry((punch.company_id, emp, punch.time.date()))
                    .or_default()
                    .push(punch.time);
            }
        }

        // New punches, in key order as prepared (inserting into the unique key in order is
        // much cheaper than in file order), with ids reserved as one block.
        self.timings.looking_up += clock.elapsed();
        let new: Vec<usize> = (0..wanted.len()).filter(|&i| wanted[i].id == 0).collect();
        let clock = Instant::now();
        if !new.is_empty() {
            let first = self.tx.reserve_punch_ids(new.len()).await?;
            let last = first + i64::try_from(new.len()).unwrap_or(i64::MAX) - 1;
            match self.reserved.last_mut() {
                Some((_, end)) if *end + 1 == first => *end = last,
                _ => self.reserved.push((first, last)),
            }
            for (offset, &index) in new.iter().enumerate() {
                wanted[index].id = first + i64::try_from(offset).unwrap_or(i64::MAX);
            }
        }
        let mut punches = Vec::with_capacity(new.len());
        for &index in &new {
            let w = &wanted[index];
            *self.added.entry(w.company_id).or_default() += 1;
            let emps = self.own.entry(w.company_id).or_default();
            match emps.get_mut(emp_names[w.emp as usize].as_str()) {
                Some(span) => {
                    span.0 = span.0.min(w.time);
                    span.1 = span.1.max(w.time);
                }
                None => {
                    emps.insert(emp_names[w.emp as usize].clone(), (w.time, w.time));
                }
            }
            let (state, state_at, batch_id) = match &mut self.queueing {
                Queueing::Now { batches, messages } => {
                    let batch_id = *batches.entry(w.company_id).or_insert_with(Uuid::now_v7);
                    messages.push(w.company_id, batch_id, w.id)?;
                    ("queued", Some(self.at), Some(batch_id))
                }
                Queueing::Later => ("new", None, None),
            };
            punches.push(NewPunch {
                id: w.id,
                company_id: w.company_id,
                emp_id: &emp_names[w.emp as usize],
                time: w.time,
                punch_type: w.punch_type,
                line: w.line,
                state,
                state_at,
                batch_id,
            });
        }
        self.tx.copy_punches(import_id, &punches).await?;
        drop(punches);
        self.timings.copying_punches += clock.elapsed();

        let queued_now = matches!(self.queueing, Queueing::Now { .. });
        let mut rows = Vec::with_capacity(batch.len());
        for ((row, result), punching) in batch.iter().zip(&punching) {
            let mut punch_ids = Vec::new();
            let mut known_punch_ids = Vec::new();
            let mut added = None;
            if let Some((company_id, emp)) = *punching {
                for punch in &result.punches {
                    let Some(&index) = by_key.get(&(company_id, emp, punch.time.as_naive())) else {
                        continue;
                    };
                    let w = &mut wanted[index];
                    if w.known {
                        known_punch_ids.push(w.id);
                        self.summary.duplicate_punches_known += 1;
                    } else {
                        punch_ids.push(w.id);
                        if w.claimed {
                            self.summary.duplicate_punches_in_file += 1;
                        } else {
                            w.claimed = true;
                            self.summary.punches_new += 1;
                        }
                    }
                }
                if let Some(day) = result.date {
                    let conflicting =
                        earlier_days
                            .get(&(company_id, emp, day))
                            .is_some_and(|times| {
                                times.iter().any(|t| {
                                    !result.punches.iter().any(|p| p.time.as_naive() == *t)
                                })
                            });
                    if conflicting {
                        added = Some(RowIssue::new(
                            IssueCode::ConflictsWithEarlierImport,
                            format!("an earlier import has other punch times for this employee on {day}; both are kept"),
                        ));
                    }
                }
            }
            rows.push(NewRow {
                line: line_of(row),
                raw: &row.raw,
                outcome: result.outcome.as_str(),
                errors: &result.errors,
                warnings: Warnings {
                    read: &result.warnings,
                    added,
                },
                department: &result.department,
                company_id: result.company_id,
                employee_id: result.employee_id.as_deref(),
                bayzat_emp_id: result.bayzat_emp_id.as_deref(),
                work_date: result.date,
                punches: &result.punches,
                punch_ids,
                known_punch_ids,
                queued: queued_now && result.outcome == ValidationOutcome::Valid,
            });
        }
        let clock = Instant::now();
        self.tx.copy_rows(import_id, &rows).await?;
        self.timings.copying_rows += clock.elapsed();
        if let Queueing::Now { messages, .. } = &mut self.queueing {
            let clock = Instant::now();
            self.tx.enqueue(&messages.take_done()).await?;
            self.timings.queueing += clock.elapsed();
        }
        Ok(())
    }
}
