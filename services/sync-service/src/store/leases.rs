//! The per-company sender lease (docs/architecture.md#delivery-rules): a replica calls Bayzat for a company only while
//! it holds the company's unexpired lease, and writes each request's start into it first.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;

use super::{Conn, QueryResult};

/// A lease this replica holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, QueryableByName)]
pub struct Lease {
    #[diesel(sql_type = BigInt)]
    pub epoch: i64,
    /// When the last request to Bayzat for the company started, whoever sent it.
    #[diesel(sql_type = Nullable<Timestamptz>)]
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

#[derive(QueryableByName)]
struct Held {
    #[diesel(sql_type = BigInt)]
    #[allow(dead_code)]
    epoch: i64,
}

/// Locks the company's lease row (`FOR SHARE`, until the transaction ends) while `fence` still
/// holds it; false when another holder or epoch has it. Called first in a sender's write
/// transaction: a takeover (an update of that row) then waits for the write to commit, and a
/// write after a takeover sees the new epoch and stops.
///
/// Expiry does not matter here: an expired lease nobody took over still has this epoch, and
/// nobody else has touched the company's deliveries.
pub async fn hold(conn: &mut Conn, fence: &Fence) -> QueryResult<bool> {
    let rows: Vec<Held> = diesel::sql_query(
        "SELECT epoch FROM sync.sender_leases \
         WHERE company_id = $1 AND holder = $2 AND epoch = $3 FOR SHARE",
    )
    .bind::<BigInt, _>(fence.company_id)
    .bind::<Text, _>(&fence.holder)
    .bind::<BigInt, _>(fence.epoch)
    .load(conn)
    .await?;
    Ok(!rows.is_empty())
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
    let mut rows: Vec<Lease> = diesel::sql_query(
        "INSERT INTO sync.sender_leases (company_id, holder, epoch, expires_at) \
         VALUES ($1, $2, 1, $4) ON CONFLICT (company_id) DO UPDATE SET \
           epoch = CASE WHEN sender_leases.holder = EXCLUDED.holder \
                        AND sender_leases.expires_at > $3 \
                   THEN sender_leases.epoch ELSE sender_leases.epoch + 1 END, \
           holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at \
         WHERE sender_leases.holder = EXCLUDED.holder OR sender_leases.expires_at <= $3 \
         RETURNING epoch, last_request_started_at",
    )
    .bind::<BigInt, _>(company_id)
    .bind::<Text, _>(holder)
    .bind::<Timestamptz, _>(now)
    .bind::<Timestamptz, _>(plus(now, ttl))
    .load(conn)
    .await?;
    Ok(rows.pop())
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
    let updated = diesel::sql_query(
        "UPDATE sync.sender_leases SET last_request_started_at = $4, expires_at = $5 \
         WHERE company_id = $1 AND holder = $2 AND epoch = $3 AND expires_at > $4",
    )
    .bind::<BigInt, _>(company_id)
    .bind::<Text, _>(holder)
    .bind::<BigInt, _>(epoch)
    .bind::<Timestamptz, _>(now)
    .bind::<Timestamptz, _>(plus(now, ttl))
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
    let updated = diesel::sql_query(
        "UPDATE sync.sender_leases SET expires_at = $4 \
         WHERE company_id = $1 AND holder = $2 AND epoch = $3 AND expires_at > $5",
    )
    .bind::<BigInt, _>(company_id)
    .bind::<Text, _>(holder)
    .bind::<BigInt, _>(epoch)
    .bind::<Timestamptz, _>(plus(now, ttl))
    .bind::<Timestamptz, _>(now)
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
    diesel::sql_query(
        "UPDATE sync.sender_leases SET expires_at = $4 \
         WHERE company_id = $1 AND holder = $2 AND epoch = $3 AND expires_at > $4",
    )
    .bind::<BigInt, _>(company_id)
    .bind::<Text, _>(holder)
    .bind::<BigInt, _>(epoch)
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await
    .map(drop)
}
