//! An import of 100,000 rows, all of them in sync-service too: the console's pages page and
//! filter on the server, so each page is one page of rows whatever the import's size. Prints the
//! measured times (a measure, not an assertion).

mod common;

use std::fmt::Write;
use std::time::{Duration, Instant};

use auth::Role;
use common::*;

const EMPLOYEES: usize = 100;
const DAYS: usize = 1000;

#[tokio::test(flavor = "multi_thread")]
async fn pages_of_an_import_with_100000_rows_stay_fast() {
    let stack = Stack::start(Services::All).await;
    let operator = stack.api_token(Role::Admin);
    // Advline's sync is off: its 100,000 punches wait in sync-service as held deliveries, so the
    // pages read a full delivery table without the test waiting for Bayzat's pace.
    let response = stack
        .client
        .put(format!(
            "{}/v1/companies/advline/bayzat-config",
            stack.config_base
        ))
        .bearer_auth(&operator)
        .json(&serde_json::json!({ "is_enabled": false }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let employees: Vec<serde_json::Value> = (0..EMPLOYEES)
        .map(|i| serde_json::json!({ "employee_id": format!("{}", 7000 + i), "name": format!("Worker {i}") }))
        .collect();
    let response = stack
        .client
        .put(format!(
            "{}/v1/companies/advline/employees",
            stack.config_base
        ))
        .bearer_auth(&operator)
        .json(&serde_json::json!({ "employees": employees }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());

    let mut csv = String::from("Employee ID,First Name,Department,Date,Check In,Check Out\n");
    let first = chrono::NaiveDate::from_ymd_opt(2023, 1, 1).unwrap();
    for day in 0..DAYS {
        let date = first + chrono::Days::new(day as u64);
        for e in 0..EMPLOYEES {
            writeln!(
                csv,
                "{},Worker {e},AdvLine,{date},08:{:02},17:{:02}",
                7000 + e,
                e % 60,
                day % 60
            )
            .unwrap();
        }
    }
    let started = Instant::now();
    let response = stack
        .client
        .post(format!(
            "{}/v1/imports?filename=large.csv",
            stack.import_base
        ))
        .bearer_auth(&operator)
        .header("content-type", "text/csv")
        .body(csv)
        .timeout(Duration::from_secs(600))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let import: serde_json::Value = response.json().await.unwrap();
    println!(
        "import of {} rows: {:?}",
        EMPLOYEES * DAYS,
        started.elapsed()
    );
    assert_eq!(import["total_records"], (EMPLOYEES * DAYS) as i64);
    let id = import["id"].as_i64().unwrap();
    let sync_base = stack.sync.as_ref().unwrap().base_url();
    let stored = Instant::now();
    let held = test_support::eventually(Duration::from_secs(300), || async {
        let health: serde_json::Value = stack
            .client
            .get(format!("{sync_base}/v1/companies/advline/sync-health"))
            .bearer_auth(&operator)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or_default();
        health["counts"]["held"].as_i64() == Some((EMPLOYEES * DAYS * 2) as i64)
    })
    .await;
    assert!(held, "sync-service did not hold every punch");
    println!(
        "sync-service holding {} punches: {:?} after the import",
        EMPLOYEES * DAYS * 2,
        stored.elapsed()
    );

    let signed_in = stack
        .sign_in_http(&stack.login_token("measurer", Role::Operator, None))
        .await;
    let cookie = session_cookie(&signed_in).unwrap();
    let pages = [
        ("details, first page of rows", format!("/imports/{id}")),
        (
            "rows of one employee",
            format!("/imports/{id}?employee=7050"),
        ),
        (
            "rows of one month",
            format!("/imports/{id}?from=2024-02-01&to=2024-02-29"),
        ),
        (
            "invalid rows only",
            format!("/imports/{id}?outcome=invalid"),
        ),
        (
            "rows by delivery state",
            format!("/imports/{id}?delivery_state=failed"),
        ),
        ("last page of rows", format!("/imports/{id}?page=2000")),
        ("live progress", format!("/imports/{id}/live")),
        ("dashboard", "/".to_owned()),
    ];
    for (what, path) in pages {
        let mut times = Vec::new();
        let mut body = String::new();
        for _ in 0..3 {
            let started = Instant::now();
            let response = stack
                .client
                .get(format!("{}{path}", stack.console_base))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 200, "{path}");
            body = response.text().await.unwrap();
            times.push(started.elapsed());
        }
        times.sort();
        let median = times[1];
        println!(
            "{what} ({path}): median {median:?} of 3, {} bytes",
            body.len()
        );
        // sync-service is not running here: only its parts may be missing.
        for part in ["Records", "Progress", "Imports"] {
            assert!(
                !body.contains(&format!("Could not load {part}")),
                "{path}: {body}"
            );
        }
        // A page is one page of rows, never the import: its size does not grow with the import.
        assert!(body.len() < 200_000, "{path}: {} bytes", body.len());
        if path.ends_with("page=2000") {
            // The last 50 of the file's lines 2..=100001.
            assert!(
                body.contains(r#"data-line="99952""#) && body.contains(r#"data-line="100001""#)
            );
            assert!(!body.contains(r#"data-line="99951""#));
        }
    }

    // The CSV export of one employee's rows, streamed through the console.
    let started = Instant::now();
    let response = stack
        .client
        .get(format!(
            "{}/imports/{id}/rows.csv?employee=7050",
            stack.console_base
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains(&format!("import-{id}-rows.csv")));
    let csv = response.text().await.unwrap();
    println!("CSV export of 1,000 rows: {:?}", started.elapsed());
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("line,outcome,"));
    assert_eq!(lines.count(), DAYS);
}
