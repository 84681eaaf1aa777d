//! Restarting the tests' Postgres for the serial tests, with a guard that leaves it running
//! whatever happens to the test.
//!
//! The server is the one `TEST_POSTGRES_URL` names (default the machine's, on 127.0.0.1:5432).
//! It is stopped and started with `TEST_POSTGRES_CTL` followed by `stop` or `start`, run by
//! `sh -c` (e.g. `pg_ctl -D /tmp/pg/data -l /tmp/pg/log -w` for a private cluster); without it,
//! with `pg_ctlcluster <version> main`, the version being the first cluster `pg_lsclusters`
//! lists.

use std::process::Command;
use std::time::Duration;

use crate::server::{run, Restartable, Stopped};

/// The tests' Postgres.
pub struct Postgres;

/// Postgres stopped (fast shutdown: every session is cut off) until `start` or the guard's drop.
pub type PostgresStopped = Stopped<Postgres>;

impl Restartable for Postgres {
    const NAME: &'static str = "Postgres";
    const START_TIMEOUT: Duration = Duration::from_secs(60);

    fn address() -> String {
        let url = std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        test_support::upstream_of(&url)
    }

    fn stop() -> Result<(), String> {
        control("stop")
    }

    fn start() -> Result<(), String> {
        control("start")
    }
}

/// The command that stops or starts the tests' Postgres, without its last word.
fn control_command() -> Result<String, String> {
    if let Ok(command) = std::env::var("TEST_POSTGRES_CTL") {
        return Ok(command);
    }
    let output = Command::new("pg_lsclusters")
        .arg("--no-header")
        .output()
        .map_err(|e| format!("pg_lsclusters: {e}"))?;
    let listing = String::from_utf8_lossy(&output.stdout);
    let mut first = listing
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace();
    match (first.next(), first.next()) {
        (Some(version), Some(cluster)) => Ok(format!("pg_ctlcluster {version} {cluster}")),
        _ => Err(format!("pg_lsclusters lists no cluster: {listing}")),
    }
}

fn control(action: &str) -> Result<(), String> {
    let mut command = Command::new("sh");
    command.args(["-c", &format!("{} {action}", control_command()?)]);
    run(command)
}
