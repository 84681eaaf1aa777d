//! The per-company sender lease (docs/architecture.md#delivery-rules): a replica calls Bayzat for a company only while
//! it holds the company's unexpired lease, and writes each request's start into it first.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use db::Prepared;
use diesel::dsl::case_when;
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;

use super::{Conn, QueryResult};
use crate::schema::sender_leases::{self, dsl};

/// A lease this replica holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = sender_leases)]
pub struct Lease {
    pub epoch: i64,
    /// When the last request to Bayzat for the company started, whoever sent it.
    pub last_request_started_at: Option<DateTime<Utc>>,
}

/// Who writes for a company's sender: the lease's holder and the epoch it acquired. Every write
/// a sender makes about deliveries is conditional on the lease still carrying both, so a sender
/// whose lease was taken over writes nothing (a takeover moves the epoch on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub company_id: i64,
    pub holder: String,
    pub epoch: i64,
}

/// Locks the company's lease row (`FOR SHARE`, until the transaction ends) while `fence` still
/// holds it; false when another holder or epoch has it. Called first in a sender's write
/// transaction: a takeover (an update of that row) then waits for the write to commit, and a
/// write after a takeover sees the new epoch and stops.
///
/// Expiry does not matter here: an expired lease nobody took over still has this epoch, and
/// nobody else has touched the company's deliveries.
pub async fn hold(conn: &mut Conn, fence: &Fence) -> QueryResult<bool> {
    let held: Vec<i64> = sender_leases::table
        .filter(dsl::company_id.eq(fence.company_id))
        .filter(dsl::holder.eq(&fence.holder))
        .filter(dsl::epoch.eq(fence.epoch))
        .select(dsl::epoch)
        .for_share()
        .load(conn)
        .await?;
    Ok(!held.is_empty())
}

fn plus(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    now + TimeDelta::from_std(ttl).unwrap_or(TimeDelta::seconds(15))
}

/// Takes or renews the company's lease. `None` while another replica holds it unexpired. A
/// takeover moves the epoch on, which fences every write of the previous holder.
pub async fn acquire(
    conn: &mut Conn,
    company_id: i64,
    holder: &str,
    now: DateTime<Utc>,
    ttl: Duration,
) -> QueryResult<Option<Lease>> {
    // The `filter` of `ON CONFLICT … DO UPDATE … WHERE`, which `QueryDsl` does not cover.
    use diesel::query_dsl::methods::FilterDsl;
    diesel::insert_into(sender_leases::table)
        .values((
            dsl::company_id.eq(company_id),
            dsl::holder.eq(holder),
            dsl::epoch.eq(1),
            dsl::expires_at.eq(plus(now, ttl)),
        ))
        .on_conflict(dsl::company_id)
        .do_update()
        .set((
            dsl::epoch.eq(case_when(
                dsl::holder
                    .eq(excluded(dsl::holder))
                    .and(dsl::expires_at.gt(now)),
                dsl::epoch,
            )
            .otherwise(dsl::epoch + 1)),
            dsl::holder.eq(excluded(dsl::holder)),
            dsl::expires_at.eq(excluded(dsl::expires_at)),
        ))
        .filter(
            dsl::holder
                .eq(excluded(dsl::holder))
                .or(dsl::expires_at.le(now)),
        )
        .returning(Lease::as_returning())
        .prepared()
        .get_result(conn)
        .await
        .optional()
}

/// Records that a request starts now and renews the lease, only while this holder still holds
/// it with this epoch. False means the lease was lost: send nothing.
pub async fn record_start(
    conn: &mut Conn,
    company_id: i64,
    holder: &str,
    epoch: i64,
    now: DateTime<Utc>,
    ttl: Duration,
) -> QueryResult<bool> {
    let updated = diesel::update(sender_leases::table)
        .filter(dsl::company_id.eq(company_id))
        .filter(dsl::holder.eq(holder))
        .filter(dsl::epoch.eq(epoch))
        .filter(dsl::expires_at.gt(now))
        .set((
            dsl::last_request_started_at.eq(now),
            dsl::expires_at.eq(plus(now, ttl)),
        ))
        .prepared()
        .execute(conn)
        .await?;
    Ok(updated == 1)
}

/// Renews the lease without recording a request (while waiting). False when it was lost.
pub async fn renew(
    conn: &mut Conn,
    company_id: i64,
    holder: &str,
    epoch: i64,
    now: DateTime<Utc>,
    ttl: Duration,
) -> QueryResult<bool> {
    let updated = diesel::update(sender_leases::table)
        .filter(dsl::company_id.eq(company_id))
        .filter(dsl::holder.eq(holder))
        .filter(dsl::epoch.eq(epoch))
        .filter(dsl::expires_at.gt(now))
        .set(dsl::expires_at.eq(plus(now, ttl)))
        .prepared()
        .execute(conn)
        .await?;
    Ok(updated == 1)
}

/// Gives the lease up after a drain, so another replica that becomes the company's consumer
/// need not wait for it to expire. The last request's start stays, and with it the pacing.
pub async fn release(
    conn: &mut Conn,
    company_id: i64,
    holder: &str,
    epoch: i64,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(sender_leases::table)
        .filter(dsl::company_id.eq(company_id))
        .filter(dsl::holder.eq(holder))
        .filter(dsl::epoch.eq(epoch))
        .filter(dsl::expires_at.gt(now))
        .set(dsl::expires_at.eq(now))
        .prepared()
        .execute(conn)
        .await
        .map(drop)
}
