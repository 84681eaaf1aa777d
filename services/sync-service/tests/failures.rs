//! Bayzat failing: a refused key, 429s, 500s and timeouts retried on the schedule until failed,
//! batch retry, and accepted requests answered 500.

mod common;

use std::time::Duration;

use auth::Role;
use bayzat_sim::{Faults, KeySpec};
use common::*;
use serde_json::json;
use test_support::wait_for;

/// Moves the shared clock a day at every look until `done` holds, so retries fall due at once.
async fn advance_until<F, Fut>(stack: &Stack, timeout: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    wait_for(timeout, "the outcome after moving the clock on", || {
        let holds = done();
        async move {
            if holds.await {
                return Ok(());
            }
            stack.clock.advance(Duration::from_secs(25 * 3600));
            Err(format!("not yet at {}", stack.clock.now()))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_key_pauses_without_spending_attempts_until_a_new_key() {
    let stack = Stack::start(1).await;
    let advline = stack.company_id("advline").await;
    stack
        .put_config(
            "advline",
            json!({"api_key": "bz_not_known_here", "test_connection": false}),
        )
        .await;
    // sync-service takes in the key change first, so the pause below is not undone by it.
    stack.config_taken_in().await;
    stack.ready(advline, 1, punches(1, 25)).await;
    stack
        .wait_for(advline, 25, &["paused"], Duration::from_secs(15))
        .await;
    assert!(stack.all_attempts(advline, 0).await);
    let (_, health) = stack
        .get("/v1/companies/advline/sync-health", Role::Viewer)
        .await;
    assert_eq!(health["state"], "paused_auth", "{health}");
    // Nothing more is tried while paused.
    let unauthorized = stack.sim.stats().unauthorized;
    stack.scheduler_round_passes().await;
    assert_eq!(stack.sim.stats().unauthorized, unauthorized);
    stack
        .put_config(
            "advline",
            json!({"api_key": ADVLINE_KEY, "test_connection": false}),
        )
        .await;
    stack
        .wait_for(advline, 25, &["delivered"], Duration::from_secs(20))
        .await;
    assert_exactly_once(&stack.ledger(ADVLINE_KEY), 25);
    let (_, health) = stack
        .get("/v1/companies/advline/sync-health", Role::Viewer)
        .await;
    assert_eq!(health["state"], "active", "{health}");
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limited_requests_wait_as_told_and_cost_no_attempt() {
    let stack = Stack::start(1).await;
    let advline = stack.company_id("advline").await;
    // The key allows one request per 1,500 ms; sync-service thinks 200 ms (far enough apart that
    // a busy machine's own delays do not space the requests out as the key wants).
    stack
        .sim
        .put_key(KeySpec::new(ADVLINE_KEY, ADVLINE_EMPLOYEES).with_interval_ms(1500));
    stack.ready(advline, 1, punches(1, 60)).await;
    stack
        .wait_for(advline, 60, &["delivered"], Duration::from_secs(30))
        .await;
    assert!(stack.all_attempts(advline, 0).await);
    let stats = stack.key_stats(ADVLINE_KEY);
    assert!(stats.rate_limited > 0, "{stats:?}");
    assert!(stats.min_gap_ms.unwrap_or(u64::MAX) >= 1500, "{stats:?}");
    assert_exactly_once(&stack.ledger(ADVLINE_KEY), 60);
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_are_retried_on_the_schedule_then_failed_and_a_batch_retry_delivers() {
    let mut bayzat = fast_bayzat();
    bayzat.retry_schedule = domain::RetrySchedule::default();
    let stack = Stack::start_with(1, bayzat).await;
    let advline = stack.company_id("advline").await;
    stack.advline_faults(Faults {
        p_500: 1.0,
        ..Faults::default()
    });
    let batch = stack.ready(advline, 1, punches(1, 5)).await;
    stack
        .wait_for(advline, 5, &["retry_wait"], Duration::from_secs(10))
        .await;
    // The default schedule waits 5 minutes first: nothing happens without the clock moving.
    stack.scheduler_round_passes().await;
    assert_eq!(stack.key_stats(ADVLINE_KEY).requests, 1);
    advance_until(&stack, Duration::from_secs(40), || async {
        stack.all_in(advline, "failed").await
    })
    .await;
    // The first send and five retries.
    assert!(stack
        .states(advline)
        .await
        .iter()
        .all(|(_, _, a, e)| *a == 6 && e.as_deref().is_some_and(|e| e.contains("500"))));
    assert_eq!(stack.key_stats(ADVLINE_KEY).requests, 6);
    let (_, listed) = stack
        .get(&format!("/v1/batches/{batch}"), Role::Viewer)
        .await;
    assert_eq!(listed["status"], "failed", "{listed}");
    assert_eq!(listed["failed_count"], 5, "{listed}");

    stack.advline_faults(Faults::default());
    let (status, _) = stack
        .post(&format!("/v1/batches/{batch}/retry"), Role::Viewer)
        .await;
    assert_eq!(status, 403);
    let (status, queued) = stack
        .post(&format!("/v1/batches/{batch}/retry"), Role::Operator)
        .await;
    assert_eq!((status, queued["queued"].as_u64()), (202, Some(5)));
    stack
        .wait_for(advline, 5, &["delivered"], Duration::from_secs(10))
        .await;
    assert_exactly_once(&stack.ledger(ADVLINE_KEY), 5);
    let (_, listed) = stack
        .get(&format!("/v1/batches/{batch}"), Role::Viewer)
        .await;
    assert_eq!(listed["status"], "completed", "{listed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn timeouts_are_transient() {
    let stack = Stack::start(1).await;
    let advline = stack.company_id("advline").await;
    stack.advline_faults(Faults {
        p_timeout: 1.0,
        hold_ms: 4000,
        ..Faults::default()
    });
    stack.ready(advline, 1, punches(1, 3)).await;
    stack
        .wait_for(advline, 3, &["retry_wait"], Duration::from_secs(10))
        .await;
    assert!(stack.all_attempts(advline, 1).await);
    stack.advline_faults(Faults::default());
    advance_until(&stack, Duration::from_secs(20), || async {
        stack.all_in(advline, "delivered").await
    })
    .await;
    assert_exactly_once(&stack.ledger(ADVLINE_KEY), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn accepted_but_answered_500_ends_with_every_punch_once() {
    let stack = Stack::start(1).await;
    let advline = stack.company_id("advline").await;
    stack.advline_faults(Faults {
        p_accept_then_500: 0.5,
        seed: 7,
        ..Faults::default()
    });
    stack.ready(advline, 1, punches(1, 30)).await;
    advance_until(&stack, Duration::from_secs(60), || async {
        let states = stack.states(advline).await;
        states.len() == 30 && states.iter().all(|(_, s, _, _)| s == "delivered")
    })
    .await;
    assert_exactly_once(&stack.ledger(ADVLINE_KEY), 30);
    let stats = stack.key_stats(ADVLINE_KEY);
    assert!(
        stats.min_gap_ms.unwrap_or(u64::MAX) >= INTERVAL_MS,
        "{stats:?}"
    );
    assert!(stats.largest_request <= 20);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wait_longer_than_the_lease_keeps_the_lease() {
    let mut stack = Stack::start(1).await;
    stack.add_replica().await;
    let advline = stack.company_id("advline").await;
    // The key allows one request per 6 s and the lease lasts 3 s: after the first request the
    // second is answered 429 with a Retry-After twice as long as the lease.
    stack
        .sim
        .put_key(KeySpec::new(ADVLINE_KEY, ADVLINE_EMPLOYEES).with_interval_ms(6000));
    stack.ready(advline, 1, punches(1, 30)).await;
    assert!(
        test_support::eventually(Duration::from_secs(20), || async {
            stack.key_stats(ADVLINE_KEY).rate_limited > 0
        })
        .await
    );
    let (epoch, live) = stack.lease(advline).await.expect("a lease");
    assert!(live);
    // Once the lease's term then has ended, and still within the wait, the waiting sender still
    // holds it.
    let term = stack.lease_expires_at(advline).await.expect("a lease");
    test_support::wait_for(
        Duration::from_secs(10),
        "the lease's first term ends",
        || async {
            let now = chrono::Utc::now();
            (now > term).then_some(()).ok_or(format!("{now} <= {term}"))
        },
    )
    .await;
    assert_eq!(stack.lease(advline).await, Some((epoch, true)));
    stack
        .wait_for(advline, 30, &["delivered"], Duration::from_secs(30))
        .await;
    assert_exactly_once(&stack.ledger(ADVLINE_KEY), 30);
    let requests = stack.requests(advline).await;
    assert!(
        requests.iter().all(|r| r.holder == requests[0].holder),
        "{requests:?}"
    );
}

/// Bayzat refused an employee it did not know; once it knows her, an operator's batch retry
/// sends her punches again, although the sender still remembers the empId as unknown.
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_retry_resends_punches_of_an_employee_bayzat_did_not_know() {
    let stack = Stack::start(1).await;
    let advline = stack.company_id("advline").await;
    // The directory's load is taken in first: a configuration change would make the sender
    // forget unknown empIds by itself.
    stack.config_taken_in().await;
    let batch = stack
        .ready(
            advline,
            1,
            vec![
                punch(1, "1001", domain::PunchType::CheckIn, "2026-05-01 08:00:00"),
                punch(2, "1004", domain::PunchType::CheckIn, "2026-05-01 08:05:00"),
                punch(
                    3,
                    "1004",
                    domain::PunchType::CheckOut,
                    "2026-05-01 17:05:00",
                ),
            ],
        )
        .await;
    stack
        .wait_for(
            advline,
            3,
            &["delivered", "rejected"],
            Duration::from_secs(15),
        )
        .await;
    let rejected = |states: Vec<(i64, String, i32, Option<String>)>| {
        states
            .into_iter()
            .filter(|(_, s, _, _)| s == "rejected")
            .map(|(id, _, _, _)| id)
            .collect::<Vec<_>>()
    };
    assert_eq!(rejected(stack.states(advline).await), [2, 3]);

    bayzat_learns_1004_and_the_batch_is_retried(&stack, &batch).await;
    stack
        .wait_for(advline, 3, &["delivered"], Duration::from_secs(15))
        .await;
    assert_exactly_once(&stack.ledger(ADVLINE_KEY), 2);
}

/// The same, with the retry landing while the sender is still busy with the company's other
/// punches: the retried punches go out in that same drain, not rejected again from memory.
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_retry_during_a_long_drain_resends_the_refused_employee() {
    let stack = Stack::start(1).await;
    let advline = stack.company_id("advline").await;
    stack.config_taken_in().await;
    let known = punches(1000, 200);
    let mut batch_punches = vec![
        punch(1, "1004", domain::PunchType::CheckIn, "2026-05-02 05:00:00"),
        punch(
            2,
            "1004",
            domain::PunchType::CheckOut,
            "2026-05-02 05:05:00",
        ),
    ];
    batch_punches.extend(known);
    let batch = stack.ready(advline, 1, batch_punches).await;

    // 1004 comes first in time order, so it is refused while most known punches still wait.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let states = stack.states(advline).await;
        let refused = states
            .iter()
            .filter(|(id, s, _, _)| *id <= 2 && s == "rejected")
            .count();
        if refused == 2 {
            let waiting = states
                .iter()
                .filter(|(_, s, _, _)| s == "pending" || s == "sending")
                .count();
            assert!(
                waiting >= 40,
                "the sender should still have work: {waiting} pending"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "1004 never refused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    bayzat_learns_1004_and_the_batch_is_retried(&stack, &batch).await;
    stack
        .wait_for(advline, 202, &["delivered"], Duration::from_secs(30))
        .await;
    assert_exactly_once(&stack.ledger(ADVLINE_KEY), 202);
}

/// Bayzat now knows employee 1004, and an operator retries the batch: its two refused punches
/// are queued again.
async fn bayzat_learns_1004_and_the_batch_is_retried(stack: &Stack, batch: &str) {
    let mut employees = ADVLINE_EMPLOYEES.to_vec();
    employees.push("1004");
    stack
        .sim
        .put_key(KeySpec::new(ADVLINE_KEY, employees).with_interval_ms(INTERVAL_MS));
    let (status, queued) = stack
        .post(&format!("/v1/batches/{batch}/retry"), Role::Operator)
        .await;
    assert_eq!((status, queued["queued"].as_u64()), (202, Some(2)));
}

fn tally(
    states: &[(i64, String, i32, Option<String>)],
) -> std::collections::BTreeMap<String, usize> {
    let mut tally = std::collections::BTreeMap::new();
    for (_, state, _, _) in states {
        *tally.entry(state.clone()).or_insert(0) += 1;
    }
    tally
}

/// Waits until the company's deliveries are in these states, this many each.
async fn wait_for_tally(stack: &Stack, company_id: i64, expected: &[(&str, usize)]) {
    let expected: std::collections::BTreeMap<String, usize> = expected
        .iter()
        .map(|(state, n)| ((*state).to_owned(), *n))
        .collect();
    test_support::wait_for(
        Duration::from_secs(20),
        &format!("deliveries by state {expected:?}"),
        || async {
            let seen = tally(&stack.states(company_id).await);
            (seen == expected).then_some(()).ok_or(format!("{seen:?}"))
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_after_of_ten_years_is_a_transient_failure_shown_as_waiting() {
    let mut bayzat = fast_bayzat();
    bayzat.retry_schedule = domain::RetrySchedule::default();
    let stack = Stack::start_with(1, bayzat).await;
    let advline = stack.company_id("advline").await;
    // One request per ten years: the first goes through, the next is answered 429 with a
    // Retry-After of ten years.
    stack
        .sim
        .put_key(KeySpec::new(ADVLINE_KEY, ADVLINE_EMPLOYEES).with_interval_ms(315_360_000_000));
    stack.ready(advline, 1, punches(1, 40)).await;
    wait_for_tally(&stack, advline, &[("delivered", 20), ("retry_wait", 20)]).await;
    let before = chrono::Utc::now();
    let (_, listed) = stack
        .get(
            "/v1/deliveries?company=advline&state=retry_wait&per_page=100",
            Role::Viewer,
        )
        .await;
    let items = listed["items"].as_array().expect("a page of deliveries");
    assert_eq!(items.len(), 20, "{listed}");
    for item in items {
        // A transient failure: an attempt spent, the next one on the schedule (5 minutes).
        assert_eq!(item["attempts"], 1, "{item}");
        let next: chrono::DateTime<chrono::Utc> =
            item["next_attempt_at"].as_str().unwrap().parse().unwrap();
        assert!(next > before + chrono::TimeDelta::minutes(4), "{item}");
        assert!(next < before + chrono::TimeDelta::minutes(6), "{item}");
        let error = item["last_error"].as_str().unwrap_or_default();
        assert!(
            error.contains("429") && error.contains("BAYZAT_MAX_RETRY_AFTER"),
            "{item}"
        );
    }
    let (_, health) = stack
        .get("/v1/companies/advline/sync-health", Role::Viewer)
        .await;
    assert_eq!(health["waiting"]["deliveries"], 20, "{health}");
    assert!(health["waiting"]["next_attempt_at"].is_string(), "{health}");
    assert!(
        health["waiting"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("429")),
        "{health}"
    );
    // Nothing more is sent while they wait.
    let requests = stack.key_stats(ADVLINE_KEY).rate_limited;
    stack.scheduler_round_passes().await;
    assert_eq!(stack.key_stats(ADVLINE_KEY).rate_limited, requests);
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_waiting_on_a_retry_after_are_retry_wait_and_health_says_rate_limited() {
    let stack = Stack::start(1).await;
    let advline = stack.company_id("advline").await;
    // One request per 5 s: the second request is answered 429 with a Retry-After of about 5 s.
    stack
        .sim
        .put_key(KeySpec::new(ADVLINE_KEY, ADVLINE_EMPLOYEES).with_interval_ms(5000));
    stack.ready(advline, 1, punches(1, 40)).await;
    wait_for_tally(&stack, advline, &[("delivered", 20), ("retry_wait", 20)]).await;
    let states = stack.states(advline).await;
    for (_, state, attempts, error) in &states {
        if state == "retry_wait" {
            assert_eq!(*attempts, 0, "a 429 costs no attempt");
            assert!(
                error.as_deref().is_some_and(|e| e.contains("429")),
                "{error:?}"
            );
        }
    }
    let (_, health) = stack
        .get("/v1/companies/advline/sync-health", Role::Viewer)
        .await;
    let until: chrono::DateTime<chrono::Utc> = health["rate_limited_until"]
        .as_str()
        .unwrap_or_else(|| panic!("{health}"))
        .parse()
        .unwrap();
    assert!(until > chrono::Utc::now(), "{health}");
    assert!(
        health["rate_limit_reason"]
            .as_str()
            .is_some_and(|r| r.contains("429")),
        "{health}"
    );
    assert_eq!(health["waiting"]["deliveries"], 20, "{health}");
    stack
        .wait_for(advline, 40, &["delivered"], Duration::from_secs(20))
        .await;
    assert!(stack.all_attempts(advline, 0).await);
    assert_exactly_once(&stack.ledger(ADVLINE_KEY), 40);
}
