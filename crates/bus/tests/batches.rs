//! The batch consumer against the machine's RabbitMQ, each test in its own namespace.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bus::lapin::options::BasicGetOptions;
use bus::lapin::types::AMQPValue;
use bus::{
    spawn_batch_consumer, BatchDecision, BatchLimits, Broker, Incoming, Outgoing, Publisher,
};
use domain::{CompanyId, DueReason, SyncDueV1};
use test_support::{eventually, TestBroker};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

fn due(company: i64) -> Outgoing {
    let message = SyncDueV1 {
        company_id: CompanyId(company),
        reason: DueReason::SyncNow,
    };
    Outgoing::message(Uuid::new_v4(), &message, None).unwrap()
}

async fn connected(test: &TestBroker) -> Broker {
    let broker = Broker::start(test.url(), test.topology(), "bus-test");
    tokio::time::timeout(WAIT, broker.connected())
        .await
        .expect("broker connects");
    broker
}

fn ids(messages: &[Outgoing]) -> Vec<String> {
    messages.iter().map(|m| m.message_id.to_string()).collect()
}

fn id_of(incoming: &Incoming) -> String {
    incoming.message_id.clone().unwrap_or_default()
}

/// Publishes `messages` to their company queue (the publisher declares it), before any consumer
/// runs: they wait there together.
async fn publish(broker: &Broker, messages: &[Outgoing]) {
    let publisher = Publisher::new(broker.clone());
    let (sent, failure) = publisher.publish_all(messages).await;
    assert_eq!(sent, messages.len(), "{failure:?}");
}

/// The message ids of every batch a handler was given, in order.
type Batches = Arc<Mutex<Vec<Vec<String>>>>;

/// The messages the dead-letter queue holds once `count` have arrived there.
async fn dead_letters(broker: &Broker, test: &TestBroker, count: usize) -> Vec<(String, String)> {
    let connection = broker.connected().await;
    let channel = connection.create_channel().await.unwrap();
    let queue = test.topology().dead_letter_queue();
    let dead = Arc::new(Mutex::new(Vec::new()));
    let arrived = eventually(WAIT, || async {
        if let Ok(Some(message)) = channel
            .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
            .await
        {
            let properties = &message.delivery.properties;
            let headers = properties.headers().clone().unwrap_or_default();
            let reason = match headers.inner().get("x-bridge-dead-letter-reason") {
                Some(AMQPValue::LongString(reason)) => reason.to_string(),
                other => panic!("no reason header: {other:?}"),
            };
            let id = properties.message_id().as_ref().unwrap().to_string();
            dead.lock().unwrap().push((id, reason));
        }
        dead.lock().unwrap().len() >= count
    })
    .await;
    assert!(arrived, "{count} dead letters: {:?}", dead.lock().unwrap());
    let dead = dead.lock().unwrap().clone();
    dead
}

/// The prefetch window is twice a batch: a consumer that did not acknowledge its batches would
/// stop after two of them, so handling far more proves the acknowledgements.
#[tokio::test]
async fn waiting_messages_are_handled_together_in_order_and_acknowledged() {
    let test = TestBroker::new();
    let broker = connected(&test).await;
    let messages: Vec<Outgoing> = (0..400).map(|_| due(11)).collect();
    let batches: Batches = Arc::default();
    let sink = batches.clone();
    let limits = BatchLimits {
        max_messages: 25,
        linger: Duration::from_millis(5),
    };
    publish(&broker, &messages).await;
    let _consumer = spawn_batch_consumer(
        &broker,
        test.topology().company_queue(11),
        limits,
        move |batch: Vec<Incoming>| {
            sink.lock().unwrap().push(batch.iter().map(id_of).collect());
            std::future::ready(BatchDecision::done())
        },
    );
    let handled = || batches.lock().unwrap().iter().map(Vec::len).sum::<usize>();
    assert!(
        eventually(WAIT, || async { handled() == messages.len() }).await,
        "handled {} of {}",
        handled(),
        messages.len()
    );
    let batches = batches.lock().unwrap().clone();
    assert!(batches.iter().all(|b| !b.is_empty() && b.len() <= 25));
    assert!(
        batches.iter().any(|b| b.len() > 1),
        "messages that wait are taken together: {:?}",
        batches.iter().map(Vec::len).collect::<Vec<_>>()
    );
    assert_eq!(batches.concat(), ids(&messages), "each once, in order");
}

/// Poison messages, wherever they sit in a batch (the last one included), go to the dead-letter
/// queue one by one with their reason; the rest of each batch is acknowledged.
#[tokio::test]
async fn poison_in_a_batch_is_dead_lettered_alone_and_the_rest_acknowledged() {
    let test = TestBroker::new();
    let broker = connected(&test).await;
    let messages: Vec<Outgoing> = (0..120).map(|_| due(12)).collect();
    // Every seventh, and the last one published.
    let poisoned: Vec<String> = messages
        .iter()
        .enumerate()
        .filter(|(index, _)| index % 7 == 3 || *index == messages.len() - 1)
        .map(|(_, m)| m.message_id.to_string())
        .collect();
    let handled = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = handled.clone();
    let bad = poisoned.clone();
    let limits = BatchLimits {
        max_messages: 10,
        linger: Duration::from_millis(5),
    };
    publish(&broker, &messages).await;
    let _consumer = spawn_batch_consumer(
        &broker,
        test.topology().company_queue(12),
        limits,
        move |batch: Vec<Incoming>| {
            let mut poison = Vec::new();
            for (index, incoming) in batch.iter().enumerate() {
                let id = id_of(incoming);
                if bad.contains(&id) {
                    poison.push((index, format!("cannot handle {id}")));
                } else {
                    sink.lock().unwrap().push(id);
                }
            }
            std::future::ready(BatchDecision::Done { poison })
        },
    );
    let good: Vec<String> = ids(&messages)
        .into_iter()
        .filter(|id| !poisoned.contains(id))
        .collect();
    assert!(
        eventually(WAIT, || async {
            handled.lock().unwrap().len() == good.len()
        })
        .await,
        "handled {} of {}",
        handled.lock().unwrap().len(),
        good.len()
    );
    assert_eq!(
        *handled.lock().unwrap(),
        good,
        "each good one once, in order"
    );
    let dead = dead_letters(&broker, &test, poisoned.len()).await;
    let expected: Vec<(String, String)> = poisoned
        .iter()
        .map(|id| (id.clone(), format!("cannot handle {id}")))
        .collect();
    assert_eq!(dead, expected);
}

/// A batch whose handling fails (the database is away) is handled again whole: nothing of it
/// was acknowledged, nothing lost, nothing dead-lettered.
#[tokio::test]
async fn a_failed_batch_is_handled_again_whole() {
    let test = TestBroker::new();
    let broker = connected(&test).await;
    let messages: Vec<Outgoing> = (0..60).map(|_| due(13)).collect();
    let attempts: Batches = Arc::default();
    let sink = attempts.clone();
    let limits = BatchLimits {
        max_messages: 20,
        linger: Duration::from_millis(5),
    };
    publish(&broker, &messages).await;
    let _consumer = spawn_batch_consumer(
        &broker,
        test.topology().company_queue(13),
        limits,
        move |batch: Vec<Incoming>| {
            let mut attempts = sink.lock().unwrap();
            attempts.push(batch.iter().map(id_of).collect());
            // The first two attempts fail.
            std::future::ready(if attempts.len() <= 2 {
                BatchDecision::Retry("database away".into())
            } else {
                BatchDecision::done()
            })
        },
    );
    let handled = || -> Vec<String> { attempts.lock().unwrap()[2..].concat() };
    assert!(
        eventually(WAIT, || async {
            attempts.lock().unwrap().len() > 2 && handled().len() == messages.len()
        })
        .await,
        "attempts: {:?}",
        attempts
            .lock()
            .unwrap()
            .iter()
            .map(Vec::len)
            .collect::<Vec<_>>()
    );
    let attempts = attempts.lock().unwrap().clone();
    assert_eq!(attempts[0], attempts[1], "the same batch again");
    assert_eq!(attempts[1], attempts[2], "and once more, then handled");
    assert_eq!(handled(), ids(&messages), "each once, in order");
    let connection = broker.connected().await;
    let channel = connection.create_channel().await.unwrap();
    let dead = channel
        .basic_get(
            test.topology().dead_letter_queue().as_str().into(),
            BasicGetOptions { no_ack: true },
        )
        .await
        .unwrap();
    assert!(dead.is_none(), "nothing dead-lettered");
}
