use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::{Conn, QueryResult};
use crate::schema::directory_version;

/// Moves the directory's version on; call it in the transaction of every change the snapshot
/// shows, so its ETag changes exactly when its content does.
pub async fn bump_version(conn: &mut Conn) -> QueryResult<i64> {
    diesel::update(directory_version::table)
        .set(directory_version::version.eq(directory_version::version + 1))
        .returning(directory_version::version)
        .get_result(conn)
        .await
}

/// The directory's current version.
pub async fn version(conn: &mut Conn) -> QueryResult<i64> {
    directory_version::table
        .select(directory_version::version)
        .first(conn)
        .await
}
