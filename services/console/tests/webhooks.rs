//! The Webhooks page in a real browser (headless Chromium) against the real services: an admin
//! registers an endpoint and sees its secret once; an event published on the broker reaches the
//! receiver and shows as delivered; a replay makes the second attempt; the secret is rotated
//! (shown once again), the endpoint disabled, enabled and deleted; the page in Arabic, right to
//! left; a viewer has no Webhooks page; a form without the session's CSRF token changes nothing.

mod common;

use std::time::Duration;

use auth::Role;
use bus::{Broker, Outgoing, Publisher};
use chrono::Utc;
use common::*;
use domain::{BridgeEvent, BridgeEventV1, CompanyId, SyncPaused};
use test_support::webhook_receiver::WebhookReceiver;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

async fn publish_paused(stack: &Stack, company: i64) {
    let broker = Broker::start(
        stack.env.broker.url(),
        stack.env.broker.topology(),
        "console-webhooks-test",
    );
    broker.connected().await;
    let publisher = Publisher::new(broker);
    let at = Utc::now();
    let event = BridgeEventV1::new(
        "sync-service",
        Some(CompanyId(company)),
        at,
        BridgeEvent::CompanySyncPaused(SyncPaused {
            reason: "Bayzat answered 401: the key was refused".into(),
            since: at,
        }),
    );
    publisher
        .publish(&Outgoing::message(Uuid::new_v4(), &event, None).unwrap())
        .await
        .unwrap();
}

async fn endpoints(stack: &Stack) -> serde_json::Value {
    stack
        .client
        .get(format!("{}/v1/webhooks", stack.config_base))
        .bearer_auth(stack.api_token(Role::Admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_registers_an_endpoint_sees_its_delivery_and_replays_it() {
    let stack = Stack::start(Services::All).await;
    let receiver = WebhookReceiver::start().await;
    let advline = stack.config.as_ref().unwrap().company_id("advline").await;
    let browser = Browser::start().await;
    let base = stack.console_base.clone();
    browser
        .sign_in(&base, &stack.login_token("ops-admin", Role::Admin, None))
        .await;
    browser.click_and_wait("nav.main a[href='/webhooks']").await;
    browser.find("#no-webhooks").await;

    // Registered: the secret is shown on the page that answers, once.
    let form = "#register-webhook";
    browser
        .find(&format!("{form} input[name=url]"))
        .await
        .send_keys(receiver.url())
        .await
        .unwrap();
    browser
        .find(&format!("{form} input[name=description]"))
        .await
        .send_keys("IT portal")
        .await
        .unwrap();
    browser
        .click(&format!("{form} input[value='company.sync_paused']"))
        .await;
    browser
        .find(&format!("{form} input[name=companies]"))
        .await
        .send_keys("advline")
        .await
        .unwrap();
    browser
        .click_and_wait("button[data-action=register-webhook]")
        .await;
    let secret = browser.text("#webhook-secret").await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert!(browser
        .text("#new-secret")
        .await
        .contains("it is not shown again"));
    let row = format!("tr.webhook[data-url='{}']", receiver.url());
    assert_eq!(
        browser.text(&format!("{row} td.companies")).await,
        "advline"
    );
    assert_eq!(
        browser
            .count(&format!("{row} li[data-event='company.sync_paused']"))
            .await,
        1
    );
    browser.screenshot("webhooks-registered").await;
    browser.goto(&format!("{base}/webhooks")).await;
    browser.find(&row).await;
    assert_eq!(browser.count("#webhook-secret").await, 0);
    let source = browser.client.source().await.unwrap();
    assert!(!source.contains(&secret), "the secret is shown once only");

    // An event of advline is delivered and listed.
    browser.click_and_wait(&format!("{row} td.url a")).await;
    browser.find("#no-deliveries").await;
    let endpoint_page = browser.client.current_url().await.unwrap();
    publish_paused(&stack, advline).await;
    test_support::wait_for(WAIT, "the receiver accepts the event", || async {
        match receiver.accepted().len() {
            1 => Ok(()),
            n => Err(format!("{n} accepted")),
        }
    })
    .await;
    let delivery = "tr.delivery[data-event='company.sync_paused']";
    test_support::wait_for(WAIT, "the page lists the delivery", || async {
        browser.goto(endpoint_page.as_str()).await;
        match browser
            .count(&format!(
                "{delivery}[data-state=delivered][data-attempts='1']"
            ))
            .await
        {
            1 => Ok(()),
            _ => Err(browser.client.source().await.unwrap_or_default()),
        }
    })
    .await;
    assert!(browser
        .text(&format!("{delivery} td.last-status"))
        .await
        .contains("HTTP 204"));
    assert!(!browser
        .text(&format!("{delivery} td.created"))
        .await
        .is_empty());
    browser.screenshot("webhooks-delivered").await;

    // Replayed: a second attempt, marked as a replay.
    browser
        .click_and_wait(&format!("{delivery} button[data-action=replay]"))
        .await;
    assert!(browser.text("p.notice").await.contains("Replay queued"));
    test_support::wait_for(WAIT, "the replay reaches the receiver", || async {
        match receiver.accepted().len() {
            2 => Ok(()),
            n => Err(format!("{n} accepted")),
        }
    })
    .await;
    let received = receiver.accepted();
    assert_eq!(received[0].id, received[1].id, "the same webhook-id");
    test_support::wait_for(WAIT, "the page shows the second attempt", || async {
        browser.goto(endpoint_page.as_str()).await;
        match browser
            .count(&format!(
                "{delivery}[data-state=delivered][data-attempts='2']"
            ))
            .await
        {
            1 => Ok(()),
            _ => Err(browser.client.source().await.unwrap_or_default()),
        }
    })
    .await;
    assert_eq!(
        browser
            .count(&format!("{delivery} li.attempt[data-replay=true]"))
            .await,
        1
    );
    browser.screenshot("webhooks-replayed").await;

    // A new secret, shown once.
    browser
        .click_and_wait(&format!("{row} button[data-action=rotate-secret]"))
        .await;
    let rotated = browser.text("#webhook-secret").await;
    assert!(
        rotated.starts_with("whsec_") && rotated != secret,
        "{rotated}"
    );
    browser.goto(endpoint_page.as_str()).await;
    browser.find(&row).await;
    assert_eq!(browser.count("#webhook-secret").await, 0);
    assert!(!browser.client.source().await.unwrap().contains(&rotated));

    // Disabled, then enabled again.
    browser
        .click_and_wait(&format!("{row} button[data-action=disable-webhook]"))
        .await;
    assert!(browser.text("p.notice").await.contains("Endpoint disabled"));
    assert_eq!(
        browser
            .find(&row)
            .await
            .attr("data-enabled")
            .await
            .unwrap()
            .as_deref(),
        Some("false")
    );
    assert_eq!(endpoints(&stack).await["endpoints"][0]["enabled"], false);
    browser
        .click_and_wait(&format!("{row} button[data-action=enable-webhook]"))
        .await;
    assert_eq!(
        browser
            .find(&row)
            .await
            .attr("data-enabled")
            .await
            .unwrap()
            .as_deref(),
        Some("true")
    );

    // In Arabic, right to left.
    browser.click_and_wait("#switch-language").await;
    browser.goto(&format!("{base}/webhooks")).await;
    let html = browser.find("html").await;
    assert_eq!(html.attr("dir").await.unwrap().as_deref(), Some("rtl"));
    assert_eq!(browser.text("main h1").await, "خطافات الويب");
    assert!(browser.text("#webhooks thead").await.contains("يفشل منذ"));
    assert_eq!(browser.text(&format!("{row} td.state")).await, "مفعل");
    browser.screenshot("webhooks-arabic").await;
    browser.goto(endpoint_page.as_str()).await;
    assert!(browser
        .text("#recent-deliveries h2")
        .await
        .contains("آخر عمليات الإرسال"));
    browser.click_and_wait("#switch-language").await;

    // Deleted.
    browser
        .click_and_wait(&format!("{row} button[data-action=delete-webhook]"))
        .await;
    assert!(browser.text("p.notice").await.contains("Endpoint deleted"));
    browser.find("#no-webhooks").await;
    assert_eq!(endpoints(&stack).await["endpoints"], serde_json::json!([]));

    // A viewer has no Webhooks page.
    browser.click_and_wait("#sign-out").await;
    browser
        .sign_in(&base, &stack.login_token("viewer", Role::Viewer, None))
        .await;
    assert_eq!(browser.count("nav.main a[href='/webhooks']").await, 0);
    browser.goto(&format!("{base}/webhooks")).await;
    browser.find("main p.error").await;
    assert_eq!(browser.count("form.action").await, 0);
    browser.client.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_form_without_the_sessions_csrf_token_changes_nothing() {
    let stack = Stack::start(Services::All).await;
    let created: serde_json::Value = stack
        .client
        .post(format!("{}/v1/webhooks", stack.config_base))
        .bearer_auth(stack.api_token(Role::Admin))
        .json(&serde_json::json!({
            "url": "http://127.0.0.1:9/hooks",
            "event_types": ["clock.silent"],
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_i64().unwrap();
    let before = endpoints(&stack).await;
    let signed_in = stack
        .sign_in_http(&stack.login_token("ops-admin", Role::Admin, None))
        .await;
    let cookie = session_cookie(&signed_in).expect("a session");
    for path in [
        "/webhooks".to_owned(),
        format!("/webhooks/{id}/enabled"),
        format!("/webhooks/{id}/rotate"),
        format!("/webhooks/{id}/delete"),
        format!("/webhooks/{id}/replay"),
    ] {
        for csrf in [None, Some("not-the-token")] {
            let mut form = vec![
                ("url", "http://127.0.0.1:9/other"),
                ("event_types", "clock.silent"),
                ("enabled", "false"),
                ("delivery", "1"),
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
    assert_eq!(endpoints(&stack).await, before);
}
