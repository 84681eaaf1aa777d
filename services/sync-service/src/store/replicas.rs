//! The replicas running, by their heartbeats: what they share the companies among.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;

use super::{Conn, QueryResult};
use crate::schema::replicas::{self, dsl};

/// Records that `replica_id` runs now.
pub async fn beat(conn: &mut Conn, replica_id: &str, now: DateTime<Utc>) -> QueryResult<()> {
    diesel::insert_into(replicas::table)
        .values((dsl::replica_id.eq(replica_id), dsl::seen_at.eq(now)))
        .on_conflict(dsl::replica_id)
        .do_update()
        .set(dsl::seen_at.eq(excluded(dsl::seen_at)))
        .execute(conn)
        .await?;
    Ok(())
}

/// The replicas seen since `since`, by name.
pub async fn alive(conn: &mut Conn, since: DateTime<Utc>) -> QueryResult<Vec<String>> {
    replicas::table
        .filter(dsl::seen_at.ge(since))
        .order(dsl::replica_id)
        .select(dsl::replica_id)
        .load(conn)
        .await
}

/// A replica that stops says so, so the others share its companies at once; replicas not seen
/// for long (a crash) are removed along the way.
pub async fn forget(
    conn: &mut Conn,
    replica_id: &str,
    seen_before: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::delete(
        replicas::table.filter(
            dsl::replica_id
                .eq(replica_id)
                .or(dsl::seen_at.lt(seen_before)),
        ),
    )
    .execute(conn)
    .await?;
    Ok(())
}
