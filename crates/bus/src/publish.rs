//! Publishing with publisher confirms: a message counts as sent only when the broker confirmed it
//! and did not return it as unroutable (every message is `mandatory`).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, PublisherConfirm};
use tokio::sync::{Mutex, MutexGuard};
use uuid::Uuid;

use crate::broker::Broker;

const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);
/// AMQP delivery mode 2: the broker writes the message to disk.
const PERSISTENT: u8 = 2;

/// One message to publish to the `attendance` exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The consumer's idempotency key.
    pub message_id: Uuid,
    /// The message type, e.g. `punches.ready.v1`.
    pub message_type: String,
    pub routing_key: String,
    /// JSON.
    pub payload: Vec<u8>,
    /// W3C trace context, so one trace spans the services.
    pub traceparent: Option<String>,
}

impl Outgoing {
    /// A domain message, with its type and routing key from its contract.
    pub fn message<M: domain::Message>(
        message_id: Uuid,
        message: &M,
        traceparent: Option<String>,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self {
            message_id,
            message_type: M::TYPE.to_owned(),
            routing_key: message.routing_key(),
            payload: serde_json::to_vec(message)?,
            traceparent,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("broker not connected")]
    NotConnected,
    #[error("broker refused the message (nack)")]
    Nacked,
    #[error("no queue is bound for routing key {0}")]
    Unroutable(String),
    #[error("no confirm from the broker in time")]
    ConfirmTimeout,
    #[error("amqp: {0}")]
    Amqp(#[from] lapin::Error),
}

/// Publishes on confirm-mode channels, each re-opened after a reconnect.
///
/// A company's queue is declared by whoever first needs it (docs/architecture.md#messages): before its first
/// message for a company (`company.{id}.*`), the publisher declares `sync.company.{id}`, so a
/// company no consumer has seen yet still gets its messages.
///
/// Messages are spread over [`LANES`] channels by company; a company's messages, and every
/// message that is not a company's, always take the same channel, so each queue receives them in
/// the order they were published.
pub struct Publisher {
    broker: Broker,
    lanes: Vec<Mutex<Option<PublishChannel>>>,
}

/// Channels a publisher spreads companies' messages over. A channel's first message to a quorum
/// queue waits for the queue to register the channel as its publisher, a write to the broker's
/// log, and the broker's process for the channel does that one queue after another: an import
/// handing 200 companies their first punches on one channel had the broker's last confirm (and
/// the last company's punches delivered) 1.0 s after publishing, against 20 ms for the next 100
/// messages. Spread over several channels, the registrations run side by side.
const LANES: usize = 16;

struct PublishChannel {
    channel: Channel,
    companies_declared: HashSet<String>,
}

/// The channel a message takes: its company's, or the first for a message that is not a company's.
fn lane_of(routing_key: &str) -> usize {
    company_of(routing_key).map_or(0, |company| {
        let hash = company.bytes().fold(0usize, |hash, byte| {
            hash.wrapping_mul(31).wrapping_add(usize::from(byte))
        });
        hash % LANES
    })
}

/// The company of a `company.{id}.{kind}` routing key.
fn company_of(routing_key: &str) -> Option<&str> {
    let mut parts = routing_key.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("company"), Some(id), Some(_), None) if !id.is_empty() => Some(id),
        _ => None,
    }
}

impl Publisher {
    pub fn new(broker: Broker) -> Self {
        Self {
            broker,
            lanes: (0..LANES).map(|_| Mutex::new(None)).collect(),
        }
    }

    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// Publishes and waits for the broker's confirm.
    pub async fn publish(&self, message: &Outgoing) -> Result<(), PublishError> {
        let (_, failure) = self.publish_all(std::slice::from_ref(message)).await;
        failure.map_or(Ok(()), Err)
    }

    /// Publishes `messages` in order, each on its company's channel, without waiting for each
    /// confirm before the next publish, then waits for their confirms, in order. Returns how many
    /// of the first ones the broker confirmed (those count as sent) and the failure that stopped
    /// the count. Messages after a failure may have reached their queues all the same: a caller
    /// that publishes them again relies on its consumers recognising a message they handled
    /// before.
    pub async fn publish_all(&self, messages: &[Outgoing]) -> (usize, Option<PublishError>) {
        let lanes: Vec<usize> = messages.iter().map(|m| lane_of(&m.routing_key)).collect();
        // Locked in lane order, so two callers needing the same lanes never hold one each.
        let mut slots = BTreeMap::new();
        for lane in lanes.iter().copied().collect::<BTreeSet<_>>() {
            if let Some(slot) = self.lanes.get(lane) {
                slots.insert(lane, slot.lock().await);
            }
        }
        let result = self.publish_locked(&mut slots, messages, &lanes).await;
        if result.1.is_some() {
            // A channel that failed once is not trusted again: the next publish opens a new one.
            for slot in slots.values_mut() {
                **slot = None;
            }
        }
        result
    }

    async fn publish_locked(
        &self,
        slots: &mut BTreeMap<usize, MutexGuard<'_, Option<PublishChannel>>>,
        messages: &[Outgoing],
        lanes: &[usize],
    ) -> (usize, Option<PublishError>) {
        let exchange = self.broker.topology().exchange();
        let mut confirms = Vec::with_capacity(messages.len());
        let mut failure = None;
        for (message, lane) in messages.iter().zip(lanes) {
            let Some(slot) = slots.get_mut(lane) else {
                failure = Some(PublishError::NotConnected);
                break;
            };
            if let Err(error) = self.open(slot).await {
                failure = Some(error);
                break;
            }
            let Some(open) = slot.as_mut() else {
                failure = Some(PublishError::NotConnected);
                break;
            };
            match publish_on(open, &self.broker, &exchange, message).await {
                Ok(confirm) => confirms.push(confirm),
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        let mut confirmed = 0;
        // The id of a message the broker returned (unroutable) whose return came with the confirm
        // of an earlier message of the run on its channel: that message is the failure, not the
        // earlier one.
        let mut returned_later: Option<String> = None;
        for (confirm, message) in confirms.into_iter().zip(messages) {
            let id = message.message_id.to_string();
            if returned_later.as_deref() == Some(id.as_str()) {
                return (
                    confirmed,
                    Some(PublishError::Unroutable(message.routing_key.clone())),
                );
            }
            match confirmed_as_sent(confirm, message).await {
                Ok(Confirmed::Taken) => {}
                Ok(Confirmed::ReturnedAnother(other)) => returned_later = Some(other),
                Err(error) => return (confirmed, Some(error)),
            }
            confirmed += 1;
        }
        (confirmed, failure)
    }

    /// Opens the confirm-mode channel when there is none, or the one there is closed.
    async fn open(&self, slot: &mut Option<PublishChannel>) -> Result<(), PublishError> {
        if !slot
            .as_ref()
            .is_some_and(|c| c.channel.status().connected())
        {
            let connection = self.broker.current().ok_or(PublishError::NotConnected)?;
            let channel = connection.create_channel().await?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            *slot = Some(PublishChannel {
                channel,
                companies_declared: HashSet::new(),
            });
        }
        Ok(())
    }
}

/// Publishes one message (declaring its company's queue first, once per channel) and returns the
/// broker's confirm to wait for.
async fn publish_on(
    open: &mut PublishChannel,
    broker: &Broker,
    exchange: &str,
    message: &Outgoing,
) -> Result<PublisherConfirm, PublishError> {
    if let Some(company) = company_of(&message.routing_key) {
        if !open.companies_declared.contains(company) {
            let topology = broker.topology();
            topology
                .declare_queue_ahead(&open.channel, &topology.company_queue(company))
                .await?;
            open.companies_declared.insert(company.to_owned());
        }
    }
    Ok(open
        .channel
        .basic_publish(
            exchange.into(),
            message.routing_key.as_str().into(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            &message.payload,
            properties(message),
        )
        .await?)
}

/// Waits for the broker's confirm of `message`: sent when acknowledged and not returned.
/// What a confirm says about the message it was awaited for.
enum Confirmed {
    /// A queue took it.
    Taken,
    /// It was taken, and the broker's return of another message of the run (by id) came with
    /// its confirm: when the broker confirms several publishes at once, lapin hands a return to
    /// the first confirm it resolves, which need not be the returned message's own.
    ReturnedAnother(String),
}

async fn confirmed_as_sent(
    confirm: PublisherConfirm,
    message: &Outgoing,
) -> Result<Confirmed, PublishError> {
    let confirmation = tokio::time::timeout(CONFIRM_TIMEOUT, confirm)
        .await
        .map_err(|_| PublishError::ConfirmTimeout)??;
    if confirmation.is_nack() {
        return Err(PublishError::Nacked);
    }
    let Some(returned) = confirmation.take_message() else {
        return Ok(Confirmed::Taken);
    };
    match returned.delivery.properties.message_id() {
        Some(id) if id.as_str() != message.message_id.to_string() => {
            Ok(Confirmed::ReturnedAnother(id.to_string()))
        }
        _ => Err(PublishError::Unroutable(message.routing_key.clone())),
    }
}

fn properties(message: &Outgoing) -> BasicProperties {
    let mut headers = FieldTable::default();
    if let Some(traceparent) = &message.traceparent {
        headers.insert(
            "traceparent".into(),
            AMQPValue::LongString(LongString::from(traceparent.as_str())),
        );
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    BasicProperties::default()
        .with_content_type("application/json".into())
        .with_message_id(message.message_id.to_string().into())
        .with_type(message.message_type.as_str().into())
        .with_timestamp(now)
        .with_delivery_mode(PERSISTENT)
        .with_headers(headers)
}

#[cfg(test)]
mod tests {
    use super::company_of;

    #[test]
    fn company_routing_keys_name_their_company() {
        assert_eq!(company_of("company.7.ready"), Some("7"));
        assert_eq!(company_of("company.12.cancel"), Some("12"));
        assert_eq!(company_of("status.company.7"), None);
        assert_eq!(company_of("company.7"), None);
        assert_eq!(company_of("config.company.7"), None);
    }
}
