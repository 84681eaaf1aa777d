//! Which of `Retry-After-Ms` / `Retry-After` a 429 carries: sync-service waits exactly the first,
//! up to a second too long by the second, and its own interval without either.

use std::time::Duration;

use super::Conclusion;
use crate::report::{Check, Status};
use crate::suggest::ms;

/// The 429's headers as they came (trimmed text; `None` when absent), and the wait sync-service
/// reads from them (`told`).
pub(crate) fn conclude(
    retry_after_ms: Option<&str>,
    retry_after: Option<&str>,
    told: Option<Duration>,
    sender_interval: Duration,
) -> Conclusion {
    let exact_usable = retry_after_ms
        .and_then(|v| v.parse::<f64>().ok())
        .is_some_and(|v| v.is_finite() && v >= 0.0);
    let (status, detail) = match (exact_usable, told, retry_after) {
        (true, _, seconds) => (
            Status::Ok,
            format!(
                "the 429 carries Retry-After-Ms: {} (Retry-After: {}); sync-service waits \
                 exactly that",
                retry_after_ms.unwrap_or_default(),
                seconds.unwrap_or("absent")
            ),
        ),
        (false, Some(wait), Some(seconds)) => (
            Status::Differs,
            format!(
                "the 429 carries Retry-After: {seconds} and no usable Retry-After-Ms; \
                 sync-service waits {}, up to a second longer than needed",
                ms(wait)
            ),
        ),
        (false, _, Some(seconds)) => (
            Status::Differs,
            format!(
                "the 429's Retry-After {seconds:?} is not a number of seconds (a date?); \
                 sync-service waits its own interval ({}) instead",
                ms(sender_interval)
            ),
        ),
        (false, _, None) => (
            Status::Differs,
            format!(
                "the 429 carries neither Retry-After nor Retry-After-Ms; sync-service waits \
                 its own interval ({}) instead",
                ms(sender_interval)
            ),
        ),
    };
    Conclusion::new(Check::RetryAfter, status, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_millis(1025);

    fn headers(retry_after_ms: Option<&str>, retry_after: Option<&str>) -> Conclusion {
        // The wait as sync-service reads it from the same headers.
        let told = bayzat_reply::Headers {
            retry_after_ms,
            retry_after,
        }
        .retry_after();
        conclude(retry_after_ms, retry_after, told, INTERVAL)
    }

    #[test]
    fn an_exact_wait_passes() {
        let got = headers(Some("312"), Some("1"));
        assert_eq!((got.check, got.status), (Check::RetryAfter, Status::Ok));
        assert!(
            got.detail.contains("Retry-After-Ms: 312 (Retry-After: 1)"),
            "{}",
            got.detail
        );
        let got = headers(Some("0"), None);
        assert_eq!(got.status, Status::Ok);
        assert!(
            got.detail.contains("(Retry-After: absent)"),
            "{}",
            got.detail
        );
    }

    #[test]
    fn whole_seconds_only_differ() {
        let got = headers(None, Some("1"));
        assert_eq!(got.status, Status::Differs);
        assert!(
            got.detail
                .contains("Retry-After: 1 and no usable Retry-After-Ms")
                && got.detail.contains("waits 1000 ms"),
            "{}",
            got.detail
        );
        // An unusable Retry-After-Ms counts as absent.
        assert_eq!(headers(Some("-5"), Some("2")).status, Status::Differs);
        assert_eq!(headers(Some("soon"), Some("2")).status, Status::Differs);
    }

    #[test]
    fn a_date_or_nothing_differs_and_sync_service_waits_its_interval() {
        let date = headers(None, Some("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(date.status, Status::Differs);
        assert!(
            date.detail.contains("not a number of seconds") && date.detail.contains("1025 ms"),
            "{}",
            date.detail
        );
        let neither = headers(None, None);
        assert_eq!(neither.status, Status::Differs);
        assert!(neither.detail.contains("neither"), "{}", neither.detail);
    }
}
