//! When punches go: hourly companies hold them until the run or a sync now, disabled companies
//! hold them until re-enabled, and a cancelled import's punches never go.

mod common;

use std::time::Duration;

use auth::Role;
use common::*;
use domain::PunchType;
use serde_json::json;

const GULF_KEY: &str = "bz_test_gulf_c8b104";
const DORMANT_KEY: &str = "bz_test_dormant_000d1e";

fn gulf_punches(first_id: i64, count: usize) -> Vec<domain::ReadyPunch> {
    let employees = ["3001", "3002", "3003"];
    (0..count)
        .map(|i| {
            punch(
                first_id + i as i64,
                employees[i % 3],
                PunchType::CheckIn,
                &format!("2026-05-{:02} 07:{:02}:00", 1 + first_id / 1000, i),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn hourly_punches_wait_for_the_run_or_a_sync_now() {
    let stack = Stack::start(1).await;
    let gulf = stack.company_id("gulflog").await;
    stack.ready(gulf, 10, gulf_punches(1, 6)).await;
    stack
        .wait_for(gulf, 6, &["scheduled"], Duration::from_secs(10))
        .await;
    stack.scheduler_round_passes().await;
    assert!(stack.ledger(GULF_KEY).is_empty());

    let (status, _) = stack.post("/v1/imports/10/sync-now", Role::Viewer).await;
    assert_eq!(status, 403);
    let (status, queued) = stack.post("/v1/imports/10/sync-now", Role::Operator).await;
    assert_eq!((status, queued["queued"].as_u64()), (202, Some(6)));
    stack
        .wait_for(gulf, 6, &["delivered"], Duration::from_secs(10))
        .await;

    // The next punches wait for the top of the hour, which the clock is moved past.
    stack.ready(gulf, 11, gulf_punches(1001, 4)).await;
    stack
        .wait_for(
            gulf,
            10,
            &["delivered", "scheduled"],
            Duration::from_secs(10),
        )
        .await;
    stack.scheduler_round_passes().await;
    assert_eq!(stack.ledger(GULF_KEY).len(), 6);
    stack.clock.advance(Duration::from_secs(3600));
    stack
        .wait_for(gulf, 10, &["delivered"], Duration::from_secs(10))
        .await;
    assert_exactly_once(&stack.ledger(GULF_KEY), 10);

    let (status, queued) = stack
        .post("/v1/companies/gulflog/sync-now", Role::Operator)
        .await;
    assert_eq!((status, queued["queued"].as_u64()), (202, Some(0)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disabled_company_holds_until_enabled_and_cancelled_imports_never_go() {
    let stack = Stack::start(1).await;
    let dormant = stack.company_id("dormant").await;
    let day = |id: i64, time: &str| punch(id, "4001", PunchType::CheckIn, time);
    stack
        .ready(
            dormant,
            20,
            vec![day(1, "2026-05-01 08:00:00"), day(2, "2026-05-02 08:00:00")],
        )
        .await;
    stack
        .ready(
            dormant,
            21,
            vec![day(3, "2026-05-03 08:00:00"), day(4, "2026-05-04 08:00:00")],
        )
        .await;
    stack
        .wait_for(dormant, 4, &["held"], Duration::from_secs(10))
        .await;
    stack.cancel(dormant, 21).await;
    let cancelled = || async {
        stack
            .states(dormant)
            .await
            .into_iter()
            .filter(|(_, s, _, _)| s == "cancelled")
            .map(|(id, _, _, _)| id)
            .collect::<Vec<i64>>()
    };
    assert!(
        test_support::eventually(Duration::from_secs(10), || async {
            cancelled().await == [3, 4]
        })
        .await
    );
    assert!(stack.ledger(DORMANT_KEY).is_empty());

    stack
        .put_config("dormant", json!({"is_enabled": true}))
        .await;
    stack
        .wait_for(
            dormant,
            4,
            &["delivered", "cancelled"],
            Duration::from_secs(10),
        )
        .await;
    let ledger = stack.ledger(DORMANT_KEY);
    assert_exactly_once(&ledger, 2);
    assert!(ledger
        .iter()
        .all(|e| e.time.starts_with("2026-05-01") || e.time.starts_with("2026-05-02")));
}
