//! The BioTime servers pulled from (`biotime_servers`), how far each has been taken
//! (`biotime_cursors`) and the import each server's pulls of a local day go to (`biotime_days`).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::Serialize;

use super::imports;
use super::{Conn, QueryResult};
use crate::schema::{biotime_cursors, biotime_days, biotime_servers};

pub const ENABLED: &str = "enabled";
pub const DISABLED: &str = "disabled";

/// A server as registered. `password_sealed` is never shown (see the API's view).
#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = biotime_servers)]
pub struct Server {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub username: String,
    pub password_sealed: String,
    pub mapping: serde_json::Value,
    pub time_zone: String,
    pub interval_seconds: i32,
    pub state: String,
    pub next_pull_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub failing_since: Option<DateTime<Utc>>,
    pub consecutive_failures: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The sealed password stays out of logs, even sealed.
        f.debug_struct("Server")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("url", &self.url)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Where a server's pulls have got to.
#[derive(Debug, Clone, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = biotime_cursors)]
pub struct Cursor {
    #[serde(skip)]
    pub server_id: i64,
    /// The start time the transaction list is read from (local time); none: all of it.
    pub since: Option<String>,
    /// The id of the newest transaction stored.
    pub last_id: i64,
    /// How many transactions of the list come up to `last_id`.
    pub position: i64,
    /// The latest punch time among the transactions stored.
    pub last_punch_time: Option<NaiveDateTime>,
    /// Transactions stored so far.
    pub transactions: i64,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = biotime_servers)]
pub struct NewServer<'a> {
    pub name: &'a str,
    pub url: &'a str,
    pub username: &'a str,
    pub password_sealed: &'a str,
    pub mapping: serde_json::Value,
    pub time_zone: &'a str,
    pub interval_seconds: i32,
    pub state: &'a str,
}

/// What an admin may change of a server (`None`: unchanged).
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = biotime_servers)]
pub struct ServerChanges {
    pub name: Option<String>,
    pub url: Option<String>,
    pub username: Option<String>,
    pub password_sealed: Option<String>,
    pub mapping: Option<serde_json::Value>,
    pub time_zone: Option<String>,
    pub interval_seconds: Option<i32>,
    pub state: Option<String>,
}

impl ServerChanges {
    fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.url.is_none()
            && self.username.is_none()
            && self.password_sealed.is_none()
            && self.mapping.is_none()
            && self.time_zone.is_none()
            && self.interval_seconds.is_none()
            && self.state.is_none()
    }
}

pub async fn list(conn: &mut Conn) -> QueryResult<Vec<(Server, Cursor)>> {
    biotime_servers::table
        .inner_join(biotime_cursors::table)
        .order(biotime_servers::id)
        .select((Server::as_select(), Cursor::as_select()))
        .load(conn)
        .await
}

pub async fn find(conn: &mut Conn, id: i64) -> QueryResult<Option<(Server, Cursor)>> {
    biotime_servers::table
        .inner_join(biotime_cursors::table)
        .filter(biotime_servers::id.eq(id))
        .select((Server::as_select(), Cursor::as_select()))
        .first(conn)
        .await
        .optional()
}

/// Registers a server with its cursor, in the caller's transaction; `seal` seals the password
/// for the new row's id. A name registered already is a unique violation.
pub async fn insert(
    conn: &mut Conn,
    new: &NewServer<'_>,
    since: Option<&str>,
    seal: impl FnOnce(i64) -> String,
) -> QueryResult<Server> {
    let server = diesel::insert_into(biotime_servers::table)
        .values(new)
        .returning(Server::as_returning())
        .get_result(conn)
        .await?;
    let sealed = seal(server.id);
    let server = diesel::update(biotime_servers::table.find(server.id))
        .set(biotime_servers::password_sealed.eq(sealed))
        .returning(Server::as_returning())
        .get_result(conn)
        .await?;
    diesel::insert_into(biotime_cursors::table)
        .values((
            biotime_cursors::server_id.eq(server.id),
            biotime_cursors::since.eq(since),
        ))
        .execute(conn)
        .await?;
    Ok(server)
}

pub async fn update(
    conn: &mut Conn,
    id: i64,
    changes: &ServerChanges,
) -> QueryResult<Option<Server>> {
    if changes.is_empty() {
        return biotime_servers::table
            .find(id)
            .select(Server::as_select())
            .first(conn)
            .await
            .optional();
    }
    diesel::update(biotime_servers::table.find(id))
        .set((changes, biotime_servers::updated_at.eq(Utc::now())))
        .returning(Server::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Claims, in the caller's open transaction, an enabled server that is due (or the server `id`
/// whether due or not) unless another pull holds it: the row stays locked until the transaction
/// ends. `FOR NO KEY UPDATE`, so the pull's own rows referencing the server are not blocked.
pub async fn claim(conn: &mut Conn, id: Option<i64>) -> QueryResult<Option<Server>> {
    let enabled = biotime_servers::table
        .filter(biotime_servers::state.eq(ENABLED))
        .select(Server::as_select());
    match id {
        Some(id) => {
            enabled
                .filter(biotime_servers::id.eq(id))
                .for_no_key_update()
                .skip_locked()
                .first(conn)
                .await
        }
        None => {
            enabled
                .filter(biotime_servers::next_pull_at.le(Utc::now()))
                .order(biotime_servers::next_pull_at)
                .limit(1)
                .for_no_key_update()
                .skip_locked()
                .first(conn)
                .await
        }
    }
    .optional()
}

/// Records an attempt's outcome on the claimed server: a success clears the failure, a failure
/// keeps when the failures began; the next pull is due at `next`.
pub async fn record_outcome(
    conn: &mut Conn,
    id: i64,
    attempted_at: DateTime<Utc>,
    error: Option<&str>,
    next: DateTime<Utc>,
) -> QueryResult<usize> {
    let target = biotime_servers::table.find(id);
    match error {
        None => {
            diesel::update(target)
                .set((
                    biotime_servers::last_attempt_at.eq(attempted_at),
                    biotime_servers::last_success_at.eq(Utc::now()),
                    biotime_servers::failing_since.eq(None::<DateTime<Utc>>),
                    biotime_servers::consecutive_failures.eq(0),
                    biotime_servers::last_error.eq(None::<String>),
                    biotime_servers::next_pull_at.eq(next),
                ))
                .execute(conn)
                .await
        }
        Some(error) => {
            diesel::update(target)
                .set((
                    biotime_servers::last_attempt_at.eq(attempted_at),
                    biotime_servers::failing_since.eq(diesel::dsl::sql::<
                        diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
                    >(
                        "COALESCE(failing_since, last_attempt_at)"
                    )),
                    biotime_servers::consecutive_failures
                        .eq(biotime_servers::consecutive_failures + 1),
                    biotime_servers::last_error.eq(Some(error)),
                    biotime_servers::next_pull_at.eq(next),
                ))
                .execute(conn)
                .await
        }
    }
}

/// Makes the server due now (a pull asked for while another replica holds it).
pub async fn due_now(conn: &mut Conn, id: i64) -> QueryResult<usize> {
    diesel::update(biotime_servers::table.find(id))
        .set(biotime_servers::next_pull_at.eq(Utc::now()))
        .execute(conn)
        .await
}

pub async fn cursor(conn: &mut Conn, server_id: i64) -> QueryResult<Cursor> {
    biotime_cursors::table
        .find(server_id)
        .select(Cursor::as_select())
        .first(conn)
        .await
}

/// The SQL that advances a cursor within the rows' transaction: only from where this pull found
/// it (`$2`), so a cursor moved meanwhile fails the transaction instead of being overwritten.
pub const ADVANCE_CURSOR: &str = "UPDATE import.biotime_cursors SET last_id = $3, position = $4, \
       last_punch_time = GREATEST(last_punch_time, $5), transactions = transactions + $6, \
       updated_at = now() \
     WHERE server_id = $1 AND last_id = $2 RETURNING server_id";

/// The import the server's pulls of `day` go to, created (completed, empty) the first time.
pub async fn day_import(
    conn: &mut Conn,
    server: &Server,
    day: NaiveDate,
    options: serde_json::Value,
) -> QueryResult<i64> {
    if let Some(import_id) = biotime_days::table
        .filter(biotime_days::server_id.eq(server.id))
        .filter(biotime_days::day.eq(day))
        .select(biotime_days::import_id)
        .first::<i64>(conn)
        .await
        .optional()?
    {
        return Ok(import_id);
    }
    let filename = format!("biotime {} {day}", server.name);
    let uploaded_by = format!("biotime:{}", server.name);
    // The server is claimed by this pull: nothing else creates its day import meanwhile.
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        let import_id =
            imports::insert_day_import(conn, &filename, &uploaded_by, options, None).await?;
        diesel::insert_into(biotime_days::table)
            .values((
                biotime_days::server_id.eq(server.id),
                biotime_days::day.eq(day),
                biotime_days::import_id.eq(import_id),
            ))
            .execute(conn)
            .await?;
        Ok(import_id)
    })
    .await
}
