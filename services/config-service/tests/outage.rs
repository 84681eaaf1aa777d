//! A database outage is answered 503 `database_unavailable` with `Retry-After`, never a 500 and
//! never the driver's words: a connection terminated under a running query, a connection lost
//! mid-query, and a database that cannot be reached at all. The service answers again once the
//! database is back, without a restart.

mod common;

use std::time::Duration;

use common::App;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use test_support::{eventually, upstream_of, TcpProxy, TestEnv};

const WAIT: Duration = Duration::from_secs(30);

/// What an outage answers: 503, a short `Retry-After`, and the problem in the API's own words.
async fn assert_database_unavailable(response: reqwest::Response, what: &str) {
    assert_eq!(
        response.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "{what}: an outage is a 503"
    );
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .unwrap_or_else(|| panic!("{what}: a 503 says when to try again"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry_after), "{what}: {retry_after}");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "{what}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "database_unavailable", "{what}: {body}");
    assert_eq!(body["status"], 503, "{what}: {body}");
    let text = body.to_string().to_lowercase();
    for driver_words in [
        "terminat",
        "administrator",
        "closed",
        "socket",
        "connection reset",
    ] {
        assert!(
            !text.contains(driver_words),
            "{what}: the answer repeats the driver's message: {body}"
        );
    }
}

/// Holds an exclusive lock on `config.companies`, so that a request's query waits on it.
async fn lock_companies(database_url: &str) -> AsyncPgConnection {
    let mut holder = AsyncPgConnection::establish(database_url).await.unwrap();
    holder
        .batch_execute("BEGIN; LOCK TABLE config.companies IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    holder
}

#[derive(diesel::QueryableByName)]
struct Backend {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pid: i32,
}

/// The server processes of this database whose query waits on a lock.
async fn waiting_on_a_lock(database_url: &str) -> Vec<i32> {
    let mut conn = AsyncPgConnection::establish(database_url).await.unwrap();
    diesel::sql_query(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
         AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
    )
    .load::<Backend>(&mut conn)
    .await
    .unwrap()
    .into_iter()
    .map(|b| b.pid)
    .collect()
}

/// Sends a request in the background; it is answered after the lock is gone or its connection is.
fn send(
    app: &App,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> tokio::task::JoinHandle<reqwest::Response> {
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(app.admin());
    if let Some(body) = body {
        request = request.json(&body);
    }
    tokio::spawn(async move { request.send().await.expect("config-service answers") })
}

/// Waits until exactly one query waits on the lock, and returns its server process.
async fn blocked_query(database_url: &str) -> i32 {
    let blocked = eventually(WAIT, || async {
        waiting_on_a_lock(database_url).await.len() == 1
    })
    .await;
    let pids = waiting_on_a_lock(database_url).await;
    assert!(
        blocked && pids.len() == 1,
        "the request's query waits on the lock: {pids:?}"
    );
    pids[0]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_terminated_under_a_query_is_a_503_with_retry_after() {
    let app = App::start().await;
    app.company("advline", &["AdvLine"]).await;
    let url = app.env.db.url().to_owned();
    let requests = [
        (Method::GET, "/v1/companies/advline", None),
        (
            Method::PATCH,
            "/v1/companies/advline",
            Some(json!({ "name_en": "Advanced Line" })),
        ),
        (Method::GET, "/v1/directory", None),
    ];
    for (method, path, body) in requests {
        let what = format!("{method} {path}");
        let mut holder = lock_companies(&url).await;
        let answer = send(&app, method.clone(), path, body.clone());
        let pid = blocked_query(&url).await;
        diesel::sql_query(format!("SELECT pg_terminate_backend({pid})"))
            .execute(&mut holder)
            .await
            .unwrap();
        assert_database_unavailable(answer.await.unwrap(), &what).await;
        holder.batch_execute("ROLLBACK").await.unwrap();

        let (status, answer) = app.call(method, path, Some(&app.admin()), body).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{what} once the database is back: {answer}"
        );
    }
}

/// config-service with its Postgres connections going through a proxy the test can cut.
async fn behind_a_proxy() -> (TestEnv, TcpProxy, config_service::Started) {
    let env = TestEnv::new().await;
    let postgres = TcpProxy::start(&upstream_of(env.db.url())).await;
    let mut settings = env.common_settings();
    settings.database_url = postgres.url_for(&settings.database_url);
    let started = common::start(common::settings(settings, &common::master_key("k1"))).await;
    (env, postgres, started)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_lost_mid_query_and_an_unreachable_database_are_503s() {
    let (env, postgres, started) = behind_a_proxy().await;
    let client = reqwest::Client::new();
    let admin = common::keys().mint(&auth::Claims::new(
        "admin-user",
        auth::Role::Admin,
        chrono::Duration::minutes(10),
    ));
    let base = started.service.base_url();
    let created = client
        .post(format!("{base}/v1/companies"))
        .bearer_auth(&admin)
        .json(&json!({ "slug": "advline", "name_en": "AdvLine LLC" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);

    // Lost mid-query: the connection goes while the query waits on a lock.
    let mut holder = lock_companies(env.db.url()).await;
    let request = client
        .get(format!("{base}/v1/companies/advline"))
        .bearer_auth(&admin);
    let answer = tokio::spawn(async move { request.send().await.unwrap() });
    blocked_query(env.db.url()).await;
    postgres.cut();
    assert_database_unavailable(answer.await.unwrap(), "lost mid-query").await;
    holder.batch_execute("ROLLBACK").await.unwrap();

    // Unreachable: no connection can be opened at all.
    let answer = client
        .get(format!("{base}/v1/companies/advline"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_database_unavailable(answer, "unreachable").await;

    postgres.restore();
    let back = eventually(WAIT, || async {
        client
            .get(format!("{base}/v1/companies/advline"))
            .bearer_auth(&admin)
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
    })
    .await;
    assert!(back, "answers again once the database is back");
    started.service.stop().await;
}
