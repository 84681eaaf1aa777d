//! The real binaries as processes: they start against this test's database and broker namespace,
//! become ready, stop cleanly on SIGTERM, and refuse to start with one line naming a bad variable;
//! `config-service mint-token` makes tokens they accept.

use std::process::Command;

use bridge_tests::{binary, Service, System};
use test_support::status_of;

#[tokio::test(flavor = "multi_thread")]
async fn services_start_become_ready_and_stop_on_sigterm() {
    let mut system = System::builder().load_directory(false).start().await;
    for service in [Service::Config, Service::Import, Service::Sync] {
        let base = system.url(service);
        assert_eq!(
            status_of(&system.client, &base, "/readyz").await,
            200,
            "{service} is ready"
        );
        let metrics = test_support::metrics(&system.client, &base).await;
        assert!(
            metrics.contains(&format!("bridge_database_up{{service=\"{service}\"}} 1")),
            "{service} metrics: {metrics}"
        );
        // What each service's outbox still has to publish, read at the scrape.
        assert!(
            metrics.contains(&format!("bridge_outbox_backlog{{service=\"{service}\"}} ")),
            "{service} metrics: {metrics}"
        );
    }
    for service in [
        Service::Sync,
        Service::Import,
        Service::Config,
        Service::BayzatSim,
    ] {
        assert_eq!(
            system.terminate(service),
            Some(0),
            "{service} exits cleanly on SIGTERM"
        );
    }
}

#[test]
fn a_missing_variable_stops_the_service_with_one_line_naming_it() {
    for name in ["config-service", "import-service", "sync-service"] {
        let output = Command::new(binary(name))
            .env_clear()
            .env("AMQP_URL", "amqp://127.0.0.1:5672/%2f")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{name} exit code");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
        assert!(stderr.contains("DATABASE_URL"), "{name}: {stderr}");
    }
}

#[test]
fn a_malformed_variable_is_named_too() {
    let output = Command::new(binary("sync-service"))
        .env_clear()
        .env("DATABASE_URL", "postgres://127.0.0.1/x")
        .env("AMQP_URL", "amqp://127.0.0.1:5672/%2f")
        .env("SYNC_SERVICE_BIND", "not-an-address")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("SYNC_SERVICE_BIND") && stderr.contains("malformed"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("not-an-address"),
        "values are not echoed: {stderr}"
    );
}

/// `config-service mint-token` makes tokens the services accept, limited as asked.
#[tokio::test(flavor = "multi_thread")]
async fn a_token_from_mint_token_is_accepted_and_limited_to_its_companies() {
    let system = System::start().await;
    let token = system.mint_token_command(bridge_tests::Role::Viewer, Some("advline"));
    let get = |path: &'static str| {
        system.call_with_token(reqwest::Method::GET, Service::Config, path, &token, None)
    };
    let listed = get("/v1/companies").await;
    assert_eq!(listed.status, 200, "{listed}");
    let slugs: Vec<&str> = listed
        .body
        .as_array()
        .expect("companies")
        .iter()
        .filter_map(|c| c["slug"].as_str())
        .collect();
    assert_eq!(slugs, ["advline"]);
    assert_eq!(get("/v1/companies/clarastars").await.status, 404);
    let changed = system
        .call_with_token(
            reqwest::Method::PATCH,
            Service::Config,
            "/v1/companies/advline",
            &token,
            Some(serde_json::json!({"name_en": "Renamed"})),
        )
        .await;
    assert_eq!(changed.status, 403, "a viewer changes nothing: {changed}");
}
