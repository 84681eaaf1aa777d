//! `send` against the simulator: every row of the contract's table, judged by the simulator's
//! ledger and counters as well as by the reply.

mod common;

use std::time::Duration;

use bayzat_client::Reply;
use bayzat_sim::Faults;
use common::{client, client_with_timeout, closed_port_url, record, sim, KEY};
use domain::PunchType::{CheckIn, CheckOut};

#[tokio::test]
async fn accepted_records_land_in_the_ledger() {
    let sim = sim(0).await;
    let records = [
        record("1001", CheckIn, "2023-04-30 09:00:00"),
        record("1001", CheckOut, "2023-04-30 17:00:00"),
        record("1002", CheckIn, "2023-04-30 08:30:00"),
    ];
    let outcome = client().send(&sim.attendance_url(), KEY, &records).await;
    assert_eq!(outcome.reply, Reply::Accepted);
    assert_eq!(outcome.status, Some(200));
    assert!(outcome.latency > Duration::ZERO);

    let ledger: Vec<(String, String, String)> = sim
        .ledger(KEY)
        .unwrap()
        .into_iter()
        .map(|e| (e.emp_id, e.kind, e.time))
        .collect();
    let expected: Vec<(String, String, String)> = records
        .iter()
        .map(|r| {
            (
                r.emp_id.to_string(),
                r.punch_type.to_string(),
                r.time.to_string(),
            )
        })
        .collect();
    assert_eq!(ledger, expected);
    sim.stop().await;
}

#[tokio::test]
async fn an_unknown_key_is_unauthorized() {
    let sim = sim(0).await;
    let records = [record("1001", CheckIn, "2023-04-30 09:00:00")];
    let outcome = client()
        .send(&sim.attendance_url(), "not-a-key", &records)
        .await;
    assert_eq!(outcome.reply, Reply::Unauthorized);
    assert_eq!(outcome.status, Some(401));
    assert_eq!(sim.stats().unauthorized, 1);
    assert!(sim.ledger(KEY).unwrap().is_empty());
    sim.stop().await;
}

#[tokio::test]
async fn a_key_a_header_cannot_carry_is_unauthorized_without_a_request() {
    let sim = sim(0).await;
    let records = [record("1001", CheckIn, "2023-04-30 09:00:00")];
    let outcome = client()
        .send(&sim.attendance_url(), "bad\nkey", &records)
        .await;
    assert_eq!(outcome.reply, Reply::Unauthorized);
    assert_eq!(outcome.status, None);
    assert_eq!(sim.stats().unauthorized, 0);
    sim.stop().await;
}

#[tokio::test]
async fn too_fast_is_rate_limited_with_the_exact_wait() {
    let sim = sim(300).await;
    let client = client();
    let url = sim.attendance_url();
    let first = [record("1001", CheckIn, "2023-04-30 09:00:00")];
    let second = [record("1001", CheckOut, "2023-04-30 17:00:00")];

    assert_eq!(client.send(&url, KEY, &first).await.reply, Reply::Accepted);
    let outcome = client.send(&url, KEY, &second).await;
    assert_eq!(outcome.status, Some(429));
    let Reply::RateLimited {
        retry_after: Some(wait),
    } = outcome.reply
    else {
        panic!("expected a 429 with a wait: {outcome:?}");
    };
    // Retry-After says 1 s; the milliseconds are what the simulator really asks for.
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_millis(300),
        "{wait:?}"
    );

    tokio::time::sleep(wait).await;
    assert_eq!(client.send(&url, KEY, &second).await.reply, Reply::Accepted);
    assert_eq!(sim.ledger(KEY).unwrap().len(), 2);
    assert_eq!(sim.stats().keys[KEY].rate_limited, 1);
    sim.stop().await;
}

#[tokio::test]
async fn an_unknown_employee_is_refused_and_not_a_duplicate() {
    let sim = sim(0).await;
    let records = [
        record("1001", CheckIn, "2023-04-30 09:00:00"),
        record("9999", CheckIn, "2023-04-30 09:00:00"),
    ];
    let outcome = client().send(&sim.attendance_url(), KEY, &records).await;
    assert_eq!(outcome.status, Some(400));
    let Reply::Refused {
        message,
        reason,
        duplicate,
    } = outcome.reply
    else {
        panic!("expected a refusal: {outcome:?}");
    };
    assert_eq!(reason.as_deref(), Some("unknown_employee"));
    assert!(!duplicate);
    assert!(message.contains("9999"), "{message}");
    assert!(
        sim.ledger(KEY).unwrap().is_empty(),
        "a refusal stores nothing"
    );
    sim.stop().await;
}

#[tokio::test]
async fn a_punch_bayzat_holds_is_refused_as_a_duplicate() {
    let sim = sim(0).await;
    let client = client();
    let url = sim.attendance_url();
    let held = record("1001", CheckIn, "2023-04-30 09:00:00");
    assert_eq!(
        client
            .send(&url, KEY, std::slice::from_ref(&held))
            .await
            .reply,
        Reply::Accepted
    );

    // Same empId and time: a duplicate whatever the type.
    let same_time = record("1001", CheckOut, "2023-04-30 09:00:00");
    for records in [vec![held], vec![same_time]] {
        let outcome = client.send(&url, KEY, &records).await;
        assert_eq!(outcome.status, Some(400));
        assert!(
            matches!(
                &outcome.reply,
                Reply::Refused { reason: Some(reason), duplicate: true, .. } if reason == "duplicate"
            ),
            "{outcome:?}"
        );
    }
    assert_eq!(sim.ledger(KEY).unwrap().len(), 1);
    sim.stop().await;
}

#[tokio::test]
async fn more_records_than_the_limit_are_refused() {
    let sim = sim(0).await;
    let records: Vec<_> = (0..21)
        .map(|i| record("1001", CheckIn, &format!("2023-04-30 09:{i:02}:00")))
        .collect();
    let outcome = client().send(&sim.attendance_url(), KEY, &records).await;
    assert!(
        matches!(
            &outcome.reply,
            Reply::Refused { reason: Some(reason), duplicate: false, .. } if reason == "too_many_records"
        ),
        "{outcome:?}"
    );
    sim.stop().await;
}

#[tokio::test]
async fn a_server_error_is_transient() {
    let sim = sim(0).await;
    let faults = Faults {
        p_500: 1.0,
        ..Faults::default()
    };
    assert!(sim.set_faults(KEY, faults).unwrap());
    let records = [record("1001", CheckIn, "2023-04-30 09:00:00")];
    let outcome = client().send(&sim.attendance_url(), KEY, &records).await;
    assert_eq!(outcome.status, Some(500));
    assert!(
        matches!(&outcome.reply, Reply::Transient { status: Some(500), detail } if detail.contains("Internal Server Error")),
        "{outcome:?}"
    );
    assert!(sim.ledger(KEY).unwrap().is_empty());
    sim.stop().await;
}

#[tokio::test]
async fn success_false_is_transient() {
    let sim = sim(0).await;
    let faults = Faults {
        p_success_false: 1.0,
        ..Faults::default()
    };
    assert!(sim.set_faults(KEY, faults).unwrap());
    let records = [record("1001", CheckIn, "2023-04-30 09:00:00")];
    let outcome = client().send(&sim.attendance_url(), KEY, &records).await;
    assert_eq!(outcome.status, Some(200));
    assert!(
        matches!(
            &outcome.reply,
            Reply::Transient {
                status: Some(200),
                ..
            }
        ),
        "{outcome:?}"
    );
    assert!(sim.ledger(KEY).unwrap().is_empty());
    sim.stop().await;
}

#[tokio::test]
async fn stored_then_500_is_transient_and_the_resend_is_a_duplicate() {
    let sim = sim(0).await;
    let faults = Faults {
        p_accept_then_500: 1.0,
        ..Faults::default()
    };
    assert!(sim.set_faults(KEY, faults).unwrap());
    let client = client();
    let url = sim.attendance_url();
    let records = [record("1001", CheckIn, "2023-04-30 09:00:00")];
    let outcome = client.send(&url, KEY, &records).await;
    assert!(
        matches!(
            &outcome.reply,
            Reply::Transient {
                status: Some(500),
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(sim.ledger(KEY).unwrap().len(), 1);

    assert!(sim.set_faults(KEY, Faults::default()).unwrap());
    let resend = client.send(&url, KEY, &records).await;
    assert!(
        matches!(
            &resend.reply,
            Reply::Refused {
                duplicate: true,
                ..
            }
        ),
        "{resend:?}"
    );
    sim.stop().await;
}

#[tokio::test]
async fn a_held_request_times_out_as_transient() {
    let sim = sim(0).await;
    let faults = Faults {
        p_timeout: 1.0,
        hold_ms: 2000,
        ..Faults::default()
    };
    assert!(sim.set_faults(KEY, faults).unwrap());
    let timeout = Duration::from_millis(300);
    let records = [record("1001", CheckIn, "2023-04-30 09:00:00")];
    let outcome = client_with_timeout(timeout)
        .send(&sim.attendance_url(), KEY, &records)
        .await;
    assert_eq!(outcome.status, None);
    assert!(
        matches!(&outcome.reply, Reply::Transient { status: None, detail } if detail.contains("300ms")),
        "{outcome:?}"
    );
    assert!(
        outcome.latency >= timeout && outcome.latency < Duration::from_millis(1500),
        "{:?}",
        outcome.latency
    );
    assert!(sim.ledger(KEY).unwrap().is_empty());
    sim.stop().await;
}

#[tokio::test]
async fn a_refused_connection_is_transient() {
    let records = [record("1001", CheckIn, "2023-04-30 09:00:00")];
    let outcome = client().send(&closed_port_url(), KEY, &records).await;
    assert_eq!(outcome.status, None);
    let Reply::Transient {
        status: None,
        detail,
    } = &outcome.reply
    else {
        panic!("expected a transient failure: {outcome:?}");
    };
    assert!(detail.starts_with("connection failed"), "{detail}");
    assert!(
        !detail.contains("127.0.0.1"),
        "no URL in the detail: {detail}"
    );
}

#[tokio::test]
async fn an_unusable_url_is_transient() {
    let records = [record("1001", CheckIn, "2023-04-30 09:00:00")];
    for url in ["not a url", "ftp://example.com/attendance", ""] {
        let outcome = client().send(url, KEY, &records).await;
        assert!(
            matches!(&outcome.reply, Reply::Transient { status: None, detail } if detail.starts_with("unusable api_url")),
            "{url:?}: {outcome:?}"
        );
    }
}

#[tokio::test]
async fn a_wrong_path_is_unexpected() {
    let sim = sim(0).await;
    let records = [record("1001", CheckIn, "2023-04-30 09:00:00")];
    let url = format!("{}/__admin/nowhere", sim.base_url());
    let outcome = client().send(&url, KEY, &records).await;
    assert!(
        matches!(&outcome.reply, Reply::Unexpected { status, .. } if *status == outcome.status.unwrap()),
        "{outcome:?}"
    );
    assert!(sim.ledger(KEY).unwrap().is_empty());
    sim.stop().await;
}
