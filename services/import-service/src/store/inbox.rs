//! `processed_messages`: the ids of the messages import-service has handled, so a message
//! delivered again changes nothing.

use std::collections::HashSet;

use db::Prepared;
use diesel::sql_types::{Array, Text, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::{Conn, QueryResult};

/// Records the messages `ids` as handled, in the caller's transaction; returns those handled for
/// the first time (each once, however often it is given).
pub async fn first_deliveries(
    conn: &mut Conn,
    ids: &[Uuid],
    message_type: &str,
) -> QueryResult<HashSet<Uuid>> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    #[derive(QueryableByName)]
    struct Inserted {
        #[diesel(sql_type = SqlUuid)]
        message_id: Uuid,
    }
    let inserted: Vec<Inserted> = diesel::sql_query(
        "INSERT INTO import.processed_messages (message_id, message_type) \
         SELECT DISTINCT id, $2 FROM UNNEST($1::uuid[]) AS id \
         ON CONFLICT (message_id) DO NOTHING RETURNING message_id",
    )
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Text, _>(message_type)
    .prepared()
    .load(conn)
    .await?;
    Ok(inserted.into_iter().map(|row| row.message_id).collect())
}
