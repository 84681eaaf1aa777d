//! Shared by the probe's tests: a simulator per test and probe options paced for it.
#![allow(dead_code)]

use std::time::Duration;

use bayzat_probe::{Assumptions, ProbeOptions};
use bayzat_sim::{Contract, KeySpec, RunningSim, SimConfig};
use domain::{BayzatEmpId, LocalPunchTime};
use regex::Regex;

pub const KEY: &str = "probe-sandbox-key-5c1e";
pub const OTHER: &str = "probe-other-company-key-9d2a";
pub const EMP: &str = "1001";
pub const TIME: &str = "2026-03-01 08:00:00";
/// The simulated window: short so a probe run takes a few seconds, long enough that two
/// requests sent back to back always fall inside it.
pub const WINDOW_MS: u64 = 300;
/// Wide enough for a loaded machine's jitter between the probe and the simulator, which would
/// otherwise make a request at the pace arrive inside the window.
pub const MARGIN_MS: u64 = 150;

pub fn key(name: &str) -> KeySpec {
    KeySpec::new(name, [EMP]).with_interval_ms(WINDOW_MS)
}

pub async fn sim(keys: Vec<KeySpec>) -> RunningSim {
    bayzat_sim::spawn("127.0.0.1:0", SimConfig { keys })
        .await
        .expect("the simulator starts")
}

/// A simulator with [`KEY`] (and [`OTHER`]) answering as `contract` says.
pub async fn sim_answering(contract: Contract) -> RunningSim {
    let sim = sim(vec![key(KEY), key(OTHER)]).await;
    assert!(sim.set_contract(KEY, contract.clone()));
    assert!(sim.set_contract(OTHER, contract));
    sim
}

/// sync-service's configuration scaled to [`WINDOW_MS`], with the default duplicate pattern.
pub fn assumptions() -> Assumptions {
    Assumptions {
        rate_limit_delay: Duration::from_millis(WINDOW_MS),
        rate_limit_margin: Duration::from_millis(MARGIN_MS),
        http_timeout: Duration::from_secs(5),
        ..Assumptions::default()
    }
}

/// The probe of [`KEY`] with an employee and a second key.
pub fn options(sim: &RunningSim) -> ProbeOptions {
    let mut o = ProbeOptions::new(sim.attendance_url(), KEY);
    o.second_key = Some(OTHER.to_owned());
    o.employee = Some(BayzatEmpId::new(EMP).unwrap());
    o.time = time(TIME);
    o.assumptions = assumptions();
    o
}

pub fn time(text: &str) -> LocalPunchTime {
    text.parse().unwrap()
}

pub fn pattern(text: &str) -> Regex {
    Regex::new(text).unwrap()
}
