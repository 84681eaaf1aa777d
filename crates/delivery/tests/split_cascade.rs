//! The whole refusal cascade against a small fake Bayzat: requests are packed, refused ones are
//! split in halves until every bad record stands alone, and the ledger ends with every good
//! record exactly once.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::time::Duration;

use bayzat_reply::Reply;
use chrono::{DateTime, TimeDelta, Utc};
use delivery::{next_request, on_reply, screen_half, Delivery, Next, Transition, UnknownEmployees};
use domain::{BayzatEmpId, BayzatRecord, PunchId, PunchType, RetrySchedule};

const MAX: usize = 20;

type Key = (String, String);

fn key(record: &BayzatRecord) -> Key {
    (record.emp_id.to_string(), record.time.to_string())
}

/// Bayzat as far as refusals go: the whole request is refused for the first unknown empId, or
/// for an empId + time it already holds or that appears twice; otherwise everything is taken.
fn bayzat(ledger: &HashSet<Key>, unknown: &HashSet<&str>, request: &[Delivery]) -> Reply {
    assert!(!request.is_empty(), "an empty request was sent");
    assert!(
        request.len() <= MAX,
        "{} records in one request",
        request.len()
    );
    if let Some(d) = request
        .iter()
        .find(|d| unknown.contains(d.record.emp_id.as_str()))
    {
        return Reply::Refused {
            message: format!(
                "unknown employee: empId {} (at {}) is not known to this company",
                d.record.emp_id, d.record.time
            ),
            reason: Some("unknown_employee".into()),
            duplicate: false,
        };
    }
    let mut seen = HashSet::new();
    for d in request {
        let k = key(&d.record);
        if ledger.contains(&k) || !seen.insert(k) {
            return Reply::Refused {
                message: format!(
                    "duplicate: empId {} at {} is already recorded",
                    d.record.emp_id, d.record.time
                ),
                reason: Some("duplicate".into()),
                duplicate: true,
            };
        }
    }
    Reply::Accepted
}

struct Run {
    states: HashMap<PunchId, Transition>,
    ledger: HashSet<Key>,
    fresh_requests: usize,
    half_requests: usize,
    lone_refusals: usize,
    /// Requests that carried each punch.
    sends: HashMap<PunchId, usize>,
}

/// Drains `due` the way the company's sender does: halves first (first half first), then the
/// next packed request; every answer judged by `on_reply`.
fn drain(mut due: Vec<Delivery>, held: &[Key], unknown_emp_ids: &[&str]) -> Run {
    let unknown_at_bayzat: HashSet<&str> = unknown_emp_ids.iter().copied().collect();
    let schedule = RetrySchedule::default();
    let mut now: DateTime<Utc> = "2026-05-01T12:00:00Z".parse().unwrap();
    let mut remembered = UnknownEmployees::new();
    let mut run = Run {
        states: HashMap::new(),
        ledger: held.iter().cloned().collect(),
        fresh_requests: 0,
        half_requests: 0,
        lone_refusals: 0,
        sends: HashMap::new(),
    };
    let mut halves: Vec<Vec<Delivery>> = Vec::new();
    loop {
        let (plan, is_half) = match halves.pop() {
            Some(half) => (screen_half(&half, &remembered, now), true),
            None => {
                let plan = next_request(&due, NonZeroUsize::new(MAX).unwrap(), &remembered, now);
                let gone: HashSet<PunchId> = plan
                    .request
                    .iter()
                    .map(|d| d.punch_id)
                    .chain(plan.rejected.iter().map(|r| r.punch_id))
                    .collect();
                due.retain(|d| !gone.contains(&d.punch_id));
                (plan, false)
            }
        };
        for rejection in plan.rejected {
            let reason = rejection.reason;
            let before = run
                .states
                .insert(rejection.punch_id, Transition::Rejected { reason });
            assert_eq!(before, None, "{:?} settled twice", rejection.punch_id);
        }
        let request = plan.request;
        if request.is_empty() {
            if is_half {
                continue;
            }
            assert!(due.is_empty(), "{} deliveries stuck", due.len());
            return run;
        }
        if is_half {
            run.half_requests += 1;
        } else {
            run.fresh_requests += 1;
        }
        for d in &request {
            *run.sends.entry(d.punch_id).or_default() += 1;
        }
        let reply = bayzat(&run.ledger, &unknown_at_bayzat, &request);
        if reply == Reply::Accepted {
            run.ledger.extend(request.iter().map(|d| key(&d.record)));
        }
        let verdict = on_reply(
            &request,
            &reply,
            now,
            &schedule,
            Duration::from_secs(1),
            Duration::from_secs(900),
        );
        if request.len() == 1 && matches!(reply, Reply::Refused { .. }) {
            run.lone_refusals += 1;
        }
        for change in verdict.changes {
            if change.transition == Transition::StaysSending {
                continue;
            }
            let before = run.states.insert(change.punch_id, change.transition);
            assert_eq!(before, None, "{:?} settled twice", change.punch_id);
        }
        if let Some(unknown) = &verdict.unknown_employee {
            remembered.remember_refusal(unknown, now);
        }
        match verdict.next {
            Next::Continue => {}
            Next::SplitInHalves(first, second) => {
                halves.push(second);
                halves.push(first);
            }
            other => panic!("the fake Bayzat never asks for {other:?}"),
        }
        now += TimeDelta::milliseconds(1025);
    }
}

/// `count` punches of `employees` employees (E0, E1, ...), a minute apart from 06:00, a
/// check-in and then a check-out per employee; given in a scrambled order.
fn punches(count: usize, employees: usize) -> Vec<Delivery> {
    let mut all: Vec<Delivery> = (0..count)
        .map(|i| delivery(i as i64, &format!("E{}", i % employees), i))
        .collect();
    // A fixed permutation, so that packing has to put them back in order.
    let len = all.len();
    if len > 1 {
        for i in 0..len {
            all.swap(i, (i * 7 + 3) % len);
        }
    }
    all
}

fn delivery(punch_id: i64, emp_id: &str, minute: usize) -> Delivery {
    let time = format!("2026-05-01 {:02}:{:02}:00", 6 + minute / 60, minute % 60);
    Delivery {
        punch_id: PunchId(punch_id),
        record: BayzatRecord {
            emp_id: BayzatEmpId::new(emp_id).unwrap(),
            punch_type: if minute.is_multiple_of(2) {
                PunchType::CheckIn
            } else {
                PunchType::CheckOut
            },
            time: time.parse().unwrap(),
        },
        attempts: 0,
    }
}

fn ceil_log2(n: usize) -> usize {
    n.next_power_of_two().trailing_zeros() as usize
}

struct Case {
    name: &'static str,
    due: Vec<Delivery>,
    /// Records Bayzat already holds: a resend after a crash.
    held: Vec<Key>,
    unknown: Vec<&'static str>,
}

fn cases() -> Vec<Case> {
    let held_of = |due: &[Delivery], ids: &[i64]| -> Vec<Key> {
        due.iter()
            .filter(|d| ids.contains(&d.punch_id.get()))
            .map(|d| key(&d.record))
            .collect()
    };
    let mixed = {
        let mut due = punches(150, 12);
        // The same punch twice under two ids: packing keeps them apart, and the second one
        // is refused as a duplicate of the first.
        due.push(delivery(1000, "E5", 5));
        due
    };
    vec![
        Case {
            name: "all good",
            due: punches(41, 5),
            held: vec![],
            unknown: vec![],
        },
        Case {
            name: "one bad punch alone",
            due: vec![delivery(1, "E0", 0)],
            held: vec![],
            unknown: vec!["E0"],
        },
        Case {
            name: "one bad record in a full request",
            due: {
                let mut due = punches(19, 19);
                due.push(delivery(99, "X", 7));
                due
            },
            held: vec![],
            unknown: vec!["X"],
        },
        Case {
            name: "one held record in a full request",
            due: punches(20, 4),
            held: held_of(&punches(20, 4), &[13]),
            unknown: vec![],
        },
        Case {
            name: "every record already held",
            due: punches(20, 4),
            held: held_of(&punches(20, 4), &(0..20).collect::<Vec<_>>()),
            unknown: vec![],
        },
        Case {
            name: "an unknown employee with many punches",
            due: punches(60, 3),
            held: vec![],
            unknown: vec!["E1"],
        },
        Case {
            name: "mixed",
            // 64 is E4's: Bayzat refuses it as unknown before it looks at its ledger.
            held: held_of(&mixed, &[3, 17, 62, 64, 65, 149]),
            due: mixed,
            unknown: vec!["E4", "E9"],
        },
    ]
}

#[test]
fn refused_requests_are_split_until_every_bad_record_stands_alone() {
    for case in cases() {
        let name = case.name;
        let due = case.due.clone();
        let held: HashSet<Key> = case.held.iter().cloned().collect();
        let run = drain(case.due, &case.held, &case.unknown);

        assert_eq!(
            run.states.len(),
            due.len(),
            "{name}: every delivery settles"
        );
        let mut expected_ledger = held.clone();
        let mut seen_keys = HashSet::new();
        let mut duplicates = 0;
        let mut copies = 0;
        for d in &due {
            let state = &run.states[&d.punch_id];
            let k = key(&d.record);
            let first_copy = seen_keys.insert(k.clone());
            if !first_copy {
                copies += 1;
            }
            if case.unknown.contains(&d.record.emp_id.as_str()) {
                let Transition::Rejected { reason } = state else {
                    panic!("{name}: unknown {:?} ended {state:?}", d.punch_id)
                };
                assert!(
                    reason.contains(&format!("empId {}", d.record.emp_id)),
                    "{name}: {reason}"
                );
            } else if held.contains(&k) || !first_copy {
                duplicates += 1;
                assert_eq!(
                    *state,
                    Transition::Delivered { already_held: true },
                    "{name}: {:?}",
                    d.punch_id
                );
                assert!(
                    run.sends[&d.punch_id] <= 1 + ceil_log2(MAX),
                    "{name}: {:?} was sent more often than the depth of one split",
                    d.punch_id
                );
            } else {
                assert_eq!(
                    *state,
                    Transition::Delivered {
                        already_held: false
                    },
                    "{name}: {:?}",
                    d.punch_id
                );
                expected_ledger.insert(k);
            }
        }
        assert_eq!(run.ledger, expected_ledger, "{name}: Bayzat's ledger");

        // Each lone refusal is one bad record found; finding it costs at most two requests
        // per level of halving.
        let bad_emp_ids = case.unknown.len();
        assert_eq!(
            run.lone_refusals,
            bad_emp_ids + duplicates,
            "{name}: each unknown empId is refused alone once, each duplicate once"
        );
        let bound = run.lone_refusals * 2 * ceil_log2(MAX);
        assert!(
            run.half_requests <= bound,
            "{name}: {} halves for {} bad records (bound {bound})",
            run.half_requests,
            run.lone_refusals
        );
        // Packing wastes no room: a copy of a punch in the same drain may cost one more.
        assert!(
            run.fresh_requests <= due.len().div_ceil(MAX) + copies,
            "{name}: {} packed requests",
            run.fresh_requests
        );
    }
}

#[test]
fn a_known_unknown_contaminates_nothing() {
    // E1 has 20 punches, 7 of them among the first 20 (the first request). Once the cascade of
    // that request finds E1 alone, the rest of E1's punches are rejected without being sent.
    let run = drain(punches(60, 3), &[], &["E1"]);
    let e1 = |i: &i64| i % 3 == 1;
    let sent_later: Vec<i64> = (20..60)
        .filter(e1)
        .filter(|i| run.sends.contains_key(&PunchId(*i)))
        .collect();
    assert_eq!(
        sent_later,
        Vec::<i64>::new(),
        "sent after E1 was known unknown"
    );
    assert!((0..20)
        .filter(e1)
        .all(|i| run.sends[&PunchId(i)] <= 1 + ceil_log2(MAX)));
    assert_eq!(run.lone_refusals, 1);
    assert!(
        run.half_requests <= 2 * ceil_log2(MAX),
        "{}",
        run.half_requests
    );
    // The first request's 13 good punches go in its halves; the other 27 in a full request
    // and the drain's last.
    assert_eq!(run.fresh_requests, 3);
    let rejected_unsent = (0..60)
        .filter(e1)
        .filter(|i| !run.sends.contains_key(&PunchId(*i)))
        .count();
    assert_eq!(rejected_unsent, 13);
}
