//! Per-key contract variations: the answers the real service might give where bayzat-api.md
//! marks its behaviour UNKNOWN.

mod common;

use bayzat_sim::{Contract, EmptyRecords, KeySpec, RunningSim};
use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn set_contract(sim: &RunningSim, key: &str, contract: Value) {
    let (status, body) = admin_put(sim, &format!("/keys/{key}/contract"), &contract).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

fn empty() -> Value {
    records(vec![])
}

#[tokio::test]
async fn the_default_contract_is_the_documented_one() {
    let sim = start(vec![fast_key()]).await;
    let (status, body) = admin_get(&sim, &format!("/keys/{KEY}/contract")).await;
    assert_eq!(status, StatusCode::OK);
    let contract: Contract = serde_json::from_value(body).unwrap();
    assert_eq!(contract, Contract::default());
    assert_eq!(contract.empty_records, EmptyRecords::Accept);

    let (status, _) = admin_get(&sim, "/keys/nobody/contract").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = admin_put(&sim, "/keys/nobody/contract", &json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A misspelt field must not silently leave the default in place.
    let (status, _) = admin_put(
        &sim,
        &format!("/keys/{KEY}/contract"),
        &json!({"empty": "refuse"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    sim.stop().await;
}

#[tokio::test]
async fn an_empty_request_can_be_refused_or_fail() {
    let sim = start(vec![fast_key()]).await;
    set_contract(&sim, KEY, json!({"empty_records": "refuse"})).await;
    let a = post(&sim, Some(KEY), &empty()).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.json()["reason"], "malformed");

    set_contract(&sim, KEY, json!({"empty_records": "server_error"})).await;
    let a = post(&sim, Some(KEY), &empty()).await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);

    // A wrong key is still refused first.
    let a = post(&sim, Some("wrong"), &empty()).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let s = &stats(&sim).await.keys[KEY];
    assert_eq!((s.requests, s.server_errors), (2, 1));
    assert_eq!(s.bad_requests_by_reason["malformed"], 1);
    sim.stop().await;
}

#[tokio::test]
async fn duplicates_can_be_worded_otherwise_without_a_reason() {
    let sim = start(vec![fast_key()]).await;
    set_contract(
        &sim,
        KEY,
        json!({"no_reason": true, "duplicate_message": "Record exists for {empId} on {time}"}),
    )
    .await;
    let punch = records(vec![rec("1", "checkIn", "2023-04-30 09:00:00")]);
    assert_eq!(post(&sim, Some(KEY), &punch).await.status, StatusCode::OK);
    let a = post(&sim, Some(KEY), &punch).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let v = a.json();
    assert_eq!(v["message"], "Record exists for 1 on 2023-04-30 09:00:00");
    assert!(v.get("reason").is_none(), "{v}");
    // Every other refusal loses its reason too.
    let a = post(
        &sim,
        Some(KEY),
        &records(vec![rec("9", "checkIn", "2023-04-30 09:00:00")]),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.json().get("reason").is_none());
    assert_eq!(ledger(&sim, KEY).await.len(), 1);
    let s = &stats(&sim).await.keys[KEY];
    assert_eq!(s.bad_requests_by_reason["duplicate"], 1);
    assert_eq!(s.bad_requests_by_reason["unknown_employee"], 1);
    sim.stop().await;
}

#[tokio::test]
async fn duplicates_can_be_accepted() {
    let sim = start(vec![fast_key()]).await;
    set_contract(&sim, KEY, json!({"accept_duplicates": true})).await;
    let punch = records(vec![rec("1", "checkIn", "2023-04-30 09:00:00")]);
    assert_eq!(post(&sim, Some(KEY), &punch).await.status, StatusCode::OK);
    assert_eq!(post(&sim, Some(KEY), &punch).await.status, StatusCode::OK);
    let twice = records(vec![
        rec("2", "checkIn", "2023-04-30 09:00:00"),
        rec("2", "checkOut", "2023-04-30 09:00:00"),
    ]);
    assert_eq!(post(&sim, Some(KEY), &twice).await.status, StatusCode::OK);
    assert_eq!(ledger(&sim, KEY).await.len(), 4);
    sim.stop().await;
}

#[tokio::test]
async fn a_429_can_come_with_fewer_headers() {
    let slow = KeySpec::new(KEY, ["1"]).with_interval_ms(60_000);
    let sim = start(vec![slow]).await;
    assert_eq!(post(&sim, Some(KEY), &empty()).await.status, StatusCode::OK);

    set_contract(&sim, KEY, json!({"retry_after": "seconds"})).await;
    let a = post(&sim, Some(KEY), &empty()).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    let seconds: u64 = a.header("retry-after").unwrap().parse().unwrap();
    assert!((59..=60).contains(&seconds), "{seconds}");
    assert_eq!(a.header("retry-after-ms"), None);

    set_contract(&sim, KEY, json!({"retry_after": "none"})).await;
    let a = post(&sim, Some(KEY), &empty()).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.header("retry-after"), None);
    assert_eq!(a.header("retry-after-ms"), None);
    assert_eq!(stats(&sim).await.keys[KEY].rate_limited, 2);
    sim.stop().await;
}

#[tokio::test]
async fn keys_can_share_one_rate_limit() {
    let long = 60_000;
    let sim = start(vec![
        KeySpec::new("a", ["1"]).with_interval_ms(long),
        KeySpec::new("b", ["1"]).with_interval_ms(long),
        KeySpec::new("c", ["1"]).with_interval_ms(long),
    ])
    .await;
    // Per key by default: b is not limited by a's request.
    assert_eq!(post(&sim, Some("a"), &empty()).await.status, StatusCode::OK);
    assert_eq!(post(&sim, Some("b"), &empty()).await.status, StatusCode::OK);

    sim.reset();
    for key in ["a", "b", "c"] {
        sim.put_key(KeySpec::new(key, ["1"]).with_interval_ms(long));
    }
    for key in ["a", "b"] {
        assert!(sim.set_contract(
            key,
            Contract {
                shared_rate_limit: true,
                ..Contract::default()
            }
        ));
    }
    assert_eq!(post(&sim, Some("a"), &empty()).await.status, StatusCode::OK);
    let a = post(&sim, Some("b"), &empty()).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(a.header("retry-after-ms").is_some());
    // A key that keeps its own limit is unaffected.
    assert_eq!(post(&sim, Some("c"), &empty()).await.status, StatusCode::OK);
    let s = stats(&sim).await;
    assert_eq!((s.keys["a"].requests, s.keys["b"].requests), (1, 0));
    assert_eq!(s.keys["b"].rate_limited, 1);
    sim.stop().await;
}
