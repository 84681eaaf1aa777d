//! Excel workbooks through the console, over plain HTTP as the upload form posts them: a dry run
//! shows which worksheet was read (in English and Arabic), the form's sheet goes on to
//! import-service, the import's page names the sheet, and its rows export as a workbook.

mod common;

use std::io::Cursor;
use std::ops::ControlFlow;

use auth::Role;
use common::*;

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

fn csrf_of(page: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = page.find(marker).expect("a form with a csrf field") + marker.len();
    page[start..start + page[start..].find('"').unwrap()].to_owned()
}

async fn get(stack: &Stack, path: &str, cookie: &str) -> reqwest::Response {
    stack
        .client
        .get(format!("{}{path}", stack.console_base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

async fn page(stack: &Stack, path: &str, cookie: &str) -> String {
    let response = get(stack, path, cookie).await;
    assert_eq!(response.status().as_u16(), 200, "{path}");
    response.text().await.unwrap()
}

/// The upload form as the browser posts it from htmx: the options, then the file (its bytes as
/// read from the fixture, under the fixture's name and the content type a browser gives it).
async fn post_upload(
    stack: &Stack,
    cookie: &str,
    csrf: &str,
    sheet: Option<&str>,
    fixture: &str,
    dry_run: bool,
) -> reqwest::Response {
    let bytes = std::fs::read(test_support::fixture(fixture)).unwrap();
    let name = fixture.rsplit('/').next().unwrap();
    let content_type = if name.ends_with(".xlsx") {
        XLSX
    } else {
        "text/csv"
    };
    let boundary = "----console-test-boundary-7d1f";
    let mut body = Vec::new();
    let mut field = |name: &str, value: &str| {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    };
    field("csrf", csrf);
    if let Some(sheet) = sheet {
        field("sheet", sheet);
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: {content_type}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(&bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let path = if dry_run {
        "/imports?dry_run=true"
    } else {
        "/imports"
    };
    stack
        .client
        .post(format!("{}{path}", stack.console_base))
        .header("cookie", cookie)
        .header("hx-request", "true")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workbook_is_checked_and_imported_with_its_sheet_named_and_its_rows_export_as_a_workbook()
{
    let stack = Stack::start(Services::All).await;
    let signed_in = stack
        .sign_in_http(&stack.login_token("hr-admin", Role::Admin, None))
        .await;
    let cookie = session_cookie(&signed_in).unwrap();

    // The form offers workbooks and a sheet.
    let form = page(&stack, "/imports/new", &cookie).await;
    let csrf = csrf_of(&form);
    for offered in [".xlsx", ".xlsm", ".xls,", ".csv", ".txt", ".tsv"] {
        assert!(form.contains(offered), "{offered}: {form}");
    }
    assert!(form.contains(r#"name="sheet""#), "{form}");

    // No sheet named: the cover page has no report, so the next sheet is read; the dry run
    // says which.
    let response = post_upload(
        &stack,
        &cookie,
        &csrf,
        Some(""),
        "workbooks/two-sheets.xlsx",
        true,
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    let report = response.text().await.unwrap();
    assert!(report.contains(r#"id="dry-run-report""#), "{report}");
    assert!(
        report.contains("Excel workbook (xlsx), sheet «Report»"),
        "{report}"
    );
    assert!(report.contains(r#"data-sheet="Report""#), "{report}");
    assert!(
        report.contains(r#"<dd id="count-total">5</dd>"#),
        "{report}"
    );
    assert!(
        report.contains(r#"<dd id="count-valid">5</dd>"#),
        "{report}"
    );

    // The form's sheet goes on to import-service: a sheet the workbook lacks is refused with
    // import-service's reason under the form.
    let response = post_upload(
        &stack,
        &cookie,
        &csrf,
        Some("Payroll"),
        "workbooks/two-sheets.xlsx",
        true,
    )
    .await;
    let refusal = response.text().await.unwrap();
    assert!(refusal.contains(r#"id="upload-error""#), "{refusal}");
    assert!(
        refusal.contains(r#"data-code="sheet_not_found""#),
        "{refusal}"
    );
    // A sheet named with other case and spaces is still the sheet.
    let response = post_upload(
        &stack,
        &cookie,
        &csrf,
        Some(" report "),
        "workbooks/two-sheets.xlsx",
        true,
    )
    .await;
    let report = response.text().await.unwrap();
    assert!(report.contains(r#"data-sheet="Report""#), "{report}");

    // A text report shows its encoding and delimiter instead.
    let response = post_upload(&stack, &cookie, &csrf, None, "basic.csv", true).await;
    let report = response.text().await.unwrap();
    assert!(
        report.contains("Text file (utf-8), comma-separated"),
        "{report}"
    );
    assert!(report.contains(r#"data-format="text""#), "{report}");

    // The same report in Arabic.
    let response = stack
        .client
        .post(format!("{}/preferences/language", stack.console_base))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str()), ("lang", "ar")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    let arabic_form = page(&stack, "/imports/new", &cookie).await;
    assert!(arabic_form.contains("ورقة العمل"), "{arabic_form}");
    let response = post_upload(
        &stack,
        &cookie,
        &csrf,
        None,
        "workbooks/two-sheets.xlsx",
        true,
    )
    .await;
    let report = response.text().await.unwrap();
    assert!(
        report.contains("مصنف Excel (xlsx)، ورقة العمل «Report»"),
        "{report}"
    );
    assert!(report.contains("صيغة الملف"), "{report}");
    let response = post_upload(&stack, &cookie, &csrf, None, "basic.csv", true).await;
    let report = response.text().await.unwrap();
    assert!(report.contains("ملف نصي (utf-8)، مفصول بفواصل"), "{report}");

    // Imported: the import's page names the sheet and offers the rows as CSV and as a workbook.
    let response = post_upload(
        &stack,
        &cookie,
        &csrf,
        Some("Report"),
        "workbooks/two-sheets.xlsx",
        false,
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    let location = response.headers()["hx-redirect"]
        .to_str()
        .unwrap()
        .to_owned();
    let id: i64 = location.trim_start_matches("/imports/").parse().unwrap();
    let details = page(&stack, &location, &cookie).await;
    assert!(
        details.contains("مصنف Excel (xlsx)، ورقة العمل «Report»"),
        "{details}"
    );
    assert!(details.contains("تصدير XLSX"), "{details}");
    let response = stack
        .client
        .post(format!("{}/preferences/language", stack.console_base))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str()), ("lang", "en")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    let details = page(&stack, &location, &cookie).await;
    assert!(
        details.contains("Excel workbook (xlsx), sheet «Report»"),
        "{details}"
    );
    assert!(
        details.contains(&format!(r#"href="/imports/{id}/rows.csv?"#)),
        "{details}"
    );
    let xlsx_link = format!("/imports/{id}/rows.xlsx?");
    assert!(
        details.contains(&format!(r#"href="{xlsx_link}"#)),
        "{details}"
    );

    // The export opens as a workbook holding the import's five rows (one employee's: two).
    let response = get(&stack, &xlsx_link, &cookie).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], XLSX);
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains(&format!("import-{id}-rows.xlsx")));
    let bytes = response.bytes().await.unwrap();
    assert_eq!(data_rows(&bytes), 5);
    let response = get(&stack, &format!("{xlsx_link}employee=2002"), &cookie).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(data_rows(&response.bytes().await.unwrap()), 2);

    // A viewer of another company is refused the export, as import-service refuses it.
    let other = stack
        .sign_in_http(&stack.login_token("advline-viewer", Role::Viewer, Some(&["advline"])))
        .await;
    let other = session_cookie(&other).unwrap();
    let response = get(&stack, &xlsx_link, &other).await;
    assert_ne!(response.status().as_u16(), 200);
    assert!(!response.bytes().await.unwrap().starts_with(b"PK"));
}

/// The rows under the header of an exported workbook's first sheet.
fn data_rows(bytes: &[u8]) -> usize {
    let mut book = workbook::Workbook::open(Cursor::new(bytes.to_vec())).expect("a workbook");
    let sheet = book.sheet_names().remove(0);
    let mut rows = 0;
    book.rows(&sheet, |_, _| {
        rows += 1;
        ControlFlow::Continue(())
    })
    .expect("the sheet reads");
    rows - 1
}
