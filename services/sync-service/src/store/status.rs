//! `punches.status.v1` for every change of a delivery's state, written to the outbox in the same
//! transaction as the change, the affected batches' status derived again, and the
//! `bridge.event.v1` events the change makes (punches whose retries ran out, batches settled).

use chrono::{DateTime, Utc};
use domain::{CompanyId, PunchId, PunchStatusChange, PunchesStatusV1};
use uuid::Uuid;

use super::deliveries::Changed;
use super::{batches, Conn, QueryResult};
use crate::{bridge_events, SCHEMA};

/// Changes per message: well under the broker's frame and the consumers' transaction sizes.
const CHANGES_PER_MESSAGE: usize = 500;

/// Publishes the changes (through the outbox) and refreshes their batches. The deliveries among
/// them that became `failed` are one `deliveries.failed` event, whatever their number.
pub async fn record(
    conn: &mut Conn,
    company_id: i64,
    changed: &[Changed],
    now: DateTime<Utc>,
) -> QueryResult<()> {
    if changed.is_empty() {
        return Ok(());
    }
    publish(conn, company_id, changed, now).await?;
    if let Some(event) = bridge_events::deliveries_failed(company_id, changed, now) {
        enqueue(conn, &event).await?;
    }
    let batch_ids: Vec<Uuid> = changed.iter().map(|c| c.batch_id).collect();
    refresh_batches(conn, &batch_ids, now).await
}

/// Derives the batches' status from their counts and announces each that settled now with
/// `batch.completed`.
pub async fn refresh_batches(
    conn: &mut Conn,
    batch_ids: &[Uuid],
    now: DateTime<Utc>,
) -> QueryResult<()> {
    let settled = batches::refresh(conn, batch_ids, now).await?;
    let events: Vec<_> = settled
        .iter()
        .filter_map(|batch| bridge_events::batch_completed(batch, now))
        .collect();
    enqueue_all(conn, &events).await
}

/// Writes `punches.status.v1` messages for the changes to the outbox.
async fn publish(
    conn: &mut Conn,
    company_id: i64,
    changed: &[Changed],
    now: DateTime<Utc>,
) -> QueryResult<()> {
    let traceparent = telemetry::current_traceparent();
    let mut messages = Vec::new();
    for chunk in changed.chunks(CHANGES_PER_MESSAGE) {
        let event = PunchesStatusV1 {
            company_id: CompanyId(company_id),
            changes: chunk
                .iter()
                .map(|c| PunchStatusChange {
                    punch_id: PunchId(c.punch_id),
                    state: c.state,
                    error: c.last_error.clone(),
                    at: Some(now),
                })
                .collect(),
        };
        messages.push(
            bus::Outgoing::message(Uuid::now_v7(), &event, traceparent.clone())
                .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?,
        );
    }
    outbox::enqueue(conn, SCHEMA, &messages).await
}

/// Enqueues any message of the `attendance` exchange in the caller's transaction.
pub async fn enqueue<M: domain::Message>(conn: &mut Conn, message: &M) -> QueryResult<()> {
    enqueue_all(conn, std::slice::from_ref(message)).await
}

/// [`enqueue`] for several messages, in one statement.
pub async fn enqueue_all<M: domain::Message>(conn: &mut Conn, messages: &[M]) -> QueryResult<()> {
    let traceparent = telemetry::current_traceparent();
    let outgoing = messages
        .iter()
        .map(|message| bus::Outgoing::message(Uuid::now_v7(), message, traceparent.clone()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    outbox::enqueue(conn, SCHEMA, &outgoing).await
}
