//! The `bridge.event.v1` events sync-service publishes for config-service's webhooks and mail,
//! as they arrive through the broker: one `company.sync_paused` per pause, one
//! `deliveries.failed` per answer that ran punches out of retries, one `batch.completed` each
//! time a batch settles.

mod common;

use std::sync::Mutex;
use std::time::Duration;

use auth::Role;
use bayzat_sim::Faults;
use bus::lapin::options::{BasicGetOptions, QueueBindOptions, QueueDeclareOptions};
use bus::lapin::types::FieldTable;
use bus::lapin::{Channel, Connection, ConnectionProperties};
use common::*;
use domain::{BatchId, BatchOutcome, BridgeEvent, BridgeEventV1, CompanyId, ImportId, Message};
use serde_json::json;
use test_support::wait_for;

/// Every event routed to `config.events` in the test's namespace, read from a queue of the
/// test's own with the same bindings: config-service, running in the stack, consumes
/// `config.events` itself and would take some of them.
struct Events {
    _connection: Connection,
    channel: Channel,
    queue: String,
    seen: Mutex<Vec<BridgeEventV1>>,
}

impl Events {
    async fn listen(stack: &Stack) -> Self {
        let topology = stack.env.broker.topology();
        let connection =
            Connection::connect(stack.env.broker.url(), ConnectionProperties::default())
                .await
                .expect("connect to RabbitMQ");
        let channel = connection.create_channel().await.expect("a channel");
        let config_events = topology.config_events_queue();
        let queue = format!("{}.copy", config_events.name);
        let options = QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..QueueDeclareOptions::default()
        };
        channel
            .queue_declare(queue.as_str().into(), options, FieldTable::default())
            .await
            .expect("declare the copy queue");
        for binding in &config_events.bindings {
            channel
                .queue_bind(
                    queue.as_str().into(),
                    topology.exchange().as_str().into(),
                    binding.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .expect("bind the copy queue");
        }
        Self {
            _connection: connection,
            channel,
            queue,
            seen: Mutex::new(Vec::new()),
        }
    }

    /// Takes in what has arrived, checking each message is a `bridge.event.v1` routed by its
    /// company; returns every event seen so far.
    async fn take(&self) -> Vec<BridgeEventV1> {
        loop {
            let taken = self
                .channel
                .basic_get(self.queue.as_str().into(), BasicGetOptions { no_ack: true })
                .await
                .expect("read the copy queue");
            let Some(message) = taken else {
                return self.seen.lock().unwrap().clone();
            };
            let delivery = message.delivery;
            let kind = delivery.properties.kind().as_ref().map(|k| k.to_string());
            assert_eq!(kind.as_deref(), Some(BridgeEventV1::TYPE));
            let event: BridgeEventV1 =
                serde_json::from_slice(&delivery.data).expect("a bridge event");
            assert_eq!(delivery.routing_key.as_str(), event.routing_key());
            self.seen.lock().unwrap().push(event);
        }
    }

    /// Every event sync-service has written so far: waits until its relay has published all
    /// its outbox (the broker confirmed each, so each is in the queue by then).
    async fn all(&self, stack: &Stack) -> Vec<BridgeEventV1> {
        wait_for(
            Duration::from_secs(30),
            "sync-service's relay publishes its outbox",
            || async {
                let unsent = unsent_messages(stack).await?;
                (unsent == 0)
                    .then_some(())
                    .ok_or(format!("{unsent} unsent"))
            },
        )
        .await;
        self.take().await
    }

    /// Waits until the events seen of `event_type` make `done` true; returns them.
    async fn wait_for(
        &self,
        event_type: &str,
        done: impl Fn(&[BridgeEventV1]) -> bool,
    ) -> Vec<BridgeEventV1> {
        wait_for(Duration::from_secs(30), event_type, || async {
            let seen = of_type(&self.take().await, event_type);
            if done(&seen) {
                Ok(seen)
            } else {
                Err(format!("saw {seen:?}"))
            }
        })
        .await
    }
}

/// How many messages sync-service's outbox holds that the broker has not confirmed yet.
async fn unsent_messages(stack: &Stack) -> Result<i64, String> {
    use diesel_async::{AsyncConnection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct Unsent {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = diesel_async::AsyncPgConnection::establish(stack.env.db.url())
        .await
        .map_err(|e| e.to_string())?;
    let unsent: Unsent =
        diesel::sql_query("SELECT count(*) AS n FROM sync.outbox WHERE sent_at IS NULL")
            .get_result(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
    Ok(unsent.n)
}

fn of_type(events: &[BridgeEventV1], event_type: &str) -> Vec<BridgeEventV1> {
    events
        .iter()
        .filter(|e| e.event.type_name() == event_type)
        .cloned()
        .collect()
}

/// Moves the shared clock a day at every look until `done` holds, so retries fall due at once.
async fn advance_until<F, Fut>(stack: &Stack, timeout: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    wait_for(timeout, "the outcome after moving the clock on", || {
        let holds = done();
        async move {
            if holds.await {
                return Ok(());
            }
            stack.clock.advance(Duration::from_secs(25 * 3600));
            Err(format!("not yet at {}", stack.clock.now()))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_key_is_one_sync_paused_event_per_pause() {
    const REFUSED: &str = "bz_not_known_here";
    const REFUSED_TOO: &str = "bz_not_known_either";
    let stack = Stack::start(1).await;
    let events = Events::listen(&stack).await;
    let advline = stack.company_id("advline").await;
    stack
        .put_config(
            "advline",
            json!({"api_key": REFUSED, "test_connection": false}),
        )
        .await;
    stack.config_taken_in().await;
    stack.ready(advline, 1, punches(1, 25)).await;
    stack
        .wait_for(advline, 25, &["paused"], Duration::from_secs(15))
        .await;
    let paused = events
        .wait_for("company.sync_paused", |seen| !seen.is_empty())
        .await;
    let (_, health) = stack
        .get("/v1/companies/advline/sync-health", Role::Viewer)
        .await;
    assert_eq!(health["state"], "paused_auth", "{health}");
    let first = &paused[0];
    assert_eq!(first.company_id, Some(CompanyId(advline)));
    let BridgeEvent::CompanySyncPaused(data) = &first.event else {
        panic!("{first:?}");
    };
    assert_eq!(
        data.reason,
        "Bayzat refused the company's key (401): Unauthorized"
    );
    assert_eq!(health["state_reason"], data.reason, "{health}");
    assert_eq!(
        health["state_since"].as_str().map(|s| s.parse().unwrap()),
        Some(data.since),
        "{health}"
    );
    // More punches and scheduler rounds while paused: nothing is sent, nothing is told again.
    stack.ready(advline, 2, punches(1001, 5)).await;
    stack
        .wait_for(advline, 30, &["paused"], Duration::from_secs(15))
        .await;
    stack.scheduler_round_passes().await;
    let all = events.all(&stack).await;
    assert_eq!(of_type(&all, "company.sync_paused").len(), 1, "{all:?}");
    assert_eq!(stack.sim.stats().unauthorized, 1);

    // Another key, refused too: the company resumes, is refused and pauses again, a new pause.
    stack
        .put_config(
            "advline",
            json!({"api_key": REFUSED_TOO, "test_connection": false}),
        )
        .await;
    let paused = events
        .wait_for("company.sync_paused", |seen| seen.len() >= 2)
        .await;
    let BridgeEvent::CompanySyncPaused(again) = &paused[1].event else {
        panic!("{paused:?}");
    };
    assert_ne!(paused[1].event_id, paused[0].event_id);
    assert!(again.since > data.since, "{paused:?}");
    stack
        .wait_for(advline, 30, &["paused"], Duration::from_secs(15))
        .await;
    stack.scheduler_round_passes().await;
    let all = events.all(&stack).await;
    assert_eq!(of_type(&all, "company.sync_paused").len(), 2, "{all:?}");
    assert!(stack.sim.stats().unauthorized >= 2);
    // Never a key.
    for event in &all {
        let body = serde_json::to_string(event).unwrap();
        assert!(
            !body.contains(REFUSED) && !body.contains(REFUSED_TOO) && !body.contains(ADVLINE_KEY),
            "{body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn punches_out_of_retries_are_one_deliveries_failed_event_and_each_batch_is_told() {
    let mut bayzat = fast_bayzat();
    // Long waits that only the moved clock ends: both batches' punches fall due together and
    // share every retry.
    bayzat.retry_schedule = domain::RetrySchedule::default();
    let stack = Stack::start_with(1, bayzat).await;
    let events = Events::listen(&stack).await;
    let advline = stack.company_id("advline").await;
    stack.advline_faults(Faults {
        p_500: 1.0,
        ..Faults::default()
    });
    let first = stack.ready(advline, 1, punches(1, 5)).await;
    let second = stack.ready(advline, 2, punches(1001, 5)).await;
    stack
        .wait_for(advline, 10, &["retry_wait"], Duration::from_secs(15))
        .await;
    advance_until(&stack, Duration::from_secs(60), || async {
        stack.all_in(advline, "failed").await
    })
    .await;
    let failed = events
        .wait_for("deliveries.failed", |seen| !seen.is_empty())
        .await;
    let event = &failed[0];
    assert_eq!(event.company_id, Some(CompanyId(advline)));
    let BridgeEvent::DeliveriesFailed(data) = &event.event else {
        panic!("{event:?}");
    };
    assert_eq!(data.count, 10, "{data:?}");
    let mut expected = vec![first.clone(), second.clone()];
    expected.sort();
    let named: Vec<String> = data.batch_ids.iter().map(ToString::to_string).collect();
    assert_eq!(named, expected);
    assert!(data.last_error.contains("500"), "{data:?}");

    let settled = events
        .wait_for("batch.completed", |seen| seen.len() >= 2)
        .await;
    for (batch, import) in [(&first, 1), (&second, 2)] {
        let outcome = outcome_of(&settled, batch);
        assert_eq!(outcome.import_id, ImportId(import));
        assert_eq!(
            (outcome.status.as_str(), outcome.total, outcome.failed),
            ("failed", 5, 5),
            "{outcome:?}"
        );
    }
    let all = events.all(&stack).await;
    assert_eq!(of_type(&all, "deliveries.failed").len(), 1, "{all:?}");
    assert_eq!(of_type(&all, "batch.completed").len(), 2, "{all:?}");

    // An operator's retry delivers the first batch: it is told again, as completed.
    stack.advline_faults(Faults::default());
    let (status, _) = stack
        .post(&format!("/v1/batches/{first}/retry"), Role::Operator)
        .await;
    assert_eq!(status, 202);
    let settled = events
        .wait_for("batch.completed", |seen| seen.len() >= 3)
        .await;
    let completed = &settled[2];
    let BridgeEvent::BatchCompleted(outcome) = &completed.event else {
        panic!("{completed:?}");
    };
    assert_eq!(outcome.batch_id.to_string(), first);
    assert_eq!(
        (outcome.status.as_str(), outcome.delivered, outcome.failed),
        ("completed", 5, 0),
        "{outcome:?}"
    );
    assert!(settled[..2]
        .iter()
        .all(|earlier| earlier.event_id != completed.event_id));
    let all = events.all(&stack).await;
    assert_eq!(of_type(&all, "batch.completed").len(), 3, "{all:?}");
    assert_eq!(of_type(&all, "deliveries.failed").len(), 1, "{all:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivered_batch_is_one_batch_completed_event_with_its_counts() {
    let stack = Stack::start(1).await;
    let events = Events::listen(&stack).await;
    let advline = stack.company_id("advline").await;
    let batch = stack.ready(advline, 7, punches(1, 45)).await;
    stack
        .wait_for(advline, 45, &["delivered"], Duration::from_secs(30))
        .await;
    let settled = events
        .wait_for("batch.completed", |seen| !seen.is_empty())
        .await;
    let event = &settled[0];
    assert_eq!(event.company_id, Some(CompanyId(advline)));
    assert_eq!(
        event.event,
        BridgeEvent::BatchCompleted(BatchOutcome {
            batch_id: BatchId(batch.parse().unwrap()),
            import_id: ImportId(7),
            status: "completed".to_owned(),
            total: 45,
            delivered: 45,
            failed: 0,
            rejected: 0,
            cancelled: 0,
        })
    );
    // Three requests moved the batch's punches; it settled once.
    let all = events.all(&stack).await;
    assert_eq!(all.len(), 1, "{all:?}");
}

/// The outcome told for `batch` among `events`.
fn outcome_of(events: &[BridgeEventV1], batch: &str) -> BatchOutcome {
    events
        .iter()
        .find_map(|e| match &e.event {
            BridgeEvent::BatchCompleted(outcome) if outcome.batch_id.to_string() == batch => {
                Some(outcome.clone())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no batch.completed for {batch}: {events:?}"))
}
