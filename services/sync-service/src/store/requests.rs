use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable, Text, Timestamptz};
use diesel_async::RunQueryDsl;

use super::{Conn, QueryResult};
use crate::schema::bayzat_requests;

/// One HTTP call to Bayzat.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub company_id: i64,
    pub holder: String,
    pub punch_ids: Vec<i64>,
    pub status_code: Option<i32>,
    /// The reply's kind: accepted, refused, transient, unauthorized, rate_limited, unexpected.
    pub outcome: String,
    pub latency_ms: i32,
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
}

pub async fn insert(conn: &mut Conn, request: &NewRequest) -> QueryResult<i64> {
    diesel::insert_into(bayzat_requests::table)
        .values((
            bayzat_requests::company_id.eq(request.company_id),
            bayzat_requests::holder.eq(&request.holder),
            bayzat_requests::records.eq(i32::try_from(request.punch_ids.len()).unwrap_or(i32::MAX)),
            bayzat_requests::punch_ids.eq(&request.punch_ids),
            bayzat_requests::status_code.eq(request.status_code),
            bayzat_requests::outcome.eq(&request.outcome),
            bayzat_requests::latency_ms.eq(request.latency_ms),
            bayzat_requests::error.eq(&request.error),
            bayzat_requests::started_at.eq(request.started_at),
        ))
        .returning(bayzat_requests::id)
        .get_result(conn)
        .await
}

/// The company's Bayzat calls over a window, as sync health shows them.
#[derive(Debug, Clone, QueryableByName)]
pub struct CallSummary {
    #[diesel(sql_type = BigInt)]
    pub calls: i64,
    #[diesel(sql_type = BigInt)]
    pub accepted: i64,
    #[diesel(sql_type = Nullable<Double>)]
    pub p50_ms: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    pub p95_ms: Option<f64>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_success_at: Option<DateTime<Utc>>,
}

/// Calls since `since`, and the last accepted call ever.
pub async fn summary(
    conn: &mut Conn,
    company_id: i64,
    since: DateTime<Utc>,
) -> QueryResult<CallSummary> {
    // Raw: `percentile_cont … WITHIN GROUP` and aggregate `FILTER` have no builder form.
    diesel::sql_query(
        "SELECT count(*) FILTER (WHERE started_at >= $2) AS calls, \
           count(*) FILTER (WHERE started_at >= $2 AND outcome = 'accepted') AS accepted, \
           percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) \
             FILTER (WHERE started_at >= $2 AND status_code IS NOT NULL) AS p50_ms, \
           percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) \
             FILTER (WHERE started_at >= $2 AND status_code IS NOT NULL) AS p95_ms, \
           max(started_at) FILTER (WHERE outcome = 'accepted') AS last_success_at \
         FROM sync.bayzat_requests WHERE company_id = $1",
    )
    .bind::<BigInt, _>(company_id)
    .bind::<Timestamptz, _>(since)
    .get_result(conn)
    .await
}

/// The company's most recent failed call.
#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize, utoipa::ToSchema)]
#[diesel(table_name = bayzat_requests)]
pub struct LastError {
    #[diesel(column_name = started_at)]
    pub at: DateTime<Utc>,
    pub outcome: String,
    pub status_code: Option<i32>,
    pub error: Option<String>,
}

pub async fn last_error(conn: &mut Conn, company_id: i64) -> QueryResult<Option<LastError>> {
    bayzat_requests::table
        .filter(bayzat_requests::company_id.eq(company_id))
        .filter(bayzat_requests::outcome.ne("accepted"))
        .order((
            bayzat_requests::started_at.desc(),
            bayzat_requests::id.desc(),
        ))
        .select(LastError::as_select())
        .first(conn)
        .await
        .optional()
}

/// One day of a company's Bayzat calls, the day taken in the company's time zone.
#[derive(Debug, Clone, QueryableByName, serde::Serialize, utoipa::ToSchema)]
pub struct DailyUsage {
    /// The local date, `YYYY-MM-DD`.
    #[diesel(sql_type = diesel::sql_types::Date)]
    #[schema(value_type = String, format = Date)]
    pub date: chrono::NaiveDate,
    /// Calls made (429s included).
    #[diesel(sql_type = BigInt)]
    pub calls: i64,
    /// Records Bayzat accepted.
    #[diesel(sql_type = BigInt)]
    pub delivered: i64,
    /// Calls answered 429.
    #[diesel(sql_type = BigInt)]
    pub rate_limited: i64,
    /// Calls neither accepted nor 429.
    #[diesel(sql_type = BigInt)]
    pub errors: i64,
    #[diesel(sql_type = Nullable<Double>)]
    pub latency_p50_ms: Option<f64>,
}

/// The company's calls per local day from `since` on, days without calls left out. Reads the
/// request log by its (company, started_at) index only.
pub async fn daily_usage(
    conn: &mut Conn,
    company_id: i64,
    timezone: &str,
    since: DateTime<Utc>,
) -> QueryResult<Vec<DailyUsage>> {
    // Raw: `AT TIME ZONE` days, `percentile_cont … WITHIN GROUP` and `FILTER`: no builder form.
    diesel::sql_query(
        "SELECT (started_at AT TIME ZONE $2)::date AS date, count(*) AS calls, \
           COALESCE(sum(records) FILTER (WHERE outcome = 'accepted'), 0)::bigint AS delivered, \
           count(*) FILTER (WHERE status_code = 429) AS rate_limited, \
           count(*) FILTER (WHERE outcome <> 'accepted' AND status_code IS DISTINCT FROM 429) \
             AS errors, \
           percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) \
             FILTER (WHERE status_code IS NOT NULL) AS latency_p50_ms \
         FROM sync.bayzat_requests WHERE company_id = $1 AND started_at >= $3 \
         GROUP BY 1 ORDER BY 1",
    )
    .bind::<BigInt, _>(company_id)
    .bind::<Text, _>(timezone)
    .bind::<Timestamptz, _>(since)
    .load(conn)
    .await
}
