//! strict, hold + release, cancel, dry_run and reprocess, through the REST API and what reaches
//! the company queues; and the outbox across a broker outage.

mod common;

use std::time::Duration;

use auth::Role;
use common::{expected, Stack};
use reqwest::StatusCode;
use serde_json::json;
use test_support::eventually;

fn count(queued: &std::collections::BTreeMap<String, Vec<serde_json::Value>>) -> usize {
    queued.values().map(Vec::len).sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn strict_queues_nothing_while_rows_are_invalid_and_release_queues_the_valid_ones() {
    let stack = Stack::start().await;
    let collector = stack.collector().await;
    let (status, import) = stack.upload("basic.csv", "strict=true").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(import["held_reason"], "strict");
    let (queued, _) = collector.settle().await;
    assert_eq!(
        count(&queued),
        0,
        "strict with invalid rows: nothing queued"
    );
    let (_, rows) = stack
        .get(&format!(
            "/v1/imports/{}/rows?outcome=valid&per_page=1",
            import["id"]
        ))
        .await;
    assert_eq!(rows["items"][0]["queued"], false);

    let (status, released) = stack
        .post(&format!("/v1/imports/{}/release", import["id"]))
        .await;
    assert_eq!(status, StatusCode::OK, "{released}");
    assert_eq!(released["held_reason"], serde_json::Value::Null);
    let (queued, _) = collector.settle().await;
    let mut expect = expected("expected/basic.json")["punches"].clone();
    expect
        .as_object_mut()
        .unwrap()
        .retain(|_, r| !r.as_array().unwrap().is_empty());
    assert_eq!(json!(queued), expect);
    let (status, problem) = stack
        .post(&format!("/v1/imports/{}/release", import["id"]))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_held"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_import_waits_for_release_and_a_cancelled_one_never_goes() {
    let stack = Stack::start().await;
    let collector = stack.collector().await;
    let (status, held) = stack.upload("overnight.csv", "hold=true").await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    assert_eq!(held["held_reason"], "hold");
    let (_, read) = stack.get(&format!("/v1/imports/{}", held["id"])).await;
    assert_eq!(
        held["progress"], read["progress"],
        "the answer counts what was stored"
    );
    assert!(
        held["progress"]
            .as_object()
            .unwrap()
            .values()
            .all(|states| states.as_object().unwrap().keys().eq(["new"])),
        "held punches wait, new: {}",
        held["progress"]
    );
    let (status, cancelled) = stack
        .post(&format!("/v1/imports/{}/cancel", held["id"]))
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert!(cancelled["cancelled_at"].is_string());
    let (status, problem) = stack
        .post(&format!("/v1/imports/{}/release", held["id"]))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("import_cancelled"))
    );
    let (queued, cancellations) = collector.settle().await;
    assert_eq!(count(&queued), 0);
    assert!(
        cancellations.is_empty(),
        "nothing was queued, so sync-service has nothing to cancel"
    );

    assert!(
        cancelled["progress"]
            .as_object()
            .unwrap()
            .values()
            .all(|states| states.as_object().unwrap().keys().eq(["cancelled"])),
        "{}",
        cancelled["progress"]
    );

    // A queued import's cancel is announced to sync-service per company.
    let (status, queued_import) = stack.upload("basic.csv", "").await;
    assert_eq!(status, StatusCode::CREATED, "{queued_import}");
    let (_, read) = stack
        .get(&format!("/v1/imports/{}", queued_import["id"]))
        .await;
    assert_eq!(queued_import["progress"], read["progress"]);
    let (queued, _) = collector.settle().await;
    let mut expected_companies = Vec::new();
    for slug in queued.keys() {
        expected_companies.push(stack.company_id(slug).await);
    }
    expected_companies.sort();
    let (status, _) = stack
        .post(&format!("/v1/imports/{}/cancel", queued_import["id"]))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, cancellations) = collector.settle().await;
    let mut companies: Vec<i64> = cancellations.iter().map(|c| c.company_id.0).collect();
    companies.sort();
    assert_eq!(
        companies, expected_companies,
        "one cancel per company that had punches queued"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_reports_everything_and_stores_nothing() {
    let stack = Stack::start().await;
    let collector = stack.collector().await;
    let (status, report) = stack.upload("basic.csv", "dry_run=true").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["dry_run"], true);
    let rows = &expected("expected/basic.json")["rows"];
    assert_eq!(
        (
            report["rows"]["total"].clone(),
            report["rows"]["invalid"].clone()
        ),
        (rows["total"].clone(), rows["invalid"].clone())
    );
    assert_eq!(
        report["row_results"].as_array().unwrap().len(),
        rows["total"].as_u64().unwrap() as usize
    );
    let (_, imports) = stack.get("/v1/imports").await;
    assert_eq!(imports["total"], 0, "nothing stored");
    let (queued, _) = collector.settle().await;
    assert_eq!(count(&queued), 0);
    // A dry run does not count as an import of those bytes.
    let (status, _) = stack.upload("basic.csv", "").await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread")]
async fn reprocess_after_mapping_a_department_queues_the_newly_valid_rows_once() {
    let stack = Stack::start().await;
    let collector = stack.collector().await;
    let (_, import) = stack.upload("basic.csv", "").await;
    let (before, _) = collector.settle().await;
    let (_, unmapped) = stack
        .get(&format!(
            "/v1/imports/{}/rows?error=unmapped_department",
            import["id"]
        ))
        .await;
    let marketing_rows = unmapped["total"].as_i64().unwrap();
    assert!(marketing_rows > 0);

    // Map "Marketing Dept" to advline and add its employee to advline's directory.
    let admin = stack.token(Role::Admin);
    let add_name = stack
        .client
        .post(format!(
            "{}/v1/companies/advline/report-names",
            stack.config_base
        ))
        .bearer_auth(&admin)
        .json(&json!({ "name": "Marketing Dept" }))
        .send()
        .await
        .unwrap();
    assert_eq!(add_name.status(), StatusCode::CREATED);
    let employee_id = unmapped["items"][0]["raw"][0].as_str().unwrap().to_owned();
    let add_employee = stack
        .client
        .put(format!(
            "{}/v1/companies/advline/employees",
            stack.config_base
        ))
        .bearer_auth(&admin)
        .json(&json!({ "employees": [{ "employee_id": employee_id, "name": "Marketing Person" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(add_employee.status(), StatusCode::OK);

    let (status, reprocessed) = stack
        .post(&format!("/v1/imports/{}/reprocess", import["id"]))
        .await;
    assert_eq!(status, StatusCode::OK, "{reprocessed}");
    assert!(
        reprocessed["failed_records"].as_i64().unwrap()
            < import["failed_records"].as_i64().unwrap()
    );
    assert_eq!(reprocessed["unmapped_departments"], json!([]));
    let (after, _) = collector.settle().await;
    let added: Vec<&serde_json::Value> = after["advline"]
        .iter()
        .filter(|r| !before["advline"].contains(r))
        .collect();
    assert!(!added.is_empty(), "the Marketing rows' punches were queued");
    assert!(
        added
            .iter()
            .all(|r| r["empId"] == employee_id.trim_start_matches('0')),
        "{added:?}"
    );
    assert_eq!(
        after["advline"].len(),
        before["advline"].len() + added.len(),
        "nothing queued twice"
    );

    // Again: nothing left to queue.
    let (status, _) = stack
        .post(&format!("/v1/imports/{}/reprocess", import["id"]))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (again, _) = collector.settle().await;
    assert_eq!(again["advline"].len(), after["advline"].len());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_completes_while_the_broker_is_away_and_its_messages_go_out_when_it_is_back() {
    let stack = Stack::start_with(true).await;
    let proxy = stack.amqp_proxy.as_ref().unwrap();
    proxy.cut();
    let (status, import) = stack.upload("overnight.csv", "").await;
    assert_eq!(status, StatusCode::CREATED, "{import}");
    assert_eq!(import["status"], "completed");
    let collector = stack.collector().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (queued, _) = collector.settle().await;
    assert_eq!(
        count(&queued),
        0,
        "nothing can go out while the broker is away"
    );
    proxy.restore();
    let mut expect = expected("expected/overnight.json")["punches"].clone();
    expect
        .as_object_mut()
        .unwrap()
        .retain(|_, r| !r.as_array().unwrap().is_empty());
    assert!(
        eventually(Duration::from_secs(30), || async {
            json!(collector.settle().await.0) == expect
        })
        .await
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn exported_rows_escape_formula_cells() {
    let stack = Stack::start().await;
    let (status, import) = stack.upload("bad/formula-injection.csv", "").await;
    assert_eq!(status, StatusCode::CREATED);
    let response = stack
        .client
        .get(format!(
            "{}/v1/imports/{}/rows.csv",
            stack.import_base, import["id"]
        ))
        .bearer_auth(stack.token(Role::Viewer))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    for record in reader.records() {
        for cell in record.unwrap().iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@']),
                "unescaped formula cell {cell:?} in\n{text}"
            );
        }
    }
    assert!(text.contains("'="), "the formula is kept, as text: {text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_need_an_operator_and_reads_a_viewer() {
    let stack = Stack::start().await;
    let upload = |token: Option<String>| {
        let mut request = stack
            .client
            .post(format!("{}/v1/imports", stack.import_base))
            .body("x");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    assert_eq!(
        upload(None).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        upload(Some(stack.token(Role::Viewer)))
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        upload(Some(stack.token(Role::Service)))
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    let (status, _) = stack.get("/v1/imports").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_employee_day_imported_before_with_other_times_is_flagged_and_both_are_kept() {
    let stack = Stack::start().await;
    let (_, first) = stack.upload("overnight.csv", "").await;
    let (status, second) = stack.upload("basic.csv", "").await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let (_, rows) = stack
        .get(&format!("/v1/imports/{}/rows?per_page=500", second["id"]))
        .await;
    let flagged: Vec<&serde_json::Value> = rows["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w["code"] == "conflicts_with_earlier_import")
        })
        .collect();
    assert!(
        !flagged.is_empty(),
        "some employee-days of basic.csv were in overnight.csv with other times"
    );
    assert!(
        flagged.iter().all(|r| r["outcome"] == "valid"),
        "a warning does not block"
    );
    assert!(
        second["punches_new"].as_i64().unwrap() > 0 && first["punches_new"].as_i64().unwrap() > 0,
        "both are kept"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reprocess_recognises_the_punches_the_import_already_holds() {
    let stack = Stack::start().await;
    let collector = stack.collector().await;
    let report = "Employee ID,First Name,Department,Date,Check In,Check Out\n\
                  1001,Ahmed,AdvLine,2026-11-10,08:00,17:00\n\
                  1001,Ahmed,AdvLine Annex,2026-11-10,08:00,17:00\n\
                  1001,Ahmed,AdvLine Annex,2026-11-11,08:05,17:05\n";
    let (status, import) = stack.upload_bytes(report.as_bytes().to_vec(), "").await;
    assert_eq!(status, StatusCode::CREATED, "{import}");
    assert_eq!(
        (
            import["successful_records"].clone(),
            import["failed_records"].clone()
        ),
        (json!(1), json!(2))
    );
    let admin = stack.token(Role::Admin);
    let add_name = stack
        .client
        .post(format!(
            "{}/v1/companies/advline/report-names",
            stack.config_base
        ))
        .bearer_auth(&admin)
        .json(&json!({ "name": "AdvLine Annex" }))
        .send()
        .await
        .unwrap();
    assert_eq!(add_name.status(), StatusCode::CREATED);

    let (status, reprocessed) = stack
        .post(&format!("/v1/imports/{}/reprocess", import["id"]))
        .await;
    assert_eq!(status, StatusCode::OK, "{reprocessed}");
    assert_eq!(
        (
            reprocessed["failed_records"].clone(),
            reprocessed["punches_new"].clone(),
            reprocessed["duplicate_punches_in_file"].clone()
        ),
        (json!(0), json!(4), json!(2)),
        "the annex's first day repeats the punches the import already holds"
    );
    let (queued, _) = collector.settle().await;
    let times: Vec<&str> = queued["advline"]
        .iter()
        .map(|r| r["time"].as_str().unwrap())
        .collect();
    assert_eq!(
        times,
        [
            "2026-11-10 08:00:00",
            "2026-11-10 17:00:00",
            "2026-11-11 08:05:00",
            "2026-11-11 17:05:00"
        ],
        "each punch queued once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_imports_and_rows_by_outcome() {
    let stack = Stack::start().await;
    let (status, _) = stack.upload("basic.csv", "").await;
    assert_eq!(status, StatusCode::CREATED);
    let metrics = stack
        .client
        .get(format!("{}/metrics", stack.import_base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The value of the series with that name and label, whatever the labels' order.
    let value = |name: &str, label: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
            .and_then(|l| l.rsplit(' ').next())
            .map(str::to_owned)
    };
    for (name, label, expected) in [
        ("bridge_imports_total", "status=\"completed\"", "1"),
        ("bridge_imports_total", "status=\"failed\"", "0"),
        ("bridge_import_rows_total", "outcome=\"valid\"", "18"),
        ("bridge_import_rows_total", "outcome=\"invalid\"", "2"),
        ("bridge_import_rows_total", "outcome=\"skipped\"", "1"),
    ] {
        assert_eq!(
            value(name, label).as_deref(),
            Some(expected),
            "{name} {label} in {metrics}"
        );
    }
}
