use chrono::{DateTime, NaiveTime, Utc};
use db::Prepared;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Timestamptz};
use diesel_async::RunQueryDsl;

use super::{Conn, QueryResult};
use crate::schema::bayzat_configs;

/// A stored configuration; `api_key` is the ciphertext (`Debug` shows only whether there is one).
#[derive(Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = bayzat_configs)]
pub struct StoredConfig {
    pub company_id: i64,
    pub api_key: Option<String>,
    pub api_key_mask: Option<String>,
    pub key_updated_at: Option<DateTime<Utc>>,
    pub api_url: String,
    pub is_enabled: bool,
    pub sync_frequency: String,
    pub daily_at: Option<NaiveTime>,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub settings: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The values written by a save (everything an operator sets; not last_sync_at). `Debug` shows
/// only whether there is a ciphertext.
#[derive(Clone, Insertable, AsChangeset)]
#[diesel(table_name = bayzat_configs)]
#[diesel(treat_none_as_null = true)]
pub struct ConfigValues {
    pub company_id: i64,
    pub api_key: Option<String>,
    pub api_key_mask: Option<String>,
    pub key_updated_at: Option<DateTime<Utc>>,
    pub api_url: String,
    pub is_enabled: bool,
    pub sync_frequency: String,
    pub daily_at: Option<NaiveTime>,
    pub settings: serde_json::Value,
}

/// A ciphertext as `Debug` shows it.
fn hidden(ciphertext: &Option<String>) -> Option<&'static str> {
    ciphertext.as_ref().map(|_| "••••")
}

impl std::fmt::Debug for StoredConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredConfig")
            .field("company_id", &self.company_id)
            .field("api_key", &hidden(&self.api_key))
            .field("api_key_mask", &self.api_key_mask)
            .field("key_updated_at", &self.key_updated_at)
            .field("api_url", &self.api_url)
            .field("is_enabled", &self.is_enabled)
            .field("sync_frequency", &self.sync_frequency)
            .field("daily_at", &self.daily_at)
            .field("last_sync_at", &self.last_sync_at)
            .field("settings", &self.settings)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

impl std::fmt::Debug for ConfigValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigValues")
            .field("company_id", &self.company_id)
            .field("api_key", &hidden(&self.api_key))
            .field("api_key_mask", &self.api_key_mask)
            .field("key_updated_at", &self.key_updated_at)
            .field("api_url", &self.api_url)
            .field("is_enabled", &self.is_enabled)
            .field("sync_frequency", &self.sync_frequency)
            .field("daily_at", &self.daily_at)
            .field("settings", &self.settings)
            .finish()
    }
}

/// The configuration of one company, if it has one.
pub async fn find(conn: &mut Conn, company_id: i64) -> QueryResult<Option<StoredConfig>> {
    bayzat_configs::table
        .find(company_id)
        .select(StoredConfig::as_select())
        .first(conn)
        .await
        .optional()
}

/// The configurations of these companies.
pub async fn for_companies(conn: &mut Conn, company_ids: &[i64]) -> QueryResult<Vec<StoredConfig>> {
    bayzat_configs::table
        .filter(bayzat_configs::company_id.eq_any(company_ids))
        .select(StoredConfig::as_select())
        .load(conn)
        .await
}

/// Writes a company's configuration, creating it when absent.
pub async fn save(conn: &mut Conn, values: &ConfigValues) -> QueryResult<StoredConfig> {
    diesel::insert_into(bayzat_configs::table)
        .values(values)
        .on_conflict(bayzat_configs::company_id)
        .do_update()
        .set((values, bayzat_configs::updated_at.eq(diesel::dsl::now)))
        .returning(StoredConfig::as_returning())
        .get_result(conn)
        .await
}

/// Moves companies' last delivery times forward, one statement for all (never back: status
/// events may arrive late). At most one time per company.
pub async fn record_deliveries(
    conn: &mut Conn,
    deliveries: &[(i64, DateTime<Utc>)],
) -> QueryResult<usize> {
    if deliveries.is_empty() {
        return Ok(0);
    }
    diesel::sql_query(
        "UPDATE config.bayzat_configs c SET last_sync_at = d.at \
         FROM UNNEST($1::bigint[], $2::timestamptz[]) AS d(company_id, at) \
         WHERE c.company_id = d.company_id AND (c.last_sync_at IS NULL OR c.last_sync_at < d.at)",
    )
    .bind::<Array<BigInt>, _>(
        deliveries
            .iter()
            .map(|(company, _)| *company)
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Timestamptz>, _>(deliveries.iter().map(|(_, at)| *at).collect::<Vec<_>>())
    .prepared()
    .execute(conn)
    .await
}

/// Every stored key ciphertext, for re-encryption under a new master key.
pub async fn encrypted_keys(conn: &mut Conn) -> QueryResult<Vec<(i64, String)>> {
    bayzat_configs::table
        .filter(bayzat_configs::api_key.is_not_null())
        .select((
            bayzat_configs::company_id,
            bayzat_configs::api_key.assume_not_null(),
        ))
        .order(bayzat_configs::company_id.asc())
        .load(conn)
        .await
}

/// Replaces one company's key ciphertext (same key, new master key or format) only if it still is
/// `read`: a key changed since it was read stays as it is (0 rows).
pub async fn replace_ciphertext(
    conn: &mut Conn,
    company_id: i64,
    read: &str,
    ciphertext: &str,
) -> QueryResult<usize> {
    diesel::update(
        bayzat_configs::table
            .find(company_id)
            .filter(bayzat_configs::api_key.eq(read)),
    )
    .set(bayzat_configs::api_key.eq(ciphertext))
    .execute(conn)
    .await
}
