//! A resend after the wait sync-service takes after a 429 (what the 429 said, else its interval)
//! is answered.

use std::time::Duration;

use super::{Answer, Conclusion};
use crate::report::{Check, Status};
use crate::suggest::ms;

/// `wait` is how long after the 429 the resend went, `told` whether the 429 said that wait.
pub(crate) fn conclude(wait: Duration, told: bool, resend: &Answer) -> Conclusion {
    let how = if told {
        "as long as the 429 said"
    } else {
        "sync-service's interval"
    };
    if resend.is_429() {
        let why = if told {
            "Bayzat's Retry-After is shorter than its window; sync-service then waits and \
             resends again (a 429 costs no attempt, only a request)"
        } else {
            "sync-service's interval is shorter than Bayzat's window (see pace)"
        };
        Conclusion::new(
            Check::WaitAfter429,
            Status::Differs,
            format!(
                "a resend {} after the 429 ({how}) was refused again ({}): {why}",
                ms(wait),
                resend.described
            ),
        )
    } else {
        Conclusion::new(
            Check::WaitAfter429,
            Status::Ok,
            format!(
                "a resend {} after the 429 ({how}) was answered {}",
                ms(wait),
                resend.described
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::answers::*;

    const WAIT: Duration = Duration::from_millis(960);

    #[test]
    fn a_resend_after_the_wait_that_is_answered_passes() {
        let got = conclude(WAIT, true, &answered(200, r#"{"success":true}"#));
        assert_eq!((got.check, got.status), (Check::WaitAfter429, Status::Ok));
        assert!(
            got.detail.contains(
                "a resend 960 ms after the 429 (as long as the 429 said) was answered 200"
            ),
            "{}",
            got.detail
        );
        let got = conclude(WAIT, false, &answered(200, r#"{"success":true}"#));
        assert!(
            got.detail.contains("(sync-service's interval)"),
            "{}",
            got.detail
        );
    }

    #[test]
    fn a_resend_refused_again_differs() {
        let told = conclude(WAIT, true, &limited_ms("40"));
        assert_eq!(told.status, Status::Differs);
        assert!(
            told.detail
                .contains("Retry-After is shorter than its window"),
            "{}",
            told.detail
        );
        let own = conclude(WAIT, false, &answered(429, ""));
        assert_eq!(own.status, Status::Differs);
        assert!(
            own.detail
                .contains("interval is shorter than Bayzat's window"),
            "{}",
            own.detail
        );
    }
}
