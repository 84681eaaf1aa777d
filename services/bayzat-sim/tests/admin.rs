//! The admin API, the counters, the in-process accessors and the directory fixture.

mod common;

use std::time::Duration;

use bayzat_sim::{
    keys_from_directory_file, keys_from_directory_json, Faults, KeySpec, KeyStats, Stats,
};
use common::*;
use reqwest::StatusCode;
use serde_json::json;

const DIRECTORY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/directory.json"
);

#[tokio::test]
async fn put_key_registers_and_replaces() {
    let sim = start(vec![]).await;
    let body = records(vec![rec("7", "checkIn", "2023-04-30 09:00:00")]);
    assert_eq!(
        post(&sim, Some("k"), &body).await.status,
        StatusCode::UNAUTHORIZED
    );

    let (status, spec) = admin_put(&sim, "/keys/k", &json!({"employees": ["7"]})).await;
    assert_eq!(status, StatusCode::OK);
    let spec: KeySpec = serde_json::from_value(spec).unwrap();
    assert_eq!(spec, KeySpec::new("k", ["7"]));
    assert_eq!((spec.interval_ms, spec.max_records), (1000, 20));

    assert_eq!(post(&sim, Some("k"), &body).await.status, StatusCode::OK);
    assert_eq!(ledger(&sim, "k").await.len(), 1);

    // Replacing starts over: empty ledger, fresh counters, no rate-limit memory, no faults.
    admin_put(&sim, "/keys/k/faults", &json!({"p_500": 1.0})).await;
    let (status, _) = admin_put(
        &sim,
        "/keys/k",
        &json!({"employees": ["7", "8"], "interval_ms": 0, "max_records": 1}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(ledger(&sim, "k").await.is_empty());
    assert_eq!(stats(&sim).await.keys["k"], KeyStats::default());
    assert_eq!(post(&sim, Some("k"), &body).await.status, StatusCode::OK);
    let two = records(vec![
        rec("8", "checkIn", "2023-04-30 09:00:00"),
        rec("8", "checkOut", "2023-04-30 17:00:00"),
    ]);
    assert_eq!(
        post(&sim, Some("k"), &two).await.json()["reason"],
        "too_many_records"
    );

    let (status, list) = admin_get(&sim, "/keys").await;
    assert_eq!(status, StatusCode::OK);
    let list: Vec<KeySpec> = serde_json::from_value(list).unwrap();
    assert_eq!(
        list,
        [KeySpec::new("k", ["7", "8"])
            .with_interval_ms(0)
            .with_max_records(1)]
    );
    sim.stop().await;
}

#[tokio::test]
async fn admin_refuses_bad_bodies_and_unknown_keys() {
    let sim = start(vec![fast_key()]).await;
    for body in [
        json!({}),
        json!({"employees": "1"}),
        json!({"employees": [], "interval": 5}),
    ] {
        let (status, v) = admin_put(&sim, "/keys/x", &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(v["success"], false);
    }
    let resp = reqwest::Client::new()
        .put(format!("{}/__admin/keys/x", sim.base_url()))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["reason"],
        "malformed"
    );

    for path in ["/keys/x/ledger", "/keys/x/faults"] {
        let (status, _) = admin_get(&sim, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = admin_put(&sim, "/keys/x/faults", &json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let client = reqwest::Client::new();
    let url = format!("{}/__admin/keys/{KEY}", sim.base_url());
    assert_eq!(
        client.delete(&url).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        client.delete(&url).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        post(&sim, Some(KEY), &records(vec![])).await.status,
        StatusCode::UNAUTHORIZED
    );
    sim.stop().await;
}

#[tokio::test]
async fn stats_count_every_kind_of_answer() {
    let sim = start(vec![
        KeySpec::new(KEY, ["1", "2"]).with_interval_ms(150),
        KeySpec::new("quiet", ["1"]),
    ])
    .await;
    let (_, raw) = admin_get(&sim, "/stats").await;
    assert_eq!(raw["keys"][KEY]["min_gap_ms"], serde_json::Value::Null);
    assert_eq!(raw["unauthorized"], 0);

    post(&sim, None, &records(vec![])).await; // 401
    post(&sim, Some("bad"), &records(vec![])).await; // 401
    let three = records(vec![
        rec("1", "checkIn", "2023-04-30 09:00:00"),
        rec("2", "checkIn", "2023-04-30 09:00:00"),
        rec("1", "checkOut", "2023-04-30 17:00:00"),
    ]);
    assert_eq!(post(&sim, Some(KEY), &three).await.status, StatusCode::OK);
    // A 429 carrying more records than any counted request still sets largest_request.
    let five = records(
        (0..5)
            .map(|i| rec("2", "checkOut", &format!("2023-05-01 10:0{i}:00")))
            .collect(),
    );
    assert_eq!(
        post(&sim, Some(KEY), &five).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Past the 150 ms window in real time, as Bayzat counts it: asking until it admits would
    // add 429s to the stats under test.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let unknown = records(vec![rec("3", "checkIn", "2023-04-30 09:00:00")]);
    assert_eq!(
        post(&sim, Some(KEY), &unknown).await.status,
        StatusCode::BAD_REQUEST
    );
    // A longer real gap than the one before, so the smallest gap is the one reported.
    tokio::time::sleep(Duration::from_millis(700)).await;
    admin_put(&sim, &format!("/keys/{KEY}/faults"), &json!({"p_500": 1.0})).await;
    assert_eq!(
        post(&sim, Some(KEY), &records(vec![])).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );

    let s: Stats = stats(&sim).await;
    assert_eq!(s.unauthorized, 2);
    let k = &s.keys[KEY];
    assert_eq!(k.requests, 3);
    assert_eq!(k.accepted_records, 3);
    assert_eq!(k.rate_limited, 1);
    assert_eq!(k.server_errors, 1);
    assert_eq!(k.largest_request, 5);
    assert_eq!(k.bad_requests_by_reason.get("unknown_employee"), Some(&1));
    assert_eq!(k.bad_requests_by_reason.len(), 1);
    let gap = k.min_gap_ms.unwrap();
    assert!((150..700).contains(&gap), "min_gap_ms {gap}");
    assert_eq!(s.keys["quiet"], KeyStats::default());

    // The wire shape, for clients that do not use these types.
    let (_, raw) = admin_get(&sim, "/stats").await;
    for field in [
        "requests",
        "accepted_records",
        "bad_requests_by_reason",
        "rate_limited",
        "server_errors",
        "largest_request",
        "min_gap_ms",
    ] {
        assert!(raw["keys"][KEY].get(field).is_some(), "{field} in {raw}");
    }
    assert_eq!(
        raw["keys"][KEY]["bad_requests_by_reason"]["unknown_employee"],
        1
    );
    sim.stop().await;
}

#[tokio::test]
async fn reset_forgets_everything() {
    let sim = start(vec![fast_key()]).await;
    post(&sim, None, &records(vec![])).await;
    post(
        &sim,
        Some(KEY),
        &records(vec![rec("1", "checkIn", "2023-04-30 09:00:00")]),
    )
    .await;
    let resp = reqwest::Client::new()
        .post(format!("{}/__admin/reset", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(stats(&sim).await, Stats::default());
    let (status, _) = admin_get(&sim, &format!("/keys/{KEY}/ledger")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        post(&sim, Some(KEY), &records(vec![])).await.status,
        StatusCode::UNAUTHORIZED
    );
    sim.stop().await;
}

#[tokio::test]
async fn in_process_accessors_match_the_admin_api() {
    let sim = start(vec![]).await;
    sim.put_key(fast_key());
    assert_eq!(sim.set_faults(KEY, Faults::default()), Ok(true));
    assert_eq!(sim.set_faults("nobody", Faults::default()), Ok(false));
    assert!(sim
        .set_faults(
            KEY,
            Faults {
                p_500: 2.0,
                ..Faults::default()
            }
        )
        .is_err());
    post(
        &sim,
        Some(KEY),
        &records(vec![rec("1", "checkIn", "2023-04-30 09:00:00")]),
    )
    .await;
    assert_eq!(sim.ledger(KEY).unwrap(), ledger(&sim, KEY).await);
    assert_eq!(sim.stats(), stats(&sim).await);
    assert!(sim.ledger("nobody").is_none());
    sim.reset();
    assert_eq!(sim.stats(), Stats::default());
    assert!(sim.base_url().starts_with("http://127.0.0.1:"));
    assert_eq!(
        sim.attendance_url(),
        format!("{}/attendance", sim.base_url())
    );
    sim.stop().await;
}

#[tokio::test]
async fn stop_frees_the_port_and_drop_stops_too() {
    let sim = start(vec![fast_key()]).await;
    let url = sim.attendance_url();
    sim.stop().await;
    assert!(reqwest::Client::new()
        .post(&url)
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .is_err());

    let sim = start(vec![fast_key()]).await;
    let url = sim.attendance_url();
    drop(sim);
    let mut refused = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let r = reqwest::Client::new()
            .post(&url)
            .timeout(Duration::from_millis(500))
            .send()
            .await;
        if r.is_err() {
            refused = true;
            break;
        }
    }
    assert!(refused, "a dropped simulator keeps serving");
}

#[test]
fn directory_fixture_keys() {
    let text = std::fs::read_to_string(DIRECTORY).expect("the shared directory fixture");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let keys = keys_from_directory_json(&json).unwrap();
    assert_eq!(keys, keys_from_directory_file(DIRECTORY).unwrap());
    let names: Vec<_> = keys.iter().map(|k| k.key.as_str()).collect();
    assert_eq!(
        names,
        [
            "bz_test_advline_7f3a9c",
            "bz_test_clara_51e2d0",
            "bz_test_dormant_000d1e",
            "bz_test_gulf_c8b104",
        ]
    );
    let advline = &keys[0];
    assert_eq!(
        advline.employees,
        ["1001", "1002", "1003", "1005", "42", "ADV-1007"]
    );
    for k in &keys {
        assert_eq!((k.interval_ms, k.max_records), (1000, 20));
    }
    assert!(keys_from_directory_file("/nonexistent/directory.json").is_err());
}

#[tokio::test]
async fn directory_keys_serve_their_employees_only() {
    const ADVLINE: &str = "bz_test_advline_7f3a9c";
    let keys = keys_from_directory_file(DIRECTORY)
        .unwrap()
        .into_iter()
        .map(|k| k.with_interval_ms(0))
        .collect();
    let sim = start(keys).await;
    let ok = records(vec![rec("ADV-1007", "checkIn", "2023-04-30 09:00:00")]);
    let a = post(&sim, Some(ADVLINE), &ok).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    // 1004 is in the directory but not known to Bayzat, 2001 belongs to another company, and
    // 1007 is known to Bayzat only as ADV-1007.
    for emp in ["1004", "2001", "1007"] {
        let body = records(vec![rec(emp, "checkIn", "2023-04-30 10:00:00")]);
        let a = post(&sim, Some(ADVLINE), &body).await;
        assert_eq!(a.json()["reason"], "unknown_employee", "{emp}");
    }
    let a = post(
        &sim,
        Some("bz_test_clara_51e2d0"),
        &records(vec![rec("2001", "checkIn", "2023-04-30 10:00:00")]),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    sim.stop().await;
}

#[tokio::test]
async fn rotate_moves_the_ledger_to_the_new_key_and_refuses_the_old_one() {
    let sim = start(vec![fast_key(), KeySpec::new("other", ["1"])]).await;
    let punch = records(vec![rec("1", "checkIn", "2023-04-30 09:00:00")]);
    assert_eq!(post(&sim, Some(KEY), &punch).await.status, StatusCode::OK);
    admin_put(
        &sim,
        &format!("/keys/{KEY}/faults"),
        &json!({"latency_ms": 1}),
    )
    .await;

    let (status, body) =
        admin_post(&sim, &format!("/keys/{KEY}/rotate"), &json!({"to": "new"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        post(&sim, Some(KEY), &punch).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The company's records stay: the same punch under the new key is a duplicate.
    let a = post(&sim, Some("new"), &punch).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.json()["reason"], "duplicate");
    assert_eq!(ledger(&sim, "new").await.len(), 1);
    let (_, faults) = admin_get(&sim, "/keys/new/faults").await;
    assert_eq!(faults["latency_ms"], 1);
    let s = stats(&sim).await;
    assert!(!s.keys.contains_key(KEY));
    assert_eq!(s.keys["new"].accepted_records, 1);
    assert_eq!(s.keys["new"].acknowledged_duplicates, 1);
    assert_eq!(s.unauthorized, 1);
    let (_, keys) = admin_get(&sim, "/keys").await;
    assert!(keys.as_array().unwrap().iter().any(|k| k["key"] == "new"));

    for (from, to, expected) in [
        (KEY, "x", StatusCode::NOT_FOUND),
        ("new", "other", StatusCode::BAD_REQUEST),
        ("new", "", StatusCode::BAD_REQUEST),
    ] {
        let (status, _) =
            admin_post(&sim, &format!("/keys/{from}/rotate"), &json!({"to": to})).await;
        assert_eq!(status, expected, "{from} -> {to}");
    }
    assert_eq!(sim.rotate_key("new", "newer"), Ok(()));
    assert_eq!(sim.duplicates("newer").map(|d| d.len()), Some(1));
    sim.stop().await;
}
