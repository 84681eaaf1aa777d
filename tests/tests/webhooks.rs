//! Webhooks to the IT portal, against the real processes: every event type reaches a receiver
//! signed as Standard Webhooks asks (checked with the convention's own library), once per event
//! even when the receiver was away for a minute, and a receiver that hangs holds up no punch on
//! its way to Bayzat. No webhook carries a key.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bridge_tests::{fixtures, free_port, wait_for, Role, Service, System};
use clock_push::{Pin, PunchState, SerialNumber};
use clock_sim::{Terminal, TerminalConfig};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use reqwest::Method;
use serde_json::{json, Value};
use test_support::the_one_backend_waiting_on_a_lock;
use test_support::webhook_receiver::{Answer, Received, WebhookReceiver};

const WAIT: Duration = Duration::from_secs(90);

const ALL_TYPES: [&str; 8] = [
    "import.completed",
    "import.failed",
    "import.needs_attention",
    "company.sync_paused",
    "deliveries.failed",
    "batch.completed",
    "clock.silent",
    "clock.pending_approval",
];

/// A system whose config-service may send webhooks to 127.0.0.1 and retries them a few
/// seconds apart (the default schedule spreads a day).
fn builder() -> bridge_tests::SystemBuilder {
    System::builder()
        .env(
            Service::Config,
            "WEBHOOK_ALLOWED_URLS",
            "http://127.0.0.1:*",
        )
        .env(
            Service::Config,
            "WEBHOOK_RETRY_SCHEDULE",
            "1s,2s,4s,8s,8s,8s,8s,8s,8s,8s,8s,8s,8s,8s",
        )
        .env(Service::Config, "WEBHOOK_TIMEOUT", "3")
}

/// Registers the receiver for `types` of every company; returns the endpoint and its secret.
async fn register(system: &System, receiver: &WebhookReceiver, types: &[&str]) -> (Value, String) {
    let created = system
        .call(
            Method::POST,
            Service::Config,
            "/v1/webhooks",
            Role::Admin,
            Some(
                json!({ "url": receiver.url(), "event_types": types, "description": "IT portal" }),
            ),
        )
        .await;
    assert_eq!(created.status, 201, "{created}");
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{created}");
    (created.body, secret)
}

/// Checks a webhook's signature and timestamp as a receiver following the convention does.
fn assert_signed(received: &Received, secret: &str) {
    let verifier = standardwebhooks::Webhook::new(secret).expect("a whsec_ secret");
    let mut headers = http::HeaderMap::new();
    headers.insert("webhook-id", received.id.parse().unwrap());
    headers.insert("webhook-timestamp", received.timestamp.parse().unwrap());
    headers.insert("webhook-signature", received.signature.parse().unwrap());
    verifier
        .verify(received.body.as_bytes(), &headers)
        .unwrap_or_else(|error| panic!("{error:?}: {received:?}"));
}

/// The Bayzat keys of the fixture directory: none may appear in any webhook.
fn keys() -> Vec<String> {
    fixtures::json("directory.json")["companies"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|company| company["api_key"].as_str().map(str::to_owned))
        .collect()
}

fn assert_no_key(received: &[Received]) {
    for key in keys() {
        for webhook in received {
            assert!(
                !webhook.body.contains(&key) && !webhook.signature.contains(&key),
                "a webhook carries the key {key}: {webhook:?}"
            );
        }
    }
}

/// The webhooks accepted, by event id; panics when an event was accepted twice.
fn accepted_once(receiver: &WebhookReceiver) -> BTreeMap<String, Received> {
    let mut by_id = BTreeMap::new();
    for webhook in receiver.accepted() {
        if let Some(earlier) = by_id.insert(webhook.id.clone(), webhook.clone()) {
            panic!(
                "event {} accepted twice: {earlier:?} and {webhook:?}",
                webhook.id
            );
        }
    }
    by_id
}

async fn sim_faults(system: &System, key: &str, faults: Value) {
    let response = test_support::client()
        .put(format!(
            "{}/__admin/keys/{key}/faults",
            system.url(Service::BayzatSim)
        ))
        .json(&faults)
        .send()
        .await
        .expect("simulator faults");
    assert!(response.status().is_success(), "faults of {key}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_event_type_reaches_the_portal_signed_and_without_a_key() {
    let clock_bind = format!("127.0.0.1:{}", free_port());
    let system = System::start_with(
        builder()
            .retry_schedule("1s,1s")
            .env(Service::Import, "IMPORT_CLOCK_BIND", &clock_bind)
            .env(Service::Import, "CLOCK_SILENT_AFTER", "3"),
    )
    .await;
    let receiver = WebhookReceiver::start().await;
    let (_, secret) = register(&system, &receiver, &ALL_TYPES).await;

    an_import_that_fails(&system).await;
    // clarastars' Bayzat fails every call: its retries run out. gulflog's key is refused.
    sim_faults(&system, "bz_test_clara_51e2d0", json!({ "p_500": 1.0 })).await;
    system.sim_delete_key("bz_test_gulf_c8b104").await;
    let upload = system.upload_fixture("basic.csv", "").await;
    assert_eq!(upload.status, 201, "{upload}");
    system
        .wait_until_scheduled("gulflog", "basic.csv", WAIT)
        .await;
    let sync_now = system
        .call(
            Method::POST,
            Service::Sync,
            "/v1/companies/gulflog/sync-now",
            Role::Operator,
            None,
        )
        .await;
    assert!(sync_now.status < 300, "{sync_now}");

    // An approved clock that calls once and goes quiet, and one nobody registered.
    let registered = system
        .call(
            Method::POST,
            Service::Import,
            "/v1/clocks",
            Role::Admin,
            Some(json!({ "serial_number": "HOOKCLOCK1", "companies": ["advline"] })),
        )
        .await;
    assert_eq!(registered.status, 201, "{registered}");
    let quiet = terminal("HOOKCLOCK1", &clock_bind);
    quiet.punch(Pin::parse("1001").unwrap(), PunchState::CheckIn);
    let stranger = terminal("STRANGER01", &clock_bind);
    wait_for(
        WAIT,
        "the registered clock's punch in the ledger",
        || async {
            let clocks = system.get(Service::Import, "/v1/clocks").await;
            clocks
                .body
                .to_string()
                .contains("\"last_punch_at\":\"")
                .then_some(())
                .ok_or_else(|| clocks.body.to_string())
        },
    )
    .await;
    quiet.stop().await;

    let accepted = wait_for(WAIT, "a webhook of every type", || async {
        let accepted = accepted_once(&receiver);
        let types: BTreeSet<String> = accepted.values().map(Received::event_type).collect();
        let missing: Vec<&str> = ALL_TYPES
            .into_iter()
            .filter(|t| !types.contains(*t))
            .collect();
        missing
            .is_empty()
            .then(|| accepted.clone())
            .ok_or_else(|| format!("missing {missing:?}; got {types:?}"))
    })
    .await;
    stranger.stop().await;

    let received = receiver.received();
    for webhook in &received {
        assert_signed(webhook, &secret);
        let body = webhook.json();
        assert!(
            body["timestamp"].is_string() && body["data"].is_object(),
            "{body}"
        );
    }
    assert_no_key(&received);
    let of_type = |kind: &str| -> Vec<Value> {
        accepted
            .values()
            .filter(|w| w.event_type() == kind)
            .map(Received::json)
            .collect()
    };
    let paused = &of_type("company.sync_paused")[0];
    assert!(paused["data"]["reason"].is_string(), "{paused}");
    let needs = &of_type("import.needs_attention");
    assert!(
        needs.iter().any(|w| !w["data"]["unmapped_departments"]
            .as_array()
            .unwrap()
            .is_empty()),
        "{needs:?}"
    );
    let failed = &of_type("deliveries.failed")[0];
    assert!(failed["data"]["count"].as_i64().unwrap() > 0, "{failed}");
    let pending = &of_type("clock.pending_approval")[0];
    assert_eq!(pending["data"]["serial_number"], "STRANGER01", "{pending}");
    let silent = &of_type("clock.silent")[0];
    assert_eq!(silent["data"]["serial_number"], "HOOKCLOCK1", "{silent}");

    // The delivery log shows each one delivered, its attempts with status and latency.
    let endpoints = system.get(Service::Config, "/v1/webhooks").await;
    let id = endpoints.body["endpoints"][0]["id"].as_i64().unwrap();
    let log = system
        .get(
            Service::Config,
            &format!("/v1/webhooks/{id}/deliveries?limit=100"),
        )
        .await;
    assert_eq!(log.status, 200, "{log}");
    for delivery in log.body["deliveries"].as_array().unwrap() {
        if delivery["state"] == "delivered" {
            let last = delivery["log"].as_array().unwrap().last().unwrap().clone();
            assert_eq!(last["status"], 204, "{delivery}");
            assert!(last["latency_ms"].is_i64(), "{delivery}");
        }
    }
}

/// An upload whose storing fails: its transaction waits on the lock every import takes first and
/// is terminated there, as a database restart would end it.
async fn an_import_that_fails(system: &System) {
    let url = system.env().db.url();
    let mut holder = AsyncPgConnection::establish(url).await.unwrap();
    holder
        .batch_execute("BEGIN; SELECT pg_advisory_xact_lock(hashtext('import.punches'))")
        .await
        .unwrap();
    let terminate = async {
        let pid = the_one_backend_waiting_on_a_lock(url).await;
        diesel::sql_query(format!("SELECT pg_terminate_backend({pid})"))
            .execute(&mut holder)
            .await
            .unwrap();
    };
    let (upload, ()) = tokio::join!(system.upload_fixture("overnight.csv", ""), terminate);
    holder.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(upload.status, 503, "{upload}");
}

fn terminal(serial: &str, clock_bind: &str) -> Terminal {
    let mut config = TerminalConfig::new(
        SerialNumber::parse(serial).unwrap(),
        format!("http://{clock_bind}"),
    );
    config.heartbeat_interval = Duration::from_millis(300);
    config.backoff_initial = Duration::from_millis(20);
    config.backoff_max = Duration::from_millis(200);
    Terminal::spawn(config)
}

/// A receiver that hangs for a minute: the punches reach Bayzat all the same, and once it
/// answers again, every event of the upload reaches it exactly once, in order per company, and
/// a replay sends one again under the same id.
#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_away_for_a_minute_gets_every_event_once_and_holds_up_no_punch() {
    let system = System::start_with(builder()).await;
    let receiver = WebhookReceiver::start().await;
    let (endpoint, secret) = register(&system, &receiver, &ALL_TYPES).await;
    receiver.answer(Answer::Hang);
    let away_since = std::time::Instant::now();

    let upload = system.upload_fixture("basic.csv", "").await;
    assert_eq!(upload.status, 201, "{upload}");
    let outcomes = fixtures::report_outcomes(system.directory(), "basic.csv");
    for slug in ["advline", "clarastars"] {
        system
            .wait_for_ledger(slug, &outcomes[slug].delivered, WAIT)
            .await;
    }
    // Every punch is in Bayzat while the receiver has not taken a single webhook.
    assert!(receiver.accepted().is_empty());
    wait_for(WAIT, "the hanging receiver tried", || async {
        (!receiver.received().is_empty())
            .then_some(())
            .ok_or_else(|| "no attempt yet".to_owned())
    })
    .await;
    let left = Duration::from_secs(60).saturating_sub(away_since.elapsed());
    tokio::time::sleep(left).await;
    receiver.answer(Answer::Accept);

    // Every event tried while it was away arrives, once.
    let tried: BTreeSet<String> = receiver.received().into_iter().map(|r| r.id).collect();
    let accepted = wait_for(WAIT, "every event tried is accepted", || async {
        let accepted = accepted_once(&receiver);
        let missing: Vec<&String> = tried
            .iter()
            .filter(|id| !accepted.contains_key(*id))
            .collect();
        let batches = accepted
            .values()
            .filter(|w| w.event_type() == "batch.completed")
            .count();
        (missing.is_empty() && batches >= 2)
            .then(|| accepted.clone())
            .ok_or_else(|| format!("{} not accepted yet; {batches} batches", missing.len()))
    })
    .await;
    for webhook in receiver.received() {
        assert_signed(&webhook, &secret);
    }
    assert_no_key(&receiver.received());
    // A company's import is told of before its batch.
    let order: Vec<(String, String)> = receiver
        .accepted()
        .iter()
        .map(|w| (w.event_type(), w.body.clone()))
        .collect();
    let first_batch = order
        .iter()
        .position(|(t, _)| t == "batch.completed")
        .unwrap();
    let first_import = order
        .iter()
        .position(|(t, _)| t == "import.completed")
        .unwrap();
    assert!(first_import < first_batch, "{order:?}");

    // A replay sends an event again, with the same webhook-id.
    let id = endpoint["id"].as_i64().unwrap();
    let log = system
        .get(Service::Config, &format!("/v1/webhooks/{id}/deliveries"))
        .await;
    let delivery = &log.body["deliveries"][0];
    let replayed = system
        .call(
            Method::POST,
            Service::Config,
            &format!("/v1/webhooks/{id}/deliveries/{}/replay", delivery["id"]),
            Role::Admin,
            None,
        )
        .await;
    assert_eq!(replayed.status, 202, "{replayed}");
    let event_id = delivery["event_id"].as_str().unwrap().to_owned();
    wait_for(WAIT, "the replay", || async {
        let again = receiver
            .accepted()
            .into_iter()
            .filter(|w| w.id == event_id)
            .count();
        (again == 2).then_some(()).ok_or(format!("{again} times"))
    })
    .await;
    let after = system
        .get(Service::Config, &format!("/v1/webhooks/{id}/deliveries"))
        .await;
    let replayed = after.body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["event_id"] == event_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(replayed["state"], "delivered", "{replayed}");
    assert_eq!(
        replayed["log"].as_array().unwrap().last().unwrap()["replay"],
        true
    );
    assert!(accepted.len() >= 4, "{accepted:?}");
}
