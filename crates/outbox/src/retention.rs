//! What the outbox and the inbox may forget: rows the broker confirmed long ago, and message ids
//! handled so long ago that no copy of the message can arrive any more.
//!
//! Each service's retention pass calls [`prune`] with its own schema. Rows go in chunks of
//! [`Retention::chunk`], one statement and one implicit transaction each, so a pass never holds
//! many locks or a large transaction however much has piled up; unsent rows are never touched.

use std::time::Duration;

use diesel::sql_types::{BigInt, Double};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// How long a sent outbox row is kept: the relay never reads it again, so it is only a record of
/// what was published, for looking into an incident (a week covers one noticed after a weekend).
pub const SENT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long a handled message id is kept. It must outlive every way the same message can come
/// back: the broker redelivering one whose acknowledgement was lost (at the consumer's next
/// connection, at most the length of an outage), a relay publishing a row again after a lost
/// confirm (seconds). Thirty days is far beyond any outage the bridge is run through; messages
/// that carry their own keys (punch ids) stay harmless even past it.
pub const PROCESSED_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Rows one delete statement removes at most.
pub const DELETE_CHUNK: i64 = 10_000;

/// What [`prune`] removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Sent outbox rows whose `sent_at` is older than this.
    pub sent: Duration,
    /// `processed_messages` rows whose `processed_at` is older than this.
    pub processed: Duration,
    /// Rows per statement.
    pub chunk: i64,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            sent: SENT_RETENTION,
            processed: PROCESSED_RETENTION,
            chunk: DELETE_CHUNK,
        }
    }
}

/// How many rows a [`prune`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub sent: usize,
    pub processed: usize,
}

/// Deletes `{schema}`'s sent outbox rows and handled message ids older than `retention` says,
/// chunk by chunk until none is left. Call it outside a transaction, so each chunk commits on
/// its own. Ages are measured by the database's clock, which wrote both timestamps.
pub async fn prune(
    conn: &mut AsyncPgConnection,
    schema: &str,
    retention: &Retention,
) -> diesel::QueryResult<Pruned> {
    let chunk = retention.chunk.max(1);
    let mut pruned = Pruned::default();
    loop {
        let deleted = prune_sent_chunk(conn, schema, retention.sent, chunk).await?;
        pruned.sent += deleted;
        if deleted < chunk as usize {
            break;
        }
    }
    loop {
        let deleted = prune_processed_chunk(conn, schema, retention.processed, chunk).await?;
        pruned.processed += deleted;
        if deleted < chunk as usize {
            break;
        }
    }
    Ok(pruned)
}

/// Deletes at most `chunk` outbox rows sent more than `older_than` ago, oldest first; returns
/// how many. A row not sent yet (`sent_at` NULL) is never among them, however old. Ids grow with
/// time, so the scan in id order finds the old rows first and stops when the chunk is full;
/// rows another pass has locked are skipped, not waited for.
pub async fn prune_sent_chunk(
    conn: &mut AsyncPgConnection,
    schema: &str,
    older_than: Duration,
    chunk: i64,
) -> diesel::QueryResult<usize> {
    diesel::sql_query(format!(
        "DELETE FROM {schema}.outbox WHERE id IN (\
           SELECT id FROM {schema}.outbox \
           WHERE sent_at IS NOT NULL AND sent_at < now() - make_interval(secs => $1) \
           ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)"
    ))
    .bind::<Double, _>(older_than.as_secs_f64())
    .bind::<BigInt, _>(chunk)
    .execute(conn)
    .await
}

/// Deletes at most `chunk` handled message ids recorded more than `older_than` ago; returns how
/// many.
pub async fn prune_processed_chunk(
    conn: &mut AsyncPgConnection,
    schema: &str,
    older_than: Duration,
    chunk: i64,
) -> diesel::QueryResult<usize> {
    diesel::sql_query(format!(
        "DELETE FROM {schema}.processed_messages WHERE message_id IN (\
           SELECT message_id FROM {schema}.processed_messages \
           WHERE processed_at < now() - make_interval(secs => $1) \
           LIMIT $2 FOR UPDATE SKIP LOCKED)"
    ))
    .bind::<Double, _>(older_than.as_secs_f64())
    .bind::<BigInt, _>(chunk)
    .execute(conn)
    .await
}
