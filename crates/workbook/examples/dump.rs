//! Prints a workbook's worksheets and rows as the crate reads them:
//! `cargo run -p workbook --example dump -- FILE [SHEET]`.

use std::fs::File;
use std::io::BufReader;
use std::ops::ControlFlow;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: dump FILE [SHEET]");
        std::process::exit(2);
    };
    let sheet = args.next();
    let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut workbook = match workbook::Workbook::open(BufReader::new(file)) {
        Ok(w) => w,
        Err(problem) => {
            println!("{}: {problem} ({:?})", problem.code(), problem.detail());
            std::process::exit(1);
        }
    };
    println!(
        "format {:?}, 1904 dates {}, sheets {:?}",
        workbook.format(),
        workbook.uses_1904_dates(),
        workbook.sheet_names()
    );
    let sheets = match sheet {
        Some(s) => vec![s],
        None => workbook.sheet_names(),
    };
    for name in sheets {
        println!("== {name}");
        let result = workbook.rows(&name, |row, cells| {
            println!("{row}: {cells:?}");
            ControlFlow::Continue(())
        });
        if let Err(problem) = result {
            println!("{}: {problem} ({:?})", problem.code(), problem.detail());
        }
    }
}
