//! Restarting the machine's RabbitMQ for the serial tests, with a guard that leaves it running
//! whatever happens to the test.
//!
//! `rabbitmqctl` talks to the node named by `TEST_RABBITMQ_NODE` when set (e.g. a private node
//! that `TEST_AMQP_URL` points at), else to its default node.

use std::process::Command;
use std::time::Duration;

use crate::server::{run, Restartable, Stopped};

/// The tests' RabbitMQ.
pub struct RabbitMq;

/// RabbitMQ stopped (its application; the Erlang node stays up) until `start` or the guard's
/// drop.
pub type RabbitMqStopped = Stopped<RabbitMq>;

impl Restartable for RabbitMq {
    const NAME: &'static str = "RabbitMQ";
    const START_TIMEOUT: Duration = Duration::from_secs(90);

    fn address() -> String {
        let url = std::env::var("TEST_AMQP_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
        test_support::upstream_of(&url)
    }

    fn stop() -> Result<(), String> {
        rabbitmqctl(&["stop_app"])
    }

    /// Starts the application; when the node itself is down (and it is the machine's default
    /// node), starts it with `rabbitmq-server -detached`.
    fn start() -> Result<(), String> {
        if rabbitmqctl(&["start_app"]).is_err() && std::env::var("TEST_RABBITMQ_NODE").is_err() {
            let _ = Command::new("rabbitmq-server").arg("-detached").status();
        }
        Ok(())
    }
}

fn rabbitmqctl(args: &[&str]) -> Result<(), String> {
    let mut command = Command::new("rabbitmqctl");
    if let Ok(node) = std::env::var("TEST_RABBITMQ_NODE") {
        command.args(["-n", &node]);
    }
    command.args(args);
    run(command)
}
