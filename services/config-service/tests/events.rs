//! What config-service tells and is told: the directory snapshot and its ETag, the
//! config.company.changed.v1 events, and the audit and status events it consumes.

mod common;

use std::time::Duration;

use auth::Role;
use bus::lapin::options::BasicGetOptions;
use bus::{Broker, Outgoing, Publisher};
use chrono::Utc;
use common::App;
use domain::{
    AuditRecordedV1, CompanyId, ConfigCompanyChangedV1, DeliveryState, PunchId, PunchStatusChange,
    PunchesStatusV1,
};
use reqwest::StatusCode;
use serde_json::json;
use test_support::eventually;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread")]
async fn the_snapshot_has_an_etag_that_changes_with_the_directory() {
    let app = App::start().await;
    let service = app.token(Role::Service);
    app.company("advline", &["AdvLine"]).await;
    app.put(
        "/v1/companies/advline/employees",
        &app.admin(),
        json!({ "employees": [{ "employee_id": "1001", "name": "Ahmed" }] }),
    )
    .await;

    let fetch = |etag: Option<String>| {
        let mut request = app
            .client
            .get(format!("{}/v1/directory", app.base))
            .bearer_auth(&service);
        if let Some(etag) = etag {
            request = request.header("If-None-Match", etag);
        }
        request.send()
    };
    let first = fetch(None).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let snapshot: serde_json::Value = first.json().await.unwrap();
    let company = &snapshot["companies"][0];
    assert_eq!(company["slug"], "advline");
    assert_eq!(company["fingerprint_report_names"], json!(["AdvLine"]));
    assert_eq!(company["employees"][0]["employee_id"], "1001");
    assert_eq!(company["is_enabled"], true);
    assert!(company.get("api_key").is_none(), "never keys");

    let unchanged = fetch(Some(etag.clone())).await.unwrap();
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);

    app.put(
        "/v1/companies/advline/employees",
        &app.admin(),
        json!({ "employees": [{ "employee_id": "1002", "name": "Fatima" }] }),
    )
    .await;
    let changed = fetch(Some(etag.clone())).await.unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert_ne!(changed.headers()["etag"].to_str().unwrap(), etag);

    // A change that does not touch the snapshot (a connection test) keeps the ETag.
    let etag = fetch(None).await.unwrap().headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    app.post(
        "/v1/companies/advline/bayzat-config/test",
        &app.admin(),
        json!({ "api_key": "x" }),
    )
    .await;
    assert_eq!(
        fetch(Some(etag)).await.unwrap().status(),
        StatusCode::NOT_MODIFIED
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_that_matter_to_the_other_services_are_published() {
    let app = App::start().await;
    let admin = app.admin();
    let id = app.company("advline", &["AdvLine"]).await;
    app.post(
        "/v1/companies/advline/report-names",
        &admin,
        json!({ "name": "Adv Line HQ" }),
    )
    .await;
    app.put(
        "/v1/companies/advline/employees",
        &admin,
        json!({ "employees": [{ "employee_id": "1001", "name": "Ahmed" }] }),
    )
    .await;
    app.put(
        "/v1/companies/advline/bayzat-config",
        &admin,
        json!({ "api_key": "k", "test_connection": false, "is_enabled": false }),
    )
    .await;
    app.put(
        "/v1/companies/advline/bayzat-config",
        &admin,
        json!({ "sync_frequency": "hourly" }),
    )
    .await;

    let broker = Broker::start(
        app.env.broker.url(),
        app.env.broker.topology(),
        "events-test",
    );
    let channel = broker.connected().await.create_channel().await.unwrap();
    let queue = app.env.broker.topology().sync_config_queue().name;
    let mut received: Vec<ConfigCompanyChangedV1> = Vec::new();
    let expected = 5;
    for _ in 0..200 {
        while let Ok(Some(message)) = channel
            .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
            .await
        {
            assert_eq!(
                message
                    .delivery
                    .properties
                    .kind()
                    .as_ref()
                    .unwrap()
                    .as_str(),
                "config.company.changed.v1"
            );
            assert_eq!(
                message.delivery.routing_key.as_str(),
                format!("config.company.{id}")
            );
            received.push(serde_json::from_slice(&message.delivery.data).unwrap());
        }
        if received.len() >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let changes: Vec<String> = received
        .iter()
        .map(|e| {
            e.changes
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    assert_eq!(
        changes,
        [
            "created+mapping",
            "mapping",
            "employees",
            "key_rotated+enablement",
            "frequency"
        ]
    );
    assert!(received.iter().all(|e| e.company_id == CompanyId(id)));
}

#[tokio::test(flavor = "multi_thread")]
async fn other_services_audit_events_land_in_the_one_audit_log_once() {
    let app = App::start().await;
    let admin = app.admin();
    let id = app.company("advline", &[]).await;
    let broker = Broker::start(
        app.env.broker.url(),
        app.env.broker.topology(),
        "events-test",
    );
    broker.connected().await;
    let publisher = Publisher::new(broker);
    let event = AuditRecordedV1 {
        actor: "hr-operator".into(),
        action: "import.uploaded".into(),
        company_id: Some(CompanyId(id)),
        target: Some("import 7".into()),
        details: json!({ "filename": "basic.csv" }),
        service: "import-service".into(),
        at: Utc::now(),
    };
    let message = Outgoing::message(Uuid::new_v4(), &event, None).unwrap();
    // Delivered twice (a redelivery): stored once.
    publisher.publish(&message).await.unwrap();
    publisher.publish(&message).await.unwrap();

    // A later event: the audit queue's consumer handles messages in order, so once this one is
    // stored both copies before it have been handled.
    let later = AuditRecordedV1 {
        action: "import.released".into(),
        ..event.clone()
    };
    publisher
        .publish(&Outgoing::message(Uuid::new_v4(), &later, None).unwrap())
        .await
        .unwrap();
    assert!(
        eventually(WAIT, || async {
            app.get("/v1/audit?action=import.released&company=advline", &admin)
                .await
                .1["total"]
                == 1
        })
        .await
    );
    let (_, page) = app
        .get("/v1/audit?action=import.uploaded&company=advline", &admin)
        .await;
    assert_eq!(page["total"], 1);
    let entry = &page["items"][0];
    assert_eq!(
        (entry["service"].as_str(), entry["actor"].as_str()),
        (Some("import-service"), Some("hr-operator"))
    );

    let (_, by_actor) = app.get("/v1/audit?actor=admin-user", &admin).await;
    assert_eq!(by_actor["items"][0]["action"], "company.created");
    let (_, future) = app.get("/v1/audit?from=2999-01-01T00:00:00Z", &admin).await;
    assert_eq!(future["total"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_move_last_sync_at_forward() {
    let app = App::start().await;
    let admin = app.admin();
    let id = app.company("advline", &[]).await;
    app.put(
        "/v1/companies/advline/bayzat-config",
        &admin,
        json!({ "is_enabled": true }),
    )
    .await;
    let broker = Broker::start(
        app.env.broker.url(),
        app.env.broker.topology(),
        "events-test",
    );
    broker.connected().await;
    let publisher = Publisher::new(broker);
    let at = Utc::now() - chrono::Duration::minutes(5);
    let status = |state, at| PunchesStatusV1 {
        company_id: CompanyId(id),
        changes: vec![PunchStatusChange {
            punch_id: PunchId(1),
            state,
            error: None,
            at: Some(at),
        }],
    };
    for message in [
        status(DeliveryState::Delivered, at),
        status(DeliveryState::Delivered, at - chrono::Duration::hours(1)),
        status(DeliveryState::Failed, Utc::now()),
    ] {
        publisher
            .publish(&Outgoing::message(Uuid::new_v4(), &message, None).unwrap())
            .await
            .unwrap();
    }
    let expected = at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    assert!(
        eventually(WAIT, || async {
            let (_, config) = app.get("/v1/companies/advline/bayzat-config", &admin).await;
            config["last_sync_at"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.timestamp_micros())
                == chrono::DateTime::parse_from_rfc3339(&expected)
                    .ok()
                    .map(|t| t.timestamp_micros())
        })
        .await
    );
}
