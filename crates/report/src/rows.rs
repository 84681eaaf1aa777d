//! Pass 2: the rows, read from the stored file with the facts of pass 1.

use std::borrow::Cow;

use chrono::{Datelike, NaiveDate, NaiveTime};
use domain::{LocalPunchTime, PunchType};
use serde::{Deserialize, Serialize};

use crate::arabic::{ascii_digits, comparison_key};
use crate::facts::{is_blank_row, FileFacts, FileForm};
use crate::header::{Columns, ReportKind};
use crate::text::{
    is_blank, CellSplitter, Line, Lines, SplitProblem, TextDecoder, TextEncoding, DELIMITERS,
    MAX_CELLS, MAX_LINE_BYTES,
};
use crate::values::{
    date_shape, is_no_punch, parse_punch_state, parse_time, parse_weekday, split_date_time,
    DateOrder, DateProblem, DateShape, DATE_FORMATS,
};

/// What is wrong with a row, or worth a word to the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueCode {
    UnknownEmployee,
    UnmappedDepartment,
    InvalidDate,
    InvalidTime,
    MissingField,
    BadRow,
    /// The department names a company the uploader's token does not cover: the row is stored,
    /// never queued, and says nothing more about that company.
    CompanyNotPermitted,
    /// A clock shared by several companies (a lobby clock) read a PIN that is an employee of more
    /// than one of them: the punch cannot be given to either.
    AmbiguousEmployee,
    /// Warning: the weekday column names another day than the date.
    WeekdayMismatch,
    /// Warning, added by import-service: the same employee and day were imported before with
    /// other punch times.
    ConflictsWithEarlierImport,
    /// Why a row is skipped: it is a summary row (Total, Grand Total, Sub Total, المجموع,
    /// الإجمالي), not an employee's day.
    SummaryRow,
}

impl IssueCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            IssueCode::UnknownEmployee => "unknown_employee",
            IssueCode::UnmappedDepartment => "unmapped_department",
            IssueCode::InvalidDate => "invalid_date",
            IssueCode::InvalidTime => "invalid_time",
            IssueCode::MissingField => "missing_field",
            IssueCode::BadRow => "bad_row",
            IssueCode::CompanyNotPermitted => "company_not_permitted",
            IssueCode::AmbiguousEmployee => "ambiguous_employee",
            IssueCode::WeekdayMismatch => "weekday_mismatch",
            IssueCode::ConflictsWithEarlierImport => "conflicts_with_earlier_import",
            IssueCode::SummaryRow => "summary_row",
        }
    }
}

impl std::fmt::Display for IssueCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error or a warning on one row: a stable code and a sentence for the operator.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RowIssue {
    pub code: IssueCode,
    pub message: String,
}

impl RowIssue {
    pub fn new(code: IssueCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// One punch derived from a row, in the company's local wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Punch {
    #[serde(rename = "type")]
    pub punch_type: PunchType,
    pub time: LocalPunchTime,
}

/// One data row as read from the file, before the directory is consulted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRow {
    /// The line number a text editor shows (title rows, the header and blank lines counted).
    pub line: u64,
    /// The cells as they are in the file (the whole line as one cell when it could not be cut
    /// into cells).
    pub raw: Vec<String>,
    /// Trimmed; `None` when the cell is empty.
    pub employee_id: Option<String>,
    /// First name and last name joined, or the name column.
    pub name: String,
    /// Trimmed, as written in the report.
    pub department: String,
    pub date: Option<NaiveDate>,
    pub punches: Vec<Punch>,
    /// Problems in the row itself (bad_row, missing_field, invalid_date, invalid_time).
    pub errors: Vec<RowIssue>,
    /// weekday_mismatch, or summary_row for a summary row.
    pub warnings: Vec<RowIssue>,
}

impl ReportRow {
    /// A summary row (Total, المجموع…): counted, and skipped whatever the directory says.
    pub fn is_summary(&self) -> bool {
        self.warnings
            .iter()
            .any(|w| w.code == IssueCode::SummaryRow)
    }

    fn summary(line: u64, raw: Vec<String>, label: &str) -> Self {
        let message = format!("a summary row ({label}), not an employee's attendance: skipped");
        Self {
            line,
            raw,
            employee_id: None,
            name: String::new(),
            department: String::new(),
            date: None,
            punches: Vec::new(),
            errors: Vec::new(),
            warnings: vec![RowIssue::new(IssueCode::SummaryRow, message)],
        }
    }

    fn bad(line: u64, raw: Vec<String>, message: impl Into<String>) -> Self {
        Self {
            line,
            raw,
            employee_id: None,
            name: String::new(),
            department: String::new(),
            date: None,
            punches: Vec::new(),
            errors: vec![RowIssue::new(IssueCode::BadRow, message)],
            warnings: Vec::new(),
        }
    }
}

/// The date cell of a row: the date column, or the date part of a date-time column. A date
/// column that also carries a time (Excel likes "2026-11-05 00:00:00") gives its date part.
pub(crate) fn row_date_text<'a>(
    columns: &Columns,
    kind: ReportKind,
    cell: &impl Fn(usize) -> &'a str,
) -> &'a str {
    match kind {
        ReportKind::Daily => columns.date.map(|i| date_part(cell(i))).unwrap_or(""),
        ReportKind::Transactions => transaction_parts(columns, cell).0,
    }
}

fn date_part(text: &str) -> &str {
    split_date_time(text).0.unwrap_or(text.trim())
}

/// The date and time text of a transaction row: Date + Time columns when both exist, else the
/// date-time column (with the Date column when that cell holds only a time).
fn transaction_parts<'a>(
    columns: &Columns,
    cell: &impl Fn(usize) -> &'a str,
) -> (&'a str, &'a str) {
    if let (Some(date), Some(time)) = (columns.date, columns.time) {
        return (date_part(cell(date)), split_date_time(cell(time)).1);
    }
    let datetime = columns.datetime.map(cell).unwrap_or("");
    match split_date_time(datetime) {
        (Some(date), time) => (date, time),
        (None, time) => (columns.date.map(|i| date_part(cell(i))).unwrap_or(""), time),
    }
}

/// What parsing a row needs from the file's facts.
#[derive(Debug, Clone)]
struct RowContext {
    columns: Columns,
    kind: ReportKind,
    date_order: DateOrder,
    header: Vec<String>,
}

impl RowContext {
    fn new(facts: &FileFacts) -> Self {
        Self {
            columns: facts.columns.clone(),
            kind: facts.kind,
            date_order: facts.date_order,
            header: facts.header.clone(),
        }
    }

    fn column_name(&self, index: usize) -> &str {
        self.header.get(index).map(String::as_str).unwrap_or("")
    }
}

/// Parses a data row's cells under the file's facts. Pass 2 does this for every row; a service
/// may do it again from stored raw cells.
pub fn parse_row(facts: &FileFacts, line: u64, raw: Vec<String>) -> ReportRow {
    parse_cells(&RowContext::new(facts), line, raw)
}

/// The labels of summary rows, as `comparison_key` gives them: Total, Grand Total, Sub Total,
/// المجموع, الإجمالي.
const SUMMARY_LABELS: [&str; 5] = ["total", "grandtotal", "subtotal", "المجموع", "الاجمالي"];

/// The row's first non-empty cell, trimmed, when it names a summary row.
fn summary_label<S: AsRef<str>>(cells: &[S]) -> Option<&str> {
    let first = cells
        .iter()
        .map(|c| c.as_ref().trim())
        .find(|c| !c.is_empty())?;
    SUMMARY_LABELS
        .contains(&comparison_key(first).as_str())
        .then_some(first)
}

/// A summary row: counted as a row, never as an employee's day.
pub(crate) fn is_summary_row<S: AsRef<str>>(cells: &[S]) -> bool {
    summary_label(cells).is_some()
}

fn parse_cells(ctx: &RowContext, line: u64, raw: Vec<String>) -> ReportRow {
    if let Some(label) = summary_label(&raw) {
        let label = label.to_owned();
        return ReportRow::summary(line, raw, &label);
    }
    let columns = &ctx.columns;
    // Ids, dates, times and states are read with their digits made ASCII; names and departments
    // are kept as written.
    let folded: Vec<Cow<'_, str>> = raw.iter().map(|c| ascii_digits(c.trim())).collect();
    let cell = |i: usize| folded.get(i).map(AsRef::as_ref).unwrap_or("");
    let text_cell = |i: usize| raw.get(i).map(|s| s.trim()).unwrap_or("");
    let mut missing: Vec<&str> = Vec::new();
    let mut errors = Vec::new();
    let mut warnings = Vec::new();

    let employee_id = Some(cell(columns.employee_id))
        .filter(|id| !id.is_empty())
        .map(str::to_owned);
    if employee_id.is_none() {
        missing.push("employee id");
    }
    let name = std::iter::once(columns.name)
        .chain(columns.last_name)
        .map(text_cell)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let department = text_cell(columns.department).to_owned();
    if department.is_empty() {
        missing.push("department");
    }

    let date_text = row_date_text(columns, ctx.kind, &cell);
    let date = if date_text.is_empty() {
        missing.push("date");
        None
    } else {
        match read_date(date_text, ctx.date_order) {
            Ok(date) => Some(date),
            Err(message) => {
                errors.push(RowIssue::new(IssueCode::InvalidDate, message));
                None
            }
        }
    };
    if let (Some(date), Some(column)) = (date, columns.weekday) {
        if let Some(weekday) = parse_weekday(cell(column)) {
            if weekday != date.weekday() {
                warnings.push(RowIssue::new(
                    IssueCode::WeekdayMismatch,
                    format!(
                        "the {} column says {}, but {date} is a {}",
                        ctx.column_name(column),
                        cell(column),
                        weekday_name(date.weekday())
                    ),
                ));
            }
        }
    }

    let mut punches = Vec::new();
    match ctx.kind {
        ReportKind::Daily => {
            let first = pick_time(ctx, &columns.first_punch, &cell, &mut errors);
            let last = pick_time(ctx, &columns.last_punch, &cell, &mut errors);
            if let (Some(date), Some(first), Some(last)) = (date, first, last) {
                punches = daily_punches(date, first, last);
            }
        }
        ReportKind::Transactions => {
            let (_, time_text) = transaction_parts(columns, &cell);
            let time = if is_no_punch(time_text) {
                missing.push("time");
                None
            } else {
                match parse_time(time_text) {
                    Some(time) => Some(time),
                    None => {
                        errors.push(RowIssue::new(
                            IssueCode::InvalidTime,
                            format!("{time_text:?} is not a time (HH:MM, HH:MM:SS, H:MM or 12-hour with AM/PM)"),
                        ));
                        None
                    }
                }
            };
            let state_text = columns.punch_state.map(cell).unwrap_or("");
            let punch_type = if state_text.is_empty() {
                missing.push("punch state");
                None
            } else {
                let parsed = parse_punch_state(state_text);
                if parsed.is_none() {
                    errors.push(RowIssue::new(
                        IssueCode::BadRow,
                        format!(
                            "punch state {state_text:?} is neither a check-in (Check In, Break In, \
                             Overtime In, OT In, C/In, I, 0, 3, 4) nor a check-out (Check Out, \
                             Break Out, Overtime Out, OT Out, C/Out, O, 1, 2, 5)"
                        ),
                    ));
                }
                parsed
            };
            if let (Some(date), Some(time), Some(punch_type)) = (date, time, punch_type) {
                punches.push(Punch {
                    punch_type,
                    time: LocalPunchTime::new(date.and_time(time)),
                });
            }
        }
    }
    if !missing.is_empty() {
        errors.insert(
            0,
            RowIssue::new(
                IssueCode::MissingField,
                format!("missing {}", missing.join(", ")),
            ),
        );
    }
    if !errors.is_empty() {
        punches.clear();
    }
    drop(folded);
    ReportRow {
        line,
        raw,
        employee_id,
        name,
        department,
        date,
        punches,
        errors,
        warnings,
    }
}

fn weekday_name(day: chrono::Weekday) -> &'static str {
    match day {
        chrono::Weekday::Mon => "Monday",
        chrono::Weekday::Tue => "Tuesday",
        chrono::Weekday::Wed => "Wednesday",
        chrono::Weekday::Thu => "Thursday",
        chrono::Weekday::Fri => "Friday",
        chrono::Weekday::Sat => "Saturday",
        chrono::Weekday::Sun => "Sunday",
    }
}

fn read_date(text: &str, order: DateOrder) -> Result<NaiveDate, String> {
    match date_shape(text) {
        Ok(shape @ DateShape::Slashed { .. }) => shape.resolve(order).ok_or_else(|| {
            format!(
                "date {text:?} does not exist when read {}, the order this file's dates are in",
                order.describe()
            )
        }),
        Ok(DateShape::Known(date)) => Ok(date),
        Err(DateProblem::NoSuchDate) => Err(format!("date {text:?} does not exist")),
        Err(DateProblem::NotADate) => {
            Err(format!("{text:?} is not a date (expected {DATE_FORMATS})"))
        }
    }
}

/// The first candidate column with a punch in it. `Some(None)`: no punch; `None`: the punch is
/// not a time (an error is recorded).
fn pick_time<'a>(
    ctx: &RowContext,
    candidates: &[usize],
    cell: &impl Fn(usize) -> &'a str,
    errors: &mut Vec<RowIssue>,
) -> Option<Option<NaiveTime>> {
    let Some(&column) = candidates.iter().find(|&&i| !is_no_punch(cell(i))) else {
        return Some(None);
    };
    let text = cell(column);
    match parse_time(text) {
        Some(time) => Some(Some(time)),
        None => {
            errors.push(RowIssue::new(
                IssueCode::InvalidTime,
                format!(
                    "{} {text:?} is not a time (HH:MM, HH:MM:SS, H:MM or 12-hour with AM/PM)",
                    ctx.column_name(column)
                ),
            ));
            None
        }
    }
}

/// A last punch earlier than the first is the next morning (a night shift); the same time twice
/// is one press of the finger, so one check-in.
fn daily_punches(date: NaiveDate, first: Option<NaiveTime>, last: Option<NaiveTime>) -> Vec<Punch> {
    let at = |day: NaiveDate, time: NaiveTime| LocalPunchTime::new(day.and_time(time));
    let check_in = |time| Punch {
        punch_type: PunchType::CheckIn,
        time,
    };
    let check_out = |time| Punch {
        punch_type: PunchType::CheckOut,
        time,
    };
    match (first, last) {
        (None, None) => Vec::new(),
        (Some(first), None) => vec![check_in(at(date, first))],
        (None, Some(last)) => vec![check_out(at(date, last))],
        (Some(first), Some(last)) if first == last => vec![check_in(at(date, first))],
        (Some(first), Some(last)) => {
            let last_day = if last < first {
                date.succ_opt().unwrap_or(date)
            } else {
                date
            };
            vec![check_in(at(date, first)), check_out(at(last_day, last))]
        }
    }
}

/// Pass 2 over a text file. Feed it the same bytes as pass 1, in chunks of any size; it hands
/// over each data row as soon as its line is complete.
pub struct RowReader {
    ctx: RowContext,
    header_end: u64,
    bom_to_skip: usize,
    decoder: TextDecoder,
    lines: Lines,
    splitter: CellSplitter,
}

impl RowReader {
    /// For a text file's facts (a workbook's facts read as UTF-8 with commas: use
    /// [`SheetRowReader`] for a worksheet).
    pub fn new(facts: &FileFacts) -> Self {
        let (encoding, bom, delimiter) = match facts.form {
            FileForm::Text {
                encoding,
                bom,
                delimiter,
            } => (encoding, bom, delimiter.as_byte()),
            FileForm::Workbook { .. } => (TextEncoding::Utf8, false, b','),
        };
        Self {
            ctx: RowContext::new(facts),
            header_end: facts.header_end(),
            bom_to_skip: if bom { encoding.bom_len() } else { 0 },
            decoder: TextDecoder::new(encoding),
            lines: Lines::default(),
            splitter: CellSplitter::new(delimiter),
        }
    }

    pub fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<ReportRow>) {
        if self.bom_to_skip > 0 {
            let skip = self.bom_to_skip.min(chunk.len());
            self.bom_to_skip -= skip;
            chunk = &chunk[skip..];
        }
        let RowReader {
            ctx,
            header_end,
            decoder,
            lines,
            splitter,
            ..
        } = self;
        decoder.decode(chunk, false, |text| {
            lines.push(text, |line| on_line(ctx, *header_end, splitter, line, out))
        });
    }

    pub fn finish(mut self, out: &mut Vec<ReportRow>) {
        let RowReader {
            ctx,
            header_end,
            decoder,
            lines,
            splitter,
            ..
        } = &mut self;
        decoder.decode(&[], true, |text| {
            lines.push(text, |line| on_line(ctx, *header_end, splitter, line, out))
        });
        lines.finish(|line| on_line(ctx, *header_end, splitter, line, out));
    }
}

fn on_line(
    ctx: &RowContext,
    header_end: u64,
    splitter: &mut CellSplitter,
    line: Line<'_>,
    out: &mut Vec<ReportRow>,
) {
    // A line of any delimiters only is as blank in pass 2 as it was in pass 1.
    if line.number <= header_end || is_blank(line.text, &DELIMITERS) {
        return;
    }
    if line.too_long {
        out.push(ReportRow::bad(
            line.number,
            Vec::new(),
            format!(
                "line_too_long: the line is longer than {} MiB",
                MAX_LINE_BYTES >> 20
            ),
        ));
        return;
    }
    match splitter.split(line.text) {
        Ok(record) => {
            let raw = record.iter().map(str::to_owned).collect();
            out.push(parse_cells(ctx, line.number, raw));
        }
        Err(SplitProblem::UnterminatedQuote) => out.push(ReportRow::bad(
            line.number,
            vec![line.text.to_owned()],
            "unterminated_quote: a quoted field does not close on its line \
             (reports have one record per line)",
        )),
        Err(SplitProblem::TooManyCells) => out.push(too_many_cells(line.number)),
    }
}

fn too_many_cells(line: u64) -> ReportRow {
    ReportRow::bad(
        line,
        Vec::new(),
        format!("too_many_cells: the line has more than {MAX_CELLS} cells"),
    )
}

/// Pass 2 over a worksheet: give it the sheet's rows, as pass 1 had them, one at a time. Blank
/// rows and the rows up to and including the header (its second row too, when the header is
/// given in two languages) give no row; a summary row gives a row that validates as skipped.
pub struct SheetRowReader {
    ctx: RowContext,
    header_end: u64,
}

impl SheetRowReader {
    pub fn new(facts: &FileFacts) -> Self {
        Self {
            ctx: RowContext::new(facts),
            header_end: facts.header_end(),
        }
    }

    /// The data row of the sheet's row `line` (as the spreadsheet numbers it), if it is one.
    pub fn row(&self, line: u64, cells: Vec<String>) -> Option<ReportRow> {
        if line <= self.header_end || is_blank_row(&cells) {
            return None;
        }
        if cells.len() > MAX_CELLS {
            return Some(too_many_cells(line));
        }
        Some(parse_cells(&self.ctx, line, cells))
    }
}

/// One worksheet row through pass 2 (see [`SheetRowReader`], which keeps the facts it needs
/// between rows).
pub fn sheet_row(facts: &FileFacts, line: u64, cells: Vec<String>) -> Option<ReportRow> {
    SheetRowReader::new(facts).row(line, cells)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{read_report, ReadOptions};

    fn rows(text: &str) -> Vec<ReportRow> {
        read_report(text.as_bytes(), ReadOptions::default())
            .unwrap_or_else(|e| panic!("{e}"))
            .1
    }

    fn times(row: &ReportRow) -> Vec<String> {
        row.punches
            .iter()
            .map(|p| format!("{} {}", p.punch_type, p.time))
            .collect()
    }

    fn codes(issues: &[RowIssue]) -> Vec<&'static str> {
        issues.iter().map(|i| i.code.as_str()).collect()
    }

    const DAILY_HEADER: &str =
        "Employee ID,First Name,Last Name,Department,Date,Weekday,Check In,Check Out\n";

    #[test]
    fn daily_rows() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            (
                "1001,Ahmed,Ali,AdvLine,2026-11-01,Sunday,08:00,17:00",
                &[
                    "checkIn 2026-11-01 08:00:00",
                    "checkOut 2026-11-01 17:00:00",
                ],
                &[],
            ),
            (
                "1001,Ahmed,,AdvLine,2026-11-01,,08:00,--",
                &["checkIn 2026-11-01 08:00:00"],
                &[],
            ),
            (
                "1001,Ahmed,,AdvLine,2026-11-01,,-,17:05",
                &["checkOut 2026-11-01 17:05:00"],
                &[],
            ),
            (
                "1001,Ahmed,,AdvLine,2026-11-01,,,17:05",
                &["checkOut 2026-11-01 17:05:00"],
                &[],
            ),
            ("1001,Ahmed,,AdvLine,2026-11-01,,--,--", &[], &[]),
            ("1001,Ahmed,,AdvLine,2026-11-01,,,", &[], &[]),
            ("1001,Ahmed,,AdvLine,2026-11-01", &[], &[]),
            (
                "1001,Ahmed,,AdvLine,2026-11-01,,10:00,10:00",
                &["checkIn 2026-11-01 10:00:00"],
                &[],
            ),
            (
                "1001,Ahmed,,AdvLine,2026-11-01,,19:00,05:00",
                &[
                    "checkIn 2026-11-01 19:00:00",
                    "checkOut 2026-11-02 05:00:00",
                ],
                &[],
            ),
            (
                "1001,Ahmed,,AdvLine,2026-12-31,,22:00,06:00",
                &[
                    "checkIn 2026-12-31 22:00:00",
                    "checkOut 2027-01-01 06:00:00",
                ],
                &[],
            ),
            (
                "1001,Ahmed,,AdvLine,2026-11-01,,7:05 PM,3:10 AM",
                &[
                    "checkIn 2026-11-01 19:05:00",
                    "checkOut 2026-11-02 03:10:00",
                ],
                &[],
            ),
            (
                "1001,Ahmed,,AdvLine,2026-11-01,,08:00:12,17:00:40",
                &[
                    "checkIn 2026-11-01 08:00:12",
                    "checkOut 2026-11-01 17:00:40",
                ],
                &[],
            ),
            (
                "1001,Ahmed,,AdvLine,2026-11-01 00:00:00,,08:00,17:00",
                &[
                    "checkIn 2026-11-01 08:00:00",
                    "checkOut 2026-11-01 17:00:00",
                ],
                &[],
            ),
            (
                "1001,Ahmed,,AdvLine,2026-11-01,,25:99,17:00",
                &[],
                &["invalid_time"],
            ),
            (
                "1001,Ahmed,,AdvLine,2026-11-01,,08:00,5pm",
                &[],
                &["invalid_time"],
            ),
            (
                "1001,Ahmed,,AdvLine,2026-13-45,,08:00,17:00",
                &[],
                &["invalid_date"],
            ),
            (
                "1001,Ahmed,,AdvLine,yesterday,,08:00,17:00",
                &[],
                &["invalid_date"],
            ),
            ("1001,Ahmed,,AdvLine,,,08:00,17:00", &[], &["missing_field"]),
            (
                ",Ahmed,,AdvLine,2026-11-01,,08:00,17:00",
                &[],
                &["missing_field"],
            ),
            (
                "1001,Ahmed,,,2026-11-01,,08:00,17:00",
                &[],
                &["missing_field"],
            ),
            ("1001,Ahmed", &[], &["missing_field"]),
            (
                "1001,Ahmed,,AdvLine,2026-13-45,,25:99,17:00",
                &[],
                &["invalid_date", "invalid_time"],
            ),
            ("1001,\"Ahmed,AdvLine,2026-11-01", &[], &["bad_row"]),
        ];
        for (line, punches, errors) in cases {
            let rows = rows(&format!("{DAILY_HEADER}{line}\n"));
            assert_eq!(rows.len(), 1, "{line}");
            let row = &rows[0];
            assert_eq!(row.line, 2);
            assert_eq!(times(row), *punches, "{line}");
            assert_eq!(codes(&row.errors), *errors, "{line}: {:?}", row.errors);
        }
    }

    #[test]
    fn fields_of_a_row() {
        let rows = rows(&format!(
            "{DAILY_HEADER} 0042 ,Omar,Haddad, Gulf  Logistics - Warehouse ,2026-11-01,Sunday,08:00,17:00,extra,,\n"
        ));
        let row = &rows[0];
        assert_eq!(row.employee_id.as_deref(), Some("0042"));
        assert_eq!(row.name, "Omar Haddad");
        assert_eq!(row.department, "Gulf  Logistics - Warehouse");
        assert_eq!(row.date, NaiveDate::from_ymd_opt(2026, 11, 1));
        assert_eq!(row.raw.len(), 11);
        assert_eq!(row.raw[0], " 0042 ");
        assert!(row.errors.is_empty() && row.warnings.is_empty());
    }

    #[test]
    fn the_first_non_empty_candidate_is_used() {
        let header = "Employee ID,Name,Department,Date,Clock In,Check In,Clock Out,Check Out\n";
        let cases = [
            (
                "1,A,B,2026-11-01,08:00:12,08:00,17:00:40,17:00",
                vec![
                    "checkIn 2026-11-01 08:00:00",
                    "checkOut 2026-11-01 17:00:00",
                ],
            ),
            (
                "1,A,B,2026-11-01,08:00:12,--,17:00:40,",
                vec![
                    "checkIn 2026-11-01 08:00:12",
                    "checkOut 2026-11-01 17:00:40",
                ],
            ),
            (
                "1,A,B,2026-11-01,--,--,17:00:40,-",
                vec!["checkOut 2026-11-01 17:00:40"],
            ),
        ];
        for (line, expected) in cases {
            let rows = rows(&format!("{header}{line}\n"));
            assert_eq!(times(&rows[0]), expected, "{line}");
        }
    }

    #[test]
    fn weekday_mismatch_is_a_warning() {
        let rows = rows(&format!(
            "{DAILY_HEADER}1001,Ahmed,,AdvLine,2026-11-01,Monday,08:00,17:00\n"
        ));
        assert!(rows[0].errors.is_empty());
        assert_eq!(codes(&rows[0].warnings), ["weekday_mismatch"]);
        assert_eq!(
            rows[0].warnings[0].message,
            "the Weekday column says Monday, but 2026-11-01 is a Sunday"
        );
        assert_eq!(rows[0].punches.len(), 2);
    }

    #[test]
    fn transaction_rows() {
        let cases: &[(&str, &str, &[&str], &[&str])] = &[
            (
                "Employee ID,Name,Department,Date,Time,Punch State",
                "1,A,B,2026-11-05,07:58:12,Check In",
                &["checkIn 2026-11-05 07:58:12"],
                &[],
            ),
            (
                "Employee ID,Name,Department,Date,Time,Punch State",
                "1,A,B,2026-11-05,18:00:30,1",
                &["checkOut 2026-11-05 18:00:30"],
                &[],
            ),
            (
                "Employee ID,Name,Department,Date,Time,Punch State",
                "1,A,B,2026-11-05,8:00 PM,OT In",
                &["checkIn 2026-11-05 20:00:00"],
                &[],
            ),
            (
                "Employee ID,Name,Department,Date,Time,Punch State",
                "1,A,B,2026-11-05,,Check In",
                &[],
                &["missing_field"],
            ),
            (
                "Employee ID,Name,Department,Date,Time,Punch State",
                "1,A,B,2026-11-05,08:00,",
                &[],
                &["missing_field"],
            ),
            (
                "Employee ID,Name,Department,Date,Time,Punch State",
                "1,A,B,2026-11-05,08:00,Lunch",
                &[],
                &["bad_row"],
            ),
            (
                "Employee ID,Name,Department,Date,Time,Punch State",
                "1,A,B,2026-11-05,8h00,0",
                &[],
                &["invalid_time"],
            ),
            (
                "User ID,Name,Department,Punch Time,State",
                "1,A,B,2026-11-05 07:58:12,C/In",
                &["checkIn 2026-11-05 07:58:12"],
                &[],
            ),
            (
                "User ID,Name,Department,Punch Time,State",
                "1,A,B,13/11/2026 7:58 PM,C/Out",
                &["checkOut 2026-11-13 19:58:00"],
                &[],
            ),
            (
                "User ID,Name,Department,Punch Time,State",
                "1,A,B,2026-11-05,I",
                &[],
                &["missing_field"],
            ),
            (
                "User ID,Name,Department,Date,Punch Time,State",
                "1,A,B,2026-11-05,07:58,O",
                &["checkOut 2026-11-05 07:58:00"],
                &[],
            ),
        ];
        for (header, line, punches, errors) in cases {
            let rows = rows(&format!("{header}\n{line}\n"));
            assert_eq!(times(&rows[0]), *punches, "{line}");
            assert_eq!(
                codes(&rows[0].errors),
                *errors,
                "{line}: {:?}",
                rows[0].errors
            );
        }
    }

    #[test]
    fn slashed_dates_follow_the_file_order() {
        let header = "Employee ID,Name,Department,Date,Check In\n";
        let (facts, rows) = read_report(
            format!("{header}1,A,B,13/11/2026,08:00\n1,A,B,14/11/2026,08:00\n1,A,B,11/15/2026,08:00\n1,A,B,05/11/2026,08:00\n").as_bytes(),
            ReadOptions::default(),
        )
        .unwrap();
        assert_eq!(facts.date_order, DateOrder::DayFirst);
        let dates: Vec<_> = rows.iter().map(|r| r.date.map(|d| d.to_string())).collect();
        assert_eq!(
            dates,
            [
                Some("2026-11-13".to_owned()),
                Some("2026-11-14".to_owned()),
                None,
                Some("2026-11-05".to_owned())
            ]
        );
        assert_eq!(codes(&rows[2].errors), ["invalid_date"]);
        assert!(
            rows[2].errors[0].message.contains("day-first"),
            "{}",
            rows[2].errors[0].message
        );
    }

    #[test]
    fn line_numbers_count_titles_blanks_and_the_header() {
        let text = "Total Time Card\r\n\r\nEmployee ID,Name,Department,Date,Check In\r\n1,A,B,2026-11-01,08:00\r\n\r\n,,,,\r\n2,A,B,2026-11-01,08:00";
        let rows = rows(text);
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [4, 7]);
    }

    #[test]
    fn oversized_lines_are_bad_rows_and_reading_goes_on() {
        let wide = vec!["x"; MAX_CELLS + 5].join(",");
        let long = "y".repeat(MAX_LINE_BYTES + 10);
        let text = format!(
            "Employee ID,Name,Department,Date,Check In\n{wide}\n{long}\n1,A,B,2026-11-01,08:00\n"
        );
        let rows = rows(&text);
        assert_eq!(rows.len(), 3);
        assert_eq!(codes(&rows[0].errors), ["bad_row"]);
        assert!(rows[0].errors[0].message.starts_with("too_many_cells"));
        assert_eq!(codes(&rows[1].errors), ["bad_row"]);
        assert!(rows[1].errors[0].message.starts_with("line_too_long"));
        assert!(rows[2].errors.is_empty());
        assert_eq!(rows[2].line, 4);
    }

    #[test]
    fn arabic_digits_read_as_ascii() {
        let text = "رقم الموظف,الاسم,القسم,التاريخ,الحضور,الانصراف\n\
                    ٠٠٤٢,عمر,AdvLine,١٣/١١/٢٠٢٦,٠٨:٠٥,٠٥:١٠ م\n\
                    ۱۰۰۵,محمد ١,قسم ٢,۲۰۲۶-۱۱-۰۷,۰۸:۰۰:۳۰,\n";
        let rows = rows(text);
        assert_eq!(rows[0].employee_id.as_deref(), Some("0042"));
        assert_eq!(rows[0].raw[0], "٠٠٤٢");
        assert_eq!(
            times(&rows[0]),
            [
                "checkIn 2026-11-13 08:05:00",
                "checkOut 2026-11-13 17:10:00"
            ]
        );
        assert_eq!(rows[1].employee_id.as_deref(), Some("1005"));
        assert_eq!(times(&rows[1]), ["checkIn 2026-11-07 08:00:30"]);
        // Names and departments stay as written.
        assert_eq!(
            (rows[1].name.as_str(), rows[1].department.as_str()),
            ("محمد ١", "قسم ٢")
        );
        let transactions = "رقم البصمة;الاسم;القسم;وقت البصمة;الحالة\n١;A;B;٢٠٢٦-١١-٠٥ ٠٧:٥٨:١٢;١\n";
        assert_eq!(
            times(&self::rows(transactions)[0]),
            ["checkOut 2026-11-05 07:58:12"]
        );
    }

    #[test]
    fn summary_rows_are_rows_of_their_own_kind() {
        let labels = [
            "Total",
            "TOTAL",
            " total ",
            "Grand Total",
            "grand  total",
            "Sub Total",
            "SubTotal",
            "Total:",
            "المجموع",
            " الإجمالي ",
            "الاجمالي",
        ];
        for label in labels {
            for row in [
                format!("{label},,,,,,"),
                format!(",,{label},,2026-11-01,,08:00,17:00"),
                format!("\"{label}\",5,AdvLine,2026-11-01,,08:00,17:00"),
            ] {
                let rows = rows(&format!("{DAILY_HEADER}{row}\n"));
                assert_eq!(rows.len(), 1, "{row}");
                let row = &rows[0];
                assert!(row.is_summary(), "{row:?}");
                assert!(row.errors.is_empty() && row.punches.is_empty(), "{row:?}");
                assert_eq!(codes(&row.warnings), ["summary_row"]);
                assert!(row.warnings[0].message.contains(label.trim()), "{row:?}");
            }
        }
        for first in ["Totals", "Total 5", "1001", "Totally", "مجموع ساعات"] {
            let rows = rows(&format!(
                "{DAILY_HEADER}{first},A,,AdvLine,2026-11-01,,08:00,\n"
            ));
            assert!(!rows[0].is_summary(), "{first}");
        }
    }

    #[test]
    fn lines_of_delimiters_only_are_not_rows() {
        let text = format!(
            "{DAILY_HEADER},,,,,,,\n;;;;\n\t\t\n , ;\t\n\"\",\"\"\n1001,A,,AdvLine,2026-11-01,,08:00,\n"
        );
        let (facts, rows) = read_report(text.as_bytes(), ReadOptions::default()).unwrap();
        assert_eq!(facts.data_lines, 1);
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [7]);
    }

    #[test]
    fn the_second_row_of_a_bilingual_header_is_not_a_row() {
        let text = "رقم الموظف,الاسم,القسم,التاريخ,الحضور\r\n\
                    Employee ID,Name,Department,Date,Check In\r\n\
                    1001,A,AdvLine,2026-11-01,08:00\r\n";
        let rows = rows(text);
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [3]);
        assert!(rows[0].errors.is_empty());
    }

    #[test]
    fn rows_serialize() {
        let rows = rows(&format!(
            "{DAILY_HEADER}1001,Ahmed,,AdvLine,2026-11-01,Sunday,08:00,17:00\n"
        ));
        let json = serde_json::to_value(&rows[0]).unwrap();
        assert_eq!(json["punches"][0]["type"], "checkIn");
        assert_eq!(json["punches"][0]["time"], "2026-11-01 08:00:00");
        let back: ReportRow = serde_json::from_value(json).unwrap();
        assert_eq!(back, rows[0]);
    }
}
