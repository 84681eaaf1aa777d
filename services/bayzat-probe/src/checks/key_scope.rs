//! Whether each key has its own rate limit: a second company's key right after the first, or,
//! without one, the made-up key's 429 right after a counted request.

use std::time::Duration;

use super::{Answer, Conclusion};
use crate::assumptions::RATE_LIMIT_DELAY;
use crate::probe::{Prober, Sent};
use crate::report::{Check, Status};
use crate::suggest::{delay_seconds, ms};

/// What was seen of the limit's scope.
pub(crate) enum Scope {
    /// No second key was given; whether the made-up key was answered 429 right after a request
    /// with the sandbox key.
    NoSecondKey { wrong_key_limited: bool },
    /// The first key's request at the pace got a 429 or no answer, so the second key was not
    /// tried.
    FirstUnanswered(Answer),
    /// The second key's request, sent `gap` after the first key's.
    Second { gap: Duration, answer: Answer },
}

impl Prober<'_> {
    pub(crate) async fn key_scope(&mut self, key: &str, wrong_key_limited: Option<Sent>) {
        let scope = match self.o.second_key.clone() {
            Some(second) => {
                let first = self.paced(key, &[]).await;
                if first.is_429() || first.status().is_none() {
                    Scope::FirstUnanswered(first.answer())
                } else {
                    let other = self.send(&second, &[]).await;
                    Scope::Second {
                        gap: other.started - first.started,
                        answer: other.answer(),
                    }
                }
            }
            None => Scope::NoSecondKey {
                wrong_key_limited: wrong_key_limited.is_some(),
            },
        };
        let margin = self.o.assumptions.rate_limit_margin;
        self.record(conclude(&scope, self.interval, margin));
        if wrong_key_limited.is_some() {
            // The made-up key's answer was a 429: ask again at the pace for its 401.
            self.wrong_key_again().await;
        }
    }
}

/// `interval` is the pace the probe keeps now (sync-service's, or the window the pace check
/// measured), `margin` sync-service's margin on top of its delay.
pub(crate) fn conclude(scope: &Scope, interval: Duration, margin: Duration) -> Conclusion {
    match scope {
        Scope::FirstUnanswered(first) => Conclusion::new(
            Check::KeyScope,
            Status::NotChecked,
            format!("the first key's request got {}", first.described),
        ),
        Scope::Second { gap, answer } => match answer.status {
            Some(429) => shared_limit(
                format!(
                    "a request with the second key {} after one with the first was answered {}",
                    ms(*gap),
                    answer.described
                ),
                interval,
                margin,
            ),
            Some(401 | 403) => Conclusion::new(
                Check::KeyScope,
                Status::NotChecked,
                format!(
                    "the second key was refused ({}): give a valid sandbox key of another \
                     company",
                    answer.described
                ),
            ),
            None => Conclusion::new(
                Check::KeyScope,
                Status::NotChecked,
                format!("the second key's request got {}", answer.described),
            ),
            Some(_) => Conclusion::new(
                Check::KeyScope,
                Status::Ok,
                format!(
                    "a request with the second key {} after one with the first was answered {}: \
                     each key has its own limit",
                    ms(*gap),
                    answer.described
                ),
            ),
        },
        Scope::NoSecondKey {
            wrong_key_limited: true,
        } => shared_limit(
            "a made-up key was answered 429 right after a request with the sandbox key, so the \
             limit is applied per client address, not per key"
                .to_owned(),
            interval,
            margin,
        ),
        Scope::NoSecondKey {
            wrong_key_limited: false,
        } => Conclusion::new(
            Check::KeyScope,
            Status::NotChecked,
            "needs --second-key, a sandbox key of another company",
        ),
    }
}

fn shared_limit(evidence: String, interval: Duration, margin: Duration) -> Conclusion {
    let delay = interval.saturating_sub(margin);
    Conclusion::new(
        Check::KeyScope,
        Status::Configure,
        format!(
            "{evidence}: the limit spans keys, but sync-service paces each company's key on its \
             own, so companies syncing at once meet 429s and slow each other down"
        ),
    )
    .with_setting(
        RATE_LIMIT_DELAY,
        format!("{} × the number of companies", delay_seconds(delay)),
        "sync-service",
        "each company's sender then keeps to its share of the one limit; senders sharing one \
         limiter would need a code change",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::answers::*;

    const INTERVAL: Duration = Duration::from_millis(1025);
    const MARGIN: Duration = Duration::from_millis(25);

    fn second(answer: Answer) -> Conclusion {
        let scope = Scope::Second {
            gap: Duration::from_millis(30),
            answer,
        };
        conclude(&scope, INTERVAL, MARGIN)
    }

    #[test]
    fn a_second_key_answered_right_after_the_first_passes() {
        let got = second(answered(200, r#"{"success":true}"#));
        assert_eq!((got.check, got.status), (Check::KeyScope, Status::Ok));
        assert!(
            got.detail.contains("each key has its own limit"),
            "{}",
            got.detail
        );
        assert_eq!(got.setting, None);
    }

    #[test]
    fn a_limit_across_keys_needs_the_delay_shared() {
        let got = second(limited_ms("990"));
        assert_eq!(got.status, Status::Configure);
        let setting = got.setting.unwrap();
        assert_eq!(setting.name, RATE_LIMIT_DELAY);
        assert_eq!(setting.value, "1 × the number of companies");

        // Without a second key, the made-up key's 429 shows the same; the delay is the pace
        // the probe measured, less the margin.
        let scope = Scope::NoSecondKey {
            wrong_key_limited: true,
        };
        let got = conclude(&scope, Duration::from_millis(2050), MARGIN);
        assert_eq!(got.status, Status::Configure);
        assert!(got.detail.contains("per client address"), "{}", got.detail);
        assert_eq!(got.setting.unwrap().value, "2.03 × the number of companies");
    }

    #[test]
    fn what_cannot_show_the_scope_is_not_checked() {
        let cases = [
            second(answered(401, "")),
            second(unanswered("timeout")),
            conclude(&Scope::FirstUnanswered(answered(429, "")), INTERVAL, MARGIN),
            conclude(
                &Scope::NoSecondKey {
                    wrong_key_limited: false,
                },
                INTERVAL,
                MARGIN,
            ),
        ];
        for got in cases {
            assert_eq!(got.status, Status::NotChecked, "{}", got.detail);
        }
    }
}
