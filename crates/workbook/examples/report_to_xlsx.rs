//! Writes a daily report CSV as an .xlsx the way a clock's software exports one, for
//! `make bench-import`'s workbook run: one worksheet, the same rows in the same order, written
//! in constant memory so a million rows take seconds and little memory.
//!
//!     cargo run --release -p workbook --example report_to_xlsx -- report.csv report.xlsx
//!
//! Cells are typed as Excel would hold them: all-digit ids as numbers, ISO dates (`yyyy-mm-dd`)
//! as date cells and `hh:mm` times as time cells, each with its number format; anything else
//! (names, weekdays, `--` for a missing punch) as text. The CSV is the bench's own: one header
//! line, comma-separated cells, no quoting.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::time::Instant;

use chrono::NaiveDate;
use rust_xlsxwriter::{Format, Workbook};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [csv, xlsx] = &args[..] else {
        eprintln!("usage: report_to_xlsx REPORT.csv REPORT.xlsx");
        std::process::exit(2);
    };
    let started = Instant::now();
    let mut book = Workbook::new();
    let sheet = book
        .add_worksheet_with_constant_memory()
        .expect("a worksheet")
        .set_name("Report")
        .expect("a sheet name");
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let time = Format::new().set_num_format("hh:mm");
    // Day 0 of Excel's 1900 date system, as serial numbers count it (past its 1900 leap-day bug).
    let epoch = NaiveDate::from_ymd_opt(1899, 12, 30).expect("a date");
    let lines = BufReader::new(File::open(csv).expect("the CSV opens")).lines();
    let mut rows = 0u32;
    for (r, line) in lines.enumerate() {
        let line = line.expect("the CSV reads");
        let r = u32::try_from(r).expect("fewer rows than a worksheet holds");
        for (c, cell) in line.split(',').enumerate() {
            let c = u16::try_from(c).expect("a few columns");
            let written = if r == 0 {
                sheet.write_string(r, c, cell)
            } else if let Some(minutes) = hh_mm(cell) {
                sheet.write_number_with_format(r, c, f64::from(minutes) / 1440.0, &time)
            } else if let Ok(day) = NaiveDate::parse_from_str(cell, "%Y-%m-%d") {
                let serial = (day - epoch).num_days() as f64;
                sheet.write_number_with_format(r, c, serial, &date)
            } else if !cell.is_empty() && cell.bytes().all(|b| b.is_ascii_digit()) {
                sheet.write_number(r, c, cell.parse::<f64>().expect("digits"))
            } else {
                sheet.write_string(r, c, cell)
            };
            written.expect("the cell is written");
        }
        rows = r;
    }
    book.save(xlsx).expect("the workbook is saved");
    let size = std::fs::metadata(xlsx).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "wrote {rows} rows to {xlsx}: {:.1} MiB in {:.1?}",
        size as f64 / 1048576.0,
        started.elapsed()
    );
}

/// Minutes since midnight of an `hh:mm` time.
fn hh_mm(cell: &str) -> Option<u32> {
    let (h, m) = cell.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}
