//! What import-service consumes: every delivery state change, so each row shows its delivery
//! state and each import its progress per company.
//!
//! sync-service reports a change of state in one message per transaction of its own (each
//! request to Bayzat gives two: its punches sending, then their outcome), so a busy hour brings
//! hundreds a second. They are handled in batches: the messages waiting are recorded as handled
//! and their changes applied in one transaction, then acknowledged together.

use std::time::Duration;

use bus::{
    spawn_batch_consumer, BatchDecision, BatchLimits, Broker, ConsumerHandle, Decoded, Incoming,
};
use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection;
use domain::{Message, PunchesStatusV1};
use uuid::Uuid;

use crate::store::inbox;
use crate::store::punches::{self, StateChange};

/// Up to 200 messages of up to 500 changes each are one transaction; a lone message waits 10 ms
/// at most for company.
const STATUS_BATCH: BatchLimits = BatchLimits {
    max_messages: 200,
    linger: Duration::from_millis(10),
};

pub fn spawn_status_consumer(broker: &Broker, pool: &db::Pool) -> ConsumerHandle {
    let pool = pool.clone();
    spawn_batch_consumer(
        broker,
        broker.topology().import_status_queue(),
        STATUS_BATCH,
        move |batch| record_states(pool.clone(), batch),
    )
}

/// A decoded status message: its id (when it has one) and its changes.
struct Reported {
    message_id: Option<Uuid>,
    changes: Vec<StateChange>,
}

async fn record_states(pool: db::Pool, batch: Vec<Incoming>) -> BatchDecision {
    let now = Utc::now();
    let Decoded { decoded, poison } = BatchDecision::decode_all::<PunchesStatusV1>(&batch);
    let reported: Vec<Reported> = decoded
        .into_iter()
        .map(|(incoming, status)| Reported {
            message_id: incoming.message_uuid(),
            changes: changes(&status, now),
        })
        .collect();
    if reported.is_empty() {
        return BatchDecision::Done { poison };
    }
    let ids: Vec<Uuid> = reported.iter().filter_map(|r| r.message_id).collect();
    let stored = async {
        let mut conn = db::connection(&pool).await.map_err(|e| e.to_string())?;
        conn.transaction::<_, diesel::result::Error, _>(async |conn| {
            let mut first = inbox::first_deliveries(conn, &ids, PunchesStatusV1::TYPE).await?;
            // A message handled before is skipped, and so is the second copy of one in this
            // batch (sent again after a lost confirm).
            let changes: Vec<StateChange> = reported
                .iter()
                .filter(|r| r.message_id.is_none_or(|id| first.remove(&id)))
                .flat_map(|r| r.changes.iter().cloned())
                .collect();
            punches::apply_states(conn, &changes).await.map(drop)
        })
        .await
        .map_err(|e| e.to_string())
    };
    match stored.await {
        Ok(()) => BatchDecision::Done { poison },
        Err(error) => BatchDecision::Retry(error),
    }
}

fn changes(status: &PunchesStatusV1, now: DateTime<Utc>) -> Vec<StateChange> {
    status
        .changes
        .iter()
        .map(|c| StateChange {
            punch_id: c.punch_id.0,
            state: c.state.as_str().to_owned(),
            error: c.error.clone(),
            at: c.at.unwrap_or(now),
        })
        .collect()
}
