use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::{Conn, QueryResult};

/// A batch: one company's punches of one ready message set (the original design's
/// `bayzat_sync_batches`).
#[derive(Debug, Clone, QueryableByName, serde::Serialize, utoipa::ToSchema)]
pub struct Batch {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = BigInt)]
    pub company_id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub import_id: Option<i64>,
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
    /// pending, processing, completed or failed.
    #[diesel(sql_type = Text)]
    #[schema(value_type = crate::openapi::BatchStatus)]
    pub status: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub error_message: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub started_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub completed_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Timestamptz)]
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, company_id, import_id, total_count, delivered_count, failed_count, \
    rejected_count, cancelled_count, status, error_message, created_at, started_at, completed_at, \
    updated_at";

/// Creates the batch of a ready message; a later message of the same batch finds it.
pub async fn ensure(
    conn: &mut Conn,
    id: Uuid,
    company_id: i64,
    import_id: i64,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO sync.sync_batches (id, company_id, import_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $4) ON CONFLICT (id) DO NOTHING",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<BigInt, _>(company_id)
    .bind::<BigInt, _>(import_id)
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await
    .map(drop)
}

/// Recounts the given batches from their deliveries and derives their status: `pending` until
/// something was tried, `processing` while anything is still on its way, then `failed` when a
/// punch failed or was rejected, else `completed`.
pub async fn refresh(conn: &mut Conn, ids: &[Uuid], now: DateTime<Utc>) -> QueryResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut ids = ids.to_vec();
    ids.sort();
    ids.dedup();
    diesel::sql_query(
        "UPDATE sync.sync_batches b SET total_count = c.total, delivered_count = c.delivered, \
           failed_count = c.failed, rejected_count = c.rejected, cancelled_count = c.cancelled, \
           status = CASE WHEN c.active > 0 THEN \
                      CASE WHEN c.started > 0 THEN 'processing' ELSE 'pending' END \
                    WHEN c.failed + c.rejected > 0 THEN 'failed' ELSE 'completed' END, \
           started_at = COALESCE(b.started_at, CASE WHEN c.started > 0 THEN $2 END), \
           completed_at = CASE WHEN c.active = 0 THEN COALESCE(b.completed_at, $2) END, \
           error_message = c.error, updated_at = $2 \
         FROM (SELECT batch_id, count(*)::int AS total, \
                 count(*) FILTER (WHERE state = 'delivered')::int AS delivered, \
                 count(*) FILTER (WHERE state = 'failed')::int AS failed, \
                 count(*) FILTER (WHERE state = 'rejected')::int AS rejected, \
                 count(*) FILTER (WHERE state = 'cancelled')::int AS cancelled, \
                 count(*) FILTER (WHERE state IN ('pending', 'scheduled', 'held', 'paused', \
                    'sending', 'retry_wait')) AS active, \
                 count(*) FILTER (WHERE state NOT IN ('pending', 'scheduled', 'held', 'paused') \
                    OR attempts > 0) AS started, \
                 max(last_error) FILTER (WHERE state IN ('failed', 'rejected')) AS error \
               FROM sync.deliveries WHERE batch_id = ANY($1) GROUP BY batch_id) c \
         WHERE b.id = c.batch_id",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await
    .map(drop)
}

pub async fn find(conn: &mut Conn, id: Uuid) -> QueryResult<Option<Batch>> {
    let mut rows: Vec<Batch> = diesel::sql_query(format!(
        "SELECT {COLUMNS} FROM sync.sync_batches WHERE id = $1"
    ))
    .bind::<SqlUuid, _>(id)
    .load(conn)
    .await?;
    Ok(rows.pop())
}

/// Filters of `GET /v1/batches`.
#[derive(Debug, Clone, Default)]
pub struct BatchFilter {
    pub company_ids: Option<Vec<i64>>,
    pub import_id: Option<i64>,
    pub status: Option<String>,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

const FILTER: &str = "($1::bigint[] IS NULL OR company_id = ANY($1)) \
    AND ($2::bigint IS NULL OR import_id = $2) AND ($3::text IS NULL OR status = $3)";

/// One page of batches, newest first, and the total.
pub async fn list(
    conn: &mut Conn,
    filter: &BatchFilter,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<Batch>, i64)> {
    let rows: Vec<Batch> = diesel::sql_query(format!(
        "SELECT {COLUMNS} FROM sync.sync_batches WHERE {FILTER} \
         ORDER BY created_at DESC, id OFFSET $4 LIMIT $5"
    ))
    .bind::<Nullable<Array<BigInt>>, _>(filter.company_ids.clone())
    .bind::<Nullable<BigInt>, _>(filter.import_id)
    .bind::<Nullable<Text>, _>(filter.status.clone())
    .bind::<BigInt, _>(offset)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    let total: Count = diesel::sql_query(format!(
        "SELECT count(*) AS count FROM sync.sync_batches WHERE {FILTER}"
    ))
    .bind::<Nullable<Array<BigInt>>, _>(filter.company_ids.clone())
    .bind::<Nullable<BigInt>, _>(filter.import_id)
    .bind::<Nullable<Text>, _>(filter.status.clone())
    .get_result(conn)
    .await?;
    Ok((rows, total.count))
}
