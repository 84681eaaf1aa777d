//! Black-box tests of the whole system. [`System`] runs bayzat-sim, config-service,
//! import-service and sync-service (the binaries in `target/debug`) as child processes against
//! one test's own database and broker namespace, loads the fixture directory the way an operator
//! does, mints tokens as the IT portal does, can kill -9 and restart any of them, and kills them
//! all when dropped. [`fixtures`] says what Bayzat must end up holding for each fixture report;
//! [`guide`] runs the shell examples of a markdown guide and compares their output with the
//! responses it documents; [`rabbitmq`] and [`postgres`] restart the broker and the database for
//! the serial tests; [`collector`]
//! receives the traces the services export.

pub mod collector;
pub mod fixtures;
pub mod guide;
pub mod postgres;
mod process;
pub mod rabbitmq;
pub mod server;
mod system;

use std::future::Future;
use std::time::{Duration, Instant};

pub use auth::Role;
pub use process::binary;
pub use system::{delivery_punch, Reply, Service, System, SystemBuilder, JWT_SECRET};

/// Polls `check` until it returns `Ok`, and panics with its last `Err` after `timeout`.
pub async fn wait_for<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match check().await {
            Ok(()) => return,
            Err(last) => last,
        };
        if Instant::now() > deadline {
            panic!("{what}: not so after {timeout:?}: {last}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
