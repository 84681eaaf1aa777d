//! BioTime servers (the clock-sim stand-in) pulled into the punch ledger: registration, paged
//! pulls delivered once, a pull across a restart that stores nothing twice and skips nothing
//! (late transactions with older punch times included), failures shown and retried, roles and
//! company scope, and the password never shown.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use auth::Role;
use clock_push::PunchState;
use clock_sim::biotime::{spawn_biotime, BioTimeConfig, NewTransaction, RunningBioTime};
use common::clocks::{self, count, gauge, ClockOptions};
use common::Stack;
use import_service::clocks::biotime::PullSettings;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use test_support::{wait_for, TestEnv};

const WAIT: Duration = Duration::from_secs(30);
const PASSWORD: &str = "Bi0-s3cret-passw0rd";

fn pull_settings(keys: Option<&Arc<crypto::MasterKeys>>, tick: Duration) -> PullSettings {
    PullSettings {
        master_keys: keys.cloned(),
        tick,
        // Small pages, so a pull goes over several.
        page_size: 2,
        retry: Duration::from_millis(200),
        timeout: Duration::from_secs(5),
    }
}

fn master_keys() -> Arc<crypto::MasterKeys> {
    let value = format!("biotime-test:{}", crypto::generate_master_key());
    Arc::new(crypto::MasterKeys::parse(&value).unwrap())
}

fn options(biotime: PullSettings) -> ClockOptions {
    ClockOptions {
        biotime,
        terminals: false,
        ..ClockOptions::default()
    }
}

/// config-service and import-service (pulling as `biotime` says).
async fn stack_with(biotime: PullSettings) -> Stack {
    clocks::stack_with(&options(biotime)).await.0
}

async fn start_import(
    env: &TestEnv,
    config_base: &str,
    storage: &std::path::Path,
    biotime: PullSettings,
) -> service_kit::RunningService {
    clocks::start_import(env, config_base, storage, None, &options(biotime)).await
}

async fn biotime() -> RunningBioTime {
    spawn_biotime(
        "127.0.0.1:0",
        BioTimeConfig {
            password: PASSWORD.to_owned(),
            ..BioTimeConfig::default()
        },
    )
    .await
    .unwrap()
}

/// Every answer's text, to check that the password is never in one.
#[derive(Default)]
struct Seen(std::sync::Mutex<Vec<String>>);

impl Seen {
    fn assert_no_password(&self) {
        for text in self.0.lock().unwrap().iter() {
            assert!(!text.contains(PASSWORD), "the password is shown: {text}");
        }
    }
}

async fn call(
    stack: &Stack,
    seen: &Seen,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (status, text) = clocks::request(stack, token, method, path, body).await;
    seen.0.lock().unwrap().push(text.clone());
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn admin(
    stack: &Stack,
    seen: &Seen,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    call(stack, seen, &stack.token(Role::Admin), method, path, body).await
}

fn transaction(emp: &str, time: &str, state: PunchState, department: &str) -> NewTransaction {
    let mut t = NewTransaction::new(emp, &format!("2026-11-05 {time}"), state);
    t.department = department.to_owned();
    t.area_alias = "HQ".to_owned();
    t
}

fn registration(name: &str, url: &str, password: &str) -> Value {
    json!({
        "name": name,
        "url": url,
        "username": "admin",
        "password": password,
        "mapping": { "by": "department", "companies": { "AdvLine": "advline", "Clara": ["clarastars"] } },
        "interval_seconds": 3600,
    })
}

/// The distinct (empId, time) pairs delivered to a company, and how many records there were.
fn delivered(
    received: &std::collections::BTreeMap<String, Vec<Value>>,
    slug: &str,
) -> (usize, usize) {
    let records = received.get(slug).cloned().unwrap_or_default();
    let distinct: BTreeSet<(String, String)> = records
        .iter()
        .map(|r| (r["empId"].to_string(), r["time"].to_string()))
        .collect();
    (records.len(), distinct.len())
}

#[tokio::test]
async fn a_pull_across_a_restart_stores_nothing_twice_and_skips_nothing() {
    let keys = master_keys();
    let settings = pull_settings(Some(&keys), Duration::from_secs(3600));
    let mut stack = stack_with(settings.clone()).await;
    let seen = Seen::default();
    let collector = stack.collector().await;
    let server = biotime().await;

    let (status, body) = admin(
        &stack,
        &seen,
        Method::POST,
        "/v1/biotime-servers",
        Some(registration("head-office", &server.base_url(), PASSWORD)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["password"], "••••");
    assert_eq!(body["mapping"]["companies"]["AdvLine"], json!(["advline"]));
    assert_eq!(body["time_zone"], "Asia/Dubai", "the first company's");
    assert_eq!(body["cursor"]["last_id"], 0);
    let id = body["id"].as_i64().unwrap();

    // Five transactions over three pages: four of known employees, one of a department that is
    // mapped to no company.
    server
        .add_transactions([
            transaction("1001", "08:00:00", PunchState::CheckIn, "AdvLine"),
            transaction("2001", "08:05:00", PunchState::CheckIn, "Clara"),
            transaction("1002", "08:10:00", PunchState::CheckIn, "AdvLine"),
            transaction("1003", "08:15:00", PunchState::CheckIn, "Nowhere"),
            transaction("1001", "17:00:00", PunchState::CheckOut, "AdvLine"),
        ])
        .unwrap();
    let (status, body) = admin(
        &stack,
        &seen,
        Method::POST,
        &format!("/v1/biotime-servers/{id}/pull"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["last_error"], Value::Null, "{body}");
    assert!(body["last_success_at"].is_string(), "{body}");
    assert_eq!(body["cursor"]["last_id"], 5, "{body}");
    assert_eq!(body["cursor"]["transactions"], 5, "{body}");
    assert_eq!(
        body["cursor"]["last_punch_time"], "2026-11-05T17:00:00",
        "{body}"
    );
    let (received, _) = collector.settle().await;
    assert_eq!(delivered(&received, "advline"), (3, 3), "{received:?}");
    assert_eq!(delivered(&received, "clarastars"), (1, 1), "{received:?}");
    let rows = "SELECT count(*) AS n FROM import.import_rows r JOIN import.biotime_days d \
                ON d.import_id = r.import_id";
    assert_eq!(count(&stack, rows).await, 5);
    let unmapped = format!(
        "{rows} WHERE r.outcome = 'invalid' AND r.errors->0->>'code' = 'unmapped_department' \
         AND r.errors->0->>'message' LIKE '%\"Nowhere\"%'"
    );
    assert_eq!(
        count(&stack, &unmapped).await,
        1,
        "the unmapped department's row"
    );

    // import-service stops; meanwhile a terminal delivers a punch made before the last one
    // pulled (an older punch time, a newer id) and a new one.
    stack.import.take().unwrap().stop().await;
    server
        .add_transactions([
            transaction("1004", "07:30:00", PunchState::CheckIn, "AdvLine"),
            transaction("1002", "17:30:00", PunchState::CheckOut, "AdvLine"),
        ])
        .unwrap();
    let import = start_import(&stack.env, &stack.config_base, &stack.storage, settings).await;
    stack.import_base = import.base_url();
    stack.import = Some(import);
    let pages_before = server.stats().transaction_pages;
    let (status, body) = admin(
        &stack,
        &seen,
        Method::POST,
        &format!("/v1/biotime-servers/{id}/pull"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["cursor"]["last_id"], 7, "{body}");
    assert_eq!(body["cursor"]["transactions"], 7, "{body}");
    assert_eq!(
        server.stats().transaction_pages - pages_before,
        2,
        "the pull starts at the cursor's page (3 of 4), not at the first"
    );
    // Once more: nothing new.
    let (status, body) = admin(
        &stack,
        &seen,
        Method::POST,
        &format!("/v1/biotime-servers/{id}/pull"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["cursor"]["transactions"], 7, "{body}");

    // Every transaction is one row, each id once; each punch delivered once.
    assert_eq!(count(&stack, rows).await, 7);
    let ids = "SELECT count(DISTINCT r.raw->>5) AS n FROM import.import_rows r \
               JOIN import.biotime_days d ON d.import_id = r.import_id";
    assert_eq!(count(&stack, ids).await, 7);
    assert_eq!(
        count(&stack, "SELECT count(*) AS n FROM import.punches").await,
        6
    );
    let (received, _) = collector.settle().await;
    assert_eq!(delivered(&received, "advline"), (5, 5), "{received:?}");
    assert_eq!(delivered(&received, "clarastars"), (1, 1), "{received:?}");

    // The rows are in the server's import of the day, filed as pulled from it.
    let (status, list) = admin(&stack, &seen, Method::GET, "/v1/biotime-servers", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["items"][0]["cursor"]["last_id"], 7);
    let import_id = count(
        &stack,
        &format!("SELECT max(import_id) AS n FROM import.biotime_days WHERE server_id = {id}"),
    )
    .await;
    let (status, import) = admin(
        &stack,
        &seen,
        Method::GET,
        &format!("/v1/imports/{import_id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{import}");
    assert_eq!(import["uploaded_by"], "biotime:head-office");
    assert_eq!(import["total_records"], 7, "{import}");

    // Changes are audited, the password in none of them, nor stored in the clear.
    let audited = |action: &str| {
        format!(
            "SELECT count(*) AS n FROM import.outbox WHERE message_type = 'audit.recorded.v1' \
             AND payload->>'action' = '{action}' AND payload->>'target' = 'biotime:head-office'"
        )
    };
    assert_eq!(
        count(&stack, &audited("biotime_server.registered")).await,
        1
    );
    assert_eq!(
        count(&stack, &audited("biotime_server.pull_requested")).await,
        3
    );
    let leaked =
        format!("SELECT count(*) AS n FROM import.outbox WHERE payload::text LIKE '%{PASSWORD}%'");
    assert_eq!(count(&stack, &leaked).await, 0);
    let clear = format!(
        "SELECT count(*) AS n FROM import.biotime_servers WHERE password_sealed LIKE '%{PASSWORD}%' \
         OR password_sealed NOT LIKE 'v2:biotime-test:%'"
    );
    assert_eq!(count(&stack, &clear).await, 0);
    seen.assert_no_password();
}

#[tokio::test]
async fn a_failing_server_is_shown_and_retried_until_it_succeeds() {
    let keys = master_keys();
    let stack = stack_with(pull_settings(Some(&keys), Duration::from_millis(200))).await;
    let seen = Seen::default();
    let server = biotime().await;
    server
        .add_transactions([transaction(
            "1001",
            "08:00:00",
            PunchState::CheckIn,
            "AdvLine",
        )])
        .unwrap();
    server.fail_for(Duration::from_secs(3600));

    let (status, body) = admin(
        &stack,
        &seen,
        Method::POST,
        "/v1/biotime-servers",
        Some(registration("branch", &server.base_url(), PASSWORD)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_i64().unwrap();
    // Shown as failing, by the REST view and the metric.
    let failing = wait_for(WAIT, "the failed pull is shown", || async {
        let (_, list) = admin(&stack, &seen, Method::GET, "/v1/biotime-servers", None).await;
        let item = list["items"][0].clone();
        (item["failing_since"].is_string() && item["consecutive_failures"].as_i64() >= Some(2))
            .then_some(item)
            .ok_or_else(|| format!("not yet: {list}"))
    })
    .await;
    let error = failing["last_error"].as_str().unwrap();
    assert!(error.contains("500"), "{error}");
    assert!(failing["last_success_at"].is_null());
    assert_eq!(failing["cursor"]["transactions"], 0);
    wait_for(WAIT, "the metric shows the failure", || async {
        match gauge(
            &stack,
            "bridge_biotime_pull_failing_seconds",
            "server",
            "branch",
        )
        .await
        {
            Some(v) if v > 0.0 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let (status, body) = admin(
        &stack,
        &seen,
        Method::POST,
        &format!("/v1/biotime-servers/{id}/pull"),
        None,
    )
    .await;
    assert!(
        status == StatusCode::OK || status == StatusCode::ACCEPTED,
        "{status} {body}"
    );
    assert!(body["failing_since"].is_string(), "{body}");

    // The server recovers: the next retry succeeds without anyone asking.
    server.stop_failing();
    wait_for(WAIT, "a retry succeeds", || async {
        let (_, list) = admin(&stack, &seen, Method::GET, "/v1/biotime-servers", None).await;
        let item = &list["items"][0];
        (item["failing_since"].is_null() && item["cursor"]["transactions"] == 1)
            .then_some(())
            .ok_or_else(|| format!("not yet: {list}"))
    })
    .await;
    wait_for(WAIT, "the metric shows the success", || async {
        let failing = gauge(
            &stack,
            "bridge_biotime_pull_failing_seconds",
            "server",
            "branch",
        )
        .await;
        let success = gauge(
            &stack,
            "bridge_biotime_last_success_timestamp_seconds",
            "server",
            "branch",
        )
        .await;
        match (failing, success) {
            (Some(f), Some(s)) if f == 0.0 && s > 0.0 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(
        count(&stack, "SELECT count(*) AS n FROM import.punches").await,
        1
    );

    // A wrong password is a failure that says so, without any password in it.
    let (status, body) = admin(
        &stack,
        &seen,
        Method::POST,
        "/v1/biotime-servers",
        Some(registration(
            "wrong",
            &server.base_url(),
            "not-the-password",
        )),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let wrong = body["id"].as_i64().unwrap();
    let (status, body) = admin(
        &stack,
        &seen,
        Method::POST,
        &format!("/v1/biotime-servers/{wrong}/pull"),
        None,
    )
    .await;
    assert!(
        status == StatusCode::OK || status == StatusCode::ACCEPTED,
        "{status} {body}"
    );
    let body = wait_for(WAIT, "the refused login is shown", || async {
        let (_, list) = admin(&stack, &seen, Method::GET, "/v1/biotime-servers", None).await;
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == wrong && s["last_error"].is_string())
            .cloned()
            .ok_or_else(|| format!("not yet: {list}"))
    })
    .await;
    let error = body["last_error"].as_str().unwrap();
    assert!(error.contains("logging in answered 400"), "{error}");
    assert!(!error.contains("not-the-password"), "{error}");

    // A disabled server is not pulled.
    let (status, body) = admin(
        &stack,
        &seen,
        Method::PATCH,
        &format!("/v1/biotime-servers/{wrong}"),
        Some(json!({ "enabled": false })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "disabled");
    let (status, body) = admin(
        &stack,
        &seen,
        Method::POST,
        &format!("/v1/biotime-servers/{wrong}/pull"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "biotime_server_disabled");
    seen.assert_no_password();
}

#[tokio::test]
async fn roles_scope_and_bad_input_are_refused() {
    let keys = master_keys();
    let stack = stack_with(pull_settings(Some(&keys), Duration::from_secs(3600))).await;
    let seen = Seen::default();
    let url = "http://127.0.0.1:9";
    let register = |name: &str, companies: Value| {
        json!({
            "name": name, "url": url, "username": "admin", "password": PASSWORD,
            "mapping": { "by": "area", "companies": companies }, "enabled": false,
        })
    };
    let (status, both) = admin(
        &stack,
        &seen,
        Method::POST,
        "/v1/biotime-servers",
        Some(register("both", json!({ "HQ": ["advline", "clarastars"] }))),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{both}");
    let (status, clara) = admin(
        &stack,
        &seen,
        Method::POST,
        "/v1/biotime-servers",
        Some(register("clara", json!({ "*": "clarastars" }))),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{clara}");
    let (both, clara) = (both["id"].as_i64().unwrap(), clara["id"].as_i64().unwrap());

    // Viewers and operators read, never change.
    let clara_path = format!("/v1/biotime-servers/{clara}");
    let clara_pull = format!("{clara_path}/pull");
    for role in [Role::Viewer, Role::Operator] {
        let token = stack.token(role);
        let (status, list) = call(
            &stack,
            &seen,
            &token,
            Method::GET,
            "/v1/biotime-servers",
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(list["items"].as_array().unwrap().len(), 2);
        for (method, path, body) in [
            (
                Method::POST,
                "/v1/biotime-servers",
                Some(register("x", json!({ "*": "advline" }))),
            ),
            (
                Method::PATCH,
                clara_path.as_str(),
                Some(json!({ "interval_seconds": 60 })),
            ),
            (Method::POST, clara_pull.as_str(), None),
        ] {
            let (status, answer) = call(&stack, &seen, &token, method.clone(), path, body).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{role:?} {method} {path}: {answer}"
            );
        }
    }

    // An admin limited to clarastars: only the server all of whose companies it covers.
    let limited = test_support::token("clara-admin", Role::Admin, Some(&["clarastars"]));
    let (status, list) = call(
        &stack,
        &seen,
        &limited,
        Method::GET,
        "/v1/biotime-servers",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let ids: Vec<i64> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [clara]);
    let both_path = format!("/v1/biotime-servers/{both}");
    let both_pull = format!("{both_path}/pull");
    for (method, path, body) in [
        (
            Method::PATCH,
            both_path.as_str(),
            Some(json!({ "interval_seconds": 60 })),
        ),
        (Method::POST, both_pull.as_str(), None),
        // A company outside the token is not named to it, as everywhere.
        (
            Method::PATCH,
            clara_path.as_str(),
            Some(json!({ "mapping": { "by": "area", "companies": { "*": "advline" } } })),
        ),
        (
            Method::POST,
            "/v1/biotime-servers",
            Some(register("adv", json!({ "*": "advline" }))),
        ),
    ] {
        let (status, answer) = call(&stack, &seen, &limited, method.clone(), path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
    }
    let (status, body) = call(
        &stack,
        &seen,
        &limited,
        Method::PATCH,
        &clara_path,
        Some(json!({ "interval_seconds": 60, "password": "another-secret" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["interval_seconds"], 60);
    assert_eq!(body["password"], "••••");

    // Bad input names the problem.
    for (change, code) in [
        (json!({ "url": "ftp://10.0.0.1/" }), "invalid_url"),
        (
            json!({ "url": format!("http://admin:{PASSWORD}@10.0.0.1:8081") }),
            "invalid_url",
        ),
        (json!({ "url": "not a url" }), "invalid_url"),
        (
            json!({ "mapping": { "by": "department", "companies": {} } }),
            "invalid_mapping",
        ),
        (
            json!({ "mapping": { "by": "department", "companies": { "Sales": "nosuch" } } }),
            "unknown_company",
        ),
        (json!({ "time_zone": "Mars/Base" }), "invalid_time_zone"),
        (json!({ "interval_seconds": 1 }), "invalid_interval"),
        (json!({ "since": "yesterday" }), "invalid_since"),
        (json!({ "name": " " }), "invalid_name"),
    ] {
        let mut body = register("bad", json!({ "*": "advline" }));
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, answer) = admin(
            &stack,
            &seen,
            Method::POST,
            "/v1/biotime-servers",
            Some(body),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{change}: {answer}"
        );
        assert_eq!(answer["code"], code, "{change}: {answer}");
    }
    let (status, body) = admin(
        &stack,
        &seen,
        Method::POST,
        "/v1/biotime-servers",
        Some(register("clara", json!({ "*": "clarastars" }))),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "biotime_server_exists");

    // Without its own master keys, import-service registers no server.
    let storage = std::env::temp_dir().join(test_support::unique_name("imports"));
    let unkeyed = start_import(
        &stack.env,
        &stack.config_base,
        &storage,
        pull_settings(None, Duration::from_secs(3600)),
    )
    .await;
    let response = stack
        .client
        .post(format!("{}/v1/biotime-servers", unkeyed.base_url()))
        .bearer_auth(stack.token(Role::Admin))
        .json(&register("unkeyed", json!({ "*": "advline" })))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "biotime_not_configured", "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("IMPORT_MASTER_KEYS"),
        "{body}"
    );
    unkeyed.stop().await;
    let _ = std::fs::remove_dir_all(storage);
    seen.assert_no_password();
}

#[tokio::test]
async fn two_replicas_pulling_at_once_store_each_transaction_once() {
    let keys = master_keys();
    let settings = pull_settings(Some(&keys), Duration::from_secs(3600));
    let stack = stack_with(settings.clone()).await;
    let storage = std::env::temp_dir().join(test_support::unique_name("imports"));
    let other = start_import(&stack.env, &stack.config_base, &storage, settings).await;
    let seen = Seen::default();
    let server = biotime().await;
    let (status, body) = admin(
        &stack,
        &seen,
        Method::POST,
        "/v1/biotime-servers",
        Some(registration("shared", &server.base_url(), PASSWORD)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_i64().unwrap();
    let times = [
        "08:00:00", "08:01:00", "08:02:00", "08:03:00", "08:04:00", "08:05:00",
    ];
    server
        .add_transactions(
            times
                .iter()
                .map(|t| transaction("1001", t, PunchState::CheckIn, "AdvLine")),
        )
        .unwrap();

    let pull = |base: String| {
        let client = stack.client.clone();
        let token = stack.token(Role::Admin);
        async move {
            let response = client
                .post(format!("{base}/v1/biotime-servers/{id}/pull"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            response.status()
        }
    };
    let (a, b) = tokio::join!(pull(stack.import_base.clone()), pull(other.base_url()));
    for status in [a, b] {
        assert!(
            status == StatusCode::OK || status == StatusCode::ACCEPTED,
            "{status}"
        );
    }
    // Whichever replica pulled, and however the two met, once.
    let (status, body) = admin(
        &stack,
        &seen,
        Method::POST,
        &format!("/v1/biotime-servers/{id}/pull"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["cursor"]["transactions"], 6, "{body}");
    let rows = "SELECT count(*) AS n FROM import.import_rows r JOIN import.biotime_days d \
                ON d.import_id = r.import_id";
    assert_eq!(count(&stack, rows).await, 6);
    assert_eq!(
        count(&stack, "SELECT count(*) AS n FROM import.punches").await,
        6
    );
    other.stop().await;
    let _ = std::fs::remove_dir_all(storage);
    seen.assert_no_password();
}
