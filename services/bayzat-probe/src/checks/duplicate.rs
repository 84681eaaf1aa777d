//! One punch of the sandbox employee, sent twice: Bayzat must refuse the repeat, and the refusal
//! must be recognised as a duplicate. At the end, a duplicate pattern is proposed when the
//! configured one misses that refusal or also matches another.

use bayzat_reply::Reply;
use domain::{BayzatRecord, PunchType};
use regex::Regex;

use super::{setting, Answer, Conclusion};
use crate::assumptions::DUPLICATE_PATTERN;
use crate::probe::Prober;
use crate::report::{Check, Setting, Status};
use crate::suggest;

/// What the repeated punch showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Repeat {
    pub(crate) conclusion: Conclusion,
    /// The message of Bayzat's refusal of the repeat, when it was refused.
    pub(crate) message: Option<String>,
    /// The repeat was refused, but not recognised as a duplicate.
    pub(crate) unrecognised: bool,
}

/// What to do about the duplicate pattern once every refusal has been seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Proposal {
    /// Set this pattern.
    Pattern(Setting),
    /// No pattern could be derived: the finding says what one must match and must not.
    NoPattern(Conclusion),
}

impl Prober<'_> {
    pub(crate) async fn duplicate(&mut self, key: &str) {
        let Some(emp) = self.o.employee.clone() else {
            self.record(Conclusion::new(
                Check::Duplicate,
                Status::NotChecked,
                "needs --employee, an employee id the sandbox knows (one punch of theirs is sent \
                 twice); nothing was sent",
            ));
            return;
        };
        let records = [BayzatRecord {
            emp_id: emp.clone(),
            punch_type: PunchType::CheckIn,
            time: self.o.time,
        }];
        let first = self.paced(key, &records).await;
        if let Some(not_checked) = first_send(&first.answer()) {
            self.record(not_checked);
            return;
        }
        let mut again = self.paced(key, &records).await;
        if matches!(again.reply(), Reply::Transient { .. }) {
            // One failure is not yet the contract's answer.
            again = self.paced(key, &records).await;
        }
        let repeat = repeat(
            &again.answer(),
            emp.as_str(),
            &self.o.time.to_string(),
            &self.o.assumptions.duplicate_pattern,
        );
        if repeat.message.is_some() {
            self.duplicate_message = repeat.message;
        }
        self.duplicate_unrecognised |= repeat.unrecognised;
        self.record(repeat.conclusion);
    }

    /// The duplicate pattern to propose, now that every refusal has been seen.
    pub(crate) fn propose_duplicate_pattern(&mut self) {
        let employee = self.o.employee.as_ref().map(|e| e.as_str());
        let proposal = propose(
            &self.o.assumptions.duplicate_pattern,
            self.duplicate_message.as_deref(),
            self.duplicate_unrecognised,
            &self.other_refusals,
            employee,
            &self.o.time.to_string(),
        );
        match proposal {
            Some(Proposal::Pattern(setting)) => self.propose(setting),
            Some(Proposal::NoPattern(conclusion)) => self.record(conclusion),
            None => {}
        }
    }
}

/// The first send of the punch: `None` when it was accepted, so the repeat can follow; else why
/// the check cannot be made.
pub(crate) fn first_send(answer: &Answer) -> Option<Conclusion> {
    let detail = match &answer.reply {
        Reply::Accepted => return None,
        Reply::Refused { duplicate, .. } => {
            let hint = if *duplicate {
                " as a duplicate: was this time used before?"
            } else {
                ""
            };
            format!(
                "the punch was refused on its first send ({}){hint}; use an employee the sandbox \
                 knows and a time not used before (--employee, --time)",
                answer.described
            )
        }
        _ => format!(
            "the punch got {} on its first send; run again with another --time",
            answer.described
        ),
    };
    Some(Conclusion::new(
        Check::Duplicate,
        Status::NotChecked,
        detail,
    ))
}

/// The answer to the same punch sent again. `emp` and `time` are the punch's, `pattern` the
/// configured duplicate pattern.
pub(crate) fn repeat(answer: &Answer, emp: &str, time: &str, pattern: &Regex) -> Repeat {
    let described = &answer.described;
    let (message, reason, duplicate) = match &answer.reply {
        Reply::Refused {
            message,
            reason,
            duplicate,
        } => (message, reason, *duplicate),
        other => {
            let (status, detail) = match other {
                Reply::Accepted => (
                    Status::Unsupported,
                    format!(
                        "the same punch sent again was answered {described}: Bayzat stored it \
                         twice. The system relies on a repeat being refused (a resend after an \
                         answer that never came); no setting changes that"
                    ),
                ),
                Reply::Transient { status: None, .. } | Reply::RateLimited { .. } => (
                    Status::NotChecked,
                    format!("the punch sent again got {described}"),
                ),
                _ => (
                    Status::Unsupported,
                    format!(
                        "the same punch sent again was answered {described}: sync-service knows \
                         a duplicate only in a 400 refusal, so it would retry such a punch until \
                         its retries run out"
                    ),
                ),
            };
            return Repeat {
                conclusion: Conclusion::new(Check::Duplicate, status, detail),
                message: None,
                unrecognised: false,
            };
        }
    };
    let names = match (message.contains(emp), message.contains(time)) {
        (true, true) => "names the empId and the time",
        (true, false) => "names the empId, not the time",
        (false, true) => "names the time, not the empId",
        (false, false) => "names neither the empId nor the time",
    };
    let by_pattern = pattern.is_match(message);
    let by_reason = reason.as_deref() == Some("duplicate");
    let conclusion = if duplicate {
        let by = match (by_pattern, by_reason) {
            (true, true) => format!("{DUPLICATE_PATTERN} and the reason"),
            (true, false) => DUPLICATE_PATTERN.to_owned(),
            _ => format!("its reason \"duplicate\" ({DUPLICATE_PATTERN} alone would not match)"),
        };
        Conclusion::new(
            Check::Duplicate,
            Status::Ok,
            format!(
                "the same punch sent again was answered {described}: recognised as a duplicate \
                 by {by}; the message {names} (nothing relies on that)"
            ),
        )
    } else {
        Conclusion::new(
            Check::Duplicate,
            Status::Configure,
            format!(
                "the same punch sent again was answered {described}, which {DUPLICATE_PATTERN} \
                 does not match: a punch Bayzat already holds would be rejected instead of \
                 delivered (after a resend, or an answer that never came)"
            ),
        )
    };
    Repeat {
        conclusion,
        message: Some(message.clone()),
        unrecognised: !duplicate,
    }
}

/// A pattern is proposed when the configured one missed the duplicate refusal
/// (`unrecognised`) or matches one of the other refusals seen. `employee` and `time` are the
/// variable parts of the duplicate refusal's message.
pub(crate) fn propose(
    pattern: &Regex,
    duplicate_message: Option<&str>,
    unrecognised: bool,
    other_refusals: &[String],
    employee: Option<&str>,
    time: &str,
) -> Option<Proposal> {
    let too_broad = other_refusals.iter().any(|o| pattern.is_match(o));
    if !(unrecognised || too_broad) {
        return None;
    }
    let emp = employee.unwrap_or_default();
    // A pattern that also matches other refusals cannot be kept, even in part.
    let base = if too_broad { "" } else { pattern.as_str() };
    let proposal = duplicate_message.and_then(|message| {
        suggest::duplicate_pattern(base, message, &[emp, time], other_refusals)
    });
    Some(match proposal {
        Some(value) => Proposal::Pattern(setting(
            DUPLICATE_PATTERN,
            value,
            "sync-service",
            "matches Bayzat's duplicate refusal and none of its other refusals seen",
        )),
        None => Proposal::NoPattern(Conclusion::new(
            Check::Duplicate,
            Status::Configure,
            format!(
                "no {DUPLICATE_PATTERN} could be proposed: write one that matches Bayzat's \
                 duplicate refusal ({}) and none of: {}",
                duplicate_message.unwrap_or("not seen: run with --employee"),
                other_refusals.join(" | ")
            ),
        )),
    })
}

#[cfg(test)]
mod tests {
    use bayzat_reply::default_duplicate_pattern;

    use super::*;
    use crate::checks::answers::*;

    const EMP: &str = "1001";
    const TIME: &str = "2026-11-23 09:14:03";

    fn again(answer: &Answer) -> Repeat {
        repeat(answer, EMP, TIME, &default_duplicate_pattern())
    }

    #[test]
    fn an_accepted_first_send_goes_on_to_the_repeat() {
        assert_eq!(first_send(&answered(200, r#"{"success":true}"#)), None);
        let refused = first_send(&answered(
            400,
            r#"{"success":false,"message":"Duplicate record","reason":"duplicate"}"#,
        ))
        .unwrap();
        assert_eq!(refused.status, Status::NotChecked);
        assert!(
            refused.detail.contains("was this time used before?"),
            "{}",
            refused.detail
        );
        let failed = first_send(&answered(500, "")).unwrap();
        assert_eq!(failed.status, Status::NotChecked);
        assert!(
            failed.detail.contains("another --time"),
            "{}",
            failed.detail
        );
    }

    #[test]
    fn a_repeat_refused_as_a_duplicate_passes() {
        let got = again(&answered(
            400,
            r#"{"success":false,"message":"Duplicate record for 1001 at 2026-11-23 09:14:03","reason":"duplicate"}"#,
        ));
        assert_eq!(
            (got.conclusion.check, got.conclusion.status),
            (Check::Duplicate, Status::Ok)
        );
        assert!(
            got.conclusion
                .detail
                .contains("by BAYZAT_DUPLICATE_PATTERN and the reason; the message names the empId and the time"),
            "{}",
            got.conclusion.detail
        );
        assert!(!got.unrecognised);
        assert_eq!(
            got.message.as_deref(),
            Some("Duplicate record for 1001 at 2026-11-23 09:14:03")
        );
        // Recognised by the reason alone: still a pass, and said so.
        let by_reason = again(&answered(
            400,
            r#"{"success":false,"message":"Punch exists","reason":"duplicate"}"#,
        ));
        assert_eq!(by_reason.conclusion.status, Status::Ok);
        assert!(by_reason
            .conclusion
            .detail
            .contains("alone would not match"));
    }

    #[test]
    fn a_repeat_refused_otherwise_needs_a_pattern() {
        let got = again(&answered(
            400,
            r#"{"success":false,"message":"Record exists for 1001"}"#,
        ));
        assert_eq!(got.conclusion.status, Status::Configure);
        assert!(got.unrecognised);
        assert_eq!(got.message.as_deref(), Some("Record exists for 1001"));
    }

    #[test]
    fn a_repeat_stored_or_answered_outside_the_contract_is_unsupported() {
        for answer in [
            answered(200, r#"{"success":true}"#),
            answered(409, "Conflict"),
            answered(401, ""),
        ] {
            let got = again(&answer);
            assert_eq!(
                got.conclusion.status,
                Status::Unsupported,
                "{}",
                answer.described
            );
            assert_eq!((got.message, got.unrecognised), (None, false));
        }
        for answer in [unanswered("timeout"), answered(429, "")] {
            assert_eq!(again(&answer).conclusion.status, Status::NotChecked);
        }
    }

    #[test]
    fn a_pattern_is_proposed_only_when_the_configured_one_misses_or_overreaches() {
        let pattern = default_duplicate_pattern();
        let unknown = vec!["Unknown employee probe-x".to_owned()];
        assert_eq!(
            propose(
                &pattern,
                Some("Duplicate record"),
                false,
                &unknown,
                Some(EMP),
                TIME
            ),
            None
        );
        let Some(Proposal::Pattern(missed)) = propose(
            &pattern,
            Some("Record exists for 1001 on 2026-11-23 09:14:03"),
            true,
            &unknown,
            Some(EMP),
            TIME,
        ) else {
            panic!("a pattern is proposed")
        };
        assert_eq!(missed.name, DUPLICATE_PATTERN);
        assert_eq!(
            missed.value,
            "(?i)duplicate|already exists|(?i:Record exists for)"
        );

        // The configured pattern also matches another refusal: it is replaced, not extended.
        let overreaching = vec!["Employee already exists elsewhere".to_owned()];
        let Some(Proposal::Pattern(replaced)) = propose(
            &pattern,
            Some("Duplicate punch of 1001"),
            false,
            &overreaching,
            Some(EMP),
            TIME,
        ) else {
            panic!("a pattern is proposed")
        };
        assert_eq!(replaced.value, "(?i:Duplicate punch of)");
    }

    #[test]
    fn without_a_usable_refusal_no_pattern_can_be_proposed() {
        let pattern = Regex::new("(?i)employee").unwrap();
        let unknown = vec!["Unknown employee probe-x".to_owned()];
        let Some(Proposal::NoPattern(got)) = propose(&pattern, None, false, &unknown, None, TIME)
        else {
            panic!("the finding says why")
        };
        assert_eq!(
            (got.check, got.status),
            (Check::Duplicate, Status::Configure)
        );
        assert!(
            got.detail.contains("not seen: run with --employee"),
            "{}",
            got.detail
        );
    }
}
