//! Restarting the machine's RabbitMQ for the serial tests, with a guard that leaves it running
//! whatever happens to the test.
//!
//! `rabbitmqctl` talks to the node named by `TEST_RABBITMQ_NODE` when set (e.g. a private node
//! that `TEST_AMQP_URL` points at), else to its default node.

use std::process::Command;
use std::time::{Duration, Instant};

fn rabbitmqctl(args: &[&str]) -> Result<(), String> {
    let mut command = Command::new("rabbitmqctl");
    if let Ok(node) = std::env::var("TEST_RABBITMQ_NODE") {
        command.args(["-n", &node]);
    }
    let output = command
        .args(args)
        .output()
        .map_err(|e| format!("rabbitmqctl: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "rabbitmqctl {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// The `host:port` the tests' broker URL names.
fn broker_address() -> String {
    let url = std::env::var("TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    test_support::upstream_of(&url)
}

fn accepts_connections() -> bool {
    let Ok(mut addresses) = std::net::ToSocketAddrs::to_socket_addrs(&broker_address()) else {
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

/// RabbitMQ stopped (its application; the Erlang node stays up) until [`start`](Self::start)
/// or the guard's drop, which starts it again even when the test failed half-way.
pub struct RabbitMqStopped {
    started: bool,
}

impl RabbitMqStopped {
    /// `rabbitmqctl stop_app`, and waits until the broker refuses connections.
    pub fn stop() -> Self {
        let guard = Self { started: false };
        rabbitmqctl(&["stop_app"]).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            wait_until(false, Duration::from_secs(30)),
            "RabbitMQ still accepts connections after stop_app"
        );
        guard
    }

    /// `rabbitmqctl start_app`, and waits until the broker accepts connections.
    pub fn start(mut self) {
        self.started = true;
        ensure_running().unwrap_or_else(|e| panic!("{e}"));
    }
}

impl Drop for RabbitMqStopped {
    fn drop(&mut self) {
        if !self.started {
            if let Err(e) = ensure_running() {
                eprintln!("RabbitMQ could not be started again: {e}");
            }
        }
    }
}

/// Starts the RabbitMQ application (a no-op when it runs); when the node itself is down, starts
/// it with `rabbitmq-server -detached`.
pub fn ensure_running() -> Result<(), String> {
    if rabbitmqctl(&["start_app"]).is_err() && std::env::var("TEST_RABBITMQ_NODE").is_err() {
        let _ = Command::new("rabbitmq-server").arg("-detached").status();
    }
    if wait_until(true, Duration::from_secs(90)) {
        Ok(())
    } else {
        Err(format!(
            "RabbitMQ does not accept connections on {}",
            broker_address()
        ))
    }
}
