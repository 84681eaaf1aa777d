//! Reading and validating fingerprint-clock reports (BioTime, ZKTime.Net and Att2000 exports,
//! often re-saved by Excel).
//!
//! Pure: the caller owns the bytes, the clock and the directory. Reading is two passes over the
//! same bytes, each fed in chunks of any size, with memory bounded by the longest line rather
//! than the file:
//!
//! 1. [`FactsCollector`]: encoding, delimiter, header row, column mapping, date order. Refuses the
//!    file as a whole with a [`FileProblem`].
//! 2. [`RowReader`]: one [`ReportRow`] per data line, as soon as the line is complete.
//!
//! A worksheet, once another reader has turned its cells into text, goes through the same rules
//! with [`SheetFactsCollector`] and [`SheetRowReader`] (or [`sheet_row`]), one row at a time.
//!
//! Then [`validate`] checks each row against the [`Directory`], and [`ImportSummary`] adds the
//! results up.

mod arabic;
mod facts;
mod header;
mod rows;
mod summary;
mod text;
mod validate;
mod values;

pub use facts::{
    DateEvidence, DateOrderBasis, Delimiter, FactsCollector, FileFacts, FileForm, FileProblem,
    ReadOptions, SheetFactsCollector, WorkbookFormat, HEADER_SEARCH_ROWS,
};
pub use header::{Columns, ReportKind, MIN_RECOGNISED_NAMES};
pub use rows::{
    parse_row, sheet_row, IssueCode, Punch, ReportRow, RowIssue, RowReader, SheetRowReader,
};
pub use summary::{ImportSummary, NamedCount};
pub use text::{TextEncoding, MAX_CELLS, MAX_LINE_BYTES};
pub use validate::{
    validate, validate_within, Directory, DirectoryCompany, DirectoryEmployee, DirectoryError,
    RowResult, Scope, ValidationOutcome, EARLIEST_YEAR,
};
pub use values::{DateOrder, DateOrderError};

/// Both passes over bytes already in memory: for tests and small inputs. A service streaming an
/// upload feeds `FactsCollector` and `RowReader` itself.
pub fn read_report(
    bytes: &[u8],
    options: ReadOptions,
) -> Result<(FileFacts, Vec<ReportRow>), FileProblem> {
    let mut collector = FactsCollector::new(options);
    collector.feed(bytes);
    let facts = collector.finish()?;
    let mut rows = Vec::new();
    let mut reader = RowReader::new(&facts);
    reader.feed(bytes, &mut rows);
    reader.finish(&mut rows);
    Ok((facts, rows))
}

/// A cell for an exported CSV or spreadsheet. One that starts with `=`, `+`, `-` or `@` (or a tab
/// or carriage return, which some spreadsheets skip before looking) would be run as a formula, so
/// it gets a leading single quote and shows as the text it is.
pub fn export_cell(value: &str) -> String {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_in_chunks(
        bytes: &[u8],
        size: usize,
    ) -> Result<(FileFacts, Vec<ReportRow>), FileProblem> {
        let mut collector = FactsCollector::new(ReadOptions::default());
        for chunk in bytes.chunks(size) {
            collector.feed(chunk);
        }
        let facts = collector.finish()?;
        let mut reader = RowReader::new(&facts);
        let mut rows = Vec::new();
        for chunk in bytes.chunks(size) {
            let before = rows.len();
            reader.feed(chunk, &mut rows);
            assert!(
                rows.len() - before <= chunk.len(),
                "rows come out as lines complete"
            );
        }
        reader.finish(&mut rows);
        Ok((facts, rows))
    }

    #[test]
    fn chunk_boundaries_split_nothing() {
        let text = "Employee ID;First Name;Last Name;Department;Date;Check In;Check Out\r\n\
                    1005;محمد;العتيبي;AdvLine;13/11/2026;08:02;16:01\r\n\
                    \r\n\
                    2004;\"نورة; السبيعي\";;ClaraStars;07/11/2026;08:05;16:15\r\n\
                    3001;€uro;;GulfLog;07/11/2026;22:00;06:00";
        let utf16 = |big: bool| -> Vec<u8> {
            let mut out = if big {
                vec![0xFE, 0xFF]
            } else {
                vec![0xFF, 0xFE]
            };
            for unit in text.encode_utf16() {
                out.extend(if big {
                    unit.to_be_bytes()
                } else {
                    unit.to_le_bytes()
                });
            }
            out
        };
        let mut utf8_bom = vec![0xEF, 0xBB, 0xBF];
        utf8_bom.extend_from_slice(text.as_bytes());
        let windows_1256 = encoding_rs::WINDOWS_1256
            .encode(&text.replace('€', "E"))
            .0
            .into_owned();
        for (label, bytes) in [
            ("utf-8", text.as_bytes().to_vec()),
            ("utf-8 bom", utf8_bom),
            ("utf-16le", utf16(false)),
            ("utf-16be", utf16(true)),
            ("windows-1256", windows_1256),
        ] {
            let whole = read_report(&bytes, ReadOptions::default()).unwrap();
            assert_eq!(whole.1.len(), 3, "{label}");
            assert_eq!(
                whole.1.iter().map(|r| r.line).collect::<Vec<_>>(),
                [2, 4, 5],
                "{label}"
            );
            assert_eq!(whole.1[1].name, "نورة; السبيعي", "{label}");
            for size in 1..=7 {
                assert_eq!(
                    read_in_chunks(&bytes, size).unwrap(),
                    whole,
                    "{label} in chunks of {size}"
                );
            }
        }
    }

    /// The text's lines as a worksheet's rows: the csv crate cuts each line as a spreadsheet
    /// would have its cells.
    fn as_sheet(text: &str) -> Vec<(u64, Vec<String>)> {
        text.lines()
            .enumerate()
            .map(|(i, line)| {
                let cells = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .from_reader(line.as_bytes())
                    .records()
                    .next()
                    .map(|r| r.unwrap().iter().map(str::to_owned).collect())
                    .unwrap_or_default();
                (i as u64 + 1, cells)
            })
            .collect()
    }

    fn read_sheet(
        rows: &[(u64, Vec<String>)],
        options: ReadOptions,
    ) -> Result<(FileFacts, Vec<ReportRow>), FileProblem> {
        let mut collector = SheetFactsCollector::new(options);
        for (line, cells) in rows {
            collector.push(*line, cells);
        }
        let facts = collector.finish(FileForm::Workbook {
            format: WorkbookFormat::Xls,
            sheet: "Attendance".into(),
        })?;
        let reader = SheetRowReader::new(&facts);
        let read = rows
            .iter()
            .filter_map(|(line, cells)| reader.row(*line, cells.clone()))
            .collect::<Vec<_>>();
        let one_by_one = rows
            .iter()
            .filter_map(|(line, cells)| sheet_row(&facts, *line, cells.clone()))
            .collect::<Vec<_>>();
        assert_eq!(read, one_by_one);
        Ok((facts, read))
    }

    #[test]
    fn a_sheet_reads_as_the_same_report_as_text() {
        let reports = [
            "Total Time Card,,\n\
             ,,,,\n\
             Employee ID,First Name,Last Name,Department,Date,Weekday,Check In,Check Out\n\
             1001,Ahmed,Ali,AdvLine,05/11/2026,Thursday,08:00:00,17:00:00\n\
             0042,Omar,,AdvLine,06/11/2026,Friday,19:00,05:00\n\
             \n\
             9999,X,,Marketing,07/11/2026,,--,--\n\
             1002,Fatima,,AdvLine,31/02/2026,,08:00,\n\
             Total,,,,,,16:00,\n",
            "رقم البصمة,الاسم,القسم,وقت البصمة,الحالة\n\
             Employee ID,Name,Department,Punch Time,State\n\
             ٠٠٤٢,عمر,AdvLine,١١/١٣/٢٠٢٦ ٠٨:٠٠:٠٠,٠\n\
             1001,A,AdvLine,2026-11-13 17:00:00,Check Out\n\
             1001,A,AdvLine,2026-11-13 25:00:00,Check Out\n\
             المجموع,,,,\n",
        ];
        for text in reports {
            let (text_facts, text_rows) = read_report(text.as_bytes(), ReadOptions::default())
                .unwrap_or_else(|e| panic!("{e}: {text}"));
            let (sheet_facts, sheet_rows) =
                read_sheet(&as_sheet(text), ReadOptions::default()).unwrap();
            assert_eq!(sheet_rows, text_rows, "{text}");
            assert!(!sheet_rows.is_empty());
            for (a, b) in [
                (text_facts.header_line, sheet_facts.header_line),
                (text_facts.data_lines, sheet_facts.data_lines),
                (text_facts.lines, sheet_facts.lines),
            ] {
                assert_eq!(a, b, "{text}");
            }
            assert_eq!(
                text_facts.second_header_line,
                sheet_facts.second_header_line
            );
            assert_eq!(text_facts.header, sheet_facts.header);
            assert_eq!(text_facts.columns, sheet_facts.columns);
            assert_eq!(text_facts.kind, sheet_facts.kind);
            assert_eq!(
                (text_facts.date_order, text_facts.date_order_basis),
                (sheet_facts.date_order, sheet_facts.date_order_basis)
            );
            assert_eq!(text_facts.date_evidence, sheet_facts.date_evidence);
            // What a row says is its own business, however the file came.
            for row in &sheet_rows {
                assert_eq!(parse_row(&sheet_facts, row.line, row.raw.clone()), *row);
            }
        }
        let refused = read_sheet(
            &as_sheet("Employee ID,Name,Date,Check In\n1,A,2026-11-01,08:00\n"),
            ReadOptions::default(),
        );
        assert_eq!(
            refused.err(),
            Some(FileProblem::MissingColumns(vec!["department".into()]))
        );
    }

    #[test]
    fn a_sheet_row_too_wide_is_a_bad_row() {
        let header: Vec<String> = ["Employee ID", "Name", "Department", "Date", "Check In"]
            .map(String::from)
            .to_vec();
        let wide = vec!["x".to_owned(); MAX_CELLS + 1];
        let rows = [
            (1, header),
            (2, wide),
            (
                3,
                ["1", "A", "B", "2026-11-01", "08:00"]
                    .map(String::from)
                    .to_vec(),
            ),
        ];
        let (facts, read) = read_sheet(&rows, ReadOptions::default()).unwrap();
        assert_eq!(facts.data_lines, 2);
        assert_eq!(read.len(), 2);
        assert_eq!(read[0].errors[0].code, IssueCode::BadRow);
        assert!(read[0].errors[0].message.starts_with("too_many_cells"));
        assert!(read[1].errors.is_empty());
    }

    #[test]
    fn export_cells_never_become_formulas() {
        let cases = [
            (
                "=HYPERLINK(\"http://evil\")",
                "'=HYPERLINK(\"http://evil\")",
            ),
            ("+971500000000", "'+971500000000"),
            ("-5", "'-5"),
            ("--", "'--"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("Ahmed", "Ahmed"),
            ("a=b", "a=b"),
            (" =1", " =1"),
            ("محمد", "محمد"),
            ("", ""),
        ];
        for (value, expected) in cases {
            assert_eq!(export_cell(value), expected, "{value:?}");
        }
    }
}
