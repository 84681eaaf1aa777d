//! When a company's next request may start, so that the per-key rate limit holds across
//! replicas (docs/architecture.md#delivery-rules: the lease records each request's start).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::time::plus;

/// The earliest moment a drain's first request may start: the start last recorded with the lease +
/// the interval + the safety margin, or now when that has passed or nothing was ever sent. Measured
/// start to start because Bayzat measures arrivals; a replica taking over a lease uses the start
/// its predecessor wrote. Within a drain, a sender paces each next request with [`Pace`].
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
/// Answers a key must have given before the start rule is trusted (see [`Pace`]).
const ANSWERS_BEFORE_START_RULE: usize = 4;

/// How long after a request's start the key's next request may start, from how long its answer
/// took. Bayzat counts a request when it arrives, somewhere between its start and its answer:
/// - the delay after the **answer** is always late enough, and the quicker the answers, the
///   sooner than the delay and margin after the start;
/// - the delay and margin after the **start**, plus however much longer than the key's quickest
///   recent answer this one took (it may have arrived that much later than it left: a busy
///   network or machine held it up), waits no answer's time: with answers slower than the
///   margin it is the sooner.
///
/// The next request starts at the sooner of the two. Paced from the start alone, with answers of
/// a few milliseconds, every request waited the whole margin, and a request held up on its way
/// made the next, on time, a 429 (one to four a run of 200 companies on a busy machine).
///
/// The start rule needs the key's usual answer time: until the key has answered
/// [`ANSWERS_BEFORE_START_RULE`] times, the delay after the answer alone paces it. A sender's
/// first answer, slow because a busy machine held its request up on the way, was otherwise taken
/// for the key's usual one, and the second request, on time, arrived less than the delay after
/// the first (one or two 429s a run of 200 companies on a machine busy throughout).
#[derive(Debug, Clone, Default)]
pub struct Pace {
    latencies: std::collections::VecDeque<Duration>,
}

impl Pace {
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes a request's answer, `latency` after its start, and returns how long after that
    /// start the next may start (see [`Pace`]).
    pub fn answered(&mut self, latency: Duration, delay: Duration, margin: Duration) -> Duration {
        if self.latencies.len() == REMEMBERED_ANSWERS {
            self.latencies.pop_front();
        }
        self.latencies.push_back(latency);
        let after_answer = latency + delay;
        if self.latencies.len() < ANSWERS_BEFORE_START_RULE {
            return after_answer;
        }
        let quickest = self.latencies.iter().min().copied().unwrap_or(latency);
        let after_start = delay + margin + latency.saturating_sub(quickest);
        after_answer.min(after_start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::at;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    /// The next start after an answer of `millis`, with a 1 s delay and a 25 ms margin.
    fn answered(pace: &mut Pace, millis: u64) -> Duration {
        pace.answered(ms(millis), Duration::from_secs(1), ms(25))
    }

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
    fn the_next_start_is_the_delay_after_a_quick_answer() {
        let mut pace = Pace::new();
        assert_eq!(answered(&mut pace, 4), ms(1_004));
        assert_eq!(answered(&mut pace, 3), ms(1_003));
        // Held up 40 ms more than the quickest: the answer is still the sooner.
        assert_eq!(answered(&mut pace, 43), ms(1_043));
    }

    #[test]
    fn a_first_answer_slowed_on_its_way_does_not_pace_the_next_from_its_start() {
        let mut pace = Pace::new();
        // The first request waited 30 ms for a core on its way out and was answered 3 ms after it
        // arrived; the next one leaves at once. From the start, 1,025 ms would bring it to Bayzat
        // 995 ms after the first arrived.
        assert_eq!(answered(&mut pace, 33), ms(1_033));
    }

    #[test]
    fn with_slow_answers_the_next_start_is_the_delay_and_margin_after_the_start() {
        let mut pace = Pace::new();
        // Until the key has answered a few times, its usual answer time is not known: paced from
        // the answer.
        assert_eq!(answered(&mut pace, 300), ms(1_300));
        assert_eq!(answered(&mut pace, 290), ms(1_290));
        assert_eq!(answered(&mut pace, 300), ms(1_300));
        assert_eq!(answered(&mut pace, 280), ms(1_025));
        assert_eq!(answered(&mut pace, 280), ms(1_025));
        // 40 ms later than the quickest: it may have arrived that much late.
        assert_eq!(answered(&mut pace, 320), ms(1_065));
        // The quickest is forgotten after a while: answers that all take longer are the usual.
        for _ in 0..REMEMBERED_ANSWERS {
            answered(&mut pace, 330);
        }
        assert_eq!(answered(&mut pace, 330), ms(1_025));
    }
}
