//! strict, hold + release, cancel, dry_run and reprocess, through the REST API and what reaches
//! the company queues; the outbox across a broker outage; the rows export.

mod common;

use std::time::Duration;

use auth::{Claims, Role};
use common::{expected, Stack};
use diesel_async::{AsyncConnection, RunQueryDsl};
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
    stack
        .add_employee("advline", &employee_id, "Marketing Person")
        .await;

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
    stack.publish_refused().await;
    let (queued, _) = collector.received();
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

/// What the rows export answered: its status and headers, and its records (the header first).
struct Exported {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    records: Vec<csv::StringRecord>,
}

impl Exported {
    /// The data rows' values in the column named `name`.
    fn column(&self, name: &str) -> Vec<String> {
        let index = self.records[0].iter().position(|h| h == name).unwrap();
        self.records[1..]
            .iter()
            .map(|r| r.get(index).unwrap_or("").to_owned())
            .collect()
    }
}

/// The rows export (with `query`) as a viewer, limited to `companies` when given.
async fn export(
    stack: &Stack,
    import_id: &serde_json::Value,
    query: &str,
    companies: Option<&[&str]>,
) -> Exported {
    let mut claims = Claims::new("export-reader", Role::Viewer, chrono::Duration::minutes(10));
    if let Some(companies) = companies {
        claims = claims.with_companies(companies.iter().copied());
    }
    let response = stack
        .client
        .get(format!(
            "{}/v1/imports/{import_id}/rows.csv?{query}",
            stack.import_base
        ))
        .bearer_auth(stack.keys.mint(&claims))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("the export ends complete");
    let records = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(body.as_ref())
        .records()
        .map(Result::unwrap)
        .collect();
    Exported {
        status,
        headers,
        records,
    }
}

/// A report of `rows` rows: a third AdvLine's, a third ClaraStars', a third of a department no
/// company claims.
fn three_way_report(rows: u32) -> Vec<u8> {
    let mut report = String::from("Employee ID,First Name,Department,Date,Check In,Check Out\n");
    let day = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
    for i in 0..rows {
        let (id, department) = match i % 3 {
            0 => (1001 + i % 4, "AdvLine"),
            1 => (2001 + i % 3, "ClaraStars"),
            _ => (7001, "Nowhere Dept"),
        };
        let date = day + chrono::Days::new(u64::from(i / 3 % 300));
        report.push_str(&format!(
            "{id},Person {id},{department},{date},08:{:02},17:00\n",
            i % 60
        ));
    }
    report.into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_export_streams_every_row_in_line_order_and_only_the_tokens_companies() {
    let stack = Stack::start().await;
    let (status, import) = stack.upload_bytes(three_way_report(20_000), "").await;
    assert_eq!(status, StatusCode::CREATED, "{import}");
    assert_eq!(import["total_records"], 20_000);

    let everything = export(&stack, &import["id"], "", None).await;
    assert_eq!(everything.status, StatusCode::OK);
    assert_eq!(
        everything.headers["content-type"], "text/csv; charset=utf-8",
        "{:?}",
        everything.headers
    );
    assert_eq!(
        everything.headers["content-disposition"],
        format!("attachment; filename=\"import-{}-rows.csv\"", import["id"]).as_str()
    );
    assert!(
        everything.headers.get("content-length").is_none(),
        "streamed, not built whole first: {:?}",
        everything.headers
    );
    let lines: Vec<u32> = everything
        .column("line")
        .iter()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(
        lines,
        (2..=20_001).collect::<Vec<u32>>(),
        "every row once, in line order"
    );
    assert_eq!(
        &everything.records[0].iter().collect::<Vec<_>>()[10..],
        [
            "delivery_state",
            "delivery_detail",
            "Employee ID",
            "First Name",
            "Department",
            "Date",
            "Check In",
            "Check Out"
        ]
    );

    // A token limited to advline gets advline's rows only: not ClaraStars', and not the rows of no
    // company (it did not upload the import).
    let advline = stack.company_id("advline").await.to_string();
    let limited = export(&stack, &import["id"], "", Some(&["advline"])).await;
    assert_eq!(limited.status, StatusCode::OK);
    let companies = limited.column("company_id");
    assert_eq!(companies.len(), 6_667, "every third row, from the first");
    assert!(companies.iter().all(|c| *c == advline), "{companies:?}");
    let lines: Vec<u32> = limited
        .column("line")
        .iter()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(lines, (2..=20_001).step_by(3).collect::<Vec<u32>>());
    // Filters still apply, across pages.
    let filtered = export(&stack, &import["id"], "outcome=invalid", None).await;
    assert_eq!(filtered.records.len() - 1, 6_666);
    assert!(filtered
        .column("department")
        .iter()
        .all(|d| d == "Nowhere Dept"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_export_that_fails_part_way_ends_its_body_with_an_error_not_a_short_file() {
    let stack = Stack::start().await;
    let (status, import) = stack.upload_bytes(three_way_report(6_000), "").await;
    assert_eq!(status, StatusCode::CREATED, "{import}");
    // A row of the second page the export cannot read.
    let mut conn = diesel_async::AsyncPgConnection::establish(stack.env.db.url())
        .await
        .unwrap();
    diesel::sql_query(
        "UPDATE import.import_rows SET known_punch_ids = ARRAY[NULL]::bigint[] WHERE line = 5500",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let mut response = stack
        .client
        .get(format!(
            "{}/v1/imports/{}/rows.csv",
            stack.import_base, import["id"]
        ))
        .bearer_auth(stack.token(Role::Viewer))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "the first page was read");
    let mut received = Vec::new();
    let ended = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => received.extend_from_slice(&chunk),
            Ok(None) => break Ok(()),
            Err(error) => break Err(error),
        }
    };
    assert!(
        ended.is_err(),
        "the body must not end as if complete: {} bytes",
        received.len()
    );
    let lines = csv::ReaderBuilder::new()
        .from_reader(received.as_slice())
        .records()
        .filter_map(Result::ok)
        .count();
    assert_eq!(lines, 5_000, "the first page went out whole");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_export_shows_the_delivery_states_the_rows_list_shows() {
    let stack = Stack::start().await;
    let (status, import) = stack.upload("basic.csv", "").await;
    assert_eq!(status, StatusCode::CREATED);
    // What sync-service could have reported of the punches, a mix within rows.
    let mut conn = diesel_async::AsyncPgConnection::establish(stack.env.db.url())
        .await
        .unwrap();
    diesel::sql_query(
        "UPDATE import.punches SET \
           state = (ARRAY['failed', 'sending', 'delivered', 'cancelled', 'retry_wait', 'rejected'])[(id % 6)::int + 1], \
           error = CASE WHEN id % 6 IN (0, 5) THEN 'Bayzat said no to ' || (id % 4) END",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let (_, listed) = stack
        .get(&format!("/v1/imports/{}/rows?per_page=500", import["id"]))
        .await;
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_owned();
    let from_list: Vec<(String, String, String)> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].to_string(),
                text(&r["delivery_state"]),
                text(&r["delivery_detail"]),
            )
        })
        .collect();
    let exported = export(&stack, &import["id"], "", None).await;
    let from_export: Vec<(String, String, String)> = exported
        .column("line")
        .into_iter()
        .zip(exported.column("delivery_state"))
        .zip(exported.column("delivery_detail"))
        .map(|((line, state), detail)| (line, state, detail))
        .collect();
    assert_eq!(from_export, from_list);
    let shown: std::collections::BTreeSet<&str> = from_list
        .iter()
        .map(|(_, state, _)| state.as_str())
        .collect();
    assert_eq!(
        shown,
        ["", "failed", "pending", "skipped", "synced", "syncing"].into(),
        "every state is compared"
    );
    for state in ["failed", "syncing", "pending", "synced", "skipped"] {
        let (_, listed) = stack
            .get(&format!(
                "/v1/imports/{}/rows?per_page=500&delivery_state={state}",
                import["id"]
            ))
            .await;
        let lines: Vec<String> = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["line"].to_string())
            .collect();
        let exported = export(
            &stack,
            &import["id"],
            &format!("delivery_state={state}"),
            None,
        )
        .await;
        assert_eq!(exported.column("line"), lines, "{state}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_with_fewer_or_more_cells_than_the_header_are_exported_as_they_were() {
    let stack = Stack::start().await;
    let report = "Employee ID,First Name,Department,Date,Check In,Check Out\n\
                  1001,Ahmed,AdvLine,2026-11-01,08:58,17:02\n\
                  1002,Fatima,AdvLine,2026-11-01\n\
                  1003,Rajesh,AdvLine,2026-11-01,08:30,17:30,late,again\n";
    let (status, import) = stack.upload_bytes(report.into(), "").await;
    assert_eq!(status, StatusCode::CREATED, "{import}");
    let exported = export(&stack, &import["id"], "", None).await;
    assert_eq!(exported.status, StatusCode::OK);
    let widths: Vec<usize> = exported
        .records
        .iter()
        .map(csv::StringRecord::len)
        .collect();
    assert_eq!(widths, [18, 18, 16, 20]);
    assert_eq!(
        exported.records[3].iter().skip(18).collect::<Vec<_>>(),
        ["late", "again"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unmapped_departments_are_listed_once_however_they_are_spelt() {
    let stack = Stack::start().await;
    let report = "Employee ID,First Name,Department,Date,Check In,Check Out\n\
                  5001,Layla,Marketing Dept,2026-11-01,09:00,17:00\n\
                  5001,Layla,marketing  dept,2026-11-02,09:00,17:00\n\
                  5001,Layla,MARKETING DEPT,2026-11-03,09:00,17:00\n\
                  6001,Nabil,Sales,2026-11-01,09:00,17:00\n";
    let listed = json!([
        { "name": "Marketing Dept", "rows": 3 },
        { "name": "Sales", "rows": 1 },
    ]);
    let (status, dry_run) = stack.upload_bytes(report.into(), "dry_run=true").await;
    assert_eq!(status, StatusCode::OK, "{dry_run}");
    assert_eq!(dry_run["unmapped_departments"], listed);
    assert_eq!(
        dry_run["rows"]["unmapped_departments"],
        json!({ "Marketing Dept": 3, "Sales": 1 })
    );
    let (status, import) = stack.upload_bytes(report.into(), "").await;
    assert_eq!(status, StatusCode::CREATED, "{import}");
    assert_eq!(import["unmapped_departments"], listed);

    // The one name shown is the one to map: it covers every spelling.
    let admin = stack.token(Role::Admin);
    let added = stack
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
    assert_eq!(added.status(), StatusCode::CREATED);
    stack.add_employee("advline", "5001", "Layla").await;
    let (status, reprocessed) = stack
        .post(&format!("/v1/imports/{}/reprocess", import["id"]))
        .await;
    assert_eq!(status, StatusCode::OK, "{reprocessed}");
    assert_eq!(reprocessed["successful_records"], 3);
    assert_eq!(
        reprocessed["unmapped_departments"],
        json!([{ "name": "Sales", "rows": 1 }])
    );
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
    let metrics = test_support::metrics(&stack.client, &stack.import_base).await;
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
