//! Stopping sync-service: SIGTERM lets the Bayzat call in flight finish and its answer be written
//! before the process exits; a second SIGTERM ends it at once; settings under which a call could
//! outlive the sender's lease are refused at start.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bayzat_sim::Faults;
use common::*;
use test_support::eventually;

/// Bayzat stores each request's punches at once and answers `latency_ms` later; a sync-service
/// process (calls may take 7 s, its lease lasts 10 s) is in the middle of its first request.
/// Returns the process and its base URL.
async fn mid_call(stack: &Stack, latency_ms: u64) -> (Process, String) {
    stack.advline_faults(Faults {
        latency_ms,
        ..Faults::default()
    });
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let process = Process::start_with(
        stack,
        &[
            ("BAYZAT_HTTP_TIMEOUT", "7"),
            ("SYNC_LEASE_TTL", "10"),
            (sync_service::BIND_VARIABLE, &bind),
        ],
    );
    let advline = stack.company_id("advline").await;
    stack.ready(advline, 1, punches(1, 20)).await;
    assert!(
        eventually(Duration::from_secs(30), || async {
            stack.ledger(ADVLINE_KEY).len() == 20
        })
        .await,
        "the request reaches Bayzat"
    );
    (process, format!("http://{bind}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_call_waits_for_the_answer_writes_it_and_exits() {
    let stack = Stack::start(0).await;
    let advline = stack.company_id("advline").await;
    let (mut process, _) = mid_call(&stack, 5000).await;
    let terminated = Instant::now();
    process.terminate();
    let status = process
        .exited_within(Duration::from_secs(15))
        .await
        .expect("exits once the call is answered");
    assert!(status.success(), "{status:?}");
    // It waited for Bayzat's answer (due about 5 s after the request), and wrote it.
    assert!(
        terminated.elapsed() >= Duration::from_secs(3),
        "exited after {:?}, before the answer",
        terminated.elapsed()
    );
    let states = stack.states(advline).await;
    assert!(
        states.len() == 20 && states.iter().all(|(_, s, _, _)| s == "delivered"),
        "{states:?}"
    );
    assert_eq!(
        stack.requests(advline).await.len(),
        1,
        "the answer is logged"
    );
    // It gave its lease up: another replica need not wait for it to expire.
    assert_eq!(
        stack.lease(advline).await.map(|(_, live)| live),
        Some(false)
    );
    assert_exactly_once(&stack.ledger(ADVLINE_KEY), 20);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_sigterm_stops_at_once() {
    let stack = Stack::start(0).await;
    let advline = stack.company_id("advline").await;
    let (mut process, base) = mid_call(&stack, 6000).await;
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    assert_eq!(
        test_support::status_of(&fresh, &base, "/healthz").await,
        200
    );
    process.terminate();
    // The first SIGTERM is taken in once the listener is closed; the call in flight goes on.
    assert!(
        eventually(Duration::from_secs(5), || async {
            test_support::status_of(&fresh, &base, "/healthz").await == 0
        })
        .await,
        "the listener closes at the first SIGTERM"
    );
    assert!(process.0.try_wait().unwrap().is_none(), "still finishing");
    let second = Instant::now();
    process.terminate();
    process
        .exited_within(Duration::from_secs(2))
        .await
        .expect("the second SIGTERM ends it at once");
    assert!(second.elapsed() < Duration::from_secs(2));
    // Cut off like a crash: the request in flight stays `sending`, resent by the next sender.
    let states = stack.states(advline).await;
    assert_eq!(
        states.iter().filter(|(_, s, _, _)| s == "sending").count(),
        20,
        "{states:?}"
    );
}

#[test]
fn a_call_that_could_outlive_the_lease_is_refused_at_start() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sync-service"))
        .env_clear()
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("AMQP_URL", "amqp://nobody@127.0.0.1:1/%2f")
        .env("CONFIG_SERVICE_URL", "http://127.0.0.1:1")
        .env("CONFIG_SERVICE_INTERNAL_URL", "http://127.0.0.1:1")
        .envs(test_support::test_keys().env(Some(auth::Signer::SyncService)))
        .env(sync_service::BIND_VARIABLE, "127.0.0.1:0")
        .env("BAYZAT_HTTP_TIMEOUT", "10")
        .env("SYNC_LEASE_TTL", "3")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("started with a call longer than its lease");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("BAYZAT_HTTP_TIMEOUT") && lines[0].contains("SYNC_LEASE_TTL"),
        "{stderr}"
    );
}
