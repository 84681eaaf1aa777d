//! What a service's outbox shows of its relay.

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

/// How many rows of the outbox in `schema` the relay tried to publish and the broker refused:
/// still unsent, with an attempt counted. Seen once the relay has met a broker outage.
pub async fn refused_outbox_rows(database_url: &str, schema: &str) -> Result<i64, String> {
    #[derive(diesel::QueryableByName)]
    struct Refused {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = AsyncPgConnection::establish(database_url)
        .await
        .map_err(|e| e.to_string())?;
    let refused: Refused = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM {schema}.outbox WHERE sent_at IS NULL AND attempts > 0"
    ))
    .get_result(&mut conn)
    .await
    .map_err(|e| e.to_string())?;
    Ok(refused.n)
}
