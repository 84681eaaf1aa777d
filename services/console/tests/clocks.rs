//! The Clocks page in a real browser (headless Chromium) against the real services: a clock-sim
//! terminal calls and is recorded pending; an admin gives it a company and approves it, sees its
//! punches of the day and its invalid punch with the reason, in English and in Arabic; the
//! dashboard names it once it falls silent; the admin disables it; a viewer sees the same list without an action.

mod common;

use std::time::Duration;

use auth::Role;
use chrono::{NaiveDate, NaiveDateTime};
use clock_push::{Pin, PunchState, SerialNumber};
use clock_sim::{Terminal, TerminalConfig};
use common::*;

const WAIT: Duration = Duration::from_secs(60);
const SERIAL: &str = "CONSOLE01";

/// A terminal calling `base`, once it has handshaken.
async fn terminal(base: &str) -> Terminal {
    let mut config = TerminalConfig::new(SerialNumber::parse(SERIAL).unwrap(), base);
    config.backoff_initial = Duration::from_millis(20);
    config.backoff_max = Duration::from_millis(200);
    // Well within CLOCK_SILENT_AFTER: on the network, the clock is never silent.
    config.heartbeat_interval = Duration::from_millis(300);
    let clock = Terminal::spawn(config);
    test_support::wait_for(WAIT, "the terminal handshakes", || async {
        clock
            .is_handshaken()
            .then_some(())
            .ok_or_else(|| "not yet".to_owned())
    })
    .await;
    clock
}

fn at(h: u32, m: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, 5)
        .unwrap()
        .and_hms_opt(h, m, 0)
        .unwrap()
}

const ROW: &str = "tr.clock[data-clock=CONSOLE01]";

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_approves_a_pending_clock_and_sees_its_punches_in_english_and_arabic() {
    let stack = Stack::start(Services::All).await;
    // The terminal calls unknown (pending, no company) and sends three punches, one of a PIN no
    // company knows: all held, invalid until it has a company.
    let clock = terminal(&stack.clock_base).await;
    clock.punch_many([
        (Pin::parse("1001").unwrap(), at(8, 0), PunchState::CheckIn),
        (Pin::parse("1002").unwrap(), at(8, 5), PunchState::CheckIn),
        (Pin::parse("9999").unwrap(), at(8, 6), PunchState::CheckIn),
    ]);
    assert!(clock.wait_drained(WAIT).await, "the upload is acknowledged");

    let browser = Browser::start().await;
    let base = stack.console_base.clone();
    browser
        .sign_in(&base, &stack.login_token("ops-admin", Role::Admin, None))
        .await;
    browser.click_and_wait("nav.main a[href='/clocks']").await;
    let row = browser.find(ROW).await;
    assert_eq!(
        row.attr("data-state").await.unwrap().as_deref(),
        Some("pending")
    );
    assert_eq!(browser.text(&format!("{ROW} td.punches-today")).await, "0");
    assert_eq!(browser.text(&format!("{ROW} td.time-zone")).await, "UTC");
    assert!(!browser
        .text(&format!("{ROW} td.last-seen"))
        .await
        .is_empty());
    browser.screenshot("clocks-pending").await;

    // Its company, then its approval: its punches are validated again and counted.
    let companies = browser.find(&format!("{ROW} input[name=companies]")).await;
    companies.clear().await.unwrap();
    companies.send_keys("advline").await.unwrap();
    browser
        .click_and_wait(&format!("{ROW} button[data-action=assign-companies]"))
        .await;
    assert_eq!(
        browser
            .find(&format!("{ROW} input[name=companies]"))
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("advline")
    );
    browser
        .click_and_wait(&format!("{ROW} button[data-action=approve-clock]"))
        .await;
    assert!(browser.text("p.notice").await.contains("Clock approved"));
    assert_eq!(
        browser
            .find(ROW)
            .await
            .attr("data-state")
            .await
            .unwrap()
            .as_deref(),
        Some("approved")
    );
    assert_eq!(browser.text(&format!("{ROW} td.punches-today")).await, "2");
    assert_eq!(browser.count(&format!("{ROW} .badge.silent")).await, 0);
    assert_eq!(
        browser
            .count(&format!("{ROW} button[data-action=approve-clock]"))
            .await,
        0,
        "approved already"
    );
    browser.screenshot("clocks-approved").await;

    // Its invalid punch, with the reason.
    browser.click_and_wait(&format!("{ROW} td.serial a")).await;
    let invalid = browser
        .find("#invalid-punches tr.invalid-punch[data-employee='9999']")
        .await;
    let reason = invalid.text().await.unwrap();
    assert!(reason.contains("unknown_employee"), "{reason}");
    assert!(reason.contains("9999"), "{reason}");
    assert_eq!(browser.count("tr.invalid-punch").await, 1);
    let clock_page = browser.client.current_url().await.unwrap();

    // In Arabic, right to left, the same clock and count.
    browser.click_and_wait("#switch-language").await;
    browser.goto(&format!("{base}/clocks")).await;
    let html = browser.find("html").await;
    assert_eq!(html.attr("dir").await.unwrap().as_deref(), Some("rtl"));
    assert_eq!(html.attr("lang").await.unwrap().as_deref(), Some("ar"));
    assert_eq!(browser.text("main h1").await, "أجهزة البصمة");
    assert!(browser.text("#clocks thead").await.contains("بصمات اليوم"));
    assert_eq!(browser.text(&format!("{ROW} td.punches-today")).await, "2");
    assert_eq!(browser.text(&format!("{ROW} td.state")).await, "معتمد");
    browser.screenshot("clocks-arabic").await;
    browser.goto(clock_page.as_str()).await;
    assert!(browser
        .text("#invalid-punches h2")
        .await
        .contains("البصمات غير الصالحة"));
    browser.click_and_wait("#switch-language").await;

    // The dashboard counts the clock; off the network it falls silent and is named there.
    browser.goto(&format!("{base}/")).await;
    assert_eq!(browser.text("#clock-health .clock-count").await, "1");
    assert_eq!(browser.count("#silent-clocks").await, 0);
    clock.set_offline(true);
    test_support::wait_for(WAIT, "the dashboard names the silent clock", || async {
        browser.goto(&format!("{base}/")).await;
        match browser
            .count("#silent-clocks a.silent-clock[data-clock=CONSOLE01]")
            .await
        {
            1 => Ok(()),
            _ => Err(browser.text("#clock-health").await),
        }
    })
    .await;
    browser
        .screenshot_at("dashboard-silent-clock", "#clock-health")
        .await;
    browser.goto(&format!("{base}/clocks")).await;
    browser.find(&format!("{ROW} .badge.silent")).await;
    clock.set_offline(false);

    // Disabled: its uploads are refused from now on.
    browser
        .click_and_wait(&format!("{ROW} button[data-action=disable-clock]"))
        .await;
    assert_eq!(
        browser
            .find(ROW)
            .await
            .attr("data-state")
            .await
            .unwrap()
            .as_deref(),
        Some("disabled")
    );
    assert_eq!(browser.count(&format!("{ROW} .badge.silent")).await, 0);

    // A viewer sees the clocks and no action.
    browser.click_and_wait("#sign-out").await;
    browser
        .sign_in(&base, &stack.login_token("viewer", Role::Viewer, None))
        .await;
    for path in ["/clocks".to_owned(), clock_page.path().to_owned()] {
        browser.goto(&format!("{base}{path}")).await;
        browser.find(ROW).await;
        assert_eq!(browser.count("form.action").await, 0, "{path}");
        assert_eq!(browser.count("[data-action]").await, 0, "{path}");
    }
    assert_eq!(browser.text(&format!("{ROW} td.punches-today")).await, "2");
    browser.client.clone().close().await.unwrap();
    clock.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clock_action_without_the_sessions_csrf_token_changes_nothing() {
    let stack = Stack::start(Services::All).await;
    let clock = terminal(&stack.clock_base).await;
    let listed = || async {
        let response = stack
            .client
            .get(format!("{}/v1/clocks", stack.import_base))
            .bearer_auth(stack.api_token(Role::Admin))
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = response.json().await.unwrap();
        body["items"][0].clone()
    };
    let id = listed().await["id"].as_i64().unwrap();
    let signed_in = stack
        .sign_in_http(&stack.login_token("ops-admin", Role::Admin, None))
        .await;
    let cookie = session_cookie(&signed_in).expect("a session");
    for action in ["approve", "disable", "companies"] {
        for csrf in [None, Some("not-the-token")] {
            let mut form = vec![("companies", "advline")];
            if let Some(csrf) = csrf {
                form.push(("csrf", csrf));
            }
            let response = stack
                .client
                .post(format!("{}/clocks/{id}/{action}", stack.console_base))
                .header("cookie", &cookie)
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 403, "{action} with {csrf:?}");
        }
    }
    let clock_now = listed().await;
    assert_eq!(clock_now["state"], "pending", "{clock_now}");
    assert_eq!(clock_now["companies"], serde_json::json!([]), "{clock_now}");
    clock.stop().await;
}
