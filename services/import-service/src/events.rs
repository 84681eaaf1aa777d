//! What import-service consumes: every delivery state change, so each row shows its delivery
//! state and each import its progress per company.

use bus::{spawn_consumer, Broker, ConsumerHandle, HandlerDecision, Incoming};
use chrono::Utc;
use diesel_async::AsyncConnection;
use domain::{Message, PunchesStatusV1};

use crate::store::punches::{self, StateChange};
use crate::SCHEMA;

pub fn spawn_status_consumer(broker: &Broker, pool: &db::Pool) -> ConsumerHandle {
    let pool = pool.clone();
    spawn_consumer(
        broker,
        broker.topology().import_status_queue(),
        32,
        move |incoming| record_states(pool.clone(), incoming),
    )
}

async fn record_states(pool: db::Pool, incoming: Incoming) -> HandlerDecision {
    let status: PunchesStatusV1 = match incoming.decode() {
        Ok(status) => status,
        Err(outcome) => return outcome,
    };
    let message_id = incoming.message_uuid();
    let now = Utc::now();
    let changes: Vec<StateChange> = status
        .changes
        .iter()
        .map(|c| StateChange {
            punch_id: c.punch_id.0,
            state: c.state.as_str().to_owned(),
            error: c.error.clone(),
            at: c.at.unwrap_or(now),
        })
        .collect();
    let stored = async {
        let mut conn = db::connection(&pool).await.map_err(|e| e.to_string())?;
        conn.transaction::<_, diesel::result::Error, _>(async |conn| {
            if let Some(id) = message_id {
                if !outbox::first_delivery(conn, SCHEMA, id, PunchesStatusV1::TYPE).await? {
                    return Ok(());
                }
            }
            punches::apply_states(conn, &changes).await.map(drop)
        })
        .await
        .map_err(|e| e.to_string())
    };
    match stored.await {
        Ok(()) => HandlerDecision::Done,
        Err(error) => HandlerDecision::Retry(error),
    }
}
