//! The bus against the machine's RabbitMQ, each test in its own namespace.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bus::lapin::options::BasicGetOptions;
use bus::lapin::types::AMQPValue;
use bus::{spawn_consumer, Broker, HandlerDecision, Incoming, Outgoing, PublishError, Publisher};
use domain::{CompanyId, DueReason, SyncDueV1};
use test_support::{eventually, upstream_of, TcpProxy, TestBroker};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(15);

fn due(company: i64) -> Outgoing {
    let message = SyncDueV1 {
        company_id: CompanyId(company),
        reason: DueReason::SyncNow,
    };
    Outgoing::message(
        Uuid::new_v4(),
        &message,
        Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
    )
    .unwrap()
}

async fn connected(test: &TestBroker) -> Broker {
    let broker = Broker::start(test.url(), test.topology(), "bus-test");
    tokio::time::timeout(WAIT, broker.connected())
        .await
        .expect("broker connects");
    broker
}

/// Collects what a consumer handled.
fn recorder() -> (
    Arc<Mutex<Vec<Incoming>>>,
    impl Fn(Incoming) -> std::future::Ready<HandlerDecision> + Clone + Send + Sync + 'static,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    (seen, move |incoming: Incoming| {
        sink.lock().unwrap().push(incoming);
        std::future::ready(HandlerDecision::Done)
    })
}

#[tokio::test]
async fn confirmed_message_reaches_the_company_queue_with_its_properties() {
    let test = TestBroker::new();
    let broker = connected(&test).await;
    let (seen, handler) = recorder();
    let _consumer = spawn_consumer(&broker, test.topology().company_queue(7), 10, handler);
    let publisher = Publisher::new(broker.clone());
    let message = due(7);

    // The consumer declares the queue; until then the message would be unroutable.
    assert!(eventually(WAIT, || async { publisher.publish(&message).await.is_ok() }).await);
    assert!(eventually(WAIT, || async { !seen.lock().unwrap().is_empty() }).await);

    let received = seen.lock().unwrap()[0].clone();
    assert_eq!(
        received.message_id.as_deref(),
        Some(message.message_id.to_string().as_str())
    );
    assert_eq!(received.message_type.as_deref(), Some("sync.due.v1"));
    assert_eq!(received.routing_key, "company.7.due");
    assert_eq!(received.traceparent, message.traceparent);
    let decoded: SyncDueV1 = received.json().unwrap();
    assert_eq!(decoded.company_id, CompanyId(7));
}

#[tokio::test]
async fn a_message_no_queue_takes_is_not_sent() {
    let test = TestBroker::new();
    let broker = connected(&test).await;
    let publisher = Publisher::new(broker);
    let message = Outgoing {
        routing_key: "nobody.listens".into(),
        ..due(99)
    };
    let result = publisher.publish(&message).await;
    assert!(
        matches!(&result, Err(PublishError::Unroutable(key)) if key == "nobody.listens"),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_run_of_messages_counts_as_sent_up_to_the_first_one_no_queue_takes() {
    let test = TestBroker::new();
    let broker = connected(&test).await;
    let publisher = Publisher::new(broker.clone());
    let unroutable = Outgoing {
        routing_key: "nobody.listens".into(),
        ..due(99)
    };
    let mut run: Vec<Outgoing> = (0..50).map(|_| due(43)).collect();
    run.insert(30, unroutable);
    let (sent, failure) = publisher.publish_all(&run).await;
    assert_eq!(sent, 30, "{failure:?}");
    assert!(
        matches!(&failure, Some(PublishError::Unroutable(key)) if key == "nobody.listens"),
        "{failure:?}"
    );
    // The ones before it arrive, in order.
    let (seen, handler) = recorder();
    let _consumer = spawn_consumer(&broker, test.topology().company_queue(43), 100, handler);
    assert!(eventually(WAIT, || async { seen.lock().unwrap().len() >= 30 }).await);
    let arrived: Vec<Option<String>> = seen.lock().unwrap()[..30]
        .iter()
        .map(|m| m.message_id.clone())
        .collect();
    let expected: Vec<Option<String>> = run[..30]
        .iter()
        .map(|m| Some(m.message_id.to_string()))
        .collect();
    assert_eq!(arrived, expected);
}

#[tokio::test]
async fn a_run_over_many_companies_reaches_each_company_in_order() {
    let test = TestBroker::new();
    let broker = connected(&test).await;
    let publisher = Publisher::new(broker.clone());
    // Five rounds of one message to each of 40 companies, as the outbox relay hands an import
    // over, with a message no queue takes in the third round: the publisher spreads companies
    // over several channels, and each company's messages must still come in order.
    let companies: Vec<i64> = (101..=140).collect();
    let mut run: Vec<Outgoing> = (0..5)
        .flat_map(|_| companies.iter().map(|&company| due(company)))
        .collect();
    let failing_at = 2 * companies.len() + 7;
    run.insert(
        failing_at,
        Outgoing {
            routing_key: "nobody.listens".into(),
            ..due(99)
        },
    );
    let (sent, failure) = publisher.publish_all(&run).await;
    assert_eq!(sent, failing_at, "{failure:?}");
    assert!(
        matches!(&failure, Some(PublishError::Unroutable(_))),
        "{failure:?}"
    );

    // What was counted as sent reached each company's queue first, in the order published.
    let (seen, handler) = recorder();
    let _consumers: Vec<_> = companies
        .iter()
        .map(|&company| {
            spawn_consumer(
                &broker,
                test.topology().company_queue(company),
                100,
                handler.clone(),
            )
        })
        .collect();
    let counted = &run[..failing_at];
    assert!(
        eventually(WAIT, || async {
            seen.lock().unwrap().len() >= counted.len()
        })
        .await
    );
    let seen = seen.lock().unwrap();
    for company in &companies {
        let key = format!("company.{company}.due");
        let published: Vec<Option<String>> = counted
            .iter()
            .filter(|m| m.routing_key == key)
            .map(|m| Some(m.message_id.to_string()))
            .collect();
        let arrived: Vec<Option<String>> = seen
            .iter()
            .filter(|m| m.routing_key == key)
            .map(|m| m.message_id.clone())
            .take(published.len())
            .collect();
        assert_eq!(arrived, published, "company {company}");
    }
}

#[tokio::test]
async fn the_publisher_declares_a_company_queue_no_consumer_has_declared_yet() {
    let test = TestBroker::new();
    let broker = connected(&test).await;
    let publisher = Publisher::new(broker.clone());
    publisher
        .publish(&due(42))
        .await
        .expect("declared, then routed");
    // The message waited in sync.company.42 for its first consumer.
    let (seen, handler) = recorder();
    let _consumer = spawn_consumer(&broker, test.topology().company_queue(42), 10, handler);
    assert!(eventually(WAIT, || async { seen.lock().unwrap().len() == 1 }).await);
}

#[tokio::test]
async fn publishing_without_a_broker_fails_instead_of_pretending() {
    let test = TestBroker::new();
    let proxy = TcpProxy::start(&upstream_of(test.url())).await;
    proxy.cut();
    let broker = Broker::start(&proxy.url_for(test.url()), test.topology(), "bus-test");
    let publisher = Publisher::new(broker.clone());
    assert!(!broker.is_connected());
    assert!(matches!(
        publisher.publish(&due(1)).await,
        Err(PublishError::NotConnected)
    ));
}

#[tokio::test]
async fn poison_messages_are_dead_lettered_with_their_reason() {
    let test = TestBroker::new();
    let broker = connected(&test).await;
    let _consumer = spawn_consumer(&broker, test.topology().company_queue(3), 10, |_incoming| {
        std::future::ready(HandlerDecision::Poison("cannot decode".into()))
    });
    let publisher = Publisher::new(broker.clone());
    assert!(eventually(WAIT, || async { publisher.publish(&due(3)).await.is_ok() }).await);

    let connection = broker.connected().await;
    let channel = connection.create_channel().await.unwrap();
    let dead_letter_queue = test.topology().dead_letter_queue();
    let mut dead = None;
    for _ in 0..150 {
        if let Ok(Some(message)) = channel
            .basic_get(
                dead_letter_queue.as_str().into(),
                BasicGetOptions { no_ack: true },
            )
            .await
        {
            dead = Some(message);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dead = dead.expect("a dead-lettered message");
    let headers = dead.delivery.properties.headers().clone().unwrap();
    let reason = match headers.inner().get("x-bridge-dead-letter-reason") {
        Some(AMQPValue::LongString(reason)) => reason.to_string(),
        other => panic!("no reason header: {other:?}"),
    };
    assert_eq!(reason, "cannot decode");
    assert_eq!(dead.delivery.routing_key.as_str(), "company.3.due");
}

#[tokio::test]
async fn a_retried_message_comes_back_until_it_is_handled() {
    let test = TestBroker::new();
    let broker = connected(&test).await;
    let first = due(4);
    let first_id = first.message_id.to_string();
    // The id of the message handled at each attempt; the first fails twice.
    let attempts = Arc::new(Mutex::new(Vec::<String>::new()));
    let counter = attempts.clone();
    let failing = first_id.clone();
    let _consumer = spawn_consumer(
        &broker,
        test.topology().company_queue(4),
        10,
        move |incoming| {
            let mut attempts = counter.lock().unwrap();
            let id = incoming.message_id.clone().unwrap_or_default();
            attempts.push(id.clone());
            let tries = attempts.iter().filter(|seen| **seen == id).count();
            std::future::ready(if id == failing && tries < 3 {
                HandlerDecision::Retry("database away".into())
            } else {
                HandlerDecision::Done
            })
        },
    );
    let publisher = Publisher::new(broker);
    let tries = |id: &str| attempts.lock().unwrap().iter().filter(|s| *s == id).count();
    assert!(eventually(WAIT, || async { publisher.publish(&first).await.is_ok() }).await);
    assert!(eventually(WAIT, || async { tries(&first_id) == 3 }).await);
    // A later message: the queue is handled in order, so by the time it is, the first one would
    // have come back had it not been acknowledged.
    let later = due(4);
    let later_id = later.message_id.to_string();
    publisher.publish(&later).await.unwrap();
    assert!(eventually(WAIT, || async { tries(&later_id) == 1 }).await);
    assert_eq!(tries(&first_id), 3, "acknowledged once handled");
}

/// A database outage makes every attempt fail for a while: more attempts than the queue's
/// delivery limit must not dead-letter a message that can be handled once the database is back.
#[tokio::test]
async fn a_message_failing_longer_than_the_delivery_limit_allows_is_not_dead_lettered() {
    let test = TestBroker::new();
    let broker = connected(&test).await;
    let failures = bus::topology::DELIVERY_LIMIT as usize + 5;
    let attempts = Arc::new(Mutex::new(0));
    let counter = attempts.clone();
    let _consumer = spawn_consumer(
        &broker,
        test.topology().company_queue(5),
        10,
        move |_incoming| {
            let mut attempts = counter.lock().unwrap();
            *attempts += 1;
            std::future::ready(if *attempts <= failures {
                HandlerDecision::Retry("database away".into())
            } else {
                HandlerDecision::Done
            })
        },
    );
    let publisher = Publisher::new(broker.clone());
    assert!(eventually(WAIT, || async { publisher.publish(&due(5)).await.is_ok() }).await);
    let handled = eventually(Duration::from_secs(3 * failures as u64), || async {
        *attempts.lock().unwrap() > failures
    })
    .await;
    assert!(
        handled,
        "handled once the failures stopped (attempts: {})",
        attempts.lock().unwrap()
    );
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

#[tokio::test]
async fn only_one_consumer_of_a_company_queue_is_active() {
    let test = TestBroker::new();
    let broker = connected(&test).await;
    let (first_seen, first) = recorder();
    let (second_seen, second) = recorder();
    let _first = spawn_consumer(&broker, test.topology().company_queue(5), 10, first);
    let _second = spawn_consumer(&broker, test.topology().company_queue(5), 10, second);
    let publisher = Publisher::new(broker);
    assert!(eventually(WAIT, || async { publisher.publish(&due(5)).await.is_ok() }).await);
    for _ in 0..9 {
        publisher.publish(&due(5)).await.unwrap();
    }
    let total = || first_seen.lock().unwrap().len() + second_seen.lock().unwrap().len();
    assert!(eventually(WAIT, || async { total() == 10 }).await);
    let (a, b) = (
        first_seen.lock().unwrap().len(),
        second_seen.lock().unwrap().len(),
    );
    assert!(a == 0 || b == 0, "single active consumer: {a} and {b}");
}

#[tokio::test]
async fn the_connection_and_consumers_come_back_after_an_outage() {
    let test = TestBroker::new();
    let proxy = TcpProxy::start(&upstream_of(test.url())).await;
    let broker = Broker::start(&proxy.url_for(test.url()), test.topology(), "bus-test");
    tokio::time::timeout(WAIT, broker.connected())
        .await
        .unwrap();
    let (seen, handler) = recorder();
    let _consumer = spawn_consumer(&broker, test.topology().company_queue(6), 10, handler);
    let publisher = Publisher::new(broker.clone());
    assert!(eventually(WAIT, || async { publisher.publish(&due(6)).await.is_ok() }).await);
    assert!(eventually(WAIT, || async { seen.lock().unwrap().len() == 1 }).await);

    proxy.cut();
    assert!(eventually(WAIT, || async { !broker.is_connected() }).await);
    assert!(publisher.publish(&due(6)).await.is_err());

    proxy.restore();
    assert!(eventually(WAIT, || async { broker.is_connected() }).await);
    assert!(eventually(WAIT, || async { publisher.publish(&due(6)).await.is_ok() }).await);
    assert!(
        eventually(WAIT, || async { seen.lock().unwrap().len() == 2 }).await,
        "the consumer resumed"
    );
}

#[tokio::test]
async fn a_consumer_stopped_at_any_moment_leaves_no_consumer_behind() {
    let test = TestBroker::new();
    let broker = connected(&test).await;
    let queue = test.topology().company_queue(8);
    // Consumers stopped at every moment of their start, subscribing included (a few hundred
    // microseconds on this broker): a replica hands companies over to another this way.
    for attempt in 0..300u64 {
        let consumer = spawn_consumer(&broker, queue.clone(), 10, |_| {
            std::future::ready(HandlerDecision::Done)
        });
        tokio::time::sleep(Duration::from_micros(attempt * 13 % 3_000)).await;
        drop(consumer);
    }
    assert!(
        eventually(WAIT, || async {
            test.queue_now(&queue.name).await.consumers == 0
        })
        .await,
        "{} consumers left behind by stopped consumers",
        test.queue_now(&queue.name).await.consumers
    );

    // The queue has a single active consumer: one left behind would take this message.
    let (seen, handler) = recorder();
    let _consumer = spawn_consumer(&broker, queue.clone(), 10, handler);
    let publisher = Publisher::new(broker);
    publisher.publish(&due(8)).await.unwrap();
    assert!(eventually(WAIT, || async { seen.lock().unwrap().len() == 1 }).await);
}
