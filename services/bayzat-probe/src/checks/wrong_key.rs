//! A made-up key: a 401 or 403 shows a wrong key is refused as the system expects; a 429 right
//! after a counted request shows the limit is applied before the key is even known.

use chrono::Utc;

use super::{Answer, Conclusion};
use crate::probe::{Prober, Sent};
use crate::report::{Check, Status};

impl Prober<'_> {
    /// A made-up key right after a counted request. Returns its answer when it was a 429: the
    /// limit is then per client address, not per key (the key scope check says so), and the
    /// made-up key is tried again at the pace by [`Prober::wrong_key_again`].
    pub(crate) async fn wrong_key(&mut self) -> Option<Sent> {
        let sent = self.send(&made_up_key(), &[]).await;
        if sent.is_429() {
            return Some(sent);
        }
        self.record(conclude(&sent.answer()));
        None
    }

    /// The made-up key again, at the pace, after its first request met the rate limit.
    pub(crate) async fn wrong_key_again(&mut self) {
        self.wait_turn().await;
        let sent = self.send(&made_up_key(), &[]).await;
        self.record(conclude(&sent.answer()));
    }
}

fn made_up_key() -> String {
    format!("bayzat-probe-wrong-key-{}", Utc::now().timestamp_millis())
}

/// What the answer to a made-up key means for pausing a company and for the connection test.
pub(crate) fn conclude(answer: &Answer) -> Conclusion {
    let described = &answer.described;
    let (status, detail) = match answer.status {
        Some(401 | 403) => (
            Status::Ok,
            format!(
                "a made-up key was answered {described}: sync-service pauses a company whose \
                 key is refused, and the connection test reports \"invalid key\""
            ),
        ),
        None | Some(429) => (Status::NotChecked, format!("a made-up key got {described}")),
        Some(_) => (
            Status::Unsupported,
            format!(
                "a made-up key was answered {described}: the system knows a refused key only \
                 by 401 or 403, so the connection test would not report a wrong key, and \
                 sync-service would not pause a company whose key was revoked"
            ),
        ),
    };
    Conclusion::new(Check::WrongKey, status, detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::answers::*;

    #[test]
    fn a_refused_key_passes() {
        for status in [401, 403] {
            let got = conclude(&answered(
                status,
                r#"{"success":false,"message":"Unauthorized"}"#,
            ));
            assert_eq!((got.check, got.status), (Check::WrongKey, Status::Ok));
        }
    }

    #[test]
    fn a_wrong_key_answered_otherwise_is_unsupported() {
        for answer in [
            answered(200, r#"{"success":true}"#),
            answered(400, r#"{"success":false,"message":"No records"}"#),
            answered(404, ""),
            answered(500, ""),
        ] {
            assert_eq!(
                conclude(&answer).status,
                Status::Unsupported,
                "{}",
                answer.described
            );
        }
    }

    #[test]
    fn no_answer_or_a_429_is_not_checked() {
        assert_eq!(conclude(&unanswered("timeout")).status, Status::NotChecked);
        assert_eq!(conclude(&answered(429, "")).status, Status::NotChecked);
    }
}
