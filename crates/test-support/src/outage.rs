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
    let client = reqwest::Client::new();
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
