//! What a storage failure means for the work that met it: the database was away (the same work
//! is expected to succeed shortly) or something is wrong with the code or the data (trying again
//! changes nothing). The services answer the first with 503 and a `Retry-After`, log the second
//! as an error and answer 500; message consumers retry the first in place.

use diesel::result::{DatabaseErrorKind, Error as QueryError};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database pool: {0}")]
    Pool(String),
    #[error("database query: {0}")]
    Query(#[from] QueryError),
    #[error("database unreachable: {0}")]
    Unreachable(String),
    #[error("migrations of schema {schema}: {message}")]
    Migration { schema: String, message: String },
    #[error("invalid schema name {0:?}")]
    InvalidSchema(String),
}

/// Which kind of storage failure an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The database could not do the work this time: no connection to be had (refused, timed
    /// out, pool exhausted), the connection lost or terminated under a query, the server
    /// shutting down or starting up, or a transaction that lost a serialization race or a
    /// deadlock. The same work is expected to succeed once the database is back (the pool
    /// replaces broken connections by itself). A transaction whose connection went while it
    /// committed may have been committed: a retry has to be safe to repeat.
    Unavailable,
    /// Trying again changes nothing: a row expected and missing (`NotFound`), a constraint
    /// violation the caller did not turn into an answer of its own, a query that does not fit
    /// the schema, a value that does not convert. A bug or bad data; someone has to look.
    Defect,
}

impl DbError {
    pub fn failure(&self) -> Failure {
        match self {
            DbError::Unreachable(_) => Failure::Unavailable,
            DbError::Query(error) => failure_of(error),
            // Both happen at start only: a pool that cannot be built (its settings) and
            // migrations that do not apply; the database's absence is waited out before either.
            DbError::Pool(_) | DbError::Migration { .. } | DbError::InvalidSchema(_) => {
                Failure::Defect
            }
        }
    }

    pub fn is_unavailable(&self) -> bool {
        self.failure() == Failure::Unavailable
    }
}

/// Whether a query failed on a unique constraint: a name or key taken already, which the
/// routes that insert one answer with a 409 of their own.
pub fn is_unique_violation(error: &QueryError) -> bool {
    matches!(
        error,
        QueryError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Classifies a query's error.
pub fn failure_of(error: &QueryError) -> Failure {
    match error {
        QueryError::DatabaseError(kind, info) => match kind {
            // diesel-async reports every failure that got no answer from the server (a closed
            // socket, a connection reset, the connection task gone) as UnableToSendCommand.
            DatabaseErrorKind::ClosedConnection
            | DatabaseErrorKind::UnableToSendCommand
            | DatabaseErrorKind::SerializationFailure
            // Only while a failover leaves the service on a standby: nothing here asks for a
            // read-only transaction.
            | DatabaseErrorKind::ReadOnlyTransaction => Failure::Unavailable,
            DatabaseErrorKind::UniqueViolation
            | DatabaseErrorKind::ForeignKeyViolation
            | DatabaseErrorKind::NotNullViolation
            | DatabaseErrorKind::CheckViolation
            | DatabaseErrorKind::RestrictViolation
            | DatabaseErrorKind::ExclusionViolation => Failure::Defect,
            _ if server_gave_up(info.message()) => Failure::Unavailable,
            _ => Failure::Defect,
        },
        // The transaction manager breaks when a rollback could not be sent: the connection went.
        QueryError::BrokenTransactionManager => Failure::Unavailable,
        QueryError::RollbackErrorOnCommit {
            rollback_error,
            commit_error,
        } => {
            if failure_of(rollback_error) == Failure::Unavailable
                || failure_of(commit_error) == Failure::Unavailable
            {
                Failure::Unavailable
            } else {
                Failure::Defect
            }
        }
        _ => Failure::Defect,
    }
}

/// Postgres errors that end a session or a transaction through no fault of the query, which
/// diesel-async passes on without their SQLSTATE (as `DatabaseErrorKind::Unknown`), so only the
/// server's message tells them apart. Postgres words them in English unless `lc_messages` says
/// otherwise; a server set to another language makes them read as defects (500), never the
/// reverse.
fn server_gave_up(message: &str) -> bool {
    const PREFIXES: &[&str] = &[
        // 57P01 (pg_terminate_backend, a fast shutdown), 57P02 (another backend crashed),
        // 57P05 and 25P03 (idle timeouts), and conflicts with recovery on a standby.
        "terminating connection",
        // 57P03: starting up, shutting down, in recovery, not yet accepting connections.
        "the database system is",
        // 40P01: a retry takes the locks again, in an order that now works.
        "deadlock detected",
    ];
    PREFIXES.iter().any(|prefix| message.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(kind: DatabaseErrorKind, message: &str) -> QueryError {
        QueryError::DatabaseError(kind, Box::new(message.to_owned()))
    }

    #[test]
    fn outages_and_lost_races_are_unavailable_and_the_rest_are_defects() {
        use DatabaseErrorKind as Kind;
        let table = [
            (
                database(Kind::UnableToSendCommand, "connection closed"),
                Failure::Unavailable,
            ),
            (
                database(Kind::ClosedConnection, "server closed the connection"),
                Failure::Unavailable,
            ),
            (
                database(
                    Kind::Unknown,
                    "terminating connection due to administrator command",
                ),
                Failure::Unavailable,
            ),
            (
                database(Kind::Unknown, "the database system is shutting down"),
                Failure::Unavailable,
            ),
            (
                database(
                    Kind::SerializationFailure,
                    "could not serialize access due to concurrent update",
                ),
                Failure::Unavailable,
            ),
            (
                database(Kind::Unknown, "deadlock detected"),
                Failure::Unavailable,
            ),
            (QueryError::BrokenTransactionManager, Failure::Unavailable),
            (
                QueryError::RollbackErrorOnCommit {
                    rollback_error: Box::new(database(Kind::UnableToSendCommand, "closed")),
                    commit_error: Box::new(database(Kind::Unknown, "whatever")),
                },
                Failure::Unavailable,
            ),
            (QueryError::NotFound, Failure::Defect),
            (
                database(
                    Kind::UniqueViolation,
                    "duplicate key value violates unique constraint",
                ),
                Failure::Defect,
            ),
            (
                database(Kind::ForeignKeyViolation, "violates foreign key constraint"),
                Failure::Defect,
            ),
            (
                database(Kind::CheckViolation, "violates check constraint"),
                Failure::Defect,
            ),
            (
                database(Kind::Unknown, "relation \"config.nothing\" does not exist"),
                Failure::Defect,
            ),
            (
                database(Kind::Unknown, "syntax error at or near \"SELEC\""),
                Failure::Defect,
            ),
            (QueryError::RollbackTransaction, Failure::Defect),
        ];
        for (error, expected) in table {
            assert_eq!(failure_of(&error), expected, "{error:?}");
        }
    }

    #[test]
    fn an_unreachable_database_is_unavailable_and_a_failed_start_is_a_defect() {
        let table = [
            (
                DbError::Unreachable("timed out".into()),
                Failure::Unavailable,
            ),
            (
                DbError::Query(database(DatabaseErrorKind::UnableToSendCommand, "closed")),
                Failure::Unavailable,
            ),
            (DbError::Query(QueryError::NotFound), Failure::Defect),
            (DbError::Pool("no runtime".into()), Failure::Defect),
            (DbError::InvalidSchema("x; DROP".into()), Failure::Defect),
        ];
        for (error, expected) in table {
            assert_eq!(error.failure(), expected, "{error}");
            assert_eq!(error.is_unavailable(), expected == Failure::Unavailable);
        }
    }
}
