//! The BioTime stand-in through HTTP, as a puller would use it.

use std::time::Duration;

use clock_push::PunchState;
use clock_sim::{spawn_biotime, BioTimeConfig, NewTransaction, RunningBioTime};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn start(config: BioTimeConfig) -> RunningBioTime {
    spawn_biotime("127.0.0.1:0", config)
        .await
        .expect("the stand-in starts")
}

async fn login(sim: &RunningBioTime, path: &str, body: Value) -> (StatusCode, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", sim.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.json().await.unwrap_or(Value::Null))
}

async fn jwt(sim: &RunningBioTime) -> String {
    let (status, body) = login(
        sim,
        "/jwt-api-token-auth/",
        json!({"username": "admin", "password": "admin"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    body["token"].as_str().unwrap().to_owned()
}

async fn get(url: &str, auth: Option<&str>) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn transactions(sim: &RunningBioTime, query: &str, auth: &str) -> (StatusCode, Value) {
    get(
        &format!("{}/iclock/api/transactions/?{query}", sim.base_url()),
        Some(auth),
    )
    .await
}

fn ids(page: &Value) -> Vec<u64> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect()
}

fn punch(emp: &str, time: &str, state: PunchState, sn: &str) -> NewTransaction {
    NewTransaction::new(emp, time, state).on_terminal(sn, &format!("Door {sn}"))
}

#[tokio::test]
async fn logins_give_tokens_and_refuse_wrong_credentials() {
    let sim = start(BioTimeConfig::default()).await;
    for path in ["/jwt-api-token-auth/", "/api-token-auth/"] {
        let (status, body) = login(
            &sim,
            path,
            json!({"username": "admin", "password": "wrong"}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            json!({"non_field_errors": ["Unable to log in with provided credentials."]})
        );
        let (status, body) = login(&sim, path, json!({"username": "admin"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body, json!({"password": ["This field is required."]}));
    }
    // Form bodies are taken too.
    let resp = reqwest::Client::new()
        .post(format!("{}/api-token-auth/", sim.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=admin&password=admin")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let token = resp.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, _) = transactions(&sim, "", &format!("Token {token}")).await;
    assert_eq!(status, StatusCode::OK);
    let jwt = jwt(&sim).await;
    let (status, _) = transactions(&sim, "", &format!("JWT {jwt}")).await;
    assert_eq!(status, StatusCode::OK);

    // A token under the other scheme, a made-up one, or none: 401.
    for auth in [
        Some(format!("JWT {token}")),
        Some(format!("Token {jwt}")),
        Some("JWT nope".to_owned()),
        Some("Bearer x".to_owned()),
        None,
    ] {
        let (status, body) = get(
            &format!("{}/iclock/api/transactions/", sim.base_url()),
            auth.as_deref(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert!(body["detail"].is_string());
    }
    let stats = sim.stats();
    assert_eq!(
        (stats.logins, stats.refused_logins, stats.unauthorized),
        (2, 4, 5)
    );
    sim.stop().await;
}

#[tokio::test]
async fn jwt_tokens_expire() {
    let sim = start(BioTimeConfig {
        token_ttl: Duration::ZERO,
        ..BioTimeConfig::default()
    })
    .await;
    let token = jwt(&sim).await;
    let (status, body) = transactions(&sim, "", &format!("JWT {token}")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["detail"], "Signature has expired.");
    sim.stop().await;

    let sim = start(BioTimeConfig::default()).await;
    let token = jwt(&sim).await;
    let auth = format!("JWT {token}");
    assert_eq!(transactions(&sim, "", &auth).await.0, StatusCode::OK);
    let resp = reqwest::Client::new()
        .post(format!("{}/sim/expire-tokens", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        transactions(&sim, "", &auth).await.0,
        StatusCode::UNAUTHORIZED
    );
    // A fresh login works again.
    let auth = format!("JWT {}", jwt(&sim).await);
    assert_eq!(transactions(&sim, "", &auth).await.0, StatusCode::OK);
    sim.stop().await;
}

#[tokio::test]
async fn pages_follow_next_links_and_stay_put_as_transactions_arrive() {
    let sim = start(BioTimeConfig::default()).await;
    let auth = format!("JWT {}", jwt(&sim).await);
    let batch: Vec<Value> = (0..25)
        .map(|i| {
            json!({
                "emp_code": format!("{}", 100 + i % 5),
                "punch_time": format!("2026-03-01 08:{i:02}:00"),
                "punch_state": if i % 2 == 0 { "0" } else { "1" },
                "terminal_sn": "CL9M205160564",
            })
        })
        .collect();
    let resp = reqwest::Client::new()
        .post(format!("{}/sim/transactions", sim.base_url()))
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);

    let (status, page1) = transactions(&sim, "", &auth).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page1["count"], 25);
    assert_eq!(page1["msg"], "");
    assert_eq!(page1["code"], 0);
    assert_eq!(page1["previous"], Value::Null);
    assert_eq!(ids(&page1), (1..=10).collect::<Vec<_>>());
    let first = &page1["data"][0];
    for field in [
        "id",
        "emp",
        "emp_code",
        "first_name",
        "last_name",
        "department",
        "position",
        "punch_time",
        "punch_state",
        "punch_state_display",
        "verify_type",
        "verify_type_display",
        "work_code",
        "gps_location",
        "area_alias",
        "terminal_sn",
        "temperature",
        "is_mask",
        "terminal_alias",
        "upload_time",
    ] {
        assert!(first.get(field).is_some(), "field {field}");
    }
    assert_eq!(first["emp_code"], "100");
    assert_eq!(first["punch_time"], "2026-03-01 08:00:00");
    assert_eq!(first["punch_state"], "0");
    assert_eq!(first["punch_state_display"], "Check In");
    assert_eq!(page1["data"][1]["punch_state_display"], "Check Out");

    // Walking the next links with page_size 10 gives 10, 10, 5.
    let mut url = format!("{}/iclock/api/transactions/?page_size=10", sim.base_url());
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let (status, page) = get(&url, Some(&auth)).await;
        assert_eq!(status, StatusCode::OK);
        pages += 1;
        seen.extend(ids(&page));
        if pages == 2 {
            // Added between pulls: appended, so the pages already read do not shift.
            sim.add_transactions([punch(
                "200",
                "2026-03-01 07:00:00",
                PunchState::CheckIn,
                "X",
            )])
            .unwrap();
            assert!(page["previous"].as_str().unwrap().contains("page=1"));
        }
        match page["next"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, (1..=26).collect::<Vec<_>>());

    // Past the last page, or not a page: 404.
    let (status, body) = transactions(&sim, "page=4", &auth).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["detail"], "Invalid page.");
    assert_eq!(
        transactions(&sim, "page=0", &auth).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, big) = transactions(&sim, "page_size=100", &auth).await;
    assert_eq!(ids(&big).len(), 26);
    assert_eq!(big["next"], Value::Null);
    sim.stop().await;
}

#[tokio::test]
async fn filters_narrow_the_list() {
    let sim = start(BioTimeConfig::default()).await;
    let auth = format!("Token {}", {
        let (_, body) = login(
            &sim,
            "/api-token-auth/",
            json!({"username": "admin", "password": "admin"}),
        )
        .await;
        body["token"].as_str().unwrap().to_owned()
    });
    sim.add_transactions([
        punch("1", "2026-03-01 08:00:00", PunchState::CheckIn, "A1"),
        punch("2", "2026-03-01 08:30:00", PunchState::CheckIn, "B2"),
        punch("1", "2026-03-01 17:00:00", PunchState::CheckOut, "A1"),
        punch("2", "2026-03-02 17:05:00", PunchState::OvertimeOut, "B2"),
    ])
    .unwrap();
    let cases = [
        ("emp_code=1", vec![1, 3]),
        ("terminal_sn=B2", vec![2, 4]),
        ("start_time=2026-03-01%2008:30:00", vec![2, 3, 4]),
        ("end_time=2026-03-01%2017:00:00", vec![1, 2, 3]),
        (
            "start_time=2026-03-01%2008:00:01&end_time=2026-03-02%2000:00:00&emp_code=1",
            vec![3],
        ),
        ("emp_code=1&terminal_sn=B2", vec![]),
        ("emp_code=", vec![1, 2, 3, 4]),
    ];
    for (query, expected) in cases {
        let (status, page) = transactions(&sim, query, &auth).await;
        assert_eq!(status, StatusCode::OK, "{query}");
        assert_eq!(ids(&page), expected, "{query}");
        assert_eq!(page["count"], expected.len(), "{query}");
    }
    let (status, body) = transactions(&sim, "start_time=yesterday", &auth).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["start_time"].is_array());
    let (_, page) = transactions(&sim, "emp_code=2&page_size=1&page=2", &auth).await;
    assert_eq!(page["data"][0]["punch_state_display"], "Overtime Out");
    let next = page["previous"].as_str().unwrap();
    assert!(next.contains("emp_code=2") && next.contains("page_size=1"));
    sim.stop().await;
}

#[tokio::test]
async fn the_failure_switch_answers_500_then_recovers() {
    let sim = start(BioTimeConfig::default()).await;
    let auth = format!("JWT {}", jwt(&sim).await);
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("{}/sim/fail", sim.base_url()))
        .json(&json!({"requests": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        transactions(&sim, "", &auth).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let (status, _) = login(
        &sim,
        "/jwt-api-token-auth/",
        json!({"username": "admin", "password": "admin"}),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(transactions(&sim, "", &auth).await.0, StatusCode::OK);

    // For a while: on until switched off.
    client
        .post(format!("{}/sim/fail", sim.base_url()))
        .json(&json!({"seconds": 3600}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        transactions(&sim, "", &auth).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    // The control API keeps working while the API fails.
    let resp = client
        .post(format!("{}/sim/transactions", sim.base_url()))
        .json(&json!([{"emp_code": "5", "punch_time": "2026-03-01 09:00:00"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    client
        .delete(format!("{}/sim/fail", sim.base_url()))
        .send()
        .await
        .unwrap();
    let (status, page) = transactions(&sim, "", &auth).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["count"], 1);
    assert_eq!(sim.stats().failed_by_switch, 3);

    // Bad control input is refused whole.
    let resp = client
        .post(format!("{}/sim/transactions", sim.base_url()))
        .json(&json!([
            {"emp_code": "6", "punch_time": "2026-03-01 09:00:00"},
            {"emp_code": "7", "punch_time": "2026-03-01T09:00:00"}
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(sim.transactions().len(), 1);
    sim.stop().await;
}
