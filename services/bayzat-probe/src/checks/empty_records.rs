//! `{"records": []}`: what config-service's connection test sends. Also finds out whether the URL
//! and key work at all.

use bayzat_reply::{ConnectionTest, Reply};

use super::{Answer, Conclusion};
use crate::probe::Prober;
use crate::report::{Check, Status};

impl Prober<'_> {
    /// `false` stops the probe: nothing else can be learnt from this URL and key.
    pub(crate) async fn empty_records(&mut self, key: &str) -> bool {
        let mut first = self.paced(key, &[]).await;
        if matches!(first.status(), Some(500..=599)) {
            // One server error is not yet the contract's answer.
            first = self.paced(key, &[]).await;
        }
        match conclude(&self.o.api_url, &first.answer()) {
            Ok(conclusion) => {
                self.record(conclusion);
                true
            }
            Err(why) => {
                self.stopped = Some(why);
                false
            }
        }
    }
}

/// What the answer to the empty request means for config-service's connection test; `Err` says
/// why the probe cannot go on.
pub(crate) fn conclude(api_url: &str, first: &Answer) -> Result<Conclusion, String> {
    let described = &first.described;
    let status = match first.status {
        None => return Err(format!("{api_url} gave {described}")),
        Some(401 | 403) => {
            return Err(format!(
                "the key was refused ({described}): check the key, and that the URL is the \
                 attendance endpoint of the environment the key belongs to"
            ))
        }
        Some(404 | 405 | 300..=399) => {
            return Err(format!(
                "the URL does not answer like the attendance endpoint ({described})"
            ))
        }
        Some(429) => {
            return Err(format!(
                "every request was answered 429, even at the pace ({described}): is something \
                 else using this key?"
            ))
        }
        Some(status) => status,
    };
    Ok(
        match ConnectionTest::from_answer(status, first.body.as_bytes()) {
            ConnectionTest::Ok if matches!(first.reply, Reply::Accepted) => Conclusion::new(
                Check::EmptyRecords,
                Status::Ok,
                format!(
                    "answered {described}; config-service's connection test reads it as \"key \
                     accepted\", and nothing is stored"
                ),
            ),
            ConnectionTest::Ok => {
                let differs = Conclusion::new(
                    Check::EmptyRecords,
                    Status::Differs,
                    format!(
                        "answered {described}, not 200 with success true; config-service's \
                         connection test reads any 200 or 400 as \"key accepted\", so nothing \
                         needs to change"
                    ),
                );
                match &first.reply {
                    Reply::Refused { message, .. } => differs.with_other_refusal(message.clone()),
                    _ => differs,
                }
            }
            _ => Conclusion::new(
                Check::EmptyRecords,
                Status::Configure,
                format!(
                    "answered {described}: config-service's connection test would report every \
                     key as \"unexpected\" and refuse to save it"
                ),
            )
            .with_setting(
                "test_connection",
                "false".to_owned(),
                "config-service: the body of PUT /v1/companies/{company}/bayzat-config",
                "save keys without the connection test, and check a new key by syncing one \
                 punch instead",
            ),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::answers::*;

    const URL: &str = "https://sandbox.example/attendance";

    fn status(answer: &Answer) -> Status {
        conclude(URL, answer).unwrap().status
    }

    #[test]
    fn success_true_passes() {
        let got = conclude(URL, &answered(200, r#"{"success":true}"#)).unwrap();
        assert_eq!((got.check, got.status), (Check::EmptyRecords, Status::Ok));
        assert_eq!(got.setting, None);
        assert_eq!(got.other_refusal, None);
    }

    #[test]
    fn another_200_or_a_400_differs_and_a_refusal_is_remembered() {
        assert_eq!(
            status(&answered(200, r#"{"success":false}"#)),
            Status::Differs
        );
        let refused = conclude(
            URL,
            &answered(400, r#"{"success":false,"message":"No records given"}"#),
        )
        .unwrap();
        assert_eq!(refused.status, Status::Differs);
        assert!(
            refused.detail.starts_with("answered 400"),
            "{}",
            refused.detail
        );
        assert_eq!(refused.other_refusal.as_deref(), Some("No records given"));
    }

    #[test]
    fn an_answer_the_connection_test_cannot_read_needs_it_switched_off() {
        for answer in [answered(500, "oops"), answered(201, ""), answered(422, "")] {
            let got = conclude(URL, &answer).unwrap();
            assert_eq!(got.status, Status::Configure, "{}", answer.described);
            let setting = got.setting.expect("a setting is proposed");
            assert_eq!(
                (setting.name.as_str(), setting.value.as_str()),
                ("test_connection", "false")
            );
        }
    }

    #[test]
    fn a_url_or_key_that_does_not_work_stops_the_probe() {
        let cases = [
            (unanswered("connection failed: refused"), "gave no answer"),
            (answered(401, ""), "the key was refused"),
            (answered(403, "Forbidden"), "the key was refused"),
            (
                answered(404, "Not Found"),
                "does not answer like the attendance endpoint",
            ),
            (
                answered(405, ""),
                "does not answer like the attendance endpoint",
            ),
            (
                answered(302, ""),
                "does not answer like the attendance endpoint",
            ),
            (answered(429, ""), "every request was answered 429"),
        ];
        for (answer, why) in cases {
            let stopped = conclude(URL, &answer).unwrap_err();
            assert!(stopped.contains(why), "{stopped}");
        }
    }
}
