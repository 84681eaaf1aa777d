use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::sql_types::{
    Array, BigInt, Integer, Nullable, Text, Timestamp, Timestamptz, Uuid as SqlUuid,
};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use domain::{BayzatEmpId, BayzatRecord, DeliveryState, LocalPunchTime, PunchId, PunchType};
use uuid::Uuid;

use super::leases::Fence;
use super::{names, Conn, QueryResult};

/// A punch to store as a delivery.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub punch_id: i64,
    pub emp_id: String,
    pub punch_type: String,
    pub local_time: NaiveDateTime,
    pub state: DeliveryState,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// A delivery whose state changed: what `punches.status.v1` and the batch counts need.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct Changed {
    #[diesel(sql_type = BigInt)]
    pub punch_id: i64,
    #[diesel(sql_type = SqlUuid)]
    pub batch_id: Uuid,
    #[diesel(sql_type = Text)]
    pub state: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
}

/// Inserts the deliveries of one ready message; punches already known are left alone (a
/// redelivered message, or a punch queued twice). Returns the new ones.
pub async fn insert(
    conn: &mut Conn,
    batch_id: Uuid,
    company_id: i64,
    import_id: i64,
    rows: &[NewDelivery],
    now: DateTime<Utc>,
) -> QueryResult<Vec<Changed>> {
    diesel::sql_query(
        "INSERT INTO sync.deliveries (punch_id, batch_id, company_id, import_id, emp_id, \
         punch_type, local_time, state, next_attempt_at, created_at, updated_at) \
         SELECT u.punch_id, $1, $2, $3, u.emp_id, u.punch_type, u.local_time, u.state, \
         u.next_attempt_at, $9, $9 \
         FROM UNNEST($4::bigint[], $5::text[], $6::text[], $7::timestamp[], $8::text[], \
         $10::timestamptz[]) AS u(punch_id, emp_id, punch_type, local_time, state, next_attempt_at) \
         ON CONFLICT (punch_id) DO NOTHING \
         RETURNING punch_id, batch_id, state, last_error",
    )
    .bind::<SqlUuid, _>(batch_id)
    .bind::<BigInt, _>(company_id)
    .bind::<BigInt, _>(import_id)
    .bind::<Array<BigInt>, _>(rows.iter().map(|r| r.punch_id).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|r| r.emp_id.clone()).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|r| r.punch_type.clone()).collect::<Vec<_>>())
    .bind::<Array<Timestamp>, _>(rows.iter().map(|r| r.local_time).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(
        rows.iter()
            .map(|r| r.state.as_str().to_owned())
            .collect::<Vec<_>>(),
    )
    .bind::<Timestamptz, _>(now)
    .bind::<Array<Nullable<Timestamptz>>, _>(
        rows.iter().map(|r| r.next_attempt_at).collect::<Vec<_>>(),
    )
    .load(conn)
    .await
}

#[derive(QueryableByName)]
struct DueRow {
    #[diesel(sql_type = BigInt)]
    punch_id: i64,
    #[diesel(sql_type = Text)]
    emp_id: String,
    #[diesel(sql_type = Text)]
    punch_type: String,
    #[diesel(sql_type = Timestamp)]
    local_time: NaiveDateTime,
    #[diesel(sql_type = Integer)]
    attempts: i32,
}

/// The company's deliveries due at `now`, oldest punch first: pending ones, and retries and
/// scheduled runs whose time has come.
pub async fn load_due(
    conn: &mut Conn,
    company_id: i64,
    now: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<delivery::Delivery>> {
    let rows: Vec<DueRow> = diesel::sql_query(
        "SELECT punch_id, emp_id, punch_type, local_time, attempts FROM sync.deliveries \
         WHERE company_id = $1 AND (state = 'pending' \
            OR (state IN ('retry_wait', 'scheduled') AND next_attempt_at <= $2)) \
         ORDER BY local_time, emp_id, punch_id LIMIT $3",
    )
    .bind::<BigInt, _>(company_id)
    .bind::<Timestamptz, _>(now)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    Ok(rows.into_iter().filter_map(to_delivery).collect())
}

fn to_delivery(row: DueRow) -> Option<delivery::Delivery> {
    let emp_id = BayzatEmpId::new(&row.emp_id).ok()?;
    let punch_type: PunchType = row.punch_type.parse().ok()?;
    Some(delivery::Delivery {
        punch_id: PunchId(row.punch_id),
        record: BayzatRecord {
            emp_id,
            punch_type,
            time: LocalPunchTime::new(row.local_time),
        },
        attempts: u32::try_from(row.attempts).unwrap_or(0),
    })
}

/// The condition every sender write adds: the company's lease still has the fence's holder and
/// epoch (`$h`, `$e`; `d` is the delivery).
const FENCED: &str =
    "EXISTS (SELECT 1 FROM sync.sender_leases l WHERE l.company_id = d.company_id \
     AND l.holder = $h AND l.epoch = $e)";

fn fenced(sql: &str, holder: usize, epoch: usize) -> String {
    sql.replace(
        "{FENCED}",
        &FENCED
            .replace("$h", &format!("${holder}"))
            .replace("$e", &format!("${epoch}")),
    )
}

/// Marks the given deliveries of the fence's company `sending` when they are still due (not
/// cancelled meanwhile) and the fence still holds the lease.
pub async fn mark_sending(
    conn: &mut Conn,
    fence: &Fence,
    punch_ids: &[i64],
    now: DateTime<Utc>,
) -> QueryResult<Vec<Changed>> {
    diesel::sql_query(fenced(
        "UPDATE sync.deliveries d SET state = 'sending', updated_at = $2 \
         WHERE d.punch_id = ANY($1) AND d.company_id = $3 \
           AND d.state IN ('pending', 'retry_wait', 'scheduled') AND {FENCED} \
         RETURNING d.punch_id, d.batch_id, d.state, d.last_error",
        4,
        5,
    ))
    .bind::<Array<BigInt>, _>(punch_ids)
    .bind::<Timestamptz, _>(now)
    .bind::<BigInt, _>(fence.company_id)
    .bind::<Text, _>(&fence.holder)
    .bind::<BigInt, _>(fence.epoch)
    .load(conn)
    .await
}

/// Moves the fence's company's deliveries in one of `from` to `to` (`next_attempt_at`
/// cleared), while the fence holds the lease: the sender's own bulk moves (resending what was
/// left `sending`, pausing on a refused key).
pub async fn move_fenced(
    conn: &mut Conn,
    fence: &Fence,
    from: &[DeliveryState],
    to: DeliveryState,
    now: DateTime<Utc>,
) -> QueryResult<Vec<Changed>> {
    diesel::sql_query(fenced(
        "UPDATE sync.deliveries d SET state = $2, next_attempt_at = NULL, updated_at = $3 \
         WHERE d.company_id = $1 AND d.state = ANY($4) AND {FENCED} \
         RETURNING d.punch_id, d.batch_id, d.state, d.last_error",
        5,
        6,
    ))
    .bind::<BigInt, _>(fence.company_id)
    .bind::<Text, _>(to.as_str())
    .bind::<Timestamptz, _>(now)
    .bind::<Array<Text>, _>(names(from))
    .bind::<Text, _>(&fence.holder)
    .bind::<BigInt, _>(fence.epoch)
    .load(conn)
    .await
}

/// One delivery's new state after Bayzat's answer.
#[derive(Debug, Clone)]
pub struct Update {
    pub punch_id: i64,
    pub state: DeliveryState,
    pub attempts: Option<i32>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

/// Applies the answer's transitions (or rejections without sending) to deliveries of the
/// fence's company in one statement, while the fence holds the lease.
pub async fn apply(
    conn: &mut Conn,
    fence: &Fence,
    updates: &[Update],
    request_id: Option<i64>,
    now: DateTime<Utc>,
) -> QueryResult<Vec<Changed>> {
    if updates.is_empty() {
        return Ok(Vec::new());
    }
    diesel::sql_query(fenced(
        "UPDATE sync.deliveries d SET state = u.state, \
           attempts = COALESCE(u.attempts, d.attempts), \
           next_attempt_at = u.next_attempt_at, last_error = u.error, \
           bayzat_request_id = COALESCE($6, d.bayzat_request_id), updated_at = $7, \
           delivered_at = CASE WHEN u.state = 'delivered' THEN $7 ELSE d.delivered_at END \
         FROM UNNEST($1::bigint[], $2::text[], $3::int[], $4::timestamptz[], $5::text[]) \
           AS u(punch_id, state, attempts, next_attempt_at, error) \
         WHERE d.punch_id = u.punch_id AND d.company_id = $8 \
           AND d.state IN ('sending', 'pending', 'retry_wait', 'scheduled') AND {FENCED} \
         RETURNING d.punch_id, d.batch_id, d.state, d.last_error",
        9,
        10,
    ))
    .bind::<Array<BigInt>, _>(updates.iter().map(|u| u.punch_id).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(
        updates
            .iter()
            .map(|u| u.state.as_str().to_owned())
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Nullable<Integer>>, _>(updates.iter().map(|u| u.attempts).collect::<Vec<_>>())
    .bind::<Array<Nullable<Timestamptz>>, _>(
        updates
            .iter()
            .map(|u| u.next_attempt_at)
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Nullable<Text>>, _>(updates.iter().map(|u| u.error.clone()).collect::<Vec<_>>())
    .bind::<Nullable<BigInt>, _>(request_id)
    .bind::<Timestamptz, _>(now)
    .bind::<BigInt, _>(fence.company_id)
    .bind::<Text, _>(&fence.holder)
    .bind::<BigInt, _>(fence.epoch)
    .load(conn)
    .await
}

/// Which deliveries a bulk transition applies to.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub company_id: Option<i64>,
    pub import_id: Option<i64>,
    pub batch_id: Option<Uuid>,
    pub from: Vec<DeliveryState>,
}

/// Moves every selected delivery to `to`. `reset_attempts` is an operator's retry: the schedule
/// starts over. `next_attempt_at` is set for `scheduled`, cleared otherwise.
pub async fn transition(
    conn: &mut Conn,
    selection: &Selection,
    to: DeliveryState,
    next_attempt_at: Option<DateTime<Utc>>,
    reset_attempts: bool,
    now: DateTime<Utc>,
) -> QueryResult<Vec<Changed>> {
    diesel::sql_query(
        "UPDATE sync.deliveries SET state = $4, next_attempt_at = $5, updated_at = $6, \
           attempts = CASE WHEN $7 THEN 0 ELSE attempts END, \
           last_error = CASE WHEN $7 THEN NULL ELSE last_error END \
         WHERE ($1::bigint IS NULL OR company_id = $1) \
           AND ($2::bigint IS NULL OR import_id = $2) \
           AND ($3::uuid IS NULL OR batch_id = $3) \
           AND state = ANY($8) \
         RETURNING punch_id, batch_id, state, last_error",
    )
    .bind::<Nullable<BigInt>, _>(selection.company_id)
    .bind::<Nullable<BigInt>, _>(selection.import_id)
    .bind::<Nullable<SqlUuid>, _>(selection.batch_id)
    .bind::<Text, _>(to.as_str())
    .bind::<Nullable<Timestamptz>, _>(next_attempt_at)
    .bind::<Timestamptz, _>(now)
    .bind::<diesel::sql_types::Bool, _>(reset_attempts)
    .bind::<Array<Text>, _>(names(&selection.from))
    .load(conn)
    .await
}

/// A delivery as the REST API lists it.
#[derive(Debug, Clone, QueryableByName, serde::Serialize, utoipa::ToSchema)]
pub struct DeliveryRow {
    #[diesel(sql_type = BigInt)]
    pub punch_id: i64,
    #[diesel(sql_type = SqlUuid)]
    pub batch_id: Uuid,
    #[diesel(sql_type = BigInt)]
    pub company_id: i64,
    #[diesel(sql_type = BigInt)]
    pub import_id: i64,
    #[diesel(sql_type = Text)]
    pub emp_id: String,
    #[diesel(sql_type = Text)]
    #[serde(rename = "type")]
    #[schema(value_type = crate::openapi::PunchKind)]
    pub punch_type: String,
    /// The punch's wall-clock time in the company's time zone, `YYYY-MM-DDTHH:MM:SS` without
    /// offset (not an RFC 3339 date-time): what Bayzat is sent.
    #[diesel(sql_type = Timestamp)]
    #[schema(value_type = String, pattern = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$", example = "2026-11-02T08:59:00")]
    pub local_time: NaiveDateTime,
    #[diesel(sql_type = Text)]
    #[schema(value_type = crate::openapi::DeliveryStateName)]
    pub state: String,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub bayzat_request_id: Option<i64>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub updated_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub delivered_at: Option<DateTime<Utc>>,
}

/// Filters of `GET /v1/deliveries`.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    /// Only these companies; `None` for all.
    pub company_ids: Option<Vec<i64>>,
    pub import_id: Option<i64>,
    pub batch_id: Option<Uuid>,
    pub state: Option<String>,
    pub emp_id: Option<String>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

const DELIVERY_FILTER: &str = "($1::bigint[] IS NULL OR company_id = ANY($1)) \
    AND ($2::bigint IS NULL OR import_id = $2) AND ($3::uuid IS NULL OR batch_id = $3) \
    AND ($4::text IS NULL OR state = $4) AND ($5::text IS NULL OR emp_id = $5) \
    AND ($6::timestamp IS NULL OR local_time >= $6) AND ($7::timestamp IS NULL OR local_time < $7)";

/// One page of deliveries (punch time order) and the total.
pub async fn list(
    conn: &mut Conn,
    filter: &DeliveryFilter,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<DeliveryRow>, i64)> {
    macro_rules! bound {
        ($query:expr) => {
            $query
                .bind::<Nullable<Array<BigInt>>, _>(filter.company_ids.clone())
                .bind::<Nullable<BigInt>, _>(filter.import_id)
                .bind::<Nullable<SqlUuid>, _>(filter.batch_id)
                .bind::<Nullable<Text>, _>(filter.state.clone())
                .bind::<Nullable<Text>, _>(filter.emp_id.clone())
                .bind::<Nullable<Timestamp>, _>(filter.from)
                .bind::<Nullable<Timestamp>, _>(filter.to)
        };
    }
    let rows: Vec<DeliveryRow> = bound!(diesel::sql_query(format!(
        "SELECT punch_id, batch_id, company_id, import_id, emp_id, punch_type, local_time, state, \
         attempts, next_attempt_at, last_error, bayzat_request_id, created_at, updated_at, \
         delivered_at FROM sync.deliveries WHERE {DELIVERY_FILTER} \
         ORDER BY local_time, emp_id, punch_id OFFSET $8 LIMIT $9"
    )))
    .bind::<BigInt, _>(offset)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    let total: Count = bound!(diesel::sql_query(format!(
        "SELECT count(*) AS count FROM sync.deliveries WHERE {DELIVERY_FILTER}"
    )))
    .get_result(conn)
    .await?;
    Ok((rows, total.count))
}

#[derive(Debug, Clone, QueryableByName)]
pub struct StateCount {
    #[diesel(sql_type = BigInt)]
    pub company_id: i64,
    #[diesel(sql_type = Text)]
    pub state: String,
    #[diesel(sql_type = BigInt)]
    pub count: i64,
}

/// Deliveries by company and state (`company_id` NULL for every company).
pub async fn counts(conn: &mut Conn, company_id: Option<i64>) -> QueryResult<Vec<StateCount>> {
    diesel::sql_query(
        "SELECT company_id, state, count(*) AS count FROM sync.deliveries \
         WHERE $1::bigint IS NULL OR company_id = $1 GROUP BY company_id, state",
    )
    .bind::<Nullable<BigInt>, _>(company_id)
    .load(conn)
    .await
}

#[derive(QueryableByName)]
struct Oldest {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    at: Option<DateTime<Utc>>,
}

/// When the company's oldest delivery still waiting to go (pending, retry_wait, sending) was
/// queued.
pub async fn oldest_waiting(
    conn: &mut Conn,
    company_id: i64,
) -> QueryResult<Option<DateTime<Utc>>> {
    let row: Oldest = diesel::sql_query(
        "SELECT min(created_at) AS at FROM sync.deliveries WHERE company_id = $1 \
         AND state IN ('pending', 'retry_wait', 'sending')",
    )
    .bind::<BigInt, _>(company_id)
    .get_result(conn)
    .await?;
    Ok(row.at)
}

#[derive(Debug, Clone, QueryableByName)]
pub struct CompanyRow {
    #[diesel(sql_type = BigInt)]
    pub company_id: i64,
    /// A scheduled run is among the due work (else only retries or stalled deliveries).
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub scheduled: bool,
}

/// Companies whose deliveries are due but nobody works on: retries and scheduled runs whose
/// time has come, and pending or sending deliveries of a company whose sender lease has lapsed
/// (its replica died or lost its queue). Locks their state rows, skipping those another replica
/// has locked, and only those not announced in the last `quiet` seconds.
pub async fn companies_due(
    conn: &mut Conn,
    now: DateTime<Utc>,
    quiet_seconds: i64,
) -> QueryResult<Vec<CompanyRow>> {
    diesel::sql_query(
        "SELECT s.company_id, EXISTS (SELECT 1 FROM sync.deliveries d \
           WHERE d.company_id = s.company_id AND d.state = 'scheduled' \
             AND d.next_attempt_at <= $1) AS scheduled \
         FROM sync.company_sync_state s \
         WHERE s.state = 'active' \
           AND (s.due_published_at IS NULL \
                OR s.due_published_at <= $1 - make_interval(secs => $2)) \
           AND EXISTS (SELECT 1 FROM sync.deliveries d WHERE d.company_id = s.company_id AND ( \
                (d.state IN ('retry_wait', 'scheduled') AND d.next_attempt_at <= $1) \
                OR (d.state IN ('pending', 'sending') AND NOT EXISTS ( \
                    SELECT 1 FROM sync.sender_leases l \
                    WHERE l.company_id = s.company_id AND l.expires_at > $1)))) \
         ORDER BY s.company_id FOR UPDATE OF s SKIP LOCKED",
    )
    .bind::<Timestamptz, _>(now)
    .bind::<diesel::sql_types::Double, _>(quiet_seconds as f64)
    .load(conn)
    .await
}

#[derive(QueryableByName)]
struct OldestOf {
    #[diesel(sql_type = BigInt)]
    company_id: i64,
    #[diesel(sql_type = Timestamptz)]
    at: DateTime<Utc>,
}

/// [`oldest_waiting`] of every company that has such a delivery.
pub async fn oldest_waiting_by_company(conn: &mut Conn) -> QueryResult<Vec<(i64, DateTime<Utc>)>> {
    let rows: Vec<OldestOf> = diesel::sql_query(
        "SELECT company_id, min(created_at) AS at FROM sync.deliveries \
         WHERE state IN ('pending', 'retry_wait', 'sending') GROUP BY company_id",
    )
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.company_id, r.at)).collect())
}

/// The company's deliveries waiting for a later attempt (`retry_wait`): how many, when the
/// first of them is due, and why that one waits.
#[derive(Debug, Clone, QueryableByName, serde::Serialize, utoipa::ToSchema)]
pub struct Waiting {
    #[diesel(sql_type = BigInt)]
    pub deliveries: i64,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    pub reason: Option<String>,
}

pub async fn waiting(conn: &mut Conn, company_id: i64) -> QueryResult<Option<Waiting>> {
    let row: Waiting = diesel::sql_query(
        "SELECT count(*) AS deliveries, min(next_attempt_at) AS next_attempt_at, \
           (SELECT last_error FROM sync.deliveries f WHERE f.company_id = $1 \
              AND f.state = 'retry_wait' ORDER BY f.next_attempt_at, f.punch_id LIMIT 1) AS reason \
         FROM sync.deliveries WHERE company_id = $1 AND state = 'retry_wait'",
    )
    .bind::<BigInt, _>(company_id)
    .get_result(conn)
    .await?;
    Ok((row.deliveries > 0).then_some(row))
}
