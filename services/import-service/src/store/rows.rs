use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Date, Integer, Jsonb, Nullable, Text};
use diesel_async::RunQueryDsl;

use super::{Conn, QueryResult};

/// One row to store.
#[derive(Debug, Clone)]
pub struct NewRow {
    pub line: i32,
    pub raw: serde_json::Value,
    pub outcome: &'static str,
    pub errors: serde_json::Value,
    pub warnings: serde_json::Value,
    pub department: String,
    pub company_id: Option<i64>,
    pub employee_id: Option<String>,
    pub bayzat_emp_id: Option<String>,
    pub work_date: Option<NaiveDate>,
    pub punches: serde_json::Value,
    pub punch_ids: Vec<i64>,
    pub known_punch_ids: Vec<i64>,
    pub queued: bool,
}

/// A Postgres array literal, so a list per row travels in one text[] parameter (UNNEST flattens
/// two-dimensional arrays).
fn array_literal(ids: &[i64]) -> String {
    let items: Vec<String> = ids.iter().map(i64::to_string).collect();
    format!("{{{}}}", items.join(","))
}

/// Stores a batch of rows of one import in one statement.
pub async fn insert_batch(conn: &mut Conn, import_id: i64, rows: &[NewRow]) -> QueryResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    diesel::sql_query(
        "INSERT INTO import.import_rows (import_id, line, raw, outcome, errors, warnings, department, \
           company_id, employee_id, bayzat_emp_id, work_date, punches, punch_ids, known_punch_ids, queued) \
         SELECT $1, r.line, r.raw, r.outcome, r.errors, r.warnings, r.department, r.company_id, r.employee_id, \
           r.bayzat_emp_id, r.work_date, r.punches, r.punch_ids::bigint[], r.known_punch_ids::bigint[], r.queued \
         FROM UNNEST($2::int[], $3::jsonb[], $4::text[], $5::jsonb[], $6::jsonb[], $7::text[], $8::bigint[], \
           $9::text[], $10::text[], $11::date[], $12::jsonb[], $13::text[], $14::text[], $15::bool[]) \
           AS r(line, raw, outcome, errors, warnings, department, company_id, employee_id, bayzat_emp_id, \
                work_date, punches, punch_ids, known_punch_ids, queued)",
    )
    .bind::<BigInt, _>(import_id)
    .bind::<Array<Integer>, _>(rows.iter().map(|r| r.line).collect::<Vec<_>>())
    .bind::<Array<Jsonb>, _>(rows.iter().map(|r| r.raw.clone()).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|r| r.outcome).collect::<Vec<_>>())
    .bind::<Array<Jsonb>, _>(rows.iter().map(|r| r.errors.clone()).collect::<Vec<_>>())
    .bind::<Array<Jsonb>, _>(rows.iter().map(|r| r.warnings.clone()).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|r| r.department.clone()).collect::<Vec<_>>())
    .bind::<Array<Nullable<BigInt>>, _>(rows.iter().map(|r| r.company_id).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(rows.iter().map(|r| r.employee_id.clone()).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(rows.iter().map(|r| r.bayzat_emp_id.clone()).collect::<Vec<_>>())
    .bind::<Array<Nullable<Date>>, _>(rows.iter().map(|r| r.work_date).collect::<Vec<_>>())
    .bind::<Array<Jsonb>, _>(rows.iter().map(|r| r.punches.clone()).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|r| array_literal(&r.punch_ids)).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|r| array_literal(&r.known_punch_ids)).collect::<Vec<_>>())
    .bind::<Array<Bool>, _>(rows.iter().map(|r| r.queued).collect::<Vec<_>>())
    .execute(conn)
    .await
    .map(drop)
}

/// A stored row, with the delivery state of its punches worked out from their states.
#[derive(Debug, Clone, QueryableByName, serde::Serialize)]
pub struct StoredRow {
    #[diesel(sql_type = Integer)]
    pub line: i32,
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub raw: Option<serde_json::Value>,
    #[diesel(sql_type = Text)]
    pub outcome: String,
    #[diesel(sql_type = Jsonb)]
    pub errors: serde_json::Value,
    #[diesel(sql_type = Jsonb)]
    pub warnings: serde_json::Value,
    #[diesel(sql_type = Text)]
    pub department: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub company_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub employee_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub bayzat_emp_id: Option<String>,
    #[diesel(sql_type = Nullable<Date>)]
    pub work_date: Option<NaiveDate>,
    #[diesel(sql_type = Jsonb)]
    pub punches: serde_json::Value,
    #[diesel(sql_type = Bool)]
    pub queued: bool,
    #[diesel(sql_type = Integer)]
    pub duplicate_punches: i32,
    /// failed, syncing, pending, synced or skipped; null for a row with nothing queued yet.
    #[diesel(sql_type = Nullable<Text>)]
    pub delivery_state: Option<String>,
    /// The punches' states, e.g. "retry_wait", "paused: …": what `pending` stands for.
    #[diesel(sql_type = Nullable<Text>)]
    pub delivery_detail: Option<String>,
}

/// Filters of an import's rows.
#[derive(Debug, Clone, Default)]
pub struct RowFilter {
    pub outcome: Option<String>,
    pub error_code: Option<String>,
    pub company_id: Option<i64>,
    pub employee_id: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub delivery_state: Option<String>,
}

/// The row-level delivery state of DESIGN.md §2, worst first, from the punches' states. A row
/// whose punches all belong to earlier imports is skipped; a valid row not queued has none.
const ROWS_WITH_STATE: &str = "
    WITH rows AS (
      SELECT r.*,
        cardinality(r.known_punch_ids) AS duplicate_punches,
        d.detail,
        CASE
          WHEN r.outcome <> 'valid' THEN NULL
          WHEN cardinality(r.punch_ids) = 0 THEN 'skipped'
          WHEN NOT r.queued THEN NULL
          WHEN d.states && ARRAY['failed', 'rejected'] THEN 'failed'
          WHEN d.states && ARRAY['sending'] THEN 'syncing'
          WHEN d.states && ARRAY['new', 'queued', 'pending', 'scheduled', 'held', 'paused', 'retry_wait'] THEN 'pending'
          WHEN d.states <@ ARRAY['cancelled'] THEN 'skipped'
          ELSE 'synced'
        END AS delivery_state
      FROM import.import_rows r
      LEFT JOIN LATERAL (
        SELECT array_agg(DISTINCT p.state) AS states,
               string_agg(DISTINCT p.state || COALESCE(': ' || p.error, ''), '; ') AS detail
        FROM import.punches p WHERE p.id = ANY(r.punch_ids)
      ) d ON true
      WHERE r.import_id = $1
    )
    SELECT line, raw, outcome, errors, warnings, department, company_id, employee_id, bayzat_emp_id,
      work_date, punches, queued, duplicate_punches::int AS duplicate_punches, delivery_state,
      CASE WHEN delivery_state IN ('pending', 'failed') THEN detail END AS delivery_detail
    FROM rows
    WHERE ($2::text IS NULL OR outcome = $2)
      AND ($3::text IS NULL OR errors @> jsonb_build_array(jsonb_build_object('code', $3::text)))
      AND ($4::bigint IS NULL OR company_id = $4)
      AND ($5::text IS NULL OR employee_id = $5)
      AND ($6::date IS NULL OR work_date >= $6)
      AND ($7::date IS NULL OR work_date <= $7)
      AND ($8::text IS NULL OR delivery_state = $8)";

/// A page of an import's rows in line order, with the total that match.
pub async fn page(
    conn: &mut Conn,
    import_id: i64,
    filter: &RowFilter,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<StoredRow>, i64)> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        count: i64,
    }
    macro_rules! filtered {
        ($sql:expr) => {
            diesel::sql_query($sql)
                .bind::<BigInt, _>(import_id)
                .bind::<Nullable<Text>, _>(filter.outcome.clone())
                .bind::<Nullable<Text>, _>(filter.error_code.clone())
                .bind::<Nullable<BigInt>, _>(filter.company_id)
                .bind::<Nullable<Text>, _>(filter.employee_id.clone())
                .bind::<Nullable<Date>, _>(filter.from)
                .bind::<Nullable<Date>, _>(filter.to)
                .bind::<Nullable<Text>, _>(filter.delivery_state.clone())
        };
    }
    let total: Count = filtered!(format!(
        "SELECT count(*) AS count FROM ({ROWS_WITH_STATE}) counted"
    ))
    .get_result(conn)
    .await?;
    let items = filtered!(format!(
        "{ROWS_WITH_STATE} ORDER BY line OFFSET $9 LIMIT $10"
    ))
    .bind::<BigInt, _>(offset)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await?;
    Ok((items, total.count))
}

/// Rows not queued yet: invalid rows, and valid rows held back by strict or hold.
#[derive(Debug, Clone, QueryableByName)]
pub struct UnqueuedRow {
    #[diesel(sql_type = Integer)]
    pub line: i32,
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub raw: Option<serde_json::Value>,
    #[diesel(sql_type = Text)]
    pub outcome: String,
}

pub async fn unqueued(conn: &mut Conn, import_id: i64) -> QueryResult<Vec<UnqueuedRow>> {
    diesel::sql_query(
        "SELECT line, raw, outcome FROM import.import_rows \
         WHERE import_id = $1 AND NOT queued AND outcome <> 'skipped' ORDER BY line",
    )
    .bind::<BigInt, _>(import_id)
    .load(conn)
    .await
}

/// Replaces rows of an import (after reprocessing) in one statement each way.
pub async fn replace(conn: &mut Conn, import_id: i64, rows: &[NewRow]) -> QueryResult<()> {
    diesel::sql_query("DELETE FROM import.import_rows WHERE import_id = $1 AND line = ANY($2)")
        .bind::<BigInt, _>(import_id)
        .bind::<Array<Integer>, _>(rows.iter().map(|r| r.line).collect::<Vec<_>>())
        .execute(conn)
        .await?;
    insert_batch(conn, import_id, rows).await
}

/// Marks every valid row of these companies queued.
pub async fn mark_queued(
    conn: &mut Conn,
    import_id: i64,
    company_ids: &[i64],
) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE import.import_rows SET queued = true \
         WHERE import_id = $1 AND outcome = 'valid' AND NOT queued AND company_id = ANY($2)",
    )
    .bind::<BigInt, _>(import_id)
    .bind::<Array<BigInt>, _>(company_ids)
    .execute(conn)
    .await
}

/// Counts of an import's rows by outcome: (valid, invalid, skipped).
pub async fn outcome_counts(conn: &mut Conn, import_id: i64) -> QueryResult<(i64, i64, i64)> {
    #[derive(QueryableByName)]
    struct Counts {
        #[diesel(sql_type = BigInt)]
        valid: i64,
        #[diesel(sql_type = BigInt)]
        invalid: i64,
        #[diesel(sql_type = BigInt)]
        skipped: i64,
    }
    let counts: Counts = diesel::sql_query(
        "SELECT count(*) FILTER (WHERE outcome = 'valid') AS valid, \
                count(*) FILTER (WHERE outcome = 'invalid') AS invalid, \
                count(*) FILTER (WHERE outcome = 'skipped') AS skipped \
         FROM import.import_rows WHERE import_id = $1",
    )
    .bind::<BigInt, _>(import_id)
    .get_result(conn)
    .await?;
    Ok((counts.valid, counts.invalid, counts.skipped))
}

/// Removes raw values (names) of rows of imports older than `days`; outcomes and punches stay.
pub async fn forget_raw_older_than(conn: &mut Conn, days: u32) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE import.import_rows r SET raw = NULL FROM import.imports i \
         WHERE r.import_id = i.id AND r.raw IS NOT NULL AND i.created_at < now() - make_interval(days => $1)",
    )
    .bind::<Integer, _>(i32::try_from(days).unwrap_or(i32::MAX))
    .execute(conn)
    .await
}
