//! Dead letters: where a dead-lettered message died and why, a consumer of the dead-letter queue,
//! and replay of a dead letter into the queue it died in.
//!
//! A message reaches the dead-letter queue two ways: a handler found it poison and
//! [`spawn_consumer`](crate::spawn_consumer) copied it there with `x-bridge-dead-letter-*`
//! headers, or RabbitMQ dead-lettered it itself (over the queue's delivery limit, or rejected)
//! with its `x-death` header. [`DeadLetter::from_delivery`] reads either.

use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::BasicProperties;

use crate::broker::Broker;
use crate::consume::ConsumerHandle;
use crate::publish::PublishError;
use crate::topology::Topology;

const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);
const RETRY_PAUSE: Duration = Duration::from_secs(1);
const RECONNECT_PAUSE: Duration = Duration::from_millis(200);
/// AMQP delivery mode 2: the broker writes the message to disk.
const PERSISTENT: u8 = 2;

/// A dead-lettered message and what its headers say about its death.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The queue it died in, without the namespace (e.g. `sync.company.7`).
    pub queue: String,
    /// The routing key it was first published with (e.g. `company.7.ready`).
    pub routing_key: String,
    /// Why: the handler's reason, or RabbitMQ's (`delivery_limit`, `rejected`, `expired`).
    pub reason: String,
    pub message_id: Option<String>,
    pub message_type: Option<String>,
    pub traceparent: Option<String>,
    pub payload: Vec<u8>,
}

impl DeadLetter {
    /// Reads a delivery of the dead-letter queue of `topology`.
    pub fn from_delivery(topology: &Topology, delivery: &Delivery) -> Self {
        let properties = &delivery.properties;
        let empty = FieldTable::default();
        let headers = properties.headers().as_ref().unwrap_or(&empty);
        let latest_death = match headers.inner().get("x-death") {
            Some(AMQPValue::FieldArray(deaths)) => match deaths.as_slice().first() {
                Some(AMQPValue::FieldTable(death)) => Some(death.clone()),
                _ => None,
            },
            _ => None,
        };
        let death = |name: &str| latest_death.as_ref().and_then(|d| text(d, name));
        let queue = text(headers, "x-bridge-dead-letter-queue")
            .or_else(|| death("queue"))
            .or_else(|| text(headers, "x-first-death-queue"))
            .unwrap_or_default();
        let reason = text(headers, "x-bridge-dead-letter-reason")
            .or_else(|| death("reason"))
            .or_else(|| text(headers, "x-first-death-reason"))
            .unwrap_or_else(|| "unknown".to_owned());
        let routing_key = text(headers, "x-bridge-original-routing-key")
            .unwrap_or_else(|| delivery.routing_key.to_string());
        Self {
            queue: queue
                .strip_prefix(topology.namespace())
                .unwrap_or(&queue)
                .to_owned(),
            routing_key,
            reason,
            message_id: properties.message_id().as_ref().map(|id| id.to_string()),
            message_type: properties.kind().as_ref().map(|kind| kind.to_string()),
            traceparent: text(headers, "traceparent"),
            payload: delivery.data.clone(),
        }
    }

    /// The company the message was about, from its queue (`sync.company.{id}`) or its routing
    /// key (`company.{id}.*`, `status.company.{id}`, `config.company.{id}`); `None` for the
    /// messages of no company (audit events) or when neither says.
    pub fn company_id(&self) -> Option<i64> {
        let from_queue = self
            .queue
            .strip_prefix("sync.company.")
            .and_then(|id| id.parse().ok());
        from_queue.or_else(|| {
            let parts: Vec<&str> = self.routing_key.split('.').collect();
            match parts.as_slice() {
                ["company", id, _] | ["status" | "config", "company", id] => id.parse().ok(),
                _ => None,
            }
        })
    }
}

/// A header's value as text, when it is text.
fn text(headers: &FieldTable, name: &str) -> Option<String> {
    match headers.inner().get(name) {
        Some(AMQPValue::LongString(value)) => Some(value.to_string()),
        Some(AMQPValue::ShortString(value)) => Some(value.to_string()),
        _ => None,
    }
}

/// Consumes the dead-letter queue: each message is acknowledged once `keep` returned `Ok` (it
/// stored the dead letter), and requeued after a pause when it returned `Err`. Survives
/// reconnects like [`spawn_consumer`](crate::spawn_consumer).
pub fn spawn_dead_letter_consumer<H, F>(broker: &Broker, keep: H) -> ConsumerHandle
where
    H: Fn(DeadLetter) -> F + Send + Sync + 'static,
    F: Future<Output = Result<(), String>> + Send,
{
    let broker = broker.clone();
    let task = tokio::spawn(async move {
        loop {
            if let Err(error) = consume_dead_letters(&broker, &keep).await {
                tracing::warn!(%error, "dead-letter consumer interrupted; resuming after reconnect");
            }
            tokio::time::sleep(RECONNECT_PAUSE).await;
        }
    });
    ConsumerHandle::from_task(task)
}

async fn consume_dead_letters<H, F>(broker: &Broker, keep: &H) -> lapin::Result<()>
where
    H: Fn(DeadLetter) -> F,
    F: Future<Output = Result<(), String>>,
{
    let connection = broker.connected().await;
    let channel = connection.create_channel().await?;
    channel.basic_qos(10, BasicQosOptions::default()).await?;
    let topology = broker.topology();
    topology.declare_exchanges(&channel).await?;
    let mut deliveries = channel
        .basic_consume(
            topology.dead_letter_queue().as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    while let Some(delivery) = deliveries.next().await {
        let delivery = delivery?;
        let dead_letter = DeadLetter::from_delivery(topology, &delivery);
        match keep(dead_letter).await {
            Ok(()) => {
                delivery.ack(BasicAckOptions::default()).await?;
            }
            Err(error) => {
                tracing::warn!(%error, "dead letter not stored; it stays in the queue");
                tokio::time::sleep(RETRY_PAUSE).await;
                delivery
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..BasicNackOptions::default()
                    })
                    .await?;
            }
        }
    }
    Ok(())
}

/// Publishes a dead letter again, straight into the queue it died in (through the default
/// exchange, so no other queue bound to its routing key gets a second copy), with its message
/// id, type and trace context, and waits for the broker's confirm. `Ok` means the queue holds
/// it; an error means it was not sent.
pub async fn replay(broker: &Broker, dead_letter: &DeadLetter) -> Result<(), PublishError> {
    let connection = broker.current().ok_or(PublishError::NotConnected)?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let queue = format!("{}{}", broker.topology().namespace(), dead_letter.queue);
    let confirm = channel
        .basic_publish(
            "".into(),
            queue.as_str().into(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            &dead_letter.payload,
            replay_properties(dead_letter),
        )
        .await?;
    let confirmation = tokio::time::timeout(CONFIRM_TIMEOUT, confirm)
        .await
        .map_err(|_| PublishError::ConfirmTimeout)??;
    let _ = channel.close(200, "replayed".into()).await;
    if confirmation.is_nack() {
        return Err(PublishError::Nacked);
    }
    if confirmation.take_message().is_some() {
        return Err(PublishError::Unroutable(queue));
    }
    Ok(())
}

fn replay_properties(dead_letter: &DeadLetter) -> BasicProperties {
    let mut headers = FieldTable::default();
    if let Some(traceparent) = &dead_letter.traceparent {
        headers.insert(
            "traceparent".into(),
            AMQPValue::LongString(LongString::from(traceparent.as_str())),
        );
    }
    headers.insert("x-bridge-replayed".into(), AMQPValue::Boolean(true));
    let mut properties = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(PERSISTENT)
        .with_headers(headers);
    if let Some(id) = &dead_letter.message_id {
        properties = properties.with_message_id(id.as_str().into());
    }
    if let Some(kind) = &dead_letter.message_type {
        properties = properties.with_type(kind.as_str().into());
    }
    properties
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead_letter(queue: &str, routing_key: &str) -> DeadLetter {
        DeadLetter {
            queue: queue.to_owned(),
            routing_key: routing_key.to_owned(),
            reason: "poison".to_owned(),
            message_id: None,
            message_type: None,
            traceparent: None,
            payload: Vec::new(),
        }
    }

    #[test]
    fn the_company_comes_from_the_queue_or_else_the_routing_key() {
        let table = [
            ("sync.company.7", "company.7.ready", Some(7)),
            ("sync.company.12", "anything", Some(12)),
            ("import.status", "status.company.3", Some(3)),
            ("sync.config", "config.company.4", Some(4)),
            ("", "company.5.due", Some(5)),
            ("config.audit", "audit.sync-service", None),
            ("import.status", "status.company.x", None),
        ];
        for (queue, routing_key, company) in table {
            assert_eq!(
                dead_letter(queue, routing_key).company_id(),
                company,
                "{queue} {routing_key}"
            );
        }
    }

    #[test]
    fn headers_are_read_as_text_only() {
        let mut headers = FieldTable::default();
        headers.insert("a".into(), AMQPValue::LongString(LongString::from("long")));
        headers.insert("b".into(), AMQPValue::ShortString("short".into()));
        headers.insert("c".into(), AMQPValue::Boolean(true));
        assert_eq!(text(&headers, "a").as_deref(), Some("long"));
        assert_eq!(text(&headers, "b").as_deref(), Some("short"));
        assert_eq!(text(&headers, "c"), None);
        assert_eq!(text(&headers, "d"), None);
    }
}
