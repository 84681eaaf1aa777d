//! A sender that vanishes: the process killed between a request Bayzat took and the commit of its
//! answer, and a replica cut off from the broker in the middle of a drain.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bayzat_sim::Faults;
use common::*;
use test_support::{eventually, upstream_of, TcpProxy};

/// sync-service as a child process against the stack, paced and leased like the in-process
/// replicas; killed if the test ends early.
struct Process(Child);

impl Process {
    fn start(stack: &Stack) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_sync-service"))
            .env_clear()
            .env("DATABASE_URL", stack.env.db.url())
            .env("AMQP_URL", stack.env.broker.url())
            .env("AMQP_NAMESPACE", stack.env.broker.namespace())
            .env(sync_service::BIND_VARIABLE, "127.0.0.1:0")
            .env("CONFIG_SERVICE_URL", &stack.config_base)
            .env("BRIDGE_JWT_SECRET", JWT_SECRET)
            .env(
                "BAYZAT_RATE_LIMIT_DELAY",
                format!("{}", INTERVAL_MS as f64 / 1000.0),
            )
            .env("BAYZAT_RATE_LIMIT_MARGIN_MS", "50")
            .env("BAYZAT_RETRY_SCHEDULE", "1s,1s,1s,1s,1s")
            .env("SYNC_LEASE_TTL", "3")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Self(child)
    }

    /// SIGKILL: nothing of the process runs after it, no commit and no lease release.
    fn kill_9(&mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn count(states: &[(i64, String, i32, Option<String>)], state: &str) -> usize {
    states.iter().filter(|(_, s, _, _)| s == state).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sender_killed_between_send_and_commit_loses_and_doubles_nothing() {
    let stack = Stack::start(0).await;
    let advline = stack.company_id("advline").await;
    // Bayzat stores each request's punches, then answers 3 s later: the window to die in.
    stack
        .sim
        .set_faults(
            ADVLINE_KEY,
            Faults {
                latency_ms: 3000,
                ..Faults::default()
            },
        )
        .unwrap();
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

    stack
        .sim
        .set_faults(ADVLINE_KEY, Faults::default())
        .unwrap();
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
