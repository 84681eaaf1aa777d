//! When a company's next request may start, so that the per-key rate limit holds across
//! replicas (docs/architecture.md#delivery-rules: the lease records each request's start).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::time::plus;

/// The earliest moment a drain's first request may start: the start last recorded with the lease +
/// the interval + the safety margin, or now when that has passed or nothing was ever sent. Bayzat
/// measures arrivals, and a start is all a replica taking the lease over knows of its
/// predecessor's last request: the margin stands for how much later than its start that request
/// may have arrived. Within a drain, a sender paces each next request from the answer to the one
/// before instead (services/sync-service's sender), which needs no margin.
pub fn earliest_start(
    last_start: Option<DateTime<Utc>>,
    interval: Duration,
    margin: Duration,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    match last_start {
        Some(last) => plus(plus(last, interval), margin).max(now),
        None => now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::at;

    #[test]
    fn waits_for_the_interval_and_margin_since_the_last_start() {
        let second = Duration::from_secs(1);
        let margin = Duration::from_millis(25);
        let now = at("2026-05-01T12:00:00.500Z");
        let cases = [
            (None, now),
            (
                Some(at("2026-05-01T12:00:00Z")),
                at("2026-05-01T12:00:01.025Z"),
            ),
            (
                Some(at("2026-05-01T11:59:59.400Z")),
                at("2026-05-01T12:00:00.425Z").max(now),
            ),
            (
                Some(at("2026-05-01T11:59:59.475Z")),
                at("2026-05-01T12:00:00.500Z"),
            ),
            (Some(at("2026-05-01T11:00:00Z")), now),
            // A start recorded ahead of this replica's clock is still honoured.
            (
                Some(at("2026-05-01T12:00:02Z")),
                at("2026-05-01T12:00:03.025Z"),
            ),
        ];
        for (last, expected) in cases {
            assert_eq!(
                earliest_start(last, second, margin, now),
                expected,
                "{last:?}"
            );
        }
        assert_eq!(
            earliest_start(Some(now), Duration::ZERO, Duration::ZERO, now),
            now
        );
    }
}
