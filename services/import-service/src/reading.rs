//! The one place a stored report is read, whatever its form: a text report through
//! [`RowReader`] over its bytes, a workbook through [`workbook::Workbook::rows`] and
//! [`SheetRowReader`]. Everything here blocks (a workbook can only be read by blocking calls):
//! callers run it on a blocking thread.

use std::io::{BufReader, Read};
use std::ops::ControlFlow;
use std::path::Path;

use report::{
    FileFacts, FileForm, FileProblem, ReadOptions, ReportRow, RowReader, SheetFactsCollector,
    SheetRowReader,
};
use workbook::{Workbook, WorkbookProblem};

/// Bytes read from a stored text report at a time.
const READ_CHUNK: usize = 256 * 1024;

/// Why pass 1 of a workbook gives no facts.
#[derive(Debug, thiserror::Error)]
pub enum WorkbookFactsError {
    /// The workbook itself cannot be read (or has no sheet by the requested name).
    #[error("{0}")]
    Workbook(WorkbookProblem),
    /// The chosen worksheet is not a usable report.
    #[error("{0}")]
    File(FileProblem),
    /// The stored file could not be read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn open(path: &Path) -> std::io::Result<Workbook<BufReader<std::fs::File>>> {
    let file = std::fs::File::open(path)?;
    Workbook::open(BufReader::new(file)).map_err(as_io)
}

/// A workbook problem met while reading a file that was read before: not the operator's to fix.
fn as_io(problem: WorkbookProblem) -> std::io::Error {
    let detail = problem.detail().unwrap_or_default().to_owned();
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("{}: {detail}", problem.code()),
    )
}

/// Pass 1 of a stored workbook: the worksheet to read and its facts.
///
/// With `sheet`, that worksheet (by [`Workbook::find_sheet`]) and its verdict. Without, the
/// first worksheet in tab order whose header is found: a sheet with no header (a cover page,
/// notes, an empty sheet) is passed over; a sheet whose header is found but which cannot be
/// read (a missing column, no rows) is the answer. When no sheet has a header, the first
/// sheet's problem is.
pub fn workbook_facts(
    path: &Path,
    sheet: Option<&str>,
    options: ReadOptions,
) -> Result<FileFacts, WorkbookFactsError> {
    let file = std::fs::File::open(path)?;
    let mut book = Workbook::open(BufReader::new(file)).map_err(WorkbookFactsError::Workbook)?;
    let format = book.format();
    let candidates = match sheet {
        Some(requested) => vec![book
            .find_sheet(requested)
            .map_err(WorkbookFactsError::Workbook)?],
        None => book.sheet_names(),
    };
    let mut first_problem = None;
    for name in candidates {
        let mut collector = SheetFactsCollector::new(options);
        book.rows(&name, |line, cells| {
            collector.push(line, &cells);
            ControlFlow::Continue(())
        })
        .map_err(WorkbookFactsError::Workbook)?;
        let form = FileForm::Workbook {
            format,
            sheet: name.clone(),
        };
        match collector.finish(form) {
            Ok(facts) => return Ok(facts),
            // No header on this sheet: the report may be on a later one.
            Err(
                problem @ (FileProblem::NoHeader | FileProblem::EmptyFile | FileProblem::NotText),
            ) if sheet.is_none() => {
                first_problem.get_or_insert(problem);
            }
            Err(problem) => return Err(WorkbookFactsError::File(problem)),
        }
    }
    Err(WorkbookFactsError::File(
        first_problem.unwrap_or(FileProblem::EmptyFile),
    ))
}

/// Pass 2 of a stored report: gives its rows in order to `each` until it answers `Break` or
/// the rows end.
pub fn each_row(
    path: &Path,
    facts: &FileFacts,
    mut each: impl FnMut(ReportRow) -> ControlFlow<()>,
) -> std::io::Result<()> {
    match &facts.form {
        FileForm::Text { .. } => {
            let mut file = std::fs::File::open(path)?;
            let mut reader = Some(RowReader::new(facts));
            let mut buffer = vec![0u8; READ_CHUNK];
            let mut rows = Vec::new();
            while let Some(mut reading) = reader.take() {
                let n = file.read(&mut buffer)?;
                if n == 0 {
                    reading.finish(&mut rows);
                } else {
                    reading.feed(&buffer[..n], &mut rows);
                    reader = Some(reading);
                }
                for row in rows.drain(..) {
                    if each(row).is_break() {
                        return Ok(());
                    }
                }
            }
            Ok(())
        }
        FileForm::Workbook { sheet, .. } => {
            let mut book = open(path)?;
            let reader = SheetRowReader::new(facts);
            book.rows(sheet, |line, cells| match reader.row(line, cells) {
                Some(row) => each(row),
                None => ControlFlow::Continue(()),
            })
            .map_err(as_io)
        }
    }
}
