//! Pulling transactions from BioTime / ZKBio Time servers over their REST API: per enabled server
//! when it is due (every `interval_seconds`, sooner after a failure), log in (JWT), read the
//! transaction list page by page from where the server's cursor stands, and store each page's new
//! transactions as rows of the server's import of the day, through the same writer as a clock's
//! uploads, with the cursor advanced in the same transaction.
//!
//! The list is read under a fixed start time, in id order, so it only grows at its end (a
//! transaction that reaches the server late, with an older punch time, gets a newer id). The
//! cursor keeps the newest id stored and how many transactions of the list come up to it: the
//! next pull starts at that page, skips what it has, and steps back a page when the server deleted
//! transactions before it. Nothing is read into the ledger twice or skipped, across restarts too.
//!
//! A pull claims its server's row for as long as it runs (`SKIP LOCKED`), so with several replicas
//! one pulls each server; a replica that dies mid-pull loses its connection and with it the claim
//! and the page it had not committed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;
use crypto::MasterKeys;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use domain::LocalPunchTime;
use report::{ReportRow, RowResult};
use serde::{Deserialize, Serialize};
use serde_json::json;
use telemetry::prometheus::{opts, GaugeVec, Registry};
use tokio::task::JoinHandle;

use super::intake::{self, ClockDirectory, IntakeError};
use crate::errors::DirectoryFailure;
use crate::store::biotime::{self as store, Server};
use crate::store::tx::TxError;
use crate::AppState;

/// The variable holding import-service's own master keys (the format of `BRIDGE_MASTER_KEYS`,
/// see crates/crypto): BioTime passwords are sealed with them. Unset: no server can be registered.
pub const MASTER_KEYS_VARIABLE: &str = "IMPORT_MASTER_KEYS";

/// What the pulls need from the environment.
#[derive(Clone)]
pub struct PullSettings {
    /// `IMPORT_MASTER_KEYS`; `None`: BioTime pulls are not configured.
    pub master_keys: Option<Arc<MasterKeys>>,
    /// `IMPORT_BIOTIME_TICK_SECONDS`: how often due servers are looked for (default 5).
    pub tick: Duration,
    /// `IMPORT_BIOTIME_PAGE_SIZE`: transactions asked for per page (default 200, at most 1000).
    pub page_size: u32,
    /// `IMPORT_BIOTIME_RETRY_SECONDS`: the wait after a first failure, doubled after each
    /// further one up to the server's interval (default 15).
    pub retry: Duration,
    /// `IMPORT_BIOTIME_TIMEOUT_SECONDS`: the limit of one request to a server (default 30).
    pub timeout: Duration,
}

impl Default for PullSettings {
    fn default() -> Self {
        Self {
            master_keys: None,
            tick: Duration::from_secs(5),
            page_size: 200,
            retry: Duration::from_secs(15),
            timeout: Duration::from_secs(30),
        }
    }
}

impl std::fmt::Debug for PullSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullSettings")
            .field("configured", &self.master_keys.is_some())
            .field("tick", &self.tick)
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

impl PullSettings {
    pub fn from_env(env: &settings::Env) -> Result<Self, settings::SettingsError> {
        let defaults = Self::default();
        let master_keys = match env.optional::<settings::Secret>(MASTER_KEYS_VARIABLE)? {
            None => None,
            Some(raw) => Some(Arc::new(MasterKeys::parse(raw.expose()).map_err(
                |error| settings::SettingsError {
                    variable: MASTER_KEYS_VARIABLE.to_owned(),
                    problem: match error {
                        crypto::CryptoError::InvalidMasterKeys(problem) => problem,
                        other => other.to_string(),
                    },
                },
            )?)),
        };
        let seconds =
            |name: &str, default: Duration| -> Result<Duration, settings::SettingsError> {
                let value: u64 = env.or(name, default.as_secs())?;
                if value == 0 {
                    return Err(settings::SettingsError {
                        variable: name.to_owned(),
                        problem: "must be at least 1 second".to_owned(),
                    });
                }
                Ok(Duration::from_secs(value))
            };
        let page_size: u32 = env.or("IMPORT_BIOTIME_PAGE_SIZE", defaults.page_size)?;
        if !(1..=1000).contains(&page_size) {
            return Err(settings::SettingsError {
                variable: "IMPORT_BIOTIME_PAGE_SIZE".to_owned(),
                problem: "must be from 1 to 1000".to_owned(),
            });
        }
        Ok(Self {
            master_keys,
            tick: seconds("IMPORT_BIOTIME_TICK_SECONDS", defaults.tick)?,
            page_size,
            retry: seconds("IMPORT_BIOTIME_RETRY_SECONDS", defaults.retry)?,
            timeout: seconds("IMPORT_BIOTIME_TIMEOUT_SECONDS", defaults.timeout)?,
        })
    }
}

/// Which field of a transaction picks the companies its employee is looked up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MapBy {
    /// The employee's department (`department`).
    Department,
    /// The terminal's area (`area_alias`).
    Area,
}

impl MapBy {
    pub fn as_str(self) -> &'static str {
        match self {
            MapBy::Department => "department",
            MapBy::Area => "area",
        }
    }
}

/// A server's company mapping as stored: per department or area name, company ids in lookup
/// order; the name `*` stands for every name not listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mapping {
    pub by: MapBy,
    pub companies: std::collections::BTreeMap<String, Vec<i64>>,
}

/// The mapping entry every unlisted name falls back to.
pub const ANY_NAME: &str = "*";

impl Mapping {
    pub fn from_value(value: &serde_json::Value) -> Option<Self> {
        serde_json::from_value(value.clone()).ok()
    }

    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Every company the mapping names, once, in order of first mention.
    pub fn company_ids(&self) -> Vec<i64> {
        let mut ids = Vec::new();
        for id in self.companies.values().flatten() {
            if !ids.contains(id) {
                ids.push(*id);
            }
        }
        ids
    }

    /// The name of the transaction the mapping goes by, and the companies it maps to.
    fn companies_of<'m>(&'m self, transaction: &'m Transaction) -> (&'m str, &'m [i64]) {
        let name = match self.by {
            MapBy::Department => transaction.department.as_str(),
            MapBy::Area => transaction.area_alias.as_str(),
        }
        .trim();
        let ids = self
            .companies
            .get(name)
            .or_else(|| self.companies.get(ANY_NAME))
            .map_or(&[][..], Vec::as_slice);
        (name, ids)
    }
}

/// The company ids of a stored mapping (none when it does not read).
pub fn company_ids_of(server: &Server) -> Vec<i64> {
    Mapping::from_value(&server.mapping)
        .map(|m| m.company_ids())
        .unwrap_or_default()
}

/// A transaction as the server lists it (the fields the pull uses).
#[derive(Debug, Clone, Deserialize)]
pub struct Transaction {
    pub id: i64,
    pub emp_code: String,
    pub punch_time: String,
    #[serde(default)]
    pub punch_state: serde_json::Value,
    #[serde(default)]
    pub verify_type: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "text_or_null")]
    pub work_code: String,
    #[serde(default, deserialize_with = "text_or_null")]
    pub department: String,
    #[serde(default, deserialize_with = "text_or_null")]
    pub area_alias: String,
}

fn text_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// A field of a transaction as a field of the line it becomes (no tab or line break in it).
fn field(value: &serde_json::Value) -> String {
    let text = match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    clean(&text)
}

fn clean(text: &str) -> String {
    text.replace(['\t', '\r', '\n'], " ").trim().to_owned()
}

impl Transaction {
    /// The transaction as a line of the push protocol's attendance log (PIN, time, state,
    /// verification, work code), with the server's transaction id after them: a clock's row and
    /// a pulled one read the same.
    pub fn line(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}\t{}\t{}",
            clean(&self.emp_code),
            clean(&self.punch_time),
            field(&self.punch_state),
            self.verify_type.as_ref().map(field).unwrap_or_default(),
            clean(&self.work_code),
            self.id
        )
    }
}

/// One page of the transaction list.
#[derive(Debug, Deserialize)]
struct Page {
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    data: Vec<Transaction>,
}

/// Why a pull stopped. Its text is shown to admins: it never holds a credential or token.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("BioTime pulls are not configured ({MASTER_KEYS_VARIABLE} is not set)")]
    NotConfigured,
    #[error("the stored password cannot be opened: {0}")]
    Sealed(String),
    #[error("the company mapping is not readable")]
    Mapping,
    #[error("{0}")]
    Server(String),
    #[error("the directory: {0}")]
    Directory(#[from] DirectoryFailure),
    #[error("storing the transactions: {0}")]
    Store(String),
}

impl From<IntakeError> for PullError {
    fn from(error: IntakeError) -> Self {
        match error {
            IntakeError::Directory(e) => PullError::Directory(e),
            other => PullError::Store(other.to_string()),
        }
    }
}

impl From<diesel::result::Error> for PullError {
    fn from(error: diesel::result::Error) -> Self {
        PullError::Store(db::DbError::from(error).to_string())
    }
}

impl From<db::DbError> for PullError {
    fn from(error: db::DbError) -> Self {
        PullError::Store(error.to_string())
    }
}

/// What one pull stored.
#[derive(Debug, Default, Clone, Copy)]
pub struct Pulled {
    pub transactions: u64,
    pub pages: u64,
}

/// A logged-in session with one server.
struct Session<'a> {
    http: reqwest::Client,
    base: &'a str,
    username: &'a str,
    password: &'a str,
    token: Option<String>,
}

impl Session<'_> {
    /// An error text without the password, even if the server echoed it.
    fn scrub(&self, text: String) -> String {
        if self.password.is_empty() {
            text
        } else {
            text.replace(self.password, "••••")
        }
    }

    fn request_failed(&self, what: &str, error: &reqwest::Error) -> PullError {
        // The URL carries no credentials (they are refused at registration).
        let kind = if error.is_timeout() {
            "timed out"
        } else if error.is_connect() {
            "could not connect"
        } else {
            "failed"
        };
        let mut text = format!("{what} {kind}: {error}");
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        PullError::Server(self.scrub(text))
    }

    async fn refused(&self, what: &str, response: reqwest::Response) -> PullError {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        let body: String = body.chars().take(200).collect();
        PullError::Server(self.scrub(format!("{what} answered {status}: {}", body.trim())))
    }

    async fn login(&mut self) -> Result<(), PullError> {
        let response = self
            .http
            .post(format!("{}/jwt-api-token-auth/", self.base))
            .json(&json!({ "username": self.username, "password": self.password }))
            .send()
            .await
            .map_err(|e| self.request_failed("logging in", &e))?;
        if !response.status().is_success() {
            return Err(self.refused("logging in", response).await);
        }
        #[derive(Deserialize)]
        struct Token {
            token: String,
        }
        let token: Token = response
            .json()
            .await
            .map_err(|_| PullError::Server("logging in answered without a token".to_owned()))?;
        self.token = Some(token.token);
        Ok(())
    }

    /// One page of the list; `None` when the server says there is no such page.
    async fn page(
        &mut self,
        since: Option<&str>,
        page: u64,
        size: u32,
    ) -> Result<Option<Page>, PullError> {
        let mut query = vec![("page", page.to_string()), ("page_size", size.to_string())];
        if let Some(since) = since {
            query.push(("start_time", since.to_owned()));
        }
        let mut relogged = false;
        loop {
            if self.token.is_none() {
                self.login().await?;
            }
            let response = self
                .http
                .get(format!("{}/iclock/api/transactions/", self.base))
                .query(&query)
                .header(
                    reqwest::header::AUTHORIZATION,
                    format!("JWT {}", self.token.as_deref().unwrap_or_default()),
                )
                .send()
                .await
                .map_err(|e| self.request_failed("reading transactions", &e))?;
            let status = response.status();
            if status == reqwest::StatusCode::UNAUTHORIZED && !relogged {
                // The token expired: one new login, then the same page.
                relogged = true;
                self.token = None;
                continue;
            }
            if status == reqwest::StatusCode::NOT_FOUND && page > 1 {
                return Ok(None);
            }
            if !status.is_success() {
                return Err(self.refused("reading transactions", response).await);
            }
            return response.json::<Page>().await.map(Some).map_err(|e| {
                PullError::Server(format!("reading transactions: unreadable answer: {e}"))
            });
        }
    }
}

/// The server's time zone; UTC when its name is not one.
fn time_zone(server: &Server) -> Tz {
    server.time_zone.parse().unwrap_or(Tz::UTC)
}

/// The import options of a server's day import.
fn options(server: &Server) -> serde_json::Value {
    json!({ "source": "biotime", "biotime_server_id": server.id, "server": server.name })
}

/// Pulls what is new on `server` (claimed by the caller), page by page, each page's rows and
/// cursor in one transaction.
pub async fn pull(
    state: &AppState,
    settings: &PullSettings,
    server: &Server,
) -> Result<Pulled, PullError> {
    let keys = settings
        .master_keys
        .as_ref()
        .ok_or(PullError::NotConfigured)?;
    let password = keys
        .decrypt(server.id, &server.password_sealed)
        .map_err(|e| PullError::Sealed(e.to_string()))?;
    let mapping = Mapping::from_value(&server.mapping).ok_or(PullError::Mapping)?;
    let http = reqwest::Client::builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout)
        .build()
        .map_err(|e| PullError::Server(format!("building the HTTP client: {e}")))?;
    let base = server.url.trim_end_matches('/');
    let mut session = Session {
        http,
        base,
        username: &server.username,
        password: password.expose(),
        token: None,
    };
    session.login().await?;
    let mut conn = db::connection(&state.pool).await?;
    let mut cursor = store::cursor(&mut conn, server.id).await?;
    let snapshot = state
        .directory
        .current()
        .await
        .map_err(DirectoryFailure::from)?;
    let mut directories: HashMap<String, ClockDirectory> = HashMap::new();
    let mut pulled = Pulled::default();
    let mut size = settings.page_size;
    let mut page = page_of(cursor.position, size);
    // Whether a page at or before the cursor was found: until then a page that starts past the
    // cursor means transactions were deleted before it and the pull steps back.
    let mut anchored = page == 1;
    loop {
        let Some(reply) = session.page(cursor.since.as_deref(), page, size).await? else {
            // Past the end: the list is shorter than the cursor says (deleted transactions).
            page -= 1;
            anchored = page == 1;
            continue;
        };
        pulled.pages += 1;
        let got = u32::try_from(reply.data.len()).unwrap_or(u32::MAX);
        if reply.next.is_some() && got > 0 && got < size {
            // The server cuts pages shorter than asked: go by its size.
            size = got;
            page = page_of(cursor.position, size);
            anchored = page == 1;
            continue;
        }
        if !anchored && reply.data.first().is_some_and(|t| t.id > cursor.last_id) {
            page -= 1;
            anchored = page == 1;
            continue;
        }
        anchored = true;
        let start = (page - 1) * u64::from(size);
        let fresh: Vec<(u64, &Transaction)> = reply
            .data
            .iter()
            .enumerate()
            .filter(|(_, t)| t.id > cursor.last_id)
            .map(|(i, t)| (start + i as u64 + 1, t))
            .collect();
        if let Some(&(position, last)) = fresh.last() {
            let now = Utc::now();
            let mut texts = Vec::with_capacity(fresh.len());
            for (_, transaction) in &fresh {
                let (name, ids) = mapping.companies_of(transaction);
                if !directories.contains_key(name) {
                    let source = format!(
                        "BioTime server {} {} {name:?}",
                        server.name,
                        mapping.by.as_str()
                    );
                    directories.insert(
                        name.to_owned(),
                        ClockDirectory::for_companies(&snapshot, ids, source)?,
                    );
                }
                texts.push((name.to_owned(), transaction.line()));
            }
            let day = now.with_timezone(&time_zone(server)).date_naive();
            let import_id = store::day_import(&mut conn, server, day, options(server)).await?;
            let latest: Option<NaiveDateTime> = fresh
                .iter()
                .filter_map(|(_, t)| LocalPunchTime::parse(t.punch_time.trim()).ok())
                .map(|t| t.as_naive())
                .max();
            let count = i64::try_from(fresh.len()).unwrap_or(i64::MAX);
            let (from, to, position) = (
                cursor.last_id,
                last.id,
                i64::try_from(position).unwrap_or(i64::MAX),
            );
            let written = intake::append_rows(
                &state.database_url,
                import_id,
                true,
                |first| rows(&directories, &texts, first, now),
                async |tx| {
                    tx.client()
                        .query_one(
                            store::ADVANCE_CURSOR,
                            &[&server.id, &from, &to, &position, &latest, &count],
                        )
                        .await
                        .map_err(TxError::from)?;
                    Ok(())
                },
            )
            .await?;
            if !written.queued.is_empty() {
                state.relay.wake();
            }
            if let Err(error) = crate::store::clocks::recount(&mut conn, import_id).await {
                tracing::warn!(%error, import = import_id, "recounting a BioTime import failed");
            }
            cursor.last_id = to;
            cursor.position = position;
            pulled.transactions += fresh.len() as u64;
        }
        if reply.next.is_none() {
            break;
        }
        page += 1;
    }
    Ok(pulled)
}

/// The page of size `size` the transaction after the first `position` is on.
fn page_of(position: i64, size: u32) -> u64 {
    u64::try_from(position).unwrap_or(0) / u64::from(size) + 1
}

/// The page's lines as validated rows numbered from `first`.
fn rows(
    directories: &HashMap<String, ClockDirectory>,
    texts: &[(String, String)],
    first: i64,
    now: DateTime<Utc>,
) -> Vec<(ReportRow, RowResult)> {
    texts
        .iter()
        .enumerate()
        .filter_map(|(offset, (name, text))| {
            let line = first + i64::try_from(offset).unwrap_or(i64::MAX);
            let directory = directories.get(name)?;
            Some(directory.row(i32::try_from(line).unwrap_or(i32::MAX), text, now))
        })
        .collect()
}

/// When the next pull is due after this outcome: the interval after a success; after the n-th
/// failure in a row, the retry wait doubled n-1 times, at most the interval.
fn next_due(
    settings: &PullSettings,
    server: &Server,
    failed: bool,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let interval = Duration::from_secs(u64::try_from(server.interval_seconds.max(1)).unwrap_or(1));
    let wait = if failed {
        let doublings = u32::try_from(server.consecutive_failures.clamp(0, 16)).unwrap_or(0);
        settings
            .retry
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(interval)
    } else {
        interval
    };
    now + chrono::Duration::from_std(wait).unwrap_or_else(|_| chrono::Duration::seconds(300))
}

/// What claiming and pulling one server came to.
#[derive(Debug)]
pub enum Attempt {
    /// No server to pull: none due, or the one asked for is disabled or held by another pull.
    Nothing,
    Pulled {
        server: i64,
        outcome: Result<Pulled, String>,
    },
}

/// Claims a due server (or the server `id`, due or not), pulls it and records the outcome, on a
/// connection of its own that holds the claim until then.
pub async fn attempt(
    state: &AppState,
    settings: &PullSettings,
    id: Option<i64>,
) -> Result<Attempt, db::DbError> {
    // Not a pooled connection: if this process stops mid-pull, the claim goes with it.
    let mut conn = AsyncPgConnection::establish(&state.database_url)
        .await
        .map_err(|e| db::DbError::Unreachable(e.to_string()))?;
    let attempt = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            let Some(server) = store::claim(conn, id).await? else {
                return Ok(Attempt::Nothing);
            };
            let started = Utc::now();
            let outcome = pull(state, settings, &server)
                .await
                .map_err(|e| e.to_string());
            let next = next_due(settings, &server, outcome.is_err(), Utc::now());
            match &outcome {
                Ok(pulled) => tracing::info!(
                    server = %server.name,
                    transactions = pulled.transactions,
                    pages = pulled.pages,
                    "BioTime pull"
                ),
                Err(error) => tracing::warn!(server = %server.name, %error, "BioTime pull failed"),
            }
            store::record_outcome(
                conn,
                server.id,
                started,
                outcome.as_ref().err().map(String::as_str),
                next,
            )
            .await?;
            Ok(Attempt::Pulled {
                server: server.id,
                outcome,
            })
        })
        .await?;
    Ok(attempt)
}

/// Pulls every due server, then looks again every tick; refreshes the pull metrics as it goes.
pub fn spawn(state: web::Data<AppState>, settings: PullSettings) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            loop {
                match attempt(&state, &settings, None).await {
                    Ok(Attempt::Pulled { .. }) => continue,
                    Ok(Attempt::Nothing) => break,
                    Err(error) => {
                        tracing::warn!(%error, "claiming a BioTime server failed; trying again later");
                        break;
                    }
                }
            }
            if let Err(error) = state.metrics.biotime.refresh(&state.pool).await {
                tracing::debug!(%error, "refreshing the BioTime pull metrics failed");
            }
            tokio::time::sleep(settings.tick).await;
        }
    })
}

/// The pull health of every server, as the database has it (whichever replica pulled):
/// `bridge_biotime_pull_failing_seconds{server}` and
/// `bridge_biotime_last_success_timestamp_seconds{server}` (the registry adds `bridge_`).
#[derive(Clone)]
pub struct PullMetrics {
    failing: GaugeVec,
    last_success: GaugeVec,
}

impl PullMetrics {
    pub fn register(registry: &Registry) -> Self {
        let failing = GaugeVec::new(
            opts!(
                "biotime_pull_failing_seconds",
                "Seconds a BioTime server's pulls have been failing; 0 when the last one succeeded"
            ),
            &["server"],
        )
        .expect("valid metric");
        let last_success = GaugeVec::new(
            opts!(
                "biotime_last_success_timestamp_seconds",
                "When a BioTime server was last pulled successfully (Unix time)"
            ),
            &["server"],
        )
        .expect("valid metric");
        for metric in [failing.clone(), last_success.clone()] {
            registry
                .register(Box::new(metric))
                .expect("each metric is registered once per registry");
        }
        Self {
            failing,
            last_success,
        }
    }

    /// Sets the series of every enabled server (and drops those of servers gone or disabled).
    pub async fn refresh(&self, pool: &db::Pool) -> Result<(), db::DbError> {
        let mut conn = db::connection(pool).await?;
        let servers = store::list(&mut conn).await?;
        let now = Utc::now();
        self.failing.reset();
        self.last_success.reset();
        for (server, _) in servers.iter().filter(|(s, _)| s.state == store::ENABLED) {
            let failing = server.failing_since.map_or(0.0, |since| {
                (now - since).num_milliseconds().max(0) as f64 / 1000.0
            });
            self.failing
                .with_label_values(&[server.name.as_str()])
                .set(failing);
            if let Some(at) = server.last_success_at {
                self.last_success
                    .with_label_values(&[server.name.as_str()])
                    .set(at.timestamp_millis() as f64 / 1000.0);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transaction(value: serde_json::Value) -> Transaction {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_transaction_reads_as_an_attendance_log_line() {
        let t = transaction(json!({
            "id": 7, "emp_code": "1001", "punch_time": "2026-11-05 08:00:00",
            "punch_state": "1", "verify_type": 1, "work_code": null, "department": "Sales",
            "area_alias": "HQ",
        }));
        assert_eq!(t.line(), "1001\t2026-11-05 08:00:00\t1\t1\t\t7");
        let record = clock_push::parse_attlog_line(&t.line()).unwrap();
        assert_eq!(record.pin.as_str(), "1001");
        let t = transaction(json!({
            "id": 8, "emp_code": "10\t01", "punch_time": "2026-11-05 08:00:00", "punch_state": 4,
        }));
        assert_eq!(t.line(), "10 01\t2026-11-05 08:00:00\t4\t\t\t8");
    }

    #[test]
    fn the_mapping_goes_by_department_or_area_with_a_fallback() {
        let mapping = Mapping {
            by: MapBy::Area,
            companies: [("HQ".to_owned(), vec![2, 1]), ("*".to_owned(), vec![3])]
                .into_iter()
                .collect(),
        };
        let t = transaction(json!({
            "id": 1, "emp_code": "1", "punch_time": "x", "department": "HQ", "area_alias": " HQ ",
        }));
        assert_eq!(mapping.companies_of(&t), ("HQ", &[2, 1][..]));
        let t = transaction(
            json!({"id": 1, "emp_code": "1", "punch_time": "x", "area_alias": "Annex"}),
        );
        assert_eq!(mapping.companies_of(&t), ("Annex", &[3][..]));
        assert_eq!(mapping.company_ids(), vec![3, 2, 1]);
        let round = Mapping::from_value(&mapping.to_value()).unwrap();
        assert_eq!(round, mapping);
    }

    #[test]
    fn pages_follow_the_cursor_and_retries_back_off_up_to_the_interval() {
        assert_eq!(page_of(0, 200), 1);
        assert_eq!(page_of(199, 200), 1);
        assert_eq!(page_of(200, 200), 2);
        let settings = PullSettings::default();
        let now = Utc::now();
        let mut server = Server {
            id: 1,
            name: "s".into(),
            url: "http://x".into(),
            username: "u".into(),
            password_sealed: String::new(),
            mapping: json!({}),
            time_zone: "UTC".into(),
            interval_seconds: 300,
            state: "enabled".into(),
            next_pull_at: now,
            last_attempt_at: None,
            last_success_at: None,
            failing_since: None,
            consecutive_failures: 0,
            last_error: None,
            created_at: now,
            updated_at: now,
        };
        assert_eq!(
            next_due(&settings, &server, false, now) - now,
            chrono::Duration::seconds(300)
        );
        assert_eq!(
            next_due(&settings, &server, true, now) - now,
            chrono::Duration::seconds(15)
        );
        server.consecutive_failures = 2;
        assert_eq!(
            next_due(&settings, &server, true, now) - now,
            chrono::Duration::seconds(60)
        );
        server.consecutive_failures = 10;
        assert_eq!(
            next_due(&settings, &server, true, now) - now,
            chrono::Duration::seconds(300)
        );
    }
}
