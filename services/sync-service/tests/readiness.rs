//! /readyz follows Postgres and RabbitMQ outages without a restart.

#[tokio::test(flavor = "multi_thread")]
async fn readiness_follows_database_and_broker_outages() {
    test_support::assert_readiness_follows_outages(|common| {
        sync_service::start(sync_service::Settings::new(
            common,
            auth::JwtKeys::new(b"readiness-test-secret-of-32-bytes!!"),
            "http://127.0.0.1:9".into(),
        ))
    })
    .await;
}
