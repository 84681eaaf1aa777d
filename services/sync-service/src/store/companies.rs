use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use domain::CompanySyncState;

use super::{Conn, QueryResult};

/// Whether this service may call Bayzat for a company, and the version of its configuration.
#[derive(Debug, Clone, QueryableByName, serde::Serialize)]
pub struct SyncState {
    #[diesel(sql_type = BigInt)]
    pub company_id: i64,
    #[diesel(sql_type = Text)]
    pub state: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub reason: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub since: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    pub config_version: i64,
    /// Bayzat's last 429 asked the company's key to wait until then.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub rate_limited_until: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    pub rate_limit_reason: Option<String>,
}

impl SyncState {
    pub fn state(&self) -> CompanySyncState {
        self.state.parse().unwrap_or_default()
    }
}

/// Creates the company's row the first time it is seen; disabled when its sync is switched off.
pub async fn ensure(
    conn: &mut Conn,
    company_id: i64,
    is_enabled: bool,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    let state = if is_enabled {
        CompanySyncState::Active
    } else {
        CompanySyncState::Disabled
    };
    diesel::sql_query(
        "INSERT INTO sync.company_sync_state (company_id, state, reason, since) \
         VALUES ($1, $2, CASE WHEN $2 = 'disabled' THEN 'sync disabled' END, $3) \
         ON CONFLICT (company_id) DO NOTHING",
    )
    .bind::<BigInt, _>(company_id)
    .bind::<Text, _>(state.as_str())
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await
    .map(drop)
}

pub async fn find(conn: &mut Conn, company_id: i64) -> QueryResult<Option<SyncState>> {
    let mut rows: Vec<SyncState> = diesel::sql_query(
        "SELECT company_id, state, reason, since, config_version, rate_limited_until, \
         rate_limit_reason FROM sync.company_sync_state WHERE company_id = $1",
    )
    .bind::<BigInt, _>(company_id)
    .load(conn)
    .await?;
    Ok(rows.pop())
}

/// Sets the company's state; `since` moves only when the state changes.
pub async fn set_state(
    conn: &mut Conn,
    company_id: i64,
    state: CompanySyncState,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO sync.company_sync_state (company_id, state, reason, since) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (company_id) DO UPDATE SET \
           since = CASE WHEN company_sync_state.state = EXCLUDED.state \
                   THEN company_sync_state.since ELSE EXCLUDED.since END, \
           state = EXCLUDED.state, reason = EXCLUDED.reason",
    )
    .bind::<BigInt, _>(company_id)
    .bind::<Text, _>(state.as_str())
    .bind::<Nullable<Text>, _>(reason)
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await
    .map(drop)
}

/// Records that Bayzat asked the company's key to wait until `until` (a 429), and why.
pub async fn set_rate_limited(
    conn: &mut Conn,
    company_id: i64,
    until: DateTime<Utc>,
    reason: &str,
) -> QueryResult<()> {
    diesel::sql_query(
        "UPDATE sync.company_sync_state SET rate_limited_until = $2, rate_limit_reason = $3 \
         WHERE company_id = $1",
    )
    .bind::<BigInt, _>(company_id)
    .bind::<Timestamptz, _>(until)
    .bind::<Text, _>(reason)
    .execute(conn)
    .await
    .map(drop)
}

/// The company's configuration changed: every replica's cached key and remembered unknown
/// empIds for it are stale from now on.
pub async fn bump_config_version(conn: &mut Conn, company_id: i64) -> QueryResult<()> {
    diesel::sql_query(
        "UPDATE sync.company_sync_state SET config_version = config_version + 1 \
         WHERE company_id = $1",
    )
    .bind::<BigInt, _>(company_id)
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
    diesel::sql_query(
        "UPDATE sync.company_sync_state SET due_published_at = $2 WHERE company_id = ANY($1)",
    )
    .bind::<diesel::sql_types::Array<BigInt>, _>(company_ids)
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await
    .map(drop)
}
