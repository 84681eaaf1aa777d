use chrono::{DateTime, Utc};
use diesel::dsl::case_when;
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;
use domain::CompanySyncState;

use super::{Conn, QueryResult};
use crate::schema::company_sync_state;

/// Whether this service may call Bayzat for a company, and the version of its configuration.
#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = company_sync_state)]
pub struct SyncState {
    pub company_id: i64,
    pub state: String,
    pub reason: Option<String>,
    pub since: DateTime<Utc>,
    pub config_version: i64,
    /// Bayzat's last 429 asked the company's key to wait until then.
    pub rate_limited_until: Option<DateTime<Utc>>,
    pub rate_limit_reason: Option<String>,
}

impl SyncState {
    pub fn state(&self) -> CompanySyncState {
        self.state.parse().unwrap_or_default()
    }
}

/// The state and reason a company's row starts with: disabled when its sync is switched off.
pub fn first_state(is_enabled: bool) -> (CompanySyncState, Option<&'static str>) {
    if is_enabled {
        (CompanySyncState::Active, None)
    } else {
        (CompanySyncState::Disabled, Some("sync disabled"))
    }
}

/// Creates the company's row the first time it is seen (see [`first_state`]).
pub async fn ensure(
    conn: &mut Conn,
    company_id: i64,
    is_enabled: bool,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    let (state, reason) = first_state(is_enabled);
    diesel::insert_into(company_sync_state::table)
        .values((
            company_sync_state::company_id.eq(company_id),
            company_sync_state::state.eq(state.as_str()),
            company_sync_state::reason.eq(reason),
            company_sync_state::since.eq(now),
        ))
        .on_conflict(company_sync_state::company_id)
        .do_nothing()
        .execute(conn)
        .await
        .map(drop)
}

pub async fn find(conn: &mut Conn, company_id: i64) -> QueryResult<Option<SyncState>> {
    company_sync_state::table
        .find(company_id)
        .select(SyncState::as_select())
        .first(conn)
        .await
        .optional()
}

/// Sets the company's state; `since` moves only when the state changes.
pub async fn set_state(
    conn: &mut Conn,
    company_id: i64,
    state: CompanySyncState,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    use company_sync_state::dsl;
    diesel::insert_into(company_sync_state::table)
        .values((
            dsl::company_id.eq(company_id),
            dsl::state.eq(state.as_str()),
            dsl::reason.eq(reason),
            dsl::since.eq(now),
        ))
        .on_conflict(dsl::company_id)
        .do_update()
        .set((
            dsl::since.eq(case_when(dsl::state.eq(excluded(dsl::state)), dsl::since)
                .otherwise(excluded(dsl::since))),
            dsl::state.eq(excluded(dsl::state)),
            dsl::reason.eq(excluded(dsl::reason)),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Pauses the company because Bayzat refused its key (`paused_auth`, for `reason`). Returns
/// since when it is paused if it went into `paused_auth` now, `None` if it was paused already: a
/// pause is announced once, however many refusals come. The row lock makes this exact when two
/// writers race.
pub async fn pause(
    conn: &mut Conn,
    company_id: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> QueryResult<Option<DateTime<Utc>>> {
    use company_sync_state::dsl;
    // `ON CONFLICT … DO UPDATE … WHERE` comes from this trait, not from `QueryDsl`.
    use diesel::query_dsl::methods::FilterDsl;
    let paused = CompanySyncState::PausedAuth.as_str();
    diesel::insert_into(company_sync_state::table)
        .values((
            dsl::company_id.eq(company_id),
            dsl::state.eq(paused),
            dsl::reason.eq(reason),
            dsl::since.eq(now),
        ))
        .on_conflict(dsl::company_id)
        .do_update()
        .set((
            dsl::state.eq(excluded(dsl::state)),
            dsl::reason.eq(excluded(dsl::reason)),
            dsl::since.eq(excluded(dsl::since)),
        ))
        .filter(dsl::state.ne(paused))
        .returning(dsl::since)
        .get_result(conn)
        .await
        .optional()
}

/// Records that Bayzat asked the company's key to wait until `until` (a 429), and why.
pub async fn set_rate_limited(
    conn: &mut Conn,
    company_id: i64,
    until: DateTime<Utc>,
    reason: &str,
) -> QueryResult<()> {
    diesel::update(company_sync_state::table.find(company_id))
        .set((
            company_sync_state::rate_limited_until.eq(until),
            company_sync_state::rate_limit_reason.eq(reason),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// The company's configuration changed: every replica's cached key and remembered unknown
/// empIds for it are stale from now on.
pub async fn bump_config_version(conn: &mut Conn, company_id: i64) -> QueryResult<()> {
    diesel::update(company_sync_state::table.find(company_id))
        .set(company_sync_state::config_version.eq(company_sync_state::config_version + 1))
        .execute(conn)
        .await
        .map(drop)
}

/// Records that the scheduler announced due work for the company.
pub async fn mark_due_published(
    conn: &mut Conn,
    company_ids: &[i64],
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(
        company_sync_state::table.filter(company_sync_state::company_id.eq_any(company_ids)),
    )
    .set(company_sync_state::due_published_at.eq(now))
    .execute(conn)
    .await
    .map(drop)
}
