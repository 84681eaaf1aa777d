//! Failures every service answers the same way: its database or broker away (503 with
//! `Retry-After`), a defect (500 `internal`), and the typed errors handlers return
//! ([`ApiError`]). An answer is always in the API's own words; the text of the library behind a
//! 5xx goes to the log, never into the answer.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use db::{DbError, Failure};

use crate::Problem;

/// How long a client is told to wait (`Retry-After`) after a 503 for an outage.
///
/// Five seconds: a connection lost or terminated is replaced at the next checkout, so most
/// retries succeed straight away, and a Postgres or RabbitMQ restart or failover is over in a few
/// seconds. The services themselves try a lost database or broker again at most every five
/// seconds (the cap of `db::wait_until_reachable`'s and the broker reconnection's back-off), so a
/// client asked back sooner would mostly meet the same outage while adding load to a server that
/// is coming back, and one asked to wait longer would sit idle after a blip. An outage that lasts
/// turns `/readyz` to 503, which takes the instance out of rotation anyway.
pub const OUTAGE_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The code of the answer to a storage failure of `failure`'s kind (see [`Problem::storage`]),
/// for an error enum's `code()`.
pub fn storage_code(failure: Failure) -> &'static str {
    match failure {
        Failure::Unavailable => "database_unavailable",
        Failure::Defect => "internal",
    }
}

impl Problem {
    /// 503 `database_unavailable` with `Retry-After`: the database was away or could not do the
    /// work this time; the same request is expected to succeed shortly.
    pub fn database_unavailable() -> Self {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            storage_code(Failure::Unavailable),
            "The database is not reachable right now",
        )
        .with_retry_after(OUTAGE_RETRY_AFTER)
    }

    /// 503 `broker_unavailable` with `Retry-After`, for a handler that publishes to RabbitMQ
    /// itself instead of through the outbox, when the broker did not take the message.
    pub fn broker_unavailable() -> Self {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "broker_unavailable",
            "The message broker is not reachable right now",
        )
        .with_retry_after(OUTAGE_RETRY_AFTER)
    }

    /// 500 `internal`: a defect; the caller learns nothing more, the log says what.
    pub fn internal() -> Self {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            storage_code(Failure::Defect),
            "Internal error",
        )
    }

    /// The answer to a storage failure of `failure`'s kind.
    pub fn storage(failure: Failure) -> Self {
        match failure {
            Failure::Unavailable => Problem::database_unavailable(),
            Failure::Defect => Problem::internal(),
        }
    }
}

/// A handler's typed error: which problem it answers. Implement it for an area's error enum,
/// then `service_kit::api_errors!(ThatError)` makes handlers able to return it (and `?` turn
/// it into a [`Problem`]); either way a 5xx is logged with the error's own text, once.
pub trait ApiError: std::error::Error {
    /// The answer, in the API's own words: never a library's message.
    fn problem(&self) -> Problem;
}

/// `error`'s problem, after logging what a 5xx keeps from the caller.
pub fn logged_problem<E: ApiError + ?Sized>(error: &E) -> Problem {
    let problem = error.problem();
    log_failure(&problem, error);
    problem
}

/// The response for `error`, logged as [`logged_problem`] logs it.
pub fn problem_response<E: ApiError + ?Sized>(error: &E) -> HttpResponse {
    logged_problem(error).error_response()
}

/// Logs a 5xx with the error that caused it: an outage as a warning (it passes by itself and
/// /readyz shows it), anything else as an error (someone has to look).
fn log_failure(problem: &Problem, error: &(impl std::fmt::Display + ?Sized)) {
    match problem.status {
        503 => {
            tracing::warn!(code = %problem.code, %error, "request not served: a dependency is unavailable")
        }
        500.. => tracing::error!(code = %problem.code, %error, "request failed"),
        _ => {}
    }
}

/// Implements `ResponseError` and `From<…> for Problem` for each [`ApiError`] given.
#[macro_export]
macro_rules! api_errors {
    ($($error:ty),+ $(,)?) => {$(
        impl $crate::__private::ResponseError for $error {
            fn status_code(&self) -> $crate::__private::StatusCode {
                $crate::__private::ResponseError::status_code(&$crate::ApiError::problem(self))
            }

            fn error_response(&self) -> $crate::__private::HttpResponse {
                $crate::problem_response(self)
            }
        }

        impl ::std::convert::From<$error> for $crate::Problem {
            fn from(error: $error) -> Self {
                $crate::logged_problem(&error)
            }
        }
    )+};
}

#[doc(hidden)]
pub mod __private {
    pub use actix_web::http::StatusCode;
    pub use actix_web::{HttpResponse, ResponseError};
}

/// A database error met by a handler that answers [`Problem`] directly.
impl From<DbError> for Problem {
    fn from(error: DbError) -> Self {
        let problem = Problem::storage(error.failure());
        log_failure(&problem, &error);
        problem
    }
}

/// A query error met by a handler that answers [`Problem`] directly.
impl From<diesel::result::Error> for Problem {
    fn from(error: diesel::result::Error) -> Self {
        let problem = Problem::storage(db::failure_of(&error));
        log_failure(&problem, &error);
        problem
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::MessageBody;
    use diesel::result::{DatabaseErrorKind, Error as QueryError};

    use super::*;

    fn database(kind: DatabaseErrorKind, message: &str) -> QueryError {
        QueryError::DatabaseError(kind, Box::new(message.to_owned()))
    }

    /// Status, code, `Retry-After` and body of the answer to `problem`.
    fn answer(problem: Problem) -> (u16, String, Option<String>, String) {
        let response = problem.error_response();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let status = response.status().as_u16();
        let body = response.into_body().try_into_bytes().unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        let code = serde_json::from_str::<serde_json::Value>(&body).unwrap()["code"]
            .as_str()
            .unwrap()
            .to_owned();
        (status, code, retry_after, body)
    }

    #[test]
    fn outages_are_503_with_retry_after_and_defects_500_never_in_the_drivers_words() {
        let five = Some("5".to_owned());
        let table: Vec<(Problem, u16, &str, Option<String>)> = vec![
            (
                DbError::Unreachable("timed out waiting for a connection".into()).into(),
                503,
                "database_unavailable",
                five.clone(),
            ),
            (
                database(DatabaseErrorKind::UnableToSendCommand, "connection closed").into(),
                503,
                "database_unavailable",
                five.clone(),
            ),
            (
                database(
                    DatabaseErrorKind::Unknown,
                    "terminating connection due to administrator command",
                )
                .into(),
                503,
                "database_unavailable",
                five.clone(),
            ),
            (
                DbError::Query(database(
                    DatabaseErrorKind::SerializationFailure,
                    "could not serialize access due to concurrent update",
                ))
                .into(),
                503,
                "database_unavailable",
                five.clone(),
            ),
            (QueryError::NotFound.into(), 500, "internal", None),
            (
                database(
                    DatabaseErrorKind::UniqueViolation,
                    "duplicate key value violates unique constraint \"companies_slug_key\"",
                )
                .into(),
                500,
                "internal",
                None,
            ),
            (
                Problem::broker_unavailable(),
                503,
                "broker_unavailable",
                five,
            ),
        ];
        for (problem, status, code, retry_after) in table {
            let (s, c, r, body) = answer(problem);
            assert_eq!((s, c.as_str(), r), (status, code, retry_after), "{body}");
            for driver_words in [
                "connection closed",
                "terminating",
                "serialize",
                "duplicate",
                "timed out",
                "record not found",
            ] {
                assert!(!body.contains(driver_words), "{body}");
            }
        }
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        for (wait, header) in [
            (Duration::from_millis(1), "1"),
            (Duration::from_millis(2500), "3"),
            (Duration::from_secs(5), "5"),
            (Duration::ZERO, "1"),
        ] {
            let problem = Problem::internal().with_retry_after(wait);
            assert_eq!(answer(problem).2.as_deref(), Some(header), "{wait:?}");
        }
    }

    #[derive(Debug, thiserror::Error)]
    enum LookupError {
        #[error("no such thing")]
        Missing,
        #[error(transparent)]
        Storage(#[from] DbError),
    }

    impl ApiError for LookupError {
        fn problem(&self) -> Problem {
            match self {
                LookupError::Missing => Problem::not_found("thing"),
                LookupError::Storage(error) => Problem::storage(error.failure()),
            }
        }
    }

    crate::api_errors!(LookupError);

    #[test]
    fn a_typed_error_answers_its_problem() {
        let lost = LookupError::Storage(DbError::Unreachable("refused".into()));
        assert_eq!(lost.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        let (status, code, retry_after, _) = answer(Problem::from(lost));
        assert_eq!(
            (status, code.as_str(), retry_after.as_deref()),
            (503, "database_unavailable", Some("5"))
        );
        let response = LookupError::Missing.error_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "application/problem+json"
        );
    }
}
