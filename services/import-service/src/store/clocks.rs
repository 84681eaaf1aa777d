//! The registry of push terminals (`clocks`) and the import each clock's uploads of a local day
//! are appended to (`clock_days`).

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::Serialize;

use super::imports::{self, NewImport};
use super::{Conn, QueryResult};
use crate::schema::{clock_days, clocks, imports as imports_table};

/// A clock's state: `pending` until an admin approves it, `approved`, or `disabled`.
pub const PENDING: &str = "pending";
pub const APPROVED: &str = "approved";
pub const DISABLED: &str = "disabled";

/// A terminal as registered.
#[derive(Debug, Clone, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = clocks)]
pub struct Clock {
    pub id: i64,
    pub serial_number: String,
    /// pending, approved or disabled.
    pub state: String,
    /// The companies whose directories its PINs are looked up in, in order.
    pub company_ids: Vec<i64>,
    /// IANA name: the local day of its uploads and the offset it is told.
    pub time_zone: String,
    /// CIDR it must call from; none: anywhere.
    pub allowed_network: Option<String>,
    /// The query of its last handshake.
    #[schema(value_type = Option<Object>)]
    pub handshake: Option<serde_json::Value>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub last_punch_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A clock registered by an admin before it calls.
#[derive(Debug, Insertable)]
#[diesel(table_name = clocks)]
pub struct NewClock<'a> {
    pub serial_number: &'a str,
    pub state: &'a str,
    pub company_ids: Vec<i64>,
    pub time_zone: &'a str,
    pub allowed_network: Option<&'a str>,
}

/// What an admin may change of a clock (`None`: unchanged; `Some(None)`: cleared).
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = clocks)]
pub struct ClockChanges {
    pub company_ids: Option<Vec<i64>>,
    pub time_zone: Option<String>,
    pub allowed_network: Option<Option<String>>,
}

pub async fn list(conn: &mut Conn) -> QueryResult<Vec<Clock>> {
    clocks::table
        .order(clocks::id)
        .select(Clock::as_select())
        .load(conn)
        .await
}

pub async fn find(conn: &mut Conn, id: i64) -> QueryResult<Option<Clock>> {
    clocks::table
        .find(id)
        .select(Clock::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn by_serial(conn: &mut Conn, serial: &str) -> QueryResult<Option<Clock>> {
    clocks::table
        .filter(clocks::serial_number.eq(serial))
        .select(Clock::as_select())
        .first(conn)
        .await
        .optional()
}

/// Registers an admin's clock; a serial registered already is a unique violation.
pub async fn insert(conn: &mut Conn, new: &NewClock<'_>) -> QueryResult<Clock> {
    diesel::insert_into(clocks::table)
        .values(new)
        .returning(Clock::as_returning())
        .get_result(conn)
        .await
}

/// The clock that calls with `serial`, recorded `pending` (no company, UTC) if unknown; seen now.
/// `handshake`, when given, replaces what it said at its last handshake.
pub async fn calling(
    conn: &mut Conn,
    serial: &str,
    handshake: Option<serde_json::Value>,
) -> QueryResult<Clock> {
    let now = Utc::now();
    diesel::insert_into(clocks::table)
        .values((
            clocks::serial_number.eq(serial),
            clocks::state.eq(PENDING),
            clocks::handshake.eq(&handshake),
            clocks::last_seen_at.eq(now),
        ))
        .on_conflict(clocks::serial_number)
        .do_update()
        .set((
            clocks::handshake.eq(diesel::dsl::sql::<
                diesel::sql_types::Nullable<diesel::sql_types::Jsonb>,
            >(
                "COALESCE(excluded.handshake, clocks.handshake)"
            )),
            clocks::last_seen_at.eq(excluded(clocks::last_seen_at)),
        ))
        .returning(Clock::as_returning())
        .get_result(conn)
        .await
}

pub async fn update(
    conn: &mut Conn,
    id: i64,
    changes: &ClockChanges,
) -> QueryResult<Option<Clock>> {
    if changes.company_ids.is_none()
        && changes.time_zone.is_none()
        && changes.allowed_network.is_none()
    {
        return find(conn, id).await;
    }
    diesel::update(clocks::table.find(id))
        .set((changes, clocks::updated_at.eq(Utc::now())))
        .returning(Clock::as_returning())
        .get_result(conn)
        .await
        .optional()
}

pub async fn set_state(conn: &mut Conn, id: i64, state: &str) -> QueryResult<Option<Clock>> {
    diesel::update(clocks::table.find(id))
        .set((clocks::state.eq(state), clocks::updated_at.eq(Utc::now())))
        .returning(Clock::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Records that the clock delivered punches now.
pub async fn punched(conn: &mut Conn, id: i64) -> QueryResult<usize> {
    diesel::update(clocks::table.find(id))
        .set(clocks::last_punch_at.eq(Utc::now()))
        .execute(conn)
        .await
}

/// The import the clock's uploads of `day` go to, created (completed, empty, held while the clock
/// is pending) the first time. `options` are the new import's.
pub async fn day_import(
    conn: &mut Conn,
    clock: &Clock,
    day: NaiveDate,
    options: serde_json::Value,
) -> QueryResult<i64> {
    let existing = clock_days::table
        .filter(clock_days::clock_id.eq(clock.id))
        .filter(clock_days::day.eq(day))
        .select(clock_days::import_id)
        .first::<i64>(conn)
        .await
        .optional()?;
    if let Some(import_id) = existing {
        return Ok(import_id);
    }
    let filename = format!("clock {} {day}", clock.serial_number);
    let uploaded_by = format!("clock:{}", clock.serial_number);
    let held = (clock.state != APPROVED).then_some("hold");
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        // Two uploads of the clock at once: the second waits here and takes the first's import.
        clocks::table
            .find(clock.id)
            .select(clocks::id)
            .for_update()
            .first::<i64>(conn)
            .await?;
        if let Some(import_id) = clock_days::table
            .filter(clock_days::clock_id.eq(clock.id))
            .filter(clock_days::day.eq(day))
            .select(clock_days::import_id)
            .first::<i64>(conn)
            .await
            .optional()?
        {
            return Ok(import_id);
        }
        let import = imports::insert(
            conn,
            &NewImport {
                filename: &filename,
                file_path: None,
                sha256: "",
                size_bytes: 0,
                status: "completed",
                options,
                facts: None,
                uploaded_by: &uploaded_by,
                team: None,
                started_at: Some(Utc::now()),
            },
        )
        .await?;
        diesel::update(imports_table::table.find(import.id))
            .set((
                imports_table::completed_at.eq(Some(Utc::now())),
                imports_table::held_reason.eq(held),
            ))
            .execute(conn)
            .await?;
        diesel::insert_into(clock_days::table)
            .values((
                clock_days::clock_id.eq(clock.id),
                clock_days::day.eq(day),
                clock_days::import_id.eq(import.id),
            ))
            .execute(conn)
            .await?;
        Ok(import.id)
    })
    .await
}

/// The clock's day imports, oldest first.
pub async fn imports_of(conn: &mut Conn, clock_id: i64) -> QueryResult<Vec<i64>> {
    clock_days::table
        .filter(clock_days::clock_id.eq(clock_id))
        .order(clock_days::day)
        .select(clock_days::import_id)
        .load(conn)
        .await
}

/// Brings an import's record count in line with its rows (the write transaction keeps the
/// outcome counts; the total is what the API shows as read).
pub async fn recount(conn: &mut Conn, import_id: i64) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE import.imports SET total_records = successful_records + failed_records + skipped_records, \
           processed_records = successful_records + failed_records + skipped_records WHERE id = $1",
    )
    .bind::<diesel::sql_types::BigInt, _>(import_id)
    .execute(conn)
    .await
}

/// The serial number of the clock whose uploads `import_id` holds, when that clock is not
/// approved: such an import is released by approving the clock, never on its own.
pub async fn unapproved_clock_of(conn: &mut Conn, import_id: i64) -> QueryResult<Option<String>> {
    clock_days::table
        .inner_join(clocks::table.on(clocks::id.eq(clock_days::clock_id)))
        .filter(clock_days::import_id.eq(import_id))
        .filter(clocks::state.ne(APPROVED))
        .select(clocks::serial_number)
        .first(conn)
        .await
        .optional()
}
