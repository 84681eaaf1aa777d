//! Workbooks written here with rust_xlsxwriter, and the committed fixtures of tests/fixtures.

use std::io::Cursor;
use std::ops::ControlFlow;
use std::path::PathBuf;

use rust_xlsxwriter::{Chart, ChartType, ExcelDateTime, Format, Formula};

use super::*;

type Rows = Vec<(u64, Vec<String>)>;

fn fixture(path: &str) -> Vec<u8> {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

fn open(bytes: Vec<u8>) -> Result<Workbook<Cursor<Vec<u8>>>, WorkbookProblem> {
    Workbook::open(Cursor::new(bytes))
}

fn all_rows<R: Read + Seek>(workbook: &mut Workbook<R>, sheet: &str) -> Rows {
    let mut rows = Vec::new();
    workbook
        .rows(sheet, |n, cells| {
            rows.push((n, cells));
            ControlFlow::Continue(())
        })
        .expect("the sheet reads");
    rows
}

fn row(n: u64, cells: &[&str]) -> (u64, Vec<String>) {
    (n, cells.iter().map(|c| c.to_string()).collect())
}

fn problem_of(bytes: Vec<u8>) -> WorkbookProblem {
    match open(bytes) {
        Ok(_) => panic!("the workbook opened"),
        Err(problem) => problem,
    }
}

#[test]
fn sniff_knows_workbooks_by_their_first_bytes_only() {
    assert_eq!(sniff(b"PK\x03\x04rest"), Some(WorkbookFormat::Xlsx));
    assert_eq!(sniff(OLE2_MAGIC), Some(WorkbookFormat::Xls));
    assert_eq!(sniff(b"Employee ID,Name"), None);
    assert_eq!(sniff(b"PK"), None);
    assert_eq!(sniff(&OLE2_MAGIC[..7]), None);
    assert_eq!(sniff(b""), None);
    // Whatever the name says: the fixtures are recognised by content.
    assert_eq!(
        sniff(&fixture("workbooks/zktime-daily.xlsx")),
        Some(WorkbookFormat::Xlsx)
    );
    assert_eq!(
        sniff(&fixture("workbooks/biotime-transactions.xls")),
        Some(WorkbookFormat::Xls)
    );
    assert_eq!(sniff(&fixture("basic.csv")), None);
}

#[test]
fn format_serialises_in_snake_case() {
    assert_eq!(
        serde_json::to_string(&WorkbookFormat::Xlsx).unwrap(),
        "\"xlsx\""
    );
    assert_eq!(
        serde_json::from_str::<WorkbookFormat>("\"xls\"").unwrap(),
        WorkbookFormat::Xls
    );
    assert_eq!(WorkbookFormat::Xls.as_str(), "xls");
}

#[test]
fn cells_of_every_kind_read_as_text() {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let time = Format::new().set_num_format("hh:mm");
    let stamp = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    sheet.write_number(0, 0, 1001.0).unwrap();
    sheet.write_number(0, 1, 8.25).unwrap();
    sheet.write_string(0, 2, "08:05").unwrap();
    sheet.write_boolean(0, 3, true).unwrap();
    sheet
        .write_datetime_with_format(0, 4, ExcelDateTime::from_ymd(2026, 11, 5).unwrap(), &date)
        .unwrap();
    sheet
        .write_datetime_with_format(0, 5, ExcelDateTime::from_hms(8, 5, 0).unwrap(), &time)
        .unwrap();
    sheet
        .write_datetime_with_format(
            0,
            6,
            ExcelDateTime::from_ymd(2026, 11, 5)
                .unwrap()
                .and_hms(23, 59, 59.7)
                .unwrap(),
            &stamp,
        )
        .unwrap();
    // A time serial a hair off a whole second, as arithmetic in a spreadsheet leaves it.
    sheet
        .write_number_with_format(0, 7, 29100.4 / 86400.0, &time)
        .unwrap();
    // Formulas read by the value saved with them.
    sheet
        .write_formula(0, 8, Formula::new("=A1+1").set_result("1002"))
        .unwrap();
    sheet
        .write_formula(0, 9, Formula::new("=\"Ahmed\"").set_result("Ahmed"))
        .unwrap();
    sheet.write_number(0, 10, -3.0).unwrap();
    let bytes = book.save_to_buffer().unwrap();

    let mut workbook = open(bytes).unwrap();
    assert_eq!(workbook.format(), WorkbookFormat::Xlsx);
    assert!(!workbook.uses_1904_dates());
    assert_eq!(
        all_rows(&mut workbook, "Sheet1"),
        vec![row(
            1,
            &[
                "1001",
                "8.25",
                "08:05",
                "TRUE",
                "2026-11-05",
                "08:05:00",
                "2026-11-06",
                "08:05:00",
                "1002",
                "Ahmed",
                "-3"
            ]
        )]
    );
}

#[test]
fn rows_keep_the_spreadsheets_numbers_and_columns() {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet
        .merge_range(0, 1, 0, 5, "Daily Attendance Report", &Format::new())
        .unwrap();
    sheet.write_string(2, 1, "Employee ID").unwrap();
    sheet.write_string(2, 3, "Department").unwrap();
    // A cell with a format and no value, and an empty string: nothing to read.
    sheet.write_blank(3, 1, &Format::new().set_bold()).unwrap();
    sheet.write_string(4, 2, "").unwrap();
    sheet.write_string(6, 1, "1001").unwrap();
    sheet.write_blank(6, 9, &Format::new().set_bold()).unwrap();
    let bytes = book.save_to_buffer().unwrap();

    let mut workbook = open(bytes).unwrap();
    assert_eq!(
        all_rows(&mut workbook, "Sheet1"),
        vec![
            // A merged range is its top-left cell; an empty column A is kept as "".
            row(1, &["", "Daily Attendance Report"]),
            row(3, &["", "Employee ID", "", "Department"]),
            // Trailing formatted blanks are no cells.
            row(7, &["", "1001"]),
        ]
    );
}

#[test]
fn reading_stops_when_asked() {
    let mut workbook = open(fixture("workbooks/zktime-daily.xlsx")).unwrap();
    let mut seen = Vec::new();
    workbook
        .rows("Daily Attendance", |n, _| {
            seen.push(n);
            if n == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(seen, vec![1, 2, 3]);
    // And the sheet can be read again from its start.
    assert_eq!(all_rows(&mut workbook, "Daily Attendance").len(), 17);

    let mut workbook = open(fixture("workbooks/biotime-transactions.xls")).unwrap();
    let mut count = 0;
    workbook
        .rows("Transaction", |_, _| {
            count += 1;
            ControlFlow::Break(())
        })
        .unwrap();
    assert_eq!(count, 1);
}

#[test]
fn sheet_names_are_worksheets_in_workbook_order() {
    let mut book = rust_xlsxwriter::Workbook::new();
    book.add_worksheet().set_name("Zeta").unwrap();
    book.add_worksheet()
        .set_name("Alpha")
        .unwrap()
        .set_hidden(true);
    let mut chart = Chart::new(ChartType::Column);
    chart.add_series().set_values("Zeta!$A$1:$A$2");
    book.add_chartsheet()
        .set_name("Chart")
        .unwrap()
        .insert_chart(0, 0, &chart)
        .unwrap();
    book.add_worksheet().set_name("Report").unwrap();
    let workbook = open(book.save_to_buffer().unwrap()).unwrap();
    assert_eq!(workbook.sheet_names(), vec!["Zeta", "Alpha", "Report"]);

    let two = open(fixture("workbooks/two-sheets.xlsx")).unwrap();
    assert_eq!(two.sheet_names(), vec!["Cover", "Report"]);
}

#[test]
fn a_sheet_option_finds_its_sheet_or_lists_the_sheets() {
    let mut workbook = open(fixture("workbooks/two-sheets.xlsx")).unwrap();
    assert_eq!(workbook.find_sheet("Report").unwrap(), "Report");
    assert_eq!(workbook.find_sheet(" report ").unwrap(), "Report");
    assert_eq!(all_rows(&mut workbook, "REPORT").len(), 6);

    let problem = workbook.find_sheet("Summary").unwrap_err();
    assert_eq!(problem.code(), "sheet_not_found");
    assert_eq!(
        problem.to_string(),
        "The workbook has no sheet named \"Summary\". Its sheets are: \"Cover\", \"Report\"."
    );
    let problem = workbook
        .rows("Summary", |_, _| ControlFlow::Continue(()))
        .unwrap_err();
    assert_eq!(problem.code(), "sheet_not_found");
}

#[test]
fn zktime_daily_layout_reads_as_the_clock_meant_it() {
    let mut workbook = open(fixture("workbooks/zktime-daily.xlsx")).unwrap();
    assert_eq!(workbook.sheet_names(), vec!["Daily Attendance"]);
    let rows = all_rows(&mut workbook, "Daily Attendance");
    let expected = [
        row(1, &["Daily Attendance Report"]),
        row(2, &["From 2026-11-09 To 2026-11-10"]),
        row(
            3,
            &[
                "AC-No.",
                "Name",
                "Department",
                "Date",
                "Weekday",
                "Clock In",
                "Clock Out",
                "Work Time",
            ],
        ),
        row(
            4,
            &[
                "1001",
                "Ahmed Al Mansoori",
                "AdvLine",
                "2026-11-09",
                "Monday",
                "08:58:00",
                "17:02:00",
                "08:04:00",
            ],
        ),
        // The time typed as text stays text.
        row(
            5,
            &[
                "1002",
                "Fatima Khan",
                "AdvLine",
                "2026-11-09",
                "Monday",
                "08:05",
                "17:30:00",
            ],
        ),
        // 08:29:59.7 is 08:30:00.
        row(
            6,
            &[
                "1003",
                "Rajesh Nair",
                "AdvLine",
                "2026-11-09",
                "Monday",
                "08:30:00",
            ],
        ),
    ];
    assert_eq!(rows[..6], expected);
    assert_eq!(
        rows[15],
        row(
            16,
            &[
                "42",
                "Omar Haddad",
                "AdvLine",
                "2026-11-10",
                "Tuesday",
                "07:59:00",
                "16:01:00",
                "08:02:00"
            ]
        )
    );
    // The Total row's formula was never calculated: only its label is left.
    assert_eq!(rows.last(), Some(&row(17, &["Total"])));
}

#[test]
fn the_1904_twin_reads_exactly_like_the_1900_workbook() {
    let mut mac = open(fixture("workbooks/mac-1904.xlsx")).unwrap();
    let mut windows = open(fixture("workbooks/zktime-daily.xlsx")).unwrap();
    assert!(mac.uses_1904_dates());
    assert!(!windows.uses_1904_dates());
    assert_eq!(
        all_rows(&mut mac, "Daily Attendance"),
        all_rows(&mut windows, "Daily Attendance")
    );
}

#[test]
fn two_sheets_cover_page_then_report() {
    let mut workbook = open(fixture("workbooks/two-sheets.xlsx")).unwrap();
    let cover = all_rows(&mut workbook, "Cover");
    assert_eq!(cover[0], row(1, &["Attendance Export"]));
    assert!(cover.iter().all(|(_, cells)| cells.len() == 1));
    let report = all_rows(&mut workbook, "Report");
    assert_eq!(
        report[4],
        row(
            5,
            &[
                "2004",
                "نورة",
                "السبيعي",
                "ClaraStars",
                "2026-11-11",
                "08:30:00",
                "--"
            ]
        )
    );
}

#[test]
fn xls_transaction_export_reads_dates_times_and_codes() {
    let mut workbook = open(fixture("workbooks/biotime-transactions.xls")).unwrap();
    assert_eq!(workbook.format(), WorkbookFormat::Xls);
    assert_eq!(workbook.sheet_names(), vec!["Transaction"]);
    let rows = all_rows(&mut workbook, "Transaction");
    assert_eq!(rows.len(), 14);
    assert_eq!(rows[0], row(1, &["Transaction Report 2026-11-13"]));
    assert_eq!(
        rows[4],
        row(
            5,
            &[
                "3002",
                "Bilal",
                "GulfLog",
                "2026-11-13 06:10:00",
                "0",
                "Head Office",
                "CKUL201160123"
            ]
        )
    );
    // 23:45:00.4 rounds down, 08:59:59.7 up.
    assert_eq!(rows[7].1[3], "2026-11-13 23:45:00");
    assert_eq!(rows[8].1[3], "2026-11-13 09:00:00");
}

#[test]
fn bad_workbooks_are_refused_with_their_codes() {
    let expected: serde_json::Value =
        serde_json::from_slice(&fixture("bad/expected.json")).unwrap();
    let mut checked = 0;
    for (name, entry) in expected.as_object().unwrap() {
        let bytes = fixture(&format!("bad/{name}"));
        if sniff(&bytes).is_none() {
            continue; // a text input: crates/report's business
        }
        let problem = problem_of(bytes);
        assert_eq!(Some(problem.code()), entry["code"].as_str(), "{name}");
        assert_eq!(entry["status"], 422, "{name}");
        checked += 1;
    }
    assert_eq!(checked, 7);
}

#[test]
fn problems_speak_to_the_operator_and_keep_the_library_text_for_the_log() {
    let corrupt = problem_of(fixture("bad/corrupt.xlsx"));
    assert_eq!(corrupt.code(), "workbook_corrupt");
    assert!(corrupt.detail().is_some_and(|d| !d.is_empty()));
    assert!(!corrupt.to_string().contains(corrupt.detail().unwrap()));

    let encrypted = problem_of(fixture("bad/password-protected.xlsx"));
    assert_eq!(encrypted.code(), "workbook_encrypted");
    assert!(encrypted.to_string().contains("password"));
}

#[test]
fn anything_else_is_not_a_workbook() {
    for bytes in [
        Vec::new(),
        b"PK".to_vec(),
        fixture("basic.csv"),
        // An OLE2 header and nothing after it.
        OLE2_MAGIC.to_vec(),
        [OLE2_MAGIC, &[0u8; 600]].concat(),
        // A zip header and garbage.
        [ZIP_MAGIC, &[7u8; 100]].concat(),
    ] {
        assert_eq!(problem_of(bytes).code(), "workbook_corrupt");
    }
}

#[test]
fn shared_and_inline_strings_read_alike() {
    let mut shared = rust_xlsxwriter::Workbook::new();
    shared
        .add_worksheet()
        .write_string(0, 0, "AdvLine")
        .unwrap();
    let mut inline = rust_xlsxwriter::Workbook::new();
    inline
        .add_worksheet_with_constant_memory()
        .unwrap()
        .write_string(0, 0, "AdvLine")
        .unwrap();
    for bytes in [
        shared.save_to_buffer().unwrap(),
        inline.save_to_buffer().unwrap(),
    ] {
        let mut workbook = open(bytes).unwrap();
        assert_eq!(
            all_rows(&mut workbook, "Sheet1"),
            vec![row(1, &["AdvLine"])]
        );
    }
}

#[test]
fn an_xls_announcing_billions_of_rows_is_refused_before_loading() {
    let mut bytes = fixture("workbooks/biotime-transactions.xls");
    // The sheet's DIMENSIONS record (type 0x0200, 14 bytes): make its last row four billion.
    let at = bytes
        .windows(4)
        .position(|w| w == [0x00, 0x02, 0x0E, 0x00])
        .expect("a DIMENSIONS record");
    bytes[at + 8..at + 12].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    let problem = problem_of(bytes);
    assert_eq!(problem.code(), "workbook_too_large");
    assert!(problem.to_string().contains(".xlsx"));
}
