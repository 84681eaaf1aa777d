//! What config-service consumes: the other services' audit events (stored in the one audit log)
//! and delivery state changes (a company's `last_sync_at`).

use bus::{spawn_consumer, Broker, ConsumerHandle, HandlerDecision, Incoming};
use domain::{AuditRecordedV1, PunchesStatusV1};

use crate::store::audit::{self, NewAuditEntry};
use crate::store::bayzat_configs;

const PREFETCH: u16 = 32;

pub fn spawn_consumers(broker: &Broker, pool: &db::Pool) -> Vec<ConsumerHandle> {
    let topology = broker.topology().clone();
    let audit_pool = pool.clone();
    let status_pool = pool.clone();
    vec![
        spawn_consumer(
            broker,
            topology.config_audit_queue(),
            PREFETCH,
            move |incoming| store_audit_event(audit_pool.clone(), incoming),
        ),
        spawn_consumer(
            broker,
            topology.config_status_queue(),
            PREFETCH,
            move |incoming| record_deliveries(status_pool.clone(), incoming),
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

async fn record_deliveries(pool: db::Pool, incoming: Incoming) -> HandlerDecision {
    let status: PunchesStatusV1 = match incoming.decode() {
        Ok(status) => status,
        Err(outcome) => return outcome,
    };
    let Some(at) = status.last_delivered_at() else {
        return HandlerDecision::Done;
    };
    // Moving the time forward only is idempotent, so no message id bookkeeping is needed.
    let recorded = async {
        let mut conn = db::connection(&pool).await.map_err(|e| e.to_string())?;
        bayzat_configs::record_delivery(&mut conn, status.company_id.0, at)
            .await
            .map_err(|e| e.to_string())
    };
    match recorded.await {
        Ok(_) => HandlerDecision::Done,
        Err(error) => HandlerDecision::Retry(error),
    }
}
