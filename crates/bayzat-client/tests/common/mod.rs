//! Shared by the integration tests: a simulator per test, records, a port nobody listens on.

#![allow(dead_code)]

use std::time::Duration;

use bayzat_client::{default_duplicate_pattern, BayzatClient};
use bayzat_sim::{KeySpec, RunningSim, SimConfig};
use domain::{BayzatEmpId, BayzatRecord, PunchType};

pub const KEY: &str = "key-3f9a1c7e";
pub const EMPLOYEES: [&str; 2] = ["1001", "1002"];

/// A simulator on a free port with one key that knows [`EMPLOYEES`].
pub async fn sim(interval_ms: u64) -> RunningSim {
    bayzat_sim::spawn(
        "127.0.0.1:0",
        SimConfig {
            keys: vec![KeySpec::new(KEY, EMPLOYEES).with_interval_ms(interval_ms)],
        },
    )
    .await
    .expect("the simulator starts")
}

pub fn client() -> BayzatClient {
    client_with_timeout(Duration::from_secs(5))
}

pub fn client_with_timeout(timeout: Duration) -> BayzatClient {
    BayzatClient::new(timeout, default_duplicate_pattern())
}

pub fn record(emp_id: &str, punch_type: PunchType, time: &str) -> BayzatRecord {
    BayzatRecord {
        emp_id: BayzatEmpId::new(emp_id).unwrap(),
        punch_type,
        time: time.parse().unwrap(),
    }
}

/// An attendance URL on a port that was free a moment ago and has nobody listening now.
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/attendance")
}
