//! Pass 2: the rows, read from the stored file with the facts of pass 1.

use chrono::{Datelike, NaiveDate, NaiveTime};
use domain::{LocalPunchTime, PunchType};
use serde::{Deserialize, Serialize};

use crate::facts::FileFacts;
use crate::header::{Columns, ReportKind};
use crate::text::{
    is_blank, CellSplitter, Line, Lines, SplitProblem, TextDecoder, MAX_CELLS, MAX_LINE_BYTES,
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
    /// Warning: the weekday column names another day than the date.
    WeekdayMismatch,
    /// Warning, added by import-service: the same employee and day were imported before with
    /// other punch times.
    ConflictsWithEarlierImport,
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
            IssueCode::WeekdayMismatch => "weekday_mismatch",
            IssueCode::ConflictsWithEarlierImport => "conflicts_with_earlier_import",
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
    /// weekday_mismatch.
    pub warnings: Vec<RowIssue>,
}

impl ReportRow {
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

fn parse_cells(ctx: &RowContext, line: u64, raw: Vec<String>) -> ReportRow {
    let columns = &ctx.columns;
    let cell = |i: usize| raw.get(i).map(|s| s.trim()).unwrap_or("");
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
        .map(cell)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let department = cell(columns.department).to_owned();
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

/// Pass 2. Feed it the same bytes as pass 1, in chunks of any size; it hands over each data row
/// as soon as its line is complete.
pub struct RowReader {
    ctx: RowContext,
    delimiter: u8,
    header_line: u64,
    bom_to_skip: usize,
    decoder: TextDecoder,
    lines: Lines,
    splitter: CellSplitter,
}

impl RowReader {
    pub fn new(facts: &FileFacts) -> Self {
        let delimiter = facts.delimiter.as_byte();
        Self {
            ctx: RowContext::new(facts),
            delimiter,
            header_line: facts.header_line,
            bom_to_skip: if facts.bom {
                facts.encoding.bom_len()
            } else {
                0
            },
            decoder: TextDecoder::new(facts.encoding),
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
            delimiter,
            header_line,
            decoder,
            lines,
            splitter,
            ..
        } = self;
        decoder.decode(chunk, false, |text| {
            lines.push(text, |line| {
                on_line(ctx, *delimiter, *header_line, splitter, line, out)
            })
        });
    }

    pub fn finish(mut self, out: &mut Vec<ReportRow>) {
        let RowReader {
            ctx,
            delimiter,
            header_line,
            decoder,
            lines,
            splitter,
            ..
        } = &mut self;
        decoder.decode(&[], true, |text| {
            lines.push(text, |line| {
                on_line(ctx, *delimiter, *header_line, splitter, line, out)
            })
        });
        lines.finish(|line| on_line(ctx, *delimiter, *header_line, splitter, line, out));
    }
}

fn on_line(
    ctx: &RowContext,
    delimiter: u8,
    header_line: u64,
    splitter: &mut CellSplitter,
    line: Line<'_>,
    out: &mut Vec<ReportRow>,
) {
    if line.number <= header_line || is_blank(line.text, &[delimiter]) {
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
        Err(SplitProblem::TooManyCells) => out.push(ReportRow::bad(
            line.number,
            Vec::new(),
            format!("too_many_cells: the line has more than {MAX_CELLS} cells"),
        )),
    }
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
