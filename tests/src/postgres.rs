//! Restarting the tests' Postgres for the serial tests, with a guard that leaves it running
//! whatever happens to the test.
//!
//! The server is the one `TEST_POSTGRES_URL` names (default the machine's, on 127.0.0.1:5432).
//! It is stopped and started with `TEST_POSTGRES_CTL` followed by `stop` or `start`, run by
//! `sh -c` (e.g. `pg_ctl -D /tmp/pg/data -l /tmp/pg/log -w` for a private cluster); without it,
//! with `pg_ctlcluster <version> main`, the version being the first cluster `pg_lsclusters`
//! lists.

use std::process::Command;
use std::time::{Duration, Instant};

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
    let command = format!("{} {action}", control_command()?);
    let output = Command::new("sh")
        .args(["-c", &command])
        .output()
        .map_err(|e| format!("{command}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// The `host:port` the tests' Postgres URL names.
fn server_address() -> String {
    let url = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    test_support::upstream_of(&url)
}

fn accepts_connections() -> bool {
    let Ok(mut addresses) = std::net::ToSocketAddrs::to_socket_addrs(&server_address()) else {
        return false;
    };
    addresses.any(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok())
}

fn wait_until(open: bool, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if accepts_connections() == open {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Postgres stopped (fast shutdown: every session is cut off) until [`start`](Self::start) or
/// the guard's drop, which starts it again even when the test failed half-way.
pub struct PostgresStopped {
    started: bool,
}

impl PostgresStopped {
    /// Stops the server and waits until it refuses connections.
    pub fn stop() -> Self {
        let guard = Self { started: false };
        control("stop").unwrap_or_else(|e| panic!("{e}"));
        assert!(
            wait_until(false, Duration::from_secs(30)),
            "Postgres still accepts connections after stop"
        );
        guard
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(mut self) {
        self.started = true;
        ensure_running().unwrap_or_else(|e| panic!("{e}"));
    }
}

impl Drop for PostgresStopped {
    fn drop(&mut self) {
        if !self.started {
            if let Err(e) = ensure_running() {
                eprintln!("Postgres could not be started again: {e}");
            }
        }
    }
}

/// Starts the tests' Postgres unless it accepts connections already, and waits until it does.
pub fn ensure_running() -> Result<(), String> {
    if !accepts_connections() {
        control("start")?;
    }
    if wait_until(true, Duration::from_secs(60)) {
        Ok(())
    } else {
        Err(format!(
            "Postgres does not accept connections on {}",
            server_address()
        ))
    }
}
