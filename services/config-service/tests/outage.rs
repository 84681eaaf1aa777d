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
use test_support::{
    assert_database_unavailable, eventually, the_one_backend_waiting_on_a_lock, upstream_of,
    TcpProxy, TestEnv,
};

const WAIT: Duration = Duration::from_secs(30);

/// Holds an exclusive lock on `config.companies`, so that a request's query waits on it.
async fn lock_companies(database_url: &str) -> AsyncPgConnection {
    let mut holder = AsyncPgConnection::establish(database_url).await.unwrap();
    holder
        .batch_execute("BEGIN; LOCK TABLE config.companies IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    holder
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
        let pid = the_one_backend_waiting_on_a_lock(&url).await;
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
    the_one_backend_waiting_on_a_lock(env.db.url()).await;
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
