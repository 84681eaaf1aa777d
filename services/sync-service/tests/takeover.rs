//! A sender that vanishes: the process killed between a request Bayzat took and the commit of its
//! answer, a replica cut off from the broker in the middle of a drain, and a sender whose lease
//! was taken over while its call was in flight.

mod common;

use std::time::Duration;

use bayzat_sim::Faults;
use common::*;
use test_support::{eventually, upstream_of, TcpProxy};

fn count(states: &[(i64, String, i32, Option<String>)], state: &str) -> usize {
    states.iter().filter(|(_, s, _, _)| s == state).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sender_killed_between_send_and_commit_loses_and_doubles_nothing() {
    let stack = Stack::start(0).await;
    let advline = stack.company_id("advline").await;
    // Bayzat stores each request's punches, then answers 3 s later: the window to die in.
    stack.advline_faults(Faults {
        latency_ms: 3000,
        ..Faults::default()
    });
    let mut first = Process::start(&stack);
    stack.ready(advline, 1, punches(1, 50)).await;
    assert!(
        eventually(Duration::from_secs(30), || async {
            !stack.ledger(ADVLINE_KEY).is_empty()
        })
        .await,
        "the first request reaches Bayzat"
    );
    first.kill_9();
    let states = stack.states(advline).await;
    assert_eq!(count(&states, "delivered"), 0, "killed before any commit");
    assert_eq!(count(&states, "sending"), 20, "the request in flight");
    assert_eq!(stack.ledger(ADVLINE_KEY).len(), 20, "Bayzat holds it");

    stack.advline_faults(Faults::default());
    let _second = Process::start(&stack);
    stack
        .wait_for(advline, 50, &["delivered"], Duration::from_secs(60))
        .await;
    assert_exactly_once(&stack.ledger(ADVLINE_KEY), 50);
    // The punches left in `sending` were sent again and refused as duplicates.
    let stats = stack.key_stats(ADVLINE_KEY);
    assert!(
        stats.bad_requests_by_reason.get("duplicate").copied() > Some(0),
        "{stats:?}"
    );
    assert!(stats.min_gap_ms.unwrap_or(u64::MAX) >= INTERVAL_MS);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_cut_off_from_the_broker_stops_and_the_other_waits_for_the_lease() {
    let mut stack = Stack::start(0).await;
    let advline = stack.company_id("advline").await;
    let proxy = TcpProxy::start(&upstream_of(stack.env.broker.url())).await;
    let broker_url = proxy.url_for(stack.env.broker.url());
    stack
        .add_replica_with(|settings| settings.common.amqp_url = broker_url)
        .await;
    stack.ready(advline, 1, punches(1, 200)).await;
    assert!(
        eventually(Duration::from_secs(30), || async {
            count(&stack.states(advline).await, "delivered") >= 40
        })
        .await
    );
    // The second replica waits as the queue's next consumer; then the first loses the broker.
    stack.add_replica().await;
    proxy.cut();
    let cut_at = chrono::Utc::now();
    assert!(
        count(&stack.states(advline).await, "delivered") < 200,
        "cut before the end of the run"
    );
    stack
        .wait_for(advline, 200, &["delivered"], Duration::from_secs(60))
        .await;
    assert_exactly_once(&stack.ledger(ADVLINE_KEY), 200);

    let requests = stack.requests(advline).await;
    let first: Vec<_> = requests
        .iter()
        .filter(|r| r.holder == "replica-0")
        .collect();
    let second: Vec<_> = requests
        .iter()
        .filter(|r| r.holder == "replica-1")
        .collect();
    assert!(!second.is_empty(), "the other replica finished the run");
    // The cut replica sent at most the request it was already making.
    let late = first.iter().filter(|r| r.started_at > cut_at).count();
    assert!(late <= 1, "{late} requests after the cut: {requests:?}");
    // Never both at once: the other replica started only after the last request of the first
    // had been answered (its lease held until then).
    let last = first.last().unwrap();
    let answered = last.started_at + chrono::TimeDelta::milliseconds(last.latency_ms.into());
    assert!(
        second[0].started_at >= answered,
        "overlap: {last:?} then {:?}",
        second[0]
    );
    let stats = stack.key_stats(ADVLINE_KEY);
    assert!(
        stats.min_gap_ms.unwrap_or(u64::MAX) >= INTERVAL_MS,
        "{stats:?}"
    );
    assert!(stats.rate_limited * 10 <= stats.requests, "{stats:?}");
}

/// Runs one statement against the test's database.
async fn execute(stack: &Stack, sql: &str, company_id: i64) {
    use diesel_async::{AsyncConnection, RunQueryDsl};
    let mut conn = diesel_async::AsyncPgConnection::establish(stack.env.db.url())
        .await
        .unwrap();
    diesel::sql_query(sql)
        .bind::<diesel::sql_types::BigInt, _>(company_id)
        .execute(&mut conn)
        .await
        .unwrap();
}

/// Bayzat calls the replica has had answered with `status`, from its metrics.
async fn answered(stack: &Stack, status: &str) -> u64 {
    let text = test_support::metrics(&stack.client, &stack.base()).await;
    text.lines()
        .filter(|line| {
            line.starts_with("bridge_bayzat_calls_total")
                && line.contains(&format!("status=\"{status}\""))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sender_whose_lease_was_taken_over_mid_call_writes_nothing() {
    let stack = Stack::start(1).await;
    let advline = stack.company_id("advline").await;
    // Bayzat stores the punches at once and answers 1.5 s later.
    stack.advline_faults(Faults {
        latency_ms: 1500,
        ..Faults::default()
    });
    stack.ready(advline, 1, punches(1, 20)).await;
    assert!(
        eventually(Duration::from_secs(20), || async {
            stack.ledger(ADVLINE_KEY).len() == 20
        })
        .await,
        "the request reaches Bayzat"
    );
    // Meanwhile another replica takes the company over (its lease, a new epoch).
    execute(
        &stack,
        "UPDATE sync.sender_leases SET holder = 'another-replica', epoch = epoch + 1, \
         expires_at = now() + interval '1 hour' WHERE company_id = $1",
        advline,
    )
    .await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            answered(&stack, "200").await >= 1
        })
        .await,
        "Bayzat answers the stale sender"
    );
    // The stale sender writes nothing of its answer, and sends nothing more, by the time the
    // scheduler has gone round again.
    stack.scheduler_round_passes().await;
    let states = stack.states(advline).await;
    assert_eq!(count(&states, "sending"), 20, "{states:?}");
    assert!(
        stack.requests(advline).await.is_empty(),
        "no request logged"
    );
    assert_eq!(stack.key_stats(ADVLINE_KEY).requests, 1);
    assert_eq!(
        stack.lease_holder(advline).await,
        None,
        "the other replica still holds the lease"
    );

    // The other replica vanishes: its lease lapses, and the company's sender resends what was
    // left `sending`; Bayzat refuses the repeats as duplicates.
    stack.advline_faults(Faults::default());
    execute(
        &stack,
        "UPDATE sync.sender_leases SET expires_at = now() - interval '1 second' \
         WHERE company_id = $1",
        advline,
    )
    .await;
    stack
        .wait_for(advline, 20, &["delivered"], Duration::from_secs(30))
        .await;
    assert_exactly_once(&stack.ledger(ADVLINE_KEY), 20);
}
