//! Requests back to back until a 429: Bayzat has a rate limit, and the 429 may say how long its
//! window is. The same 429 feeds the Retry-After and wait-after-a-429 checks, and the made-up key
//! is sent right after it.

use std::time::Duration;

use bayzat_reply::{RETRY_AFTER, RETRY_AFTER_MS};
use tokio::time::sleep_until;

use super::{retry_after, wait_after_429, Answer, Conclusion};
use crate::assumptions::{RATE_LIMIT_DELAY, RATE_LIMIT_MARGIN_MS};
use crate::probe::{Prober, Sent};
use crate::report::{Check, Status};
use crate::suggest::ms;

/// Requests sent back to back after the first before concluding that Bayzat allows bursts.
pub const BURST: usize = 4;

/// What the requests sent back to back met.
pub(crate) enum Burst<'a> {
    /// No 429: the status of each request (`None`: no answer).
    Unlimited(&'a [Option<u16>]),
    /// A 429, sent `gap` after the previous counted request.
    Limited { gap: Duration, answer: &'a Answer },
}

impl Prober<'_> {
    /// Requests back to back until a 429; what the 429 says; whether waiting as sync-service
    /// waits is enough; and a made-up key right after a counted request. Returns that made-up
    /// key's answer when it was a 429 (the limit then spans keys).
    pub(crate) async fn rate_limit(&mut self, key: &str) -> Option<Sent> {
        let mut limited = None;
        let mut answers = Vec::new();
        let mut before = self.last_counted;
        for _ in 0..BURST {
            before = self.last_counted;
            let sent = self.send(key, &[]).await;
            if sent.is_429() {
                limited = Some(sent);
                break;
            }
            answers.push(sent.status());
        }
        let sender_interval = self.o.assumptions.interval();
        let Some(limited) = limited else {
            self.record(conclude(Burst::Unlimited(&answers), sender_interval));
            for check in [Check::RetryAfter, Check::WaitAfter429] {
                self.record(Conclusion::new(
                    check,
                    Status::NotChecked,
                    "no 429 could be provoked",
                ));
            }
            return self.wrong_key().await;
        };

        let gap = before.map_or(Duration::ZERO, |b| limited.started - b);
        let answer = limited.answer();
        self.record(conclude(
            Burst::Limited {
                gap,
                answer: &answer,
            },
            sender_interval,
        ));
        self.record(retry_after::conclude(
            limited.header(RETRY_AFTER_MS).as_deref(),
            limited.header(RETRY_AFTER).as_deref(),
            answer.told_wait(),
            sender_interval,
        ));

        let told = answer.told_wait();
        let wait = told.unwrap_or(sender_interval);
        sleep_until(limited.answered + wait).await;
        let resend = self.send(key, &[]).await;
        self.record(wait_after_429::conclude(
            wait,
            told.is_some(),
            &resend.answer(),
        ));
        if resend.is_429() {
            self.paced(key, &[]).await;
        }
        self.wrong_key().await
    }
}

/// Whether Bayzat limits requests sent back to back, and how long its window is by the 429.
pub(crate) fn conclude(burst: Burst, sender_interval: Duration) -> Conclusion {
    let (gap, limited) = match burst {
        Burst::Unlimited(answers) => {
            let answers: Vec<String> = answers
                .iter()
                .map(|s| s.map_or_else(|| "no answer".to_owned(), |s| s.to_string()))
                .collect();
            return Conclusion::new(
                Check::RateLimit,
                Status::Differs,
                format!(
                    "{BURST} requests sent back to back after the first were answered {}, none \
                     429: Bayzat allows more than one request per {}, so sync-service's pace is \
                     slower than it need be, which is safe",
                    answers.join(", "),
                    ms(sender_interval)
                ),
            );
        }
        Burst::Limited { gap, answer } => (gap, answer),
    };
    let window = match limited.told_wait() {
        Some(t) => {
            let w = gap + t;
            let versus = if w > sender_interval {
                "longer than sync-service's pace (see pace)"
            } else {
                "within sync-service's pace"
            };
            format!(
                "; by its Retry-After Bayzat's window is about {}, {versus} of {} \
                 ({RATE_LIMIT_DELAY} + {RATE_LIMIT_MARGIN_MS})",
                ms(w),
                ms(sender_interval)
            )
        }
        None => String::new(),
    };
    Conclusion::new(
        Check::RateLimit,
        Status::Ok,
        format!(
            "a request {} after the previous one was answered {}{window}",
            ms(gap),
            limited.described
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::answers::*;

    const INTERVAL: Duration = Duration::from_millis(1025);

    #[test]
    fn a_429_to_a_request_right_after_another_passes() {
        let limited = limited_ms("960");
        let got = conclude(
            Burst::Limited {
                gap: Duration::from_millis(40),
                answer: &limited,
            },
            INTERVAL,
        );
        assert_eq!((got.check, got.status), (Check::RateLimit, Status::Ok));
        assert!(
            got.detail.contains("a request 40 ms after"),
            "{}",
            got.detail
        );
        assert!(
            got.detail
                .contains("window is about 1000 ms, within sync-service's pace"),
            "{}",
            got.detail
        );
    }

    #[test]
    fn a_window_longer_than_the_pace_is_pointed_out() {
        let limited = limited_ms("1960");
        let got = conclude(
            Burst::Limited {
                gap: Duration::from_millis(40),
                answer: &limited,
            },
            INTERVAL,
        );
        assert_eq!(got.status, Status::Ok);
        assert!(
            got.detail.contains("longer than sync-service's pace"),
            "{}",
            got.detail
        );
        // A 429 that does not say: no window.
        let silent = answered(429, "");
        let got = conclude(
            Burst::Limited {
                gap: Duration::ZERO,
                answer: &silent,
            },
            INTERVAL,
        );
        assert!(!got.detail.contains("window"), "{}", got.detail);
    }

    #[test]
    fn no_429_in_a_burst_differs() {
        let got = conclude(
            Burst::Unlimited(&[Some(200), Some(200), None, Some(200)]),
            INTERVAL,
        );
        assert_eq!(got.status, Status::Differs);
        assert!(
            got.detail
                .contains("answered 200, 200, no answer, 200, none 429"),
            "{}",
            got.detail
        );
        assert_eq!(got.setting, None);
    }
}
