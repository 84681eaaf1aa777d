//! Webhook endpoints over REST (admins only, company scope, allowed URLs, audited) and what
//! config-service sends them: each event once, signed by every active secret, retried while the
//! receiver fails, and an endpoint failing for too long disabled with its owner told.

mod common;

use std::time::Duration;

use auth::Role;
use bus::{Broker, Outgoing, Publisher};
use chrono::Utc;
use common::App;
use config_service::mail::{MailSettings, SmtpSettings};
use domain::{BridgeEvent, BridgeEventV1, CompanyId, SyncPaused};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use test_support::webhook_receiver::{Answer, Received, WebhookReceiver};
use test_support::{wait_for, SmtpSink};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

async fn publisher(app: &App) -> Publisher {
    let broker = Broker::start(
        app.env.broker.url(),
        app.env.broker.topology(),
        "webhooks-test",
    );
    broker.connected().await;
    Publisher::new(broker)
}

fn paused(company: i64, what: &str) -> BridgeEventV1 {
    let at = Utc::now();
    BridgeEventV1::new(
        what,
        Some(CompanyId(company)),
        at,
        BridgeEvent::CompanySyncPaused(SyncPaused {
            reason: "Bayzat answered 401: the key was refused".into(),
            since: at,
        }),
    )
}

async fn publish(publisher: &Publisher, event: &BridgeEventV1) {
    publisher
        .publish(&Outgoing::message(Uuid::new_v4(), event, None).unwrap())
        .await
        .unwrap();
}

/// Whether the webhook verifies with `secret`, as the convention's own library checks it.
fn verify(received: &Received, secret: &str) -> bool {
    let verifier = standardwebhooks::Webhook::new(secret).expect("a whsec_ secret");
    let mut headers = http::HeaderMap::new();
    headers.insert("webhook-id", received.id.parse().unwrap());
    headers.insert("webhook-timestamp", received.timestamp.parse().unwrap());
    headers.insert("webhook-signature", received.signature.parse().unwrap());
    verifier.verify(received.body.as_bytes(), &headers).is_ok()
}

async fn register(app: &App, token: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::POST, "/v1/webhooks", Some(token), Some(body))
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoints_are_admins_within_their_companies_and_bad_ones_are_named() {
    let app = App::start().await;
    let admin = app.admin();
    app.company("advline", &[]).await;
    app.company("clarastars", &[]).await;
    let good = json!({ "url": "http://127.0.0.1:9/hooks", "event_types": ["import.completed"] });

    for role in [Role::Viewer, Role::Operator] {
        let (status, body) = register(&app, &app.token(role), good.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role}: {body}");
    }
    let table = [
        (
            json!({ "url": "https://elsewhere.example/hooks", "event_types": ["import.completed"] }),
            "url_not_allowed",
        ),
        (
            json!({ "url": "ftp://127.0.0.1/hooks", "event_types": ["import.completed"] }),
            "invalid_url",
        ),
        (
            json!({ "url": "http://user:pw@127.0.0.1:9/hooks", "event_types": ["import.completed"] }),
            "invalid_url",
        ),
        (
            json!({ "url": "http://127.0.0.1:9/hooks", "event_types": [] }),
            "invalid_event_types",
        ),
        (
            json!({ "url": "http://127.0.0.1:9/hooks", "event_types": ["import.finished"] }),
            "invalid_event_types",
        ),
        (
            json!({ "url": "http://127.0.0.1:9/hooks", "event_types": ["import.completed"], "companies": [] }),
            "invalid_companies",
        ),
        (
            json!({ "url": "http://127.0.0.1:9/hooks", "event_types": ["import.completed"], "companies": ["nowhere"] }),
            "unknown_company",
        ),
        (
            json!({ "url": "http://127.0.0.1:9/hooks", "event_types": ["import.completed"], "owner_email": "not mail" }),
            "invalid_email",
        ),
    ];
    for (body, code) in table {
        let (status, answer) = register(&app, &admin, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["code"], code, "{body}: {answer}");
    }
    let (status, answer) = register(&app, &admin, json!({ "url": 5 })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");

    // An admin of clarastars registers for clarastars only, and sees only such endpoints.
    let scoped = app.token_for(Role::Admin, &["clarastars"]);
    let (status, answer) = register(&app, &scoped, good.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["code"], "invalid_companies");
    let (status, answer) = register(
        &app,
        &scoped,
        json!({ "url": "http://127.0.0.1:9/hooks", "event_types": ["import.completed"], "companies": ["advline"] }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["code"], "unknown_company");
    let (status, own) = register(
        &app,
        &scoped,
        json!({ "url": "http://127.0.0.1:9/clara", "event_types": ["batch.completed"], "companies": ["clarastars"] }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{own}");
    assert_eq!(own["companies"], json!(["clarastars"]));
    let (status, everyone) = register(&app, &admin, good.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{everyone}");
    assert!(everyone["secret"].as_str().unwrap().starts_with("whsec_"));

    let (_, listed) = app.get("/v1/webhooks", &scoped).await;
    let urls: Vec<&Value> = listed["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["url"])
        .collect();
    assert_eq!(urls, [&json!("http://127.0.0.1:9/clara")], "{listed}");
    let (_, listed) = app.get("/v1/webhooks", &admin).await;
    assert_eq!(listed["endpoints"].as_array().unwrap().len(), 2);
    assert!(
        !listed.to_string().contains("whsec_"),
        "a secret is shown once: {listed}"
    );
    let path = format!("/v1/webhooks/{}", everyone["id"]);
    let (status, _) = app.get(&path, &scoped).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.call(Method::DELETE, &path, Some(&scoped), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .get(&format!("{path}/deliveries?limit=1000"), &admin)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Every change is in the audit log, without the secret.
    let (status, _) = app.call(Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, audit) = app.get("/v1/audit?per_page=100", &admin).await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|entry| entry["action"].as_str())
        .filter(|action| action.starts_with("webhook."))
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "webhook.created").count(),
        2,
        "{actions:?}"
    );
    assert!(actions.contains(&"webhook.deleted"), "{actions:?}");
    assert!(!audit.to_string().contains("whsec_"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_is_sent_once_signed_retried_while_refused_and_rotation_signs_with_both() {
    let app = App::start().await;
    let admin = app.admin();
    let advline = app.company("advline", &[]).await;
    let clarastars = app.company("clarastars", &[]).await;
    let receiver = WebhookReceiver::start().await;
    let (status, endpoint) = register(
        &app,
        &admin,
        json!({ "url": receiver.url(), "event_types": ["company.sync_paused"], "companies": ["advline"] }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{endpoint}");
    let secret = endpoint["secret"].as_str().unwrap().to_owned();
    let publisher = publisher(&app).await;

    // Refused twice, then taken: one event, tried three times under one id.
    receiver.answer(Answer::Fail);
    let event = paused(advline, "company.sync_paused:advline:1");
    publish(&publisher, &event).await;
    publish(&publisher, &event).await;
    // Another company's event is not this endpoint's.
    publish(
        &publisher,
        &paused(clarastars, "company.sync_paused:clarastars:1"),
    )
    .await;
    wait_for(WAIT, "two refused attempts", || async {
        let tried = receiver.received().len();
        (tried >= 2)
            .then_some(())
            .ok_or(format!("{tried} attempts"))
    })
    .await;
    receiver.answer(Answer::Accept);
    let accepted = wait_for(WAIT, "the event accepted", || async {
        let accepted = receiver.accepted();
        (!accepted.is_empty())
            .then_some(accepted)
            .ok_or(String::new())
    })
    .await;
    assert_eq!(accepted.len(), 1);
    let received = receiver.received();
    assert!(
        received.iter().all(|r| r.id == event.event_id.to_string()),
        "{received:?}"
    );
    assert!(received.iter().all(|r| verify(r, &secret)), "{received:?}");
    let body = accepted[0].json();
    assert_eq!(body["type"], "company.sync_paused");
    assert_eq!(
        body["data"]["reason"],
        "Bayzat answered 401: the key was refused"
    );

    let deliveries = format!("/v1/webhooks/{}/deliveries", endpoint["id"]);
    let (_, log) = app.get(&deliveries, &admin).await;
    let delivery = &log["deliveries"][0];
    assert_eq!(log["deliveries"].as_array().unwrap().len(), 1, "{log}");
    assert_eq!(delivery["state"], "delivered", "{delivery}");
    let attempts = delivery["log"].as_array().unwrap();
    assert!(attempts.len() >= 3, "{delivery}");
    assert_eq!(attempts[0]["status"], 503);
    assert_eq!(attempts.last().unwrap()["status"], 204);

    // After a rotation both secrets sign, so a receiver holding either verifies.
    let (status, rotated) = app
        .post(
            &format!("/v1/webhooks/{}/secret/rotate", endpoint["id"]),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    publish(
        &publisher,
        &paused(advline, "company.sync_paused:advline:2"),
    )
    .await;
    let second = wait_for(WAIT, "the second event", || async {
        let accepted = receiver.accepted();
        (accepted.len() == 2)
            .then(|| accepted[1].clone())
            .ok_or(format!("{}", accepted.len()))
    })
    .await;
    assert!(
        verify(&second, &secret) && verify(&second, &new_secret),
        "{second:?}"
    );
    assert_eq!(second.signature.split(' ').count(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_failing_past_the_limit_is_disabled_its_owner_told_and_enabling_it_sends_what_waited(
) {
    let smtp = SmtpSink::start().await;
    let env_settings = |app: &App| {
        let mut settings = common::settings(app.env.common_settings(), &app.master_keys);
        settings.webhooks.disable_after = Duration::from_secs(3);
        settings.mail = MailSettings {
            smtp: Some(SmtpSettings::parse(&smtp.url(), "bridge@group.example").unwrap()),
            console_url: "http://console.test".to_owned(),
            digest_window: Duration::from_secs(60),
            tick: Duration::from_millis(200),
        };
        settings
    };
    let mut app = App::start().await;
    let advline = app.company("advline", &[]).await;
    app.stop().await;
    let settings = env_settings(&app);
    app.serve(settings).await;
    let admin = app.admin();
    let receiver = WebhookReceiver::start().await;
    receiver.answer(Answer::Fail);
    let (status, endpoint) = register(
        &app,
        &admin,
        json!({ "url": receiver.url(), "event_types": ["company.sync_paused"], "owner_email": "it@group.example" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{endpoint}");
    let path = format!("/v1/webhooks/{}", endpoint["id"]);
    let publisher = publisher(&app).await;
    publish(
        &publisher,
        &paused(advline, "company.sync_paused:advline:9"),
    )
    .await;

    let disabled = wait_for(WAIT, "the endpoint disabled", || async {
        let (_, endpoint) = app.get(&path, &admin).await;
        (endpoint["enabled"] == false)
            .then_some(endpoint.clone())
            .ok_or(endpoint.to_string())
    })
    .await;
    assert!(disabled["disabled_reason"]
        .as_str()
        .unwrap()
        .contains("every attempt failed"));
    let (_, audit) = app.get("/v1/audit?action=webhook.disabled", &admin).await;
    assert_eq!(audit["total"], 1, "{audit}");
    let told = smtp.wait_for("it@group.example", 1, WAIT).await;
    assert!(told[0].contains("127.0.0.1"), "{:?}", told[0].text);

    // Enabled again with the receiver back: the waiting event goes out.
    receiver.answer(Answer::Accept);
    let (status, enabled) = app
        .call(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({ "enabled": true })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{enabled}");
    assert_eq!(enabled["failing_since"], Value::Null);
    wait_for(WAIT, "the waiting event delivered", || async {
        let accepted = receiver.accepted().len();
        (accepted == 1).then_some(()).ok_or(format!("{accepted}"))
    })
    .await;
}

/// `config-service reencrypt` moves webhook secrets to the newest master key as it does Bayzat
/// keys: once the old master key is gone, webhooks are still signed with the same secret.
#[tokio::test(flavor = "multi_thread")]
async fn a_master_key_rotation_keeps_signing_webhooks_with_the_same_secret() {
    let old = common::master_key("old");
    let mut app = App::start_with_master_keys(&old).await;
    let advline = app.company("advline", &[]).await;
    let receiver = WebhookReceiver::start().await;
    let (status, endpoint) = register(
        &app,
        &app.admin(),
        json!({ "url": receiver.url(), "event_types": ["company.sync_paused"] }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{endpoint}");
    let secret = endpoint["secret"].as_str().unwrap().to_owned();
    app.stop().await;

    let new = common::master_key("new");
    let both = crypto::MasterKeys::parse(&format!("{new},{old}")).unwrap();
    let done = config_service::cli::reencrypt(app.env.db.url(), &both)
        .await
        .unwrap();
    assert_eq!(done.webhook_secrets_moved, 1);
    let again = config_service::cli::reencrypt(app.env.db.url(), &both)
        .await
        .unwrap();
    assert_eq!(
        again.webhook_secrets_moved, 0,
        "running it again changes nothing"
    );

    app.serve(common::settings(app.env.common_settings(), &new))
        .await;
    let publisher = publisher(&app).await;
    publish(
        &publisher,
        &paused(advline, "company.sync_paused:advline:rotation"),
    )
    .await;
    let accepted = wait_for(WAIT, "the event", || async {
        let accepted = receiver.accepted();
        (!accepted.is_empty())
            .then_some(accepted)
            .ok_or(String::new())
    })
    .await;
    assert!(verify(&accepted[0], &secret), "{:?}", accepted[0]);
}
