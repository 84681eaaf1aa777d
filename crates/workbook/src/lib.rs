//! Excel workbooks (XLSX and XLS) read as rows of cell text.
//!
//! Knows nothing about reports: a worksheet comes out as its rows, each with the row number the
//! spreadsheet shows and its cells as text (see [`Workbook::rows`] for the shapes), so a reader
//! of text reports can read it with its own rules. Pure: any `Read + Seek` in, no I/O of its own.
//!
//! XLSX is streamed cell by cell, so memory does not grow with the sheet's rows; XLS cannot be,
//! and is loaded whole by the format's nature. Either is sized before anything is loaded, and a
//! workbook that would take more memory than the limits in the crate's README is refused.

mod cell;
mod xls_size;
mod xlsx_size;

use std::io::{Read, Seek, SeekFrom};
use std::ops::ControlFlow;

use calamine::{Reader, SheetType, Xls, XlsError, Xlsx, XlsxError};

use crate::cell::{data_ref_text, data_text, DateSystem};

/// The most an XLS may take to load and read (see `xls_size`); above it the operator is asked
/// for an .xlsx, which is streamed.
pub const XLS_MEMORY_LIMIT: u64 = 256 * 1024 * 1024;

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
const OLE2_MAGIC: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// The container a workbook came in, decided by its first bytes, never its file name. The
/// report reader's own type, so the facts it keeps say the same thing. `Xls` means an OLE2
/// compound file: a password-protected `.xlsx` is one too, so a sniffed `Xls` is only a
/// candidate until [`Workbook::open`] has looked inside.
pub use report::WorkbookFormat;

/// Which workbook format the first bytes of a file announce, if any. Eight bytes are enough;
/// fewer never match. A zip that is not a workbook, or an OLE2 file that is a Word document,
/// is still a candidate: [`Workbook::open`] refuses it as [`WorkbookProblem::Corrupt`].
pub fn sniff(prefix: &[u8]) -> Option<WorkbookFormat> {
    if prefix.starts_with(ZIP_MAGIC) {
        Some(WorkbookFormat::Xlsx)
    } else if prefix.starts_with(OLE2_MAGIC) {
        Some(WorkbookFormat::Xls)
    } else {
        None
    }
}

/// Why a workbook cannot be read. `Display` is a sentence for the HR operator who uploaded it;
/// what the workbook library said is in [`WorkbookProblem::detail`], for the log only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkbookProblem {
    #[error(
        "The workbook is protected with a password, so it cannot be read. Open it in Excel, \
         remove the password (File > Info > Protect Workbook > Encrypt with Password), save it \
         and upload it again."
    )]
    Encrypted { detail: String },
    #[error(
        "The file is not a readable Excel workbook: it is damaged, incomplete or another kind \
         of file. Open the report in Excel, save it as an Excel Workbook (.xlsx) and upload that."
    )]
    Corrupt { detail: String },
    #[error(
        "The workbook has no worksheet to read (only macros or charts). Save the report's \
         worksheet as an Excel Workbook (.xlsx) and upload that."
    )]
    NoWorksheets { detail: String },
    #[error(
        "The workbook is too large to read. Open it in Excel, copy the report's rows into a new \
         workbook, save it as an Excel Workbook (.xlsx) and upload that."
    )]
    TooLarge { detail: String },
    #[error("The workbook has no sheet named \"{requested}\". Its sheets are: {}.", quoted_list(.available))]
    SheetNotFound {
        requested: String,
        available: Vec<String>,
    },
}

fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

impl WorkbookProblem {
    /// The stable problem+json code.
    pub fn code(&self) -> &'static str {
        match self {
            WorkbookProblem::Encrypted { .. } => "workbook_encrypted",
            WorkbookProblem::Corrupt { .. } => "workbook_corrupt",
            WorkbookProblem::NoWorksheets { .. } => "workbook_no_worksheets",
            WorkbookProblem::TooLarge { .. } => "workbook_too_large",
            WorkbookProblem::SheetNotFound { .. } => "sheet_not_found",
        }
    }

    /// What the workbook library reported, for the log; never shown to the operator.
    pub fn detail(&self) -> Option<&str> {
        match self {
            WorkbookProblem::Encrypted { detail }
            | WorkbookProblem::Corrupt { detail }
            | WorkbookProblem::NoWorksheets { detail }
            | WorkbookProblem::TooLarge { detail } => Some(detail),
            WorkbookProblem::SheetNotFound { .. } => None,
        }
    }

    fn corrupt(detail: impl ToString) -> Self {
        WorkbookProblem::Corrupt {
            detail: detail.to_string(),
        }
    }
}

enum Inner<R> {
    Xlsx(Box<Xlsx<R>>),
    Xls(Box<Xls<R>>),
}

/// An open workbook, ready to give the rows of its worksheets.
pub struct Workbook<R> {
    inner: Inner<R>,
    sheet_names: Vec<String>,
    dates: DateSystem,
}

impl<R: Read + Seek> Workbook<R> {
    /// Opens a workbook, deciding its format from its content.
    ///
    /// XLSX reads the workbook's parts (sheet list, styles, shared strings) but no sheet yet.
    /// XLS parses every sheet here: the format stores them in one stream.
    pub fn open(mut reader: R) -> Result<Self, WorkbookProblem> {
        let mut prefix = [0u8; 8];
        let read = read_prefix(&mut reader, &mut prefix).map_err(WorkbookProblem::corrupt)?;
        reader
            .seek(SeekFrom::Start(0))
            .map_err(WorkbookProblem::corrupt)?;
        let (inner, is_1904, sheets) = match sniff(&prefix[..read]) {
            Some(WorkbookFormat::Xlsx) => {
                if let Some(detail) = xlsx_size::too_large(&mut reader) {
                    return Err(WorkbookProblem::TooLarge { detail });
                }
                reader
                    .seek(SeekFrom::Start(0))
                    .map_err(WorkbookProblem::corrupt)?;
                let xlsx = Xlsx::new(reader).map_err(xlsx_problem)?;
                let is_1904 = xlsx.has_1904_epoch();
                let sheets = worksheet_names(xlsx.sheets_metadata());
                (Inner::Xlsx(Box::new(xlsx)), is_1904, sheets)
            }
            Some(WorkbookFormat::Xls) => {
                // An encrypted xlsx is an OLE2 file holding an "EncryptedPackage" stream; the
                // xlsx reader looks for exactly that before it expects a zip.
                if let Err(XlsxError::Password) = Xlsx::new(&mut reader) {
                    return Err(WorkbookProblem::Encrypted {
                        detail: "OLE2 file with an EncryptedPackage stream".into(),
                    });
                }
                reader
                    .seek(SeekFrom::Start(0))
                    .map_err(WorkbookProblem::corrupt)?;
                if let Some(peak) = xls_size::estimated_peak(&mut reader) {
                    if peak > XLS_MEMORY_LIMIT {
                        return Err(WorkbookProblem::TooLarge {
                            detail: format!(
                                "loading would take about {} MiB (limit {} MiB)",
                                peak >> 20,
                                XLS_MEMORY_LIMIT >> 20
                            ),
                        });
                    }
                }
                reader
                    .seek(SeekFrom::Start(0))
                    .map_err(WorkbookProblem::corrupt)?;
                let xls = Xls::new(reader).map_err(xls_problem)?;
                let is_1904 = xls.has_1904_epoch();
                let sheets = worksheet_names(xls.sheets_metadata());
                (Inner::Xls(Box::new(xls)), is_1904, sheets)
            }
            None => {
                return Err(WorkbookProblem::corrupt(
                    "neither a zip nor an OLE2 compound file",
                ))
            }
        };
        if sheets.is_empty() {
            return Err(WorkbookProblem::NoWorksheets {
                detail: "the workbook lists no worksheet".into(),
            });
        }
        Ok(Workbook {
            inner,
            sheet_names: sheets,
            dates: DateSystem::from_1904_flag(is_1904),
        })
    }

    /// The format the content turned out to be.
    pub fn format(&self) -> WorkbookFormat {
        match self.inner {
            Inner::Xlsx(_) => WorkbookFormat::Xlsx,
            Inner::Xls(_) => WorkbookFormat::Xls,
        }
    }

    /// The worksheets, in workbook (tab) order; chart and dialog sheets are left out. Hidden
    /// worksheets are included: clock exports sometimes hide a raw-data sheet that is the report.
    pub fn sheet_names(&self) -> Vec<String> {
        self.sheet_names.clone()
    }

    /// Whether dates are counted from 1904 (classic Mac Excel) rather than 1900.
    pub fn uses_1904_dates(&self) -> bool {
        self.dates == DateSystem::Excel1904
    }

    /// The worksheet a `sheet` option names: its exact name, else the one name equal to it
    /// ignoring case and surrounding spaces.
    pub fn find_sheet(&self, requested: &str) -> Result<String, WorkbookProblem> {
        if let Some(name) = self.sheet_names.iter().find(|n| *n == requested) {
            return Ok(name.clone());
        }
        let wanted = requested.trim().to_lowercase();
        let mut loose = self
            .sheet_names
            .iter()
            .filter(|n| n.trim().to_lowercase() == wanted);
        match (loose.next(), loose.next()) {
            (Some(name), None) => Ok(name.clone()),
            _ => Err(WorkbookProblem::SheetNotFound {
                requested: requested.to_owned(),
                available: self.sheet_names.clone(),
            }),
        }
    }

    /// Gives `sheet`'s rows in order to `each` until it answers `Break` or the sheet ends.
    ///
    /// Each row comes with its 1-based row number as the spreadsheet shows it and its cells as
    /// text, one per column from column A (an empty cell is ""), up to its last non-empty cell.
    /// Rows with no non-empty cell are not given. Cell text:
    /// - text as it is; a whole number as its digits (1001.0 is "1001"), any other number as
    ///   the shortest decimal that reads back the same; TRUE/FALSE; an error cell is "";
    /// - a date or time cell, in the workbook's 1900 or 1904 date system and rounded to the
    ///   nearest second: "YYYY-MM-DD" with no time part, "HH:MM:SS" for a time alone,
    ///   "YYYY-MM-DD HH:MM:SS" otherwise; a duration as "HH:MM:SS" with hours past 23 kept;
    /// - a formula cell by the value Excel saved with it; a merged range by its top-left cell.
    ///
    /// `sheet` is resolved as [`Workbook::find_sheet`] does. A sheet found damaged while it is
    /// read is [`WorkbookProblem::Corrupt`], after the rows before the damage were given.
    pub fn rows<F>(&mut self, sheet: &str, mut each: F) -> Result<(), WorkbookProblem>
    where
        F: FnMut(u64, Vec<String>) -> ControlFlow<()>,
    {
        let name = self.find_sheet(sheet)?;
        let dates = self.dates;
        match &mut self.inner {
            Inner::Xlsx(xlsx) => xlsx_rows(xlsx, &name, dates, &mut each),
            Inner::Xls(xls) => xls_rows(xls, &name, dates, &mut each),
        }
    }
}

fn read_prefix<R: Read>(reader: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn worksheet_names(sheets: &[calamine::Sheet]) -> Vec<String> {
    sheets
        .iter()
        .filter(|s| s.typ == SheetType::WorkSheet)
        .map(|s| s.name.clone())
        .collect()
}

fn xlsx_problem(error: XlsxError) -> WorkbookProblem {
    match error {
        XlsxError::Password => WorkbookProblem::Encrypted {
            detail: error.to_string(),
        },
        // The xlsx reader knows worksheets, chart sheets and dialog sheets; an Excel 4 macro
        // sheet (or anything newer) is "unrecognized", and is nothing this reader could use.
        XlsxError::Unrecognized {
            typ: "sheet:type", ..
        } => WorkbookProblem::NoWorksheets {
            detail: error.to_string(),
        },
        other => WorkbookProblem::corrupt(other),
    }
}

fn xls_problem(error: XlsError) -> WorkbookProblem {
    match error {
        XlsError::Password => WorkbookProblem::Encrypted {
            detail: error.to_string(),
        },
        other => WorkbookProblem::corrupt(other),
    }
}

/// Streams an xlsx sheet's cells, gathering one row at a time: memory holds the current row
/// (at most 16,384 cells, the format's width), not the sheet.
fn xlsx_rows<R: Read + Seek>(
    xlsx: &mut Xlsx<R>,
    name: &str,
    dates: DateSystem,
    each: &mut dyn FnMut(u64, Vec<String>) -> ControlFlow<()>,
) -> Result<(), WorkbookProblem> {
    let mut cells = xlsx.worksheet_cells_reader(name).map_err(xlsx_problem)?;
    let mut current: Option<(u32, Vec<String>)> = None;
    while let Some(cell) = cells.next_cell().map_err(xlsx_problem)? {
        let (row, column) = cell.get_position();
        let text = data_ref_text(cell.get_value().clone(), dates);
        if matches!(&current, Some((r, _)) if *r != row) {
            if let Some((r, values)) = current.take() {
                if emit(r, values, each).is_break() {
                    return Ok(());
                }
            }
        }
        let (_, values) = current.get_or_insert_with(|| (row, Vec::new()));
        if text.is_empty() {
            continue;
        }
        let column = column as usize;
        if values.len() <= column {
            values.resize(column + 1, String::new());
        }
        values[column] = text;
    }
    if let Some((r, values)) = current {
        let _ = emit(r, values, each);
    }
    Ok(())
}

/// An xls sheet is already in memory (the format cannot be streamed): walk its grid.
fn xls_rows<R: Read + Seek>(
    xls: &mut Xls<R>,
    name: &str,
    dates: DateSystem,
    each: &mut dyn FnMut(u64, Vec<String>) -> ControlFlow<()>,
) -> Result<(), WorkbookProblem> {
    let range = xls.worksheet_range(name).map_err(xls_problem)?;
    let Some((first_row, first_column)) = range.start() else {
        return Ok(());
    };
    for (offset, row) in range.rows().enumerate() {
        let mut values = vec![String::new(); first_column as usize];
        values.extend(row.iter().map(|value| data_text(value, dates)));
        if emit(first_row + offset as u32, values, each).is_break() {
            break;
        }
    }
    Ok(())
}

/// Gives a row with trailing empty cells dropped; a row with nothing in it is not given.
fn emit(
    row: u32,
    mut values: Vec<String>,
    each: &mut dyn FnMut(u64, Vec<String>) -> ControlFlow<()>,
) -> ControlFlow<()> {
    while values.last().is_some_and(String::is_empty) {
        values.pop();
    }
    if values.is_empty() {
        return ControlFlow::Continue(());
    }
    each(u64::from(row) + 1, values)
}

#[cfg(test)]
mod tests;
