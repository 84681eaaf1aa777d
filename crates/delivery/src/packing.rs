//! Which due deliveries go into the next request to Bayzat.

use std::collections::HashSet;
use std::num::NonZeroUsize;

use chrono::{DateTime, Utc};
use domain::{BayzatEmpId, BayzatRecord, LocalPunchTime, PunchId, TimeOrdered};
use serde::{Deserialize, Serialize};

use crate::unknown::UnknownEmployees;

/// One punch on its way to Bayzat: the row sync-service keeps in `deliveries`, reduced to what
/// the rules read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub punch_id: PunchId,
    pub record: BayzatRecord,
    /// Transient failures so far. The first send is not a retry, so a delivery that has never
    /// failed has 0.
    pub attempts: u32,
}

impl TimeOrdered for Delivery {
    fn punch_time(&self) -> LocalPunchTime {
        self.record.time
    }

    fn bayzat_emp_id(&self) -> &BayzatEmpId {
        &self.record.emp_id
    }
}

impl TimeOrdered for &Delivery {
    fn punch_time(&self) -> LocalPunchTime {
        self.record.time
    }

    fn bayzat_emp_id(&self) -> &BayzatEmpId {
        &self.record.emp_id
    }
}

/// A delivery settled as `rejected` without being sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub punch_id: PunchId,
    pub reason: String,
}

/// What to do with a set of due deliveries now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// The next request, in the order it is sent. Empty when nothing is left to send.
    pub request: Vec<Delivery>,
    /// Deliveries whose empId Bayzat refused as unknown recently: rejected now, never sent, so
    /// they cannot get a good request refused.
    pub rejected: Vec<Rejection>,
    /// Due deliveries that are neither in this request nor rejected: they wait for the next one.
    pub left_for_later: usize,
}

/// Picks the next request from the company's due deliveries.
///
/// Time order, then empId (equals keep the order they came in), so that Bayzat sees a day's
/// punches in order and requests are as full as they can be: every request carries
/// `max_records` except the last of a drain. A delivery whose empId and time are already in the
/// request waits for a later one, because Bayzat refuses the whole request for it; later
/// deliveries fill its place so the request stays full. Every remembered-unknown delivery among
/// `due` is rejected at once, not only those that would have fitted.
pub fn next_request(
    due: &[Delivery],
    max_records: NonZeroUsize,
    unknown: &UnknownEmployees,
    now: DateTime<Utc>,
) -> Plan {
    let mut order: Vec<&Delivery> = due.iter().collect();
    order.sort_by(|a, b| {
        a.punch_time()
            .cmp(&b.punch_time())
            .then_with(|| a.bayzat_emp_id().cmp(b.bayzat_emp_id()))
    });
    let mut plan = Plan::default();
    let mut in_request: HashSet<(&BayzatEmpId, LocalPunchTime)> = HashSet::new();
    for delivery in order {
        if let Some(reason) = unknown.rejection_reason(&delivery.record.emp_id, now) {
            plan.rejected.push(Rejection {
                punch_id: delivery.punch_id,
                reason,
            });
        } else if plan.request.len() < max_records.get()
            && in_request.insert((&delivery.record.emp_id, delivery.record.time))
        {
            plan.request.push(delivery.clone());
        } else {
            plan.left_for_later += 1;
        }
    }
    plan
}

/// Prepares one half of a refused request for its resend: the half goes as it is (splitting
/// only converges if halves are not mixed with other deliveries), except for deliveries whose
/// empId was found unknown meanwhile, which are rejected instead of poisoning the half again.
pub fn screen_half(half: &[Delivery], unknown: &UnknownEmployees, now: DateTime<Utc>) -> Plan {
    let mut plan = Plan::default();
    for delivery in half {
        match unknown.rejection_reason(&delivery.record.emp_id, now) {
            Some(reason) => plan.rejected.push(Rejection {
                punch_id: delivery.punch_id,
                reason,
            }),
            None => plan.request.push(delivery.clone()),
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{at, delivery, emp};
    use domain::MAX_RECORDS_PER_REQUEST;

    /// `count` deliveries of seven employees, one minute apart, given newest first so that
    /// packing has to sort.
    fn reversed(count: usize) -> Vec<Delivery> {
        (0..count)
            .rev()
            .map(|i| {
                let time = format!("2026-05-01 {:02}:{:02}:00", 6 + i / 60, i % 60);
                delivery(i as i64, &format!("E{}", i % 7), &time)
            })
            .collect()
    }

    /// Runs [`next_request`] until nothing is left, taking each request as sent.
    fn drain(
        mut due: Vec<Delivery>,
        max: usize,
        unknown: &UnknownEmployees,
    ) -> (Vec<Vec<Delivery>>, Vec<Rejection>) {
        let max = NonZeroUsize::new(max).unwrap();
        let now = at("2026-05-01T12:00:00Z");
        let mut requests = Vec::new();
        let mut rejected = Vec::new();
        loop {
            let plan = next_request(&due, max, unknown, now);
            assert_eq!(
                plan.request.len() + plan.rejected.len() + plan.left_for_later,
                due.len(),
                "every due delivery is accounted for"
            );
            rejected.extend(plan.rejected.iter().cloned());
            if plan.request.is_empty() {
                assert_eq!(plan.left_for_later, 0, "nothing is stuck");
                return (requests, rejected);
            }
            let gone: HashSet<PunchId> = plan
                .request
                .iter()
                .map(|d| d.punch_id)
                .chain(plan.rejected.iter().map(|r| r.punch_id))
                .collect();
            due.retain(|d| !gone.contains(&d.punch_id));
            requests.push(plan.request);
        }
    }

    fn sizes(requests: &[Vec<Delivery>]) -> Vec<usize> {
        requests.iter().map(Vec::len).collect()
    }

    #[test]
    fn request_sizes() {
        let cases: &[(usize, usize, &[usize])] = &[
            (0, 20, &[]),
            (1, 20, &[1]),
            (19, 20, &[19]),
            (20, 20, &[20]),
            (21, 20, &[20, 1]),
            (40, 20, &[20, 20]),
            (41, 20, &[20, 20, 1]),
            (5, 1, &[1, 1, 1, 1, 1]),
            (7, 3, &[3, 3, 1]),
        ];
        for &(count, max, expected) in cases {
            let (requests, rejected) = drain(reversed(count), max, &UnknownEmployees::new());
            assert_eq!(
                sizes(&requests),
                expected,
                "{count} deliveries, at most {max}"
            );
            assert!(rejected.is_empty());
            let flat: Vec<&Delivery> = requests.iter().flatten().collect();
            assert_eq!(flat.len(), count);
            assert!(
                flat.windows(2)
                    .all(|w| w[0].record.time <= w[1].record.time),
                "{count} deliveries are not in time order"
            );
        }
    }

    #[test]
    fn one_request_at_a_time() {
        let plan = next_request(
            &reversed(41),
            MAX_RECORDS_PER_REQUEST,
            &UnknownEmployees::new(),
            at("2026-05-01T12:00:00Z"),
        );
        assert_eq!(plan.request.len(), 20);
        assert_eq!(plan.left_for_later, 21);
        let ids: Vec<i64> = plan.request.iter().map(|d| d.punch_id.get()).collect();
        assert_eq!(ids, (0..20).collect::<Vec<_>>(), "the oldest go first");
    }

    #[test]
    fn orders_by_time_then_emp_id_keeping_the_given_order_among_equals() {
        let due = vec![
            delivery(1, "B", "2026-05-01 17:00:00"),
            delivery(2, "B", "2026-05-01 09:00:00"),
            delivery(3, "A", "2026-05-01 17:00:00"),
            delivery(4, "10", "2026-05-01 09:00:00"),
            delivery(5, "A", "2026-05-01 08:59:59"),
            delivery(6, "C", "2026-04-30 18:00:00"),
        ];
        let (requests, _) = drain(due, 4, &UnknownEmployees::new());
        let ids: Vec<Vec<i64>> = requests
            .iter()
            .map(|r| r.iter().map(|d| d.punch_id.get()).collect())
            .collect();
        // empIds compare as text: "10" before "B".
        assert_eq!(ids, [vec![6, 5, 4, 2], vec![3, 1]]);
    }

    #[test]
    fn the_same_emp_id_and_time_never_share_a_request() {
        // Bayzat refuses the same empId + time whatever the type.
        let mut due = reversed(25);
        due.push(delivery(100, "E3", "2026-05-01 06:03:00"));
        due.push(delivery(102, "E0", "2026-05-01 06:00:00"));
        let (requests, _) = drain(due, 20, &UnknownEmployees::new());
        assert_eq!(sizes(&requests), [20, 7]);
        let sent: Vec<Vec<i64>> = requests
            .iter()
            .map(|r| r.iter().map(|d| d.punch_id.get()).collect())
            .collect();
        for request in &requests {
            let keys: HashSet<(&BayzatEmpId, LocalPunchTime)> = request
                .iter()
                .map(|d| (&d.record.emp_id, d.record.time))
                .collect();
            assert_eq!(keys.len(), request.len(), "{sent:?}");
        }
        // The copies wait for the next request and later punches take their places, so the
        // first request is still full; the copies then go first, in time order.
        assert_eq!(sent[0], (0..20).collect::<Vec<_>>());
        assert_eq!(sent[1], [102, 100, 20, 21, 22, 23, 24]);
        // Three copies of one punch need three requests.
        let triple = vec![
            delivery(1, "X", "2026-05-01 09:00:00"),
            delivery(2, "X", "2026-05-01 09:00:00"),
            delivery(3, "X", "2026-05-01 09:00:00"),
            delivery(4, "Y", "2026-05-01 09:00:00"),
        ];
        let (requests, _) = drain(triple, 20, &UnknownEmployees::new());
        assert_eq!(sizes(&requests), [2, 1, 1]);
    }

    #[test]
    fn remembered_unknown_emp_ids_are_rejected_without_being_sent() {
        let mut unknown = UnknownEmployees::new();
        unknown.remember(emp("E2"), "unknown employee E2", at("2026-05-01T11:00:00Z"));
        unknown.remember(emp("E5"), "unknown employee E5", at("2026-04-29T11:00:00Z"));
        let due = reversed(45);
        let plan = next_request(
            &due,
            MAX_RECORDS_PER_REQUEST,
            &unknown,
            at("2026-05-01T12:00:00Z"),
        );
        // E2 is every seventh punch from the third; E5's memory has lapsed.
        let expected: Vec<i64> = (0..45).filter(|i| i % 7 == 2).collect();
        let rejected: Vec<i64> = plan.rejected.iter().map(|r| r.punch_id.get()).collect();
        assert_eq!(
            rejected, expected,
            "all of them, not only the first request's"
        );
        assert!(plan
            .rejected
            .iter()
            .all(|r| r.reason
                == "not sent: Bayzat refused empId E2 as unknown (unknown employee E2)"));
        assert_eq!(plan.request.len(), 20);
        assert!(plan.request.iter().all(|d| d.record.emp_id != emp("E2")));
        assert_eq!(plan.left_for_later, 45 - expected.len() - 20);

        let (requests, rejected) = drain(due, 20, &unknown);
        assert_eq!(sizes(&requests), [20, 18]);
        assert_eq!(rejected.len(), expected.len());
    }

    #[test]
    fn only_rejections() {
        let mut unknown = UnknownEmployees::new();
        unknown.remember(emp("9"), "no", at("2026-05-01T11:00:00Z"));
        let due = vec![
            delivery(1, "9", "2026-05-01 09:00:00"),
            delivery(2, "9", "2026-05-01 17:00:00"),
        ];
        let plan = next_request(
            &due,
            MAX_RECORDS_PER_REQUEST,
            &unknown,
            at("2026-05-01T12:00:00Z"),
        );
        assert!(plan.request.is_empty());
        assert_eq!(plan.rejected.len(), 2);
        assert_eq!(plan.left_for_later, 0);
    }

    #[test]
    fn halves_are_resent_as_they_are_less_the_unknown() {
        let half = vec![
            delivery(3, "B", "2026-05-01 09:00:00"),
            delivery(1, "9", "2026-05-01 08:00:00"),
            delivery(2, "A", "2026-05-01 08:00:00"),
        ];
        let now = at("2026-05-01T12:00:00Z");
        let plan = screen_half(&half, &UnknownEmployees::new(), now);
        assert_eq!(plan.request, half);
        let mut unknown = UnknownEmployees::new();
        unknown.remember(emp("9"), "no", now);
        let plan = screen_half(&half, &unknown, now);
        assert_eq!(plan.request, [half[0].clone(), half[2].clone()]);
        assert_eq!(
            plan.rejected,
            [Rejection {
                punch_id: PunchId(1),
                reason: "not sent: Bayzat refused empId 9 as unknown (no)".into()
            }]
        );
    }
}
