//! Messages that are sent exactly when the change that caused them is committed, and handled once
//! however often they arrive (docs/architecture.md#messages).
//!
//! - [`enqueue`] writes messages to the service's `outbox` table inside the caller's transaction
//!   ([`enqueue_with_client`] for a transaction on a plain tokio-postgres client).
//! - [`spawn_relay`] publishes unsent rows in order, with publisher confirms, and marks a row sent
//!   only once the broker confirmed it. A round publishes its rows without waiting for each
//!   confirm in turn, then waits for the confirms. While the broker is away rows wait; nothing is
//!   lost.
//!   [`spawn_relay_expanding`] also builds the messages of rows that hold a reference to them.
//! - [`first_delivery`] records a consumed message id in `processed_messages` inside the
//!   consumer's transaction, so a redelivered message is recognised and skipped.
//! - [`prune`] deletes sent rows and handled message ids once they are old enough to be of no
//!   more use ([`Retention`]), in bounded chunks; each service's retention pass calls it.
//!
//! Each service has its own `outbox` and `processed_messages` tables in its own schema (created by
//! its first migration); the functions take the schema name.

use std::sync::Arc;
use std::time::Duration;

use bus::{Outgoing, Publisher};
use db::Prepared;
use diesel::sql_types::{Array, BigInt, Jsonb, Nullable, Text, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use futures_util::future::BoxFuture;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use uuid::Uuid;

mod retention;

pub use retention::{
    prune, prune_processed_chunk, prune_sent_chunk, Pruned, Retention, DELETE_CHUNK,
    PROCESSED_RETENTION, SENT_RETENTION,
};

/// How many rows one relay round publishes before committing their `sent_at`.
const RELAY_BATCH: i64 = 200;
/// The default [`Expander::round_cost`]: a round is built whole before any of it is published,
/// and building a `punches.ready.v1` reads its punches (about 15 ms for 600). Rounds of 200 large
/// messages made the first company of a large import wait seconds for the punches of the last to
/// be read; rounds of a few publish the first within milliseconds.
const EXPANDING_ROUND_COST: usize = 8;
/// How long the relay sleeps when there is nothing to send and nobody woke it.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// How long the relay waits before trying again after the broker refused or was away.
const FAILURE_PAUSE: Duration = Duration::from_millis(500);
/// Rows published at once after a failure, until one is confirmed again: the rows behind a refused
/// one are not published again and again while it is refused.
const AFTER_FAILURE_BATCH: i64 = 1;

/// The statement both enqueue functions run: payloads travel as text and are read as jsonb by
/// Postgres, so they are never parsed on this side.
fn insert_statement(schema: &str) -> String {
    format!(
        "INSERT INTO {schema}.outbox (message_id, message_type, routing_key, payload, traceparent) \
         SELECT m, t, r, p::jsonb, tp FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[]) \
           AS u(m, t, r, p, tp)"
    )
}

fn payload_text(message: &Outgoing) -> Result<&str, std::str::Utf8Error> {
    std::str::from_utf8(&message.payload)
}

/// Writes `messages` to `{schema}.outbox` in one statement, in the caller's transaction.
pub async fn enqueue(
    conn: &mut AsyncPgConnection,
    schema: &str,
    messages: &[Outgoing],
) -> diesel::QueryResult<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let payloads = messages
        .iter()
        .map(payload_text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    diesel::sql_query(insert_statement(schema))
        .bind::<Array<SqlUuid>, _>(messages.iter().map(|m| m.message_id).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(
            messages
                .iter()
                .map(|m| m.message_type.as_str())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Text>, _>(
            messages
                .iter()
                .map(|m| m.routing_key.as_str())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Text>, _>(payloads)
        .bind::<Array<Nullable<Text>>, _>(
            messages
                .iter()
                .map(|m| m.traceparent.as_deref())
                .collect::<Vec<_>>(),
        )
        .prepared()
        .execute(conn)
        .await
        .map(drop)
}

/// [`enqueue`] for a transaction held on a plain tokio-postgres client (where the caller needs
/// what diesel-async does not offer, such as COPY), with the same guarantee: the messages exist
/// if and only if the caller's transaction commits.
pub async fn enqueue_with_client<C: tokio_postgres::GenericClient + Sync>(
    client: &C,
    schema: &str,
    messages: &[Outgoing],
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    if messages.is_empty() {
        return Ok(());
    }
    let payloads = messages
        .iter()
        .map(payload_text)
        .collect::<Result<Vec<_>, _>>()?;
    let ids: Vec<Uuid> = messages.iter().map(|m| m.message_id).collect();
    let types: Vec<&str> = messages.iter().map(|m| m.message_type.as_str()).collect();
    let keys: Vec<&str> = messages.iter().map(|m| m.routing_key.as_str()).collect();
    let traces: Vec<Option<&str>> = messages.iter().map(|m| m.traceparent.as_deref()).collect();
    client
        .execute(
            insert_statement(schema).as_str(),
            &[&ids, &types, &keys, &payloads, &traces],
        )
        .await?;
    Ok(())
}

/// Records that the message `message_id` is being handled; false when it was handled before.
/// Call it inside the handler's transaction, so the record and the handling commit together.
pub async fn first_delivery(
    conn: &mut AsyncPgConnection,
    schema: &str,
    message_id: Uuid,
    message_type: &str,
) -> diesel::QueryResult<bool> {
    let inserted = diesel::sql_query(format!(
        "INSERT INTO {schema}.processed_messages (message_id, message_type) VALUES ($1, $2) \
         ON CONFLICT (message_id) DO NOTHING"
    ))
    .bind::<SqlUuid, _>(message_id)
    .bind::<Text, _>(message_type)
    .execute(conn)
    .await?;
    Ok(inserted == 1)
}

/// The number of messages not yet confirmed by the broker (for metrics and tests).
pub async fn backlog(conn: &mut AsyncPgConnection, schema: &str) -> diesel::QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        count: i64,
    }
    let row: Count = diesel::sql_query(format!(
        "SELECT count(*) AS count FROM {schema}.outbox WHERE sent_at IS NULL"
    ))
    .get_result(conn)
    .await?;
    Ok(row.count)
}

/// Wakes a relay at once (after a commit that enqueued messages) instead of at its next poll.
#[derive(Clone, Default)]
pub struct RelayWaker(Arc<Notify>);

impl RelayWaker {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Builds, at publish time, the message of an outbox row that holds a reference to it rather than
/// the message itself (docs/architecture.md#who-owns-what: "an outbox entry may hold a reference ... so a large import
/// does not write its punches twice").
pub trait Expander: Send + Sync + 'static {
    /// The bytes to publish for a stored row of `message_type`, or `None` to publish the stored
    /// payload as it is. Runs in the relay's transaction, on its connection.
    fn expand<'a>(
        &'a self,
        conn: &'a mut AsyncPgConnection,
        message_type: &'a str,
        stored: &'a serde_json::Value,
    ) -> BoxFuture<'a, diesel::QueryResult<Option<Vec<u8>>>>;

    /// [`Expander::expand`] for the rows of a round, in order (one answer per row). The default
    /// builds them one at a time; an expander that can read what many rows reference at once
    /// saves a query per row: a steady trickle of small messages (a clock's upload of a few
    /// punches each) otherwise costs a query each.
    fn expand_all<'a>(
        &'a self,
        conn: &'a mut AsyncPgConnection,
        rows: &'a [(&'a str, &'a serde_json::Value)],
    ) -> BoxFuture<'a, diesel::QueryResult<Vec<Option<Vec<u8>>>>> {
        Box::pin(async move {
            let mut built = Vec::with_capacity(rows.len());
            for (message_type, stored) in rows {
                built.push(self.expand(&mut *conn, message_type, stored).await?);
            }
            Ok(built)
        })
    }

    /// What building a stored row costs, in units of [`Expander::round_cost`] (1 unless said).
    fn cost(&self, _message_type: &str, _stored: &serde_json::Value) -> usize {
        1
    }

    /// How much a round builds at most before it publishes: rows are taken in order while their
    /// costs add up to no more than this (always at least one). Cheap rows then go out many to a
    /// round, each round a commit, and expensive ones a few at a time.
    fn round_cost(&self) -> usize {
        EXPANDING_ROUND_COST
    }
}

/// Publishes the unsent rows of `{schema}.outbox` until the task is aborted.
pub fn spawn_relay(
    pool: db::Pool,
    publisher: Arc<Publisher>,
    schema: &'static str,
    waker: RelayWaker,
) -> JoinHandle<()> {
    spawn(pool, publisher, schema, waker, None)
}

/// [`spawn_relay`] for an outbox some of whose rows are references, built by `expander`.
pub fn spawn_relay_expanding(
    pool: db::Pool,
    publisher: Arc<Publisher>,
    schema: &'static str,
    waker: RelayWaker,
    expander: Arc<dyn Expander>,
) -> JoinHandle<()> {
    spawn(pool, publisher, schema, waker, Some(expander))
}

fn spawn(
    pool: db::Pool,
    publisher: Arc<Publisher>,
    schema: &'static str,
    waker: RelayWaker,
    expander: Option<Arc<dyn Expander>>,
) -> JoinHandle<()> {
    let round = RELAY_BATCH;
    tokio::spawn(async move {
        let mut batch = round;
        loop {
            match relay_once(&pool, &publisher, schema, expander.as_deref(), batch).await {
                Ok(0) => {
                    batch = round;
                    let _ = tokio::time::timeout(IDLE_POLL, waker.0.notified()).await;
                }
                Ok(_) => batch = round,
                Err(error) => {
                    tracing::warn!(schema, %error, "outbox relay paused");
                    batch = AFTER_FAILURE_BATCH;
                    tokio::time::sleep(FAILURE_PAUSE).await;
                }
            }
        }
    })
}

#[derive(QueryableByName)]
struct Pending {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = SqlUuid)]
    message_id: Uuid,
    #[diesel(sql_type = Text)]
    message_type: String,
    #[diesel(sql_type = Text)]
    routing_key: String,
    #[diesel(sql_type = Jsonb)]
    payload: serde_json::Value,
    #[diesel(sql_type = Nullable<Text>)]
    traceparent: Option<String>,
}

#[derive(Debug)]
enum RelayError {
    Database(String),
    Publish(String),
}

impl std::fmt::Display for RelayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RelayError::Database(e) => write!(f, "database: {e}"),
            RelayError::Publish(e) => write!(f, "broker: {e}"),
        }
    }
}

/// The first of `pending` whose costs add up to no more than the expander's round (at least one).
fn within_cost(expander: &dyn Expander, mut pending: Vec<Pending>) -> Vec<Pending> {
    let limit = expander.round_cost();
    let mut total = 0usize;
    let mut keep = 0;
    for row in &pending {
        total = total.saturating_add(expander.cost(&row.message_type, &row.payload));
        if keep > 0 && total > limit {
            break;
        }
        keep += 1;
    }
    pending.truncate(keep);
    pending
}

/// One round: locks up to `batch` unsent rows (other replicas skip them), publishes them in order
/// without waiting for each confirm before the next, and marks the confirmed ones sent, up to the
/// first refusal so order is kept; the refused row records the error and is tried again next
/// round, with the rows behind it (some of which may have reached their queues already: consumers
/// recognise a message they handled). Returns how many were sent.
async fn relay_once(
    pool: &db::Pool,
    publisher: &Publisher,
    schema: &str,
    expander: Option<&dyn Expander>,
    batch: i64,
) -> Result<usize, RelayError> {
    let database = |e: &dyn std::fmt::Display| RelayError::Database(e.to_string());
    let mut conn = db::connection(pool).await.map_err(|e| database(&e))?;
    let (sent, failure) = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            // The unsent rows are read through `outbox_unsent` in id order, stopping at the
            // batch. Postgres otherwise takes a bitmap (or sequential) scan whenever it expects
            // fewer unsent rows than the batch, which is nearly always since the sent rows kept
            // are most of the table: that visits every row marked sent since the last vacuum on
            // every round, and never marks their index entries dead as an index scan does. With
            // 200 companies sending, that was 1-3 ms of Postgres a round, a round every few
            // requests.
            conn.batch_execute("SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off")
                .await?;
            let pending: Vec<Pending> = diesel::sql_query(format!(
                "SELECT id, message_id, message_type, routing_key, payload, traceparent \
                 FROM {schema}.outbox WHERE sent_at IS NULL ORDER BY id LIMIT $1 \
                 FOR UPDATE SKIP LOCKED"
            ))
            .bind::<BigInt, _>(batch)
            .prepared()
            .load(&mut *conn)
            .await?;
            // The rows this round builds; those locked past them are left to the next round
            // (their locks go at this round's commit), so order is kept.
            let (pending, expanded) = match expander {
                Some(expander) => {
                    let pending = within_cost(expander, pending);
                    let rows: Vec<(&str, &serde_json::Value)> = pending
                        .iter()
                        .map(|row| (row.message_type.as_str(), &row.payload))
                        .collect();
                    let expanded = expander.expand_all(&mut *conn, &rows).await?;
                    if expanded.len() != pending.len() {
                        return Err(diesel::result::Error::SerializationError(
                            "an expander built a different number of messages than asked".into(),
                        ));
                    }
                    (pending, expanded)
                }
                None => {
                    let none = pending.iter().map(|_| None).collect();
                    (pending, none)
                }
            };
            let mut ids = Vec::with_capacity(pending.len());
            let mut messages = Vec::with_capacity(pending.len());
            for (row, expanded) in pending.into_iter().zip(expanded) {
                let message = Outgoing {
                    message_id: row.message_id,
                    message_type: row.message_type,
                    routing_key: row.routing_key,
                    payload: expanded
                        .unwrap_or_else(|| serde_json::to_vec(&row.payload).unwrap_or_default()),
                    traceparent: row.traceparent,
                };
                ids.push(row.id);
                messages.push(message);
            }
            let (confirmed, failure) = publisher.publish_all(&messages).await;
            let sent = &ids[..confirmed];
            let failure = match (failure, ids.get(confirmed)) {
                (Some(error), Some(refused)) => {
                    diesel::sql_query(format!(
                        "UPDATE {schema}.outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1"
                    ))
                    .bind::<BigInt, _>(*refused)
                    .bind::<Text, _>(error.to_string())
                    .execute(&mut *conn)
                    .await?;
                    Some(error.to_string())
                }
                (failure, _) => failure.map(|error| error.to_string()),
            };
            diesel::sql_query(format!(
                "UPDATE {schema}.outbox SET sent_at = now() WHERE id = ANY($1)"
            ))
            .bind::<Array<BigInt>, _>(sent)
            .prepared()
            .execute(&mut *conn)
            .await?;
            Ok((sent.len(), failure))
        })
        .await
        .map_err(|e| database(&e))?;
    match failure {
        Some(error) => Err(RelayError::Publish(error)),
        None => Ok(sent),
    }
}
