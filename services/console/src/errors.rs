//! What can fail in the console's own work (its sessions, reading a form), and the one place where
//! each failure becomes its answer: a status and `Retry-After` as the services' APIs would answer
//! it (service-kit's [`Problem`]: 503 with `Retry-After` while the database is away, 500 for a
//! defect), and a short page in the console's words. A 5xx is logged with its cause, which the
//! page never shows. A service's own refusal is not here: it is shown in the service's words
//! (`pages::refused`).

use actix_multipart::MultipartError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use db::{DbError, Failure};
use service_kit::{ApiError, Problem};

use crate::i18n::Lang;
use crate::session::{LoginError, SessionError};

/// A failure answered with a page.
pub trait PageFailure: ApiError {
    /// The page's title.
    fn title(&self) -> &'static str;
    /// What the page tells the user.
    fn message(&self) -> String;
}

/// The page answering `error`, with its problem's status and `Retry-After`, after logging what a
/// 5xx keeps from the user.
pub fn failure_page(error: &impl PageFailure) -> HttpResponse {
    let problem = service_kit::logged_problem(error);
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let page = crate::views::layout::bare(Lang::En, error.title(), &error.message());
    let mut response = HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(page.into_string());
    if let Some(wait) = problem.retry_after() {
        let seconds = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// What a page says about a storage failure of the console's own database.
fn storage_message(error: &DbError) -> String {
    match error.failure() {
        Failure::Unavailable => {
            "the console's database is not reachable right now; try again in a moment".to_owned()
        }
        Failure::Defect => "the console could not do this; the failure is logged".to_owned(),
    }
}

/// Why a page could not be served, before or besides asking a service.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The multipart form broke off or is malformed.
    #[error("the form could not be read: {0}")]
    UnreadableForm(#[from] MultipartError),
    /// A form field or file over its limit.
    #[error("{what} is larger than {limit}")]
    TooLarge {
        what: &'static str,
        limit: &'static str,
    },
}

impl ApiError for SessionError {
    fn problem(&self) -> Problem {
        match self {
            SessionError::SignedOut => {
                Problem::new(StatusCode::UNAUTHORIZED, "signed_out", "Signed out")
            }
            SessionError::Csrf => Problem::new(StatusCode::FORBIDDEN, "csrf", "Refused"),
            SessionError::Storage(error) => Problem::storage(error.failure()),
            SessionError::RateLimited(wait) => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "Slow down",
            )
            .with_retry_after(*wait),
        }
    }
}

impl PageFailure for SessionError {
    fn title(&self) -> &'static str {
        match self {
            SessionError::SignedOut => "Signed out",
            SessionError::Csrf => "Refused",
            SessionError::Storage(_) => "Unavailable",
            SessionError::RateLimited(_) => "Slow down",
        }
    }

    fn message(&self) -> String {
        match self {
            SessionError::Storage(error) => storage_message(error),
            _ => self.to_string(),
        }
    }
}

impl ResponseError for SessionError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.problem().status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = failure_page(self);
        if matches!(self, SessionError::SignedOut) {
            // htmx follows this instead of swapping a sign-in notice into part of a page.
            response.headers_mut().insert(
                header::HeaderName::from_static("hx-redirect"),
                HeaderValue::from_static("/signed-out"),
            );
        }
        response
    }
}

impl ApiError for LoginError {
    fn problem(&self) -> Problem {
        match self {
            LoginError::Invalid | LoginError::TooLong | LoginError::Used => {
                Problem::new(StatusCode::UNAUTHORIZED, "login_refused", "Sign-in refused")
            }
            LoginError::Storage(error) => Problem::storage(error.failure()),
        }
    }
}

impl PageFailure for LoginError {
    fn title(&self) -> &'static str {
        "Sign-in refused"
    }

    fn message(&self) -> String {
        match self {
            LoginError::Storage(error) => storage_message(error),
            _ => self.to_string(),
        }
    }
}

impl ApiError for PageError {
    fn problem(&self) -> Problem {
        match self {
            PageError::Session(error) => error.problem(),
            PageError::UnreadableForm(_) => {
                Problem::new(StatusCode::BAD_REQUEST, "unreadable_form", "Refused")
            }
            PageError::TooLarge { .. } => {
                Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", "Too large")
            }
        }
    }
}

impl PageFailure for PageError {
    fn title(&self) -> &'static str {
        match self {
            PageError::Session(error) => error.title(),
            PageError::UnreadableForm(_) => "Refused",
            PageError::TooLarge { .. } => "Too large",
        }
    }

    fn message(&self) -> String {
        match self {
            PageError::Session(error) => error.message(),
            // The multipart parser's words describe its own state, not what the user can do.
            PageError::UnreadableForm(_) => {
                "the form could not be read; reload the page and try again".to_owned()
            }
            PageError::TooLarge { .. } => self.to_string(),
        }
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.problem().status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            PageError::Session(error) => error.error_response(),
            _ => failure_page(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use actix_web::body::MessageBody;
    use diesel::result::{DatabaseErrorKind, Error as QueryError};

    use super::*;

    /// Status, `Retry-After` and the page's text.
    fn answer(response: HttpResponse) -> (u16, Option<String>, String) {
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.into_body().try_into_bytes().unwrap();
        (
            status,
            retry_after,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    fn lost_connection() -> DbError {
        DbError::Query(QueryError::DatabaseError(
            DatabaseErrorKind::UnableToSendCommand,
            Box::new("connection to 10.0.0.9 closed".to_owned()),
        ))
    }

    #[test]
    fn the_database_away_is_503_with_retry_after_and_a_defect_500_never_in_the_drivers_words() {
        let (status, retry_after, page) =
            answer(SessionError::Storage(lost_connection()).error_response());
        assert_eq!((status, retry_after.as_deref()), (503, Some("5")));
        assert!(page.contains("not reachable right now"), "{page}");
        assert!(!page.contains("10.0.0.9"), "{page}");

        let defect = DbError::Query(QueryError::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            Box::new("duplicate key value violates unique constraint".to_owned()),
        ));
        let (status, retry_after, page) = answer(failure_page(&LoginError::Storage(defect)));
        assert_eq!((status, retry_after), (500, None));
        assert!(!page.contains("duplicate"), "{page}");

        let (status, retry_after, _) =
            answer(PageError::Session(SessionError::Storage(lost_connection())).error_response());
        assert_eq!((status, retry_after.as_deref()), (503, Some("5")));
    }

    #[test]
    fn refusals_keep_their_statuses() {
        let table = [
            (SessionError::SignedOut.error_response(), 401),
            (SessionError::Csrf.error_response(), 403),
            (
                SessionError::RateLimited(Duration::from_millis(1500)).error_response(),
                429,
            ),
            (failure_page(&LoginError::Used), 401),
            (
                PageError::TooLarge {
                    what: "a form field",
                    limit: "4 KB",
                }
                .error_response(),
                413,
            ),
            (
                PageError::UnreadableForm(MultipartError::Incomplete).error_response(),
                400,
            ),
        ];
        for (response, expected) in table {
            assert_eq!(response.status().as_u16(), expected);
        }
        let signed_out = SessionError::SignedOut.error_response();
        assert_eq!(
            signed_out.headers().get("hx-redirect").unwrap(),
            "/signed-out"
        );
        let (_, retry_after, _) =
            answer(SessionError::RateLimited(Duration::from_millis(1500)).error_response());
        assert_eq!(retry_after.as_deref(), Some("2"));
        let (_, _, page) =
            answer(PageError::UnreadableForm(MultipartError::Incomplete).error_response());
        assert!(page.contains("the form could not be read"), "{page}");
        assert!(!page.contains("Multipart stream is incomplete"), "{page}");
    }
}
