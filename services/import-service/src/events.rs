//! What import-service consumes: every delivery state change, so each row shows its delivery
//! state and each import its progress per company.

use bus::{spawn_consumer, Broker, ConsumerHandle, Incoming, Outcome};
use chrono::Utc;
use diesel_async::AsyncConnection;
use domain::{Message, PunchesStatusV1};
use uuid::Uuid;

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

async fn record_states(pool: db::Pool, incoming: Incoming) -> Outcome {
    if let Some(kind) = incoming
        .message_type
        .as_deref()
        .filter(|k| *k != PunchesStatusV1::TYPE)
    {
        return Outcome::Poison(format!("expected {}, got {kind}", PunchesStatusV1::TYPE));
    }
    let status: PunchesStatusV1 = match incoming.json() {
        Ok(status) => status,
        Err(e) => return Outcome::Poison(format!("undecodable {}: {e}", PunchesStatusV1::TYPE)),
    };
    let message_id = incoming
        .message_id
        .as_deref()
        .and_then(|id| Uuid::parse_str(id).ok());
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
        Ok(()) => Outcome::Done,
        Err(error) => Outcome::Retry(error),
    }
}
