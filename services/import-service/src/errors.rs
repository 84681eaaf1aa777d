//! What can fail in import-service's API, one enum per area, and the one place where each
//! failure becomes its problem+json answer: status, a stable `code`, title and detail. Handlers
//! return these with `?`.
//!
//! The Display of a variant a caller can act on is the answer's detail. Storage failures answer
//! through service-kit: 503 `database_unavailable` with `Retry-After` when the database was
//! away, whichever connection met it (the pool's, or an import's own transaction's); any other
//! storage failure is a 500 with the action's own code. A 5xx is logged with its cause and
//! never shows it.

use actix_web::http::StatusCode;
use db::{DbError, Failure};
use service_kit::{ApiError, Problem};

use crate::pipeline::UploadError;
use crate::store::tx::TxError;

/// The answer to a storage failure: 503 `database_unavailable` (with `Retry-After`) when the
/// database was away, otherwise a 500 with `code` (what could not be done) and `title`.
fn storage_problem(failure: Failure, code: &str, title: &str) -> Problem {
    match failure {
        Failure::Unavailable => Problem::storage(failure),
        Failure::Defect => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, code, title),
    }
}

/// The employee directory (config-service's snapshot) cannot be used right now.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryFailure {
    /// config-service did not answer with a snapshot.
    #[error("the directory snapshot is unavailable: {0}")]
    Unreachable(#[from] directory::DirectoryError),
    /// The snapshot cannot be validated against (a time zone or a report name config-service
    /// should have refused).
    #[error("the employee directory cannot be used: {0}")]
    Unusable(#[from] report::DirectoryError),
}

/// What a request about one import can meet before its own work.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// No such import, or one the token may not see (the same answer, on purpose).
    #[error("no such import")]
    NoSuchImport,
    /// No company with that id or slug.
    #[error("no such company")]
    NoSuchCompany,
    /// An action on the whole import by a token that does not cover every company of it.
    #[error("this token does not cover every company of the import")]
    OtherCompanies,
    #[error(transparent)]
    Directory(#[from] DirectoryFailure),
    #[error(transparent)]
    Storage(#[from] DbError),
}

/// A request to upload a report that cannot be taken as it is.
#[derive(Debug, thiserror::Error)]
pub enum UploadRequestError {
    #[error("got {0:?}")]
    InvalidDateOrder(String),
    #[error("the multipart body is not valid")]
    InvalidMultipart,
    #[error("the multipart body has no `file` field")]
    MissingFile,
    /// The multipart body broke off (the client went away or stopped sending).
    #[error("the multipart upload was interrupted")]
    MultipartInterrupted,
    /// The raw body broke off.
    #[error("the upload was interrupted")]
    BodyInterrupted,
    /// A strict upload by a limited token with rows of companies it does not cover.
    #[error("{0} rows name companies this token does not cover; strict imports nothing")]
    CompanyNotPermitted(u64),
}

/// Reading a received report for a dry run or a strict upload's scope check.
#[derive(Debug, thiserror::Error)]
pub enum ReadingError {
    #[error(transparent)]
    Directory(#[from] DirectoryFailure),
    #[error(transparent)]
    Upload(#[from] UploadError),
}

/// Why an import's transaction was rolled back (the import is then marked failed).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Transaction(#[from] TxError),
    #[error("reading the stored report: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Directory(#[from] DirectoryFailure),
    #[error("the report has no data rows")]
    NoRows,
}

impl From<diesel::result::Error> for StoreError {
    fn from(error: diesel::result::Error) -> Self {
        StoreError::Transaction(TxError::from(error))
    }
}

/// Storing a received report as a new import.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The pool's connection: recording the import, or reading it back.
    #[error(transparent)]
    Storage(#[from] DbError),
    /// The received report could not be moved to its stored name.
    #[error("storing the report: {0}")]
    StoredFile(std::io::Error),
    /// The import's transaction failed; the import is recorded as failed.
    #[error("import {import_id}: {source}")]
    NotStored {
        import_id: i64,
        #[source]
        source: StoreError,
    },
    /// The import was recorded and then not found.
    #[error("import {0} disappeared")]
    Gone(i64),
}

/// Reprocessing an import's unqueued rows.
#[derive(Debug, thiserror::Error)]
pub enum ReprocessError {
    #[error("the import has no stored file facts")]
    NoFacts,
    #[error("the import's file facts cannot be read")]
    FactsUnreadable,
    #[error("row {0}: its values were removed by retention; upload the report again")]
    RawValuesRemoved(i32),
    #[error(transparent)]
    Directory(#[from] DirectoryFailure),
    /// The reprocess's own transaction.
    #[error(transparent)]
    Transaction(#[from] TxError),
    /// The pool's connection: reading the import back.
    #[error(transparent)]
    Storage(#[from] DbError),
    /// The import was reprocessed and then not found.
    #[error("the import disappeared")]
    Gone,
}

/// An operator's action (release, cancel, reprocess) on an import.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The import is cancelled; the message says what it therefore cannot do.
    #[error("{0}")]
    Cancelled(&'static str),
    #[error("the import is not held; its valid rows were queued")]
    NotHeld,
    /// The import holds the uploads of a clock an admin has not approved.
    #[error("the import holds punches of clock {0}, which is not approved: approve the clock to release them")]
    ClockNotApproved(String),
    /// Releasing: the transaction that queues the punches.
    #[error("releasing: {0}")]
    Release(TxError),
    #[error(transparent)]
    Storage(#[from] DbError),
}

/// A failure of retention's pass (logged; it runs again later).
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error(transparent)]
    Storage(#[from] DbError),
}

db::query_errors_are_storage_failures!(
    AccessError,
    ImportError,
    ReprocessError,
    ActionError,
    RetentionError
);

// The answers, each next to the others.

impl ApiError for DirectoryFailure {
    fn problem(&self) -> Problem {
        let problem = Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "directory_unavailable",
            "The employee directory cannot be read right now",
        );
        match self {
            DirectoryFailure::Unreachable(_) => {
                problem.with_detail("try again shortly; the service log says why")
            }
            // Our own words about config-service's data: what to fix there.
            DirectoryFailure::Unusable(_) => problem.with_detail(self.to_string()),
        }
    }
}

impl ApiError for AccessError {
    fn problem(&self) -> Problem {
        match self {
            AccessError::NoSuchImport => Problem::not_found("import"),
            AccessError::NoSuchCompany => Problem::not_found("company"),
            AccessError::OtherCompanies => Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden_company",
                "The import concerns other companies too",
            )
            .with_detail(self.to_string()),
            AccessError::Directory(error) => error.problem(),
            AccessError::Storage(error) => Problem::storage(error.failure()),
        }
    }
}

impl ApiError for UploadError {
    fn problem(&self) -> Problem {
        match self {
            UploadError::TooLarge(max) => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "The upload is too large",
            )
            .with_detail(format!("at most {max} bytes")),
            UploadError::File(problem) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                problem.code(),
                "The file is not a usable attendance report",
            )
            .with_detail(problem.to_string()),
            // Its sentence tells the operator what to do; what the library said is logged.
            UploadError::Workbook(problem) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                problem.code(),
                "The file is not a readable Excel workbook",
            )
            .with_detail(problem.to_string()),
            UploadError::Io(_) => stored_file_problem(),
        }
    }
}

/// The report could not be written to (or moved within) the storage folder.
fn stored_file_problem() -> Problem {
    Problem::new(
        StatusCode::INSUFFICIENT_STORAGE,
        "storage_failed",
        "The upload could not be stored",
    )
}

impl ApiError for UploadRequestError {
    fn problem(&self) -> Problem {
        let bad_request = |code, title| Problem::new(StatusCode::BAD_REQUEST, code, title);
        match self {
            UploadRequestError::InvalidDateOrder(_) => {
                bad_request("invalid_query", "date_order is dmy or mdy")
                    .with_detail(self.to_string())
            }
            UploadRequestError::InvalidMultipart => {
                bad_request("invalid_multipart", "The multipart body is not valid")
            }
            UploadRequestError::MissingFile => {
                bad_request("missing_file", "The multipart body has no `file` field")
            }
            UploadRequestError::MultipartInterrupted => {
                bad_request("invalid_multipart", "The upload was interrupted")
            }
            UploadRequestError::BodyInterrupted => {
                bad_request("invalid_body", "The upload was interrupted")
            }
            UploadRequestError::CompanyNotPermitted(_) => {
                Problem::unprocessable("company_not_permitted", self.to_string())
            }
        }
    }
}

impl ApiError for ReadingError {
    fn problem(&self) -> Problem {
        match self {
            ReadingError::Directory(error) => error.problem(),
            ReadingError::Upload(error) => error.problem(),
        }
    }
}

impl ApiError for ImportError {
    fn problem(&self) -> Problem {
        let failed =
            |failure| storage_problem(failure, "import_failed", "The report could not be stored");
        match self {
            ImportError::Storage(error) => failed(error.failure()),
            ImportError::StoredFile(_) => stored_file_problem(),
            ImportError::NotStored { source, .. } => match source {
                StoreError::Transaction(error) => failed(error.failure()),
                StoreError::Io(_) => failed(Failure::Defect),
                StoreError::Directory(error) => error.problem(),
                StoreError::NoRows => Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "no_rows",
                    "The file is not a usable attendance report",
                )
                .with_detail(source.to_string()),
            },
            ImportError::Gone(_) => failed(Failure::Defect),
        }
    }
}

impl ApiError for ReprocessError {
    fn problem(&self) -> Problem {
        let failed = |failure| {
            storage_problem(
                failure,
                "reprocess_failed",
                "The import could not be reprocessed",
            )
        };
        match self {
            ReprocessError::NoFacts
            | ReprocessError::FactsUnreadable
            | ReprocessError::RawValuesRemoved(_) => Problem::new(
                StatusCode::CONFLICT,
                "cannot_reprocess",
                "The import cannot be reprocessed",
            )
            .with_detail(self.to_string()),
            ReprocessError::Directory(error) => error.problem(),
            ReprocessError::Transaction(error) => failed(error.failure()),
            ReprocessError::Storage(error) => failed(error.failure()),
            ReprocessError::Gone => Problem::not_found("import"),
        }
    }
}

impl ApiError for ActionError {
    fn problem(&self) -> Problem {
        match self {
            ActionError::Cancelled(_) => Problem::conflict("import_cancelled", self.to_string()),
            ActionError::NotHeld => Problem::conflict("not_held", self.to_string()),
            ActionError::ClockNotApproved(_) => {
                Problem::conflict("clock_not_approved", self.to_string())
            }
            ActionError::Release(error) => storage_problem(
                error.failure(),
                "release_failed",
                "The import could not be released",
            ),
            ActionError::Storage(error) => Problem::storage(error.failure()),
        }
    }
}

service_kit::api_errors!(
    DirectoryFailure,
    AccessError,
    UploadError,
    UploadRequestError,
    ReadingError,
    ImportError,
    ReprocessError,
    ActionError
);

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorKind, Error as QueryError};

    use super::*;

    /// Status, code, detail and `Retry-After` of each answer.
    fn answer(error: impl ApiError) -> (u16, String, Option<String>, bool) {
        let problem = error.problem();
        let retry_after = problem.retry_after().is_some();
        (
            problem.status,
            problem.code.clone(),
            problem.detail.clone(),
            retry_after,
        )
    }

    fn terminated() -> QueryError {
        QueryError::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("terminating connection due to administrator command".to_owned()),
        )
    }

    #[test]
    fn each_failure_has_its_status_and_code() {
        let unreachable = || DbError::Unreachable("connection refused".into());
        let table = [
            (
                answer(ReprocessError::Storage(unreachable())),
                (503, "database_unavailable", None, true),
            ),
            (
                answer(ReprocessError::Transaction(TxError::Message(terminated()))),
                (503, "database_unavailable", None, true),
            ),
            (
                answer(ReprocessError::Storage(DbError::Query(
                    QueryError::NotFound,
                ))),
                (500, "reprocess_failed", None, false),
            ),
            (
                answer(ReprocessError::RawValuesRemoved(12)),
                (
                    409,
                    "cannot_reprocess",
                    Some("row 12: its values were removed by retention; upload the report again"),
                    false,
                ),
            ),
            (
                answer(ReprocessError::FactsUnreadable),
                (
                    409,
                    "cannot_reprocess",
                    Some("the import's file facts cannot be read"),
                    false,
                ),
            ),
            (
                answer(ActionError::NotHeld),
                (
                    409,
                    "not_held",
                    Some("the import is not held; its valid rows were queued"),
                    false,
                ),
            ),
            (
                answer(ActionError::Cancelled(
                    "a cancelled import cannot be released",
                )),
                (
                    409,
                    "import_cancelled",
                    Some("a cancelled import cannot be released"),
                    false,
                ),
            ),
            (
                answer(ActionError::Release(TxError::Message(terminated()))),
                (503, "database_unavailable", None, true),
            ),
            (
                answer(ImportError::Storage(unreachable())),
                (503, "database_unavailable", None, true),
            ),
            (
                answer(ImportError::NotStored {
                    import_id: 1,
                    source: StoreError::Io(std::io::Error::other("disk gone")),
                }),
                (500, "import_failed", None, false),
            ),
            (
                answer(ImportError::NotStored {
                    import_id: 1,
                    source: StoreError::NoRows,
                }),
                (422, "no_rows", Some("the report has no data rows"), false),
            ),
            (
                answer(UploadRequestError::InvalidDateOrder("ymd".into())),
                (400, "invalid_query", Some(r#"got "ymd""#), false),
            ),
            (
                answer(UploadRequestError::CompanyNotPermitted(3)),
                (
                    422,
                    "company_not_permitted",
                    Some("3 rows name companies this token does not cover; strict imports nothing"),
                    false,
                ),
            ),
            (
                answer(UploadError::Workbook(
                    workbook::WorkbookProblem::Encrypted {
                        detail: "EncryptedPackage".into(),
                    },
                )),
                (
                    422,
                    "workbook_encrypted",
                    Some(
                        "The workbook is protected with a password, so it cannot be read. Open \
                         it in Excel, remove the password (File > Info > Protect Workbook > \
                         Encrypt with Password), save it and upload it again.",
                    ),
                    false,
                ),
            ),
            (
                answer(UploadError::Workbook(
                    workbook::WorkbookProblem::SheetNotFound {
                        requested: "Raw".into(),
                        available: vec!["Cover".into(), "Report".into()],
                    },
                )),
                (
                    422,
                    "sheet_not_found",
                    Some(
                        r#"The workbook has no sheet named "Raw". Its sheets are: "Cover", "Report"."#,
                    ),
                    false,
                ),
            ),
            (
                answer(UploadError::Io(std::io::Error::other("disk full"))),
                (507, "storage_failed", None, false),
            ),
            (
                answer(AccessError::OtherCompanies),
                (
                    403,
                    "forbidden_company",
                    Some("this token does not cover every company of the import"),
                    false,
                ),
            ),
            (
                answer(AccessError::NoSuchImport),
                (404, "not_found", None, false),
            ),
        ];
        for ((status, code, detail, retry_after), expected) in table {
            assert_eq!(
                (status, code.as_str(), detail.as_deref(), retry_after),
                expected,
                "{code}"
            );
        }
    }

    #[test]
    fn no_answer_repeats_a_library_message() {
        let answers = [
            ReprocessError::Storage(DbError::Query(terminated())).problem(),
            ImportError::NotStored {
                import_id: 1,
                source: StoreError::Io(std::io::Error::other("disk gone")),
            }
            .problem(),
            UploadError::Io(std::io::Error::other("disk full")).problem(),
            UploadError::Workbook(workbook::WorkbookProblem::Corrupt {
                detail: "Zip error: invalid Zip archive".into(),
            })
            .problem(),
            DirectoryFailure::Unreachable(directory::DirectoryError::Refused {
                status: 502,
                body: "bad gateway".into(),
            })
            .problem(),
        ];
        for problem in answers {
            let text = serde_json::to_string(&problem).unwrap();
            for words in ["terminating", "disk", "502", "gateway", "Zip"] {
                assert!(!text.contains(words), "{text}");
            }
        }
    }
}
