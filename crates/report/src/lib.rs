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
//! Then [`validate`] checks each row against the [`Directory`], and [`ImportSummary`] adds the
//! results up.

mod facts;
mod header;
mod rows;
mod summary;
mod text;
mod validate;
mod values;

pub use facts::{
    DateEvidence, DateOrderBasis, Delimiter, FactsCollector, FileFacts, FileProblem, ReadOptions,
    HEADER_SEARCH_ROWS,
};
pub use header::{Columns, ReportKind, MIN_RECOGNISED_NAMES};
pub use rows::{parse_row, IssueCode, Punch, ReportRow, RowIssue, RowReader};
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
