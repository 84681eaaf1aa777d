//! Test support: each test gets its own Postgres database and its own broker names, removed when
//! the test ends, and a TCP proxy to cut a service off from Postgres or RabbitMQ without stopping
//! the shared servers. Tests run in parallel without seeing each other.
//!
//! [`wait_for`] and [`eventually`] poll a condition until a deadline; [`token`] mints tokens as a
//! deployment signs them; [`RecordingListener`] stands in for a host that must receive nothing;
//! [`SmtpSink`] is a real SMTP server (aiosmtpd) whose received mail a test reads;
//! [`webhook_receiver::WebhookReceiver`] records webhooks and answers them as a test says;
//! with the `config-service` feature, `ConfigService` runs config-service in-process with the
//! fixture directory loaded.
//!
//! The servers are the machine's: `TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, any database the test user may create databases
//! from) and `TEST_AMQP_URL` (default `amqp://guest:guest@127.0.0.1:5672/%2f`).

mod broker;
#[cfg(feature = "config-service")]
mod config;
mod database;
mod http;
mod keys;
mod listener;
mod outage;
mod outbox;
mod proxy;
mod smtp;
mod tokens;
mod wait;
pub mod webhook_receiver;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use broker::{QueueNow, TestBroker};
#[cfg(feature = "config-service")]
pub use config::ConfigService;
pub use database::{wait_for_a_lock_wait, TestDb};
pub use http::{client, client_builder, company_id, metric_value, metrics, status_of};
pub use keys::{test_keys, TestKeys};
pub use listener::{read_request, RecordingListener};
pub use outage::{
    assert_database_unavailable, assert_readiness_follows_outages, backends_waiting_on_a_lock,
    the_one_backend_waiting_on_a_lock,
};
pub use outbox::refused_outbox_rows;
pub use proxy::{upstream_of, TcpProxy};
use settings::CommonSettings;
pub use smtp::{ReceivedMail, SmtpSink};
pub use tokens::{admin_token, role_token, token};
pub use wait::{eventually, wait_for};

/// The shared fixtures: reports, `directory.json` and what each report must end as.
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/");

/// A file of [`FIXTURES`].
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(FIXTURES).join(name)
}

/// A database and a broker namespace for one test.
pub struct TestEnv {
    pub db: TestDb,
    pub broker: TestBroker,
}

impl TestEnv {
    pub async fn new() -> Self {
        Self {
            db: TestDb::create().await,
            broker: TestBroker::new(),
        }
    }

    /// Settings for a service under test: this test's database and namespace, a random port.
    pub fn common_settings(&self) -> CommonSettings {
        CommonSettings {
            database_url: self.db.url().to_owned(),
            amqp_url: self.broker.url().to_owned(),
            amqp_namespace: self.broker.namespace().to_owned(),
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            otlp_endpoint: None,
            api_rate_limit_per_second: std::num::NonZeroU32::new(1000).expect("not zero"),
            service_rate_limit_per_second: std::num::NonZeroU32::new(1000).expect("not zero"),
            body_read_timeout: std::time::Duration::from_secs(30),
        }
    }
}

/// A short unique name, safe in database, queue and exchange names.
pub fn unique_name(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_{}", &id[..16])
}

/// A random UUID, as message and batch ids are written.
pub fn random_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Checks that a contract the code generates (an OpenAPI document, a schema) is the one checked
/// in at `path` (relative to the workspace root). With `UPDATE_CONTRACTS` set, writes it instead.
pub fn assert_contract_checked_in(path: &str, generated: &str) {
    let file = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join(path);
    if std::env::var_os("UPDATE_CONTRACTS").is_some() {
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).expect("create the contract's folder");
        }
        std::fs::write(&file, generated).expect("write the contract");
        return;
    }
    let checked_in = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{path} differs from the code; regenerate it with `UPDATE_CONTRACTS=1 cargo test` and commit it"
    );
}
