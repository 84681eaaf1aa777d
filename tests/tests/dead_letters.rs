//! Dead letters are visible and recoverable: a message no consumer can handle lands in the
//! dead-letter queue, shows on sync-service's `/metrics` and in `GET /v1/dead-letters` (only to
//! operators of its company), and `POST /v1/dead-letters/{id}/replay` delivers a dead-lettered
//! punch batch exactly once, however often it is replayed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bridge_tests::fixtures::{self, Punch};
use bridge_tests::{Role, Service, System};
use bus::lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicRejectOptions, ConfirmSelectOptions,
};
use bus::lapin::types::FieldTable;
use bus::lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

/// Polls `check` until it gives a value, and panics with its last complaint after [`WAIT`].
async fn poll<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    test_support::wait_for(WAIT, what, check).await
}

/// Publishes `payload` as a `punches.ready.v1` message on the company's queue, as import-service
/// would, and waits for RabbitMQ to confirm it.
async fn publish_ready(system: &System, company_id: i64, message_id: &str, payload: &[u8]) {
    let (connection, channel) = channel(system).await;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let confirm = channel
        .basic_publish(
            system.env().broker.topology().exchange().as_str().into(),
            format!("company.{company_id}.ready").as_str().into(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            payload,
            BasicProperties::default()
                .with_message_id(message_id.into())
                .with_type("punches.ready.v1".into()),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(confirm.is_ack());
    let _ = connection.close(200, "published".into()).await;
}

async fn channel(system: &System) -> (Connection, Channel) {
    let connection =
        Connection::connect(system.env().broker.url(), ConnectionProperties::default())
            .await
            .expect("connect to RabbitMQ");
    let channel = connection.create_channel().await.expect("a channel");
    (connection, channel)
}

/// The dead letters a caller with `token` sees (every page is one here).
async fn dead_letters(system: &System, token: &str, query: &str) -> (u16, Value) {
    let response = system
        .client
        .get(format!(
            "{}/v1/dead-letters?per_page=500{query}",
            system.url(Service::Sync)
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("list dead letters");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn replay(system: &System, token: Option<&str>, id: &Value) -> (u16, String, Value) {
    let mut request = system.client.request(
        Method::POST,
        format!("{}/v1/dead-letters/{id}/replay", system.url(Service::Sync)),
    );
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("replay");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (
        status,
        content_type,
        response.json().await.unwrap_or(Value::Null),
    )
}

/// The value of `bridge_dead_letters{queue="…"}` on sync-service's /metrics (0 when absent).
async fn dead_letter_gauge(system: &System, queue: &str) -> i64 {
    let text = test_support::metrics(&system.client, &system.url(Service::Sync)).await;
    test_support::metric_value(&text, "bridge_dead_letters", &[("queue", queue)])
        .map_or(0, |value| value as i64)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_poison_message_is_counted_listed_and_shown_only_to_its_companys_operators() {
    let system = System::start().await;
    let advline = system.company_id("advline").await;
    let queue = format!("sync.company.{advline}");

    // A malformed batch of punches on advline's queue: sync-service can never handle it.
    let message_id = uuid_like();
    publish_ready(
        &system,
        advline,
        &message_id,
        br#"{"not": "a batch of punches"}"#,
    )
    .await;

    let operator = system.token(Role::Operator);
    let listed = poll("the poison message is listed", || async {
        let (status, body) = dead_letters(&system, &operator, "").await;
        body["items"]
            .as_array()
            .and_then(|items| {
                items
                    .iter()
                    .find(|item| item["message_id"] == message_id.as_str())
            })
            .cloned()
            .ok_or(format!("{status} {body}"))
    })
    .await;
    assert_eq!(listed["queue"], queue.as_str(), "{listed}");
    assert_eq!(listed["routing_key"], format!("company.{advline}.ready"));
    assert_eq!(listed["company_id"], advline);
    assert_eq!(listed["message_type"], "punches.ready.v1");
    assert!(listed["replayed_at"].is_null());
    assert!(
        listed["reason"]
            .as_str()
            .is_some_and(|r| r.contains("undecodable")),
        "the reason says why: {listed}"
    );
    assert!(listed["payload"]
        .as_str()
        .is_some_and(|p| p.contains("not")));

    bridge_tests::wait_for(WAIT, "the dead letter is counted", || async {
        let count = dead_letter_gauge(&system, &queue).await;
        (count == 1).then_some(()).ok_or(format!(
            "bridge_dead_letters{{queue=\"{queue}\"}} = {count}"
        ))
    })
    .await;

    // Filters, and who sees what.
    let (_, mine) = dead_letters(
        &system,
        &operator,
        &format!("&company=advline&queue={queue}"),
    )
    .await;
    assert_eq!(mine["total"], 1, "{mine}");
    let clarastars_operator = system.token_for(Role::Operator, &["clarastars"]);
    let (status, theirs) = dead_letters(&system, &clarastars_operator, "").await;
    assert_eq!(status, 200);
    assert_eq!(
        theirs["total"], 0,
        "another company's operator sees nothing: {theirs}"
    );
    let (status, content_type, _) =
        replay(&system, Some(&clarastars_operator), &listed["id"]).await;
    assert_eq!(status, 404, "another company's dead letter is not found");
    assert_eq!(content_type, "application/problem+json");
    let (status, _) = dead_letters(&system, &system.token(Role::Viewer), "").await;
    assert_eq!(status, 403, "viewers do not list dead letters");
    let (status, _, _) = replay(&system, Some(&system.token(Role::Viewer)), &listed["id"]).await;
    assert_eq!(status, 403, "viewers do not replay");
    let (status, _, _) = replay(&system, None, &listed["id"]).await;
    assert_eq!(status, 401);
    let (status, _, _) = replay(&system, Some(&operator), &Value::from(999_999)).await;
    assert_eq!(status, 404);
}

/// A batch of real punches that died in advline's queue (rejected while sync-service was
/// down) is delivered once it is replayed, once only: the second replay is refused and Bayzat
/// still holds each punch once. The replay is in the audit log.
#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_dead_letter_is_delivered_once_and_a_second_replay_delivers_nothing() {
    let mut system = System::start().await;
    let advline = system.company_id("advline").await;
    system.kill(Service::Sync);

    let (csv, punches) = fixtures::generated_report("2026-03-01", 1);
    let reply = system
        .upload_bytes("export.csv", csv.into_bytes(), "")
        .await;
    assert_eq!(reply.status, 201, "{reply}");
    let expected: BTreeSet<Punch> = punches["advline"].iter().cloned().collect();

    // Every message waiting in advline's queue is rejected: RabbitMQ dead-letters it. (The
    // queue has a single active consumer: with sync-service down, that is this one.)
    let (connection, channel) = channel(&system).await;
    let queue = system.env().broker.topology().company_queue(advline).name;
    let mut consumer = channel
        .basic_consume(
            queue.as_str().into(),
            "test".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume advline's queue");
    let mut rejected = 0;
    let mut wait = WAIT;
    while let Ok(Some(delivery)) = tokio::time::timeout(wait, consumer.next()).await {
        delivery
            .expect("a delivery")
            .reject(BasicRejectOptions { requeue: false })
            .await
            .expect("reject");
        rejected += 1;
        // The rest of the import's messages follow at once.
        wait = Duration::from_secs(3);
    }
    assert!(rejected > 0, "no message reached advline's queue");
    let _ = connection.close(200, "rejected".into()).await;

    system.start_service(Service::Sync).await;
    let admin = system.token(Role::Admin);
    let waiting: Vec<Value> = poll("the rejected batches are listed", || async {
        let (status, body) = dead_letters(&system, &admin, "&company=advline").await;
        let items = body["items"].as_array().cloned().unwrap_or_default();
        (items.len() == rejected)
            .then_some(items)
            .ok_or(format!("{status} {body}"))
    })
    .await;
    for item in &waiting {
        assert_eq!(item["reason"], "rejected", "{item}");
        assert_eq!(item["message_type"], "punches.ready.v1", "{item}");
    }
    let queue_label = format!("sync.company.{advline}");
    bridge_tests::wait_for(WAIT, "counted", || async {
        let count = dead_letter_gauge(&system, &queue_label).await;
        (count == rejected as i64)
            .then_some(())
            .ok_or(format!("{count}"))
    })
    .await;
    assert!(
        system.ledger_of("advline").await.is_empty(),
        "nothing of advline's reached Bayzat before the replay"
    );

    for item in &waiting {
        let (status, _, body) = replay(&system, Some(&admin), &item["id"]).await;
        assert_eq!(status, 202, "{body}");
        assert!(body["replayed_at"].is_string(), "{body}");
        assert_eq!(body["replayed_by"], "admin-user");
    }
    system.wait_for_ledger("advline", &expected, WAIT).await;

    for item in &waiting {
        let (status, content_type, body) = replay(&system, Some(&admin), &item["id"]).await;
        assert_eq!(status, 409, "a second replay is refused: {body}");
        assert_eq!(content_type, "application/problem+json");
        assert_eq!(body["code"], "already_replayed", "{body}");
    }
    // A later message on advline's queue: sync-service handles the queue in order, so once
    // this empty batch is stored, anything a refused replay had queued has been stored too, as
    // deliveries (a repeated punch would be one more).
    let marker = serde_json::json!({
        "batch_id": test_support::random_uuid(),
        "import_id": 999_999,
        "company_id": advline,
        "punches": [],
    });
    publish_ready(
        &system,
        advline,
        &test_support::random_uuid(),
        marker.to_string().as_bytes(),
    )
    .await;
    bridge_tests::wait_for(WAIT, "the later batch is stored", || async {
        let reply = system
            .get(Service::Sync, "/v1/batches?import_id=999999")
            .await;
        (reply.body["total"] == 1)
            .then_some(())
            .ok_or(reply.to_string())
    })
    .await;
    let mut deliveries = system.delivery_counts("advline").await;
    deliveries.retain(|_, n| *n > 0);
    assert_eq!(
        deliveries,
        BTreeMap::from([("delivered".to_owned(), expected.len() as i64)]),
        "each punch is one delivery"
    );
    system
        .wait_for_ledger("advline", &expected, Duration::from_secs(5))
        .await;
    let key = &system.directory().company("advline").api_key;
    assert_eq!(
        system.sim_stats().await.keys[key].accepted_records,
        expected.len() as u64,
        "Bayzat accepted each punch once"
    );
    let (_, left) = dead_letters(&system, &admin, "&company=advline").await;
    assert_eq!(left["total"], 0, "nothing waits any more: {left}");
    let (_, replayed) = dead_letters(&system, &admin, "&company=advline&state=replayed").await;
    assert_eq!(replayed["total"], rejected as i64, "{replayed}");
    bridge_tests::wait_for(WAIT, "no longer counted", || async {
        let count = dead_letter_gauge(&system, &queue_label).await;
        (count == 0).then_some(()).ok_or(format!("{count}"))
    })
    .await;

    bridge_tests::wait_for(WAIT, "the replays are audited", || async {
        let reply = system
            .get(Service::Config, "/v1/audit?action=dead_letter.replayed")
            .await;
        let count = reply.body["items"].as_array().map_or(0, Vec::len);
        (count == rejected).then_some(()).ok_or(format!("{reply}"))
    })
    .await;
}

/// A message id as the services write them.
fn uuid_like() -> String {
    test_support::unique_name("poison")
}
