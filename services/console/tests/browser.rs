//! The console in a real browser (headless Chromium) against the real services and bayzat-sim:
//! an admin signs in, checks and imports basic.csv, watches it sync, maps a department, reads
//! employee 1004's rejections, retries a failed batch, tests a wrong key, switches to Arabic; a
//! viewer then sees the same pages without a single action.

mod common;

use std::time::Duration;

use auth::Role;
use bayzat_sim::Faults;
use common::*;

const CLARA_KEY: &str = "bz_test_clara_51e2d0";

fn fixture(name: &str) -> String {
    std::fs::canonicalize(test_support::fixture(name))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_imports_watches_fixes_and_retries_and_a_viewer_sees_no_actions() {
    let stack = Stack::start(Services::All).await;
    // Clara Stars' Bayzat answers 500 to everything until the test says otherwise: its punches
    // fail once their retries are spent.
    stack
        .sim
        .set_faults(
            CLARA_KEY,
            Faults {
                p_500: 1.0,
                ..Faults::default()
            },
        )
        .unwrap();
    let browser = Browser::start().await;
    let base = stack.console_base.clone();
    browser
        .sign_in(&base, &stack.login_token("ops-admin", Role::Admin, None))
        .await;
    assert!(browser.text(".who").await.contains("ops-admin (admin)"));

    // A file that is no report is refused, with the reason, under the form.
    browser.goto(&format!("{base}/imports/new")).await;
    browser
        .find("#file")
        .await
        .send_keys(&fixture("bad/no-department.csv"))
        .await
        .unwrap();
    browser.click("#check").await;
    let refusal = browser
        .wait_for_css("#upload-error", Duration::from_secs(60))
        .await;
    assert_eq!(
        refusal.attr("data-code").await.unwrap().as_deref(),
        Some("missing_columns")
    );
    let reason = refusal.text().await.unwrap().to_lowercase();
    assert!(reason.contains("department"), "{reason}");

    // Upload: a dry run first shows the validation report and stores nothing.
    browser.goto(&format!("{base}/imports/new")).await;
    browser
        .find("#file")
        .await
        .send_keys(&fixture("basic.csv"))
        .await
        .unwrap();
    browser.click("#check").await;
    browser
        .wait_for_css("#dry-run-report", Duration::from_secs(60))
        .await;
    assert_eq!(browser.text("#count-total").await, "21");
    assert_eq!(browser.text("#count-valid").await, "18");
    assert_eq!(browser.text("#count-invalid").await, "2");
    assert_eq!(browser.text("#count-skipped").await, "1");
    assert!(browser.text("#unmapped").await.contains("Marketing Dept"));
    browser.screenshot("upload-dry-run").await;
    let (_, imports) = api_get(&stack, &stack.import_base, "/v1/imports").await;
    assert_eq!(imports["total"], 0, "a dry run stores nothing");

    // Import, then watch the progress reach its end.
    browser.click("#import").await;
    browser
        .wait_for_css("#progress", Duration::from_secs(60))
        .await;
    let url = browser.client.current_url().await.unwrap();
    let import_path = url.path().to_owned();
    assert!(import_path.starts_with("/imports/"), "{url}");
    browser
        .wait_for_css("#progress[data-finished=true]", Duration::from_secs(120))
        .await;
    let advline = browser
        .find("#progress .company-progress[data-company=advline]")
        .await;
    assert_eq!(
        advline.attr("data-total").await.unwrap().as_deref(),
        Some("20")
    );
    assert_eq!(
        advline.attr("data-done").await.unwrap().as_deref(),
        Some("20")
    );
    browser.screenshot("import-details").await;

    // Employee 1004's rows: failed, with Bayzat's own reason.
    let (_, deliveries) = api_get(
        &stack,
        &sync_base(&stack),
        "/v1/deliveries?employee=1004&state=rejected",
    )
    .await;
    let reason = deliveries["items"][0]["last_error"]
        .as_str()
        .expect("Bayzat's reason for 1004")
        .to_owned();
    browser
        .goto(&format!("{base}{import_path}?employee=1004"))
        .await;
    let rows = browser
        .client
        .find_all(fantoccini::Locator::Css("tr.row"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "1004 has one row");
    assert_eq!(
        rows[0].attr("data-delivery").await.unwrap().as_deref(),
        Some("failed")
    );
    let detail = browser.text("tr.row td.delivery").await;
    assert!(detail.contains("rejected"), "{detail}");
    assert!(detail.contains(&reason), "{detail} / {reason}");
    browser.screenshot_at("import-rejected-rows", "#rows").await;

    // Map "Marketing Dept" to a company and reprocess, in one step.
    browser.goto(&format!("{base}{import_path}")).await;
    let item = r#"#unmapped li[data-department="Marketing Dept"]"#;
    browser
        .find(&format!("{item} select[name=company]"))
        .await
        .select_by_value("advline")
        .await
        .unwrap();
    browser
        .click_and_wait(&format!("{item} button[data-action=map-department]"))
        .await;
    assert!(browser.text("p.notice").await.contains("Mapped"));
    assert_eq!(browser.count("#unmapped").await, 0);
    assert!(browser.text("#unknown").await.contains("5001"));
    let (_, company) = api_get(&stack, &stack.config_base, "/v1/companies/advline").await;
    assert!(company["fingerprint_report_names"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["name"] == "Marketing Dept"));

    // Retry Clara Stars' failed batch once Bayzat answers again.
    let batch = "tr.batch[data-company=clarastars]";
    browser
        .wait_until(
            "the Clara Stars batch fails",
            Duration::from_secs(60),
            |page| page.contains(r#"data-company="clarastars" data-status="failed""#),
        )
        .await;
    assert!(stack.sim.ledger(CLARA_KEY).unwrap_or_default().is_empty());
    stack.sim.set_faults(CLARA_KEY, Faults::default()).unwrap();
    browser
        .click_and_wait(&format!("{batch} button[data-action=retry-batch]"))
        .await;
    assert!(browser.text("p.notice").await.contains("retry"));
    test_support::eventually(Duration::from_secs(60), || async {
        stack.sim.ledger(CLARA_KEY).unwrap_or_default().len() == 7
    })
    .await;
    assert_eq!(stack.sim.ledger(CLARA_KEY).unwrap().len(), 7);
    browser.goto(&format!("{base}{import_path}")).await;
    browser
        .wait_until(
            "the retried batch completes",
            Duration::from_secs(60),
            |page| page.contains(r#"data-company="clarastars" data-status="completed""#),
        )
        .await;

    // A wrong key fails its connection test, shown inline; the stored key never reaches the page.
    browser
        .goto(&format!("{base}/companies/advline/bayzat"))
        .await;
    assert_eq!(browser.text("#key-mask").await, "••••3a9c");
    let page = browser.client.source().await.unwrap();
    assert!(!page.contains("bz_test_advline_7f3a9c"));
    let key = browser.find("#api-key").await;
    key.send_keys("bz_not_a_real_key").await.unwrap();
    assert_eq!(key.attr("type").await.unwrap().as_deref(), Some("password"));
    browser.click("#toggle-key").await;
    assert_eq!(key.attr("type").await.unwrap().as_deref(), Some("text"));
    browser.click("#test-connection").await;
    let result = browser
        .wait_for_css("#connection-result", Duration::from_secs(30))
        .await;
    assert_eq!(
        result.attr("data-result").await.unwrap().as_deref(),
        Some("invalid_key")
    );
    browser.screenshot("bayzat-config").await;
    // Saving it is refused the same way, and the stored key stays.
    browser.click_and_wait("#save").await;
    let refusal = browser.text("#save-error").await;
    assert!(refusal.contains("Bayzat refused the key"), "{refusal}");
    assert_eq!(browser.text("#key-mask").await, "••••3a9c");
    let (_, config) = api_get(
        &stack,
        &stack.config_base,
        "/v1/companies/advline/bayzat-config",
    )
    .await;
    assert_eq!(config["api_key"], "••••3a9c");

    // Companies and the directory.
    browser.goto(&format!("{base}/companies")).await;
    assert!(browser.text("#companies").await.contains("Marketing Dept"));
    browser.screenshot("companies").await;
    // An admin adds a company, gives it a report name and takes it away again.
    browser
        .find("input[name=slug]")
        .await
        .send_keys("newco")
        .await
        .unwrap();
    browser
        .find("input[name=name_en]")
        .await
        .send_keys("New Company LLC")
        .await
        .unwrap();
    browser
        .click_and_wait("button[data-action=create-company]")
        .await;
    assert!(browser.text("p.notice").await.contains("Company added"));
    let row = "#companies tr[data-company=newco]";
    browser
        .find(&format!("{row} input[name=name]"))
        .await
        .send_keys("NewCo Dept")
        .await
        .unwrap();
    browser
        .click_and_wait(&format!("{row} button[data-action=add-report-name]"))
        .await;
    assert!(browser.text(row).await.contains("NewCo Dept"));
    browser
        .click_and_wait(&format!("{row} button[data-action=remove-report-name]"))
        .await;
    assert!(!browser.text(row).await.contains("NewCo Dept"));
    browser
        .goto(&format!("{base}/companies/advline/employees?search=maria"))
        .await;
    assert_eq!(browser.count("#employees tbody tr").await, 1);
    assert!(browser.text("#employees").await.contains("1004"));
    browser.screenshot("employees").await;
    // The directory takes a CSV.
    let csv = std::env::temp_dir().join(test_support::unique_name("employees") + ".csv");
    std::fs::write(&csv, "Employee ID,Name\n5001,Layla Hassan\n").unwrap();
    browser
        .find("input[type=file][name=file]")
        .await
        .send_keys(&csv.to_string_lossy())
        .await
        .unwrap();
    browser
        .click_and_wait("button[data-action=upload-employees]")
        .await;
    let _ = std::fs::remove_file(&csv);
    assert!(browser.text("p.notice").await.contains("+1"));
    browser
        .goto(&format!("{base}/companies/advline/employees?search=layla"))
        .await;
    assert!(browser.text("#employees").await.contains("5001"));

    // The dashboard: health, usage, the chart, imports.
    browser.goto(&base).await;
    browser
        .find("#health tr.company[data-company=advline]")
        .await;
    assert!(browser.count("svg.chart rect[data-company=advline]").await >= 7);
    // Each company's times in its own zone: Dubai is +04, Riyadh +03.
    let advline_success = browser
        .text("tr.company[data-company=advline] td.last-success")
        .await;
    assert!(advline_success.ends_with("+04"), "{advline_success}");
    let clara_success = browser
        .text("tr.company[data-company=clarastars] td.last-success")
        .await;
    assert!(clara_success.ends_with("+03"), "{clara_success}");
    browser.screenshot("dashboard").await;

    // Arabic, right to left, chosen for this user.
    browser.click_and_wait("#switch-language").await;
    let html = browser.find("html").await;
    assert_eq!(html.attr("dir").await.unwrap().as_deref(), Some("rtl"));
    assert_eq!(html.attr("lang").await.unwrap().as_deref(), Some("ar"));
    assert!(browser.text("main h1").await.contains("لوحة المتابعة"));
    browser.screenshot("dashboard-arabic").await;
    browser.goto(&format!("{base}{import_path}")).await;
    assert_eq!(
        browser
            .find("html")
            .await
            .attr("dir")
            .await
            .unwrap()
            .as_deref(),
        Some("rtl")
    );
    browser.screenshot("import-details-arabic").await;

    // A viewer sees the same pages and no action at all.
    browser.click_and_wait("#sign-out").await;
    browser
        .sign_in(&base, &stack.login_token("read-only", Role::Viewer, None))
        .await;
    for path in [
        "/".to_owned(),
        import_path.clone(),
        "/companies".to_owned(),
        "/companies/advline/bayzat".to_owned(),
        "/companies/advline/employees".to_owned(),
    ] {
        browser.goto(&format!("{base}{path}")).await;
        browser.find("main h1").await;
        assert_eq!(browser.count("form.action").await, 0, "{path}");
        assert_eq!(browser.count("[data-action]").await, 0, "{path}");
        assert_eq!(browser.count("a[href='/imports/new']").await, 0, "{path}");
    }
    browser.goto(&format!("{base}/imports/new")).await;
    assert!(browser
        .text("main")
        .await
        .contains("Your role cannot upload reports."));
    assert_eq!(browser.count("#upload").await, 0);
    browser.goto(&format!("{base}{import_path}")).await;
    browser.find("#progress").await;
    browser.screenshot("import-details-viewer").await;

    // An operator of Clara Stars only acts on Clara Stars.
    browser.click_and_wait("#sign-out").await;
    browser
        .sign_in(
            &base,
            &stack.login_token("clara-ops", Role::Operator, Some(&["clarastars"])),
        )
        .await;
    assert_eq!(browser.count("#health tr.company").await, 1);
    assert_eq!(
        browser.count("button[data-action=company-sync-now]").await,
        1
    );
    browser
        .find("tr.company[data-company=clarastars] button[data-action=company-sync-now]")
        .await;
    browser.goto(&format!("{base}{import_path}")).await;
    browser.find("#progress").await;
    assert_eq!(
        browser
            .count("tr.batch[data-company=advline] button[data-action=retry-batch]")
            .await,
        0
    );
    // The import touches other companies too: no reprocess, cancel or directory fix for them.
    for action in ["reprocess", "cancel", "add-employee", "map-department"] {
        assert_eq!(
            browser.count(&format!("[data-action={action}]")).await,
            0,
            "{action}"
        );
    }
    assert!(browser.count("tr.row").await > 0);
    assert_eq!(
        browser.count("tr.row td:nth-child(3)").await,
        browser.count("tr.row").await
    );
    let departments = browser
        .client
        .find_all(fantoccini::Locator::Css("tr.row td:nth-child(3)"))
        .await
        .unwrap();
    for cell in departments {
        assert_eq!(cell.text().await.unwrap(), "ClaraStars");
    }
    browser.client.clone().close().await.unwrap();
}

fn sync_base(stack: &Stack) -> String {
    stack.sync.as_ref().unwrap().base_url()
}

async fn api_get(stack: &Stack, base: &str, path: &str) -> (u16, serde_json::Value) {
    let response = stack
        .client
        .get(format!("{base}{path}"))
        .bearer_auth(stack.api_token(Role::Admin))
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or_default(),
    )
}
