//! Pass 1: the file-level facts, collected while the upload streams to storage.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::arabic::ascii_digits;
use crate::header::{
    map_columns, merge_header_rows, names_same_columns, recognised_names, Columns, ReportKind,
    MIN_RECOGNISED_NAMES,
};
use crate::rows::{is_summary_row, row_date_text};
use crate::text::{
    is_blank, CellSplitter, Line, Lines, TextDecoder, TextEncoding, Utf8Check, DELIMITERS,
    MAX_CELLS,
};
use crate::values::{date_shape, parse_weekday, DateOrder, DateShape};

/// The header must be among this many non-blank lines at the top of the file.
pub const HEADER_SEARCH_ROWS: u32 = 10;

/// What the upload says about the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadOptions {
    /// The upload's `date_order=dmy|mdy`, used when the file's own dates and weekdays leave
    /// slashed dates ambiguous.
    pub date_order: Option<DateOrder>,
}

/// The cell delimiter, detected from the header line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delimiter {
    Comma,
    Semicolon,
    Tab,
}

impl Delimiter {
    pub const fn as_byte(self) -> u8 {
        match self {
            Delimiter::Comma => b',',
            Delimiter::Semicolon => b';',
            Delimiter::Tab => b'\t',
        }
    }

    fn from_byte(byte: u8) -> Self {
        match byte {
            b';' => Delimiter::Semicolon,
            b'\t' => Delimiter::Tab,
            _ => Delimiter::Comma,
        }
    }
}

/// Rows whose slashed date (a/b/yyyy) can be read only one way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateEvidence {
    /// Slashed dates seen.
    pub slashed: u64,
    /// First part above 12: only day-first reads.
    pub day_first: u64,
    /// Second part above 12: only month-first reads.
    pub month_first: u64,
    /// Both parts 12 or less, and the weekday column matches only the day-first reading.
    pub day_first_by_weekday: u64,
    /// Likewise for month-first.
    pub month_first_by_weekday: u64,
}

/// What decided the file's date order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DateOrderBasis {
    /// Dates that read only one way; the more numerous wins when both occur.
    Dates,
    /// The weekday column.
    Weekday,
    /// The upload's `date_order`.
    Upload,
    /// Nothing told: day-first, the Gulf default.
    Default,
}

impl DateEvidence {
    fn observe(&mut self, shape: DateShape, weekday: Option<chrono::Weekday>) {
        let DateShape::Slashed {
            first,
            second,
            year,
        } = shape
        else {
            return;
        };
        self.slashed += 1;
        let day_first = NaiveDate::from_ymd_opt(year, second, first);
        let month_first = NaiveDate::from_ymd_opt(year, first, second);
        match (day_first, month_first) {
            (Some(_), None) if first > 12 => self.day_first += 1,
            (None, Some(_)) if second > 12 => self.month_first += 1,
            (Some(d), Some(m)) if d != m => match weekday {
                Some(w) if d.weekday() == w && m.weekday() != w => self.day_first_by_weekday += 1,
                Some(w) if m.weekday() == w && d.weekday() != w => self.month_first_by_weekday += 1,
                _ => {}
            },
            _ => {}
        }
    }

    /// Proving dates first, then the weekday column, then the upload's option, then day-first.
    /// A tie at one level goes on to the next.
    pub fn decide(&self, upload: Option<DateOrder>) -> (DateOrder, DateOrderBasis) {
        let pick = |day_first: u64, month_first: u64| {
            if day_first > month_first {
                Some(DateOrder::DayFirst)
            } else if month_first > day_first {
                Some(DateOrder::MonthFirst)
            } else {
                None
            }
        };
        if let Some(order) = pick(self.day_first, self.month_first) {
            (order, DateOrderBasis::Dates)
        } else if let Some(order) = pick(self.day_first_by_weekday, self.month_first_by_weekday) {
            (order, DateOrderBasis::Weekday)
        } else if let Some(order) = upload {
            (order, DateOrderBasis::Upload)
        } else {
            (DateOrder::DayFirst, DateOrderBasis::Default)
        }
    }
}

/// What the file was: text (CSV or a text export), or a worksheet of a workbook whose cells
/// arrived already read. In JSON its fields sit at the top level of the facts, with `"format"`
/// saying which: `"text"` (with `encoding`, `bom`, `delimiter`), `"xlsx"` or `"xls"` (with
/// `sheet`). Facts stored before workbooks were read have no `"format"`: they are text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "FormFields", try_from = "FormFields")]
pub enum FileForm {
    Text {
        encoding: TextEncoding,
        /// The file starts with a byte-order mark (skipped when reading).
        bom: bool,
        delimiter: Delimiter,
    },
    Workbook {
        format: WorkbookFormat,
        /// The worksheet the rows were read from.
        sheet: String,
    },
}

/// The kinds of workbook whose worksheets are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkbookFormat {
    /// Office Open XML (Excel 2007 and later).
    Xlsx,
    /// The binary Excel 97-2003 format.
    Xls,
}

impl WorkbookFormat {
    /// The serde name, for logs and stored facts.
    pub const fn as_str(self) -> &'static str {
        match self {
            WorkbookFormat::Xlsx => "xlsx",
            WorkbookFormat::Xls => "xls",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum FormatName {
    Text,
    Xlsx,
    Xls,
}

/// `FileForm` as its JSON fields.
#[derive(Serialize, Deserialize)]
struct FormFields {
    #[serde(default)]
    format: Option<FormatName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    encoding: Option<TextEncoding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bom: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delimiter: Option<Delimiter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sheet: Option<String>,
}

impl From<FileForm> for FormFields {
    fn from(form: FileForm) -> Self {
        match form {
            FileForm::Text {
                encoding,
                bom,
                delimiter,
            } => FormFields {
                format: Some(FormatName::Text),
                encoding: Some(encoding),
                bom: Some(bom),
                delimiter: Some(delimiter),
                sheet: None,
            },
            FileForm::Workbook { format, sheet } => FormFields {
                format: Some(match format {
                    WorkbookFormat::Xlsx => FormatName::Xlsx,
                    WorkbookFormat::Xls => FormatName::Xls,
                }),
                encoding: None,
                bom: None,
                delimiter: None,
                sheet: Some(sheet),
            },
        }
    }
}

impl TryFrom<FormFields> for FileForm {
    type Error = &'static str;

    fn try_from(fields: FormFields) -> Result<Self, Self::Error> {
        let workbook = |format| match fields.sheet {
            Some(sheet) => Ok(FileForm::Workbook { format, sheet }),
            None => Err("a workbook's facts name the sheet read"),
        };
        match fields.format {
            None | Some(FormatName::Text) => {
                match (fields.encoding, fields.bom, fields.delimiter) {
                    (Some(encoding), Some(bom), Some(delimiter)) => Ok(FileForm::Text {
                        encoding,
                        bom,
                        delimiter,
                    }),
                    _ => Err("a text file's facts give its encoding, bom and delimiter"),
                }
            }
            Some(FormatName::Xlsx) => workbook(WorkbookFormat::Xlsx),
            Some(FormatName::Xls) => workbook(WorkbookFormat::Xls),
        }
    }
}

/// Everything pass 2 needs to read the rows, and what an operator may want to know about the
/// file. Serializable so the service can keep it with the stored upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileFacts {
    #[serde(flatten)]
    pub form: FileForm,
    /// 1-based line number of the header row (a worksheet's row number).
    pub header_line: u64,
    /// The line of the header's second row, when the header is given twice (Arabic labels above
    /// English ones, or the reverse): it is not a data row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_header_line: Option<u64>,
    /// The header row's cells, trimmed (a bilingual header's known names from either row).
    pub header: Vec<String>,
    pub columns: Columns,
    pub kind: ReportKind,
    /// How slashed dates are read throughout the file.
    pub date_order: DateOrder,
    pub date_order_basis: DateOrderBasis,
    pub date_evidence: DateEvidence,
    /// Non-blank lines after the header: the rows pass 2 gives.
    pub data_lines: u64,
    /// Lines in the file, blank ones included; for a worksheet, its last row number read.
    pub lines: u64,
    /// Bytes read as text; 0 for a worksheet, whose cells come already read from the workbook.
    pub bytes: u64,
}

impl FileFacts {
    /// The last line of the header: rows up to and including it are not data.
    pub(crate) fn header_end(&self) -> u64 {
        self.second_header_line
            .map_or(self.header_line, |second| second.max(self.header_line))
    }
}

/// Why a file is refused as a whole. A bad row never refuses the file; these do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum FileProblem {
    #[error("the file is empty")]
    EmptyFile,
    #[error(
        "the file is not text: it holds binary data (NUL bytes or control characters), \
         not a CSV or text export of a fingerprint report"
    )]
    NotText,
    #[error(
        "no header row in the first 10 non-blank lines: the header is the first row naming at least three \
         known columns (such as Employee ID, First Name, Department, Date, Check In, Check Out)"
    )]
    NoHeader,
    #[error("the header row has {}", missing_list(.0))]
    MissingColumns(Vec<String>),
    #[error("the file has a header row but no data rows under it")]
    NoRows,
}

fn missing_list(missing: &[String]) -> String {
    missing
        .iter()
        .map(|column| format!("no {column} column"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl FileProblem {
    /// The stable code for problem+json.
    pub const fn code(&self) -> &'static str {
        match self {
            FileProblem::EmptyFile => "empty_file",
            FileProblem::NotText => "not_text",
            FileProblem::NoHeader => "no_header",
            FileProblem::MissingColumns(_) => "missing_columns",
            FileProblem::NoRows => "no_rows",
        }
    }
}

/// A header row found, waiting for the next row to show whether it repeats the header in
/// another language.
struct HeaderRow {
    line: u64,
    /// Trimmed.
    cells: Vec<String>,
}

struct Found {
    header_line: u64,
    second_header_line: Option<u64>,
    header: Vec<String>,
    columns: Columns,
    kind: ReportKind,
}

enum ScanState {
    Searching { rows_seen: u32 },
    HeaderFound(HeaderRow),
    Reading(Box<Found>),
    Failed(FileProblem),
}

/// The header search and the date-order evidence over non-blank rows of cells: one set of rules
/// for text lines (once cut into cells) and worksheet rows.
struct RowScan {
    state: ScanState,
    evidence: DateEvidence,
    data_lines: u64,
}

/// The facts a `RowScan` decides.
struct ScanFacts {
    found: Found,
    date_order: DateOrder,
    date_order_basis: DateOrderBasis,
    date_evidence: DateEvidence,
    data_lines: u64,
}

impl RowScan {
    fn new() -> Self {
        Self {
            state: ScanState::Searching { rows_seen: 0 },
            evidence: DateEvidence::default(),
            data_lines: 0,
        }
    }

    fn searching(&self) -> bool {
        matches!(self.state, ScanState::Searching { .. })
    }

    fn failed(&self) -> bool {
        matches!(self.state, ScanState::Failed(_))
    }

    /// A non-blank row while the header is searched for: `header` holds its trimmed cells when at
    /// least `MIN_RECOGNISED_NAMES` of them are known names.
    fn search_row(&mut self, line: u64, header: Option<Vec<String>>) {
        let ScanState::Searching { rows_seen } = &mut self.state else {
            return;
        };
        *rows_seen += 1;
        if let Some(cells) = header {
            self.state = ScanState::HeaderFound(HeaderRow { line, cells });
        } else if *rows_seen >= HEADER_SEARCH_ROWS {
            self.state = ScanState::Failed(FileProblem::NoHeader);
        }
    }

    /// A non-blank row after the header row; `cells` is `None` when the row could not be cut
    /// into cells (it is still a row: a bad one).
    fn after_header<S: AsRef<str>>(&mut self, line: u64, cells: Option<&[S]>) {
        if let Some(header) = self.take_header_row() {
            match cells {
                Some(second) if names_same_columns(&header.cells, second) => {
                    let labels = merge_header_rows(&header.cells, second);
                    self.state = header_state(header.line, Some(line), labels);
                    return;
                }
                _ => self.state = header_state(header.line, None, header.cells),
            }
        }
        let ScanState::Reading(found) = &self.state else {
            return;
        };
        self.data_lines += 1;
        let Some(cells) = cells else {
            return;
        };
        if is_summary_row(cells) {
            return;
        }
        let folded: Vec<_> = cells.iter().map(|c| ascii_digits(c.as_ref())).collect();
        let cell = |i: usize| folded.get(i).map(AsRef::as_ref).unwrap_or("");
        let date_text = row_date_text(&found.columns, found.kind, &cell);
        if let Ok(shape) = date_shape(date_text) {
            let weekday = found.columns.weekday.and_then(|i| parse_weekday(cell(i)));
            self.evidence.observe(shape, weekday);
        }
    }

    /// The header row waiting for its next row, if any; the state must then be set anew.
    fn take_header_row(&mut self) -> Option<HeaderRow> {
        if !matches!(self.state, ScanState::HeaderFound(_)) {
            return None;
        }
        match std::mem::replace(&mut self.state, ScanState::Failed(FileProblem::NoHeader)) {
            ScanState::HeaderFound(header) => Some(header),
            _ => None,
        }
    }

    /// Every row seen: a header row with nothing after it is still the header.
    fn finish(&mut self, options: ReadOptions) -> Result<ScanFacts, FileProblem> {
        if let Some(header) = self.take_header_row() {
            self.state = header_state(header.line, None, header.cells);
        }
        let found = match std::mem::replace(&mut self.state, ScanState::Searching { rows_seen: 0 })
        {
            ScanState::Searching { .. } | ScanState::HeaderFound(_) => {
                return Err(FileProblem::NoHeader)
            }
            ScanState::Failed(problem) => return Err(problem),
            ScanState::Reading(found) => *found,
        };
        if self.data_lines == 0 {
            return Err(FileProblem::NoRows);
        }
        let (date_order, date_order_basis) = self.evidence.decide(options.date_order);
        Ok(ScanFacts {
            found,
            date_order,
            date_order_basis,
            date_evidence: self.evidence,
            data_lines: self.data_lines,
        })
    }
}

/// Maps the header's labels: reading goes on, or the file is refused for missing columns.
fn header_state(line: u64, second_line: Option<u64>, header: Vec<String>) -> ScanState {
    match map_columns(header.iter().map(String::as_str)) {
        Ok((columns, kind)) => ScanState::Reading(Box::new(Found {
            header_line: line,
            second_header_line: second_line,
            header,
            columns,
            kind,
        })),
        Err(missing) => ScanState::Failed(FileProblem::MissingColumns(missing)),
    }
}

impl ScanFacts {
    fn into_facts(self, form: FileForm, lines: u64, bytes: u64) -> FileFacts {
        FileFacts {
            form,
            header_line: self.found.header_line,
            second_header_line: self.found.second_header_line,
            header: self.found.header,
            columns: self.found.columns,
            kind: self.found.kind,
            date_order: self.date_order,
            date_order_basis: self.date_order_basis,
            date_evidence: self.date_evidence,
            data_lines: self.data_lines,
            lines,
            bytes,
        }
    }
}

/// Pass 1's reading of the decoded text under one encoding.
struct Scan {
    lines: Lines,
    chars: u64,
    controls: u64,
    rows: RowScan,
    /// One per delimiter, while the header is searched for.
    search: Vec<CellSplitter>,
    /// The header line's delimiter, once it is found.
    reading: Option<(u8, CellSplitter)>,
}

impl Scan {
    fn new() -> Self {
        Self {
            lines: Lines::default(),
            chars: 0,
            controls: 0,
            rows: RowScan::new(),
            search: DELIMITERS.iter().map(|&d| CellSplitter::new(d)).collect(),
            reading: None,
        }
    }

    fn feed(&mut self, text: &str) {
        for c in text.chars() {
            self.chars += 1;
            if c.is_control() && !matches!(c, '\t' | '\r' | '\n') {
                self.controls += 1;
            }
        }
        let Scan {
            lines,
            rows,
            search,
            reading,
            ..
        } = self;
        lines.push(text, |line| on_line(rows, search, reading, line));
    }

    fn finish(&mut self) {
        let Scan {
            lines,
            rows,
            search,
            reading,
            ..
        } = self;
        lines.finish(|line| on_line(rows, search, reading, line));
    }

    fn line_count(&self) -> u64 {
        self.lines.count()
    }
}

fn on_line(
    rows: &mut RowScan,
    search: &mut [CellSplitter],
    reading: &mut Option<(u8, CellSplitter)>,
    line: Line<'_>,
) {
    if rows.failed() || is_blank(line.text, &DELIMITERS) {
        return;
    }
    if rows.searching() {
        let header = if line.too_long {
            None
        } else {
            header_candidate(search, &line)
        };
        let header = header.map(|(delimiter, cells)| {
            *reading = Some((delimiter, CellSplitter::new(delimiter)));
            cells
        });
        rows.search_row(line.number, header);
        return;
    }
    let Some((_, splitter)) = reading else {
        return;
    };
    let record = if line.too_long {
        None
    } else {
        splitter.split(line.text).ok()
    };
    let cells: Option<Vec<&str>> = record.map(|r| r.iter().collect());
    rows.after_header(line.number, cells.as_deref());
}

/// The line's trimmed cells and its delimiter when, cut by some delimiter, at least three cells
/// are known names; the delimiter that recognises the most wins.
fn header_candidate(splitters: &mut [CellSplitter], line: &Line<'_>) -> Option<(u8, Vec<String>)> {
    let mut best: Option<(usize, usize)> = None;
    for (i, splitter) in splitters.iter_mut().enumerate() {
        if let Ok(record) = splitter.split(line.text) {
            let count = recognised_names(record.iter());
            if count >= MIN_RECOGNISED_NAMES && best.is_none_or(|(_, c)| count > c) {
                best = Some((i, count));
            }
        }
    }
    let (index, _) = best?;
    let record = splitters[index].split(line.text).ok()?;
    Some((
        DELIMITERS[index],
        record.iter().map(|c| c.trim().to_owned()).collect(),
    ))
}

/// Pass 1 over a worksheet whose cells another reader has turned into text, by the same rules as
/// a text file's lines: push every row in order (rows of empty cells may be left out), then
/// `finish`.
pub struct SheetFactsCollector {
    options: ReadOptions,
    rows: RowScan,
    /// The last row number pushed.
    last_row: u64,
    pushed: bool,
}

impl SheetFactsCollector {
    pub fn new(options: ReadOptions) -> Self {
        Self {
            options,
            rows: RowScan::new(),
            last_row: 0,
            pushed: false,
        }
    }

    /// One row: its number as the spreadsheet shows it (1-based) and its cells as text.
    pub fn push(&mut self, line: u64, cells: &[String]) {
        self.pushed = true;
        self.last_row = self.last_row.max(line);
        if self.rows.failed() || is_blank_row(cells) {
            return;
        }
        let fits = cells.len() <= MAX_CELLS;
        if self.rows.searching() {
            let header = (fits
                && recognised_names(cells.iter().map(String::as_str)) >= MIN_RECOGNISED_NAMES)
                .then(|| cells.iter().map(|c| c.trim().to_owned()).collect());
            self.rows.search_row(line, header);
        } else {
            self.rows.after_header(line, fits.then_some(cells));
        }
    }

    /// The sheet's facts; `form` says which workbook and sheet the rows came from.
    pub fn finish(mut self, form: FileForm) -> Result<FileFacts, FileProblem> {
        if !self.pushed {
            return Err(FileProblem::EmptyFile);
        }
        let facts = self.rows.finish(self.options)?;
        Ok(facts.into_facts(form, self.last_row, 0))
    }
}

/// A row of nothing but empty or white-space cells: not a row.
pub(crate) fn is_blank_row<S: AsRef<str>>(cells: &[S]) -> bool {
    cells.iter().all(|c| c.as_ref().trim().is_empty())
}

/// How pass 1 reads the bytes as text.
enum Mode {
    /// A byte-order mark said what the encoding is.
    Declared {
        encoding: TextEncoding,
        decoder: TextDecoder,
        scan: Box<Scan>,
    },
    /// No mark: UTF-8 if every byte of the file is, else Windows-1256. Which one is known only at
    /// the end, so both readings are followed until the UTF-8 one fails.
    Sniffed {
        utf8: Option<(Utf8Check, Box<Scan>)>,
        windows_1256: (TextDecoder, Box<Scan>),
    },
}

impl Mode {
    fn feed(&mut self, bytes: &[u8], last: bool) {
        match self {
            Mode::Declared { decoder, scan, .. } => decoder.decode(bytes, last, |t| scan.feed(t)),
            Mode::Sniffed {
                utf8,
                windows_1256: (decoder, scan),
            } => {
                if let Some((check, utf8_scan)) = utf8 {
                    if !check.decode(bytes, last, |t| utf8_scan.feed(t)) {
                        *utf8 = None;
                    }
                }
                decoder.decode(bytes, last, |t| scan.feed(t));
            }
        }
    }
}

/// Pass 1. Feed it the upload's bytes in chunks of any size, then `finish`.
pub struct FactsCollector {
    options: ReadOptions,
    bytes: u64,
    prefix: Vec<u8>,
    mode: Option<Mode>,
    nul: bool,
}

impl FactsCollector {
    pub fn new(options: ReadOptions) -> Self {
        Self {
            options,
            bytes: 0,
            prefix: Vec::with_capacity(3),
            mode: None,
            nul: false,
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        self.bytes += chunk.len() as u64;
        if self.mode.is_some() {
            self.feed_mode(chunk);
            return;
        }
        let take = (3 - self.prefix.len()).min(chunk.len());
        self.prefix.extend_from_slice(&chunk[..take]);
        if self.prefix.len() == 3 {
            self.start();
            self.feed_mode(&chunk[take..]);
        }
    }

    /// Decides the encoding from the first bytes and replays them.
    fn start(&mut self) {
        let prefix = std::mem::take(&mut self.prefix);
        let (mode, bom_len) = match TextEncoding::from_bom(&prefix) {
            Some((encoding, len)) => (
                Mode::Declared {
                    encoding,
                    decoder: TextDecoder::new(encoding),
                    scan: Box::new(Scan::new()),
                },
                len,
            ),
            None => (
                Mode::Sniffed {
                    utf8: Some((Utf8Check::new(), Box::new(Scan::new()))),
                    windows_1256: (
                        TextDecoder::new(TextEncoding::Windows1256),
                        Box::new(Scan::new()),
                    ),
                },
                0,
            ),
        };
        self.mode = Some(mode);
        self.feed_mode(&prefix[bom_len..]);
    }

    fn feed_mode(&mut self, bytes: &[u8]) {
        let Some(mode) = &mut self.mode else { return };
        let utf16 = matches!(
            mode,
            Mode::Declared {
                encoding: TextEncoding::Utf16le | TextEncoding::Utf16be,
                ..
            }
        );
        if self.nul {
            return;
        }
        if !utf16 && bytes.contains(&0) {
            // Binary for certain: nothing more is worth decoding.
            self.nul = true;
            return;
        }
        mode.feed(bytes, false);
    }

    pub fn finish(mut self) -> Result<FileFacts, FileProblem> {
        if self.bytes == 0 {
            return Err(FileProblem::EmptyFile);
        }
        if self.mode.is_none() {
            self.start();
        }
        if self.nul {
            return Err(FileProblem::NotText);
        }
        let (encoding, bom, mut scan) = match self.mode.take() {
            Some(Mode::Declared {
                encoding,
                mut decoder,
                mut scan,
            }) => {
                decoder.decode(&[], true, |t| scan.feed(t));
                (encoding, true, scan)
            }
            Some(Mode::Sniffed {
                utf8,
                windows_1256: (mut decoder, mut scan),
            }) => {
                let utf8 = utf8.and_then(|(mut check, mut utf8_scan)| {
                    check
                        .decode(&[], true, |t| utf8_scan.feed(t))
                        .then_some(utf8_scan)
                });
                match utf8 {
                    Some(utf8_scan) => (TextEncoding::Utf8, false, utf8_scan),
                    None => {
                        decoder.decode(&[], true, |t| scan.feed(t));
                        (TextEncoding::Windows1256, false, scan)
                    }
                }
            }
            None => return Err(FileProblem::EmptyFile),
        };
        scan.finish();
        if scan.chars == 0 {
            return Err(FileProblem::EmptyFile);
        }
        if scan.controls * 100 > scan.chars {
            return Err(FileProblem::NotText);
        }
        let lines = scan.line_count();
        let facts = scan.rows.finish(self.options)?;
        let delimiter = scan.reading.map_or(b',', |(delimiter, _)| delimiter);
        let form = FileForm::Text {
            encoding,
            bom,
            delimiter: Delimiter::from_byte(delimiter),
        };
        Ok(facts.into_facts(form, lines, self.bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(bytes: &[u8]) -> Result<FileFacts, FileProblem> {
        facts_with(bytes, ReadOptions::default())
    }

    fn facts_with(bytes: &[u8], options: ReadOptions) -> Result<FileFacts, FileProblem> {
        let mut collector = FactsCollector::new(options);
        collector.feed(bytes);
        collector.finish()
    }

    fn text_form(facts: &FileFacts) -> (TextEncoding, bool, Delimiter) {
        match facts.form {
            FileForm::Text {
                encoding,
                bom,
                delimiter,
            } => (encoding, bom, delimiter),
            FileForm::Workbook { .. } => panic!("a text file's facts say workbook"),
        }
    }

    const DAILY: &str = "Employee ID,First Name,Department,Date,Check In,Check Out\n\
                         1001,Ahmed,AdvLine,2026-11-01,08:00,17:00\n";

    fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
        let mut out = if big_endian {
            vec![0xFE, 0xFF]
        } else {
            vec![0xFF, 0xFE]
        };
        for unit in text.encode_utf16() {
            out.extend(if big_endian {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            });
        }
        out
    }

    #[test]
    fn encodings_and_byte_order_marks() {
        let arabic = "Employee ID;First Name;Department;Date;Check In\r\n2004;نورة;ClaraStars;07/11/2026;08:05\r\n";
        let (windows_1256, _, unmappable) = encoding_rs::WINDOWS_1256.encode(arabic);
        assert!(!unmappable);
        let mut utf8_bom = vec![0xEF, 0xBB, 0xBF];
        utf8_bom.extend_from_slice(DAILY.as_bytes());
        let cases: Vec<(&str, Vec<u8>, TextEncoding, bool)> = vec![
            (
                "utf-8",
                DAILY.as_bytes().to_vec(),
                TextEncoding::Utf8,
                false,
            ),
            (
                "utf-8 arabic",
                arabic.as_bytes().to_vec(),
                TextEncoding::Utf8,
                false,
            ),
            ("utf-8 bom", utf8_bom, TextEncoding::Utf8, true),
            (
                "utf-16le bom",
                utf16(DAILY, false),
                TextEncoding::Utf16le,
                true,
            ),
            (
                "utf-16be bom",
                utf16(DAILY, true),
                TextEncoding::Utf16be,
                true,
            ),
            (
                "windows-1256",
                windows_1256.into_owned(),
                TextEncoding::Windows1256,
                false,
            ),
        ];
        for (label, bytes, encoding, bom) in cases {
            let facts = facts(&bytes).unwrap_or_else(|e| panic!("{label}: {e}"));
            let (got_encoding, got_bom, _) = text_form(&facts);
            assert_eq!((got_encoding, got_bom), (encoding, bom), "{label}");
            assert_eq!(facts.data_lines, 1, "{label}");
            assert_eq!(facts.header[0], "Employee ID", "{label}");
        }
    }

    #[test]
    fn invalid_utf8_late_in_the_file_still_means_windows_1256() {
        let mut bytes = DAILY.as_bytes().to_vec();
        for i in 0..5000 {
            bytes.extend_from_slice(
                format!("{i},Ahmed,AdvLine,2026-11-01,08:00,17:00\n").as_bytes(),
            );
        }
        bytes.extend_from_slice(b"1005,\xe3\xcd\xe3\xcf,AdvLine,2026-11-01,08:00,17:00\n");
        let facts = facts(&bytes).unwrap();
        assert_eq!(text_form(&facts).0, TextEncoding::Windows1256);
        assert_eq!(facts.data_lines, 5002);
    }

    #[test]
    fn delimiters_come_from_the_header_line() {
        let cases = [
            (DAILY.to_owned(), Delimiter::Comma),
            (DAILY.replace(',', ";"), Delimiter::Semicolon),
            (DAILY.replace(',', "\t"), Delimiter::Tab),
            (DAILY.replace('\n', "\r\n"), Delimiter::Comma),
            (
                "Title; with, commas\nEmployee ID;Name;Department;Date;Check In\n1;A;B;2026-11-01;08:00\n"
                    .to_owned(),
                Delimiter::Semicolon,
            ),
        ];
        for (text, delimiter) in cases {
            let facts = facts(text.as_bytes()).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(text_form(&facts).2, delimiter, "{text:?}");
        }
    }

    #[test]
    fn header_is_found_within_the_first_ten_rows() {
        let header = "Employee ID,First Name,Department,Date,Check In,Check Out\n";
        let row = "1001,Ahmed,AdvLine,2026-11-01,08:00,17:00\n";
        for titles in [0, 1, 2, 9] {
            let mut text = String::new();
            for i in 0..titles {
                text.push_str(&format!("Title {i},,,\n\n"));
            }
            text.push_str(header);
            text.push_str(row);
            let facts = facts(text.as_bytes()).unwrap_or_else(|e| panic!("{titles}: {e}"));
            assert_eq!(facts.header_line, titles as u64 * 2 + 1);
            assert_eq!(facts.lines, titles as u64 * 2 + 2);
        }
        let mut text = String::new();
        for i in 0..10 {
            text.push_str(&format!("Title {i}\n"));
        }
        text.push_str(header);
        text.push_str(row);
        assert_eq!(facts(text.as_bytes()), Err(FileProblem::NoHeader));
        // Two recognised names are a title, not a header.
        let text =
            "Date,Department\nEmployee ID,Name,Department,Date,Check In\n1,A,B,2026-11-01,08:00\n";
        assert_eq!(facts(text.as_bytes()).unwrap().header_line, 2);
    }

    #[test]
    fn file_problems() {
        let wide = vec!["Employee ID"; 3000].join(",");
        let long = format!(
            "Employee ID,Name,Department,Date,Check In,{}\n1,A,B,2026-11-01,08:00\n",
            "x".repeat(crate::text::MAX_LINE_BYTES)
        );
        let cases: Vec<(&str, Vec<u8>, FileProblem)> = vec![
            ("empty", vec![], FileProblem::EmptyFile),
            ("only a bom", vec![0xEF, 0xBB, 0xBF], FileProblem::EmptyFile),
            ("only a utf-16 bom", vec![0xFF, 0xFE], FileProblem::EmptyFile),
            ("blank lines", b"\n\n \n,,,\n".to_vec(), FileProblem::NoHeader),
            ("nul", b"Employee ID,Name,Department,Date,Check In\n1,\0,B,2026-11-01,08:00\n".to_vec(), FileProblem::NotText),
            (
                "utf-16 without bom",
                utf16(DAILY, false)[2..].to_vec(),
                FileProblem::NotText,
            ),
            (
                "control characters",
                format!("{DAILY}{}", "\u{1}".repeat(DAILY.len() / 50)).into_bytes(),
                FileProblem::NotText,
            ),
            ("not a report", b"name,price\napple,3\n".to_vec(), FileProblem::NoHeader),
            ("too wide", wide.into_bytes(), FileProblem::NoHeader),
            ("too long", long.into_bytes(), FileProblem::NoHeader),
            (
                "missing department",
                b"Employee ID,First Name,Date,Check In,Check Out\n1001,Ahmed,2026-11-01,08:00,17:00\n".to_vec(),
                FileProblem::MissingColumns(vec!["department".to_owned()]),
            ),
            (
                "header only",
                b"Employee ID,First Name,Department,Date,Check In\n".to_vec(),
                FileProblem::NoRows,
            ),
            (
                "header and blank lines",
                b"Employee ID,First Name,Department,Date,Check In\r\n\r\n,,,,\r\n".to_vec(),
                FileProblem::NoRows,
            ),
        ];
        for (label, bytes, problem) in cases {
            assert_eq!(facts(&bytes), Err(problem), "{label}");
        }
        let few_controls = format!("{DAILY}{}", "\u{1}".repeat(DAILY.len() / 200));
        assert!(facts(few_controls.as_bytes()).is_ok());
    }

    #[test]
    fn problem_codes_and_messages() {
        let cases = [
            (FileProblem::EmptyFile, "empty_file"),
            (FileProblem::NotText, "not_text"),
            (FileProblem::NoHeader, "no_header"),
            (
                FileProblem::MissingColumns(vec!["department".into(), "date".into()]),
                "missing_columns",
            ),
            (FileProblem::NoRows, "no_rows"),
        ];
        for (problem, code) in cases {
            assert_eq!(problem.code(), code);
            assert!(!problem.to_string().is_empty());
        }
        assert_eq!(
            FileProblem::MissingColumns(vec!["department".into(), "date".into()]).to_string(),
            "the header row has no department column, no date column"
        );
    }

    fn order_of(
        rows: &[(&str, &str)],
        upload: Option<DateOrder>,
    ) -> (DateOrder, DateOrderBasis, DateEvidence) {
        let mut text = String::from("Employee ID,Name,Department,Date,Weekday,Check In\n");
        for (date, weekday) in rows {
            text.push_str(&format!("1,A,B,{date},{weekday},08:00\n"));
        }
        let facts = facts_with(text.as_bytes(), ReadOptions { date_order: upload }).unwrap();
        (
            facts.date_order,
            facts.date_order_basis,
            facts.date_evidence,
        )
    }

    #[test]
    fn date_order_evidence() {
        use DateOrder::{DayFirst as D, MonthFirst as M};
        use DateOrderBasis::*;
        // 2026-11-05 is a Thursday; 2026-05-11 a Monday.
        type Case<'a> = (
            &'a [(&'a str, &'a str)],
            Option<DateOrder>,
            DateOrder,
            DateOrderBasis,
        );
        let cases: &[Case] = &[
            (&[("13/11/2026", "")], None, D, Dates),
            (&[("11/13/2026", "")], None, M, Dates),
            (&[("11/13/2026", "")], Some(D), M, Dates),
            (&[("05/11/2026", "Thursday")], None, D, Weekday),
            (&[("05/11/2026", "Monday")], None, M, Weekday),
            (&[("05/11/2026", "Monday")], Some(D), M, Weekday),
            (&[("05/11/2026", "")], None, D, Default),
            (&[("05/11/2026", "")], Some(M), M, Upload),
            (&[("05/11/2026", "Friday")], Some(M), M, Upload),
            (&[("05/05/2026", "Tuesday")], None, D, Default),
            (&[("2026-11-05", "")], Some(M), M, Upload),
            // Both proven: the more numerous wins.
            (
                &[("13/11/2026", ""), ("14/11/2026", ""), ("11/15/2026", "")],
                None,
                D,
                Dates,
            ),
            (
                &[("13/11/2026", ""), ("11/14/2026", ""), ("11/15/2026", "")],
                Some(D),
                M,
                Dates,
            ),
            // A tie goes on to the weekday column.
            (
                &[
                    ("13/11/2026", ""),
                    ("11/14/2026", ""),
                    ("05/11/2026", "Monday"),
                ],
                None,
                M,
                Weekday,
            ),
            (
                &[("13/11/2026", ""), ("11/14/2026", "")],
                Some(M),
                M,
                Upload,
            ),
        ];
        for (rows, upload, order, basis) in cases {
            let (got_order, got_basis, evidence) = order_of(rows, *upload);
            assert_eq!(
                (got_order, got_basis),
                (*order, *basis),
                "{rows:?} {upload:?}: {evidence:?}"
            );
        }
        let (_, _, evidence) = order_of(
            &[
                ("13/11/2026", ""),
                ("11/14/2026", ""),
                ("05/11/2026", "Thursday"),
                ("2026-11-05", ""),
            ],
            None,
        );
        assert_eq!(
            evidence,
            DateEvidence {
                slashed: 3,
                day_first: 1,
                month_first: 1,
                day_first_by_weekday: 1,
                month_first_by_weekday: 0
            }
        );
    }

    #[test]
    fn transaction_dates_count_as_evidence() {
        let text = "User ID,Name,Department,Punch Time,State\n1,A,B,11/13/2026 08:00,0\n";
        let facts = facts(text.as_bytes()).unwrap();
        assert_eq!(facts.kind, ReportKind::Transactions);
        assert_eq!(facts.date_order, DateOrder::MonthFirst);
    }

    #[test]
    fn facts_serialize() {
        let facts = facts(DAILY.as_bytes()).unwrap();
        let json = serde_json::to_string(&facts).unwrap();
        assert_eq!(serde_json::from_str::<FileFacts>(&json).unwrap(), facts);
        assert!(json.contains("\"encoding\":\"utf-8\""), "{json}");
        assert!(json.contains("\"date_order\":\"dmy\""), "{json}");
        let value = serde_json::to_value(&facts).unwrap();
        assert_eq!(value["format"], "text");
        assert_eq!(value["encoding"], "utf-8");
        assert_eq!(value["bom"], false);
        assert_eq!(value["delimiter"], "comma");
        assert!(value.get("sheet").is_none(), "{value}");
        assert!(value.get("second_header_line").is_none(), "{value}");
    }

    #[test]
    fn facts_stored_before_workbooks_read_as_text() {
        let facts = facts(DAILY.as_bytes()).unwrap();
        let mut old = serde_json::to_value(&facts).unwrap();
        old.as_object_mut().unwrap().remove("format");
        assert_eq!(serde_json::from_value::<FileFacts>(old).unwrap(), facts);
    }

    #[test]
    fn workbook_facts_name_format_and_sheet_and_no_encoding() {
        let mut facts = facts(DAILY.as_bytes()).unwrap();
        for (format, name) in [(WorkbookFormat::Xlsx, "xlsx"), (WorkbookFormat::Xls, "xls")] {
            facts.form = FileForm::Workbook {
                format,
                sheet: "Sheet1".into(),
            };
            let value = serde_json::to_value(&facts).unwrap();
            assert_eq!(value["format"], name);
            assert_eq!(value["sheet"], "Sheet1");
            for text_only in ["encoding", "bom", "delimiter"] {
                assert!(value.get(text_only).is_none(), "{value}");
            }
            assert_eq!(serde_json::from_value::<FileFacts>(value).unwrap(), facts);
        }
        let value = serde_json::to_value(&facts).unwrap();
        let refused = |edit: &dyn Fn(&mut serde_json::Map<String, serde_json::Value>)| {
            let mut value = value.clone();
            edit(value.as_object_mut().unwrap());
            serde_json::from_value::<FileFacts>(value).is_err()
        };
        assert!(refused(&|v| {
            v.remove("sheet");
        }));
        assert!(refused(&|v| {
            v.insert("format".into(), "text".into());
        }));
        assert!(refused(&|v| {
            v.insert("format".into(), "ods".into());
        }));
    }

    const ARABIC_DAILY: &str = "رقم الموظف,الاسم,القسم,التاريخ,اليوم,الحضور,الانصراف\n\
                                ٠٠٤٢,عمر,AdvLine,٠٥/١١/٢٠٢٦,الخميس,٠٨:٠٠,١٧:٠٠\n";

    #[test]
    fn arabic_headers_are_recognised() {
        let daily = facts(ARABIC_DAILY.as_bytes()).unwrap();
        let facts = &daily;
        assert_eq!(facts.kind, ReportKind::Daily);
        assert_eq!(facts.header_line, 1);
        assert_eq!(facts.columns.employee_id, 0);
        assert_eq!(facts.columns.name, 1);
        assert_eq!(facts.columns.department, 2);
        assert_eq!(facts.columns.date, Some(3));
        assert_eq!(facts.columns.weekday, Some(4));
        assert_eq!(facts.columns.first_punch, [5]);
        assert_eq!(facts.columns.last_punch, [6]);
        // 05/11 read day-first is a Thursday: the Arabic weekday and digits decide the order.
        assert_eq!(
            (facts.date_order, facts.date_order_basis),
            (DateOrder::DayFirst, DateOrderBasis::Weekday)
        );
        let transactions = "الرقم الوظيفي;اسم الموظف;الإدارة;وقت البصمة;الحالة\n\
                            ١٠٠١;أحمد;AdvLine;١١/١٣/٢٠٢٦ ٠٨:٠٠;٠\n";
        let facts = self::facts(transactions.as_bytes()).unwrap();
        assert_eq!(facts.kind, ReportKind::Transactions);
        assert_eq!(facts.columns.datetime, Some(3));
        assert_eq!(facts.columns.punch_state, Some(4));
        assert_eq!(facts.date_order, DateOrder::MonthFirst);
    }

    #[test]
    fn a_bilingual_header_is_one_header() {
        let english = "Employee ID,Name,Department,Date,Day,Check In,Check Out";
        let arabic = "رقم البصمة,الاسم,الإدارة,التاريخ,اليوم,وقت الحضور,وقت الانصراف";
        let row = "1001,Ahmed,AdvLine,05/11/2026,Thursday,08:00,17:00";
        for (first, second) in [(arabic, english), (english, arabic)] {
            let text = format!("Daily report\n{first}\n\n{second}\n{row}\n");
            let facts = self::facts(text.as_bytes()).unwrap();
            assert_eq!(facts.header_line, 2, "{first}");
            assert_eq!(facts.second_header_line, Some(4), "{first}");
            assert_eq!(facts.data_lines, 1, "{first}");
            assert_eq!(facts.date_order_basis, DateOrderBasis::Weekday);
        }
        // An Arabic row whose department label is not a known one: the English row below names
        // it, and the header is both rows together.
        let text = "رقم البصمة,الاسم,الفرع,التاريخ,الحضور\n\
                    Employee ID,Name,Department,Date,Check In\n\
                    1001,A,AdvLine,2026-11-05,08:00\n";
        let facts = self::facts(text.as_bytes()).unwrap();
        assert_eq!(facts.second_header_line, Some(2));
        assert_eq!(facts.columns.department, 2);
        assert_eq!(
            facts.header,
            ["رقم البصمة", "الاسم", "Department", "التاريخ", "الحضور"]
        );
        // A second header row that names other columns is not the same header: it is a data row.
        let text =
            format!("{english}\nEmployee ID,Department,Name,Date,Day,Check In,Check Out\n{row}\n");
        let facts = self::facts(text.as_bytes()).unwrap();
        assert_eq!(facts.second_header_line, None);
        assert_eq!(facts.data_lines, 2);
        // Without the English row, the Arabic one lacks a department.
        let text = "رقم البصمة,الاسم,الفرع,التاريخ,الحضور\n1001,A,AdvLine,2026-11-05,08:00\n";
        assert_eq!(
            self::facts(text.as_bytes()),
            Err(FileProblem::MissingColumns(vec!["department".into()]))
        );
    }

    fn sheet_facts(rows: &[(u64, &[&str])]) -> Result<FileFacts, FileProblem> {
        let mut collector = SheetFactsCollector::new(ReadOptions::default());
        for (line, cells) in rows {
            let cells: Vec<String> = cells.iter().map(|c| (*c).to_owned()).collect();
            collector.push(*line, &cells);
        }
        collector.finish(FileForm::Workbook {
            format: WorkbookFormat::Xlsx,
            sheet: "Sheet1".into(),
        })
    }

    #[test]
    fn a_sheet_follows_the_rules_of_text() {
        let header: &[&str] = &[
            "Employee ID",
            "Name",
            "Department",
            "Date",
            "Weekday",
            "Check In",
        ];
        let facts = sheet_facts(&[
            (1, &["Total Time Card", "", ""]),
            (2, &["", "", ""]),
            (4, header),
            (
                5,
                &["1001", "A", "AdvLine", "05/11/2026", "Monday", "08:00:00"],
            ),
            (6, &["", ""]),
            (7, &["Total", "", "", "13/11/2026"]),
        ])
        .unwrap();
        assert_eq!(facts.header_line, 4);
        assert_eq!(facts.data_lines, 2);
        assert_eq!(facts.lines, 7);
        assert_eq!(facts.bytes, 0);
        // The summary row's date is not evidence; the weekday is.
        assert_eq!(
            (facts.date_order, facts.date_order_basis),
            (DateOrder::MonthFirst, DateOrderBasis::Weekday)
        );
        assert_eq!(
            facts.form,
            FileForm::Workbook {
                format: WorkbookFormat::Xlsx,
                sheet: "Sheet1".into()
            }
        );

        let titles: Vec<(u64, Vec<String>)> =
            (1..=10).map(|i| (i, vec![format!("Title {i}")])).collect();
        let mut rows: Vec<(u64, &[&str])> = Vec::new();
        let title_cells: Vec<Vec<&str>> = titles
            .iter()
            .map(|(_, c)| c.iter().map(String::as_str).collect())
            .collect();
        for (i, cells) in title_cells.iter().enumerate() {
            rows.push((i as u64 + 1, cells));
        }
        rows.push((11, header));
        rows.push((12, &["1001", "A", "AdvLine", "2026-11-05", "", "08:00:00"]));
        assert_eq!(sheet_facts(&rows), Err(FileProblem::NoHeader));
        rows.remove(0);
        assert_eq!(sheet_facts(&rows).unwrap().header_line, 11);

        assert_eq!(sheet_facts(&[]), Err(FileProblem::EmptyFile));
        assert_eq!(sheet_facts(&[(1, &["", " "])]), Err(FileProblem::NoHeader));
        assert_eq!(sheet_facts(&[(1, header)]), Err(FileProblem::NoRows));
        assert_eq!(
            sheet_facts(&[(1, &["Employee ID", "Name", "Date", "Check In"])]),
            Err(FileProblem::MissingColumns(vec!["department".into()]))
        );
        let bilingual = sheet_facts(&[
            (1, &["رقم الموظف", "الاسم", "القسم", "التاريخ", "الحضور"]),
            (
                2,
                &["Employee ID", "Name", "Department", "Date", "Check In"],
            ),
            (3, &["1001", "A", "AdvLine", "2026-11-05", "08:00:00"]),
        ])
        .unwrap();
        assert_eq!(
            (
                bilingual.header_line,
                bilingual.second_header_line,
                bilingual.data_lines
            ),
            (1, Some(2), 1)
        );
    }
}
