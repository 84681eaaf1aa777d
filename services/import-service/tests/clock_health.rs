//! Clock health: a clock-sim terminal that stops calling is reported silent once
//! `CLOCK_SILENT_AFTER` has passed, on the REST view and in `/metrics` (the series the
//! `ClockSilent` alert reads; deploy/prometheus/alerts.test.yml shows the rule firing on them),
//! and calling again clears it. The punches it put into the ledger today are counted.

mod common;

use std::time::Duration;

use auth::Role;
use chrono::{NaiveDate, NaiveDateTime};
use clock_push::{Pin, PunchState};
use clock_sim::Terminal;
use common::clocks::{self, call, gauge, ClockOptions};
use common::Stack;
use reqwest::StatusCode;
use serde_json::{json, Value};
use test_support::wait_for;

const WAIT: Duration = Duration::from_secs(30);
/// Short, so the test sees a clock fall silent; long enough that a terminal calling every
/// [`HEARTBEAT`] never is.
const SILENT_AFTER: Duration = Duration::from_secs(2);
const HEARTBEAT: Duration = Duration::from_millis(200);

/// The usual stack (see `common`) with the terminal endpoints on a listener of their own and
/// `CLOCK_SILENT_AFTER` of [`SILENT_AFTER`]; the terminals' base URL.
async fn stack_with_clocks() -> (Stack, String) {
    clocks::stack_with(&ClockOptions {
        clock_silent_after: SILENT_AFTER,
        ..ClockOptions::default()
    })
    .await
}

fn terminal(base: &str, serial: &str) -> Terminal {
    clocks::terminal(base, serial, HEARTBEAT)
}

fn at(h: u32, m: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, 5)
        .unwrap()
        .and_hms_opt(h, m, 0)
        .unwrap()
}

/// Registers the clock `serial` of advline as an admin does before it first calls (approved):
/// the clock as the answer shows it.
async fn register(stack: &Stack, serial: &str) -> Value {
    let (status, created) = call(
        stack,
        Role::Admin,
        reqwest::Method::POST,
        "/v1/clocks",
        Some(json!({ "serial_number": serial, "companies": ["advline"] })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

/// The clock with `serial` as `GET /v1/clocks` shows it to a viewer.
async fn listed(stack: &Stack, serial: &str) -> Value {
    let (status, body) = call(
        stack,
        Role::Viewer,
        reqwest::Method::GET,
        "/v1/clocks",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["serial_number"] == serial)
        .cloned()
        .unwrap_or_else(|| panic!("clock {serial} not listed: {body}"))
}

async fn clock_gauge(stack: &Stack, name: &str, serial: &str) -> Option<f64> {
    gauge(stack, name, "clock", serial).await
}

/// Waits until `/metrics` shows `name{clock="serial"}` at `value`.
async fn wait_for_gauge(stack: &Stack, name: &str, serial: &str, value: f64) {
    wait_for(
        WAIT,
        &format!("{name}{{clock={serial:?}}} {value}"),
        || async {
            match clock_gauge(stack, name, serial).await {
                Some(v) if v == value => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
}

/// Waits until the REST view of the clock says `silent: silent`.
async fn wait_for_silent(stack: &Stack, serial: &str, silent: bool) -> Value {
    wait_for(
        WAIT,
        &format!("clock {serial} silent: {silent}"),
        || async {
            let clock = listed(stack, serial).await;
            if clock["silent"] == silent {
                Ok(clock)
            } else {
                Err(clock.to_string())
            }
        },
    )
    .await
}

/// The test counts the clock's punches of its local day: started shortly before the clock's
/// midnight, it would see them counted for one day and then none for the next. It then waits for
/// the new day first.
async fn wait_out_local_midnight(clock: &Value) {
    const TEST_LASTS_AT_MOST: Duration = Duration::from_secs(120);
    let zone: chrono_tz::Tz = clock["time_zone"]
        .as_str()
        .and_then(|zone| zone.parse().ok())
        .unwrap_or_else(|| panic!("the clock's time zone: {clock}"));
    let now = chrono::Utc::now().with_timezone(&zone);
    let next_day = now
        .date_naive()
        .succ_opt()
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let left = (next_day - now.naive_local()).to_std().unwrap_or_default();
    if left < TEST_LASTS_AT_MOST {
        tokio::time::sleep(left + Duration::from_secs(1)).await;
    }
}

#[tokio::test]
async fn a_silent_clock_raises_its_alert_and_calling_again_clears_it() {
    let (stack, clock_base) = stack_with_clocks().await;
    let clock = terminal(&clock_base, "HLT0001");
    wait_for(WAIT, "the terminal handshakes", || async {
        clock
            .is_handshaken()
            .then_some(())
            .ok_or_else(|| "not yet".to_owned())
    })
    .await;
    let pending = listed(&stack, "HLT0001").await;
    wait_out_local_midnight(&pending).await;
    assert_eq!(pending["state"], "pending");
    assert_eq!(pending["silent"], false, "a pending clock is never silent");
    assert_eq!(pending["punches_today"], 0);
    assert_eq!(
        clock_gauge(&stack, "bridge_clock_silent", "HLT0001").await,
        None,
        "only approved clocks have series"
    );

    // Its companies, its punches (one PIN no company knows), its approval.
    let id = pending["id"].as_i64().unwrap();
    let (status, body) = call(
        &stack,
        Role::Admin,
        reqwest::Method::PATCH,
        &format!("/v1/clocks/{id}"),
        Some(json!({ "companies": ["advline"] })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    clock.punch_many([
        (Pin::parse("1001").unwrap(), at(8, 0), PunchState::CheckIn),
        (Pin::parse("1002").unwrap(), at(8, 5), PunchState::CheckIn),
        (Pin::parse("9999").unwrap(), at(8, 6), PunchState::CheckIn),
    ]);
    assert!(clock.wait_drained(WAIT).await, "the upload is acknowledged");
    let (status, approved) = call(
        &stack,
        Role::Admin,
        reqwest::Method::POST,
        &format!("/v1/clocks/{id}/approve"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["punches_today"], 2, "{approved}");
    assert_eq!(approved["silent"], false, "{approved}");

    // Calling every HEARTBEAT, it stays in health, for longer than SILENT_AFTER.
    wait_for_gauge(&stack, "bridge_clock_punches_today", "HLT0001", 2.0).await;
    let heartbeats = clock.stats().heartbeats;
    wait_for(
        WAIT,
        "heartbeats for longer than CLOCK_SILENT_AFTER",
        || async {
            (clock.stats().heartbeats > heartbeats + 2 * 2_000 / 200)
                .then_some(())
                .ok_or_else(|| "not yet".to_owned())
        },
    )
    .await;
    assert_eq!(listed(&stack, "HLT0001").await["silent"], false);
    assert_eq!(
        clock_gauge(&stack, "bridge_clock_silent", "HLT0001").await,
        Some(0.0)
    );
    let seen = clock_gauge(
        &stack,
        "bridge_clock_last_seen_timestamp_seconds",
        "HLT0001",
    )
    .await
    .expect("the clock's last call");
    assert!(
        (seen - chrono::Utc::now().timestamp() as f64).abs() < 10.0,
        "{seen}"
    );

    // Off the network: silent once CLOCK_SILENT_AFTER has passed, on the REST view and in the
    // series the ClockSilent alert reads.
    clock.set_offline(true);
    let silent = wait_for_silent(&stack, "HLT0001", true).await;
    assert_eq!(silent["punches_today"], 2, "{silent}");
    wait_for_gauge(&stack, "bridge_clock_silent", "HLT0001", 1.0).await;

    // Back on it, its next heartbeat clears it.
    clock.set_offline(false);
    wait_for_silent(&stack, "HLT0001", false).await;
    wait_for_gauge(&stack, "bridge_clock_silent", "HLT0001", 0.0).await;

    // A disabled clock is not watched.
    let (status, body) = call(
        &stack,
        Role::Admin,
        reqwest::Method::POST,
        &format!("/v1/clocks/{id}/disable"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["silent"], false);
    wait_for(WAIT, "the disabled clock's series go", || async {
        match clock_gauge(&stack, "bridge_clock_silent", "HLT0001").await {
            None => Ok(()),
            Some(v) => Err(v.to_string()),
        }
    })
    .await;
    clock.stop().await;
}

#[tokio::test]
async fn an_admins_clock_that_never_calls_is_silent_after_the_grace() {
    let (stack, _clock_base) = stack_with_clocks().await;
    let created = register(&stack, "HLT0002").await;
    assert_eq!(created["silent"], false, "registered just now: {created}");
    assert_eq!(created["punches_today"], 0);
    let silent = wait_for_silent(&stack, "HLT0002", true).await;
    assert!(silent["last_seen_at"].is_null(), "{silent}");
    wait_for_gauge(&stack, "bridge_clock_silent", "HLT0002", 1.0).await;
    assert_eq!(
        clock_gauge(
            &stack,
            "bridge_clock_last_seen_timestamp_seconds",
            "HLT0002"
        )
        .await,
        None,
        "never seen"
    );
}

/// Makes writing a clock's last punch take `pause` in the test's database, as on a busy server:
/// whatever shows between the punches' commit and that write, a reading shows meanwhile.
async fn slow_last_punch_writes(stack: &Stack, pause: Duration) {
    use diesel_async::{AsyncConnection, SimpleAsyncConnection};
    let mut conn = diesel_async::AsyncPgConnection::establish(stack.env.db.url())
        .await
        .unwrap();
    conn.batch_execute(&format!(
        "CREATE FUNCTION public.slow_last_punch() RETURNS trigger LANGUAGE plpgsql AS \
           $$ BEGIN PERFORM pg_sleep({}); RETURN NEW; END $$; \
         CREATE TRIGGER slow_last_punch BEFORE UPDATE OF last_punch_at ON import.clocks \
           FOR EACH ROW WHEN (NEW.last_punch_at IS DISTINCT FROM OLD.last_punch_at) \
           EXECUTE FUNCTION public.slow_last_punch()",
        pause.as_secs_f64()
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn a_clocks_punches_of_the_day_never_show_without_its_last_punch() {
    let (stack, clock_base) = stack_with_clocks().await;
    let created = register(&stack, "HLT0003").await;
    wait_out_local_midnight(&created).await;
    slow_last_punch_writes(&stack, Duration::from_secs(2)).await;

    let clock = terminal(&clock_base, "HLT0003");
    clock.punch(Pin::parse("1001").unwrap(), PunchState::CheckIn);
    // Every reading until the last punch shows: the punch counted goes with its time.
    let shown = wait_for(WAIT, "the clock's last punch shows", || async {
        let listed = listed(&stack, "HLT0003").await;
        let counted = listed["punches_today"].as_i64().unwrap_or_default() > 0;
        let last_punch = !listed["last_punch_at"].is_null();
        assert_eq!(
            counted, last_punch,
            "the punches of the day and the last punch disagree: {listed}"
        );
        last_punch
            .then_some(listed.clone())
            .ok_or(listed.to_string())
    })
    .await;
    assert_eq!(shown["punches_today"], 1, "{shown}");
    clock.stop().await;
}

#[test]
fn clock_silent_after_is_read_from_the_environment_in_seconds() {
    let env = |silent: Option<&str>| {
        settings::Env::from_pairs(
            [
                ("DATABASE_URL", "postgres://localhost/x"),
                ("AMQP_URL", "amqp://localhost"),
                ("CONFIG_SERVICE_URL", "http://127.0.0.1:1"),
            ]
            .into_iter()
            .chain(silent.map(|s| ("CLOCK_SILENT_AFTER", s)))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .chain(test_support::test_keys().env(Some(auth::Signer::ImportService))),
        )
    };
    let read =
        |silent| import_service::Settings::from_env(&env(silent)).map(|s| s.clock_silent_after);
    assert_eq!(read(None).unwrap(), Duration::from_secs(1800));
    assert_eq!(read(Some("2")).unwrap(), SILENT_AFTER);
    assert!(read(Some("soon")).is_err());
}
