//! The checks, one module each. A check's requests are a method of the runner
//! (`crate::probe::Prober`); its conclusion, what the answers it got mean for the system, is a
//! pure function from plain values to a [`Conclusion`], so every conclusion is tested without a
//! server.

mod duplicate;
mod empty_records;
mod key_scope;
mod pace;
mod rate_limit;
mod retry_after;
mod unknown_employee;
mod wait_after_429;
mod wrong_key;

use std::time::Duration;

use bayzat_reply::Reply;

use crate::report::{Check, Setting, Status};

pub use rate_limit::BURST;

/// Longest part of a body quoted in the report.
const EXCERPT_CHARS: usize = 200;

/// One answer as the conclusions read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    /// The HTTP status; `None` when no answer came.
    pub(crate) status: Option<u16>,
    /// The body as it came (the key redacted); empty when no answer came.
    pub(crate) body: String,
    /// What the answer means for a delivery, as sync-service reads it.
    pub(crate) reply: Reply,
    /// The answer for the report's text: `400 {"success":false,...}`, or why none came.
    pub(crate) described: String,
}

impl Answer {
    /// `answered` is the status and body as they came, `None` when no answer came; `reply` is
    /// what they were read as.
    pub(crate) fn new(answered: Option<(u16, &str)>, reply: Reply) -> Self {
        let described = describe(answered, &reply);
        Self {
            status: answered.map(|(status, _)| status),
            body: answered
                .map(|(_, body)| body.to_owned())
                .unwrap_or_default(),
            reply,
            described,
        }
    }

    pub(crate) fn is_429(&self) -> bool {
        self.status == Some(429)
    }

    /// The wait sync-service takes after this answer when it is a 429 (`None`: its interval).
    pub(crate) fn told_wait(&self) -> Option<Duration> {
        told_wait(&self.reply)
    }
}

/// The wait a 429 told, as sync-service reads it (`None`: not a 429, or it said nothing usable).
pub(crate) fn told_wait(reply: &Reply) -> Option<Duration> {
    match reply {
        Reply::RateLimited { retry_after } => *retry_after,
        _ => None,
    }
}

/// `400 {"success":false,...}`, or why no answer came.
fn describe(answered: Option<(u16, &str)>, reply: &Reply) -> String {
    match (answered, reply) {
        (Some((status, body)), _) => {
            let body = excerpt(body);
            if body.is_empty() {
                format!("{status} (empty body)")
            } else {
                format!("{status} {body}")
            }
        }
        (None, Reply::Transient { detail, .. }) => format!("no answer ({detail})"),
        (None, Reply::Unauthorized) => {
            "nothing: the key cannot be sent in an HTTP header".to_owned()
        }
        (None, other) => format!("no answer ({})", other.kind()),
    }
}

fn excerpt(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// What a check concludes from what it observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Conclusion {
    pub(crate) check: Check,
    pub(crate) status: Status,
    /// What was sent and what came back, and what that means for the system.
    pub(crate) detail: String,
    /// A value to set before go-live; it replaces an earlier proposal of the same name.
    pub(crate) setting: Option<Setting>,
    /// The message of a refusal that was not of a duplicate: a duplicate pattern proposed later
    /// must not match it.
    pub(crate) other_refusal: Option<String>,
}

impl Conclusion {
    pub(crate) fn new(check: Check, status: Status, detail: impl Into<String>) -> Self {
        Self {
            check,
            status,
            detail: detail.into(),
            setting: None,
            other_refusal: None,
        }
    }

    pub(crate) fn with_setting(
        mut self,
        name: &str,
        value: String,
        applies_to: &str,
        why: impl Into<String>,
    ) -> Self {
        self.setting = Some(setting(name, value, applies_to, why));
        self
    }

    pub(crate) fn with_other_refusal(mut self, message: String) -> Self {
        self.other_refusal = Some(message);
        self
    }
}

fn setting(name: &str, value: String, applies_to: &str, why: impl Into<String>) -> Setting {
    Setting {
        name: name.to_owned(),
        value,
        applies_to: applies_to.to_owned(),
        why: why.into(),
    }
}

/// Answers as the client would hand them over, for the conclusions' tests.
#[cfg(test)]
pub(crate) mod answers {
    use bayzat_reply::{classify, default_duplicate_pattern, Headers, Reply};

    use super::Answer;

    /// An answer read with the default duplicate pattern and no headers.
    pub(crate) fn answered(status: u16, body: &str) -> Answer {
        with_headers(status, Headers::default(), body)
    }

    pub(crate) fn with_headers(status: u16, headers: Headers, body: &str) -> Answer {
        let reply = classify(
            status,
            &headers,
            body.as_bytes(),
            &default_duplicate_pattern(),
        );
        Answer::new(Some((status, body)), reply)
    }

    /// A 429 telling the wait in `Retry-After-Ms`.
    pub(crate) fn limited_ms(millis: &str) -> Answer {
        let headers = Headers {
            retry_after_ms: Some(millis),
            retry_after: None,
        };
        with_headers(
            429,
            headers,
            r#"{"success":false,"message":"Too Many Requests"}"#,
        )
    }

    /// No answer: a timeout, a refused connection.
    pub(crate) fn unanswered(detail: &str) -> Answer {
        Answer::new(
            None,
            Reply::Transient {
                status: None,
                detail: detail.to_owned(),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::answers::*;
    use super::*;

    #[test]
    fn answers_are_described_for_the_report() {
        assert_eq!(
            answered(400, r#" {"success":false} "#).described,
            r#"400 {"success":false}"#
        );
        assert_eq!(answered(200, "").described, "200 (empty body)");
        assert_eq!(
            unanswered("connection failed: refused").described,
            "no answer (connection failed: refused)"
        );
        assert_eq!(
            Answer::new(None, Reply::Unauthorized).described,
            "nothing: the key cannot be sent in an HTTP header"
        );
        assert_eq!(
            Answer::new(None, Reply::Accepted).described,
            "no answer (accepted)"
        );
        let long = answered(500, &"x".repeat(EXCERPT_CHARS + 5)).described;
        assert_eq!(long, format!("500 {}…", "x".repeat(EXCERPT_CHARS)));
    }

    #[test]
    fn the_wait_a_429_told() {
        assert_eq!(
            limited_ms("640").told_wait(),
            Some(Duration::from_millis(640))
        );
        assert_eq!(answered(429, "").told_wait(), None);
        assert_eq!(answered(200, r#"{"success":true}"#).told_wait(), None);
        assert!(answered(429, "").is_429() && !unanswered("timeout").is_429());
    }
}
