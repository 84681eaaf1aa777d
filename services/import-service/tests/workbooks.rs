//! Excel workbooks through the upload API (the `sheet` option, what a dry run says was read) and
//! the rows export as a workbook.

mod common;

use std::io::Cursor;

use auth::{Claims, Role};
use common::Stack;
use reqwest::StatusCode;
use serde_json::Value;

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

#[tokio::test(flavor = "multi_thread")]
async fn the_sheet_option_picks_the_named_sheet_and_a_name_of_no_sheet_is_refused() {
    let stack = Stack::start().await;

    // Without `sheet`, the cover page (no header) is passed over for the report after it.
    let (status, dry) = stack
        .upload("workbooks/two-sheets.xlsx", "dry_run=true")
        .await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(
        (&dry["facts"]["format"], &dry["facts"]["sheet"]),
        (&Value::from("xlsx"), &Value::from("Report")),
        "the dry run says which sheet was read: {dry}"
    );
    assert_eq!(dry["rows"]["total"], 5);

    // Named, with its case and spaces aside.
    let (status, dry) = stack
        .upload("workbooks/two-sheets.xlsx", "dry_run=true&sheet=%20report")
        .await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(dry["facts"]["sheet"], "Report");

    // The cover page, when asked for, is what is read: it has no header.
    let (status, refused) = stack
        .upload("workbooks/two-sheets.xlsx", "sheet=Cover")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["code"], "no_header");

    // A name of no sheet: refused, naming the sheets there are.
    let (status, refused) = stack
        .upload("workbooks/two-sheets.xlsx", "sheet=Payroll")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["code"], "sheet_not_found");
    let detail = refused["detail"].as_str().unwrap();
    assert!(
        detail.contains("\"Payroll\"") && detail.contains("\"Cover\", \"Report\""),
        "{detail}"
    );

    // Imported from the named sheet.
    let (status, import) = stack
        .upload("workbooks/zktime-daily.xlsx", "sheet=Daily%20Attendance")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{import}");
    assert_eq!(import["facts"]["sheet"], "Daily Attendance");
    assert_eq!(import["facts"]["format"], "xlsx");
    assert_eq!(import["total_records"], 14);

    // A text report has no sheets: the option is ignored.
    let (status, import) = stack.upload("basic.csv", "sheet=Payroll").await;
    assert_eq!(status, StatusCode::CREATED, "{import}");
    assert_eq!(import["facts"]["format"], "text");

    // Only the two imports were stored; the refusals left nothing.
    let (_, imports) = stack.get("/v1/imports").await;
    assert_eq!(imports["total"], 2, "{imports}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_control_character_in_the_sheet_option_is_refused() {
    let stack = Stack::start().await;
    let (status, refused) = stack
        .upload("workbooks/two-sheets.xlsx", "sheet=Re%07port")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["code"], "invalid_text");
}

/// An export's records, header first, trailing empty cells dropped (a worksheet row ends at its
/// last non-empty cell).
type Records = Vec<Vec<String>>;

fn trimmed(mut cells: Vec<String>) -> Vec<String> {
    while cells.last().is_some_and(String::is_empty) {
        cells.pop();
    }
    cells
}

/// GETs `path` with `token`: the status, the headers and the body.
async fn download(
    stack: &Stack,
    path: &str,
    token: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let response = stack
        .client
        .get(format!("{}{path}", stack.import_base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("a complete body").to_vec();
    (status, headers, body)
}

fn csv_records(body: &[u8]) -> Records {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(body)
        .records()
        .map(|r| trimmed(r.unwrap().iter().map(str::to_owned).collect()))
        .collect()
}

/// The rows of the workbook's one sheet, read back by the workbook reader.
fn xlsx_records(body: Vec<u8>) -> Records {
    let mut book = workbook::Workbook::open(Cursor::new(body)).expect("a readable workbook");
    assert_eq!(book.sheet_names(), ["Rows"]);
    let mut records = Vec::new();
    book.rows("Rows", |line, cells| {
        assert_eq!(line, records.len() as u64 + 1, "no gap between rows");
        records.push(cells);
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    records
}

/// rows.xlsx and rows.csv for the same import, query and token: the same records.
async fn both_exports(stack: &Stack, import_id: &Value, query: &str, token: &str) -> Records {
    let (status, headers, body) = download(
        stack,
        &format!("/v1/imports/{import_id}/rows.xlsx?{query}"),
        token,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["content-type"], XLSX);
    assert_eq!(
        headers["content-disposition"],
        format!("attachment; filename=\"import-{import_id}-rows.xlsx\"").as_str()
    );
    let workbook = xlsx_records(body);
    let (status, _, body) = download(
        stack,
        &format!("/v1/imports/{import_id}/rows.csv?{query}"),
        token,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(workbook, csv_records(&body), "rows.xlsx is rows.csv");
    workbook
}

fn limited_to(stack: &Stack, companies: &[&str]) -> String {
    let claims = Claims::new("export-reader", Role::Viewer, chrono::Duration::minutes(10))
        .with_companies(companies.iter().copied());
    stack.keys.mint(&claims)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rows_export_as_a_workbook_has_the_csv_columns_filters_and_escaping() {
    let stack = Stack::start().await;
    let viewer = stack.token(Role::Viewer);

    let (status, import) = stack.upload("bad/formula-injection.csv", "").await;
    assert_eq!(status, StatusCode::CREATED, "{import}");
    let records = both_exports(&stack, &import["id"], "", &viewer).await;
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[0][..2], ["line", "outcome"]);
    let formula = records[1]
        .iter()
        .find(|cell| cell.contains("HYPERLINK"))
        .expect("the name cell");
    assert!(
        formula.starts_with("'="),
        "kept as text, not run: {formula:?}"
    );
    for cell in records.iter().flatten() {
        assert!(!cell.starts_with(['=', '+', '-', '@']), "{cell:?}");
    }

    // A workbook report's rows, with the export's filters and a token's companies.
    let (status, import) = stack.upload("workbooks/zktime-daily.xlsx", "").await;
    assert_eq!(status, StatusCode::CREATED, "{import}");
    let all = both_exports(&stack, &import["id"], "", &viewer).await;
    assert_eq!(all.len(), 1 + 14);
    assert_eq!(
        all[0][12..],
        [
            "AC-No.",
            "Name",
            "Department",
            "Date",
            "Weekday",
            "Clock In",
            "Clock Out",
            "Work Time"
        ]
    );
    assert_eq!(
        all[1][..2],
        ["4", "valid"],
        "rows by their sheet row number"
    );
    let invalid = both_exports(&stack, &import["id"], "outcome=invalid", &viewer).await;
    assert_eq!(invalid.len(), 1 + 2);
    let clarastars = both_exports(
        &stack,
        &import["id"],
        "",
        &limited_to(&stack, &["clarastars"]),
    )
    .await;
    assert_eq!(clarastars.len(), 1 + 1, "{clarastars:?}");
    assert_eq!(clarastars[1][4], "ClaraStars");

    // The same refusals as the CSV export.
    let (status, _, _) = download(&stack, "/v1/imports/999999/rows.xlsx", &viewer).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = download(
        &stack,
        &format!("/v1/imports/{}/rows.xlsx", import["id"]),
        "not-a-token",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_workbook_export_streams_every_row() {
    let stack = Stack::start().await;
    let mut report = String::from("Employee ID,First Name,Department,Date,Check In,Check Out\n");
    let day = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
    for i in 0..30_000u32 {
        let date = day + chrono::Days::new(u64::from(i / 4 % 300));
        report.push_str(&format!(
            "{},Person,AdvLine,{date},08:{:02},17:00\n",
            1001 + i % 4,
            i % 60
        ));
    }
    let (status, import) = stack.upload_bytes(report.into_bytes(), "").await;
    assert_eq!(status, StatusCode::CREATED, "{import}");
    let (status, headers, body) = download(
        &stack,
        &format!("/v1/imports/{}/rows.xlsx", import["id"]),
        &stack.token(Role::Viewer),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers.get("content-length").is_none(),
        "streamed, not built whole first: {headers:?}"
    );
    let records = xlsx_records(body);
    let lines: Vec<u32> = records[1..].iter().map(|r| r[0].parse().unwrap()).collect();
    assert_eq!(
        lines,
        (2..=30_001).collect::<Vec<u32>>(),
        "every row once, in line order"
    );
}
