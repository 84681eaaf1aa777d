//! The shared acceptance fixtures: every report gives exactly its expected rows and punches, every
//! bad input its expected refusal or per-line outcomes, however the bytes are chunked.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use report::{
    export_cell, read_report, validate, DateOrderBasis, Directory, DirectoryCompany,
    DirectoryEmployee, FactsCollector, FileFacts, FileProblem, ImportSummary, ReadOptions,
    ReportRow, RowReader, ValidationOutcome,
};
use serde_json::{json, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/");

fn fixtures() -> PathBuf {
    PathBuf::from(FIXTURES)
}

fn now() -> DateTime<Utc> {
    "2026-11-24T12:00:00Z".parse().unwrap()
}

fn load_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// directory.json as a Directory: company ids 1..=4 in file order.
fn directory() -> (Directory, BTreeMap<i64, String>) {
    let json = load_json(&fixtures().join("directory.json"));
    let mut slugs = BTreeMap::new();
    let companies = json["companies"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, company)| {
            let id = i as i64 + 1;
            let slug = company["slug"].as_str().unwrap().to_owned();
            slugs.insert(id, slug.clone());
            DirectoryCompany {
                id,
                slug: slug.clone(),
                timezone: company["timezone"].as_str().unwrap().to_owned(),
                report_names: company["fingerprint_report_names"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| n.as_str().unwrap().to_owned())
                    .collect(),
                employees: json["employees"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|e| e["company"] == slug.as_str())
                    .map(|e| DirectoryEmployee {
                        employee_id: e["employee_id"].as_str().unwrap().to_owned(),
                        bayzat_emp_id: e["bayzat_emp_id"].as_str().map(str::to_owned),
                        active: e["active"].as_bool().unwrap_or(true),
                    })
                    .collect(),
            }
        })
        .collect();
    (Directory::new(companies).unwrap(), slugs)
}

type Read = Result<(FileFacts, Vec<ReportRow>), FileProblem>;

/// Both passes, each fed in the chunk sizes `next_size` gives.
fn read_chunked(bytes: &[u8], mut next_size: impl FnMut() -> usize) -> Read {
    let mut collector = FactsCollector::new(ReadOptions::default());
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = next_size().clamp(1, rest.len());
        collector.feed(&rest[..n]);
        rest = &rest[n..];
    }
    let facts = collector.finish()?;
    let mut reader = RowReader::new(&facts);
    let mut rows = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = next_size().clamp(1, rest.len());
        reader.feed(&rest[..n], &mut rows);
        rest = &rest[n..];
    }
    reader.finish(&mut rows);
    Ok((facts, rows))
}

fn report_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name != "README.md" && name != "directory.json"
        })
        .collect();
    files.sort();
    files
}

/// Workbooks (a zip or an OLE2 compound file) are read into cells by another crate before this one
/// sees them; the bad ones among the fixtures are that crate's to test.
fn is_workbook(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
        || bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1])
}

/// The text inputs of `bad/`.
fn bad_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(fixtures().join("bad"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "expected.json")
        .filter(|p| !is_workbook(&fs::read(p).unwrap()))
        .collect();
    files.sort();
    files
}

fn name_of(path: &Path) -> String {
    path.file_name().unwrap().to_str().unwrap().to_owned()
}

#[test]
fn every_report_gives_its_expected_punches() {
    let (directory, slugs) = directory();
    let files = report_files();
    assert_eq!(files.len(), 8, "{files:?}");
    for path in files {
        let name = name_of(&path);
        let stem = path.file_stem().unwrap().to_str().unwrap();
        let expected = load_json(&fixtures().join("expected").join(format!("{stem}.json")));
        let bytes = fs::read(&path).unwrap();
        let (_, rows) =
            read_report(&bytes, ReadOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));

        let mut summary = ImportSummary::new();
        let mut seen = HashSet::new();
        let mut duplicates = 0;
        let mut punches: BTreeMap<String, Vec<(String, String, String)>> = BTreeMap::new();
        for row in &rows {
            let result = validate(row, &directory, now());
            summary.add(&result);
            if result.outcome != ValidationOutcome::Valid {
                continue;
            }
            let company = result.company_id.unwrap();
            let emp_id = result.bayzat_emp_id.clone().unwrap();
            for punch in &result.punches {
                if !seen.insert((company, emp_id.clone(), punch.time)) {
                    duplicates += 1;
                    continue;
                }
                punches.entry(slugs[&company].clone()).or_default().push((
                    punch.time.to_string(),
                    emp_id.clone(),
                    punch.punch_type.to_string(),
                ));
            }
        }
        let punches: BTreeMap<String, Vec<Value>> = punches
            .into_iter()
            .map(|(slug, mut list)| {
                list.sort();
                let list = list
                    .into_iter()
                    .map(
                        |(time, emp_id, kind)| json!({"empId": emp_id, "type": kind, "time": time}),
                    )
                    .collect();
                (slug, list)
            })
            .collect();

        let got = json!({
            "rows": {
                "total": summary.total,
                "valid": summary.valid,
                "invalid": summary.invalid,
                "skipped": summary.skipped,
            },
            "unmapped_departments": summary.unmapped_departments().into_iter().map(|d| d.name).collect::<Vec<_>>(),
            "unknown_employees": summary.unknown_employees().into_iter().map(|d| d.name).collect::<Vec<_>>(),
            "duplicate_punches_in_file": duplicates,
            "punches": punches,
        });
        for key in [
            "rows",
            "unmapped_departments",
            "unknown_employees",
            "duplicate_punches_in_file",
            "punches",
        ] {
            assert_eq!(
                got[key], expected[key],
                "{name}: {key}\n got: {:#}\nwant: {:#}",
                got[key], expected[key]
            );
        }
    }
}

#[test]
fn every_bad_input_gives_its_expected_outcome() {
    let (directory, _) = directory();
    let expected = load_json(&fixtures().join("bad").join("expected.json"));
    let files = bad_files();
    let expected: serde_json::Map<String, Value> = expected
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| {
            let path = fixtures().join("bad").join(name);
            !fs::read(&path).is_ok_and(|bytes| is_workbook(&bytes))
        })
        .map(|(name, want)| (name.clone(), want.clone()))
        .collect();
    assert_eq!(files.len(), expected.len(), "{files:?}");
    for path in files {
        let name = name_of(&path);
        let want = &expected[&name];
        let bytes = fs::read(&path).unwrap();
        let read = read_report(&bytes, ReadOptions::default());
        if want["status"] == 422 {
            let problem = read.err().unwrap_or_else(|| panic!("{name}: accepted"));
            assert_eq!(problem.code(), want["code"], "{name}: {problem}");
            continue;
        }
        assert_eq!(want["status"], "2xx", "{name}");
        let (_, rows) = read.unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut summary = ImportSummary::new();
        let mut by_line = serde_json::Map::new();
        for row in &rows {
            let result = validate(row, &directory, now());
            summary.add(&result);
            let outcome = match result.outcome {
                ValidationOutcome::Invalid => {
                    let codes: Vec<&str> = result.errors.iter().map(|e| e.code.as_str()).collect();
                    assert_eq!(
                        codes.len(),
                        1,
                        "{name} line {}: {:?}",
                        row.line,
                        result.errors
                    );
                    codes[0].to_owned()
                }
                other => other.as_str().to_owned(),
            };
            by_line.insert(row.line.to_string(), Value::String(outcome));
        }
        let got = json!({
            "total": summary.total,
            "valid": summary.valid,
            "invalid": summary.invalid,
            "skipped": summary.skipped,
            "by_line": by_line,
        });
        assert_eq!(got, want["rows"], "{name}");
    }
}

#[test]
fn formula_cells_are_stored_as_they_are_and_exported_as_text() {
    let bytes = fs::read(fixtures().join("bad").join("formula-injection.csv")).unwrap();
    let (_, rows) = read_report(&bytes, ReadOptions::default()).unwrap();
    assert_eq!(rows[0].name, "=HYPERLINK(\"http://evil\")");
    assert_eq!(rows[0].raw[1], "=HYPERLINK(\"http://evil\")");
    assert_eq!(export_cell(&rows[0].raw[1]), "'=HYPERLINK(\"http://evil\")");
}

#[test]
fn file_facts_of_the_reports() {
    let cases = [
        ("basic.csv", "utf-8", false, "comma", 3, "daily", "dmy", 21),
        (
            "basic-overlap.csv",
            "utf-8",
            false,
            "comma",
            1,
            "daily",
            "dmy",
            6,
        ),
        (
            "overnight.csv",
            "utf-8",
            false,
            "comma",
            1,
            "daily",
            "dmy",
            5,
        ),
        (
            "transactions.csv",
            "utf-8",
            false,
            "comma",
            1,
            "transactions",
            "dmy",
            10,
        ),
        (
            "excel-unicode-text.txt",
            "utf-16le",
            true,
            "tab",
            1,
            "daily",
            "dmy",
            3,
        ),
        (
            "arabic-windows-1256.csv",
            "windows-1256",
            false,
            "semicolon",
            1,
            "daily",
            "dmy",
            3,
        ),
        (
            "month-first-dates.csv",
            "utf-8",
            false,
            "comma",
            1,
            "daily",
            "mdy",
            3,
        ),
        (
            "arabic-only-headers.csv",
            "utf-8",
            true,
            "comma",
            3,
            "daily",
            "dmy",
            7,
        ),
    ];
    for (name, encoding, bom, delimiter, header_line, kind, order, data_lines) in cases {
        let bytes = fs::read(fixtures().join(name)).unwrap();
        let (facts, rows) = read_report(&bytes, ReadOptions::default()).unwrap();
        let json = serde_json::to_value(&facts).unwrap();
        assert_eq!(json["encoding"], encoding, "{name}");
        assert_eq!(json["bom"], bom, "{name}");
        assert_eq!(json["delimiter"], delimiter, "{name}");
        assert_eq!(json["header_line"], header_line, "{name}");
        assert_eq!(json["kind"], kind, "{name}");
        assert_eq!(json["date_order"], order, "{name}");
        assert_eq!(facts.data_lines, data_lines, "{name}");
        assert_eq!(rows.len() as u64, data_lines, "{name}");
        assert_eq!(json["format"], "text", "{name}");
    }
    let bytes = fs::read(fixtures().join("arabic-only-headers.csv")).unwrap();
    let (facts, rows) = read_report(&bytes, ReadOptions::default()).unwrap();
    assert_eq!(facts.date_order_basis, DateOrderBasis::Weekday);
    assert_eq!(rows[1].employee_id.as_deref(), Some("0042"));
    assert_eq!(rows[1].raw[0], "٠٠٤٢");
    let summary = rows.last().unwrap();
    assert_eq!(summary.line, 11);
    assert!(summary.is_summary());
    assert_eq!(summary.warnings[0].code.as_str(), "summary_row");
    let bytes = fs::read(fixtures().join("excel-unicode-text.txt")).unwrap();
    let (_, rows) = read_report(&bytes, ReadOptions::default()).unwrap();
    assert_eq!(rows[1].name, "نورة السبيعي");
    let bytes = fs::read(fixtures().join("arabic-windows-1256.csv")).unwrap();
    let (_, rows) = read_report(&bytes, ReadOptions::default()).unwrap();
    assert_eq!(rows[0].name, "نورة السبيعي");
    assert_eq!(rows[1].name, "محمد العتيبي");
}

/// A small deterministic generator: the chunk sizes differ from run to run of the loop, not from
/// run to run of the test.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn chunk_boundaries_change_nothing() {
    let mut files = report_files();
    files.extend(bad_files());
    for path in files {
        let name = name_of(&path);
        let bytes = fs::read(&path).unwrap();
        let whole = read_report(&bytes, ReadOptions::default());
        let one_byte = read_chunked(&bytes, || 1);
        assert_eq!(one_byte, whole, "{name}: one byte at a time");
        for seed in 1..=20u64 {
            let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let max = [2, 3, 7, 64, 1000][seed as usize % 5];
            let random = read_chunked(&bytes, || (rng.next() % max) as usize + 1);
            assert_eq!(random, whole, "{name}: random chunks, seed {seed}");
        }
    }
}
