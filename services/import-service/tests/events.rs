//! The events import-service tells people of, through config-service's webhooks and mail
//! (`bridge.event.v1`, routed `event.{company}` or `event.none` to `config.events`): an upload
//! completed for each of its companies and what in it needs attention, an upload that failed, a
//! terminal waiting for approval, and an approved clock falling silent, once per silence.
//!
//! The tests hear the events on a queue of their own bound as `config.events` is: config-service,
//! which consumes `config.events`, would otherwise take some of them first.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth::Role;
use bus::lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use bus::lapin::types::FieldTable;
use common::clocks::{self, admin, call, ClockOptions, WAIT};
use common::{fixture, Stack};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use domain::{BridgeEvent, BridgeEventV1, Message};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use test_support::{the_one_backend_waiting_on_a_lock, wait_for};

/// An event as heard: the message's id and routing key, and the event.
#[derive(Debug, Clone)]
struct Heard {
    message_id: uuid::Uuid,
    routing_key: String,
    event: BridgeEventV1,
}

/// Every event published in the stack's namespace since [`Events::listen`].
struct Events {
    heard: Arc<Mutex<Vec<Heard>>>,
    task: tokio::task::JoinHandle<()>,
    database_url: String,
}

impl Drop for Events {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Events {
    /// Binds a queue of the test's own (exclusive: it goes with the connection) with the
    /// bindings of `config.events`, and keeps what arrives.
    async fn listen(stack: &Stack) -> Self {
        let topology = stack.broker.topology();
        let connection = stack.broker.connected().await;
        let channel = connection.create_channel().await.unwrap();
        let queue = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        for binding in &topology.config_events_queue().bindings {
            channel
                .queue_bind(
                    queue.name().as_str().into(),
                    topology.exchange().as_str().into(),
                    binding.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .unwrap();
        }
        let mut deliveries = channel
            .basic_consume(
                queue.name().as_str().into(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        let heard = Arc::new(Mutex::new(Vec::new()));
        let sink = heard.clone();
        let task = tokio::spawn(async move {
            let _channel = channel;
            while let Some(Ok(delivery)) = deliveries.next().await {
                let kind = delivery.properties.kind().as_ref().map(|k| k.to_string());
                assert_eq!(kind.as_deref(), Some(BridgeEventV1::TYPE));
                let message_id = delivery
                    .properties
                    .message_id()
                    .as_ref()
                    .and_then(|id| uuid::Uuid::parse_str(id.as_str()).ok())
                    .expect("a message id");
                sink.lock().unwrap().push(Heard {
                    message_id,
                    routing_key: delivery.routing_key.to_string(),
                    event: serde_json::from_slice(&delivery.data).expect("a bridge.event.v1"),
                });
            }
        });
        Self {
            heard,
            task,
            database_url: stack.env.db.url().to_owned(),
        }
    }

    /// Waits until every event import-service has written to its outbox so far has arrived;
    /// returns all heard.
    async fn settle(&self) -> Vec<Heard> {
        wait_for(WAIT, "every event written arrives", || async {
            let written = written_events(&self.database_url).await?;
            let arrived: HashSet<uuid::Uuid> = self.heard().iter().map(|h| h.message_id).collect();
            let missing = written.iter().filter(|id| !arrived.contains(id)).count();
            (missing == 0)
                .then_some(())
                .ok_or(format!("{missing} of {} not arrived", written.len()))
        })
        .await;
        self.heard()
    }

    fn heard(&self) -> Vec<Heard> {
        self.heard.lock().unwrap().clone()
    }

    /// Waits until `count` events of `kind` satisfying `about` have arrived; returns them.
    async fn wait_for(
        &self,
        count: usize,
        kind: &str,
        about: impl Fn(&BridgeEventV1) -> bool,
    ) -> Vec<BridgeEventV1> {
        wait_for(WAIT, &format!("{count} {kind}"), || async {
            let found: Vec<BridgeEventV1> = self
                .heard()
                .into_iter()
                .map(|h| h.event)
                .filter(|e| e.event.type_name() == kind && about(e))
                .collect();
            (found.len() >= count)
                .then(|| found.clone())
                .ok_or(format!("{} so far: {found:?}", found.len()))
        })
        .await
    }
}

/// The message ids of the `bridge.event.v1` in import-service's outbox.
async fn written_events(database_url: &str) -> Result<Vec<uuid::Uuid>, String> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        message_id: uuid::Uuid,
    }
    let mut conn = AsyncPgConnection::establish(database_url)
        .await
        .map_err(|e| e.to_string())?;
    let rows: Vec<Row> =
        diesel::sql_query("SELECT message_id FROM import.outbox WHERE message_type = $1")
            .bind::<diesel::sql_types::Text, _>(BridgeEventV1::TYPE)
            .load(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
    Ok(rows.into_iter().map(|r| r.message_id).collect())
}

fn import_of(event: &BridgeEventV1) -> Option<i64> {
    match &event.event {
        BridgeEvent::ImportCompleted(facts) => Some(facts.import_id.0),
        BridgeEvent::ImportFailed(failure) => Some(failure.import_id.0),
        BridgeEvent::ImportNeedsAttention(attention) => Some(attention.import_id.0),
        _ => None,
    }
}

/// The events heard of import `id`: (type, company) → the event's data.
fn of_import(heard: &[Heard], id: i64) -> BTreeMap<(&'static str, Option<i64>), Value> {
    let mut events = BTreeMap::new();
    for h in heard.iter().filter(|h| import_of(&h.event) == Some(id)) {
        let company = h.event.company_id.map(|c| c.0);
        let expected_key = company.map_or("event.none".to_owned(), |c| format!("event.{c}"));
        assert_eq!(h.routing_key, expected_key, "{h:?}");
        let data = serde_json::to_value(&h.event).unwrap()["data"].clone();
        let previous = events.insert((h.event.event.type_name(), company), data);
        assert!(previous.is_none(), "told twice: {h:?}");
    }
    events
}

#[tokio::test]
async fn an_upload_is_completed_for_each_of_its_companies_and_told_what_needs_attention() {
    let stack = Stack::start().await;
    let events = Events::listen(&stack).await;
    let mut id = BTreeMap::new();
    for slug in ["advline", "clarastars", "gulflog", "dormant"] {
        id.insert(slug, stack.company_id(slug).await);
    }

    // basic.csv: rows of all four companies; 9999 is not in advline's directory, and
    // "Marketing Dept" (with 5001, whom no directory knows) is no company's department.
    let (status, import) = stack.upload("basic.csv", "").await;
    assert_eq!(status, StatusCode::CREATED, "{import}");
    let import_id = import["id"].as_i64().unwrap();
    let heard = events.settle().await;
    let facts = json!({
        "import_id": import_id,
        "filename": import["filename"],
        "total_rows": 21,
        "valid_rows": 18,
        "invalid_rows": 2,
        "skipped_rows": 1,
        "new_punches": import["punches_new"],
    });
    let mut expected: BTreeMap<(&str, Option<i64>), Value> = id
        .values()
        .map(|&company| (("import.completed", Some(company)), facts.clone()))
        .collect();
    expected.insert(
        ("import.needs_attention", None),
        json!({ "import_id": import_id, "filename": import["filename"],
            "unmapped_departments": ["Marketing Dept"], "unknown_employees": 1 }),
    );
    expected.insert(
        ("import.needs_attention", Some(id["advline"])),
        json!({ "import_id": import_id, "filename": import["filename"],
            "unmapped_departments": [], "unknown_employees": 1 }),
    );
    assert_eq!(of_import(&heard, import_id), expected);

    // Held: every company of the import is told it waits for a release.
    let (status, held) = stack.upload("basic-overlap.csv", "hold=true").await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    let held_id = held["id"].as_i64().unwrap();
    let heard = of_import(&events.settle().await, held_id);
    let completed: BTreeSet<Option<i64>> = heard
        .keys()
        .filter(|(kind, _)| *kind == "import.completed")
        .map(|(_, company)| *company)
        .collect();
    assert_eq!(
        completed,
        [Some(id["advline"]), Some(id["clarastars"])].into(),
        "{heard:?}"
    );
    for company in completed {
        let attention = &heard[&("import.needs_attention", company)];
        assert_eq!(attention["held_reason"], "hold", "{attention}");
        assert_eq!(attention["unknown_employees"], 0, "{attention}");
    }
    assert_eq!(heard.len(), 4, "{heard:?}");

    // Rows of no company: one event of each, of none.
    let nobodys = "Employee ID,Name,Department,Date,Check In,Check Out\n\
                   1001,Ahmed,Nowhere,2026-11-01,08:00,17:00\n";
    let (status, import) = stack.upload_bytes(nobodys.as_bytes().to_vec(), "").await;
    assert_eq!(status, StatusCode::CREATED, "{import}");
    let import_id = import["id"].as_i64().unwrap();
    let heard = of_import(&events.settle().await, import_id);
    assert_eq!(
        heard.keys().copied().collect::<Vec<_>>(),
        [("import.completed", None), ("import.needs_attention", None)]
    );
    assert_eq!(
        heard[&("import.needs_attention", None)]["unmapped_departments"],
        json!(["Nowhere"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_that_fails_is_told_with_its_reason() {
    let stack = Stack::start().await;
    let events = Events::listen(&stack).await;
    // The import's transaction waits on the lock every import takes first, and is terminated
    // there: the import fails.
    let url = stack.env.db.url();
    let mut holder = AsyncPgConnection::establish(url).await.unwrap();
    holder
        .batch_execute("BEGIN; SELECT pg_advisory_xact_lock(hashtext('import.punches'))")
        .await
        .unwrap();
    let request = stack
        .client
        .post(format!("{}/v1/imports", stack.import_base))
        .bearer_auth(stack.token(Role::Operator))
        .header("content-type", "text/csv")
        .body(std::fs::read(fixture("basic.csv")).unwrap());
    let answer = tokio::spawn(async move { request.send().await.expect("an answer") });
    let pid = the_one_backend_waiting_on_a_lock(url).await;
    diesel::sql_query(format!("SELECT pg_terminate_backend({pid})"))
        .execute(&mut holder)
        .await
        .unwrap();
    let response = answer.await.unwrap();
    holder.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);

    let (_, listed) = stack.get("/v1/imports").await;
    let failed = &listed["items"][0];
    assert_eq!(failed["status"], "failed", "{listed}");
    let import_id = failed["id"].as_i64().unwrap();
    let heard = of_import(&events.settle().await, import_id);
    assert_eq!(
        heard,
        [(
            ("import.failed", None),
            json!({ "import_id": import_id, "filename": failed["filename"], "error": failed["error"] })
        )]
        .into(),
    );
    assert_eq!(
        failed["error"],
        "the database did not store the import; the service log says why"
    );
}

/// Short, so the test sees a clock fall silent; long enough that a terminal calling every
/// [`HEARTBEAT`] never is.
const SILENT_AFTER: Duration = Duration::from_secs(2);
const HEARTBEAT: Duration = Duration::from_millis(200);

/// Whether the REST view of clock `id` says it is silent.
async fn silent(stack: &Stack, id: i64) -> bool {
    let (status, body) = call(
        stack,
        Role::Viewer,
        reqwest::Method::GET,
        "/v1/clocks",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed = body["items"].as_array().unwrap();
    let clock = listed.iter().find(|c| c["id"] == id).expect("listed");
    clock["silent"] == true
}

#[tokio::test]
async fn a_terminal_waiting_for_approval_and_each_silence_of_an_approved_clock_are_told() {
    let (stack, clock_base) = clocks::stack_with(&ClockOptions {
        clock_silent_after: SILENT_AFTER,
        ..ClockOptions::default()
    })
    .await;
    let events = Events::listen(&stack).await;
    let clock = clocks::terminal(&clock_base, "EVT0001", HEARTBEAT);
    clocks::handshaken(&clock).await;

    // First recorded pending: of no company, with where it called from.
    let pending = events.wait_for(1, "clock.pending_approval", |_| true).await;
    let BridgeEvent::ClockPendingApproval(facts) = &pending[0].event else {
        panic!("{pending:?}");
    };
    assert_eq!(pending[0].company_id, None);
    assert_eq!(facts.serial_number, "EVT0001");
    assert_eq!(facts.address.as_deref(), Some("127.0.0.1"));
    let id = facts.clock_id;

    // Approved for two companies, then off the network: silent, told to each company.
    let (status, body) = admin(
        &stack,
        reqwest::Method::PATCH,
        &format!("/v1/clocks/{id}"),
        Some(json!({ "companies": ["advline", "clarastars"] })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = admin(
        &stack,
        reqwest::Method::POST,
        &format!("/v1/clocks/{id}/approve"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let companies: BTreeSet<Option<i64>> = [
        Some(stack.company_id("advline").await),
        Some(stack.company_id("clarastars").await),
    ]
    .into();
    clock.set_offline(true);
    let first = events.wait_for(2, "clock.silent", |_| true).await;
    assert_eq!(
        first
            .iter()
            .map(|e| e.company_id.map(|c| c.0))
            .collect::<BTreeSet<_>>(),
        companies
    );
    let last_seen = |event: &BridgeEventV1| match &event.event {
        BridgeEvent::ClockSilent(facts) => {
            assert_eq!(
                (facts.clock_id, facts.serial_number.as_str()),
                (id, "EVT0001")
            );
            facts.last_seen_at.expect("it called before")
        }
        other => panic!("{other:?}"),
    };
    let first_seen = last_seen(&first[0]);
    assert_eq!(last_seen(&first[1]), first_seen);

    // Back, then silent again: a new silence, told again.
    clock.set_offline(false);
    wait_for(WAIT, "the clock calls again", || async {
        (!silent(&stack, id).await)
            .then_some(())
            .ok_or_else(|| "still silent".to_owned())
    })
    .await;
    clock.set_offline(true);
    let both = events.wait_for(4, "clock.silent", |_| true).await;
    let later: Vec<&BridgeEventV1> = both.iter().filter(|e| last_seen(e) != first_seen).collect();
    assert_eq!(later.len(), 2, "{both:?}");
    assert!(last_seen(later[0]) > first_seen);

    // Once each: the pending clock however often it called, each silence however often the
    // clocks were read meanwhile.
    let heard = events.settle().await;
    let count = |kind: &str| {
        heard
            .iter()
            .filter(|h| h.event.event.type_name() == kind)
            .count()
    };
    assert_eq!(count("clock.pending_approval"), 1);
    assert_eq!(count("clock.silent"), 4);
    let ids: HashSet<uuid::Uuid> = heard.iter().map(|h| h.event.event_id).collect();
    assert_eq!(ids.len(), heard.len(), "every event is one of its own");
    assert!(heard.iter().all(|h| h.routing_key
        == h.event
            .company_id
            .map_or("event.none".to_owned(), |c| format!("event.{c}"))));
    clock.stop().await;
}
