use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Bool, Date, Integer, Nullable, Text, Timestamp, Timestamptz, Uuid as SqlUuid,
};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::{Conn, QueryResult};

/// A punch a row gives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PunchKey {
    pub company_id: i64,
    pub emp_id: String,
    pub time: NaiveDateTime,
}

/// A punch to write, from the row at `line`.
#[derive(Debug, Clone)]
pub struct NewPunch {
    pub key: PunchKey,
    pub punch_type: &'static str,
    pub line: i32,
}

/// What became of a punch: its id, the import that first gave it, whether this statement added it.
#[derive(Debug, Clone, QueryableByName)]
pub struct WrittenPunch {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub company_id: i64,
    #[diesel(sql_type = Text)]
    pub emp_id: String,
    #[diesel(sql_type = Timestamp)]
    pub punch_time: NaiveDateTime,
    #[diesel(sql_type = BigInt)]
    pub import_id: i64,
    #[diesel(sql_type = Bool)]
    pub inserted: bool,
}

/// Writes punches (each key at most once in `punches`) and returns every one with its id, new or
/// already known. The no-op update on conflict is what makes RETURNING include known punches.
pub async fn upsert_batch(
    conn: &mut Conn,
    import_id: i64,
    punches: &[NewPunch],
) -> QueryResult<Vec<WrittenPunch>> {
    if punches.is_empty() {
        return Ok(Vec::new());
    }
    diesel::sql_query(
        "INSERT INTO import.punches AS p (company_id, emp_id, punch_time, punch_type, import_id, line) \
         SELECT company_id, emp_id, punch_time, punch_type, $1, line \
         FROM UNNEST($2::bigint[], $3::text[], $4::timestamp[], $5::text[], $6::int[]) \
           AS u(company_id, emp_id, punch_time, punch_type, line) \
         ON CONFLICT (company_id, emp_id, punch_time) DO UPDATE SET company_id = p.company_id \
         RETURNING p.id, p.company_id, p.emp_id, p.punch_time, p.import_id, (p.xmax = 0) AS inserted",
    )
    .bind::<BigInt, _>(import_id)
    .bind::<Array<BigInt>, _>(punches.iter().map(|p| p.key.company_id).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(punches.iter().map(|p| p.key.emp_id.clone()).collect::<Vec<_>>())
    .bind::<Array<Timestamp>, _>(punches.iter().map(|p| p.key.time).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(punches.iter().map(|p| p.punch_type).collect::<Vec<_>>())
    .bind::<Array<Integer>, _>(punches.iter().map(|p| p.line).collect::<Vec<_>>())
    .load(conn)
    .await
}

/// Employee-days (company, emp id, day) that an earlier import already has other punch times
/// for. `times[i]` lists the punch times of key i as a Postgres array literal.
pub async fn conflicting_days(
    conn: &mut Conn,
    import_id: i64,
    keys: &[(i64, String, NaiveDate)],
    times: &[String],
) -> QueryResult<Vec<i32>> {
    #[derive(QueryableByName)]
    struct Index {
        #[diesel(sql_type = Integer)]
        idx: i32,
    }
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let found: Vec<Index> = diesel::sql_query(
        "SELECT DISTINCT k.idx::int AS idx FROM UNNEST($2::bigint[], $3::text[], $4::date[], $5::text[]) \
           WITH ORDINALITY AS k(company_id, emp_id, day, times, idx) \
         JOIN import.punches p ON p.company_id = k.company_id AND p.emp_id = k.emp_id \
           AND p.punch_time >= k.day AND p.punch_time < k.day + 1 \
         WHERE p.import_id <> $1 AND NOT (p.punch_time = ANY(k.times::timestamp[]))",
    )
    .bind::<BigInt, _>(import_id)
    .bind::<Array<BigInt>, _>(keys.iter().map(|k| k.0).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(keys.iter().map(|k| k.1.clone()).collect::<Vec<_>>())
    .bind::<Array<Date>, _>(keys.iter().map(|k| k.2).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(times)
    .load(conn)
    .await?;
    // ORDINALITY counts from 1.
    Ok(found.into_iter().map(|i| i.idx - 1).collect())
}

/// A punch ready to go to sync-service.
#[derive(Debug, Clone, QueryableByName)]
pub struct QueuedPunch {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub emp_id: String,
    #[diesel(sql_type = Text)]
    pub punch_type: String,
    #[diesel(sql_type = Timestamp)]
    pub punch_time: NaiveDateTime,
}

/// Takes the import's new punches of one company for delivery (state `queued`, in `batch_id`),
/// in time order.
pub async fn take_for_queue(
    conn: &mut Conn,
    import_id: i64,
    company_id: i64,
    batch_id: Uuid,
) -> QueryResult<Vec<QueuedPunch>> {
    let mut taken: Vec<QueuedPunch> = diesel::sql_query(
        "UPDATE import.punches SET state = 'queued', batch_id = $3, state_at = now() \
         WHERE import_id = $1 AND company_id = $2 AND state = 'new' \
         RETURNING id, emp_id, punch_type, punch_time",
    )
    .bind::<BigInt, _>(import_id)
    .bind::<BigInt, _>(company_id)
    .bind::<SqlUuid, _>(batch_id)
    .load(conn)
    .await?;
    taken.sort_by(|a, b| (a.punch_time, &a.emp_id).cmp(&(b.punch_time, &b.emp_id)));
    Ok(taken)
}

/// Companies with punches of this import not yet queued, among valid rows that may be queued.
pub async fn companies_with_new_punches(conn: &mut Conn, import_id: i64) -> QueryResult<Vec<i64>> {
    #[derive(QueryableByName)]
    struct Company {
        #[diesel(sql_type = BigInt)]
        company_id: i64,
    }
    let rows: Vec<Company> = diesel::sql_query(
        "SELECT DISTINCT company_id FROM import.punches WHERE import_id = $1 AND state = 'new' ORDER BY company_id",
    )
    .bind::<BigInt, _>(import_id)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.company_id).collect())
}

/// One delivery state change reported by sync-service.
#[derive(Debug, Clone)]
pub struct StateChange {
    pub punch_id: i64,
    pub state: String,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

/// Applies state changes; a change older than the one already recorded is ignored (messages may
/// arrive late or twice).
pub async fn apply_states(conn: &mut Conn, changes: &[StateChange]) -> QueryResult<usize> {
    if changes.is_empty() {
        return Ok(0);
    }
    diesel::sql_query(
        "UPDATE import.punches p SET state = c.state, error = c.error, state_at = c.at \
         FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::timestamptz[]) AS c(id, state, error, at) \
         WHERE p.id = c.id AND (p.state_at IS NULL OR p.state_at <= c.at)",
    )
    .bind::<Array<BigInt>, _>(changes.iter().map(|c| c.punch_id).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(changes.iter().map(|c| c.state.clone()).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(changes.iter().map(|c| c.error.clone()).collect::<Vec<_>>())
    .bind::<Array<Timestamptz>, _>(changes.iter().map(|c| c.at).collect::<Vec<_>>())
    .execute(conn)
    .await
}

/// Per company of an import: how many of its punches are in each state.
#[derive(Debug, Clone, QueryableByName, serde::Serialize)]
pub struct StateCount {
    #[diesel(sql_type = BigInt)]
    pub company_id: i64,
    #[diesel(sql_type = Text)]
    pub state: String,
    #[diesel(sql_type = BigInt)]
    pub count: i64,
}

pub async fn progress(conn: &mut Conn, import_id: i64) -> QueryResult<Vec<StateCount>> {
    diesel::sql_query(
        "SELECT company_id, state, count(*) AS count FROM import.punches WHERE import_id = $1 \
         GROUP BY company_id, state ORDER BY company_id, state",
    )
    .bind::<BigInt, _>(import_id)
    .load(conn)
    .await
}

/// Cancels the import's punches that were never queued; returns the companies that had queued
/// punches (sync-service cancels those it has not sent).
pub async fn cancel(conn: &mut Conn, import_id: i64) -> QueryResult<Vec<i64>> {
    diesel::sql_query("UPDATE import.punches SET state = 'cancelled', state_at = now() WHERE import_id = $1 AND state = 'new'")
        .bind::<BigInt, _>(import_id)
        .execute(conn)
        .await?;
    #[derive(QueryableByName)]
    struct Company {
        #[diesel(sql_type = BigInt)]
        company_id: i64,
    }
    let companies: Vec<Company> = diesel::sql_query(
        "SELECT DISTINCT company_id FROM import.punches WHERE import_id = $1 AND batch_id IS NOT NULL ORDER BY company_id",
    )
    .bind::<BigInt, _>(import_id)
    .load(conn)
    .await?;
    Ok(companies.into_iter().map(|c| c.company_id).collect())
}
