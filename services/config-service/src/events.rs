//! What config-service consumes: the other services' audit events (stored in the one audit log),
//! delivery state changes (a company's `last_sync_at`) and the events people must hear about
//! (queued for the webhook endpoints and the notification contacts that want them).

use std::collections::BTreeMap;
use std::time::Duration;

use bus::{
    spawn_batch_consumer, spawn_consumer, BatchDecision, BatchLimits, Broker, ConsumerHandle,
    Decoded, HandlerDecision, Incoming,
};
use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection;
use domain::{AuditRecordedV1, BridgeEventV1, PunchesStatusV1};

use crate::store::audit::{self, NewAuditEntry};
use crate::store::bayzat_configs;
use crate::store::webhooks as webhook_store;

const PREFETCH: u16 = 32;
/// Delivery status messages handled together: up to 200, a lone one waiting 10 ms at most for
/// company.
const STATUS_BATCH: BatchLimits = BatchLimits {
    max_messages: 200,
    linger: Duration::from_millis(10),
};

pub fn spawn_consumers(
    broker: &Broker,
    pool: &db::Pool,
    webhooks: &crate::webhooks::Waker,
) -> Vec<ConsumerHandle> {
    let topology = broker.topology().clone();
    let audit_pool = pool.clone();
    let status_pool = pool.clone();
    let event_pool = pool.clone();
    let webhooks = webhooks.clone();
    vec![
        spawn_consumer(
            broker,
            topology.config_events_queue(),
            PREFETCH,
            move |incoming| store_event(event_pool.clone(), webhooks.clone(), incoming),
        ),
        spawn_consumer(
            broker,
            topology.config_audit_queue(),
            PREFETCH,
            move |incoming| store_audit_event(audit_pool.clone(), incoming),
        ),
        spawn_batch_consumer(
            broker,
            topology.config_status_queue(),
            STATUS_BATCH,
            move |batch| record_deliveries(status_pool.clone(), batch),
        ),
    ]
}

async fn store_audit_event(pool: db::Pool, incoming: Incoming) -> HandlerDecision {
    let event: AuditRecordedV1 = match incoming.decode() {
        Ok(event) => event,
        Err(outcome) => return outcome,
    };
    let entry = NewAuditEntry {
        at: event.at,
        service: event.service,
        actor: event.actor,
        action: event.action,
        company_id: event.company_id.map(|id| id.0),
        target: event.target,
        details: event.details,
        // The message id makes a redelivered event a no-op.
        message_id: incoming.message_uuid(),
    };
    let stored = async {
        let mut conn = db::connection(&pool).await.map_err(|e| e.to_string())?;
        audit::record(&mut conn, &entry)
            .await
            .map_err(|e| e.to_string())
    };
    match stored.await {
        Ok(()) => HandlerDecision::Done,
        Err(error) => HandlerDecision::Retry(error),
    }
}

/// Status messages come two per Bayzat request of every company: a batch of them is one
/// statement and one commit, each company's latest delivery taken.
async fn record_deliveries(pool: db::Pool, batch: Vec<Incoming>) -> BatchDecision {
    let Decoded { decoded, poison } = BatchDecision::decode_all::<PunchesStatusV1>(&batch);
    let mut latest: BTreeMap<i64, DateTime<Utc>> = BTreeMap::new();
    for (_, status) in decoded {
        if let Some(at) = status.last_delivered_at() {
            latest
                .entry(status.company_id.0)
                .and_modify(|kept| *kept = (*kept).max(at))
                .or_insert(at);
        }
    }
    if latest.is_empty() {
        return BatchDecision::Done { poison };
    }
    // Moving the time forward only is idempotent, so no message id bookkeeping is needed.
    let deliveries: Vec<(i64, DateTime<Utc>)> = latest.into_iter().collect();
    let recorded = async {
        let mut conn = db::connection(&pool).await.map_err(|e| e.to_string())?;
        bayzat_configs::record_deliveries(&mut conn, &deliveries)
            .await
            .map_err(|e| e.to_string())
    };
    match recorded.await {
        Ok(_) => BatchDecision::Done { poison },
        Err(error) => BatchDecision::Retry(error),
    }
}

/// Queues an event for every webhook endpoint and notification contact that wants it, in one
/// transaction. Both queues are keyed by the event's id, so a redelivered message adds nothing.
async fn store_event(
    pool: db::Pool,
    webhooks: crate::webhooks::Waker,
    incoming: Incoming,
) -> HandlerDecision {
    let event: BridgeEventV1 = match incoming.decode() {
        Ok(event) => event,
        Err(outcome) => return outcome,
    };
    let stored = async {
        let mut conn = db::connection(&pool).await.map_err(|e| e.to_string())?;
        conn.transaction::<_, diesel::result::Error, _>(async |conn| {
            crate::mail::queue(conn, &event).await?;
            webhook_store::queue_event(conn, &event).await
        })
        .await
        .map_err(|e| e.to_string())
    };
    match stored.await {
        Ok(queued) => {
            if queued > 0 {
                webhooks.wake();
            }
            HandlerDecision::Done
        }
        Err(error) => HandlerDecision::Retry(error),
    }
}
