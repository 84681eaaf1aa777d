//! Injected faults: each kind, their effect on the ledger and counters, and reproducibility.

mod common;

use std::time::{Duration, Instant};

use bayzat_sim::{Faults, RunningSim};
use common::*;
use reqwest::StatusCode;
use serde_json::json;

async fn set_faults(sim: &RunningSim, faults: serde_json::Value) {
    let (status, body) = admin_put(sim, &format!("/keys/{KEY}/faults"), &faults).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

fn punch(i: usize) -> serde_json::Value {
    records(vec![rec(
        "1",
        "checkIn",
        &format!(
            "2023-04-{:02} {:02}:{:02}:00",
            1 + i / 600,
            (i / 60) % 10,
            i % 60
        ),
    )])
}

/// Posts `body` with the test key from a client that gives up after `timeout`; its error.
async fn post_giving_up(
    sim: &bayzat_sim::RunningSim,
    body: &serde_json::Value,
    timeout: Duration,
) -> reqwest::Error {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .unwrap()
        .post(sim.attendance_url())
        .header("x-api-key", KEY)
        .json(body)
        .send()
        .await
        .expect_err("the client gives up first")
}

#[tokio::test]
async fn p_500_answers_500_and_stores_nothing() {
    let sim = start(vec![fast_key()]).await;
    set_faults(&sim, json!({"p_500": 1.0})).await;
    let a = post(&sim, Some(KEY), &punch(0)).await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(ledger(&sim, KEY).await.is_empty());
    let s = &stats(&sim).await.keys[KEY];
    assert_eq!((s.requests, s.server_errors, s.accepted_records), (1, 1, 0));
    // The same punch goes through once the fault is lifted.
    set_faults(&sim, json!({})).await;
    assert_eq!(
        post(&sim, Some(KEY), &punch(0)).await.status,
        StatusCode::OK
    );
    assert_eq!(ledger(&sim, KEY).await.len(), 1);
    sim.stop().await;
}

#[tokio::test]
async fn p_success_false_answers_200_false_and_stores_nothing() {
    let sim = start(vec![fast_key()]).await;
    set_faults(&sim, json!({"p_success_false": 1.0})).await;
    let a = post(&sim, Some(KEY), &punch(0)).await;
    assert_eq!(a.status, StatusCode::OK);
    let v = a.json();
    assert_eq!(v["success"], false);
    assert!(v["message"].is_string());
    assert!(ledger(&sim, KEY).await.is_empty());
    let s = &stats(&sim).await.keys[KEY];
    assert_eq!((s.requests, s.success_false, s.server_errors), (1, 1, 0));
    sim.stop().await;
}

#[tokio::test]
async fn faults_come_before_body_checks() {
    let sim = start(vec![fast_key()]).await;
    set_faults(&sim, json!({"p_500": 1.0})).await;
    let a = post_raw(&sim.attendance_url(), Some(KEY), b"garbage".to_vec()).await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
    // But not before authentication.
    let a = post(&sim, Some("other"), &punch(0)).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    sim.stop().await;
}

#[tokio::test]
async fn p_timeout_holds_then_answers_500() {
    let sim = start(vec![fast_key()]).await;
    set_faults(&sim, json!({"p_timeout": 1.0, "hold_ms": 300})).await;
    let t0 = Instant::now();
    let a = post(&sim, Some(KEY), &punch(0)).await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        t0.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t0.elapsed()
    );
    assert!(ledger(&sim, KEY).await.is_empty());

    // A client with a shorter timeout gives up; the request is still counted.
    let err = post_giving_up(&sim, &punch(1), Duration::from_millis(100)).await;
    assert!(err.is_timeout(), "{err}");
    assert!(ledger(&sim, KEY).await.is_empty());
    let s = &stats(&sim).await.keys[KEY];
    assert_eq!((s.requests, s.timeouts, s.server_errors), (2, 2, 2));
    sim.stop().await;
}

#[tokio::test]
async fn default_hold_is_30_seconds() {
    let sim = start(vec![fast_key()]).await;
    set_faults(&sim, json!({"p_timeout": 1.0})).await;
    let (_, f) = admin_get(&sim, &format!("/keys/{KEY}/faults")).await;
    assert_eq!(f["hold_ms"], 30_000);
    let err = post_giving_up(&sim, &punch(0), Duration::from_millis(300)).await;
    assert!(err.is_timeout(), "{err}");
    // A graceful stop does not wait out the held request.
    let t0 = Instant::now();
    sim.stop().await;
    assert!(t0.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn accept_then_500_stores_the_records() {
    let sim = start(vec![fast_key()]).await;
    set_faults(&sim, json!({"p_accept_then_500": 1.0})).await;
    let body = records(vec![
        rec("1", "checkIn", "2023-04-30 09:00:00"),
        rec("2", "checkIn", "2023-04-30 09:00:00"),
    ]);
    let a = post(&sim, Some(KEY), &body).await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(ledger(&sim, KEY).await.len(), 2);
    // The retry a client would make is now a duplicate.
    set_faults(&sim, json!({})).await;
    let a = post(&sim, Some(KEY), &body).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.json()["reason"], "duplicate");
    let s = &stats(&sim).await.keys[KEY];
    assert_eq!((s.accepted_records, s.server_errors), (2, 1));
    sim.stop().await;
}

#[tokio::test]
async fn accept_then_500_does_not_apply_to_refused_or_empty_requests() {
    let sim = start(vec![fast_key()]).await;
    set_faults(&sim, json!({"p_accept_then_500": 1.0})).await;
    let a = post(
        &sim,
        Some(KEY),
        &records(vec![rec("9", "checkIn", "2023-04-30 09:00:00")]),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let a = post(&sim, Some(KEY), &records(vec![])).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["message"], "no records");
    sim.stop().await;
}

#[tokio::test]
async fn latency_is_added_to_every_answer() {
    let sim = start(vec![fast_key().with_interval_ms(10_000)]).await;
    set_faults(&sim, json!({"latency_ms": 200})).await;
    for expected in [StatusCode::OK, StatusCode::TOO_MANY_REQUESTS] {
        let t0 = Instant::now();
        let a = post(&sim, Some(KEY), &punch(0)).await;
        assert_eq!(a.status, expected);
        assert!(t0.elapsed() >= Duration::from_millis(200), "{expected}");
    }
    sim.stop().await;
}

/// Sends `n` distinct punches one after another and lists what came back.
async fn run_sequence(sim: &RunningSim, n: usize) -> Vec<(u16, Option<bool>)> {
    run_sequence_from(sim, 0, n).await
}

async fn run_sequence_from(sim: &RunningSim, from: usize, n: usize) -> Vec<(u16, Option<bool>)> {
    let mut out = Vec::new();
    for i in from..from + n {
        let a = post(sim, Some(KEY), &punch(i)).await;
        let success = serde_json::from_str::<serde_json::Value>(&a.text)
            .ok()
            .and_then(|v| v["success"].as_bool());
        out.push((a.status.as_u16(), success));
    }
    out
}

#[tokio::test]
async fn seeded_faults_are_reproducible() {
    let sim = start(vec![fast_key()]).await;
    let faults = |seed: u64| json!({"p_500": 0.25, "p_success_false": 0.2, "p_accept_then_500": 0.2, "seed": seed});
    let register = || async {
        let (status, _) = admin_put(
            &sim,
            &format!("/keys/{KEY}"),
            &json!({"employees": ["1"], "interval_ms": 0}),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    };

    register().await;
    set_faults(&sim, faults(7)).await;
    let first = run_sequence(&sim, 40).await;
    let first_ledger: Vec<_> = ledger(&sim, KEY)
        .await
        .into_iter()
        .map(|e| e.time)
        .collect();

    register().await;
    set_faults(&sim, faults(7)).await;
    let second = run_sequence(&sim, 40).await;
    let second_ledger: Vec<_> = ledger(&sim, KEY)
        .await
        .into_iter()
        .map(|e| e.time)
        .collect();
    assert_eq!(first, second);
    assert_eq!(first_ledger, second_ledger);

    // Every kind of answer shows up, so the comparison above means something.
    for kind in [(500, None), (200, Some(false)), (200, Some(true))] {
        assert!(first.contains(&kind), "{kind:?} missing from {first:?}");
    }
    // Accept-then-500 stored more than the 200s announced.
    let announced = first.iter().filter(|k| **k == (200, Some(true))).count();
    assert!(first_ledger.len() > announced);

    // Setting the faults again restarts the sequence without re-registering the key.
    set_faults(&sim, faults(7)).await;
    assert_eq!(run_sequence_from(&sim, 100, 40).await, first);

    register().await;
    set_faults(&sim, faults(8)).await;
    let other_seed = run_sequence(&sim, 40).await;
    assert_ne!(first, other_seed);
    sim.stop().await;
}

#[tokio::test]
async fn fault_counts_follow_their_probabilities() {
    let sim = start(vec![fast_key()]).await;
    set_faults(&sim, json!({"p_500": 0.5, "seed": 3})).await;
    let answers = run_sequence(&sim, 200).await;
    let errors = answers.iter().filter(|a| a.0 == 500).count();
    assert!((60..=140).contains(&errors), "{errors} of 200");
    let s = &stats(&sim).await.keys[KEY];
    assert_eq!(s.server_errors, errors as u64);
    assert_eq!(s.accepted_records, 200 - errors as u64);
    sim.stop().await;
}

#[tokio::test]
async fn bad_faults_are_refused() {
    let sim = start(vec![fast_key()]).await;
    for body in [
        json!({"p_500": 1.5}),
        json!({"p_timeout": -0.1}),
        json!({"p_500": "high"}),
        json!({"p500": 0.1}),
    ] {
        let (status, _) = admin_put(&sim, &format!("/keys/{KEY}/faults"), &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    let (status, _) = admin_put(&sim, "/keys/nobody/faults", &json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, f) = admin_get(&sim, &format!("/keys/{KEY}/faults")).await;
    assert_eq!(
        serde_json::from_value::<Faults>(f).unwrap(),
        Faults::default()
    );
    sim.stop().await;
}

#[tokio::test]
async fn p_429_answers_429_with_its_retry_after_and_stores_nothing() {
    let sim = start(vec![fast_key()]).await;
    set_faults(&sim, json!({"p_429": 1.0, "retry_after_s": 3})).await;
    let a = post(&sim, Some(KEY), &punch(0)).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.header("retry-after").as_deref(), Some("3"));
    assert_eq!(a.header("retry-after-ms").as_deref(), Some("3000"));
    assert_eq!(a.json()["success"], false);
    assert!(ledger(&sim, KEY).await.is_empty());
    let s = &stats(&sim).await.keys[KEY];
    // Injected, so not counted as the key's own limit, and the request is counted.
    assert_eq!(
        (s.requests, s.injected_429, s.rate_limited, s.server_errors),
        (1, 1, 0, 0)
    );
    set_faults(&sim, json!({})).await;
    assert_eq!(
        post(&sim, Some(KEY), &punch(0)).await.status,
        StatusCode::OK
    );
    sim.stop().await;
}

#[tokio::test]
async fn slow_accept_stores_then_answers_200_after_the_hold() {
    let sim = start(vec![fast_key()]).await;
    set_faults(&sim, json!({"p_slow_accept": 1.0, "hold_ms": 300})).await;
    let err = post_giving_up(&sim, &punch(0), Duration::from_millis(100)).await;
    assert!(err.is_timeout(), "{err}");
    // Stored although the client gave up.
    assert_eq!(ledger(&sim, KEY).await.len(), 1);
    let t0 = Instant::now();
    let a = post(&sim, Some(KEY), &punch(1)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["success"], true);
    assert!(t0.elapsed() >= Duration::from_millis(300));
    let s = &stats(&sim).await.keys[KEY];
    assert_eq!((s.requests, s.slow_accepts, s.accepted_records), (2, 2, 2));
    sim.stop().await;
}

#[tokio::test]
async fn resends_are_counted_and_told_apart_by_whether_the_acceptance_was_answered() {
    let sim = start(vec![fast_key()]).await;
    let acked = rec("1", "checkIn", "2023-04-30 09:00:00");
    let unacked = rec("2", "checkIn", "2023-04-30 09:00:00");
    let fresh = rec("3", "checkIn", "2023-04-30 09:00:00");
    assert_eq!(
        post(&sim, Some(KEY), &records(vec![acked.clone()]))
            .await
            .status,
        StatusCode::OK
    );
    set_faults(&sim, json!({"p_accept_then_500": 1.0})).await;
    assert_eq!(
        post(&sim, Some(KEY), &records(vec![unacked.clone()]))
            .await
            .status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    set_faults(&sim, json!({})).await;
    // One request resending both, with a new punch: refused whole, both resends counted.
    let a = post(
        &sim,
        Some(KEY),
        &records(vec![fresh.clone(), acked.clone(), unacked.clone()]),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.json()["reason"], "duplicate");
    // A punch repeated within one request is a duplicate but no resend.
    let twice = post(&sim, Some(KEY), &records(vec![fresh.clone(), fresh])).await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST);

    let s = &stats(&sim).await.keys[KEY];
    assert_eq!((s.duplicate_records, s.acknowledged_duplicates), (2, 1));
    assert_eq!(s.bad_requests_by_reason.get("duplicate"), Some(&2));
    let d = duplicates(&sim, KEY).await;
    let seen: Vec<_> = d
        .iter()
        .map(|e| (e.emp_id.as_str(), e.acknowledged))
        .collect();
    assert_eq!(seen, [("1", true), ("2", false)]);
    assert!(d.iter().all(|e| e.time == "2023-04-30 09:00:00"));
    assert_eq!(ledger(&sim, KEY).await.len(), 2);
    sim.stop().await;
}

#[tokio::test]
async fn new_faults_are_reproducible_and_leave_the_old_stream_alone() {
    let sim = start(vec![fast_key()]).await;
    let register = || async {
        let (status, _) = admin_put(
            &sim,
            &format!("/keys/{KEY}"),
            &json!({"employees": ["1"], "interval_ms": 0}),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    };
    let old = json!({"p_500": 0.3, "p_accept_then_500": 0.2, "seed": 5});
    register().await;
    set_faults(&sim, old.clone()).await;
    let before = run_sequence(&sim, 30).await;
    // Explicit zeros for the new faults draw nothing more: the same answers.
    let mut zeros = old.clone();
    zeros["p_429"] = json!(0.0);
    zeros["p_slow_accept"] = json!(0.0);
    register().await;
    set_faults(&sim, zeros).await;
    assert_eq!(run_sequence(&sim, 30).await, before);

    let all = json!({"p_500": 0.2, "p_429": 0.2, "p_slow_accept": 0.2, "hold_ms": 1, "seed": 9});
    register().await;
    set_faults(&sim, all.clone()).await;
    let first = run_sequence(&sim, 40).await;
    register().await;
    set_faults(&sim, all).await;
    assert_eq!(run_sequence(&sim, 40).await, first);
    assert!(first.iter().any(|a| a.0 == 429), "{first:?}");
    let s = &stats(&sim).await.keys[KEY];
    assert!(s.slow_accepts > 0 && s.injected_429 > 0, "{s:?}");
    sim.stop().await;
}
