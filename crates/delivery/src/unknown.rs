//! empIds Bayzat refused as unknown, remembered per company so that their other punches are
//! rejected without being sent (docs/architecture.md#delivery-rules).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use domain::BayzatEmpId;

/// How long an unknown empId is remembered. Someone may add the employee on Bayzat's side
/// without the directory changing here, so the memory must lapse on its own.
pub const UNKNOWN_EMPLOYEE_MEMORY: Duration = Duration::from_secs(24 * 60 * 60);

/// An empId Bayzat refused as unknown, with Bayzat's own words for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEmployee {
    pub emp_id: BayzatEmpId,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Refusal {
    at: DateTime<Utc>,
    message: String,
}

/// One company's remembered unknown empIds. Kept per company because one key is one Bayzat
/// company, and two companies may use the same empId for different people.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnknownEmployees {
    refused: HashMap<BayzatEmpId, Refusal>,
}

impl UnknownEmployees {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that Bayzat refused `emp_id` as unknown at `at`. Remembering it again restarts
    /// its 24 hours and keeps the newer message.
    pub fn remember(&mut self, emp_id: BayzatEmpId, message: impl Into<String>, at: DateTime<Utc>) {
        self.refused.insert(
            emp_id,
            Refusal {
                at,
                message: message.into(),
            },
        );
    }

    /// [`UnknownEmployees::remember`] for what [`crate::on_reply`] reports.
    pub fn remember_refusal(&mut self, unknown: &UnknownEmployee, at: DateTime<Utc>) {
        self.remember(unknown.emp_id.clone(), unknown.message.clone(), at);
    }

    pub fn is_unknown(&self, emp_id: &BayzatEmpId, now: DateTime<Utc>) -> bool {
        self.message(emp_id, now).is_some()
    }

    /// Bayzat's message from when it refused `emp_id`, while that is remembered.
    pub fn message(&self, emp_id: &BayzatEmpId, now: DateTime<Utc>) -> Option<&str> {
        let refusal = self.refused.get(emp_id)?;
        is_fresh(refusal.at, now).then_some(refusal.message.as_str())
    }

    /// The reason recorded on a punch rejected without being sent because its empId is
    /// remembered as unknown.
    pub fn rejection_reason(&self, emp_id: &BayzatEmpId, now: DateTime<Utc>) -> Option<String> {
        self.message(emp_id, now).map(|message| {
            format!("not sent: Bayzat refused empId {emp_id} as unknown ({message})")
        })
    }

    /// The directory changed: any of the remembered empIds may be right now.
    pub fn forget_all(&mut self) {
        self.refused.clear();
    }

    /// Drops what has lapsed, so a long-lived sender does not keep every empId it ever saw.
    pub fn forget_expired(&mut self, now: DateTime<Utc>) {
        self.refused.retain(|_, refusal| is_fresh(refusal.at, now));
    }

    /// How many empIds are held, lapsed ones included until [`Self::forget_expired`].
    pub fn len(&self) -> usize {
        self.refused.len()
    }

    pub fn is_empty(&self) -> bool {
        self.refused.is_empty()
    }
}

/// A refusal recorded "in the future" (replicas' clocks differ) still counts: forgetting it
/// early would only cost contaminated requests, never a wrong rejection.
fn is_fresh(at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    let memory = TimeDelta::from_std(UNKNOWN_EMPLOYEE_MEMORY).unwrap_or(TimeDelta::MAX);
    now.signed_duration_since(at) < memory
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn emp(id: &str) -> BayzatEmpId {
        BayzatEmpId::new(id).unwrap()
    }

    #[test]
    fn remembered_for_24_hours() {
        let mut unknown = UnknownEmployees::new();
        unknown.remember(emp("9"), "unknown employee 9", at("2026-05-01T10:00:00Z"));
        let cases = [
            ("2026-05-01T09:00:00Z", true),
            ("2026-05-01T10:00:00Z", true),
            ("2026-05-02T09:59:59Z", true),
            ("2026-05-02T10:00:00Z", false),
            ("2026-05-03T00:00:00Z", false),
        ];
        for (now, expected) in cases {
            assert_eq!(unknown.is_unknown(&emp("9"), at(now)), expected, "{now}");
            assert!(!unknown.is_unknown(&emp("10"), at(now)), "{now}");
        }
    }

    #[test]
    fn remembering_again_restarts_the_clock_and_keeps_the_newer_message() {
        let mut unknown = UnknownEmployees::new();
        unknown.remember(emp("9"), "first", at("2026-05-01T10:00:00Z"));
        unknown.remember(emp("9"), "second", at("2026-05-02T12:00:00Z"));
        let now = at("2026-05-03T11:00:00Z");
        assert_eq!(unknown.message(&emp("9"), now), Some("second"));
        assert_eq!(
            unknown.rejection_reason(&emp("9"), now).as_deref(),
            Some("not sent: Bayzat refused empId 9 as unknown (second)")
        );
        assert_eq!(unknown.len(), 1);
    }

    #[test]
    fn forgetting() {
        let mut unknown = UnknownEmployees::new();
        unknown.remember(emp("1"), "a", at("2026-05-01T00:00:00Z"));
        unknown.remember_refusal(
            &UnknownEmployee {
                emp_id: emp("2"),
                message: "b".into(),
            },
            at("2026-05-01T12:00:00Z"),
        );
        unknown.forget_expired(at("2026-05-02T06:00:00Z"));
        assert_eq!(unknown.len(), 1);
        assert!(unknown.is_unknown(&emp("2"), at("2026-05-02T06:00:00Z")));
        unknown.forget_all();
        assert!(unknown.is_empty());
        assert!(!unknown.is_unknown(&emp("2"), at("2026-05-02T06:00:00Z")));
    }
}
