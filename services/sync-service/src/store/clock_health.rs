//! The clocks' health from import-service (`clock.health.v1`), the newest per clock.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;
use domain::{ClockHealthV1, CompanyId};

use super::{Conn, QueryResult};
use crate::schema::clock_health::{self, dsl};

#[derive(Queryable, Selectable)]
#[diesel(table_name = clock_health)]
struct Row {
    clock_id: i64,
    serial_number: String,
    state: String,
    company_ids: Vec<i64>,
    last_seen_at: Option<DateTime<Utc>>,
    last_punch_at: Option<DateTime<Utc>>,
    punches_today: i64,
    quiet_since: DateTime<Utc>,
    silent_after_seconds: i64,
    observed_at: DateTime<Utc>,
}

/// Keeps `health` unless a newer reading of its clock is kept already (messages of two
/// import-service replicas, or a late one, arrive in any order).
pub async fn record(conn: &mut Conn, health: &ClockHealthV1) -> QueryResult<()> {
    let company_ids: Vec<i64> = health.company_ids.iter().map(|c| c.0).collect();
    let upsert = diesel::insert_into(clock_health::table)
        .values((
            dsl::clock_id.eq(health.clock_id),
            dsl::serial_number.eq(&health.serial_number),
            dsl::state.eq(&health.state),
            dsl::company_ids.eq(company_ids),
            dsl::last_seen_at.eq(health.last_seen_at),
            dsl::last_punch_at.eq(health.last_punch_at),
            dsl::punches_today.eq(health.punches_today),
            dsl::quiet_since.eq(health.quiet_since),
            dsl::silent_after_seconds
                .eq(i64::try_from(health.silent_after_seconds).unwrap_or(i64::MAX)),
            dsl::observed_at.eq(health.observed_at),
        ))
        .on_conflict(dsl::clock_id)
        .do_update()
        .set((
            dsl::serial_number.eq(excluded(dsl::serial_number)),
            dsl::state.eq(excluded(dsl::state)),
            dsl::company_ids.eq(excluded(dsl::company_ids)),
            dsl::last_seen_at.eq(excluded(dsl::last_seen_at)),
            dsl::last_punch_at.eq(excluded(dsl::last_punch_at)),
            dsl::punches_today.eq(excluded(dsl::punches_today)),
            dsl::quiet_since.eq(excluded(dsl::quiet_since)),
            dsl::silent_after_seconds.eq(excluded(dsl::silent_after_seconds)),
            dsl::observed_at.eq(excluded(dsl::observed_at)),
        ));
    // ON CONFLICT … DO UPDATE … WHERE: the trait's method, named, as QueryDsl has one too.
    diesel::query_dsl::methods::FilterDsl::filter(upsert, dsl::observed_at.le(health.observed_at))
        .execute(conn)
        .await?;
    Ok(())
}

/// The clocks whose companies include `company_id`, by serial number.
pub async fn of_company(conn: &mut Conn, company_id: i64) -> QueryResult<Vec<ClockHealthV1>> {
    let rows: Vec<Row> = clock_health::table
        .filter(dsl::company_ids.contains(vec![company_id]))
        .order(dsl::serial_number)
        .select(Row::as_select())
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| ClockHealthV1 {
            clock_id: row.clock_id,
            serial_number: row.serial_number,
            state: row.state,
            company_ids: row.company_ids.into_iter().map(CompanyId).collect(),
            last_seen_at: row.last_seen_at,
            last_punch_at: row.last_punch_at,
            punches_today: row.punches_today,
            quiet_since: row.quiet_since,
            silent_after_seconds: u64::try_from(row.silent_after_seconds).unwrap_or(0),
            observed_at: row.observed_at,
        })
        .collect())
}
