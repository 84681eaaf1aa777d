use std::time::Duration;

use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// An RFC 9457 problem+json answer with a stable machine-readable `code`, and a `Retry-After`
/// header when the caller should try again later.
///
/// Boxed, so that `Result<_, Problem>` stays a pointer wide on the happy path; its fields are read
/// through `Deref`.
#[derive(Debug, Clone)]
pub struct Problem(Box<Answer>);

#[derive(Debug, Clone)]
struct Answer {
    body: ProblemBody,
    retry_after: Option<Duration>,
}

/// The members of a [`Problem`].
#[derive(Debug, Clone, Serialize)]
pub struct ProblemBody {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Extension members (RFC 9457 §3.2), e.g. the result of a failed connection test.
    #[serde(flatten, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, title: &str) -> Self {
        Self(Box::new(Answer {
            body: ProblemBody {
                type_uri: format!("urn:attendance-bridge:problem:{code}"),
                title: title.to_owned(),
                status: status.as_u16(),
                code: code.to_owned(),
                detail: None,
                extensions: serde_json::Map::new(),
            },
            retry_after: None,
        }))
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.0.body.detail = Some(detail.into());
        self
    }

    /// Adds an extension member.
    pub fn with_extension(mut self, name: &str, value: impl serde::Serialize) -> Self {
        if let Ok(value) = serde_json::to_value(value) {
            self.0.body.extensions.insert(name.to_owned(), value);
        }
        self
    }

    /// Answers with `Retry-After`, in whole seconds (rounded up, at least one).
    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        self.0.retry_after = Some(wait);
        self
    }

    /// How long the caller is told to wait before trying again, if at all.
    pub fn retry_after(&self) -> Option<Duration> {
        self.0.retry_after
    }

    /// 404 `not_found` for a named resource.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("No such {what}"),
        )
    }

    /// 422 for a request that parsed but breaks a rule; `code` names the rule.
    pub fn unprocessable(code: &str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
            "The request breaks a rule",
        )
        .with_detail(detail)
    }

    /// 409 for a request that conflicts with what is stored.
    pub fn conflict(code: &str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            code,
            "The request conflicts with existing data",
        )
        .with_detail(detail)
    }
}

impl std::ops::Deref for Problem {
    type Target = ProblemBody;

    fn deref(&self) -> &ProblemBody {
        &self.0.body
    }
}

/// The body only: `Retry-After` is a header.
impl Serialize for Problem {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.body.serialize(serializer)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.title, self.code)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.content_type("application/problem+json");
        if let Some(wait) = self.0.retry_after {
            let seconds = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
            response.insert_header((RETRY_AFTER, HeaderValue::from(seconds)));
        }
        response.json(self)
    }
}
