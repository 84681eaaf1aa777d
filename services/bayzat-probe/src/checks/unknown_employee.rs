//! A punch of an employee the sandbox does not know: Bayzat must refuse it, and the refusal must
//! not be taken for a duplicate (that punch would be marked delivered).

use bayzat_reply::Reply;
use domain::{BayzatRecord, PunchType};
use regex::Regex;

use super::{Answer, Conclusion};
use crate::assumptions::DUPLICATE_PATTERN;
use crate::probe::Prober;
use crate::report::{Check, Status};

impl Prober<'_> {
    pub(crate) async fn unknown_employee(&mut self, key: &str) {
        let emp = self.o.unknown_employee.clone();
        let records = [BayzatRecord {
            emp_id: emp.clone(),
            punch_type: PunchType::CheckIn,
            time: self.o.time,
        }];
        let sent = self.paced(key, &records).await;
        self.record(conclude(
            emp.as_str(),
            &sent.answer(),
            &self.o.assumptions.duplicate_pattern,
        ));
    }
}

/// What the answer to a punch of `emp`, unknown to Bayzat, means; `pattern` is the configured
/// duplicate pattern.
pub(crate) fn conclude(emp: &str, answer: &Answer, pattern: &Regex) -> Conclusion {
    let what = format!("a punch of empId {emp} was answered {}", answer.described);
    let (status, detail) = match &answer.reply {
        Reply::Refused {
            message,
            reason,
            duplicate,
        } => {
            let (status, detail) = if *duplicate && !pattern.is_match(message) {
                (
                    Status::Unsupported,
                    format!("{what}: its reason says duplicate"),
                )
            } else if *duplicate {
                (
                    Status::Configure,
                    format!(
                        "{what}, which {DUPLICATE_PATTERN} matches: sync-service would mark such \
                         punches delivered when Bayzat refused them"
                    ),
                )
            } else if delivery::is_unknown_employee(reason.as_deref(), message) {
                (
                    Status::Ok,
                    format!(
                        "{what}: recognised as an unknown employee, so that employee's other \
                         punches are rejected without more requests"
                    ),
                )
            } else {
                (
                    Status::Differs,
                    format!(
                        "{what}: refused, but not recognised as an unknown employee, so that \
                         employee's other punches are found out by splitting requests: slower, \
                         nothing lost"
                    ),
                )
            };
            return Conclusion::new(Check::UnknownEmployee, status, detail)
                .with_other_refusal(message.clone());
        }
        Reply::Accepted => (
            Status::Unsupported,
            format!(
                "{what}: Bayzat took a punch of an employee it does not know, so punches of \
                 employees missing in Bayzat would be reported delivered"
            ),
        ),
        Reply::Unauthorized if answer.status.is_some() => (
            Status::Unsupported,
            format!("{what}: sync-service would pause the whole company on it"),
        ),
        Reply::Transient { status: None, .. } | Reply::RateLimited { .. } | Reply::Unauthorized => {
            (Status::NotChecked, what)
        }
        _ => (
            Status::Unsupported,
            format!(
                "{what}: sync-service expects a 400 for a record Bayzat refuses, and would retry \
                 this one until its retries run out"
            ),
        ),
    };
    Conclusion::new(Check::UnknownEmployee, status, detail)
}

#[cfg(test)]
mod tests {
    use bayzat_reply::default_duplicate_pattern;

    use super::*;
    use crate::checks::answers::*;

    const EMP: &str = "bayzat-probe-no-such-employee";

    fn judged(answer: &Answer) -> Conclusion {
        conclude(EMP, answer, &default_duplicate_pattern())
    }

    #[test]
    fn a_refusal_recognised_as_an_unknown_employee_passes() {
        for body in [
            r#"{"success":false,"message":"Unknown employee x","reason":"unknown_employee"}"#,
            r#"{"success":false,"message":"Employee not found: x"}"#,
        ] {
            let got = judged(&answered(400, body));
            assert_eq!(
                (got.check, got.status),
                (Check::UnknownEmployee, Status::Ok),
                "{body}"
            );
            assert!(
                got.other_refusal.is_some(),
                "a pattern must not match it later"
            );
        }
    }

    #[test]
    fn a_refusal_not_recognised_differs() {
        let got = judged(&answered(
            400,
            r#"{"success":false,"message":"Invalid empId"}"#,
        ));
        assert_eq!(got.status, Status::Differs);
        assert_eq!(got.other_refusal.as_deref(), Some("Invalid empId"));
    }

    #[test]
    fn a_refusal_taken_for_a_duplicate_needs_configuration_or_cannot_be_helped() {
        let by_pattern = judged(&answered(
            400,
            r#"{"success":false,"message":"Employee already exists nowhere"}"#,
        ));
        assert_eq!(by_pattern.status, Status::Configure);
        let by_reason = judged(&answered(
            400,
            r#"{"success":false,"message":"No such person","reason":"duplicate"}"#,
        ));
        assert_eq!(by_reason.status, Status::Unsupported);
        assert!(by_reason.detail.contains("its reason says duplicate"));
    }

    #[test]
    fn an_accepted_punch_or_an_answer_outside_the_contract_is_unsupported() {
        for answer in [
            answered(200, r#"{"success":true}"#),
            answered(401, ""),
            answered(500, ""),
            answered(404, ""),
        ] {
            let got = judged(&answer);
            assert_eq!(got.status, Status::Unsupported, "{}", answer.described);
            assert_eq!(got.other_refusal, None);
        }
    }

    #[test]
    fn no_usable_answer_is_not_checked() {
        for answer in [
            unanswered("timeout"),
            answered(429, ""),
            Answer::new(None, Reply::Unauthorized),
        ] {
            assert_eq!(
                judged(&answer).status,
                Status::NotChecked,
                "{}",
                answer.described
            );
        }
    }
}
