//! What can fail in sync-service's API, one enum per area, and the one place where each failure
//! becomes its problem+json answer: status, a stable `code`, title and detail. Handlers return
//! these with `?`.
//!
//! The Display of a variant a caller can fix is the answer's detail. Storage failures go through
//! service-kit (503 `database_unavailable` with `Retry-After` when the database was away, 500
//! `internal` otherwise); a 5xx is logged with its cause (the driver's, the directory client's or
//! the broker's words) and never shows it.

use actix_web::http::StatusCode;
use chrono::{DateTime, Utc};
use db::DbError;
use directory::DirectoryError;
use domain::UnknownVariant;
use service_kit::{ApiError, Problem, OUTAGE_RETRY_AFTER};

/// The code of a storage failure's answer.
fn storage_code(error: &DbError) -> &'static str {
    service_kit::storage_code(error.failure())
}

/// Implements, for each enum: `From<diesel::result::Error>` as a storage failure
/// (`db::query_errors_are_storage_failures!`), `From<Problem>` as a refusal of the caller's
/// rights (what `Caller::require` answers), and `From<DirectoryError>` as the directory away.
macro_rules! area_errors {
    ($($error:ty),+) => {$(
        db::query_errors_are_storage_failures!($error);

        impl From<Problem> for $error {
            fn from(refusal: Problem) -> Self {
                Self::Access(AccessError::Refused(refusal))
            }
        }

        impl From<DirectoryError> for $error {
            fn from(error: DirectoryError) -> Self {
                Self::Access(AccessError::DirectoryUnavailable(error))
            }
        }
    )+};
}

/// What any request meets before its own work: the caller's rights, and the company directory
/// (config-service's), which says which companies there are and which of them the caller sees.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The token may not do this: auth's answer (401/403), passed on as it is.
    #[error("{0}")]
    Refused(Problem),
    /// config-service did not hand out the directory.
    #[error(transparent)]
    DirectoryUnavailable(#[from] DirectoryError),
    /// No company with that id or slug, or one the token may not see.
    #[error("no such company")]
    NoSuchCompany,
}

impl From<Problem> for AccessError {
    fn from(refusal: Problem) -> Self {
        AccessError::Refused(refusal)
    }
}

impl AccessError {
    pub fn code(&self) -> &str {
        match self {
            AccessError::Refused(problem) => &problem.code,
            AccessError::DirectoryUnavailable(_) => "config_service_unavailable",
            AccessError::NoSuchCompany => "not_found",
        }
    }
}

/// Batches: listed, read, retried.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(transparent)]
    Access(#[from] AccessError),
    /// No batch with that id, or one of a company the token may not see.
    #[error("no such batch")]
    NoSuchBatch,
    #[error(transparent)]
    Storage(#[from] DbError),
}

impl BatchError {
    pub fn code(&self) -> &str {
        match self {
            BatchError::Access(error) => error.code(),
            BatchError::NoSuchBatch => "not_found",
            BatchError::Storage(error) => storage_code(error),
        }
    }
}

/// Sync now (of a company or an import) and a company's sync figures (health, usage).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Access(#[from] AccessError),
    /// No deliveries of the import among the token's companies.
    #[error("no such import")]
    NoSuchImport,
    /// The import concerns companies the token does not cover: not the token's to push.
    #[error("this token does not cover every company of the import")]
    ImportBeyondToken,
    #[error(transparent)]
    Storage(#[from] DbError),
}

impl SyncError {
    pub fn code(&self) -> &str {
        match self {
            SyncError::Access(error) => error.code(),
            SyncError::NoSuchImport => "not_found",
            SyncError::ImportBeyondToken => "forbidden_company",
            SyncError::Storage(error) => storage_code(error),
        }
    }
}

/// The delivery list.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The `state` filter is no delivery state.
    #[error("{0}")]
    InvalidState(UnknownVariant),
    #[error(transparent)]
    Storage(#[from] DbError),
}

impl DeliveryError {
    pub fn code(&self) -> &str {
        match self {
            DeliveryError::Access(error) => error.code(),
            DeliveryError::InvalidState(_) => "invalid_state",
            DeliveryError::Storage(error) => storage_code(error),
        }
    }
}

/// Dead letters: listed and replayed.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The `state` filter is not waiting, replayed or all.
    #[error("state is waiting, replayed or all")]
    InvalidState,
    /// No dead letter with that id, or one of a company the token may not see.
    #[error("no such dead letter")]
    NoSuchDeadLetter,
    /// A dead letter is replayed once.
    #[error("this dead letter was replayed at {0}")]
    AlreadyReplayed(DateTime<Utc>),
    /// RabbitMQ did not take the message back; nothing was replayed.
    #[error("the dead letter could not be republished: {0}")]
    BrokerUnavailable(#[source] bus::PublishError),
    #[error(transparent)]
    Storage(#[from] DbError),
}

impl DeadLetterError {
    pub fn code(&self) -> &str {
        match self {
            DeadLetterError::Access(error) => error.code(),
            DeadLetterError::InvalidState => "invalid_state",
            DeadLetterError::NoSuchDeadLetter => "not_found",
            DeadLetterError::AlreadyReplayed(_) => "already_replayed",
            DeadLetterError::BrokerUnavailable(_) => "broker_unavailable",
            DeadLetterError::Storage(error) => storage_code(error),
        }
    }
}

area_errors!(BatchError, SyncError, DeliveryError, DeadLetterError);

// The answers, each next to the others.

impl ApiError for AccessError {
    fn problem(&self) -> Problem {
        match self {
            AccessError::Refused(problem) => problem.clone(),
            AccessError::DirectoryUnavailable(_) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                self.code(),
                "The company directory is not reachable right now",
            )
            .with_detail("try again shortly")
            .with_retry_after(OUTAGE_RETRY_AFTER),
            AccessError::NoSuchCompany => Problem::not_found("company"),
        }
    }
}

impl ApiError for BatchError {
    fn problem(&self) -> Problem {
        match self {
            BatchError::Access(error) => error.problem(),
            BatchError::NoSuchBatch => Problem::not_found("batch"),
            BatchError::Storage(error) => Problem::storage(error.failure()),
        }
    }
}

impl ApiError for SyncError {
    fn problem(&self) -> Problem {
        match self {
            SyncError::Access(error) => error.problem(),
            SyncError::NoSuchImport => Problem::not_found("import"),
            SyncError::ImportBeyondToken => Problem::new(
                StatusCode::FORBIDDEN,
                self.code(),
                "The import concerns other companies too",
            )
            .with_detail(self.to_string()),
            SyncError::Storage(error) => Problem::storage(error.failure()),
        }
    }
}

impl ApiError for DeliveryError {
    fn problem(&self) -> Problem {
        match self {
            DeliveryError::Access(error) => error.problem(),
            DeliveryError::InvalidState(_) => Problem::unprocessable(self.code(), self.to_string()),
            DeliveryError::Storage(error) => Problem::storage(error.failure()),
        }
    }
}

impl ApiError for DeadLetterError {
    fn problem(&self) -> Problem {
        let (code, detail) = (self.code(), self.to_string());
        match self {
            DeadLetterError::Access(error) => error.problem(),
            DeadLetterError::InvalidState => Problem::unprocessable(code, detail),
            DeadLetterError::NoSuchDeadLetter => Problem::not_found("dead letter"),
            DeadLetterError::AlreadyReplayed(_) => Problem::conflict(code, detail),
            DeadLetterError::BrokerUnavailable(_) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code,
                "RabbitMQ did not take the message; nothing was replayed",
            )
            .with_detail("try again once the broker is back")
            .with_retry_after(OUTAGE_RETRY_AFTER),
            DeadLetterError::Storage(error) => Problem::storage(error.failure()),
        }
    }
}

service_kit::api_errors!(
    AccessError,
    BatchError,
    SyncError,
    DeliveryError,
    DeadLetterError
);

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorKind, Error as QueryError};

    use super::*;

    /// Status, code, detail and `Retry-After` of each answer.
    fn answer(error: impl ApiError) -> (u16, String, Option<String>, Option<u64>) {
        let problem = error.problem();
        (
            problem.status,
            problem.code.clone(),
            problem.detail.clone(),
            problem.retry_after().map(|wait| wait.as_secs()),
        )
    }

    fn lost_connection() -> DbError {
        DbError::Query(QueryError::DatabaseError(
            DatabaseErrorKind::UnableToSendCommand,
            Box::new("connection closed by peer 10.0.0.7".to_owned()),
        ))
    }

    #[test]
    fn each_failure_has_its_status_and_code_and_never_a_librarys_words() {
        let table = [
            (
                answer(BatchError::Access(AccessError::NoSuchCompany)),
                (404, "not_found", None, None),
            ),
            (
                answer(BatchError::NoSuchBatch),
                (404, "not_found", None, None),
            ),
            (
                answer(BatchError::Storage(lost_connection())),
                (503, "database_unavailable", None, Some(5)),
            ),
            (
                answer(SyncError::Storage(DbError::Query(QueryError::NotFound))),
                (500, "internal", None, None),
            ),
            (
                answer(SyncError::Access(AccessError::DirectoryUnavailable(
                    DirectoryError::Unreachable("tcp connect error 10.0.0.7:8081".into()),
                ))),
                (
                    503,
                    "config_service_unavailable",
                    Some("try again shortly"),
                    Some(5),
                ),
            ),
            (
                answer(SyncError::ImportBeyondToken),
                (
                    403,
                    "forbidden_company",
                    Some("this token does not cover every company of the import"),
                    None,
                ),
            ),
            (
                answer(SyncError::NoSuchImport),
                (404, "not_found", None, None),
            ),
            (
                answer(DeliveryError::InvalidState(
                    "lost".parse::<domain::DeliveryState>().unwrap_err(),
                )),
                (
                    422,
                    "invalid_state",
                    Some(
                        "delivery state \"lost\" is not one of: pending scheduled held paused \
                         sending delivered retry_wait failed rejected cancelled",
                    ),
                    None,
                ),
            ),
            (
                answer(DeadLetterError::InvalidState),
                (
                    422,
                    "invalid_state",
                    Some("state is waiting, replayed or all"),
                    None,
                ),
            ),
            (
                answer(DeadLetterError::NoSuchDeadLetter),
                (404, "not_found", None, None),
            ),
            (
                answer(DeadLetterError::BrokerUnavailable(
                    bus::PublishError::NotConnected,
                )),
                (
                    503,
                    "broker_unavailable",
                    Some("try again once the broker is back"),
                    Some(5),
                ),
            ),
        ];
        for ((status, code, detail, retry_after), expected) in table {
            assert_eq!(
                (status, code.as_str(), detail.as_deref(), retry_after),
                expected,
                "{code}"
            );
            for words in ["10.0.0.7", "connection closed", "record not found"] {
                assert!(!detail.as_deref().unwrap_or("").contains(words), "{code}");
            }
        }
    }

    #[test]
    fn a_replay_twice_is_a_conflict_saying_when() {
        let at = DateTime::parse_from_rfc3339("2026-12-04T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let (status, code, detail, _) = answer(DeadLetterError::AlreadyReplayed(at));
        assert_eq!((status, code.as_str()), (409, "already_replayed"));
        assert_eq!(
            detail.as_deref(),
            Some("this dead letter was replayed at 2026-12-04 10:00:00 UTC")
        );
    }

    #[test]
    fn a_refusal_is_passed_on_as_auth_answered_it() {
        let refusal = Problem::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden");
        let error = BatchError::from(refusal);
        assert_eq!(error.code(), "forbidden");
        assert_eq!(error.problem().status, 403);
    }

    #[test]
    fn the_code_method_names_the_answers_code() {
        let errors: Vec<(String, String)> = vec![
            {
                let e = SyncError::ImportBeyondToken;
                (e.code().to_owned(), e.problem().code.clone())
            },
            {
                let e = DeliveryError::Storage(lost_connection());
                (e.code().to_owned(), e.problem().code.clone())
            },
            {
                let e = DeadLetterError::AlreadyReplayed(Utc::now());
                (e.code().to_owned(), e.problem().code.clone())
            },
            {
                let e = BatchError::Access(AccessError::DirectoryUnavailable(
                    DirectoryError::Unreadable("bad json".into()),
                ));
                (e.code().to_owned(), e.problem().code.clone())
            },
        ];
        for (code, answered) in errors {
            assert_eq!(code, answered);
        }
    }
}
