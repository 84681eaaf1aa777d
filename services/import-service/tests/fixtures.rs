//! The acceptance data of tests/fixtures through the real upload API: each report gives
//! exactly its expected rows, problems and queued punches; each bad file its status and code.

mod common;

use common::{expected, Stack};
use reqwest::StatusCode;
use serde_json::{json, Value};

const REPORTS: [&str; 12] = [
    "basic.csv",
    "basic-overlap.csv",
    "overnight.csv",
    "transactions.csv",
    "excel-unicode-text.txt",
    "arabic-windows-1256.csv",
    "month-first-dates.csv",
    "arabic-only-headers.csv",
    "workbooks/zktime-daily.xlsx",
    "workbooks/mac-1904.xlsx",
    "workbooks/two-sheets.xlsx",
    "workbooks/biotime-transactions.xls",
];

/// `expected/<name>.json` of a report, whatever folder it is in.
fn expected_of(report: &str) -> Value {
    let file = report.rsplit_once('/').map_or(report, |(_, file)| file);
    expected(&format!(
        "expected/{}.json",
        file.rsplit_once('.').unwrap().0
    ))
}

fn names(list: &Value, key: &str) -> Vec<String> {
    let mut names: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v[key].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

fn expected_punches(expect: &Value) -> Value {
    let mut punches = expect["punches"].clone();
    // Companies with nothing queued do not appear.
    punches
        .as_object_mut()
        .unwrap()
        .retain(|_, records| !records.as_array().unwrap().is_empty());
    punches
}

#[tokio::test(flavor = "multi_thread")]
async fn every_fixture_report_gives_its_expected_rows_problems_and_punches() {
    for name in REPORTS {
        // Each report into an empty system, as its expected file describes.
        let stack = Stack::start().await;
        let collector = stack.collector().await;
        let expect = expected_of(name);
        let (status, import) = stack.upload(name, "").await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {import}");
        assert_eq!(import["status"], "completed", "{name}");
        let rows = &expect["rows"];
        assert_eq!(
            (
                import["total_records"].clone(),
                import["successful_records"].clone(),
                import["failed_records"].clone(),
                import["skipped_records"].clone()
            ),
            (
                rows["total"].clone(),
                rows["valid"].clone(),
                rows["invalid"].clone(),
                rows["skipped"].clone()
            ),
            "{name}: row counts"
        );
        let mut unmapped: Vec<String> = expect["unmapped_departments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        unmapped.sort();
        assert_eq!(
            names(&import["unmapped_departments"], "name"),
            unmapped,
            "{name}: unmapped departments"
        );
        let mut unknown: Vec<String> = expect["unknown_employees"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        unknown.sort();
        assert_eq!(
            names(&import["unknown_employees"], "employee_id"),
            unknown,
            "{name}: unknown employees"
        );
        assert_eq!(
            import["duplicate_punches_in_file"], expect["duplicate_punches_in_file"],
            "{name}: in-file duplicates"
        );
        let (queued, _) = collector.settle().await;
        assert_eq!(
            json!(queued),
            expected_punches(&expect),
            "{name}: punches queued per company"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_next_export_queues_only_what_is_new() {
    let stack = Stack::start().await;
    let collector = stack.collector().await;
    let (status, _) = stack.upload("basic.csv", "").await;
    assert_eq!(status, StatusCode::CREATED);
    let (first, _) = collector.settle().await;
    let (status, overlap) = stack.upload("basic-overlap.csv", "").await;
    assert_eq!(status, StatusCode::CREATED, "{overlap}");
    let (both, _) = collector.settle().await;
    let mut new: serde_json::Map<String, Value> = serde_json::Map::new();
    for (slug, records) in &both {
        let before = first.get(slug).cloned().unwrap_or_default();
        let added: Vec<Value> = records
            .iter()
            .filter(|r| !before.contains(r))
            .cloned()
            .collect();
        assert_eq!(
            records.len(),
            before.len() + added.len(),
            "{slug}: nothing queued twice"
        );
        if !added.is_empty() {
            new.insert(slug.clone(), json!(added));
        }
    }
    let mut expect = expected("expected/basic-overlap.json")["new_after_basic"].clone();
    expect
        .as_object_mut()
        .unwrap()
        .retain(|_, records| !records.as_array().unwrap().is_empty());
    assert_eq!(Value::Object(new), expect);
    assert!(
        overlap["duplicate_punches_known"].as_i64().unwrap() > 0,
        "the overlap is recorded as known"
    );
    let (_, known_rows) = stack
        .get(&format!(
            "/v1/imports/{}/rows?delivery_state=skipped&outcome=valid",
            overlap["id"]
        ))
        .await;
    assert!(
        known_rows["total"].as_i64().unwrap() > 0,
        "rows whose punches were all known show skipped"
    );
}

/// (company, empId, time) of each record.
fn keys(punches: &serde_json::Map<String, Value>) -> Vec<(String, String, String)> {
    let mut keys: Vec<(String, String, String)> = punches
        .iter()
        .flat_map(|(slug, records)| {
            records.as_array().unwrap().iter().map(move |r| {
                (
                    slug.clone(),
                    r["empId"].as_str().unwrap().to_owned(),
                    r["time"].as_str().unwrap().to_owned(),
                )
            })
        })
        .collect();
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread")]
async fn overlapping_reports_uploaded_at_once_queue_each_punch_once() {
    let stack = Stack::start().await;
    let collector = stack.collector().await;
    let ((first_status, first), (second_status, second)) = tokio::join!(
        stack.upload("basic.csv", ""),
        stack.upload("basic-overlap.csv", "")
    );
    assert_eq!(first_status, StatusCode::CREATED, "{first}");
    assert_eq!(second_status, StatusCode::CREATED, "{second}");
    let (queued, _) = collector.settle().await;
    let queued = keys(
        &serde_json::to_value(queued)
            .unwrap()
            .as_object()
            .unwrap()
            .clone(),
    );
    let mut unique = queued.clone();
    unique.dedup();
    assert_eq!(queued, unique, "no punch queued twice");
    let mut both = keys(
        expected("expected/basic.json")["punches"]
            .as_object()
            .unwrap(),
    );
    both.extend(keys(
        expected("expected/basic-overlap.json")["punches"]
            .as_object()
            .unwrap(),
    ));
    both.sort();
    both.dedup();
    assert_eq!(queued, both, "every punch of either report, once");
    assert!(
        first["duplicate_punches_known"].as_i64().unwrap()
            + second["duplicate_punches_known"].as_i64().unwrap()
            > 0,
        "whichever came second found the other's punches known"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_bytes_return_the_earlier_import_unless_forced() {
    let stack = Stack::start().await;
    let (_, first) = stack.upload("basic.csv", "").await;
    let (status, again) = stack.upload("basic.csv", "").await;
    assert_eq!(
        (status, again["id"].clone(), again["reused"].clone()),
        (StatusCode::OK, first["id"].clone(), json!(true))
    );
    let (status, forced) = stack.upload("basic.csv", "force=true").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(forced["id"], first["id"]);
    assert_eq!(
        forced["punches_new"], 0,
        "a forced re-import queues nothing twice"
    );
    assert!(forced["duplicate_punches_known"].as_i64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_files_are_refused_with_their_code_or_survived_row_by_row() {
    let stack = Stack::start().await;
    let cases = expected("bad/expected.json");
    for (name, case) in cases.as_object().unwrap() {
        let (status, body) = stack.upload(&format!("bad/{name}"), "").await;
        assert!(!status.is_server_error(), "{name}: {status} {body}");
        if case["status"] == "2xx" {
            assert!(status.is_success(), "{name}: {status} {body}");
            let rows = &case["rows"];
            assert_eq!(
                (
                    body["total_records"].clone(),
                    body["successful_records"].clone(),
                    body["failed_records"].clone(),
                    body["skipped_records"].clone()
                ),
                (
                    rows["total"].clone(),
                    rows["valid"].clone(),
                    rows["invalid"].clone(),
                    rows["skipped"].clone()
                ),
                "{name}"
            );
            let (_, listed) = stack
                .get(&format!("/v1/imports/{}/rows?per_page=500", body["id"]))
                .await;
            for (line, outcome) in rows["by_line"].as_object().unwrap() {
                let row = listed["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|r| {
                        r["line"].as_u64().map(|l| l.to_string()).as_deref() == Some(line.as_str())
                    })
                    .unwrap_or_else(|| panic!("{name}: line {line}"));
                let codes: Vec<&str> = row["errors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|e| e["code"].as_str())
                    .collect();
                let ok = row["outcome"] == *outcome || codes.contains(&outcome.as_str().unwrap());
                assert!(ok, "{name} line {line}: expected {outcome}, got {row}");
            }
        } else {
            assert_eq!(
                status.as_u16() as u64,
                case["status"].as_u64().unwrap(),
                "{name}: {body}"
            );
            assert_eq!(body["code"], case["code"], "{name}: {body}");
            assert!(body["detail"].is_string(), "{name}: the problem is named");
        }
    }
    let (_, imports) = stack.get("/v1/imports?per_page=100").await;
    let accepted = cases
        .as_object()
        .unwrap()
        .values()
        .filter(|case| case["status"] == "2xx")
        .count();
    let imports = imports["items"].as_array().unwrap();
    assert_eq!(imports.len(), accepted, "a refused file stores no import");
    for import in imports {
        assert_eq!(
            import["status"], "completed",
            "nothing half-stored: {import}"
        );
    }
    // Only the accepted reports are kept: no refused upload's bytes are left behind.
    let mut kept: Vec<String> = std::fs::read_dir(&stack.storage)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    kept.sort();
    assert_eq!(kept.len(), accepted, "{kept:?}");
    assert!(kept.iter().all(|name| name.ends_with(".csv")), "{kept:?}");
}
