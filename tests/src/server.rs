//! A shared server (the tests' Postgres or RabbitMQ) that a serial test stops and starts again,
//! with a guard that leaves it running whatever happens to the test.

use std::marker::PhantomData;
use std::process::Command;
use std::time::{Duration, Instant};

/// How to stop and start one kind of server, and where it listens.
pub trait Restartable {
    /// Its name in messages.
    const NAME: &'static str;
    /// How long it may take to accept connections once started.
    const START_TIMEOUT: Duration;
    /// The `host:port` the tests connect to.
    fn address() -> String;
    /// Stops it; connections are cut off.
    fn stop() -> Result<(), String>;
    /// Starts it (when it is down: the guard calls this only then).
    fn start() -> Result<(), String>;
}

/// Runs `command`, with its output as the error when it fails.
pub(crate) fn run(mut command: Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    let output = command.output().map_err(|e| format!("{shown}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{shown}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn accepts_connections(address: &str) -> bool {
    let Ok(mut addresses) = std::net::ToSocketAddrs::to_socket_addrs(address) else {
        return false;
    };
    addresses.any(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok())
}

fn wait_until(address: &str, open: bool, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if accepts_connections(address) == open {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// The server stopped until [`start`](Self::start) or the guard's drop, which starts it again
/// even when the test failed half-way.
pub struct Stopped<S: Restartable> {
    started: bool,
    server: PhantomData<S>,
}

impl<S: Restartable> Stopped<S> {
    /// Stops the server and waits until it refuses connections.
    pub fn stop() -> Self {
        let guard = Self {
            started: false,
            server: PhantomData,
        };
        S::stop().unwrap_or_else(|e| panic!("{e}"));
        assert!(
            wait_until(&S::address(), false, Duration::from_secs(30)),
            "{} still accepts connections after being stopped",
            S::NAME
        );
        guard
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(mut self) {
        self.started = true;
        ensure_running::<S>().unwrap_or_else(|e| panic!("{e}"));
    }
}

impl<S: Restartable> Drop for Stopped<S> {
    fn drop(&mut self) {
        if !self.started {
            if let Err(e) = ensure_running::<S>() {
                eprintln!("{} could not be started again: {e}", S::NAME);
            }
        }
    }
}

/// Starts the server unless it accepts connections already, and waits until it does.
pub fn ensure_running<S: Restartable>() -> Result<(), String> {
    let address = S::address();
    if !accepts_connections(&address) {
        S::start()?;
    }
    if wait_until(&address, true, S::START_TIMEOUT) {
        Ok(())
    } else {
        Err(format!(
            "{} does not accept connections on {address}",
            S::NAME
        ))
    }
}
