//! Waiting for a condition to hold: polled with a deadline, never a fixed sleep.

use std::future::Future;
use std::time::{Duration, Instant};

/// How long a poll waits before looking at the condition again.
const POLL: Duration = Duration::from_millis(100);

async fn poll<T, F, Fut>(timeout: Duration, mut check: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match check().await {
            Ok(value) => return Ok(value),
            Err(last) => last,
        };
        if Instant::now() >= deadline {
            return Err(last);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Polls `check` until it returns `Ok` and returns its value; after `timeout`, panics naming
/// `what` with the last `Err` (what was seen instead).
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    match poll(timeout, check).await {
        Ok(value) => value,
        Err(last) => panic!("{what}: not so after {timeout:?}: {last}"),
    }
}

/// Polls `check` until it returns true or `timeout` passes; returns whether it became true.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    poll(timeout, || {
        let holds = check();
        async move {
            if holds.await {
                Ok(())
            } else {
                Err(String::new())
            }
        }
    })
    .await
    .is_ok()
}
