//! Helpers shared by the integration tests; not every test file uses all of them.
#![allow(dead_code)]

use bayzat_sim::{spawn, KeySpec, LedgerEntry, RunningSim, SimConfig, Stats};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};

pub const KEY: &str = "bz_test_key";

pub async fn start(keys: Vec<KeySpec>) -> RunningSim {
    spawn("127.0.0.1:0", SimConfig { keys })
        .await
        .expect("the simulator starts")
}

/// A key knowing employees "1" to "5" with no rate limit, so tests are not slowed by it.
pub fn fast_key() -> KeySpec {
    KeySpec::new(KEY, ["1", "2", "3", "4", "5"]).with_interval_ms(0)
}

pub fn rec(emp: &str, kind: &str, time: &str) -> Value {
    json!({"empId": emp, "type": kind, "time": time})
}

pub fn records(recs: Vec<Value>) -> Value {
    json!({ "records": recs })
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

pub async fn post_raw(url: &str, key: Option<&str>, body: Vec<u8>) -> Answer {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    let resp = req.send().await.expect("request sent");
    Answer {
        status: resp.status(),
        headers: resp.headers().clone(),
        text: resp.text().await.expect("body read"),
    }
}

pub async fn post(sim: &RunningSim, key: Option<&str>, body: &Value) -> Answer {
    post_raw(
        &sim.attendance_url(),
        key,
        serde_json::to_vec(body).unwrap(),
    )
    .await
}

pub async fn admin_get(sim: &RunningSim, path: &str) -> (StatusCode, Value) {
    let resp = reqwest::get(format!("{}/__admin{path}", sim.base_url()))
        .await
        .expect("admin request");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

pub async fn admin_put(sim: &RunningSim, path: &str, body: &Value) -> (StatusCode, Value) {
    let resp = reqwest::Client::new()
        .put(format!("{}/__admin{path}", sim.base_url()))
        .json(body)
        .send()
        .await
        .expect("admin request");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

pub async fn ledger(sim: &RunningSim, key: &str) -> Vec<LedgerEntry> {
    let (status, body) = admin_get(sim, &format!("/keys/{key}/ledger")).await;
    assert_eq!(status, StatusCode::OK);
    serde_json::from_value(body).expect("ledger entries")
}

pub async fn stats(sim: &RunningSim) -> Stats {
    let (status, body) = admin_get(sim, "/stats").await;
    assert_eq!(status, StatusCode::OK);
    serde_json::from_value(body).expect("stats")
}

pub async fn admin_post(sim: &RunningSim, path: &str, body: &Value) -> (StatusCode, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/__admin{path}", sim.base_url()))
        .json(body)
        .send()
        .await
        .expect("admin request");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

pub async fn duplicates(sim: &RunningSim, key: &str) -> Vec<bayzat_sim::DuplicateEntry> {
    let (status, body) = admin_get(sim, &format!("/keys/{key}/duplicates")).await;
    assert_eq!(status, StatusCode::OK);
    serde_json::from_value(body).expect("duplicate entries")
}
