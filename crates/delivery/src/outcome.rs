//! What Bayzat's answer to one request means for each delivery in it, and what the sender does
//! next.

use std::time::Duration;

use bayzat_reply::Reply;
use chrono::{DateTime, Utc};
use domain::{split_refused, DeliveryState, PunchId, RetrySchedule};

use crate::packing::Delivery;
use crate::time::plus;
use crate::unknown::UnknownEmployee;

/// The refusal reason the simulator gives for an empId the key does not know.
pub const UNKNOWN_EMPLOYEE_REASON: &str = "unknown_employee";

/// Phrases that mark a refusal message as being about an unknown employee when no `reason`
/// comes with it. The real service's wording is not known, so a few likely ones are accepted;
/// a miss only means the empId's other punches are found out by splitting instead.
const UNKNOWN_EMPLOYEE_PHRASES: &[&str] = &[
    "unknown employee",
    "unknown empid",
    "employee not found",
    "employee does not exist",
];

/// Where one delivery of the request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// No change: the delivery stays `sending` because its request is resent (whole or in
    /// halves) and that answer decides.
    StaysSending,
    /// Bayzat holds the punch. `already_held` when it said so by refusing a lone record as a
    /// duplicate, which is how a resend after a crash ends.
    Delivered { already_held: bool },
    /// Bayzat refused the record itself. Permanent until an operator resends it.
    Rejected { reason: String },
    /// A transient failure with retries left.
    RetryWait {
        attempts: u32,
        next_attempt_at: DateTime<Utc>,
        error: String,
    },
    /// A transient failure after the last retry: waits for an operator.
    Failed { attempts: u32, error: String },
    /// The company's key was refused: back to `paused`, no attempt spent.
    Paused,
    /// Bayzat asked the key to wait (429) no longer than the sender may wait: `retry_wait`
    /// until then with the reason, no attempt spent; the sender resends the same request then.
    RateLimited {
        until: DateTime<Utc>,
        reason: String,
    },
}

impl Transition {
    /// The delivery's state afterwards.
    pub fn state(&self) -> DeliveryState {
        match self {
            Transition::StaysSending => DeliveryState::Sending,
            Transition::Delivered { .. } => DeliveryState::Delivered,
            Transition::Rejected { .. } => DeliveryState::Rejected,
            Transition::RetryWait { .. } | Transition::RateLimited { .. } => {
                DeliveryState::RetryWait
            }
            Transition::Failed { .. } => DeliveryState::Failed,
            Transition::Paused => DeliveryState::Paused,
        }
    }

    /// The error published and stored with the new state (`last_error`).
    pub fn error(&self) -> Option<&str> {
        match self {
            Transition::Rejected { reason } => Some(reason),
            Transition::RetryWait { error, .. } | Transition::Failed { error, .. } => Some(error),
            Transition::RateLimited { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// The delivery's attempts afterwards, when they changed.
    pub fn attempts(&self) -> Option<u32> {
        match self {
            Transition::RetryWait { attempts, .. } | Transition::Failed { attempts, .. } => {
                Some(*attempts)
            }
            _ => None,
        }
    }

    /// When the delivery is due again, if it is to be retried on its own.
    pub fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Transition::RetryWait {
                next_attempt_at, ..
            } => Some(*next_attempt_at),
            Transition::RateLimited { until, .. } => Some(*until),
            _ => None,
        }
    }
}

/// One delivery's transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub punch_id: PunchId,
    pub transition: Transition,
}

/// What the company's sender does after this answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Go on with the company's next due deliveries at the limiter's pace.
    Continue,
    /// Send the first half, then the second, each as its own request at the limiter's pace and
    /// each judged by [`on_reply`] again, before anything else of the company.
    SplitInHalves(Vec<Delivery>, Vec<Delivery>),
    /// Send the same request again once this long has passed since the answer (its deliveries
    /// wait in `retry_wait` meanwhile).
    ResendAfter(Duration),
    /// Stop sending for the company (`paused_auth`) and alert; every other delivery of the
    /// company that would go now is paused too.
    PauseCompany,
}

/// Everything one answer decides: where each delivery of the request goes, what the sender does
/// next, and an empId found to be unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyEffects {
    /// One per delivery of the request, in the request's order.
    pub changes: Vec<Change>,
    pub next: Next,
    /// An empId to remember as unknown for the company
    /// ([`crate::UnknownEmployees::remember_refusal`]).
    pub unknown_employee: Option<UnknownEmployee>,
}

impl ReplyEffects {
    fn all(request: &[Delivery], transition: Transition, next: Next) -> Self {
        Self::each(request, |_| transition.clone(), next)
    }

    fn each(
        request: &[Delivery],
        transition: impl Fn(&Delivery) -> Transition,
        next: Next,
    ) -> Self {
        Self {
            changes: request
                .iter()
                .map(|delivery| Change {
                    punch_id: delivery.punch_id,
                    transition: transition(delivery),
                })
                .collect(),
            next,
            unknown_employee: None,
        }
    }
}

/// Applies the delivery rules (docs/architecture.md#delivery-rules) to Bayzat's answer to `request`.
///
/// `now` is when the answer came; `rate_interval` is the wait when a 429 does not say how long;
/// a 429 asking for a wait longer than `max_retry_after` (`BAYZAT_MAX_RETRY_AFTER`) is a
/// transient failure on the retry schedule instead, so no answer can hold a delivery for ever.
pub fn on_reply(
    request: &[Delivery],
    reply: &Reply,
    now: DateTime<Utc>,
    schedule: &RetrySchedule,
    rate_interval: Duration,
    max_retry_after: Duration,
) -> ReplyEffects {
    match reply {
        Reply::Accepted => ReplyEffects::all(
            request,
            Transition::Delivered {
                already_held: false,
            },
            Next::Continue,
        ),
        Reply::Refused {
            message,
            reason,
            duplicate,
        } => on_refusal(request, message, reason.as_deref(), *duplicate),
        Reply::Transient { detail, .. } => on_transient(request, detail, now, schedule),
        Reply::Unexpected {
            status,
            body_excerpt,
        } => on_transient(
            request,
            &format!("unexpected answer {status}: {body_excerpt}"),
            now,
            schedule,
        ),
        Reply::Unauthorized => ReplyEffects::all(request, Transition::Paused, Next::PauseCompany),
        Reply::RateLimited { retry_after } => {
            let wait = retry_after.unwrap_or(rate_interval);
            if wait > max_retry_after {
                let error = format!(
                    "rate limited by Bayzat (429) with a Retry-After of {}, longer than \
                     BAYZAT_MAX_RETRY_AFTER ({}): retried on the schedule",
                    seconds(wait),
                    seconds(max_retry_after)
                );
                return on_transient(request, &error, now, schedule);
            }
            ReplyEffects::all(
                request,
                Transition::RateLimited {
                    until: plus(now, wait),
                    reason: format!(
                        "rate limited by Bayzat (429): resent after {} as it asked",
                        seconds(wait)
                    ),
                },
                Next::ResendAfter(wait),
            )
        }
    }
}

/// A wait as people read it: whole seconds, or milliseconds under a second.
fn seconds(wait: Duration) -> String {
    if wait < Duration::from_secs(1) {
        format!("{} ms", wait.as_millis())
    } else {
        format!("{} s", wait.as_secs_f64().ceil() as u64)
    }
}

/// Whether a refusal says the empId is unknown, by the simulator's reason or the message.
pub fn is_unknown_employee(reason: Option<&str>, message: &str) -> bool {
    // A reason, where one is given, is the server's own classification and outranks wording.
    if let Some(reason) = reason {
        return reason == UNKNOWN_EMPLOYEE_REASON;
    }
    let message = message.to_lowercase();
    UNKNOWN_EMPLOYEE_PHRASES
        .iter()
        .any(|phrase| message.contains(phrase))
}

fn on_refusal(
    request: &[Delivery],
    message: &str,
    reason: Option<&str>,
    duplicate: bool,
) -> ReplyEffects {
    let unknown = !duplicate && is_unknown_employee(reason, message);
    // Every record has the same empId: whichever record the refusal is about, it is about that
    // empId, so splitting could only find the same answer one request at a time.
    let one_emp_id = request.first().and_then(|first| {
        request
            .iter()
            .all(|d| d.record.emp_id == first.record.emp_id)
            .then_some(&first.record.emp_id)
    });
    let (alone, emp_id) = match (request, one_emp_id) {
        ([only], _) => (true, Some(&only.record.emp_id)),
        (_, Some(emp_id)) if unknown => (true, Some(emp_id)),
        _ => (false, None),
    };
    if !alone {
        return match split_refused(request.to_vec()) {
            Some((first, second)) => ReplyEffects::all(
                request,
                Transition::StaysSending,
                Next::SplitInHalves(first, second),
            ),
            None => ReplyEffects::all(request, Transition::StaysSending, Next::Continue),
        };
    }
    let mut effects = if duplicate {
        ReplyEffects::all(
            request,
            Transition::Delivered { already_held: true },
            Next::Continue,
        )
    } else {
        ReplyEffects::all(
            request,
            Transition::Rejected {
                reason: message.to_owned(),
            },
            Next::Continue,
        )
    };
    if unknown {
        effects.unknown_employee = emp_id.map(|emp_id| UnknownEmployee {
            emp_id: emp_id.clone(),
            message: message.to_owned(),
        });
    }
    effects
}

/// The first send is not a retry: after the first failure attempts is 1 and retry 1 is due
/// after the schedule's first delay; when there is no delay for the next retry, it has failed.
fn on_transient(
    request: &[Delivery],
    error: &str,
    now: DateTime<Utc>,
    schedule: &RetrySchedule,
) -> ReplyEffects {
    ReplyEffects::each(
        request,
        |delivery| {
            let attempts = delivery.attempts.saturating_add(1);
            match schedule.delay_before_retry(attempts) {
                Some(delay) if attempts <= schedule.max_attempts() => Transition::RetryWait {
                    attempts,
                    next_attempt_at: plus(now, delay),
                    error: error.to_owned(),
                },
                _ => Transition::Failed {
                    attempts,
                    error: error.to_owned(),
                },
            }
        },
        Next::Continue,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{at, delivery, emp};

    const INTERVAL: Duration = Duration::from_millis(1025);
    const MAX_RETRY_AFTER: Duration = Duration::from_secs(900);

    fn now() -> DateTime<Utc> {
        at("2026-05-01T12:00:00Z")
    }

    fn judge(request: &[Delivery], reply: Reply) -> ReplyEffects {
        on_reply(
            request,
            &reply,
            now(),
            &RetrySchedule::default(),
            INTERVAL,
            MAX_RETRY_AFTER,
        )
    }

    fn three() -> Vec<Delivery> {
        vec![
            delivery(1, "A", "2026-05-01 08:00:00"),
            delivery(2, "B", "2026-05-01 08:00:00"),
            delivery(3, "A", "2026-05-01 17:00:00"),
        ]
    }

    fn refused(message: &str, reason: Option<&str>, duplicate: bool) -> Reply {
        Reply::Refused {
            message: message.into(),
            reason: reason.map(str::to_owned),
            duplicate,
        }
    }

    fn transitions(effects: &ReplyEffects) -> Vec<Transition> {
        effects
            .changes
            .iter()
            .map(|c| c.transition.clone())
            .collect()
    }

    fn ids(deliveries: &[Delivery]) -> Vec<i64> {
        deliveries.iter().map(|d| d.punch_id.get()).collect()
    }

    #[test]
    fn accepted_delivers_every_record() {
        let effects = judge(&three(), Reply::Accepted);
        assert_eq!(
            effects
                .changes
                .iter()
                .map(|c| c.punch_id.get())
                .collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert!(effects.changes.iter().all(|c| c.transition
            == Transition::Delivered {
                already_held: false
            }));
        assert_eq!(effects.next, Next::Continue);
        assert_eq!(effects.unknown_employee, None);
    }

    #[test]
    fn a_refused_request_of_several_is_split_whatever_the_reason() {
        let replies = [
            refused("Duplicate record", Some("duplicate"), true),
            refused("unknown employee: empId B", Some("unknown_employee"), false),
            refused("bad time", Some("bad_time"), false),
            refused("too many", Some("too_many_records"), false),
            refused("Bad Request", None, false),
        ];
        for reply in replies {
            let request = three();
            let effects = judge(&request, reply.clone());
            assert_eq!(
                effects.next,
                Next::SplitInHalves(request[..2].to_vec(), request[2..].to_vec()),
                "{reply:?}"
            );
            assert!(
                effects
                    .changes
                    .iter()
                    .all(|c| c.transition == Transition::StaysSending),
                "no attempt is spent: {reply:?}"
            );
            assert_eq!(effects.unknown_employee, None, "{reply:?}");
        }
        let even: Vec<Delivery> = (0..20)
            .map(|i| delivery(i, &format!("E{i}"), "2026-05-01 08:00:00"))
            .collect();
        let Next::SplitInHalves(first, second) = judge(&even, refused("no", None, false)).next
        else {
            panic!("not split")
        };
        assert_eq!(ids(&first), (0..10).collect::<Vec<_>>());
        assert_eq!(ids(&second), (10..20).collect::<Vec<_>>());
    }

    #[test]
    fn a_lone_refused_record() {
        let lone = [delivery(7, "9", "2026-05-01 08:00:00")];
        let unknown_9 = |message: &str| {
            Some(UnknownEmployee {
                emp_id: emp("9"),
                message: message.into(),
            })
        };
        let cases: Vec<(Reply, Transition, Option<UnknownEmployee>)> = vec![
            (
                refused("Duplicate record", Some("duplicate"), true),
                Transition::Delivered { already_held: true },
                None,
            ),
            (
                refused("Attendance already exists", None, true),
                Transition::Delivered { already_held: true },
                None,
            ),
            (
                refused(
                    "unknown employee: empId 9 (at 2026-05-01 08:00:00) is not known",
                    Some("unknown_employee"),
                    false,
                ),
                Transition::Rejected {
                    reason: "unknown employee: empId 9 (at 2026-05-01 08:00:00) is not known"
                        .into(),
                },
                unknown_9("unknown employee: empId 9 (at 2026-05-01 08:00:00) is not known"),
            ),
            (
                refused("Employee not found: 9", None, false),
                Transition::Rejected {
                    reason: "Employee not found: 9".into(),
                },
                unknown_9("Employee not found: 9"),
            ),
            (
                refused("Unknown EmpId 9", None, false),
                Transition::Rejected {
                    reason: "Unknown EmpId 9".into(),
                },
                unknown_9("Unknown EmpId 9"),
            ),
            (
                refused("unknown employee in a bad time", Some("bad_time"), false),
                Transition::Rejected {
                    reason: "unknown employee in a bad time".into(),
                },
                None,
            ),
            (
                refused("bad time \"2026-02-30 08:00:00\"", Some("bad_time"), false),
                Transition::Rejected {
                    reason: "bad time \"2026-02-30 08:00:00\"".into(),
                },
                None,
            ),
            (
                refused("Bad Request", None, false),
                Transition::Rejected {
                    reason: "Bad Request".into(),
                },
                None,
            ),
        ];
        for (reply, expected, unknown) in cases {
            let effects = judge(&lone, reply.clone());
            assert_eq!(transitions(&effects), [expected], "{reply:?}");
            assert_eq!(effects.next, Next::Continue, "{reply:?}");
            assert_eq!(effects.unknown_employee, unknown, "{reply:?}");
        }
    }

    #[test]
    fn an_unknown_refusal_of_one_emp_id_needs_no_split() {
        let request = vec![
            delivery(1, "9", "2026-05-01 08:00:00"),
            delivery(2, "9", "2026-05-01 17:00:00"),
        ];
        let effects = judge(
            &request,
            refused("unknown employee 9", Some("unknown_employee"), false),
        );
        assert_eq!(effects.next, Next::Continue);
        assert!(effects.changes.iter().all(|c| c.transition
            == Transition::Rejected {
                reason: "unknown employee 9".into()
            }));
        assert_eq!(effects.unknown_employee.map(|u| u.emp_id), Some(emp("9")));
        // Any other refusal of the same two is split: one of them may be fine.
        let effects = judge(&request, refused("bad time", Some("bad_time"), false));
        assert!(matches!(effects.next, Next::SplitInHalves(..)));
    }

    #[test]
    fn transient_and_unexpected_answers_spend_an_attempt() {
        let mut request = three();
        request[1].attempts = 4;
        request[2].attempts = 5;
        let replies = [
            (
                Reply::Transient {
                    status: Some(500),
                    detail: "answered 500: oops".into(),
                },
                "answered 500: oops",
            ),
            (
                Reply::Transient {
                    status: Some(200),
                    detail: "answered 200 with success false: later".into(),
                },
                "answered 200 with success false: later",
            ),
            (
                Reply::Transient {
                    status: None,
                    detail: "timed out after 30s".into(),
                },
                "timed out after 30s",
            ),
            (
                Reply::Unexpected {
                    status: 404,
                    body_excerpt: "Not Found".into(),
                },
                "unexpected answer 404: Not Found",
            ),
        ];
        for (reply, error) in replies {
            let effects = judge(&request, reply.clone());
            assert_eq!(effects.next, Next::Continue, "{reply:?}");
            assert_eq!(
                transitions(&effects),
                [
                    Transition::RetryWait {
                        attempts: 1,
                        next_attempt_at: at("2026-05-01T12:05:00Z"),
                        error: error.into()
                    },
                    Transition::RetryWait {
                        attempts: 5,
                        next_attempt_at: at("2026-05-02T12:00:00Z"),
                        error: error.into()
                    },
                    Transition::Failed {
                        attempts: 6,
                        error: error.into()
                    },
                ],
                "{reply:?}"
            );
        }
    }

    #[test]
    fn the_retry_schedule_walk() {
        // attempts after the failure, state, wait from the failure
        let walk: &[(u32, DeliveryState, Option<&str>)] = &[
            (1, DeliveryState::RetryWait, Some("2026-05-01T12:05:00Z")),
            (2, DeliveryState::RetryWait, Some("2026-05-01T12:30:00Z")),
            (3, DeliveryState::RetryWait, Some("2026-05-01T14:00:00Z")),
            (4, DeliveryState::RetryWait, Some("2026-05-01T20:00:00Z")),
            (5, DeliveryState::RetryWait, Some("2026-05-02T12:00:00Z")),
            (6, DeliveryState::Failed, None),
        ];
        let mut current = delivery(1, "A", "2026-05-01 08:00:00");
        let failure = Reply::Transient {
            status: Some(503),
            detail: "answered 503: ".into(),
        };
        for &(attempts, state, next) in walk {
            let effects = judge(std::slice::from_ref(&current), failure.clone());
            let transition = &effects.changes[0].transition;
            assert_eq!(transition.state(), state, "failure {attempts}");
            assert_eq!(transition.attempts(), Some(attempts));
            assert_eq!(
                transition.next_attempt_at(),
                next.map(at),
                "failure {attempts}"
            );
            assert_eq!(transition.error(), Some("answered 503: "));
            current.attempts = attempts;
        }
    }

    #[test]
    fn schedules_of_other_lengths() {
        let cases: &[(&str, u32, DeliveryState)] = &[
            ("1s", 0, DeliveryState::RetryWait),
            ("1s", 1, DeliveryState::Failed),
            ("1s,2s,3s", 2, DeliveryState::RetryWait),
            ("1s,2s,3s", 3, DeliveryState::Failed),
            ("0s", 0, DeliveryState::RetryWait),
        ];
        for &(text, attempts, expected) in cases {
            let schedule = RetrySchedule::parse(text).unwrap();
            let mut d = delivery(1, "A", "2026-05-01 08:00:00");
            d.attempts = attempts;
            let effects = on_reply(
                &[d],
                &Reply::Transient {
                    status: None,
                    detail: "connection refused".into(),
                },
                now(),
                &schedule,
                INTERVAL,
                MAX_RETRY_AFTER,
            );
            assert_eq!(
                effects.changes[0].transition.state(),
                expected,
                "{text} {attempts}"
            );
        }
        // No retries at all: the first failure is final.
        let effects = on_reply(
            &[delivery(1, "A", "2026-05-01 08:00:00")],
            &Reply::Transient {
                status: None,
                detail: "x".into(),
            },
            now(),
            &RetrySchedule::new(vec![]),
            INTERVAL,
            MAX_RETRY_AFTER,
        );
        assert_eq!(effects.changes[0].transition.state(), DeliveryState::Failed);
        // A count that cannot grow any further still fails rather than wrapping to a retry.
        let mut worn = delivery(1, "A", "2026-05-01 08:00:00");
        worn.attempts = u32::MAX;
        let effects = judge(
            &[worn],
            Reply::Transient {
                status: None,
                detail: "x".into(),
            },
        );
        assert_eq!(
            effects.changes[0].transition,
            Transition::Failed {
                attempts: u32::MAX,
                error: "x".into()
            }
        );
    }

    #[test]
    fn unauthorized_pauses_without_spending_attempts() {
        let mut request = three();
        request[0].attempts = 3;
        let effects = judge(&request, Reply::Unauthorized);
        assert_eq!(effects.next, Next::PauseCompany);
        assert!(effects
            .changes
            .iter()
            .all(|c| c.transition == Transition::Paused
                && c.transition.attempts().is_none()
                && c.transition.error().is_none()));
        assert_eq!(effects.changes.len(), 3);
    }

    #[test]
    fn rate_limited_resends_the_same_request() {
        let cases = [
            (Some(Duration::from_millis(312)), Duration::from_millis(312)),
            (Some(Duration::ZERO), Duration::ZERO),
            (Some(Duration::from_secs(2)), Duration::from_secs(2)),
            (Some(MAX_RETRY_AFTER), MAX_RETRY_AFTER),
            (None, INTERVAL),
        ];
        for (retry_after, wait) in cases {
            let effects = judge(&three(), Reply::RateLimited { retry_after });
            assert_eq!(effects.next, Next::ResendAfter(wait), "{retry_after:?}");
            for change in &effects.changes {
                let Transition::RateLimited { until, reason } = &change.transition else {
                    panic!("{change:?}");
                };
                assert_eq!(*until, plus(now(), wait));
                assert!(reason.contains("429"), "{reason}");
                assert_eq!(change.transition.state(), DeliveryState::RetryWait);
                assert_eq!(change.transition.attempts(), None, "no attempt spent");
                assert_eq!(change.transition.next_attempt_at(), Some(*until));
            }
        }
    }

    #[test]
    fn a_retry_after_over_the_maximum_is_a_transient_failure() {
        let ten_years = Duration::from_secs(315_360_000);
        for retry_after in [MAX_RETRY_AFTER + Duration::from_millis(1), ten_years] {
            let effects = judge(
                &three(),
                Reply::RateLimited {
                    retry_after: Some(retry_after),
                },
            );
            assert_eq!(effects.next, Next::Continue);
            for change in &effects.changes {
                let Transition::RetryWait {
                    attempts,
                    next_attempt_at,
                    error,
                } = &change.transition
                else {
                    panic!("{change:?}");
                };
                assert_eq!(*attempts, 1);
                assert_eq!(*next_attempt_at, plus(now(), Duration::from_secs(300)));
                assert!(error.contains("BAYZAT_MAX_RETRY_AFTER"), "{error}");
            }
        }
        let ten_year_error = judge(
            &three(),
            Reply::RateLimited {
                retry_after: Some(ten_years),
            },
        )
        .changes[0]
            .transition
            .error()
            .map(str::to_owned);
        assert!(ten_year_error.unwrap().contains("315360000 s"));
    }

    #[test]
    fn transitions_name_their_states() {
        let cases = [
            (Transition::StaysSending, DeliveryState::Sending),
            (
                Transition::Delivered { already_held: true },
                DeliveryState::Delivered,
            ),
            (
                Transition::Rejected { reason: "r".into() },
                DeliveryState::Rejected,
            ),
            (
                Transition::RetryWait {
                    attempts: 1,
                    next_attempt_at: now(),
                    error: "e".into(),
                },
                DeliveryState::RetryWait,
            ),
            (
                Transition::Failed {
                    attempts: 6,
                    error: "e".into(),
                },
                DeliveryState::Failed,
            ),
            (Transition::Paused, DeliveryState::Paused),
        ];
        for (transition, state) in cases {
            assert_eq!(transition.state(), state);
        }
    }

    #[test]
    fn an_empty_request_decides_nothing() {
        for reply in [
            Reply::Accepted,
            refused("no", None, false),
            Reply::Unauthorized,
            Reply::Transient {
                status: None,
                detail: "x".into(),
            },
        ] {
            let effects = judge(&[], reply.clone());
            assert!(effects.changes.is_empty(), "{reply:?}");
            assert_eq!(effects.unknown_employee, None, "{reply:?}");
        }
        assert_eq!(judge(&[], refused("no", None, false)).next, Next::Continue);
    }

    #[test]
    fn recognising_unknown_employees() {
        let cases = [
            (Some("unknown_employee"), "whatever", true),
            (None, "unknown employee: empId 9", true),
            (None, "UNKNOWN EMPLOYEE 9", true),
            (None, "Employee does not exist", true),
            (Some("bad_time"), "bad time for empId 9", false),
            (Some("bad_time"), "unknown employee", false),
            (None, "employee 9: duplicate", false),
            (None, "", false),
        ];
        for (reason, message, expected) in cases {
            assert_eq!(
                is_unknown_employee(reason, message),
                expected,
                "{reason:?} {message}"
            );
        }
    }
}
