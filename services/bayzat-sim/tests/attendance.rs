//! The rules of `POST /attendance`, one by one, against a simulator on a random port.

mod common;

use std::time::{Duration, Instant};

use bayzat_sim::KeySpec;
use common::*;
use reqwest::StatusCode;
use serde_json::json;

fn one(emp: &str, time: &str) -> serde_json::Value {
    records(vec![rec(emp, "checkIn", time)])
}

#[tokio::test]
async fn missing_and_unknown_keys_are_401() {
    let sim = start(vec![fast_key()]).await;
    let body = one("1", "2023-04-30 09:00:00");
    for key in [None, Some("nope"), Some("")] {
        let a = post(&sim, key, &body).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "key {key:?}");
        assert_eq!(
            a.json(),
            json!({"success": false, "message": "Unauthorized"})
        );
    }
    // An unknown key is refused before its body is looked at.
    let a = post_raw(&sim.attendance_url(), Some("nope"), b"not json".to_vec()).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    // An empty request is refused the same way.
    let a = post(&sim, Some("nope"), &records(vec![])).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);

    assert!(ledger(&sim, KEY).await.is_empty());
    let s = stats(&sim).await;
    assert_eq!(s.unauthorized, 5);
    assert_eq!(s.keys[KEY].requests, 0);
    sim.stop().await;
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_headers() {
    let sim = start(vec![KeySpec::new(KEY, ["1"]).with_interval_ms(300)]).await;
    let t0 = Instant::now();
    let a = post(&sim, Some(KEY), &one("1", "2023-04-30 09:00:00")).await;
    assert_eq!(a.status, StatusCode::OK);

    let a = post(&sim, Some(KEY), &one("1", "2023-04-30 09:01:00")).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.text);
    assert_eq!(a.header("retry-after").as_deref(), Some("1"));
    let ms: u64 = a.header("retry-after-ms").unwrap().parse().unwrap();
    assert!(ms > 0 && ms <= 300, "Retry-After-Ms {ms}");
    assert_eq!(a.json()["success"], false);
    // A 429 stores nothing.
    assert_eq!(ledger(&sim, KEY).await.len(), 1);

    // Waiting as long as the 429 said is what is under test: Bayzat's windows are real time.
    tokio::time::sleep(Duration::from_millis(ms)).await;
    let a = post(&sim, Some(KEY), &one("1", "2023-04-30 09:01:00")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert!(t0.elapsed() >= Duration::from_millis(300));
    assert_eq!(ledger(&sim, KEY).await.len(), 2);

    let s = &stats(&sim).await.keys[KEY];
    assert_eq!(s.requests, 2);
    assert_eq!(s.rate_limited, 1);
    assert!(s.min_gap_ms.unwrap() >= 300, "{s:?}");
    sim.stop().await;
}

#[tokio::test]
async fn a_429_does_not_move_the_window() {
    let sim = start(vec![KeySpec::new(KEY, ["1"]).with_interval_ms(300)]).await;
    let empty = records(vec![]);
    let t0 = Instant::now();
    assert_eq!(post(&sim, Some(KEY), &empty).await.status, StatusCode::OK);
    // 200 ms into the 300 ms window, in real time as Bayzat counts it.
    tokio::time::sleep_until((t0 + Duration::from_millis(200)).into()).await;
    let limited_at = Instant::now();
    let a = post(&sim, Some(KEY), &empty).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    let ms: u64 = a.header("retry-after-ms").unwrap().parse().unwrap();
    assert!(ms <= 150, "Retry-After-Ms {ms}");
    // Waiting out the first request's window is enough, although it is well under an interval
    // since the 429: the 429 was not a counted request.
    // Waiting out what the 429 said (real time, as Bayzat counts it) is what is under test.
    tokio::time::sleep(Duration::from_millis(ms + 5)).await;
    assert!(limited_at.elapsed() < Duration::from_millis(300));
    assert_eq!(post(&sim, Some(KEY), &empty).await.status, StatusCode::OK);
    sim.stop().await;
}

#[tokio::test]
async fn rate_limit_comes_before_body_checks() {
    let sim = start(vec![KeySpec::new(KEY, ["1"]).with_interval_ms(5_000)]).await;
    assert_eq!(
        post_raw(&sim.attendance_url(), Some(KEY), b"garbage".to_vec())
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let a = post_raw(&sim.attendance_url(), Some(KEY), b"garbage".to_vec()).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.header("retry-after").as_deref(), Some("5"));
    sim.stop().await;
}

#[tokio::test]
async fn concurrent_requests_get_exactly_one_slot() {
    let sim = start(vec![KeySpec::new(KEY, ["1"]).with_interval_ms(2_000)]).await;
    let url = sim.attendance_url();
    let mut tasks = Vec::new();
    for i in 0..12 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let body = one("1", &format!("2023-04-30 09:{i:02}:00"));
            post_raw(&url, Some(KEY), serde_json::to_vec(&body).unwrap())
                .await
                .status
        }));
    }
    let mut ok = 0;
    let mut limited = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => limited += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((ok, limited), (1, 11));
    let s = &stats(&sim).await.keys[KEY];
    assert_eq!((s.requests, s.rate_limited), (1, 11));
    assert_eq!(ledger(&sim, KEY).await.len(), 1);
    sim.stop().await;
}

#[tokio::test]
async fn keys_are_limited_independently() {
    let sim = start(vec![
        KeySpec::new("a", ["1"]).with_interval_ms(5_000),
        KeySpec::new("b", ["1"]).with_interval_ms(5_000),
    ])
    .await;
    let empty = records(vec![]);
    assert_eq!(post(&sim, Some("a"), &empty).await.status, StatusCode::OK);
    assert_eq!(post(&sim, Some("b"), &empty).await.status, StatusCode::OK);
    assert_eq!(
        post(&sim, Some("a"), &empty).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    sim.stop().await;
}

/// Sends `body` and checks a 400 with `reason`, a message naming `names`, and an unchanged ledger.
async fn expect_400(
    sim: &bayzat_sim::RunningSim,
    body: Vec<u8>,
    reason: &str,
    names: &[&str],
) -> String {
    let before = ledger(sim, KEY).await;
    let a = post_raw(&sim.attendance_url(), Some(KEY), body).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text);
    let v = a.json();
    assert_eq!(v["success"], false);
    assert_eq!(v["reason"], reason, "{v}");
    let message = v["message"].as_str().unwrap().to_owned();
    for n in names {
        assert!(message.contains(n), "{message:?} should name {n:?}");
    }
    assert_eq!(
        ledger(sim, KEY).await,
        before,
        "a refused request stores nothing"
    );
    message
}

fn bytes(v: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

#[tokio::test]
async fn malformed_bodies_are_400_malformed() {
    let sim = start(vec![fast_key()]).await;
    // Something already in the ledger, to see that a refusal leaves it alone.
    assert_eq!(
        post(&sim, Some(KEY), &one("1", "2023-04-30 08:00:00"))
            .await
            .status,
        StatusCode::OK
    );
    for body in [
        b"".to_vec(),
        b"not json".to_vec(),
        b"[]".to_vec(),
        b"{}".to_vec(),
        br#"{"records": {}}"#.to_vec(),
        br#"{"records": [1]}"#.to_vec(),
        br#"{"records": [{"empId": 1, "type": "checkIn", "time": "2023-04-30 09:00:00"}]}"#.to_vec(),
        br#"{"records": [{"type": "checkIn", "time": "2023-04-30 09:00:00"}]}"#.to_vec(),
        br#"{"records": [{"empId": "1", "type": "checkIn", "time": "2023-04-30 09:00:00", "x": 1}]}"#
            .to_vec(),
        br#"{"records": [], "extra": true}"#.to_vec(),
        br#"{"records": [{"empId": "1", "type": "checkIn", "time": "2023-04-30 09:00:00"}]"#.to_vec(),
    ] {
        expect_400(&sim, body, "malformed", &["malformed"]).await;
    }
    let s = &stats(&sim).await.keys[KEY];
    assert_eq!(s.bad_requests_by_reason["malformed"], 11);
    assert_eq!(s.requests, 12);
    sim.stop().await;
}

#[tokio::test]
async fn oversized_bodies_are_malformed_not_a_transport_error() {
    let sim = start(vec![fast_key()]).await;
    let big = vec![b' '; bayzat_sim::BODY_LIMIT_BYTES + 10];
    expect_400(&sim, big, "malformed", &["larger"]).await;
    // Just under the limit, a big but valid JSON body is read and judged on its records.
    let mut body = bytes(&one("1", "2023-04-30 09:00:00"));
    body.extend(std::iter::repeat_n(b' ', 3 * 1024 * 1024));
    let a = post_raw(&sim.attendance_url(), Some(KEY), body).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    sim.stop().await;
}

#[tokio::test]
async fn too_many_records_is_400_and_per_key() {
    let sim = start(vec![
        fast_key(),
        KeySpec::new("small", ["1"])
            .with_interval_ms(0)
            .with_max_records(2),
    ])
    .await;
    let recs = |n: usize| {
        records(
            (0..n)
                .map(|i| rec("1", "checkIn", &format!("2023-04-30 09:{i:02}:00")))
                .collect(),
        )
    };
    let a = post(&sim, Some(KEY), &recs(20)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(ledger(&sim, KEY).await.len(), 20);

    let msg = expect_400(
        &sim,
        bytes(&records(
            (0..21)
                .map(|i| rec("2", "checkIn", &format!("2023-04-30 10:{i:02}:00")))
                .collect(),
        )),
        "too_many_records",
        &["2023-04-30 10:20:00", "20", "21"],
    )
    .await;
    assert!(msg.contains("too many records"), "{msg}");

    assert_eq!(
        post(&sim, Some("small"), &recs(2)).await.status,
        StatusCode::OK
    );
    let a = post(&sim, Some("small"), &recs(3)).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.json()["reason"], "too_many_records");
    assert_eq!(ledger(&sim, "small").await.len(), 2);
    let s = stats(&sim).await;
    assert_eq!(s.keys[KEY].largest_request, 21);
    assert_eq!(s.keys["small"].largest_request, 3);
    sim.stop().await;
}

#[tokio::test]
async fn bad_type_is_400() {
    let sim = start(vec![fast_key()]).await;
    for bad in ["checkin", "CheckIn", "check_in", "in", "", "checkOut "] {
        let body = records(vec![
            rec("1", "checkIn", "2023-04-30 09:00:00"),
            rec("2", bad, "2023-04-30 09:05:00"),
        ]);
        expect_400(
            &sim,
            bytes(&body),
            "bad_type",
            &["empId 2", "2023-04-30 09:05:00", "type"],
        )
        .await;
    }
    sim.stop().await;
}

#[tokio::test]
async fn bad_time_is_400() {
    let sim = start(vec![fast_key()]).await;
    for bad in [
        "2023-04-30T09:00:00",
        "2023-04-30 09:00",
        "2023-04-30 9:00:00",
        "30/04/2023 09:00:00",
        "2023-04-30 09:00:00+04:00",
        "2023-02-30 09:00:00",
        "2023-04-30 25:00:00",
        "2023-04-30 23:59:60",
        "",
    ] {
        let body = records(vec![
            rec("1", "checkIn", "2023-04-30 08:00:00"),
            rec("3", "checkOut", bad),
        ]);
        expect_400(&sim, bytes(&body), "bad_time", &["empId 3", bad, "time"]).await;
    }
    sim.stop().await;
}

#[tokio::test]
async fn unknown_employee_is_400() {
    let sim = start(vec![fast_key()]).await;
    let body = records(vec![
        rec("1", "checkIn", "2023-04-30 08:00:00"),
        rec("01", "checkIn", "2023-04-30 08:30:00"),
        rec("99", "checkIn", "2023-04-30 09:00:00"),
    ]);
    // "01" is not "1": empIds are compared exactly.
    expect_400(
        &sim,
        bytes(&body),
        "unknown_employee",
        &["empId 01", "2023-04-30 08:30:00"],
    )
    .await;
    sim.stop().await;
}

#[tokio::test]
async fn duplicates_against_the_ledger_and_within_a_request() {
    let sim = start(vec![fast_key()]).await;
    let a = post(&sim, Some(KEY), &one("1", "2023-04-30 09:00:00")).await;
    assert_eq!(a.status, StatusCode::OK);

    // Same empId + time as the ledger, same type.
    let body = records(vec![
        rec("2", "checkIn", "2023-04-30 09:00:00"),
        rec("1", "checkIn", "2023-04-30 09:00:00"),
    ]);
    let msg = expect_400(
        &sim,
        bytes(&body),
        "duplicate",
        &["empId 1", "2023-04-30 09:00:00"],
    )
    .await;
    assert!(msg.contains("duplicate"), "{msg}");

    // Same empId + time as the ledger, other type: still a duplicate.
    let body = records(vec![rec("1", "checkOut", "2023-04-30 09:00:00")]);
    expect_400(&sim, bytes(&body), "duplicate", &["empId 1"]).await;

    // Twice in one request, with different types.
    let body = records(vec![
        rec("3", "checkIn", "2023-04-30 10:00:00"),
        rec("3", "checkOut", "2023-04-30 10:00:00"),
    ]);
    let msg = expect_400(
        &sim,
        bytes(&body),
        "duplicate",
        &["empId 3", "2023-04-30 10:00:00"],
    )
    .await;
    assert!(msg.contains("twice"), "{msg}");

    // The same employee at another time, and another employee at the same time, are fine.
    let body = records(vec![
        rec("1", "checkOut", "2023-04-30 17:00:00"),
        rec("2", "checkIn", "2023-04-30 09:00:00"),
    ]);
    assert_eq!(post(&sim, Some(KEY), &body).await.status, StatusCode::OK);
    assert_eq!(ledger(&sim, KEY).await.len(), 3);
    assert_eq!(
        stats(&sim).await.keys[KEY].bad_requests_by_reason["duplicate"],
        3
    );
    sim.stop().await;
}

#[tokio::test]
async fn reasons_are_checked_in_the_documented_order() {
    let sim = start(vec![fast_key().with_max_records(3)]).await;
    let post_reason = |recs: Vec<serde_json::Value>| {
        let sim = &sim;
        async move { post(sim, Some(KEY), &records(recs)).await.json()["reason"].clone() }
    };
    let dup = rec("1", "checkIn", "2023-04-30 09:00:00");
    let unknown = rec("9", "checkIn", "2023-04-30 09:01:00");
    let bad_time = rec("1", "checkIn", "2023-04-30");
    let bad_type = rec("1", "in", "2023-04-30 09:02:00");
    assert_eq!(
        post_reason(vec![
            dup.clone(),
            dup.clone(),
            unknown.clone(),
            bad_time.clone()
        ])
        .await,
        "too_many_records"
    );
    assert_eq!(
        post_reason(vec![dup.clone(), bad_time.clone(), bad_type.clone()]).await,
        "bad_type"
    );
    assert_eq!(
        post_reason(vec![dup.clone(), unknown.clone(), bad_time.clone()]).await,
        "bad_time"
    );
    assert_eq!(
        post_reason(vec![dup.clone(), dup.clone(), unknown.clone()]).await,
        "unknown_employee"
    );
    assert_eq!(
        post_reason(vec![dup.clone(), dup.clone()]).await,
        "duplicate"
    );
    sim.stop().await;
}

#[tokio::test]
async fn empty_records_is_200_no_records() {
    let sim = start(vec![fast_key()]).await;
    let a = post(&sim, Some(KEY), &records(vec![])).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json(), json!({"success": true, "message": "no records"}));
    assert!(ledger(&sim, KEY).await.is_empty());
    assert_eq!(stats(&sim).await.keys[KEY].requests, 1);
    sim.stop().await;
}

#[tokio::test]
async fn accepted_records_enter_the_ledger_in_arrival_order() {
    let sim = start(vec![fast_key()]).await;
    let first = records(vec![
        rec("2", "checkIn", "2023-04-30 09:00:00"),
        rec("1", "checkIn", "2023-04-30 08:00:00"),
    ]);
    let a = post(&sim, Some(KEY), &first).await;
    assert_eq!(a.status, StatusCode::OK);
    let v = a.json();
    assert_eq!(v["success"], true);
    assert!(v["message"].is_string());
    assert!(v.get("reason").is_none());

    // The next request arrives in a later millisecond than the first was received in.
    let (_, first_received) = admin_get(&sim, &format!("/keys/{KEY}/ledger")).await;
    let first_received = first_received[0]["received_at"]
        .as_str()
        .unwrap()
        .to_owned();
    while chrono::Utc::now()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        .as_str()
        <= first_received.as_str()
    {
        tokio::task::yield_now().await;
    }
    let second = records(vec![rec("1", "checkOut", "2023-04-30 07:00:00")]);
    assert_eq!(post(&sim, Some(KEY), &second).await.status, StatusCode::OK);

    let (status, raw) = admin_get(&sim, &format!("/keys/{KEY}/ledger")).await;
    assert_eq!(status, StatusCode::OK);
    let raw = raw.as_array().unwrap();
    assert_eq!(raw.len(), 3);
    let fields: Vec<_> = raw[0].as_object().unwrap().keys().cloned().collect();
    assert_eq!(fields.len(), 4);
    for f in ["empId", "type", "time", "received_at"] {
        assert!(fields.iter().any(|k| k == f), "{f} in {fields:?}");
    }

    let l = ledger(&sim, KEY).await;
    let got: Vec<_> = l
        .iter()
        .map(|e| (e.emp_id.as_str(), e.kind.as_str(), e.time.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("2", "checkIn", "2023-04-30 09:00:00"),
            ("1", "checkIn", "2023-04-30 08:00:00"),
            ("1", "checkOut", "2023-04-30 07:00:00"),
        ]
    );
    for e in &l {
        let at = chrono::DateTime::parse_from_rfc3339(&e.received_at).unwrap();
        assert!((chrono::Utc::now() - at.to_utc()).num_seconds().abs() < 60);
        // Millisecond precision: "...:SS.mmmZ".
        assert_eq!(e.received_at.len(), 24, "{}", e.received_at);
        assert!(e.received_at.ends_with('Z'));
    }
    assert_eq!(l[0].received_at, l[1].received_at);
    assert!(l[1].received_at < l[2].received_at);
    assert_eq!(stats(&sim).await.keys[KEY].accepted_records, 3);
    sim.stop().await;
}

#[tokio::test]
async fn any_path_ending_in_attendance_is_served() {
    let sim = start(vec![fast_key()]).await;
    let base = sim.base_url();
    let body = bytes(&one("1", "2023-04-30 09:00:00"));
    let a = post_raw(
        &format!("{base}/api/v2/attendance"),
        Some(KEY),
        body.clone(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    for path in ["/attendance/", "/attendances", "/other"] {
        let a = post_raw(&format!("{base}{path}"), Some(KEY), body.clone()).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
    }
    let r = reqwest::get(sim.attendance_url()).await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(ledger(&sim, KEY).await.len(), 1);
    sim.stop().await;
}
