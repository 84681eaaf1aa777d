//! Replicas share the companies: a replica that joins takes the companies it is preferred for
//! from the one that was consuming every queue, and each company is sent by its preferred replica.

mod common;

use std::time::Duration;

use common::*;
use domain::PunchType;
use test_support::{metric_value, wait_for};

const CLARA_KEY: &str = "bz_test_clara_51e2d0";
const CLARA_EMPLOYEES: [&str; 4] = ["2001", "2002", "2003", "2004"];

fn clara_punches(first_id: i64, count: usize) -> Vec<domain::ReadyPunch> {
    (0..count)
        .map(|i| {
            punch(
                first_id + i as i64,
                CLARA_EMPLOYEES[i % CLARA_EMPLOYEES.len()],
                if i % 2 == 0 {
                    PunchType::CheckIn
                } else {
                    PunchType::CheckOut
                },
                &format!("2026-05-02 {:02}:{:02}:00", 6 + i / 60, i % 60),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_that_joins_takes_the_companies_it_is_preferred_for() {
    let mut stack = Stack::start(1).await;
    let advline = stack.company_id("advline").await;
    let clara = stack.company_id("clarastars").await;
    // A name for the second replica that is preferred for advline but not for clarastars: the
    // first replica, alone until then, consumes both queues, so advline must move and clarastars
    // must stay.
    let first = "replica-0".to_owned();
    let second = (0..10_000)
        .map(|n| format!("replica-1-{n}"))
        .find(|name| {
            let both = [first.clone(), name.clone()];
            delivery::preferred_replica(advline, &both) == Some(name.as_str())
                && delivery::preferred_replica(clara, &both) == Some(first.as_str())
        })
        .expect("some name splits the two companies");
    let named = second.clone();
    stack
        .add_replica_with(move |settings| settings.replica_id = named)
        .await;
    // The first replica has seen the second (and left advline's queue to it) once its metrics
    // say two replicas share the companies.
    let base = stack.base();
    wait_for(
        Duration::from_secs(30),
        "the first replica sees two replicas",
        || async {
            let metrics = test_support::metrics(&stack.client, &base).await;
            let seen = metric_value(&metrics, "bridge_sync_replicas", &[]);
            (seen == Some(2.0)).then_some(()).ok_or(format!("{seen:?}"))
        },
    )
    .await;

    stack.ready(advline, 1, punches(1, 40)).await;
    stack.ready(clara, 2, clara_punches(5001, 40)).await;
    stack
        .wait_for(advline, 40, &["delivered"], Duration::from_secs(30))
        .await;
    stack
        .wait_for(clara, 40, &["delivered"], Duration::from_secs(30))
        .await;
    assert_exactly_once(&stack.ledger(ADVLINE_KEY), 40);
    assert_exactly_once(&stack.ledger(CLARA_KEY), 40);
    let holders = |requests: Vec<Request>| {
        requests
            .into_iter()
            .map(|r| r.holder)
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(
        holders(stack.requests(advline).await),
        [second.clone()].into(),
        "advline is sent by the replica preferred for it"
    );
    assert_eq!(
        holders(stack.requests(clara).await),
        [first].into(),
        "clarastars stays with the first replica"
    );
}
