//! The registry of push terminals (`clocks`) and the import each clock's uploads of a local day
//! are appended to (`clock_days`).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::Serialize;

use super::imports;
use super::{Conn, QueryResult};
use crate::bridge_events;
use crate::schema::{clock_days, clocks};

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

impl Clock {
    /// Its local day at `now`: the day of the import its uploads then go to (UTC when its time
    /// zone is not one).
    pub fn local_day(&self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.time_zone.parse::<Tz>().unwrap_or(Tz::UTC))
            .date_naive()
    }

    /// Whether the clock is approved and has not called for longer than `after`: since it was
    /// last seen, or, never seen, since it was last changed (an admin's clock registered before
    /// it is installed gets that long to call).
    pub fn is_silent(&self, now: DateTime<Utc>, after: Duration) -> bool {
        self.state == APPROVED
            && (now - self.quiet_since())
                .to_std()
                .is_ok_and(|quiet| quiet > after)
    }

    /// Since when it has not called: its last call, or, never seen, its last change.
    pub fn quiet_since(&self) -> DateTime<Utc> {
        self.last_seen_at.unwrap_or(self.updated_at)
    }
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

/// At most this many clocks wait for approval: beyond it an unknown terminal is not recorded,
/// so whatever reaches the clock listener cannot fill the registry with serial numbers.
pub const MAX_PENDING: i64 = 200;

/// The clock that calls with `serial`, recorded `pending` (no company, UTC) if unknown, unless
/// [`MAX_PENDING`] clocks already wait (then `None`); seen now. `handshake`, when given,
/// replaces what it said at its last handshake. A clock recorded pending is told of
/// (`clock.pending_approval`, with `address`, where it called from) in the same transaction.
pub async fn calling(
    conn: &mut Conn,
    serial: &str,
    handshake: Option<serde_json::Value>,
    address: Option<&str>,
) -> QueryResult<Option<Clock>> {
    let now = Utc::now();
    let known = diesel::update(clocks::table.filter(clocks::serial_number.eq(serial)))
        .set((
            clocks::handshake.eq(diesel::dsl::sql::<
                diesel::sql_types::Nullable<diesel::sql_types::Jsonb>,
            >("COALESCE(")
            .bind::<diesel::sql_types::Nullable<diesel::sql_types::Jsonb>, _>(&handshake)
            .sql(", clocks.handshake)")),
            clocks::last_seen_at.eq(now),
        ))
        .returning(Clock::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    if known.is_some() {
        return Ok(known);
    }
    let pending: i64 = clocks::table
        .filter(clocks::state.eq(PENDING))
        .count()
        .get_result(conn)
        .await?;
    if pending >= MAX_PENDING {
        return Ok(None);
    }
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        let recorded = diesel::insert_into(clocks::table)
            .values((
                clocks::serial_number.eq(serial),
                clocks::state.eq(PENDING),
                clocks::handshake.eq(&handshake),
                clocks::last_seen_at.eq(now),
            ))
            .on_conflict(clocks::serial_number)
            .do_nothing()
            .returning(Clock::as_returning())
            .get_result(conn)
            .await
            .optional()?;
        match recorded {
            Some(clock) => {
                let pending = bridge_events::clock_pending(&clock, address, now);
                bridge_events::enqueue(conn, &[pending]).await?;
                Ok(Some(clock))
            }
            // Two first calls of one terminal at once: the second finds the row the first
            // inserted (and it was told of once, by the first).
            None => diesel::update(clocks::table.filter(clocks::serial_number.eq(serial)))
                .set(clocks::last_seen_at.eq(now))
                .returning(Clock::as_returning())
                .get_result(conn)
                .await
                .optional(),
        }
    })
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

/// The SQL that records, within the rows' transaction, that clock `$1` delivered punches at `$2`:
/// its punches of the day and its last punch commit together, so no reading shows one without
/// the other.
pub const PUNCHED: &str = "UPDATE import.clocks SET last_punch_at = $2 WHERE id = $1";

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
        let import_id =
            imports::insert_day_import(conn, &filename, &uploaded_by, options, held).await?;
        diesel::insert_into(clock_days::table)
            .values((
                clock_days::clock_id.eq(clock.id),
                clock_days::day.eq(day),
                clock_days::import_id.eq(import_id),
            ))
            .execute(conn)
            .await?;
        Ok(import_id)
    })
    .await
}

/// Per clock of `clocks`, the punches it put into the ledger on its local day at `now` (the new
/// punches of its import of that day; a line sent again or invalid is none), in one query.
/// A clock without an import of that day has none.
pub async fn punches_today(
    conn: &mut Conn,
    clocks: &[Clock],
    now: DateTime<Utc>,
) -> QueryResult<HashMap<i64, i64>> {
    #[derive(QueryableByName)]
    struct Today {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        clock_id: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        punches: i64,
    }
    if clocks.is_empty() {
        return Ok(HashMap::new());
    }
    let today: Vec<Today> = diesel::sql_query(
        "SELECT d.clock_id, i.punches_new::bigint AS punches \
         FROM UNNEST($1::bigint[], $2::date[]) AS t(clock_id, day) \
         JOIN import.clock_days d ON d.clock_id = t.clock_id AND d.day = t.day \
         JOIN import.imports i ON i.id = d.import_id",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::BigInt>, _>(
        clocks.iter().map(|c| c.id).collect::<Vec<_>>(),
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::Date>, _>(
        clocks.iter().map(|c| c.local_day(now)).collect::<Vec<_>>(),
    )
    .load(conn)
    .await?;
    Ok(today.into_iter().map(|t| (t.clock_id, t.punches)).collect())
}

/// Which clocks a reading of their punches of the day covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Covering {
    /// Every clock.
    All,
    /// Those an admin has placed (see [`placed`]).
    Placed,
}

/// The clocks `covering` says, by id, each with its punches of its local day at `now`, read in one
/// snapshot: a clock's punches and its last punch commit together (see [`PUNCHED`]), and read by
/// two statements apart, a commit between them would show the one without the other.
pub async fn with_punches_today(
    conn: &mut Conn,
    covering: Covering,
    now: DateTime<Utc>,
) -> QueryResult<Vec<(Clock, i64)>> {
    conn.build_transaction()
        .read_only()
        .repeatable_read()
        .run(async |conn| {
            let read = match covering {
                Covering::All => list(conn).await?,
                Covering::Placed => placed(conn).await?,
            };
            let today = punches_today(conn, &read, now).await?;
            Ok(read
                .into_iter()
                .map(|clock| {
                    let punches = today.get(&clock.id).copied().unwrap_or(0);
                    (clock, punches)
                })
                .collect())
        })
        .await
}

/// The clocks an admin has placed (approved or disabled, not pending), by id.
pub async fn placed(conn: &mut Conn) -> QueryResult<Vec<Clock>> {
    clocks::table
        .filter(clocks::state.ne(PENDING))
        .order(clocks::id)
        .select(Clock::as_select())
        .load(conn)
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

/// The clock whose uploads the import holds, if it is a clock's day import.
pub async fn clock_of_import(conn: &mut Conn, import_id: i64) -> QueryResult<Option<Clock>> {
    clock_days::table
        .inner_join(clocks::table.on(clocks::id.eq(clock_days::clock_id)))
        .filter(clock_days::import_id.eq(import_id))
        .select(Clock::as_select())
        .first(conn)
        .await
        .optional()
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn clock(state: &str, last_seen_at: Option<DateTime<Utc>>, updated_at: DateTime<Utc>) -> Clock {
        Clock {
            id: 1,
            serial_number: "SN1".to_owned(),
            state: state.to_owned(),
            company_ids: vec![1],
            time_zone: "Asia/Dubai".to_owned(),
            allowed_network: None,
            handshake: None,
            last_seen_at,
            last_punch_at: None,
            created_at: updated_at,
            updated_at,
        }
    }

    #[test]
    fn an_approved_clock_is_silent_once_it_has_not_called_for_longer_than_the_limit() {
        let now = Utc.with_ymd_and_hms(2026, 12, 5, 12, 0, 0).unwrap();
        let limit = Duration::from_secs(1800);
        let ago = |minutes| now - chrono::Duration::minutes(minutes);
        assert!(!clock(APPROVED, Some(ago(30)), ago(600)).is_silent(now, limit));
        assert!(clock(APPROVED, Some(ago(31)), ago(600)).is_silent(now, limit));
        // Never seen: from its registration or last change on.
        assert!(!clock(APPROVED, None, ago(10)).is_silent(now, limit));
        assert!(clock(APPROVED, None, ago(31)).is_silent(now, limit));
        // Only an approved clock is watched.
        assert!(!clock(PENDING, Some(ago(600)), ago(600)).is_silent(now, limit));
        assert!(!clock(DISABLED, None, ago(600)).is_silent(now, limit));
    }

    #[test]
    fn a_clocks_day_is_its_time_zones() {
        let late = Utc.with_ymd_and_hms(2026, 12, 5, 21, 0, 0).unwrap();
        let mut c = clock(APPROVED, None, late);
        assert_eq!(c.local_day(late).to_string(), "2026-12-06");
        c.time_zone = "not a zone".to_owned();
        assert_eq!(c.local_day(late).to_string(), "2026-12-05");
    }
}
