//! Postgres access shared by the services: a diesel-async connection pool, embedded migrations
//! run into the service's own schema, a readiness probe, what a storage failure means
//! (the database away, or a defect: [`Failure`]), and statements planned once per connection
//! ([`Prepared`]).
//!
//! One database, one schema per service (docs/architecture.md#shape): a service's tables are schema-qualified in
//! its diesel `table!` definitions, and its migrations (and diesel's own bookkeeping table) live in
//! that schema, so services never see each other's migration history.

use std::time::Duration;

use deadpool::Runtime;
use diesel::connection::SimpleConnection;
use diesel::Connection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::{Object, Pool as DeadPool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use diesel_migrations::MigrationHarness;
pub use diesel_migrations::{embed_migrations, EmbeddedMigrations};

mod error;
pub use error::{failure_of, is_unique_violation, DbError, Failure};
mod prepared;
pub use prepared::{Prepared, PreparedStatement};

#[doc(hidden)]
pub use diesel as __diesel;

/// Implements `From<diesel::result::Error>` for each error enum given, as its
/// `Storage(DbError)` variant: storage functions return diesel's result, and `?` in a handler or
/// a transaction then says "a storage failure" in the area's own error type.
#[macro_export]
macro_rules! query_errors_are_storage_failures {
    ($($error:ty),+ $(,)?) => {$(
        impl From<$crate::__diesel::result::Error> for $error {
            fn from(error: $crate::__diesel::result::Error) -> Self {
                Self::Storage($crate::DbError::Query(error))
            }
        }
    )+};
}

/// The pool every service uses.
pub type Pool = DeadPool<AsyncPgConnection>;
/// A connection checked out of the [`Pool`].
pub type PooledConnection = Object<AsyncPgConnection>;

/// How long a caller waits for a connection before the database counts as unreachable. Short, so
/// that /readyz answers promptly while Postgres is away instead of hanging.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(3);

/// Builds a pool of at most `max_size` connections. Connections are opened lazily, and one whose
/// server closed it (a Postgres restart) or that was left inside a transaction is replaced when it
/// is next checked out, so a pool outlives a restart.
///
/// A checkout sends no test query: a sender checks out a connection for each step of each
/// request, and a `SELECT 1` round trip per checkout was the most frequent statement the database
/// ran under load. A connection that breaks between the check and its use fails that use, which
/// callers already treat as the database being away.
pub fn pool(database_url: &str, max_size: usize) -> Result<Pool, DbError> {
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    let manager =
        AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(database_url, config);
    DeadPool::builder(manager)
        .max_size(max_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(CHECKOUT_TIMEOUT))
        .create_timeout(Some(CHECKOUT_TIMEOUT))
        .recycle_timeout(Some(CHECKOUT_TIMEOUT))
        .build()
        .map_err(|e| DbError::Pool(e.to_string()))
}

/// Checks out a connection.
pub async fn connection(pool: &Pool) -> Result<PooledConnection, DbError> {
    pool.get()
        .await
        .map_err(|e| DbError::Unreachable(e.to_string()))
}

/// True when Postgres answers a query right now (used by /readyz).
pub async fn ping(pool: &Pool) -> Result<(), DbError> {
    let probe = async {
        let mut conn = connection(pool).await?;
        diesel::sql_query("SELECT 1").execute(&mut conn).await?;
        Ok::<_, DbError>(())
    };
    tokio::time::timeout(CHECKOUT_TIMEOUT, probe)
        .await
        .map_err(|_| DbError::Unreachable("timed out".into()))?
}

/// Creates `schema` when needed and runs the pending `migrations` inside it, one process at a
/// time per schema.
///
/// diesel's migration runner is synchronous; it runs on a blocking thread over diesel-async's
/// connection wrapper, so no libpq is needed and any runtime flavour works.
pub async fn run_migrations(
    database_url: &str,
    schema: &str,
    migrations: EmbeddedMigrations,
) -> Result<(), DbError> {
    if schema.is_empty() || !schema.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
        return Err(DbError::InvalidSchema(schema.to_owned()));
    }
    let url = database_url.to_owned();
    let schema_name = schema.to_owned();
    let failure = |message: String| DbError::Migration {
        schema: schema_name.clone(),
        message,
    };
    let schema_for_task = schema.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
            .map_err(|e| e.to_string())?;
        // Replicas starting together would otherwise race to create the schema and diesel's
        // bookkeeping table (Postgres answers such a race with a unique violation in its
        // catalogue). The lock is the session's, so it goes with the connection.
        conn.batch_execute(&format!(
            "SELECT pg_advisory_lock(hashtext('bridge.migrations.{schema_for_task}')); \
             CREATE SCHEMA IF NOT EXISTS {schema_for_task}; SET search_path TO {schema_for_task}"
        ))
        .map_err(|e| e.to_string())?;
        let applied = conn
            .run_pending_migrations(migrations)
            .map_err(|e| e.to_string())?;
        for version in applied {
            tracing::info!(schema = %schema_for_task, %version, "migration applied");
        }
        Ok::<_, String>(())
    })
    .await
    .map_err(|e| failure(e.to_string()))?
    .map_err(failure)
}

/// Waits until Postgres accepts a connection, so a service started before its database waits
/// for it instead of crash-looping.
pub async fn wait_until_reachable(database_url: &str) {
    let mut delay = Duration::from_millis(250);
    loop {
        let attempt = tokio::time::timeout(
            CHECKOUT_TIMEOUT,
            <AsyncPgConnection as diesel_async::AsyncConnection>::establish(database_url),
        )
        .await;
        match attempt {
            Ok(Ok(_)) => return,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "database not reachable yet")
            }
            Err(_) => tracing::warn!(
                retry_in_ms = delay.as_millis() as u64,
                "database not reachable yet: timed out"
            ),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn schema_names_are_checked_before_use() {
        let err = run_migrations("postgres://unused", "x; DROP", EMPTY)
            .await
            .unwrap_err();
        assert!(matches!(err, DbError::InvalidSchema(_)));
    }

    const EMPTY: EmbeddedMigrations = EmbeddedMigrations::new(&[]);
}
