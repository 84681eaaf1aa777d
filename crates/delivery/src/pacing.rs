//! When a company's next request may start, so that the per-key rate limit holds across
//! replicas (docs/architecture.md#delivery-rules: the lease records each request's start).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::time::plus;

/// The earliest moment a request may start: the last recorded start + the interval + the safety
/// margin, or now when that has passed or nothing was ever sent. Measured start to start because
/// Bayzat measures arrivals; a replica taking over a lease uses the start its predecessor wrote.
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

/// Answers remembered to know how quickly a key usually answers.
const REMEMBERED_ANSWERS: usize = 16;

/// How long after a request's start the key's next request may start, from how long its answer
/// took. Bayzat measures arrivals; a request whose answer took longer than the key's quickest
/// recent one may have arrived that much later than it left (a busy network or machine held it
/// up), and the next one waits as much more on top of the interval and margin. Otherwise the
/// next, on time, would arrive less than the interval after it: a 429.
#[derive(Debug, Clone, Default)]
pub struct Pace {
    latencies: std::collections::VecDeque<Duration>,
}

impl Pace {
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes a request's answer, `latency` after its start, and returns how long after that
    /// start the next may start: `interval` (the key's delay and margin) plus the answer's
    /// delay over the quickest of the key's recent answers.
    pub fn answered(&mut self, latency: Duration, interval: Duration) -> Duration {
        if self.latencies.len() == REMEMBERED_ANSWERS {
            self.latencies.pop_front();
        }
        self.latencies.push_back(latency);
        let quickest = self.latencies.iter().min().copied().unwrap_or(latency);
        interval + latency.saturating_sub(quickest)
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

    #[test]
    fn a_late_answer_delays_the_next_start_by_its_lateness() {
        let interval = Duration::from_millis(1_025);
        let ms = Duration::from_millis;
        let mut pace = Pace::new();
        assert_eq!(
            pace.answered(ms(4), interval),
            interval,
            "the first sets the usual"
        );
        assert_eq!(
            pace.answered(ms(3), interval),
            interval,
            "quicker than usual"
        );
        assert_eq!(
            pace.answered(ms(43), interval),
            ms(1_065),
            "40 ms later than the quickest"
        );
        assert_eq!(pace.answered(ms(5), interval), ms(1_027));
        // The quickest is forgotten after a while: answers that all take longer are the usual.
        for _ in 0..REMEMBERED_ANSWERS {
            pace.answered(ms(30), interval);
        }
        assert_eq!(pace.answered(ms(30), interval), interval);
        assert_eq!(pace.answered(ms(80), interval), ms(1_075));
    }
}
