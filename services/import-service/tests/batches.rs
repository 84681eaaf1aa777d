//! A report longer than the batches it is written in (20,000 rows): punches repeated across
//! batches, punches an earlier import has, and ready messages that fill up across batches all
//! come out as they would for a small file.

mod common;

use std::collections::{BTreeMap, HashSet};

use chrono::{Duration, NaiveDate};
use common::Stack;
use reqwest::StatusCode;
use serde_json::Value;

const DAYS: i64 = 3_000;
/// Days of the report the earlier import has too.
const EARLIER: std::ops::Range<i64> = 1_500..1_511;
/// Its one employee-day with another check-in time.
const CONFLICT_DAY: i64 = 1_505;
/// Days whose rows the report repeats at its end, far from the first time.
const REPEATED: std::ops::Range<i64> = 0..5;

struct Employee {
    id: String,
    /// The id Bayzat receives.
    bayzat_id: String,
    department: String,
    company: String,
}

fn employees() -> Vec<Employee> {
    let directory: Value =
        serde_json::from_str(&std::fs::read_to_string(common::fixture("directory.json")).unwrap())
            .unwrap();
    let departments: BTreeMap<String, String> = directory["companies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["slug"].as_str().unwrap().to_owned(),
                c["fingerprint_report_names"][0]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    directory["employees"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["company"] != "dormant")
        .map(|e| {
            let company = e["company"].as_str().unwrap().to_owned();
            let id = e["employee_id"].as_str().unwrap().to_owned();
            Employee {
                bayzat_id: e["bayzat_emp_id"].as_str().unwrap_or(&id).to_owned(),
                id,
                department: departments[&company].clone(),
                company,
            }
        })
        .collect()
}

fn day(n: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2018, 1, 1).unwrap() + Duration::days(n)
}

/// The check-in and check-out of an employee on a day; None for an absence.
fn times(employee: usize, n: i64) -> Option<(String, String)> {
    if (n + employee as i64) % 23 == 0 {
        return None;
    }
    let minute = (n + employee as i64 * 7) % 60;
    Some((format!("08:{minute:02}"), format!("17:{minute:02}")))
}

/// A report line and the punches it gives as (company, Bayzat empId, "YYYY-MM-DD HH:MM:SS").
fn line(
    employee: &Employee,
    n: i64,
    times: Option<(String, String)>,
) -> (String, Vec<(String, String, String)>) {
    let date = day(n);
    let (check_in, check_out) = times.unwrap_or(("--".into(), "--".into()));
    let text = format!(
        "{},Name {},{},{date},{check_in},{check_out}\n",
        employee.id, employee.id, employee.department
    );
    let punches = [check_in, check_out]
        .into_iter()
        .filter(|t| t != "--")
        .map(|t| {
            (
                employee.company.clone(),
                employee.bayzat_id.clone(),
                format!("{date} {t}:00"),
            )
        })
        .collect();
    (text, punches)
}

const HEADER: &str = "Employee ID,First Name,Department,Date,Check In,Check Out\n";

#[tokio::test(flavor = "multi_thread")]
async fn a_report_of_several_batches_queues_each_new_punch_once_in_full_messages() {
    let employees = employees();
    let stack = Stack::start().await;
    let collector = stack.collector().await;

    // The earlier import: a few days of the report, one check-in at another time.
    let mut earlier = HEADER.to_owned();
    let mut known = HashSet::new();
    for n in EARLIER {
        for (index, employee) in employees.iter().enumerate() {
            let mut given = times(index, n);
            if n == CONFLICT_DAY && index == 0 {
                given = given.map(|(_, out)| ("07:00".to_owned(), out));
            }
            let (text, punches) = line(employee, n, given);
            earlier.push_str(&text);
            known.extend(punches);
        }
    }
    let (status, first) = stack.upload_bytes(earlier.into_bytes(), "").await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    collector.settle().await;
    let before = collector.ready_messages().len();

    // The report: every employee every day, then the first days again.
    let mut report = HEADER.to_owned();
    let (mut rows, mut absences, mut repeats, mut known_again) = (0, 0, 0, 0);
    let mut seen = HashSet::new();
    let mut new: BTreeMap<String, HashSet<(String, String)>> = BTreeMap::new();
    let days = (0..DAYS).chain(REPEATED);
    for n in days {
        for (index, employee) in employees.iter().enumerate() {
            let given = times(index, n);
            absences += usize::from(given.is_none());
            let (text, punches) = line(employee, n, given);
            report.push_str(&text);
            rows += 1;
            for punch in punches {
                if known.contains(&punch) {
                    known_again += 1;
                } else if !seen.insert(punch.clone()) {
                    repeats += 1;
                } else {
                    new.entry(punch.0.clone())
                        .or_default()
                        .insert((punch.1, punch.2));
                }
            }
        }
    }
    assert!(rows > 2 * 20_000, "the report spans three batches");
    let (status, import) = stack.upload_bytes(report.into_bytes(), "").await;
    assert_eq!(status, StatusCode::CREATED, "{import}");
    let count = |key: &str| import[key].as_u64().unwrap() as usize;
    let new_total: usize = new.values().map(HashSet::len).sum();
    assert_eq!(
        (
            count("total_records"),
            count("skipped_records"),
            count("punches_new"),
            count("duplicate_punches_in_file"),
            count("duplicate_punches_known"),
        ),
        (rows, absences, new_total, repeats, known_again)
    );

    let progress: BTreeMap<String, Value> = new
        .iter()
        .map(|(slug, punches)| (slug.clone(), serde_json::json!({ "queued": punches.len() })))
        .collect();
    assert_eq!(import["progress"], serde_json::json!(progress));

    collector.settle().await;
    let messages = collector.ready_messages().split_off(before);
    let mut queued: BTreeMap<String, HashSet<(String, String)>> = BTreeMap::new();
    let mut per_company: BTreeMap<String, usize> = BTreeMap::new();
    let mut ids = HashSet::new();
    let slugs: BTreeMap<i64, String> = {
        let mut slugs = BTreeMap::new();
        for slug in ["advline", "clarastars", "gulflog"] {
            slugs.insert(stack.company_id(slug).await, slug.to_owned());
        }
        slugs
    };
    for message in &messages {
        assert!(
            message.punches.len() <= 1000,
            "at most 1,000 punches a message"
        );
        let slug = slugs[&message.company_id.0].clone();
        *per_company.entry(slug.clone()).or_default() += 1;
        for punch in &message.punches {
            assert!(ids.insert(punch.punch_id), "each punch queued once");
            let record = serde_json::to_value(punch.bayzat_record()).unwrap();
            let key = (
                record["empId"].as_str().unwrap().to_owned(),
                record["time"].as_str().unwrap().to_owned(),
            );
            assert!(
                queued.entry(slug.clone()).or_default().insert(key),
                "each employee and time queued once"
            );
        }
    }
    assert_eq!(
        queued, new,
        "exactly the punches the earlier import did not have"
    );
    for (slug, punches) in &new {
        assert_eq!(
            per_company[slug],
            punches.len().div_ceil(1000),
            "{slug}: messages filled up to 1,000 across batches"
        );
    }

    // The employee-day the earlier import has with another check-in is flagged; both are kept.
    let (_, flagged) = stack
        .get(&format!(
            "/v1/imports/{}/rows?employee={}&from={day}&to={day}",
            import["id"],
            employees[0].id,
            day = day(CONFLICT_DAY)
        ))
        .await;
    let warnings: Vec<&str> = flagged["items"][0]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["code"].as_str())
        .collect();
    assert_eq!(warnings, ["conflicts_with_earlier_import"], "{flagged}");
}
