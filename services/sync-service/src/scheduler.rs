//! The scheduler every replica runs: it announces due work with `sync.due.v1` on the company's
//! queue, so that only the company's active consumer sends. The company state rows are locked
//! with SKIP LOCKED, so one replica announces each company.

use std::sync::Arc;
use std::time::Duration;

use diesel_async::AsyncConnection;
use domain::{CompanyId, DueReason, SyncDueV1};
use tokio::task::JoinHandle;

use crate::runtime::{CompanyWorkers, SyncContext};
use crate::store::{companies, deliveries, replicas, status};

/// How often each replica looks for due work.
pub const TICK: Duration = Duration::from_secs(1);
/// A company announced this recently is not announced again, whichever replica did it.
const QUIET_SECONDS: i64 = 2;

/// Runs until aborted; owns the registry, so aborting it stops the companies' consumers and
/// senders too.
pub fn spawn(shared: Arc<SyncContext>, registry: Arc<CompanyWorkers>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match heartbeat(&shared).await {
                Ok(alive) => registry.share(alive),
                Err(error) => tracing::warn!(%error, "heartbeat not written"),
            }
            registry.ensure_directory().await;
            if let Err(error) = announce_due(&shared).await {
                tracing::warn!(%error, "scheduler round failed");
            }
            tokio::time::sleep(TICK).await;
        }
    })
}

/// A replica not seen for this long no longer shares the companies (a tick is a second; a busy
/// database can delay a few).
const ALIVE_FOR: Duration = Duration::from_secs(10);
/// Rows of replicas gone for this long are removed.
const FORGOTTEN_AFTER: Duration = Duration::from_secs(3600);

/// Records this replica as running and returns the replicas alive, this one included.
pub async fn heartbeat(shared: &SyncContext) -> Result<Vec<String>, db::DbError> {
    let now = shared.clock.now();
    let mut conn = db::connection(&shared.pool).await?;
    replicas::beat(&mut conn, &shared.replica_id, now).await?;
    Ok(replicas::alive(&mut conn, before(now, ALIVE_FOR)).await?)
}

/// This replica stops: the others share its companies at their next tick.
pub async fn leave(shared: &SyncContext) -> Result<(), db::DbError> {
    let now = shared.clock.now();
    let mut conn = db::connection(&shared.pool).await?;
    replicas::forget(&mut conn, &shared.replica_id, before(now, FORGOTTEN_AFTER)).await?;
    Ok(())
}

fn before(now: chrono::DateTime<chrono::Utc>, span: Duration) -> chrono::DateTime<chrono::Utc> {
    now - chrono::TimeDelta::from_std(span).unwrap_or(chrono::TimeDelta::MAX)
}

/// One round: publishes `sync.due.v1` for every company with due work nobody is sending.
pub async fn announce_due(shared: &SyncContext) -> Result<usize, db::DbError> {
    let now = shared.clock.now();
    let mut conn = db::connection(&shared.pool).await?;
    let announced = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            let due = deliveries::companies_due(conn, now, QUIET_SECONDS).await?;
            let ids: Vec<i64> = due.iter().map(|d| d.company_id).collect();
            companies::mark_due_published(conn, &ids, now).await?;
            for company in &due {
                let reason = if company.scheduled {
                    DueReason::Schedule
                } else {
                    DueReason::Retry
                };
                status::enqueue(
                    conn,
                    &SyncDueV1 {
                        company_id: CompanyId(company.company_id),
                        reason,
                    },
                )
                .await?;
            }
            Ok(ids.len())
        })
        .await?;
    if announced > 0 {
        shared.relay.wake();
    }
    Ok(announced)
}
