//! Retention: keeps the `sync` schema bounded however many punches go through it. Each pass (at
//! start, then every hour) deletes
//!
//! - Bayzat request logs older than SYNC_REQUEST_RETENTION_DAYS;
//! - the deliveries of batches settled (nothing on its way) and untouched for
//!   SYNC_DELIVERY_RETENTION_DAYS, whatever their final state, failed included, and then those
//!   batches' rows (store::retention says why a batch goes whole);
//! - the outbox's sent messages and the inbox's handled message ids past their age
//!   ([`outbox::Retention`]).
//!
//! Nothing still to be sent or retried is ever deleted. Every statement deletes at most
//! [`outbox::DELETE_CHUNK`] rows and commits on its own, so a pass holds no long locks and no
//! large transaction; several replicas may run passes at once.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::settings::RetentionSettings;
use crate::store::{retention, Conn, QueryResult};
use crate::SCHEMA;

/// How many settled batches one round of a pass takes on; their deliveries then go in chunks.
const BATCHES_PER_ROUND: i64 = 500;

/// What one pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    pub requests: usize,
    pub deliveries: usize,
    pub batches: usize,
    pub outbox: outbox::Pruned,
}

impl Removed {
    fn any(&self) -> bool {
        self.requests + self.deliveries + self.batches + self.outbox.sent + self.outbox.processed
            > 0
    }
}

/// The limits of a pass: how long things are kept and how many rows a statement deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub settings: RetentionSettings,
    pub outbox: outbox::Retention,
}

impl Limits {
    pub fn new(settings: RetentionSettings) -> Self {
        Self {
            settings,
            outbox: outbox::Retention::default(),
        }
    }

    /// Rows per statement, for the `sync` tables as for the outbox's.
    pub fn chunk(&self) -> i64 {
        self.outbox.chunk.max(1)
    }
}

/// Runs a pass now and then every `every`, until aborted.
pub fn spawn(pool: db::Pool, clock: Clock, limits: Limits, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match run_once(&pool, &clock, &limits).await {
                Ok(removed) if removed.any() => tracing::info!(
                    requests = removed.requests,
                    deliveries = removed.deliveries,
                    batches = removed.batches,
                    outbox_sent = removed.outbox.sent,
                    processed_messages = removed.outbox.processed,
                    "retention pass"
                ),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "retention pass failed; trying again later"),
            }
            tokio::time::sleep(every).await;
        }
    })
}

/// One pass; ages of the `sync` tables are taken on `clock`, which wrote them.
pub async fn run_once(
    pool: &db::Pool,
    clock: &Clock,
    limits: &Limits,
) -> Result<Removed, db::DbError> {
    let now = clock.now();
    let chunk = limits.chunk();
    let mut conn = db::connection(pool).await?;
    let mut removed = Removed::default();
    if let Some(before) = days_before(now, limits.settings.request_days) {
        loop {
            let deleted = retention::delete_requests_before(&mut conn, before, chunk).await?;
            removed.requests += deleted;
            if less_than(deleted, chunk) {
                break;
            }
        }
    }
    if let Some(before) = days_before(now, limits.settings.delivery_days) {
        removed.deliveries = settled_deliveries(&mut conn, before, chunk).await?;
        loop {
            let deleted = retention::delete_empty_batches(&mut conn, before, chunk).await?;
            removed.batches += deleted;
            if less_than(deleted, chunk) {
                break;
            }
        }
    }
    removed.outbox = outbox::prune(&mut conn, SCHEMA, &limits.outbox).await?;
    Ok(removed)
}

/// `days` before `now`; `None` when that is before any time there is (nothing is that old).
fn days_before(now: DateTime<Utc>, days: u32) -> Option<DateTime<Utc>> {
    now.checked_sub_signed(TimeDelta::try_days(i64::from(days))?)
}

/// Whether a statement deleted less than a chunk: nothing more is left to delete.
fn less_than(deleted: usize, chunk: i64) -> bool {
    i64::try_from(deleted).is_ok_and(|deleted| deleted < chunk)
}

/// Deletes the deliveries of batches settled before `before`, a round of batches at a time.
/// A round that deletes nothing ends the pass (what is left is locked by someone else, or was
/// retried meanwhile), so a pass always ends.
async fn settled_deliveries(
    conn: &mut Conn,
    before: DateTime<Utc>,
    chunk: i64,
) -> QueryResult<usize> {
    let mut total = 0;
    loop {
        let batches = retention::settled_batches(conn, before, BATCHES_PER_ROUND).await?;
        if batches.is_empty() {
            return Ok(total);
        }
        let mut deleted = 0;
        loop {
            let chunk_deleted =
                retention::delete_deliveries_of(conn, &batches, before, chunk).await?;
            deleted += chunk_deleted;
            if less_than(chunk_deleted, chunk) {
                break;
            }
        }
        if deleted == 0 {
            return Ok(total);
        }
        total += deleted;
    }
}
