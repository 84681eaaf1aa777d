//! /readyz follows Postgres and RabbitMQ outages without a restart.

#[tokio::test(flavor = "multi_thread")]
async fn readiness_follows_database_and_broker_outages() {
    let storage = std::env::temp_dir().join(test_support::unique_name("imports"));
    test_support::assert_readiness_follows_outages(|common| {
        import_service::start(import_service::Settings {
            common,
            jwt: auth::JwtKeys::new(b"readiness-test-secret-of-32-bytes-at-least"),
            config_service_url: "http://127.0.0.1:9".into(),
            storage_dir: storage.clone(),
            max_upload_bytes: 1024,
            file_retention_days: 90,
            row_retention_days: 400,
            biotime: Default::default(),
            clock_silent_after: std::time::Duration::from_secs(1800),
            clock_rate_limit_per_second: std::num::NonZeroU32::new(500).unwrap(),
        })
    })
    .await;
    let _ = std::fs::remove_dir_all(storage);
}
