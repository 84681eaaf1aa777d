//! What can fail in config-service's API, one enum per area, and the one place where each
//! failure becomes its problem+json answer: status, a stable `code`, title and detail. Handlers
//! return these with `?`.
//!
//! The Display of a variant a caller can fix is the answer's detail. Storage failures go through
//! service-kit (503 `database_unavailable` with `Retry-After` when the database was away, 500
//! `internal` otherwise); a 5xx is logged with its cause and never shows it.

use actix_web::http::StatusCode;
use bayzat_client::ConnectionTest;
use db::DbError;
use domain::SlugError;
use service_kit::{ApiError, Problem};

use crate::api::MAX_EMPLOYEES_PER_CALL;
use crate::employee_csv::{FileError, RowError};

/// The code of a storage failure's answer.
fn storage_code(error: &DbError) -> &'static str {
    service_kit::storage_code(error.failure())
}

/// What any request about one company can meet before its own work.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The token may not do this: auth's answer (401/403/404), passed on as it is.
    #[error("{0}")]
    Refused(Problem),
    /// No company with that id or slug, or one the token may not see.
    #[error("no such company")]
    NoSuchCompany,
    #[error(transparent)]
    Storage(#[from] DbError),
}

impl AccessError {
    pub fn code(&self) -> &str {
        match self {
            AccessError::Refused(problem) => &problem.code,
            AccessError::NoSuchCompany => "not_found",
            AccessError::Storage(error) => storage_code(error),
        }
    }
}

/// Companies and their fingerprint report names.
#[derive(Debug, thiserror::Error)]
pub enum CompanyError {
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("{0}")]
    InvalidSlug(SlugError),
    /// Paths take a company's id or its slug: an all-digit slug would read as an id.
    #[error("slug {0:?} is all digits; paths would read it as a company id")]
    AllDigitSlug(String),
    /// A token limited to some companies creates only those.
    #[error("the slug is not one of this token's companies")]
    SlugOutsideToken,
    #[error("{0} is required")]
    MissingField(&'static str),
    #[error("{0:?} is not an IANA time zone")]
    InvalidTimezone(String),
    #[error("a company with slug {0:?} exists")]
    SlugTaken(String),
    /// Another company has this report name; `owner` names it to a token that may see it.
    #[error("the report name {name:?} already maps to {}", .owner.as_deref().unwrap_or("another company"))]
    ReportNameTaken { name: String, owner: Option<String> },
    /// Another request added this report name while this one was adding it.
    #[error(
        "the report name {0:?} was added by another request at the same time; look it up again"
    )]
    ReportNameAddedMeanwhile(String),
    #[error("no such report name")]
    NoSuchReportName,
    #[error(transparent)]
    Storage(#[from] DbError),
}

impl CompanyError {
    pub fn code(&self) -> &str {
        match self {
            CompanyError::Access(error) => error.code(),
            CompanyError::InvalidSlug(_) | CompanyError::AllDigitSlug(_) => "invalid_slug",
            CompanyError::SlugOutsideToken => "forbidden_company",
            CompanyError::MissingField(_) => "missing_field",
            CompanyError::InvalidTimezone(_) => "invalid_timezone",
            CompanyError::SlugTaken(_) => "slug_taken",
            CompanyError::ReportNameTaken { .. } | CompanyError::ReportNameAddedMeanwhile(_) => {
                "report_name_taken"
            }
            CompanyError::NoSuchReportName => "not_found",
            CompanyError::Storage(error) => storage_code(error),
        }
    }
}

/// A company's employee directory.
#[derive(Debug, thiserror::Error)]
pub enum EmployeeError {
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("{0} employees in one call; at most {MAX_EMPLOYEES_PER_CALL}")]
    TooMany(usize),
    #[error("employee {0}: employee_id and name are required")]
    MissingField(usize),
    /// Ids given more than once in one batch (the first ten).
    #[error("employee ids given more than once: {}", .0.join(", "))]
    RepeatedIds(Vec<String>),
    #[error("{0}")]
    UnreadableFile(FileError),
    /// Rows of an uploaded file that cannot be used; nothing is stored.
    #[error("{} rows cannot be used; nothing was stored", .0.len())]
    InvalidRows(Vec<RowError>),
    #[error("no such employee")]
    NoSuchEmployee,
    #[error(transparent)]
    Storage(#[from] DbError),
}

impl EmployeeError {
    pub fn code(&self) -> &str {
        match self {
            EmployeeError::Access(error) => error.code(),
            EmployeeError::TooMany(_) => "too_many_employees",
            EmployeeError::MissingField(_) => "missing_field",
            EmployeeError::RepeatedIds(_) => "duplicate_employee_ids",
            EmployeeError::UnreadableFile(_) => "unreadable_file",
            EmployeeError::InvalidRows(_) => "invalid_rows",
            EmployeeError::NoSuchEmployee => "not_found",
            EmployeeError::Storage(error) => storage_code(error),
        }
    }
}

/// A company's Bayzat settings: saving them and testing a key.
#[derive(Debug, thiserror::Error)]
pub enum BayzatConfigError {
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("{0:?} is not an http(s) URL")]
    InvalidApiUrl(String),
    /// A URL that `BAYZAT_ALLOWED_API_URLS` cannot judge, and why.
    #[error("{url:?} is not an http(s) URL a key can be sent to: {why}")]
    UnusableApiUrl { url: String, why: &'static str },
    #[error(
        "{url:?} is not under BAYZAT_ALLOWED_API_URLS ({allowed}); Bayzat keys are only ever sent \
         there"
    )]
    ApiUrlNotAllowed { url: String, allowed: String },
    #[error("api_key is empty")]
    EmptyApiKey,
    #[error("{0:?} is not HH:MM")]
    InvalidDailyAt(String),
    #[error("daily_at is required for a daily sync")]
    DailyAtMissing,
    /// The new key failed its connection test, which the answer carries.
    #[error("Bayzat did not accept the key: {}", .0.kind())]
    KeyNotAccepted(ConnectionTest),
    #[error(
        "the stored key is only ever sent to the saved api_url; give api_key to test another URL"
    )]
    ApiKeyRequired,
    #[error("no key given and none stored")]
    NoApiKey,
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Storage(#[from] DbError),
}

impl BayzatConfigError {
    pub fn code(&self) -> &str {
        match self {
            BayzatConfigError::Access(error) => error.code(),
            BayzatConfigError::InvalidApiUrl(_) | BayzatConfigError::UnusableApiUrl { .. } => {
                "invalid_api_url"
            }
            BayzatConfigError::ApiUrlNotAllowed { .. } => "api_url_not_allowed",
            BayzatConfigError::EmptyApiKey | BayzatConfigError::DailyAtMissing => "missing_field",
            BayzatConfigError::InvalidDailyAt(_) => "invalid_daily_at",
            BayzatConfigError::KeyNotAccepted(_) => "connection_test_failed",
            BayzatConfigError::ApiKeyRequired => "api_key_required",
            BayzatConfigError::NoApiKey => "no_api_key",
            BayzatConfigError::Key(error) => error.code(),
            BayzatConfigError::Storage(error) => storage_code(error),
        }
    }
}

/// A company's stored Bayzat key, as sync-service reads it (and a connection test uses it).
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("no Bayzat key is stored for the company")]
    NoStoredKey,
    /// The configuration is broken, not the request: the master keys cannot open the key.
    #[error("a stored Bayzat key cannot be decrypted: {0}")]
    Unreadable(crypto::CryptoError),
    #[error(transparent)]
    Storage(#[from] DbError),
}

impl KeyError {
    pub fn code(&self) -> &str {
        match self {
            KeyError::Access(error) => error.code(),
            KeyError::NoStoredKey => "not_found",
            KeyError::Unreadable(_) => "key_unreadable",
            KeyError::Storage(error) => storage_code(error),
        }
    }
}

/// The directory snapshot.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error(transparent)]
    Storage(#[from] DbError),
}

impl DirectoryError {
    pub fn code(&self) -> &str {
        match self {
            DirectoryError::Access(error) => error.code(),
            DirectoryError::Storage(error) => storage_code(error),
        }
    }
}

/// The audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error(transparent)]
    Storage(#[from] DbError),
}

impl AuditError {
    pub fn code(&self) -> &str {
        match self {
            AuditError::Access(error) => error.code(),
            AuditError::Storage(error) => storage_code(error),
        }
    }
}

/// Webhook endpoints and their delivery log.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("no such webhook endpoint")]
    NoSuchEndpoint,
    #[error("no such delivery of this endpoint")]
    NoSuchDelivery,
    #[error("no company {0:?} this token may see")]
    NoSuchCompany(String),
    #[error("WEBHOOK_ALLOWED_URLS is not set, so no endpoint can be registered")]
    NoUrlsAllowed,
    #[error("{url:?} is not an http(s) URL a webhook can be sent to: {why}")]
    UnusableUrl { url: String, why: &'static str },
    #[error("{url:?} is not under WEBHOOK_ALLOWED_URLS ({allowed})")]
    UrlNotAllowed { url: String, allowed: String },
    #[error("event_types is empty; name at least one of: {}", domain::BridgeEvent::TYPES.join(", "))]
    NoEventTypes,
    #[error("{0:?} is not an event type; the types are: {types}", types = domain::BridgeEvent::TYPES.join(", "))]
    UnknownEventType(String),
    #[error("companies is empty; leave it out for every company")]
    NoCompanies,
    /// A token limited to some companies registers endpoints of those companies only.
    #[error("a token limited to some companies must name them in companies")]
    CompaniesRequired,
    #[error("{0:?} is not a mail address")]
    InvalidEmail(String),
    #[error("limit {0} is not between 1 and 100")]
    BadLimit(i64),
    #[error(transparent)]
    Storage(#[from] DbError),
}

impl WebhookError {
    pub fn code(&self) -> &str {
        match self {
            WebhookError::Access(error) => error.code(),
            WebhookError::NoSuchEndpoint | WebhookError::NoSuchDelivery => "not_found",
            WebhookError::NoSuchCompany(_) => "unknown_company",
            WebhookError::NoUrlsAllowed | WebhookError::UrlNotAllowed { .. } => "url_not_allowed",
            WebhookError::UnusableUrl { .. } => "invalid_url",
            WebhookError::NoEventTypes | WebhookError::UnknownEventType(_) => "invalid_event_types",
            WebhookError::NoCompanies | WebhookError::CompaniesRequired => "invalid_companies",
            WebhookError::InvalidEmail(_) => "invalid_email",
            WebhookError::BadLimit(_) => "invalid_limit",
            WebhookError::Storage(error) => storage_code(error),
        }
    }
}

db::query_errors_are_storage_failures!(
    WebhookError,
    AccessError,
    CompanyError,
    EmployeeError,
    BayzatConfigError,
    KeyError,
    DirectoryError,
    AuditError
);

// The answers, each next to the others.

impl ApiError for AccessError {
    fn problem(&self) -> Problem {
        match self {
            AccessError::Refused(problem) => problem.clone(),
            AccessError::NoSuchCompany => Problem::not_found("company"),
            AccessError::Storage(error) => Problem::storage(error.failure()),
        }
    }
}

impl ApiError for CompanyError {
    fn problem(&self) -> Problem {
        let (code, detail) = (self.code(), self.to_string());
        match self {
            CompanyError::Access(error) => error.problem(),
            CompanyError::Storage(error) => Problem::storage(error.failure()),
            CompanyError::InvalidSlug(_)
            | CompanyError::AllDigitSlug(_)
            | CompanyError::MissingField(_)
            | CompanyError::InvalidTimezone(_) => Problem::unprocessable(code, detail),
            CompanyError::SlugOutsideToken => Problem::new(
                StatusCode::FORBIDDEN,
                code,
                "A limited token creates only its own companies",
            )
            .with_detail(detail),
            CompanyError::SlugTaken(_) | CompanyError::ReportNameAddedMeanwhile(_) => {
                Problem::conflict(code, detail)
            }
            CompanyError::ReportNameTaken { owner, .. } => match owner {
                Some(owner) => Problem::conflict(code, detail).with_extension("company", owner),
                None => Problem::conflict(code, detail),
            },
            CompanyError::NoSuchReportName => Problem::not_found("report name"),
        }
    }
}

impl ApiError for EmployeeError {
    fn problem(&self) -> Problem {
        let (code, detail) = (self.code(), self.to_string());
        match self {
            EmployeeError::Access(error) => error.problem(),
            EmployeeError::Storage(error) => Problem::storage(error.failure()),
            EmployeeError::TooMany(_)
            | EmployeeError::MissingField(_)
            | EmployeeError::RepeatedIds(_)
            | EmployeeError::UnreadableFile(_) => Problem::unprocessable(code, detail),
            EmployeeError::InvalidRows(rows) => {
                Problem::unprocessable(code, detail).with_extension("rejected_rows", rows)
            }
            EmployeeError::NoSuchEmployee => Problem::not_found("employee"),
        }
    }
}

impl ApiError for BayzatConfigError {
    fn problem(&self) -> Problem {
        let (code, detail) = (self.code(), self.to_string());
        match self {
            BayzatConfigError::Access(error) => error.problem(),
            BayzatConfigError::Key(error) => error.problem(),
            BayzatConfigError::Storage(error) => Problem::storage(error.failure()),
            BayzatConfigError::KeyNotAccepted(result) => {
                Problem::unprocessable(code, detail).with_extension("connection_test", result)
            }
            BayzatConfigError::InvalidApiUrl(_)
            | BayzatConfigError::UnusableApiUrl { .. }
            | BayzatConfigError::ApiUrlNotAllowed { .. }
            | BayzatConfigError::EmptyApiKey
            | BayzatConfigError::InvalidDailyAt(_)
            | BayzatConfigError::DailyAtMissing
            | BayzatConfigError::ApiKeyRequired
            | BayzatConfigError::NoApiKey => Problem::unprocessable(code, detail),
        }
    }
}

impl ApiError for KeyError {
    fn problem(&self) -> Problem {
        match self {
            KeyError::Access(error) => error.problem(),
            KeyError::NoStoredKey => Problem::not_found("Bayzat key"),
            KeyError::Unreadable(_) => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                self.code(),
                "The stored Bayzat key cannot be decrypted with the configured master keys",
            )
            .with_detail("the key must be saved again; the service log says why it cannot be read"),
            KeyError::Storage(error) => Problem::storage(error.failure()),
        }
    }
}

impl ApiError for DirectoryError {
    fn problem(&self) -> Problem {
        match self {
            DirectoryError::Access(error) => error.problem(),
            DirectoryError::Storage(error) => Problem::storage(error.failure()),
        }
    }
}

impl ApiError for AuditError {
    fn problem(&self) -> Problem {
        match self {
            AuditError::Access(error) => error.problem(),
            AuditError::Storage(error) => Problem::storage(error.failure()),
        }
    }
}

impl ApiError for WebhookError {
    fn problem(&self) -> Problem {
        let (code, detail) = (self.code(), self.to_string());
        match self {
            WebhookError::Access(error) => error.problem(),
            WebhookError::Storage(error) => Problem::storage(error.failure()),
            WebhookError::NoSuchEndpoint => Problem::not_found("webhook endpoint"),
            WebhookError::NoSuchDelivery => Problem::not_found("webhook delivery"),
            WebhookError::BadLimit(_) => {
                Problem::new(StatusCode::BAD_REQUEST, code, "The query is not valid")
                    .with_detail(detail)
            }
            WebhookError::NoSuchCompany(_)
            | WebhookError::NoUrlsAllowed
            | WebhookError::UnusableUrl { .. }
            | WebhookError::UrlNotAllowed { .. }
            | WebhookError::NoEventTypes
            | WebhookError::UnknownEventType(_)
            | WebhookError::NoCompanies
            | WebhookError::CompaniesRequired
            | WebhookError::InvalidEmail(_) => Problem::unprocessable(code, detail),
        }
    }
}

service_kit::api_errors!(
    WebhookError,
    AccessError,
    CompanyError,
    EmployeeError,
    BayzatConfigError,
    KeyError,
    DirectoryError,
    AuditError
);

/// A company's notification contacts (mail about its events) and their test mail.
#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("{0:?} is not a mail address")]
    InvalidEmail(String),
    #[error("language {0:?} is not one of: en, ar")]
    UnknownLanguage(String),
    #[error("{0:?} is not an event type; the types are: {types}", types = domain::BridgeEvent::TYPES.join(", "))]
    UnknownEventType(String),
    #[error("event_types is empty; name at least one of: {}", domain::BridgeEvent::TYPES.join(", "))]
    NoEventTypes,
    #[error("the company has a notification contact with the address {0:?}")]
    ContactExists(String),
    #[error("no such notification contact")]
    NoSuchContact,
    #[error("no mail can be sent: SMTP_URL is not set")]
    MailNotConfigured,
    #[error("the company has no notification contacts")]
    NoContacts,
    #[error(transparent)]
    Storage(#[from] DbError),
}

impl NotificationError {
    pub fn code(&self) -> &str {
        match self {
            NotificationError::Access(error) => error.code(),
            NotificationError::InvalidEmail(_) => "invalid_email",
            NotificationError::UnknownLanguage(_) => "invalid_language",
            NotificationError::UnknownEventType(_) | NotificationError::NoEventTypes => {
                "invalid_event_types"
            }
            NotificationError::ContactExists(_) => "contact_exists",
            NotificationError::NoSuchContact => "not_found",
            NotificationError::MailNotConfigured => "mail_not_configured",
            NotificationError::NoContacts => "no_contacts",
            NotificationError::Storage(error) => storage_code(error),
        }
    }
}

impl ApiError for NotificationError {
    fn problem(&self) -> Problem {
        let (code, detail) = (self.code(), self.to_string());
        match self {
            NotificationError::Access(error) => error.problem(),
            NotificationError::Storage(error) => Problem::storage(error.failure()),
            NotificationError::InvalidEmail(_)
            | NotificationError::UnknownLanguage(_)
            | NotificationError::UnknownEventType(_)
            | NotificationError::NoEventTypes => Problem::unprocessable(code, detail),
            NotificationError::ContactExists(_) | NotificationError::MailNotConfigured => {
                Problem::conflict(code, detail)
            }
            NotificationError::NoSuchContact => Problem::not_found("notification contact"),
            NotificationError::NoContacts => Problem::unprocessable(code, detail),
        }
    }
}

db::query_errors_are_storage_failures!(NotificationError);
service_kit::api_errors!(NotificationError);

#[cfg(test)]
mod tests {
    use super::*;

    /// Status, code and detail of each answer.
    fn answer(error: impl ApiError) -> (u16, String, Option<String>) {
        let problem = error.problem();
        (problem.status, problem.code.clone(), problem.detail.clone())
    }

    #[test]
    fn each_failure_has_its_status_and_code() {
        let unavailable = || DbError::Unreachable("connection refused".into());
        let table = [
            (
                answer(CompanyError::SlugTaken("advline".into())),
                (
                    409,
                    "slug_taken",
                    Some(r#"a company with slug "advline" exists"#),
                ),
            ),
            (
                answer(CompanyError::ReportNameTaken {
                    name: "AdvLine".into(),
                    owner: None,
                }),
                (
                    409,
                    "report_name_taken",
                    Some(r#"the report name "AdvLine" already maps to another company"#),
                ),
            ),
            (
                answer(CompanyError::Access(AccessError::NoSuchCompany)),
                (404, "not_found", None),
            ),
            (
                answer(CompanyError::SlugOutsideToken),
                (
                    403,
                    "forbidden_company",
                    Some("the slug is not one of this token's companies"),
                ),
            ),
            (
                answer(EmployeeError::RepeatedIds(vec!["7".into(), "9".into()])),
                (
                    422,
                    "duplicate_employee_ids",
                    Some("employee ids given more than once: 7, 9"),
                ),
            ),
            (
                answer(EmployeeError::TooMany(10_001)),
                (
                    422,
                    "too_many_employees",
                    Some("10001 employees in one call; at most 10000"),
                ),
            ),
            (
                answer(BayzatConfigError::KeyNotAccepted(
                    ConnectionTest::InvalidKey,
                )),
                (
                    422,
                    "connection_test_failed",
                    Some("Bayzat did not accept the key: invalid_key"),
                ),
            ),
            (answer(KeyError::NoStoredKey), (404, "not_found", None)),
            (
                answer(DirectoryError::Storage(unavailable())),
                (503, "database_unavailable", None),
            ),
            (
                answer(AuditError::Storage(DbError::Query(
                    diesel::result::Error::NotFound,
                ))),
                (500, "internal", None),
            ),
        ];
        for ((status, code, detail), expected) in table {
            assert_eq!(
                (status, code.as_str(), detail.as_deref()),
                expected,
                "{code}"
            );
        }
    }

    #[test]
    fn the_code_method_names_the_answers_code() {
        let errors: Vec<Box<dyn Fn() -> (String, String)>> = vec![
            Box::new(|| {
                let e = CompanyError::AllDigitSlug("123".into());
                (e.code().to_owned(), e.problem().code.clone())
            }),
            Box::new(|| {
                let e = EmployeeError::InvalidRows(Vec::new());
                (e.code().to_owned(), e.problem().code.clone())
            }),
            Box::new(|| {
                let e = BayzatConfigError::Storage(DbError::Unreachable("gone".into()));
                (e.code().to_owned(), e.problem().code.clone())
            }),
            Box::new(|| {
                let e = KeyError::Unreadable(crypto::CryptoError::Legacy);
                (e.code().to_owned(), e.problem().code.clone())
            }),
        ];
        for error in errors {
            let (code, answered) = error();
            assert_eq!(code, answered);
        }
    }
}
