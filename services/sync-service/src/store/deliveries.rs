use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use db::Prepared;
use diesel::dsl::{count_star, exists, min, not};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Integer, Nullable, Text, Timestamp, Timestamptz, Uuid as SqlUuid,
};
use diesel_async::RunQueryDsl;
use domain::{
    BayzatEmpId, BayzatRecord, DeliveryState, IdError, LocalPunchTime, PunchId, PunchType,
    PunchTypeError,
};
use uuid::Uuid;

use super::delivery_state::{state_in, states, State};
use super::leases::Fence;
use super::{column, Conn, QueryResult};
use crate::schema::sql_types::DeliveryState as StateColumn;
use crate::schema::{company_sync_state, deliveries, sender_leases};

use DeliveryState::{Pending, RetryWait, Scheduled, Sending};

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
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = deliveries)]
pub struct Changed {
    pub punch_id: i64,
    pub batch_id: Uuid,
    pub state: DeliveryState,
    pub last_error: Option<String>,
}

/// The deliveries one ready message brings to its batch.
#[derive(Debug, Clone, Copy)]
pub struct Arriving<'a> {
    pub batch_id: Uuid,
    pub company_id: i64,
    pub import_id: i64,
    /// The message's punches, each a delivery to store.
    pub rows: &'a [NewDelivery],
    /// The batch's punches over all its messages, when the message says.
    pub announced: Option<i32>,
}

/// Inserts the deliveries of ready messages, and counts each message's punches as received by its
/// batch (which [`batches::arrive`](super::batches::arrive) created), in one statement; punches
/// already known are left alone (a redelivered message, or a punch queued twice). Returns the new
/// ones.
///
/// The batches are written once the punches are in: a batch's sender, sending its former
/// punches meanwhile, waits for its row from then on only, not for the whole insert. Postgres runs
/// a data-modifying `WITH` that the statement does not read after the statement's own rows, and
/// the deliveries' triggers, which move the same batches' counts, after that. Batches are written
/// in id order, as those triggers move them, so two stores wait for each other instead of
/// deadlocking.
pub async fn insert(
    conn: &mut Conn,
    messages: &[Arriving<'_>],
    now: DateTime<Utc>,
) -> QueryResult<Vec<Changed>> {
    let count = messages.iter().map(|m| m.rows.len()).sum();
    let (mut batch_ids, mut company_ids, mut import_ids) = (
        Vec::with_capacity(count),
        Vec::with_capacity(count),
        Vec::with_capacity(count),
    );
    for message in messages {
        let n = message.rows.len();
        batch_ids.extend(std::iter::repeat_n(message.batch_id, n));
        company_ids.extend(std::iter::repeat_n(message.company_id, n));
        import_ids.extend(std::iter::repeat_n(message.import_id, n));
    }
    let rows = || messages.iter().flat_map(|m| m.rows.iter());
    // Raw: bulk insert from `UNNEST` of column arrays (the builder's VALUES binds 11 a row).
    diesel::sql_query(
        "WITH received AS (\
           INSERT INTO sync.sync_batches \
             (id, company_id, import_id, received_count, announced_count, created_at, updated_at) \
           SELECT batch_id, min(company_id), min(import_id), sum(punches), max(announced), $9, $9 \
           FROM UNNEST($11::uuid[], $12::bigint[], $13::bigint[], $14::int[], $15::int[]) \
             AS m(batch_id, company_id, import_id, punches, announced) \
           GROUP BY batch_id ORDER BY batch_id \
           ON CONFLICT (id) DO UPDATE SET \
             received_count = sync_batches.received_count + excluded.received_count, \
             announced_count = GREATEST(sync_batches.announced_count, excluded.announced_count)) \
         INSERT INTO sync.deliveries (punch_id, batch_id, company_id, import_id, emp_id, \
         punch_type, local_time, state, next_attempt_at, created_at, updated_at) \
         SELECT u.punch_id, u.batch_id, u.company_id, u.import_id, u.emp_id, u.punch_type, \
         u.local_time, u.state, u.next_attempt_at, $9, $9 \
         FROM UNNEST($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], \
         $6::text[], $7::timestamp[], $8::text[], $10::timestamptz[]) \
         AS u(batch_id, company_id, import_id, punch_id, emp_id, punch_type, local_time, state, \
         next_attempt_at) \
         ON CONFLICT (punch_id) DO NOTHING \
         RETURNING punch_id, batch_id, state, last_error",
    )
    .bind::<Array<SqlUuid>, _>(batch_ids)
    .bind::<Array<BigInt>, _>(company_ids)
    .bind::<Array<BigInt>, _>(import_ids)
    .bind::<Array<BigInt>, _>(rows().map(|r| r.punch_id).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows().map(|r| r.emp_id.clone()).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows().map(|r| r.punch_type.clone()).collect::<Vec<_>>())
    .bind::<Array<Timestamp>, _>(rows().map(|r| r.local_time).collect::<Vec<_>>())
    .bind::<Array<StateColumn>, _>(rows().map(|r| r.state).collect::<Vec<_>>())
    .bind::<Timestamptz, _>(now)
    .bind::<Array<Nullable<Timestamptz>>, _>(rows().map(|r| r.next_attempt_at).collect::<Vec<_>>())
    .bind::<Array<SqlUuid>, _>(column(messages, |m| m.batch_id))
    .bind::<Array<BigInt>, _>(column(messages, |m| m.company_id))
    .bind::<Array<BigInt>, _>(column(messages, |m| m.import_id))
    .bind::<Array<Integer>, _>(column(messages, |m| {
        i32::try_from(m.rows.len()).unwrap_or(i32::MAX)
    }))
    .bind::<Array<Nullable<Integer>>, _>(column(messages, |m| m.announced))
    .prepared()
    .load(conn)
    .await
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = deliveries)]
struct DueRow {
    punch_id: i64,
    emp_id: String,
    punch_type: String,
    local_time: NaiveDateTime,
    attempts: i32,
}

/// The company's deliveries due at `now`, oldest punch first: pending ones, and retries and
/// scheduled runs whose time has come. A stored row that makes no Bayzat record (a blank empId,
/// an unknown punch type) is logged with its punch id and left as it is, unsent.
pub async fn load_due(
    conn: &mut Conn,
    company_id: i64,
    now: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<delivery::Delivery>> {
    let rows: Vec<DueRow> = deliveries::table
        .filter(deliveries::company_id.eq(company_id))
        .filter(
            state_in(deliveries::state, &[Pending]).or(state_in(
                deliveries::state,
                &[RetryWait, Scheduled],
            )
            .and(deliveries::next_attempt_at.le(now))),
        )
        .order((
            deliveries::local_time,
            deliveries::emp_id,
            deliveries::punch_id,
        ))
        .limit(limit)
        .select(DueRow::as_select())
        .load(conn)
        .await?;
    let mut due = Vec::with_capacity(rows.len());
    for row in rows {
        let punch_id = row.punch_id;
        match to_delivery(row) {
            Ok(delivery) => due.push(delivery),
            Err(reason) => tracing::error!(
                punch_id,
                company_id,
                %reason,
                "stored delivery is no Bayzat record; it stays unsent"
            ),
        }
    }
    Ok(due)
}

/// Why a stored delivery makes no Bayzat record.
#[derive(Debug, thiserror::Error)]
pub enum Unsendable {
    #[error("its empId: {0}")]
    EmpId(#[from] IdError),
    #[error("its punch type: {0}")]
    PunchType(#[from] PunchTypeError),
}

fn to_delivery(row: DueRow) -> Result<delivery::Delivery, Unsendable> {
    let emp_id = BayzatEmpId::new(&row.emp_id)?;
    let punch_type = row.punch_type.parse::<PunchType>()?;
    Ok(delivery::Delivery {
        punch_id: PunchId(row.punch_id),
        record: BayzatRecord {
            emp_id,
            punch_type,
            time: LocalPunchTime::new(row.local_time),
        },
        attempts: u32::try_from(row.attempts).unwrap_or(0),
    })
}

/// The condition every sender write adds: the delivery's company's lease still has the fence's
/// holder and epoch.
#[diesel::dsl::auto_type]
fn fenced<'a>(holder: &'a str, epoch: i64) -> _ {
    exists(
        sender_leases::table
            .filter(sender_leases::company_id.eq(deliveries::company_id))
            .filter(sender_leases::holder.eq(holder))
            .filter(sender_leases::epoch.eq(epoch)),
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
    diesel::update(deliveries::table)
        .filter(deliveries::punch_id.eq_any(punch_ids))
        .filter(deliveries::company_id.eq(fence.company_id))
        .filter(state_in(
            deliveries::state,
            &[Pending, RetryWait, Scheduled],
        ))
        .filter(fenced(&fence.holder, fence.epoch))
        .set((
            deliveries::state.eq(State(Sending)),
            deliveries::updated_at.eq(now),
        ))
        .returning(Changed::as_returning())
        .prepared()
        .get_results(conn)
        .await
}

/// Whether any of the company's deliveries is `sending` (by the `deliveries_due` index).
pub async fn any_sending(conn: &mut Conn, company_id: i64) -> QueryResult<bool> {
    diesel::select(exists(
        deliveries::table
            .filter(deliveries::company_id.eq(company_id))
            .filter(state_in(deliveries::state, &[Sending])),
    ))
    .get_result(conn)
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
    diesel::update(deliveries::table)
        .filter(deliveries::company_id.eq(fence.company_id))
        .filter(deliveries::state.eq_any(states(from)))
        .filter(fenced(&fence.holder, fence.epoch))
        .set((
            deliveries::state.eq(State(to)),
            deliveries::next_attempt_at.eq(None::<DateTime<Utc>>),
            deliveries::updated_at.eq(now),
        ))
        .returning(Changed::as_returning())
        .get_results(conn)
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
    // Raw: per-row states need `UPDATE … FROM UNNEST`, no builder form; EXISTS is `fenced`. Not
    // `prepared`: kept prepared, it ran twice as long a call under `make bench-sync-scale` (5-6 ms
    // against 2.7) as its planning saved (0.3 ms).
    diesel::sql_query(
        "UPDATE sync.deliveries d SET state = u.state, \
           attempts = COALESCE(u.attempts, d.attempts), \
           next_attempt_at = u.next_attempt_at, last_error = u.error, \
           bayzat_request_id = COALESCE($6, d.bayzat_request_id), updated_at = $7, \
           delivered_at = CASE WHEN u.state = 'delivered' THEN $7 ELSE d.delivered_at END \
         FROM UNNEST($1::bigint[], $2::text[], $3::int[], $4::timestamptz[], $5::text[]) \
           AS u(punch_id, state, attempts, next_attempt_at, error) \
         WHERE d.punch_id = u.punch_id AND d.company_id = $8 \
           AND d.state IN ('sending', 'pending', 'retry_wait', 'scheduled') \
           AND EXISTS (SELECT 1 FROM sync.sender_leases l WHERE l.company_id = d.company_id \
             AND l.holder = $9 AND l.epoch = $10) \
         RETURNING d.punch_id, d.batch_id, d.state, d.last_error",
    )
    .bind::<Array<BigInt>, _>(updates.iter().map(|u| u.punch_id).collect::<Vec<_>>())
    .bind::<Array<StateColumn>, _>(updates.iter().map(|u| u.state).collect::<Vec<_>>())
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
    let mut query = diesel::update(deliveries::table).into_boxed();
    if let Some(company_id) = selection.company_id {
        query = query.filter(deliveries::company_id.eq(company_id));
    }
    if let Some(import_id) = selection.import_id {
        query = query.filter(deliveries::import_id.eq(import_id));
    }
    if let Some(batch_id) = selection.batch_id {
        query = query.filter(deliveries::batch_id.eq(batch_id));
    }
    query
        .filter(deliveries::state.eq_any(states(&selection.from)))
        .set((
            deliveries::state.eq(State(to)),
            deliveries::next_attempt_at.eq(next_attempt_at),
            deliveries::updated_at.eq(now),
            reset_attempts.then_some((
                deliveries::attempts.eq(0),
                deliveries::last_error.eq(None::<String>),
            )),
        ))
        .returning(Changed::as_returning())
        .get_results(conn)
        .await
}

/// A delivery as the REST API lists it.
#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize, utoipa::ToSchema)]
#[diesel(table_name = deliveries)]
pub struct DeliveryRow {
    pub punch_id: i64,
    pub batch_id: Uuid,
    pub company_id: i64,
    pub import_id: i64,
    pub emp_id: String,
    #[serde(rename = "type")]
    #[schema(value_type = crate::openapi::PunchKind)]
    pub punch_type: String,
    /// The punch's wall-clock time in the company's time zone, `YYYY-MM-DDTHH:MM:SS` without
    /// offset (not an RFC 3339 date-time): what Bayzat is sent.
    #[schema(value_type = String, pattern = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$", example = "2026-11-02T08:59:00")]
    pub local_time: NaiveDateTime,
    #[schema(value_type = crate::openapi::DeliveryStateName)]
    pub state: DeliveryState,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub bayzat_request_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// Filters of `GET /v1/deliveries`.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    /// Only these companies; `None` for all.
    pub company_ids: Option<Vec<i64>>,
    pub import_id: Option<i64>,
    pub batch_id: Option<Uuid>,
    pub state: Option<DeliveryState>,
    pub emp_id: Option<String>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
}

/// The deliveries `filter` selects, for a page and for the total.
fn filtered(filter: &DeliveryFilter) -> deliveries::BoxedQuery<'_, Pg> {
    let mut query = deliveries::table.into_boxed();
    if let Some(company_ids) = &filter.company_ids {
        query = query.filter(deliveries::company_id.eq_any(company_ids));
    }
    if let Some(import_id) = filter.import_id {
        query = query.filter(deliveries::import_id.eq(import_id));
    }
    if let Some(batch_id) = filter.batch_id {
        query = query.filter(deliveries::batch_id.eq(batch_id));
    }
    if let Some(state) = filter.state {
        query = query.filter(deliveries::state.eq(State(state)));
    }
    if let Some(emp_id) = &filter.emp_id {
        query = query.filter(deliveries::emp_id.eq(emp_id));
    }
    if let Some(from) = filter.from {
        query = query.filter(deliveries::local_time.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(deliveries::local_time.lt(to));
    }
    query
}

/// One page of deliveries (punch time order) and the total.
pub async fn list(
    conn: &mut Conn,
    filter: &DeliveryFilter,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<DeliveryRow>, i64)> {
    let rows = filtered(filter)
        .order((
            deliveries::local_time,
            deliveries::emp_id,
            deliveries::punch_id,
        ))
        .offset(offset)
        .limit(limit)
        .select(DeliveryRow::as_select())
        .load(conn)
        .await?;
    let total = filtered(filter).count().get_result(conn).await?;
    Ok((rows, total))
}

/// The companies the import has deliveries of.
pub async fn companies_of_import(conn: &mut Conn, import_id: i64) -> QueryResult<Vec<i64>> {
    deliveries::table
        .filter(deliveries::import_id.eq(import_id))
        .select(deliveries::company_id)
        .distinct()
        .load(conn)
        .await
}

/// How many of a company's deliveries are in a state.
#[derive(Debug, Clone)]
pub struct StateCount {
    pub company_id: i64,
    /// The state's name, which sync health and the metrics' labels are keyed by; it was read as a
    /// [`DeliveryState`], so it is one.
    pub state: String,
    pub count: i64,
}

/// Deliveries by company and state (`company_id` NULL for every company).
pub async fn counts(conn: &mut Conn, company_id: Option<i64>) -> QueryResult<Vec<StateCount>> {
    let mut query = deliveries::table
        .group_by((deliveries::company_id, deliveries::state))
        .select((deliveries::company_id, deliveries::state, count_star()))
        .into_boxed();
    if let Some(company_id) = company_id {
        query = query.filter(deliveries::company_id.eq(company_id));
    }
    let rows: Vec<(i64, DeliveryState, i64)> = query.load(conn).await?;
    Ok(rows
        .into_iter()
        .map(|(company_id, state, count)| StateCount {
            company_id,
            state: state.as_str().to_owned(),
            count,
        })
        .collect())
}

/// The states in which a delivery still waits to go (for the oldest-waiting figures).
const WAITING_TO_GO: &[DeliveryState] = &[Pending, RetryWait, Sending];

/// When the company's oldest delivery still waiting to go (pending, retry_wait, sending) was
/// queued.
pub async fn oldest_waiting(
    conn: &mut Conn,
    company_id: i64,
) -> QueryResult<Option<DateTime<Utc>>> {
    deliveries::table
        .filter(deliveries::company_id.eq(company_id))
        .filter(state_in(deliveries::state, WAITING_TO_GO))
        .select(min(deliveries::created_at))
        .get_result(conn)
        .await
}

#[derive(Debug, Clone, Queryable)]
pub struct CompanyRow {
    pub company_id: i64,
    /// A scheduled run is among the due work (else only retries or stalled deliveries).
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
    let announced_before = now - TimeDelta::seconds(quiet_seconds);
    let scheduled = exists(
        deliveries::table
            .filter(deliveries::company_id.eq(company_sync_state::company_id))
            .filter(state_in(deliveries::state, &[Scheduled]))
            .filter(deliveries::next_attempt_at.le(now)),
    );
    let lease_alive = exists(
        sender_leases::table
            .filter(sender_leases::company_id.eq(company_sync_state::company_id))
            .filter(sender_leases::expires_at.gt(now)),
    );
    // Two probes of the `deliveries_due` index (company, state, next attempt) per company. As one
    // EXISTS with the states ORed together, Postgres scanned every delivery of every company on
    // each tick: about a second per tick at 30,000 deliveries, the database's largest cost.
    let waited_out = exists(
        deliveries::table
            .filter(deliveries::company_id.eq(company_sync_state::company_id))
            .filter(state_in(deliveries::state, &[RetryWait, Scheduled]))
            .filter(deliveries::next_attempt_at.le(now)),
    );
    let unsent = exists(
        deliveries::table
            .filter(deliveries::company_id.eq(company_sync_state::company_id))
            .filter(state_in(deliveries::state, &[Pending, Sending])),
    );
    let due = waited_out.or(not(lease_alive).and(unsent));
    company_sync_state::table
        .filter(company_sync_state::state.eq("active"))
        .filter(
            company_sync_state::due_published_at
                .is_null()
                .or(company_sync_state::due_published_at.le(announced_before)),
        )
        .filter(due)
        .order(company_sync_state::company_id)
        .select((company_sync_state::company_id, scheduled))
        .for_update()
        .skip_locked()
        .load(conn)
        .await
}

/// [`oldest_waiting`] of every company that has such a delivery.
pub async fn oldest_waiting_by_company(conn: &mut Conn) -> QueryResult<Vec<(i64, DateTime<Utc>)>> {
    let rows: Vec<(i64, Option<DateTime<Utc>>)> = deliveries::table
        .filter(state_in(deliveries::state, WAITING_TO_GO))
        .group_by(deliveries::company_id)
        .select((deliveries::company_id, min(deliveries::created_at)))
        .load(conn)
        .await?;
    // A group has at least one row, so its minimum is never NULL.
    Ok(rows
        .into_iter()
        .filter_map(|(company_id, at)| Some((company_id, at?)))
        .collect())
}

/// The company's deliveries waiting for a later attempt (`retry_wait`): how many, when the
/// first of them is due, and why that one waits.
#[derive(Debug, Clone, Queryable, serde::Serialize, utoipa::ToSchema)]
pub struct Waiting {
    pub deliveries: i64,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

pub async fn waiting(conn: &mut Conn, company_id: i64) -> QueryResult<Option<Waiting>> {
    let first = diesel::alias!(deliveries as first);
    let reason = first
        .filter(first.field(deliveries::company_id).eq(company_id))
        .filter(state_in(first.field(deliveries::state), &[RetryWait]))
        .order((
            first.field(deliveries::next_attempt_at),
            first.field(deliveries::punch_id),
        ))
        .select(first.field(deliveries::last_error))
        .single_value();
    let row: Waiting = deliveries::table
        .filter(deliveries::company_id.eq(company_id))
        .filter(state_in(deliveries::state, &[RetryWait]))
        .select((count_star(), min(deliveries::next_attempt_at), reason))
        .get_result(conn)
        .await?;
    Ok((row.deliveries > 0).then_some(row))
}
