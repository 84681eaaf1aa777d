//! `test_connection` against the simulator. None of them may leave a punch behind.

mod common;

use std::time::Duration;

use bayzat_client::ConnectionTest;
use bayzat_sim::Faults;
use common::{client, client_with_timeout, closed_port_url, sim, KEY};

#[tokio::test]
async fn connection_tests_read_every_kind_of_answer_and_store_nothing() {
    let sim = sim(0).await;
    let client = client();
    let url = sim.attendance_url();

    assert_eq!(client.test_connection(&url, KEY).await, ConnectionTest::Ok);
    assert_eq!(
        client.test_connection(&url, "not-a-key").await,
        ConnectionTest::InvalidKey
    );
    assert_eq!(
        client.test_connection(&url, "bad\r\nkey").await,
        ConnectionTest::InvalidKey
    );

    let faults = Faults {
        p_500: 1.0,
        ..Faults::default()
    };
    assert!(sim.set_faults(KEY, faults).unwrap());
    assert_eq!(
        client.test_connection(&url, KEY).await,
        ConnectionTest::Unexpected {
            status: 500,
            body_excerpt: "Internal Server Error".into(),
        }
    );

    let stats = sim.stats();
    let key_stats = &stats.keys[KEY];
    assert_eq!(key_stats.requests, 2, "{stats:?}");
    assert_eq!(
        key_stats.largest_request, 0,
        "only empty requests: {stats:?}"
    );
    assert_eq!(key_stats.accepted_records, 0);
    assert!(sim.ledger(KEY).unwrap().is_empty());
    sim.stop().await;
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let test = client().test_connection(&closed_port_url(), KEY).await;
    let ConnectionTest::Unreachable { cause } = &test else {
        panic!("expected unreachable: {test:?}");
    };
    assert!(cause.starts_with("connection failed"), "{cause}");
    let json = serde_json::to_value(&test).unwrap();
    assert_eq!(json["result"], "unreachable");
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_unreachable() {
    // `.invalid` never resolves (RFC 2606), so no resolver can answer otherwise.
    let test = client()
        .test_connection("http://bayzat.invalid/attendance", KEY)
        .await;
    assert!(
        matches!(test, ConnectionTest::Unreachable { .. }),
        "{test:?}"
    );
}

#[tokio::test]
async fn a_held_request_is_unreachable() {
    let sim = sim(0).await;
    let faults = Faults {
        p_timeout: 1.0,
        hold_ms: 2000,
        ..Faults::default()
    };
    assert!(sim.set_faults(KEY, faults).unwrap());
    let test = client_with_timeout(Duration::from_millis(300))
        .test_connection(&sim.attendance_url(), KEY)
        .await;
    assert_eq!(
        test,
        ConnectionTest::Unreachable {
            cause: "no answer within 300ms".into()
        }
    );
    sim.stop().await;
}

#[tokio::test]
async fn an_unusable_url_is_unreachable() {
    let test = client().test_connection("bayzat.com/attendance", KEY).await;
    assert!(
        matches!(&test, ConnectionTest::Unreachable { cause } if cause.starts_with("unusable api_url")),
        "{test:?}"
    );
}

/// A key allows one request a second: a test right after another request with the same key
/// waits the key's turn and tries once more, instead of reporting the 429.
#[tokio::test]
async fn a_test_right_after_another_request_waits_for_the_key_s_turn() {
    let patient = sim(700).await;
    let client = client();
    let url = patient.attendance_url();
    assert_eq!(client.test_connection(&url, KEY).await, ConnectionTest::Ok);
    let started = std::time::Instant::now();
    assert_eq!(client.test_connection(&url, KEY).await, ConnectionTest::Ok);
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "waited for the key's turn: {:?}",
        started.elapsed()
    );
    let stats = &patient.stats().keys[KEY];
    assert_eq!((stats.requests, stats.rate_limited), (2, 1), "{stats:?}");
    assert!(patient.ledger(KEY).unwrap().is_empty());

    // A key that stays busy longer than a test may wait is reported as it is.
    let busy = sim(10_000).await;
    let url = busy.attendance_url();
    assert_eq!(client.test_connection(&url, KEY).await, ConnectionTest::Ok);
    let started = std::time::Instant::now();
    assert!(matches!(
        client.test_connection(&url, KEY).await,
        ConnectionTest::Unexpected { status: 429, .. }
    ));
    assert!(started.elapsed() < Duration::from_secs(2));
    patient.stop().await;
    busy.stop().await;
}
