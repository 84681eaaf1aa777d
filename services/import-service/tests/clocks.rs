//! Simulated ZKTeco terminals (clock-sim) pushing punches to import-service's clock listener:
//! registration, holding a pending clock's punches until approval, one ledger with the reports,
//! invalid rows with their reasons, and refusals.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use auth::Role;
use chrono::{NaiveDate, NaiveDateTime};
use clock_push::{Pin, PunchState};
use clock_sim::Terminal;
use common::clocks::{self, admin, count, handshaken, ClockOptions, WAIT};
use common::Stack;
use reqwest::StatusCode;
use serde_json::{json, Value};
use test_support::wait_for;

async fn stack_with_clocks() -> (Stack, String) {
    clocks::stack_with(&ClockOptions::default()).await
}

fn terminal(base: &str, serial: &str) -> Terminal {
    clocks::terminal(base, serial, Duration::from_secs(3600))
}

fn pin(p: &str) -> Pin {
    Pin::parse(p).unwrap()
}

fn at(h: u32, m: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, 5)
        .unwrap()
        .and_hms_opt(h, m, 0)
        .unwrap()
}

async fn ready_messages(stack: &Stack) -> i64 {
    count(
        stack,
        "SELECT count(*) AS n FROM import.outbox WHERE message_type = 'punches.ready.v1'",
    )
    .await
}

async fn clock_id(stack: &Stack, serial: &str) -> i64 {
    let (status, body) = admin(stack, reqwest::Method::GET, "/v1/clocks", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["serial_number"] == serial)
        .unwrap_or_else(|| panic!("clock {serial} not listed: {body}"))["id"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn a_pending_clock_is_held_until_approved_and_no_punch_is_stored_twice() {
    let (stack, clock_base) = stack_with_clocks().await;
    let collector = stack.collector().await;

    // The handshake registers the unknown terminal as pending.
    let clock = terminal(&clock_base, "CLK0001");
    handshaken(&clock).await;
    let id = clock_id(&stack, "CLK0001").await;
    let (_, listed) = admin(&stack, reqwest::Method::GET, "/v1/clocks", None).await;
    assert_eq!(listed["items"][0]["state"], "pending");
    assert_eq!(listed["items"][0]["companies"], json!([]));

    // A punch before the clock has a company: an invalid row, validated again at approval.
    let early = clock.punch_at(pin("1001"), at(8, 0), PunchState::CheckIn);
    assert!(clock.wait_drained(WAIT).await, "the upload is acknowledged");
    let (status, body) = admin(
        &stack,
        reqwest::Method::PATCH,
        &format!("/v1/clocks/{id}"),
        Some(json!({ "companies": ["advline"] })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["companies"], json!(["advline"]));
    assert_eq!(body["time_zone"], "UTC", "a clock that registered itself");

    // Stored, not queued: the clock is still pending.
    let later = clock.punch_many([
        (pin("1002"), at(9, 0), PunchState::CheckIn),
        (pin("9999"), at(9, 5), PunchState::CheckIn),
    ]);
    assert!(clock.wait_drained(WAIT).await);
    assert_eq!(
        count(&stack, "SELECT count(*) AS n FROM import.punches").await,
        1
    );
    assert_eq!(
        count(
            &stack,
            "SELECT count(*) AS n FROM import.punches WHERE state = 'new'"
        )
        .await,
        1
    );
    assert_eq!(
        ready_messages(&stack).await,
        0,
        "nothing queued while pending"
    );
    // Nor can the clock's import be released around the approval.
    let day_import = count(
        &stack,
        &format!("SELECT import_id AS n FROM import.clock_days WHERE clock_id = {id}"),
    )
    .await;
    let (status, body) = admin(
        &stack,
        reqwest::Method::POST,
        &format!("/v1/imports/{day_import}/release"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "clock_not_approved", "{body}");
    assert_eq!(ready_messages(&stack).await, 0);

    // Approval validates the early row again and queues both punches.
    let (status, body) = admin(
        &stack,
        reqwest::Method::POST,
        &format!("/v1/clocks/{id}/approve"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "approved");
    assert_eq!(
        body["queued"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["punches"].as_i64().unwrap())
            .sum::<i64>(),
        2
    );
    let (received, _) = collector.settle().await;
    assert_eq!(received["advline"].len(), 2, "{received:?}");

    // A retransmitted batch stores nothing new.
    clock.append(vec![early.clone(), later[0].clone()]);
    assert!(clock.wait_drained(WAIT).await);
    assert_eq!(
        count(&stack, "SELECT count(*) AS n FROM import.punches").await,
        2
    );

    // A report that overlaps: only its new punch is stored and queued.
    let report = "Employee ID,First Name,Department,Date,Time,Punch State\n\
                  1001,Ahmed,AdvLine,2026-11-05,08:00:00,Check In\n\
                  1001,Ahmed,AdvLine,2026-11-05,17:00:00,Check Out\n";
    let (status, body) = stack.upload_bytes(report.as_bytes().to_vec(), "").await;
    assert!(status.is_success(), "{status} {body}");
    assert_eq!(body["punches_new"], 1, "{body}");
    assert_eq!(body["duplicate_punches_known"], 1, "{body}");
    // And a clock punch after approval is queued as it is stored.
    clock.punch_at(pin("1002"), at(18, 0), PunchState::CheckOut);
    assert!(clock.wait_drained(WAIT).await);
    let (received, _) = collector.settle().await;
    let advline = &received["advline"];
    let distinct: BTreeSet<(String, String)> = advline
        .iter()
        .map(|r| (r["empId"].to_string(), r["time"].to_string()))
        .collect();
    assert_eq!(advline.len(), 4, "{advline:?}");
    assert_eq!(distinct.len(), 4, "each punch delivered once: {advline:?}");

    // The unknown PIN is an invalid row with its reason.
    let (status, rows) = admin(
        &stack,
        reqwest::Method::GET,
        &format!("/v1/clocks/{id}/punches?outcome=invalid"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    let invalid = rows["items"].as_array().unwrap();
    assert_eq!(invalid.len(), 1, "{rows}");
    assert_eq!(invalid[0]["raw"][0], "9999");
    assert_eq!(invalid[0]["errors"][0]["code"], "unknown_employee");
    assert!(
        invalid[0]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("9999"),
        "{rows}"
    );

    let import_id = invalid[0]["import_id"].as_i64().unwrap();
    let (status, import) = stack.get(&format!("/v1/imports/{import_id}")).await;
    assert_eq!(status, StatusCode::OK, "{import}");
    assert_eq!(import["uploaded_by"], "clock:CLK0001");
    assert_eq!(
        import["unknown_employees"],
        json!([{ "employee_id": "9999", "rows": 1 }])
    );
    assert_eq!(import["held_reason"], Value::Null);
    assert_eq!(import["total_records"], 6, "every line a row: {import}");

    // A disabled clock's uploads are refused and kept by the terminal.
    let (status, body) = admin(
        &stack,
        reqwest::Method::POST,
        &format!("/v1/clocks/{id}/disable"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Every change an admin made to the clock is in the audit log, with who made it.
    let audited = |action: &str| {
        format!(
            "SELECT count(*) AS n FROM import.outbox WHERE message_type = 'audit.recorded.v1' \
             AND payload->>'action' = '{action}' AND payload->>'target' = 'clock:CLK0001' \
             AND payload->>'actor' <> ''"
        )
    };
    for action in ["clock.updated", "clock.approved", "clock.disabled"] {
        assert_eq!(count(&stack, &audited(action)).await, 1, "{action}");
    }
    let failed_before = clock.stats().failed_posts;
    clock.punch_at(pin("1002"), at(19, 0), PunchState::CheckOut);
    wait_for(WAIT, "the upload is refused", || async {
        (clock.stats().failed_posts > failed_before)
            .then_some(())
            .ok_or_else(|| "not yet".to_owned())
    })
    .await;
    assert_eq!(
        clock.pending(),
        1,
        "the refused punch stays on the terminal"
    );
    assert_eq!(
        count(&stack, "SELECT count(*) AS n FROM import.punches").await,
        4
    );
    clock.stop().await;
}

#[tokio::test]
async fn an_admins_clock_is_let_in_from_its_network_only_and_its_other_requests_are_acknowledged() {
    let (stack, clock_base) = stack_with_clocks().await;
    let body = json!({
        "serial_number": "CLK0002",
        "companies": ["advline"],
        "allowed_network": "10.9.9.0/24",
    });
    let response = stack
        .client
        .post(format!("{}/v1/clocks", stack.import_base))
        .bearer_auth(stack.token(Role::Operator))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (status, created) = admin(&stack, reqwest::Method::POST, "/v1/clocks", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["state"], "approved");
    assert_eq!(created["time_zone"], "Asia/Dubai", "the company's");
    let (status, _) = admin(
        &stack,
        reqwest::Method::POST,
        "/v1/clocks",
        Some(json!({ "serial_number": "CLK0002" })),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let clock = terminal(&clock_base, "CLK0002");
    wait_for(WAIT, "the handshake is refused", || async {
        (clock.stats().failed_handshakes > 0)
            .then_some(())
            .ok_or_else(|| "not yet".to_owned())
    })
    .await;
    assert!(!clock.is_handshaken());

    // Inside its network it is let in; tables other than ATTLOG, heartbeats and command results
    // are acknowledged.
    let id = clock_id(&stack, "CLK0002").await;
    let (status, body) = admin(
        &stack,
        reqwest::Method::PATCH,
        &format!("/v1/clocks/{id}"),
        Some(json!({ "allowed_network": "127.0.0.0/8" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    handshaken(&clock).await;
    let terminal_says = |method: reqwest::Method, path: &str, body: &str| {
        let request = stack
            .client
            .request(method, format!("{clock_base}{path}"))
            .body(body.to_owned());
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };
    assert_eq!(
        terminal_says(
            reqwest::Method::POST,
            "/iclock/cdata?SN=CLK0002&table=OPERLOG&Stamp=1",
            "OPLOG 1\nOPLOG 2\n"
        )
        .await,
        (StatusCode::OK, "OK: 2".to_owned())
    );
    assert_eq!(
        terminal_says(reqwest::Method::GET, "/iclock/getrequest?SN=CLK0002", "").await,
        (StatusCode::OK, "OK".to_owned())
    );
    assert_eq!(
        terminal_says(
            reqwest::Method::POST,
            "/iclock/devicecmd?SN=CLK0002",
            "ID=1&Return=0&CMD=INFO\n"
        )
        .await,
        (StatusCode::OK, "OK".to_owned())
    );
    let (status, _) = terminal_says(reqwest::Method::GET, "/iclock/getrequest", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no serial number");
    let (_, listed) = admin(&stack, reqwest::Method::GET, "/v1/clocks", None).await;
    assert!(listed["items"][0]["last_seen_at"].is_string(), "{listed}");
    assert_eq!(
        count(&stack, "SELECT count(*) AS n FROM import.import_rows").await,
        0,
        "only ATTLOG lines are rows"
    );

    // The terminal endpoints are not on the API's listener.
    let response = stack
        .client
        .get(format!("{}/iclock/cdata?SN=CLK0002", stack.import_base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    clock.stop().await;
}

/// A clock registered by an admin for advline (approved at once); its id.
async fn registered_clock(stack: &Stack, serial: &str) -> i64 {
    let (status, created) = admin(
        stack,
        reqwest::Method::POST,
        "/v1/clocks",
        Some(json!({ "serial_number": serial, "companies": ["advline"] })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_i64().unwrap()
}

#[tokio::test]
async fn an_unknown_pin_is_delivered_once_the_directory_has_it_and_the_clocks_import_is_reprocessed(
) {
    let (stack, clock_base) = stack_with_clocks().await;
    let collector = stack.collector().await;
    let id = registered_clock(&stack, "CLK0004").await;
    let clock = terminal(&clock_base, "CLK0004");
    handshaken(&clock).await;
    clock.punch_many([
        (pin("1001"), at(8, 0), PunchState::CheckIn),
        (pin("5555"), at(8, 5), PunchState::CheckIn),
    ]);
    assert!(clock.wait_drained(WAIT).await);
    let (received, _) = collector.settle().await;
    assert_eq!(received["advline"].len(), 1, "{received:?}");
    let (_, rows) = admin(
        &stack,
        reqwest::Method::GET,
        &format!("/v1/clocks/{id}/punches?outcome=invalid"),
        None,
    )
    .await;
    assert_eq!(
        rows["items"][0]["errors"][0]["code"], "unknown_employee",
        "{rows}"
    );
    let import_id = rows["items"][0]["import_id"].as_i64().unwrap();

    // Reprocessing before the directory knows the PIN changes nothing.
    let (status, import) = stack
        .post(&format!("/v1/imports/{import_id}/reprocess"))
        .await;
    assert_eq!(status, StatusCode::OK, "{import}");
    assert_eq!(import["failed_records"], 1, "{import}");

    stack.add_employee("advline", "5555", "Mona").await;
    let (status, import) = stack
        .post(&format!("/v1/imports/{import_id}/reprocess"))
        .await;
    assert_eq!(status, StatusCode::OK, "{import}");
    assert_eq!(import["failed_records"], 0, "{import}");
    assert_eq!(import["unknown_employees"], json!([]), "{import}");
    assert_eq!(import["held_reason"], Value::Null, "{import}");

    let (received, _) = collector.settle().await;
    let advline = &received["advline"];
    assert_eq!(advline.len(), 2, "each punch once: {advline:?}");
    assert!(advline.iter().any(|r| r["empId"] == "5555"), "{advline:?}");
    let (_, rows) = admin(
        &stack,
        reqwest::Method::GET,
        &format!("/v1/clocks/{id}/punches?outcome=invalid"),
        None,
    )
    .await;
    assert_eq!(rows["items"], json!([]), "{rows}");
    clock.stop().await;
}

#[tokio::test]
async fn punches_buffered_by_a_clock_while_the_service_is_down_are_delivered_once_it_is_back() {
    let (mut stack, clock_base) = stack_with_clocks().await;
    let collector = stack.collector().await;
    registered_clock(&stack, "CLK0005").await;
    let clock = terminal(&clock_base, "CLK0005");
    handshaken(&clock).await;
    clock.punch_many([
        (pin("1001"), at(8, 0), PunchState::CheckIn),
        (pin("1002"), at(8, 1), PunchState::CheckIn),
    ]);
    assert!(clock.wait_drained(WAIT).await);
    // The stop is the terminal's concern, not the outbox's: what was stored is sent first.
    wait_for(WAIT, "the stored punches are handed on", || async {
        let unsent = count(
            &stack,
            "SELECT count(*) AS n FROM import.outbox WHERE sent_at IS NULL",
        )
        .await;
        (unsent == 0)
            .then_some(())
            .ok_or_else(|| format!("{unsent} messages unsent"))
    })
    .await;

    stack.import.take().unwrap().stop().await;
    let failed_before = clock.stats().failed_posts;
    clock.punch_many([
        (pin("1001"), at(12, 0), PunchState::BreakOut),
        (pin("1001"), at(13, 0), PunchState::BreakIn),
        (pin("1002"), at(17, 0), PunchState::CheckOut),
    ]);
    wait_for(WAIT, "the terminal finds the service down", || async {
        (clock.stats().failed_posts > failed_before)
            .then_some(())
            .ok_or_else(|| "not yet".to_owned())
    })
    .await;
    assert_eq!(
        clock.pending(),
        3,
        "the terminal keeps what was not acknowledged"
    );

    clocks::restart_import(&mut stack, &clock_base, &ClockOptions::default()).await;
    assert!(
        clock.wait_drained(WAIT).await,
        "the buffer is sent once the service is back"
    );

    let (received, _) = collector.settle().await;
    let advline = &received["advline"];
    let distinct: BTreeSet<(String, String)> = advline
        .iter()
        .map(|r| (r["empId"].to_string(), r["time"].to_string()))
        .collect();
    assert_eq!(advline.len(), 5, "{advline:?}");
    assert_eq!(distinct.len(), 5, "each punch delivered once: {advline:?}");
    assert_eq!(
        count(&stack, "SELECT count(*) AS n FROM import.punches").await,
        5
    );
    clock.stop().await;
}

/// Many terminals of a site call from one address (its router): their allowance is the clock
/// listener's own, not the REST API's, so they are not refused where the API would refuse, and
/// their calls use up nothing of the API's allowance for that address.
#[tokio::test]
async fn terminals_behind_one_address_have_an_allowance_apart_from_the_apis() {
    let (stack, clock_base) = clocks::stack_with(&ClockOptions {
        // One request a second in bursts of ten, per caller, on the REST API.
        api_rate_limit_per_second: Some(std::num::NonZeroU32::new(1).unwrap()),
        ..ClockOptions::default()
    })
    .await;
    for n in 0..40 {
        let response = stack
            .client
            .get(format!(
                "{clock_base}/iclock/cdata?SN=SITE{}&options=all",
                n % 20
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "terminal call {n}");
    }
    // The API's allowance for the same address is whole: ten refused for their missing token,
    // then the eleventh limited.
    let without_token = || async {
        let url = format!("{}/v1/clocks", stack.import_base);
        stack.client.get(url).send().await.unwrap().status()
    };
    for n in 0..10 {
        assert_eq!(
            without_token().await,
            StatusCode::UNAUTHORIZED,
            "API call {n}"
        );
    }
    assert_eq!(without_token().await, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn unknown_terminals_beyond_the_pending_limit_are_refused_and_not_recorded() {
    use diesel_async::{AsyncConnection, RunQueryDsl};
    let (stack, clock_base) = stack_with_clocks().await;
    let mut conn = diesel_async::AsyncPgConnection::establish(stack.env.db.url())
        .await
        .unwrap();
    diesel::sql_query(
        "INSERT INTO import.clocks (serial_number) \
         SELECT 'WAIT' || n FROM generate_series(1, 200) AS n",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let handshake = |serial: &str| {
        let request = stack
            .client
            .get(format!("{clock_base}/iclock/cdata?SN={serial}&options=all"));
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };
    let (_, answer) = handshake("STRANGER1").await;
    assert!(answer.starts_with("ERROR"), "{answer}");
    assert!(answer.contains("approval"), "{answer}");
    let (_, answer) = handshake("WAIT7").await;
    assert!(
        answer.starts_with("GET OPTION FROM: WAIT7"),
        "a waiting clock still calls: {answer}"
    );
    assert_eq!(
        count(&stack, "SELECT count(*) AS n FROM import.clocks").await,
        200,
        "the stranger is not recorded"
    );
}

#[tokio::test]
async fn a_lobby_clock_gives_each_punch_to_its_company_and_flags_a_pin_two_companies_know() {
    let (stack, clock_base) = stack_with_clocks().await;
    let collector = stack.collector().await;
    let (status, created) = admin(
        &stack,
        reqwest::Method::POST,
        "/v1/clocks",
        Some(json!({ "serial_number": "LOBBY01", "companies": ["advline", "clarastars"] })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();
    // 2001 is clarastars's; advline now has a 2001 of its own.
    stack.add_employee("advline", "2001", "Another 2001").await;

    let clock = terminal(&clock_base, "LOBBY01");
    handshaken(&clock).await;
    clock.punch_many([
        (pin("1001"), at(8, 0), PunchState::CheckIn),
        (pin("2002"), at(8, 1), PunchState::CheckIn),
        (pin("2001"), at(8, 2), PunchState::CheckIn),
    ]);
    assert!(clock.wait_drained(WAIT).await);
    let (received, _) = collector.settle().await;
    let emp_ids = |slug: &str| -> Vec<String> {
        received
            .get(slug)
            .map(|records| records.iter().map(|r| r["empId"].to_string()).collect())
            .unwrap_or_default()
    };
    assert_eq!(emp_ids("advline"), ["\"1001\""], "{received:?}");
    assert_eq!(emp_ids("clarastars"), ["\"2002\""], "{received:?}");

    let (status, rows) = admin(
        &stack,
        reqwest::Method::GET,
        &format!("/v1/clocks/{id}/punches?outcome=invalid"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    let invalid = rows["items"].as_array().unwrap();
    assert_eq!(invalid.len(), 1, "{rows}");
    assert_eq!(invalid[0]["raw"][0], "2001");
    assert_eq!(
        invalid[0]["errors"][0]["code"], "ambiguous_employee",
        "{rows}"
    );
    let message = invalid[0]["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("advline") && message.contains("clarastars"),
        "{message}"
    );
    clock.stop().await;
}
