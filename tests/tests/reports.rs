//! Every fixture report (text reports and Excel workbooks) through the real binaries: Bayzat (the simulator) ends holding exactly the
//! punches the report's expected file lists, less those its keys do not know (rejected, and shown
//! so), less the disabled company's (held), and the hourly company's only after "sync now".

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bridge_tests::fixtures::{self, Punch};
use bridge_tests::{Role, Service, System};
use reqwest::Method;
use serde_json::Value;

const SETTLE: Duration = Duration::from_secs(60);

/// Imports `report` into a fresh system loaded with directory.json and checks where every punch
/// ends, through the simulator's ledger and the services' REST APIs.
async fn report_ends_as_expected(report: &str) {
    let system = System::start().await;
    let directory = system.directory().clone();
    let outcomes = fixtures::report_outcomes(&directory, report);
    let upload = system.upload_fixture(report, "").await;
    assert_eq!(upload.status, 201, "{report}: {upload}");
    let import_id = upload.body["id"].as_i64().expect("an import id");

    for (slug, outcome) in &outcomes {
        system.assert_outcome(slug, outcome, SETTLE).await;
    }
    let mut expected_progress = progress_of(&outcomes);
    wait_for_progress(&system, import_id, &expected_progress).await;

    // The rejected punches' rows are failed in the import, with Bayzat's reason.
    for (slug, outcome) in &outcomes {
        let failed = system
            .get(
                Service::Import,
                &format!("/v1/imports/{import_id}/rows?company={slug}&delivery_state=failed"),
            )
            .await;
        assert_eq!(failed.status, 200, "{failed}");
        let employees: BTreeSet<String> = failed.body["items"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|row| row["bayzat_emp_id"].as_str().unwrap_or("").to_owned())
            .collect();
        let rejected: BTreeSet<String> =
            outcome.rejected.iter().map(|p| p.emp_id.clone()).collect();
        assert_eq!(employees, rejected, "{report}: {slug}: failed rows");
    }

    // Held and scheduled punches never reached Bayzat; "sync now" sends the scheduled ones.
    for (slug, outcome) in &outcomes {
        if outcome.scheduled.is_empty() {
            continue;
        }
        let now = system
            .call(
                Method::POST,
                Service::Sync,
                &format!("/v1/companies/{slug}/sync-now"),
                Role::Operator,
                None,
            )
            .await;
        assert_eq!(now.status, 202, "{now}");
        assert_eq!(now.body["queued"], outcome.scheduled.len(), "{now}");
        let after = outcome.after_sync_now(directory.company(slug));
        system.assert_outcome(slug, &after, SETTLE).await;
        expected_progress.insert(slug.clone(), states_of(&after));
    }
    wait_for_progress(&system, import_id, &expected_progress).await;
    for (slug, outcome) in &outcomes {
        if !outcome.held.is_empty() {
            assert!(
                system.ledger_of(slug).await.is_empty(),
                "{slug} is disabled: nothing sent"
            );
        }
    }
    assert_bayzat_limits_kept(&system).await;
}

fn states_of(outcome: &fixtures::CompanyOutcome) -> BTreeMap<String, i64> {
    [
        ("delivered", outcome.delivered.len()),
        ("rejected", outcome.rejected.len()),
        ("held", outcome.held.len()),
        ("scheduled", outcome.scheduled.len()),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(s, n)| (s.to_owned(), n as i64))
    .collect()
}

fn progress_of(
    outcomes: &BTreeMap<String, fixtures::CompanyOutcome>,
) -> BTreeMap<String, BTreeMap<String, i64>> {
    outcomes
        .iter()
        .map(|(slug, outcome)| (slug.clone(), states_of(outcome)))
        .collect()
}

/// The import's own progress follows sync-service's status messages.
async fn wait_for_progress(
    system: &System,
    import_id: i64,
    expected: &BTreeMap<String, BTreeMap<String, i64>>,
) {
    bridge_tests::wait_for(SETTLE, "the import's progress", || async {
        let seen = system.import_progress(import_id).await;
        if seen == *expected {
            Ok(())
        } else {
            Err(format!("{seen:?}, expected {expected:?}"))
        }
    })
    .await;
}

/// No request over 20 records, none refused as a duplicate (nothing was sent twice).
async fn assert_bayzat_limits_kept(system: &System) {
    let stats = system.sim_stats().await;
    for (key, stats) in &stats.keys {
        assert!(stats.largest_request <= 20, "{key}: {stats:?}");
        assert_eq!(
            stats.bad_requests_by_reason.get("duplicate"),
            None,
            "{key}: a punch was sent again: {stats:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_csv() {
    report_ends_as_expected("basic.csv").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_overlap_csv() {
    report_ends_as_expected("basic-overlap.csv").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn overnight_csv() {
    report_ends_as_expected("overnight.csv").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn transactions_csv() {
    report_ends_as_expected("transactions.csv").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn excel_unicode_text() {
    report_ends_as_expected("excel-unicode-text.txt").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn arabic_windows_1256_csv() {
    report_ends_as_expected("arabic-windows-1256.csv").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn month_first_dates_csv() {
    report_ends_as_expected("month-first-dates.csv").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn arabic_only_headers_csv() {
    report_ends_as_expected("arabic-only-headers.csv").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn zktime_daily_xlsx() {
    report_ends_as_expected("workbooks/zktime-daily.xlsx").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mac_1904_xlsx() {
    report_ends_as_expected("workbooks/mac-1904.xlsx").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_sheets_xlsx() {
    report_ends_as_expected("workbooks/two-sheets.xlsx").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn biotime_transactions_xls() {
    report_ends_as_expected("workbooks/biotime-transactions.xls").await;
}

/// Every file of `bad/` is refused with its status and code, or accepted with its rows'
/// outcomes; none answers 5xx, and only the valid rows' punches reach Bayzat, once.
#[tokio::test(flavor = "multi_thread")]
async fn bad_files_are_refused_or_survived() {
    let system = System::start().await;
    let expected = fixtures::json("bad/expected.json");
    let mut names: Vec<&String> = expected.as_object().expect("files").keys().collect();
    names.sort();
    let mut accepted = Vec::new();
    for name in names {
        let expect = &expected[name.as_str()];
        let reply = system.upload_fixture(&format!("bad/{name}"), "").await;
        assert!(reply.status < 500, "{name}: {reply}");
        if expect["status"] == "2xx" {
            assert!((200..300).contains(&reply.status), "{name}: {reply}");
            let id = reply.body["id"].as_i64().expect("an import id");
            let rows = &expect["rows"];
            for (field, key) in [
                ("total_records", "total"),
                ("successful_records", "valid"),
                ("failed_records", "invalid"),
                ("skipped_records", "skipped"),
            ] {
                assert_eq!(reply.body[field], rows[key], "{name}: {field}");
            }
            let listed = system
                .get(Service::Import, &format!("/v1/imports/{id}/rows"))
                .await;
            let by_line: BTreeMap<String, String> = listed.body["items"]
                .as_array()
                .expect("rows")
                .iter()
                .map(|row| {
                    let outcome = match row["outcome"].as_str() {
                        Some("invalid") => row["errors"][0]["code"].as_str().unwrap_or(""),
                        other => other.unwrap_or(""),
                    };
                    (row["line"].to_string(), outcome.to_owned())
                })
                .collect();
            let expected_lines: BTreeMap<String, String> =
                serde_json::from_value(rows["by_line"].clone()).expect("by_line");
            assert_eq!(by_line, expected_lines, "{name}: rows by line");
            accepted.push(id);
        } else {
            assert_eq!(reply.status, expect["status"], "{name}: {reply}");
            assert_eq!(reply.body["code"], expect["code"], "{name}: {reply}");
        }
    }
    // Both accepted files hold the same valid day of 1001: Bayzat gets it once.
    let delivered: BTreeSet<Punch> = [
        Punch::new("1001", "checkIn", "2026-11-01 08:00:00"),
        Punch::new("1001", "checkOut", "2026-11-01 17:00:00"),
    ]
    .into();
    let outcome = fixtures::CompanyOutcome {
        delivered,
        ..Default::default()
    };
    system.assert_outcome("advline", &outcome, SETTLE).await;
    let imports = system.get(Service::Import, "/v1/imports").await;
    let statuses: Vec<&Value> = imports.body["items"]
        .as_array()
        .expect("imports")
        .iter()
        .map(|i| &i["status"])
        .collect();
    assert_eq!(
        statuses.len(),
        accepted.len(),
        "refused files store no import"
    );
    assert!(statuses.iter().all(|s| *s == "completed"), "{statuses:?}");
    assert_bayzat_limits_kept(&system).await;
}
