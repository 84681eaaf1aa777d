//! Time and peak memory of reading a large workbook, each step in its own process so the peak
//! is the reader's alone:
//!
//!     cargo run --release -p workbook --example measure -- write-xlsx /tmp/big.xlsx 1000000
//!     cargo run --release -p workbook --example measure -- read /tmp/big.xlsx
//!
//! The written sheet is a daily report: 7 columns (numeric id, name, department, date cell,
//! weekday, time cell, time cell). Peak memory is the process's VmHWM (Linux).

use std::fs::File;
use std::io::BufReader;
use std::ops::ControlFlow;
use std::time::Instant;

use rust_xlsxwriter::Format;

const NAMES: [&str; 5] = [
    "Ahmed Al Mansoori",
    "Fatima Khan",
    "Rajesh Nair",
    "Maria Santos",
    "Omar Haddad",
];
const DEPARTMENTS: [&str; 3] = ["AdvLine", "ClaraStars", "GulfLog"];
const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["write-xlsx", path, rows] => write_xlsx(path, rows.parse().expect("a row count")),
        ["read", path] => read(path),
        _ => {
            eprintln!("usage: measure write-xlsx PATH ROWS | measure read PATH");
            std::process::exit(2);
        }
    }
}

fn write_xlsx(path: &str, rows: u32) {
    let started = Instant::now();
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book
        .add_worksheet_with_constant_memory()
        .expect("a worksheet");
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let time = Format::new().set_num_format("hh:mm");
    for (c, title) in [
        "Employee ID",
        "Name",
        "Department",
        "Date",
        "Weekday",
        "Check In",
        "Check Out",
    ]
    .iter()
    .enumerate()
    {
        sheet.write_string(0, c as u16, *title).expect("header");
    }
    // 2000-01-01 in the 1900 date system.
    let first_serial = 36526.0;
    for r in 1..=rows {
        let i = r as usize;
        let day = f64::from(r / 1000);
        sheet
            .write_number(r, 0, f64::from(1000 + r % 1000))
            .unwrap();
        sheet.write_string(r, 1, NAMES[i % NAMES.len()]).unwrap();
        sheet
            .write_string(r, 2, DEPARTMENTS[i % DEPARTMENTS.len()])
            .unwrap();
        sheet
            .write_number_with_format(r, 3, first_serial + day, &date)
            .unwrap();
        sheet
            .write_string(r, 4, WEEKDAYS[(r / 1000) as usize % 7])
            .unwrap();
        sheet
            .write_number_with_format(r, 5, (8.0 * 60.0 + f64::from(r % 60)) / 1440.0, &time)
            .unwrap();
        sheet
            .write_number_with_format(r, 6, (17.0 * 60.0 + f64::from(r % 60)) / 1440.0, &time)
            .unwrap();
    }
    book.save(path).expect("saved");
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    println!(
        "wrote {rows} rows to {path}: {:.1} MiB in {:.1?}",
        size as f64 / 1048576.0,
        started.elapsed()
    );
}

fn read(path: &str) {
    let before = peak_kib();
    let started = Instant::now();
    let file = File::open(path).expect("the file opens");
    let mut workbook = match workbook::Workbook::open(BufReader::new(file)) {
        Ok(w) => w,
        Err(problem) => {
            println!(
                "{path}: {} ({:?}) after {:.1?}, peak memory {} KiB",
                problem.code(),
                problem.detail(),
                started.elapsed(),
                peak_kib()
            );
            return;
        }
    };
    let opened = started.elapsed();
    let after_open = peak_kib();
    let sheet = workbook.sheet_names().remove(0);
    let (mut rows, mut cells) = (0u64, 0u64);
    workbook
        .rows(&sheet, |_, row| {
            rows += 1;
            cells += row.len() as u64;
            ControlFlow::Continue(())
        })
        .expect("the sheet reads");
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    println!(
        "{path} ({:.1} MiB, {:?}): {rows} rows, {cells} cells; open {opened:.1?}, total {:.1?}; \
         peak memory {} KiB at start, {} KiB after open, {} KiB at end",
        size as f64 / 1048576.0,
        workbook.format(),
        started.elapsed(),
        before,
        after_open,
        peak_kib()
    );
}

fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}
