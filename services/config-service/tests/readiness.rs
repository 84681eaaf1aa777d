//! /readyz follows Postgres and RabbitMQ outages without a restart.

mod common;

#[tokio::test(flavor = "multi_thread")]
async fn readiness_follows_database_and_broker_outages() {
    let master_keys = common::master_key("k1");
    test_support::assert_readiness_follows_outages(|common_settings| {
        config_service::start(common::settings(common_settings, &master_keys))
    })
    .await;
}
