//! The Notifications page of a company in a real browser (headless Chromium) against the real
//! services, config-service mailing through a real SMTP server: an admin adds a contact in
//! Arabic, changes its events, sends a test and the mail arrives in Arabic; with no contact left
//! the test is refused in config-service's words; the page in Arabic, right to left; a viewer
//! sees the contacts without a form; a form without the session's CSRF token changes nothing.

mod common;

use std::time::Duration;

use auth::Role;
use common::*;
use test_support::SmtpSink;

const WAIT: Duration = Duration::from_secs(30);
const EMAIL: &str = "hr@advline.example";
const ROW: &str = "tr.contact[data-email='hr@advline.example']";

async fn contacts(stack: &Stack) -> serde_json::Value {
    stack
        .client
        .get(format!(
            "{}/v1/companies/advline/notification-contacts",
            stack.config_base
        ))
        .bearer_auth(stack.api_token(Role::Admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_adds_an_arabic_contact_and_the_test_mail_arrives() {
    let smtp = SmtpSink::start().await;
    let stack = Stack::start_with_mail(&smtp.url()).await;
    let browser = Browser::start().await;
    let base = stack.console_base.clone();
    browser
        .sign_in(&base, &stack.login_token("ops-admin", Role::Admin, None))
        .await;
    browser
        .click_and_wait("nav.main a[href='/companies']")
        .await;
    browser
        .click_and_wait("tr[data-company=advline] a.notifications")
        .await;
    browser.find("#no-contacts").await;

    // A contact in Arabic for two events only.
    let email = browser.find("#add-contact input[name=email]").await;
    email.send_keys(EMAIL).await.unwrap();
    browser
        .find("#add-contact select[name=language] option[value=ar]")
        .await
        .click()
        .await
        .unwrap();
    for event in [
        "import.completed",
        "import.failed",
        "import.needs_attention",
        "deliveries.failed",
        "batch.completed",
        "clock.pending_approval",
    ] {
        browser
            .click(&format!("#add-contact input[value='{event}']"))
            .await;
    }
    browser
        .click_and_wait("button[data-action=add-contact]")
        .await;
    assert!(browser.text("p.notice").await.contains("Contact added"));
    let row = browser.find(ROW).await;
    assert_eq!(
        row.attr("data-language").await.unwrap().as_deref(),
        Some("ar")
    );
    let checked = |event: &str| format!("{ROW} input[value='{event}']:checked");
    assert_eq!(browser.count(&format!("{ROW} input:checked")).await, 2);
    assert_eq!(browser.count(&checked("company.sync_paused")).await, 1);
    assert_eq!(browser.count(&checked("clock.silent")).await, 1);
    browser.screenshot("notifications-added").await;

    // Its events changed: one more.
    browser
        .click(&format!("{ROW} input[value='deliveries.failed']"))
        .await;
    browser
        .click_and_wait(&format!("{ROW} button[data-action=save-contact]"))
        .await;
    assert!(browser.text("p.notice").await.contains("Saved"));
    assert_eq!(browser.count(&format!("{ROW} input:checked")).await, 3);
    assert_eq!(browser.count(&checked("deliveries.failed")).await, 1);
    let stored = contacts(&stack).await;
    assert_eq!(
        stored[0]["event_types"].as_array().unwrap().len(),
        3,
        "{stored}"
    );

    // Send test: the page says to whom, and the mail arrives, in Arabic.
    browser
        .click_and_wait("button[data-action=send-test]")
        .await;
    let result = browser.text("#test-result p.sent").await;
    assert!(result.contains("Test mail sent to"), "{result}");
    assert!(result.contains(EMAIL), "{result}");
    let mails = smtp.wait_for(EMAIL, 1, WAIT).await;
    assert!(mails[0].subject.contains("رسالة تجريبية"), "{:?}", mails[0]);
    assert!(
        mails[0].contains("توقف المزامنة مع Bayzat"),
        "{}",
        mails[0].text
    );
    assert!(mails[0].contains("فشل إرسالها"), "{}", mails[0].text);
    browser.screenshot("notifications-test-sent").await;

    // In Arabic, right to left.
    browser.click_and_wait("#switch-language").await;
    browser
        .goto(&format!("{base}/companies/advline/notifications"))
        .await;
    let html = browser.find("html").await;
    assert_eq!(html.attr("dir").await.unwrap().as_deref(), Some("rtl"));
    assert!(browser.text("main h1").await.starts_with("الإشعارات"));
    assert_eq!(
        browser.text("button[data-action=send-test]").await,
        "إرسال رسالة تجريبية"
    );
    assert!(browser.text(ROW).await.contains("توقفت مزامنة الشركة"));
    browser.screenshot("notifications-arabic").await;
    browser.click_and_wait("#switch-language").await;

    // A viewer sees the contact and its events, and no form.
    browser.click_and_wait("#sign-out").await;
    browser
        .sign_in(&base, &stack.login_token("viewer", Role::Viewer, None))
        .await;
    browser
        .goto(&format!("{base}/companies/advline/notifications"))
        .await;
    browser.find(ROW).await;
    assert_eq!(browser.count("form.action").await, 0);
    assert_eq!(browser.count("[data-action]").await, 0);
    assert_eq!(
        browser
            .count(&format!("{ROW} li[data-event='company.sync_paused']"))
            .await,
        1
    );
    browser.click_and_wait("#sign-out").await;

    // Removed; a test with no contact is refused in config-service's words.
    browser
        .sign_in(&base, &stack.login_token("ops-admin-2", Role::Admin, None))
        .await;
    browser
        .goto(&format!("{base}/companies/advline/notifications"))
        .await;
    browser
        .click_and_wait(&format!("{ROW} button[data-action=remove-contact]"))
        .await;
    assert!(browser.text("p.notice").await.contains("Contact removed"));
    assert_eq!(browser.count(ROW).await, 0);
    browser
        .click_and_wait("button[data-action=send-test]")
        .await;
    let error = browser.find("#action-error").await;
    assert_eq!(
        error.attr("data-code").await.unwrap().as_deref(),
        Some("no_contacts")
    );
    assert!(error
        .text()
        .await
        .unwrap()
        .contains("no notification contacts"));
    assert_eq!(smtp.received_by(EMAIL).len(), 1);
    browser.client.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn without_mail_configured_send_test_shows_the_problem() {
    let stack = Stack::start(Services::All).await;
    let added = stack
        .client
        .post(format!(
            "{}/v1/companies/advline/notification-contacts",
            stack.config_base
        ))
        .bearer_auth(stack.api_token(Role::Admin))
        .json(&serde_json::json!({ "email": EMAIL }))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201);
    let browser = Browser::start().await;
    let base = stack.console_base.clone();
    browser
        .sign_in(&base, &stack.login_token("ops-admin", Role::Admin, None))
        .await;
    browser
        .goto(&format!("{base}/companies/advline/notifications"))
        .await;
    browser
        .click_and_wait("button[data-action=send-test]")
        .await;
    let error = browser.find("#action-error").await;
    assert_eq!(
        error.attr("data-code").await.unwrap().as_deref(),
        Some("mail_not_configured")
    );
    browser.find(ROW).await;
    browser.client.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_contact_form_without_the_sessions_csrf_token_changes_nothing() {
    let stack = Stack::start(Services::All).await;
    let signed_in = stack
        .sign_in_http(&stack.login_token("ops-admin", Role::Admin, None))
        .await;
    let cookie = session_cookie(&signed_in).expect("a session");
    for path in [
        "/companies/advline/notifications",
        "/companies/advline/notifications/test",
        "/companies/advline/notifications/1",
        "/companies/advline/notifications/1/remove",
    ] {
        for csrf in [None, Some("not-the-token")] {
            let mut form = vec![
                ("email", EMAIL),
                ("language", "ar"),
                ("event_types", "clock.silent"),
            ];
            if let Some(csrf) = csrf {
                form.push(("csrf", csrf));
            }
            let response = stack
                .client
                .post(format!("{}{path}", stack.console_base))
                .header("cookie", &cookie)
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 403, "{path} with {csrf:?}");
        }
    }
    assert_eq!(contacts(&stack).await, serde_json::json!([]));
}
