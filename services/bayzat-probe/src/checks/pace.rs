//! A request `BAYZAT_RATE_LIMIT_DELAY` + margin after the previous one, as sync-service paces
//! them. When it is refused, how long Bayzat's window is, and the delay that covers it.

use std::time::Duration;

use tokio::time::sleep_until;

use super::{Answer, Conclusion};
use crate::assumptions::{Assumptions, RATE_LIMIT_DELAY, RATE_LIMIT_MARGIN_MS};
use crate::probe::Prober;
use crate::report::{Check, Status};
use crate::suggest::{delay_seconds, ms};

/// Multiples of sync-service's interval tried when a 429 does not say how long to wait: fine
/// near the interval, where a window that is a little longer is likely, then coarse.
const WINDOW_SEARCH: [f64; 7] = [1.25, 1.5, 1.75, 2.0, 3.0, 4.0, 8.0];

/// What the request at sync-service's pace met.
pub(crate) enum Paced<'a> {
    /// Anything but a 429, or no answer.
    Answered(&'a Answer),
    /// A 429 to a request sent `gap` after the previous one. `window` is Bayzat's window, read
    /// from the 429 or found by trying longer gaps; `None` when even the longest was refused.
    Refused {
        gap: Duration,
        answer: &'a Answer,
        window: Option<Duration>,
    },
}

impl Prober<'_> {
    pub(crate) async fn pace(&mut self, key: &str) {
        let sender_interval = self.o.assumptions.interval();
        let before = self.last_counted;
        self.wait_turn().await;
        let sent = self.send(key, &[]).await;
        if !sent.is_429() {
            let (conclusion, _) = conclude(Paced::Answered(&sent.answer()), &self.o.assumptions);
            self.record(conclusion);
            return;
        }
        let before = before.unwrap_or(sent.started);
        let gap = sent.started - before;
        let mut window = sent.told_wait().map(|t| gap + t);
        if window.is_none() {
            // The 429 does not say: try longer gaps until one is answered.
            for factor in WINDOW_SEARCH {
                sleep_until(before + sender_interval.mul_f64(factor)).await;
                let retry = self.send(key, &[]).await;
                if !retry.is_429() && retry.status().is_some() {
                    window = Some(retry.started - before);
                    break;
                }
            }
        }
        let answer = sent.answer();
        let (conclusion, interval) = conclude(
            Paced::Refused {
                gap,
                answer: &answer,
                window,
            },
            &self.o.assumptions,
        );
        self.record(conclusion);
        if let Some(interval) = interval {
            self.interval = interval;
        }
        if self.last_counted == Some(before) {
            self.paced(key, &[]).await;
        }
    }
}

/// The finding, and the interval the later checks keep to when Bayzat's window is longer than
/// sync-service's (`None`: sync-service's interval holds).
pub(crate) fn conclude(paced: Paced, assumptions: &Assumptions) -> (Conclusion, Option<Duration>) {
    let sender_interval = assumptions.interval();
    let margin = assumptions.rate_limit_margin;
    let (gap, answer, window) = match paced {
        Paced::Answered(answer) => {
            let conclusion = match answer.status {
                None => Conclusion::new(
                    Check::Pace,
                    Status::NotChecked,
                    format!("the request got {}", answer.described),
                ),
                Some(_) => Conclusion::new(
                    Check::Pace,
                    Status::Ok,
                    format!(
                        "a request {} after the previous one ({RATE_LIMIT_DELAY} {} + \
                         {RATE_LIMIT_MARGIN_MS} {}) was answered {}",
                        ms(sender_interval),
                        ms(assumptions.rate_limit_delay),
                        ms(margin),
                        answer.described
                    ),
                ),
            };
            return (conclusion, None);
        }
        Paced::Refused {
            gap,
            answer,
            window,
        } => (gap, answer, window),
    };
    let refused = format!(
        "a request {} after the previous one, at sync-service's pace, was answered {}",
        ms(gap),
        answer.described
    );
    match window {
        Some(w) => (
            Conclusion::new(
                Check::Pace,
                Status::Configure,
                format!("{refused}: Bayzat's window is about {}", ms(w)),
            )
            .with_setting(
                RATE_LIMIT_DELAY,
                delay_seconds(w),
                "sync-service",
                format!(
                    "one request per key per this long, as measured; {RATE_LIMIT_MARGIN_MS} \
                     stays on top against jitter (now {})",
                    ms(margin)
                ),
            ),
            Some(w + margin),
        ),
        None => {
            let longest = sender_interval.mul_f64(WINDOW_SEARCH[WINDOW_SEARCH.len() - 1]);
            (
                Conclusion::new(
                    Check::Pace,
                    Status::Configure,
                    format!(
                        "{refused}, and still refused {} after it: Bayzat's window is longer \
                         than that",
                        ms(longest)
                    ),
                )
                .with_setting(
                    RATE_LIMIT_DELAY,
                    delay_seconds(longest),
                    "sync-service",
                    "at least this: Bayzat refused every request sooner; ask Bayzat for its \
                     limit",
                ),
                Some(longest + margin),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::answers::*;

    #[test]
    fn a_request_at_the_pace_that_is_answered_passes() {
        let assumptions = Assumptions::default();
        let (got, interval) = conclude(
            Paced::Answered(&answered(200, r#"{"success":true}"#)),
            &assumptions,
        );
        assert_eq!((got.check, got.status), (Check::Pace, Status::Ok));
        assert!(
            got.detail
                .contains("a request 1025 ms after the previous one"),
            "{}",
            got.detail
        );
        assert_eq!((got.setting, interval), (None, None));
        // A refusal of the content still shows the pace was kept.
        let (got, _) = conclude(Paced::Answered(&answered(400, "")), &assumptions);
        assert_eq!(got.status, Status::Ok);
    }

    #[test]
    fn no_answer_is_not_checked() {
        let (got, interval) = conclude(
            Paced::Answered(&unanswered("timeout")),
            &Assumptions::default(),
        );
        assert_eq!(got.status, Status::NotChecked);
        assert_eq!(interval, None);
    }

    #[test]
    fn a_measured_window_is_proposed_as_the_delay() {
        let assumptions = Assumptions::default();
        let refused = limited_ms("1000");
        let (got, interval) = conclude(
            Paced::Refused {
                gap: Duration::from_millis(1025),
                answer: &refused,
                window: Some(Duration::from_millis(2025)),
            },
            &assumptions,
        );
        assert_eq!(got.status, Status::Configure);
        assert!(
            got.detail.contains("window is about 2025 ms"),
            "{}",
            got.detail
        );
        let setting = got.setting.unwrap();
        assert_eq!(
            (setting.name.as_str(), setting.value.as_str()),
            (RATE_LIMIT_DELAY, "2.03")
        );
        assert_eq!(interval, Some(Duration::from_millis(2050)));
    }

    #[test]
    fn a_window_longer_than_the_search_asks_for_at_least_the_longest() {
        let assumptions = Assumptions::default();
        let refused = answered(429, "");
        let (got, interval) = conclude(
            Paced::Refused {
                gap: Duration::from_millis(1025),
                answer: &refused,
                window: None,
            },
            &assumptions,
        );
        assert_eq!(got.status, Status::Configure);
        assert!(
            got.detail.contains("still refused 8200 ms after it"),
            "{}",
            got.detail
        );
        assert_eq!(got.setting.unwrap().value, "8.2");
        assert_eq!(interval, Some(Duration::from_millis(8225)));
    }
}
