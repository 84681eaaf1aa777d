//! What the retention pass deletes from the `sync` schema, one bounded chunk per statement.
//!
//! A batch's deliveries go together, once the whole batch is settled and has not moved for the
//! retention period, so a batch is listed with all of its punches or none (its counts stay: the
//! `deliveries` triggers count moves, not deletions). Failed
//! deliveries go with their batch too: they wait for an operator's retry, and a batch nobody
//! retried for the whole period will not be retried.

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Timestamptz, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::{Conn, QueryResult};

/// Deletes at most `chunk` Bayzat request logs that started before `before`, oldest first;
/// returns how many. Ids grow with time, so the scan in id order meets the old rows first.
pub async fn delete_requests_before(
    conn: &mut Conn,
    before: DateTime<Utc>,
    chunk: i64,
) -> QueryResult<usize> {
    // Raw: a chunked delete (`IN` a limited subquery) has no builder form.
    diesel::sql_query(
        "DELETE FROM sync.bayzat_requests WHERE id IN (\
           SELECT id FROM sync.bayzat_requests WHERE started_at < $1 ORDER BY id LIMIT $2)",
    )
    .bind::<Timestamptz, _>(before)
    .bind::<BigInt, _>(chunk)
    .execute(conn)
    .await
}

#[derive(diesel::QueryableByName)]
struct BatchId {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// Up to `limit` batches whose deliveries may all go: the batch is settled (`completed` or
/// `failed`: nothing of it is on its way) since before `before`, it still has deliveries, and
/// every one of them is delivered, failed, rejected or cancelled and last changed before
/// `before`. Unordered, so the scan stops once it has `limit` of them: a pass takes them all in
/// rounds anyway.
pub async fn settled_batches(
    conn: &mut Conn,
    before: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<Uuid>> {
    // Raw: EXISTS over the batch's deliveries, twice, by the `deliveries_batch` index.
    let rows: Vec<BatchId> = diesel::sql_query(
        "SELECT b.id FROM sync.sync_batches b \
         WHERE b.status IN ('completed', 'failed') AND b.completed_at < $1 \
           AND EXISTS (SELECT 1 FROM sync.deliveries d WHERE d.batch_id = b.id) \
           AND NOT EXISTS (SELECT 1 FROM sync.deliveries d WHERE d.batch_id = b.id \
             AND (d.state NOT IN ('delivered', 'failed', 'rejected', 'cancelled') \
                  OR d.updated_at >= $1)) \
         LIMIT $2",
    )
    .bind::<Timestamptz, _>(before)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Deletes at most `chunk` deliveries of `batch_ids` that are delivered, failed, rejected or
/// cancelled and last changed before `before`; returns how many. The conditions are checked
/// again on each row as it is locked, so one an operator has just retried stays; rows locked by
/// someone else are skipped, not waited for.
pub async fn delete_deliveries_of(
    conn: &mut Conn,
    batch_ids: &[Uuid],
    before: DateTime<Utc>,
    chunk: i64,
) -> QueryResult<usize> {
    if batch_ids.is_empty() {
        return Ok(0);
    }
    // Raw: a chunked delete with SKIP LOCKED has no builder form.
    diesel::sql_query(
        "DELETE FROM sync.deliveries WHERE punch_id IN (\
           SELECT punch_id FROM sync.deliveries WHERE batch_id = ANY($1) \
             AND state IN ('delivered', 'failed', 'rejected', 'cancelled') \
             AND updated_at < $2 \
           LIMIT $3 FOR UPDATE SKIP LOCKED)",
    )
    .bind::<Array<SqlUuid>, _>(batch_ids)
    .bind::<Timestamptz, _>(before)
    .bind::<BigInt, _>(chunk)
    .execute(conn)
    .await
}

/// Deletes at most `chunk` batches that have no deliveries and whose counts last moved before
/// `before` (a settled batch's last move is its completion); returns how many. A batch's row is
/// committed with its first deliveries, so only a batch whose punches were all known already, or
/// whose deliveries retention removed, is ever empty.
pub async fn delete_empty_batches(
    conn: &mut Conn,
    before: DateTime<Utc>,
    chunk: i64,
) -> QueryResult<usize> {
    // Raw: a chunked delete with NOT EXISTS has no builder form.
    diesel::sql_query(
        "DELETE FROM sync.sync_batches WHERE id IN (\
           SELECT b.id FROM sync.sync_batches b WHERE b.updated_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM sync.deliveries d WHERE d.batch_id = b.id) \
           LIMIT $2 FOR UPDATE SKIP LOCKED)",
    )
    .bind::<Timestamptz, _>(before)
    .bind::<BigInt, _>(chunk)
    .execute(conn)
    .await
}
