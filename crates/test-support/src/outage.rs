use std::future::Future;
use std::time::Duration;

use service_kit::{RunningService, StartError};
use settings::CommonSettings;

use crate::{eventually, status_of, upstream_of, TcpProxy, TestEnv};

const WAIT: Duration = Duration::from_secs(30);

/// Starts a service with its Postgres and RabbitMQ connections going through proxies, then cuts
/// each in turn and checks that /readyz says 503 during the outage and 200 after it, while the
/// service keeps running (/healthz stays 200) and is never restarted.
pub async fn assert_readiness_follows_outages<F, Fut>(start: F)
where
    F: FnOnce(CommonSettings) -> Fut,
    Fut: Future<Output = Result<RunningService, StartError>>,
{
    let env = TestEnv::new().await;
    let postgres = TcpProxy::start(&upstream_of(env.db.url())).await;
    let rabbitmq = TcpProxy::start(&upstream_of(env.broker.url())).await;
    let mut common = env.common_settings();
    common.database_url = postgres.url_for(&common.database_url);
    common.amqp_url = rabbitmq.url_for(&common.amqp_url);

    let service = start(common).await.expect("service starts");
    let base = service.base_url();
    let client = crate::client();
    let ready = |expected: u16| {
        let client = client.clone();
        let base = base.clone();
        async move {
            eventually(WAIT, || async {
                status_of(&client, &base, "/readyz").await == expected
            })
            .await
        }
    };

    assert!(ready(200).await, "ready once started");
    for (name, proxy) in [("rabbitmq", &rabbitmq), ("postgres", &postgres)] {
        proxy.cut();
        assert!(ready(503).await, "/readyz is 503 while {name} is cut off");
        assert_eq!(
            status_of(&client, &base, "/healthz").await,
            200,
            "alive while {name} is away"
        );
        proxy.restore();
        assert!(ready(200).await, "/readyz is 200 again once {name} is back");
    }
    service.stop().await;
}

/// Checks what a database outage answers: 503, a short `Retry-After`, and the problem in the
/// API's own words (`database_unavailable`), never the driver's.
pub async fn assert_database_unavailable(response: reqwest::Response, what: &str) {
    assert_eq!(
        response.status(),
        reqwest::StatusCode::SERVICE_UNAVAILABLE,
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
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "database_unavailable", "{what}: {body}");
    assert_eq!(body["status"], 503, "{what}: {body}");
    let text = body.to_string().to_lowercase();
    for driver_words in [
        "terminat",
        "administrator",
        "closed",
        "fatal",
        "db error",
        "socket",
        "connection reset",
    ] {
        assert!(
            !text.contains(driver_words),
            "{what}: the answer repeats the driver's message: {body}"
        );
    }
}

#[derive(diesel::QueryableByName)]
struct Backend {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pid: i32,
}

/// The server processes of the database at `database_url` whose query waits on a lock (a table
/// lock or an advisory lock), other than the one asking.
pub async fn backends_waiting_on_a_lock(database_url: &str) -> Result<Vec<i32>, String> {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let mut conn = AsyncPgConnection::establish(database_url)
        .await
        .map_err(|e| e.to_string())?;
    let waiting = diesel::sql_query(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
         AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
    )
    .load::<Backend>(&mut conn)
    .await
    .map_err(|e| e.to_string())?;
    Ok(waiting.into_iter().map(|b| b.pid).collect())
}

/// Waits until exactly one query of the database at `database_url` waits on a lock (the
/// request a test holds up behind a lock it took), and returns its server process, for
/// `pg_terminate_backend`: the connection a request is using, lost under it.
pub async fn the_one_backend_waiting_on_a_lock(database_url: &str) -> i32 {
    crate::wait_for(WAIT, "one query waits on the lock", || async {
        match backends_waiting_on_a_lock(database_url).await?.as_slice() {
            [pid] => Ok(*pid),
            other => Err(format!("waiting: {other:?}")),
        }
    })
    .await
}
