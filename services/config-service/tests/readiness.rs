//! /readyz follows Postgres and RabbitMQ outages without a restart.

#[tokio::test(flavor = "multi_thread")]
async fn readiness_follows_database_and_broker_outages() {
    test_support::assert_readiness_follows_outages(|common| {
        config_service::start(config_service::Settings { common })
    })
    .await;
}
