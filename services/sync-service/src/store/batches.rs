use chrono::{DateTime, Utc};
use db::Prepared;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use domain::{CompanySyncState, Message, PunchesReadyV1};

use super::{column, companies, Conn, QueryResult};
use crate::schema::sync_batches;

/// A batch: one company's punches of one ready message set (the original design's
/// `bayzat_sync_batches`).
#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize, utoipa::ToSchema)]
#[diesel(table_name = sync_batches)]
pub struct Batch {
    pub id: Uuid,
    pub company_id: i64,
    pub import_id: Option<i64>,
    pub total_count: i32,
    pub delivered_count: i32,
    pub failed_count: i32,
    pub rejected_count: i32,
    pub cancelled_count: i32,
    /// pending, processing, completed or failed.
    #[schema(value_type = crate::openapi::BatchStatus)]
    pub status: String,
    pub error_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// A ready message come for its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// The message's id, when it has one: a message is stored once.
    pub message_id: Option<Uuid>,
    pub id: Uuid,
    pub company_id: i64,
    pub import_id: i64,
    /// Whether the company's sync is on, for its row when the company is new here.
    pub is_enabled: bool,
}

/// Ready messages' arrivals, in one statement whatever their number: a round trip each, on a busy
/// machine, cost a store as much as the insert of its punches. Records each message as handled,
/// creates the row of each company seen for the first time ([`companies::first_state`]), and
/// creates each message's batch when a former message has not. Returns, in order, each company's
/// sync state, or None for a message handled before (nothing written for it). A message id must
/// not come twice in one call. Call it inside the transaction that stores the messages' punches:
/// [`deliveries::insert`](super::deliveries::insert) counts them as received by their batches.
///
/// A batch that exists is left unlocked here: the company's sender writes to it while the batch's
/// next punches are stored, and would wait for the whole store. Nor does the store wait for the
/// sender: a company or batch already there is not inserted again, since `ON CONFLICT DO NOTHING`
/// waits for whoever is writing to the row it conflicts with (under `make bench-sync-scale`,
/// 2-8 stores a run waited 20-130 ms while every company's punches were being handed over).
pub async fn arrive(
    conn: &mut Conn,
    arrivals: &[Arrival],
    now: DateTime<Utc>,
) -> QueryResult<Vec<Option<CompanySyncState>>> {
    #[derive(QueryableByName)]
    struct Arrived {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        first_time: bool,
        #[diesel(sql_type = Nullable<Text>)]
        state: Option<String>,
    }
    if arrivals.is_empty() {
        return Ok(Vec::new());
    }
    let firsts: Vec<_> = arrivals
        .iter()
        .map(|a| companies::first_state(a.is_enabled))
        .collect();
    // The statement's snapshot does not see its own inserts: a company's state is the row it
    // created, or else the row that was there.
    let arrived: Vec<Arrived> = diesel::sql_query(
        "WITH input AS (\
           SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::uuid[], \
             $6::bigint[]) WITH ORDINALITY \
           AS i(message_id, company_id, first_state, first_reason, batch_id, import_id, ord)), \
         handled AS (\
           INSERT INTO sync.processed_messages (message_id, message_type) \
           SELECT message_id, $7 FROM input WHERE message_id IS NOT NULL \
           ON CONFLICT (message_id) DO NOTHING RETURNING message_id), \
         fresh AS (\
           SELECT * FROM input \
           WHERE message_id IS NULL OR message_id IN (SELECT message_id FROM handled)), \
         company AS (\
           INSERT INTO sync.company_sync_state (company_id, state, reason, since) \
           SELECT DISTINCT ON (company_id) company_id, first_state, first_reason, $8 \
           FROM fresh f WHERE NOT EXISTS (\
             SELECT 1 FROM sync.company_sync_state s WHERE s.company_id = f.company_id) \
           ORDER BY company_id \
           ON CONFLICT (company_id) DO NOTHING RETURNING company_id, state), \
         batch AS (\
           INSERT INTO sync.sync_batches (id, company_id, import_id, created_at, updated_at) \
           SELECT batch_id, min(company_id), min(import_id), $8, $8 \
           FROM fresh f WHERE NOT EXISTS (\
             SELECT 1 FROM sync.sync_batches b WHERE b.id = f.batch_id) \
           GROUP BY batch_id ORDER BY batch_id \
           ON CONFLICT (id) DO NOTHING) \
         SELECT i.ord IN (SELECT ord FROM fresh) AS first_time, \
           COALESCE((SELECT c.state FROM company c WHERE c.company_id = i.company_id), \
             (SELECT s.state FROM sync.company_sync_state s WHERE s.company_id = i.company_id)) \
             AS state \
         FROM input i ORDER BY i.ord",
    )
    .bind::<Array<Nullable<SqlUuid>>, _>(column(arrivals, |a| a.message_id))
    .bind::<Array<BigInt>, _>(column(arrivals, |a| a.company_id))
    .bind::<Array<Text>, _>(
        firsts
            .iter()
            .map(|(state, _)| state.as_str())
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Nullable<Text>>, _>(firsts.iter().map(|(_, reason)| *reason).collect::<Vec<_>>())
    .bind::<Array<SqlUuid>, _>(column(arrivals, |a| a.id))
    .bind::<Array<BigInt>, _>(column(arrivals, |a| a.import_id))
    .bind::<Text, _>(PunchesReadyV1::TYPE)
    .bind::<Timestamptz, _>(now)
    .prepared()
    .load(conn)
    .await?;
    Ok(arrived
        .into_iter()
        .map(|a| {
            a.first_time
                .then(|| a.state.and_then(|s| s.parse().ok()).unwrap_or_default())
        })
        .collect())
}

/// A batch that reached a final status (`completed` or `failed`) in a [`refresh`], with its
/// counts then: what `batch.completed` tells.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Settled {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = BigInt)]
    pub company_id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub import_id: Option<i64>,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Integer)]
    pub total_count: i32,
    #[diesel(sql_type = Integer)]
    pub delivered_count: i32,
    #[diesel(sql_type = Integer)]
    pub failed_count: i32,
    #[diesel(sql_type = Integer)]
    pub rejected_count: i32,
    #[diesel(sql_type = Integer)]
    pub cancelled_count: i32,
    /// When it settled: set when its last delivery became final, cleared while any is again on
    /// its way, so each settling has its own.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub completed_at: Option<DateTime<Utc>>,
}

/// Derives the given batches' status from their counts (kept by the `deliveries` triggers, see
/// migrations/sync): `pending` until something was tried, `processing` while anything is still
/// on its way or its messages have not all come (fewer punches received than announced), then
/// `failed` when a punch failed or was rejected, else `completed`. A batch with
/// no deliveries (every punch of its message was known already) is left as it is. Returns the
/// batches whose status became final now (it was another before), so each settling is announced
/// once.
pub async fn refresh(
    conn: &mut Conn,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> QueryResult<Vec<Settled>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids = ids.to_vec();
    ids.sort();
    ids.dedup();
    // Raw: an `UPDATE … FROM` a locking CTE returning the status before, beyond the builder.
    // `previous` locks the batches (in id order) and reads their status as last committed, not as
    // of the statement's start: a writer that changed a batch meanwhile is waited for, so two
    // refreshes never both see the same batch settle. The lock is the one the `deliveries`
    // triggers take (no key update): FOR UPDATE would also wait for the key share lock that an
    // insert of deliveries takes on their batch, while that insert's trigger waits for this
    // transaction's: a deadlock whenever a later ready message of a batch was stored as its first
    // punches were being sent.
    diesel::sql_query(
        "WITH previous AS (SELECT id, status FROM sync.sync_batches WHERE id = ANY($1) \
             ORDER BY id FOR NO KEY UPDATE), \
         derived AS (UPDATE sync.sync_batches b SET \
           status = CASE WHEN b.total_count > b.delivered_count + b.failed_count \
                                + b.rejected_count + b.cancelled_count \
                              OR b.received_count < COALESCE(b.announced_count, 0) THEN \
                      CASE WHEN b.started_count > 0 THEN 'processing' ELSE 'pending' END \
                    WHEN b.failed_count + b.rejected_count > 0 THEN 'failed' ELSE 'completed' END, \
           started_at = COALESCE(b.started_at, CASE WHEN b.started_count > 0 THEN $2 END), \
           completed_at = CASE WHEN b.total_count = b.delivered_count + b.failed_count \
                                + b.rejected_count + b.cancelled_count \
                                AND b.received_count >= COALESCE(b.announced_count, 0) \
                          THEN COALESCE(b.completed_at, $2) END, \
           updated_at = $2 \
         FROM previous WHERE previous.id = b.id AND b.total_count > 0 \
         RETURNING b.id, b.company_id, b.import_id, b.status, b.total_count, b.delivered_count, \
           b.failed_count, b.rejected_count, b.cancelled_count, b.completed_at, \
           previous.status AS was) \
         SELECT id, company_id, import_id, status, total_count, delivered_count, failed_count, \
           rejected_count, cancelled_count, completed_at FROM derived \
         WHERE status IN ('completed', 'failed') AND status <> was",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Timestamptz, _>(now)
    .prepared()
    .load(conn)
    .await
}

pub async fn find(conn: &mut Conn, id: Uuid) -> QueryResult<Option<Batch>> {
    sync_batches::table
        .find(id)
        .select(Batch::as_select())
        .first(conn)
        .await
        .optional()
}

/// Filters of `GET /v1/batches`.
#[derive(Debug, Clone, Default)]
pub struct BatchFilter {
    pub company_ids: Option<Vec<i64>>,
    pub import_id: Option<i64>,
    pub status: Option<String>,
}

/// The batches `filter` selects, for a page and for the total.
fn filtered(filter: &BatchFilter) -> sync_batches::BoxedQuery<'_, Pg> {
    let mut query = sync_batches::table.into_boxed();
    if let Some(company_ids) = &filter.company_ids {
        query = query.filter(sync_batches::company_id.eq_any(company_ids));
    }
    if let Some(import_id) = filter.import_id {
        query = query.filter(sync_batches::import_id.eq(import_id));
    }
    if let Some(status) = &filter.status {
        query = query.filter(sync_batches::status.eq(status));
    }
    query
}

/// One page of batches, newest first, and the total.
pub async fn list(
    conn: &mut Conn,
    filter: &BatchFilter,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<Batch>, i64)> {
    let rows = filtered(filter)
        .order((sync_batches::created_at.desc(), sync_batches::id))
        .offset(offset)
        .limit(limit)
        .select(Batch::as_select())
        .load(conn)
        .await?;
    let total = filtered(filter).count().get_result(conn).await?;
    Ok((rows, total))
}
