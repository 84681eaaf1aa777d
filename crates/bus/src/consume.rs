//! Consuming with manual acknowledgements.
//!
//! A handler returns a [`HandlerDecision`] (acknowledge, retry or dead-letter); the message is
//! acknowledged only after the handler finished (and so after its database transaction committed). A consumer survives reconnects: it re-opens
//! its channel, re-declares its queue and consumes again.
//!
//! A batch consumer ([`spawn_batch_consumer`]) hands its handler the messages that are waiting,
//! so a busy queue costs one transaction and one acknowledgement per batch rather than per
//! message; its handler answers a [`BatchDecision`].

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    BasicRejectOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::broker::Broker;
use crate::topology::QueueSpec;

/// A received message.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub message_id: Option<String>,
    pub message_type: Option<String>,
    pub routing_key: String,
    pub payload: Vec<u8>,
    pub redelivered: bool,
    pub traceparent: Option<String>,
}

impl Incoming {
    /// Decodes the JSON payload.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.payload)
    }

    /// Decodes a message of type `M`; a message of another type or an undecodable payload is
    /// poison (it can never be handled, so it is dead-lettered with the reason).
    pub fn decode<M: domain::Message>(&self) -> Result<M, HandlerDecision> {
        if let Some(kind) = self.message_type.as_deref().filter(|k| *k != M::TYPE) {
            return Err(HandlerDecision::Poison(format!(
                "expected {}, got {kind}",
                M::TYPE
            )));
        }
        self.json::<M>()
            .map_err(|e| HandlerDecision::Poison(format!("undecodable {}: {e}", M::TYPE)))
    }

    /// The message id as a UUID (the consumer's idempotency key), when it is one.
    pub fn message_uuid(&self) -> Option<uuid::Uuid> {
        self.message_id
            .as_deref()
            .and_then(|id| uuid::Uuid::parse_str(id).ok())
    }
}

/// What a handler decided about a message: acknowledge it, handle it again, or dead-letter it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerDecision {
    /// Handled (or already handled before): acknowledge.
    Done,
    /// A passing failure (the database is away): handled again after a pause, in place for a
    /// while, then requeued. The queue's delivery limit dead-letters a message that never succeeds.
    Retry(String),
    /// The message can never be handled (undecodable, unknown type): dead-letter it with the reason.
    Poison(String),
}

impl HandlerDecision {
    fn name(&self) -> &'static str {
        match self {
            HandlerDecision::Done => "done",
            HandlerDecision::Retry(_) => "retry",
            HandlerDecision::Poison(_) => "poison",
        }
    }
}

/// A running consumer; dropping the handle stops it.
pub struct ConsumerHandle {
    task: JoinHandle<()>,
}

impl ConsumerHandle {
    pub(crate) fn from_task(task: JoinHandle<()>) -> Self {
        Self { task }
    }

    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for ConsumerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Pause before a message whose handler answered `Retry` is handled again, so a database outage
/// does not spin the consumer.
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// How long a message whose handler keeps answering `Retry` is handled again in place (every
/// [`RETRY_PAUSE`]) before it goes back to its queue, where every return counts toward the
/// queue's delivery limit. A database outage shorter than this (a Postgres restart, a failover)
/// costs a message no delivery, however many attempts fail meanwhile, so it never dead-letters
/// a message that could be handled; one that never can still reaches the dead-letter queue after
/// the delivery limit's worth of these windows.
const RETRY_IN_PLACE_FOR: Duration = Duration::from_secs(300);
const RECONNECT_PAUSE: Duration = Duration::from_millis(200);

/// Consumes `queue` (declaring it first), one message at a time, until the handle is dropped.
pub fn spawn_consumer<H, F>(
    broker: &Broker,
    queue: QueueSpec,
    prefetch: u16,
    handler: H,
) -> ConsumerHandle
where
    H: Fn(Incoming) -> F + Send + Sync + 'static,
    F: Future<Output = HandlerDecision> + Send,
{
    let broker = broker.clone();
    let handler = Arc::new(handler);
    let task = tokio::spawn(async move {
        consume_again_and_again(&queue, || {
            consume_until_disconnected(&broker, &queue, prefetch, &*handler)
        })
        .await;
    });
    ConsumerHandle { task }
}

/// Runs `consume` again after every interruption (a lost connection or channel), forever.
async fn consume_again_and_again<F>(queue: &QueueSpec, mut consume: impl FnMut() -> F)
where
    F: Future<Output = lapin::Result<()>>,
{
    loop {
        if let Err(error) = consume().await {
            tracing::warn!(queue = %queue.name, %error, "consumer interrupted; resuming after reconnect");
        }
        tokio::time::sleep(RECONNECT_PAUSE).await;
    }
}

/// A consumer's channel, closed when the consumer stops, however it stops (its handle dropped
/// included). Closing the channel is what surely cancels its consumer on the broker: lapin
/// cancels a consumer it has handed out, but one whose `basic_consume` was still awaiting its
/// answer when the consumer stopped stays registered on an open channel, with nobody reading its
/// deliveries. On a queue with a single active consumer it would take every message and leave
/// the queue stranded.
struct ConsumerChannel(lapin::Channel);

impl std::ops::Deref for ConsumerChannel {
    type Target = lapin::Channel;

    fn deref(&self) -> &lapin::Channel {
        &self.0
    }
}

impl Drop for ConsumerChannel {
    fn drop(&mut self) {
        if !self.0.status().connected() {
            return;
        }
        // Without a runtime (the process is ending) the connection goes with it.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let channel = self.0.clone();
            runtime.spawn(async move {
                let _ = channel.close(200, "consumer stopped".into()).await;
            });
        }
    }
}

/// Subscribes to `queue` (declaring it first) on a new channel with `prefetch` messages in
/// flight: the connection it is on (to notice it being replaced), the channel and the stream.
async fn subscribe(
    broker: &Broker,
    queue: &QueueSpec,
    prefetch: u16,
) -> lapin::Result<(Arc<lapin::Connection>, ConsumerChannel, lapin::Consumer)> {
    let connection = broker.connected().await;
    let channel = ConsumerChannel(connection.create_channel().await?);
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await?;
    broker.topology().declare_queue(&channel, queue).await?;
    let deliveries = channel
        .basic_consume(
            queue.name.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok((connection, channel, deliveries))
}

async fn consume_until_disconnected<H, F>(
    broker: &Broker,
    queue: &QueueSpec,
    prefetch: u16,
    handler: &H,
) -> lapin::Result<()>
where
    H: Fn(Incoming) -> F,
    F: Future<Output = HandlerDecision>,
{
    let (connection, channel, mut deliveries) = subscribe(broker, queue, prefetch).await?;
    tracing::info!(queue = %queue.name, "consuming");
    loop {
        // A consumer whose connection was replaced may never hear of it from its own stream:
        // it is watched, so it always consumes again on the new connection.
        let next = tokio::select! {
            next = deliveries.next() => next,
            () = connection_replaced(broker, &connection) => {
                tracing::warn!(queue = %queue.name, "the broker connection was lost; consuming again");
                return Ok(());
            }
        };
        let Some(delivery) = next else {
            break;
        };
        let delivery = delivery?;
        let incoming = incoming(&delivery);
        let first_attempt = Instant::now();
        let mut decision = handle(queue, handler, &incoming).await;
        while let HandlerDecision::Retry(reason) = &decision {
            if first_attempt.elapsed() >= RETRY_IN_PLACE_FOR || !channel.status().connected() {
                break;
            }
            tracing::warn!(queue = %queue.name, %reason, "message will be retried");
            tokio::time::sleep(RETRY_PAUSE).await;
            decision = handle(queue, handler, &incoming).await;
        }
        match decision {
            HandlerDecision::Done => {
                delivery.ack(BasicAckOptions::default()).await?;
            }
            HandlerDecision::Retry(reason) => {
                tracing::warn!(queue = %queue.name, %reason, "message handed back to its queue");
                delivery
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..BasicNackOptions::default()
                    })
                    .await?;
            }
            HandlerDecision::Poison(reason) => {
                tracing::error!(queue = %queue.name, %reason, "dead-lettering message");
                dead_letter(broker, queue, &delivery, &reason).await?;
            }
        }
    }
    Ok(())
}

/// How many messages a batch consumer handles together, and how long it waits for more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// The most messages in one batch (at least one). The consumer's prefetch is twice this, so
    /// the next batch arrives while one is handled.
    pub max_messages: u16,
    /// After the first message of a batch, how long to wait for more before handling those that
    /// came. Messages already received are taken at once whatever this is.
    pub linger: Duration,
}

/// What a batch handler decided about its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchDecision {
    /// Handled (or already handled before), all together: every message is acknowledged, except
    /// those named here by their index in the batch, which can never be handled and are
    /// dead-lettered one by one with their reason.
    Done { poison: Vec<(usize, String)> },
    /// A passing failure (the database is away): the whole batch is handled again, nothing of it
    /// acknowledged, as [`HandlerDecision::Retry`] does for one message.
    Retry(String),
}

impl BatchDecision {
    /// Every message handled.
    pub fn done() -> Self {
        BatchDecision::Done { poison: Vec::new() }
    }

    /// Decodes every message of a batch as `M`.
    pub fn decode_all<M: domain::Message>(batch: &[Incoming]) -> Decoded<'_, M> {
        let mut decoded = Vec::with_capacity(batch.len());
        let mut poison = Vec::new();
        for (index, incoming) in batch.iter().enumerate() {
            match incoming.decode::<M>() {
                Ok(message) => decoded.push((incoming, message)),
                Err(HandlerDecision::Poison(reason) | HandlerDecision::Retry(reason)) => {
                    poison.push((index, reason));
                }
                Err(HandlerDecision::Done) => {}
            }
        }
        Decoded { decoded, poison }
    }

    fn name(&self) -> &'static str {
        match self {
            BatchDecision::Done { poison } if poison.is_empty() => "done",
            BatchDecision::Done { .. } => "done_with_poison",
            BatchDecision::Retry(_) => "retry",
        }
    }
}

/// A batch decoded by [`BatchDecision::decode_all`].
pub struct Decoded<'a, M> {
    /// The messages decoded, each with what it came in.
    pub decoded: Vec<(&'a Incoming, M)>,
    /// Those that cannot be (see [`Incoming::decode`]): their index in the batch and why, as
    /// [`BatchDecision::Done`] names them.
    pub poison: Vec<(usize, String)>,
}

/// Consumes `queue` (declaring it first) in batches until the handle is dropped: the handler
/// gets the messages that are there (up to `limits.max_messages`, waiting `limits.linger` at
/// most for more after the first) and handles them together, typically in one database
/// transaction. They are then acknowledged together (one multiple acknowledgement), after the
/// poison ones were dead-lettered on their own; a batch to be retried is handled again as a
/// whole, in place for a while, then handed back to the queue.
pub fn spawn_batch_consumer<H, F>(
    broker: &Broker,
    queue: QueueSpec,
    limits: BatchLimits,
    handler: H,
) -> ConsumerHandle
where
    H: Fn(Vec<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = BatchDecision> + Send,
{
    let broker = broker.clone();
    let handler = Arc::new(handler);
    let limits = BatchLimits {
        max_messages: limits.max_messages.max(1),
        ..limits
    };
    let task = tokio::spawn(async move {
        consume_again_and_again(&queue, || {
            consume_batches_until_disconnected(&broker, &queue, limits, &*handler)
        })
        .await;
    });
    ConsumerHandle { task }
}

async fn consume_batches_until_disconnected<H, F>(
    broker: &Broker,
    queue: &QueueSpec,
    limits: BatchLimits,
    handler: &H,
) -> lapin::Result<()>
where
    H: Fn(Vec<Incoming>) -> F,
    F: Future<Output = BatchDecision>,
{
    // Twice a batch in flight: the next batch arrives while one is handled.
    let (connection, channel, mut deliveries) =
        subscribe(broker, queue, limits.max_messages.saturating_mul(2)).await?;
    tracing::info!(queue = %queue.name, "consuming in batches");
    let max = usize::from(limits.max_messages);
    loop {
        let next = tokio::select! {
            next = deliveries.next() => next,
            () = connection_replaced(broker, &connection) => {
                tracing::warn!(queue = %queue.name, "the broker connection was lost; consuming again");
                return Ok(());
            }
        };
        let Some(first) = next else {
            break;
        };
        let mut batch = vec![first?];
        // What has already arrived is taken at once (a timeout polls its future before its
        // deadline); then whatever comes within the linger.
        let deadline = tokio::time::Instant::now() + limits.linger;
        let mut ended = false;
        while batch.len() < max {
            match tokio::time::timeout_at(deadline, deliveries.next()).await {
                Ok(Some(delivery)) => batch.push(delivery?),
                Ok(None) => {
                    ended = true;
                    break;
                }
                Err(_) => break,
            }
        }
        settle_batch(broker, queue, &channel, handler, &batch).await?;
        if ended {
            break;
        }
    }
    Ok(())
}

/// Handles a batch (again while it should be retried in place), then acknowledges, dead-letters
/// or hands back its messages.
async fn settle_batch<H, F>(
    broker: &Broker,
    queue: &QueueSpec,
    channel: &lapin::Channel,
    handler: &H,
    batch: &[Delivery],
) -> lapin::Result<()>
where
    H: Fn(Vec<Incoming>) -> F,
    F: Future<Output = BatchDecision>,
{
    let messages: Vec<Incoming> = batch.iter().map(incoming).collect();
    let first_attempt = Instant::now();
    let mut decision = handle_batch(queue, handler, &messages).await;
    while let BatchDecision::Retry(reason) = &decision {
        if first_attempt.elapsed() >= RETRY_IN_PLACE_FOR || !channel.status().connected() {
            break;
        }
        tracing::warn!(queue = %queue.name, %reason, messages = batch.len(), "batch will be retried");
        tokio::time::sleep(RETRY_PAUSE).await;
        decision = handle_batch(queue, handler, &messages).await;
    }
    let Some(last) = batch.last() else {
        return Ok(());
    };
    match decision {
        BatchDecision::Done { poison } => {
            let mut dead = vec![false; batch.len()];
            for (index, reason) in poison {
                let Some(delivery) = batch.get(index).filter(|_| !dead[index]) else {
                    tracing::warn!(queue = %queue.name, index, "a batch handler named poison no message of its batch");
                    continue;
                };
                tracing::error!(queue = %queue.name, %reason, "dead-lettering message");
                dead_letter(broker, queue, delivery, &reason).await?;
                dead[index] = true;
            }
            // Delivery tags grow along the batch, and everything received before it was settled:
            // acknowledging the last message still outstanding acknowledges the batch's rest.
            if let Some(index) = dead.iter().rposition(|dead| !dead) {
                batch[index].ack(BasicAckOptions { multiple: true }).await?;
            }
        }
        BatchDecision::Retry(reason) => {
            tracing::warn!(queue = %queue.name, %reason, messages = batch.len(), "batch handed back to its queue");
            last.nack(BasicNackOptions {
                multiple: true,
                requeue: true,
            })
            .await?;
        }
    }
    Ok(())
}

/// One attempt at handling a batch, in a span of its own that follows from each message's span
/// (a child of the span that wrote the message, as for one message at a time).
async fn handle_batch<H, F>(queue: &QueueSpec, handler: &H, messages: &[Incoming]) -> BatchDecision
where
    H: Fn(Vec<Incoming>) -> F,
    F: Future<Output = BatchDecision>,
{
    let span = tracing::info_span!(
        "batch",
        otel.name = format!("{} process", queue.name),
        otel.kind = "consumer",
        messaging.destination.name = %queue.name,
        messaging.batch.message_count = messages.len(),
        messaging.outcome = tracing::field::Empty,
    );
    let message_spans: Vec<tracing::Span> = messages
        .iter()
        .map(|incoming| {
            let message_span = handling_span(queue, incoming);
            span.follows_from(&message_span);
            message_span
        })
        .collect();
    let decision = handler(messages.to_vec()).instrument(span.clone()).await;
    span.record("messaging.outcome", decision.name());
    let mut outcomes = vec![
        match &decision {
            BatchDecision::Done { .. } => "done",
            BatchDecision::Retry(_) => "retry",
        };
        messages.len()
    ];
    if let BatchDecision::Done { poison } = &decision {
        for (index, _) in poison {
            if let Some(outcome) = outcomes.get_mut(*index) {
                *outcome = "poison";
            }
        }
    }
    for (message_span, outcome) in message_spans.iter().zip(outcomes) {
        message_span.record("messaging.outcome", outcome);
    }
    decision
}

/// How often a consumer checks that the connection it consumes on is still the broker's.
const CONNECTION_CHECK_EVERY: Duration = Duration::from_secs(1);

/// Resolves once `consuming_on` is closed or is no longer the broker's open connection.
async fn connection_replaced(broker: &Broker, consuming_on: &Arc<lapin::Connection>) {
    loop {
        tokio::time::sleep(CONNECTION_CHECK_EVERY).await;
        let current = broker.current();
        let same = current.is_some_and(|c| Arc::ptr_eq(&c, consuming_on));
        if !same || !consuming_on.status().connected() {
            return;
        }
    }
}

/// One attempt at handling a message, in its own span.
async fn handle<H, F>(queue: &QueueSpec, handler: &H, incoming: &Incoming) -> HandlerDecision
where
    H: Fn(Incoming) -> F,
    F: Future<Output = HandlerDecision>,
{
    let span = handling_span(queue, incoming);
    let decision = handler(incoming.clone()).instrument(span.clone()).await;
    span.record("messaging.outcome", decision.name());
    decision
}

/// Publishes a copy to the dead-letter exchange with the reason, then acknowledges the original.
/// Should that publish fail, the message is rejected instead, which dead-letters it through the
/// queue's own dead-letter exchange (without our reason, but nothing is lost).
async fn dead_letter(
    broker: &Broker,
    queue: &QueueSpec,
    delivery: &Delivery,
    reason: &str,
) -> lapin::Result<()> {
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    headers.insert(
        "x-bridge-dead-letter-reason".into(),
        AMQPValue::LongString(LongString::from(reason)),
    );
    headers.insert(
        "x-bridge-dead-letter-queue".into(),
        AMQPValue::LongString(LongString::from(queue.name.as_str())),
    );
    headers.insert(
        "x-bridge-original-routing-key".into(),
        AMQPValue::LongString(LongString::from(delivery.routing_key.as_str())),
    );
    let properties = delivery.properties.clone().with_headers(headers);
    let copied = async {
        let connection = broker.current()?;
        let channel = connection.create_channel().await.ok()?;
        channel.confirm_select(Default::default()).await.ok()?;
        let confirmation = channel
            .basic_publish(
                broker.topology().dead_letter_exchange().into(),
                delivery.routing_key.clone(),
                BasicPublishOptions::default(),
                &delivery.data,
                properties,
            )
            .await
            .ok()?
            .await
            .ok()?;
        let _ = channel.close(200, "dead-lettered".into()).await;
        confirmation.is_ack().then_some(())
    }
    .await;
    match copied {
        Some(()) => delivery.ack(BasicAckOptions::default()).await.map(|_| ()),
        None => delivery
            .reject(BasicRejectOptions { requeue: false })
            .await
            .map(|_| ()),
    }
}

/// The span a message is handled in: a child of the span that wrote the message, so the trace
/// of a report goes on in the service that consumes its punches.
fn handling_span(queue: &QueueSpec, incoming: &Incoming) -> tracing::Span {
    let kind = incoming.message_type.as_deref().unwrap_or("unknown");
    let span = tracing::info_span!(
        "message",
        otel.name = format!("{kind} process"),
        otel.kind = "consumer",
        messaging.destination.name = %queue.name,
        messaging.message.type = kind,
        messaging.message.id = incoming.message_id.as_deref(),
        messaging.outcome = tracing::field::Empty,
    );
    telemetry::set_parent(&span, incoming.traceparent.as_deref());
    span
}

fn incoming(delivery: &Delivery) -> Incoming {
    let properties = &delivery.properties;
    let traceparent = properties.headers().as_ref().and_then(|headers| {
        match headers.inner().get("traceparent") {
            Some(AMQPValue::LongString(value)) => Some(value.to_string()),
            Some(AMQPValue::ShortString(value)) => Some(value.to_string()),
            _ => None,
        }
    });
    Incoming {
        message_id: properties.message_id().as_ref().map(|id| id.to_string()),
        message_type: properties.kind().as_ref().map(|kind| kind.to_string()),
        routing_key: delivery.routing_key.to_string(),
        payload: delivery.data.clone(),
        redelivered: delivery.redelivered,
        traceparent,
    }
}
