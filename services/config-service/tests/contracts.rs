//! The checked-in OpenAPI document is the one the code generates, and the service serves it.

mod common;

const CHECKED_IN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../proto/openapi/config-service.json"
);

#[test]
fn the_checked_in_openapi_document_matches_the_code() {
    let generated = config_service::openapi::document()
        .to_pretty_json()
        .unwrap()
        + "\n";
    if std::env::var_os("UPDATE_CONTRACTS").is_some() {
        std::fs::create_dir_all(std::path::Path::new(CHECKED_IN).parent().unwrap()).unwrap();
        std::fs::write(CHECKED_IN, &generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(CHECKED_IN).unwrap_or_default();
    assert!(
        checked_in == generated,
        "proto/openapi/config-service.json differs from the code; regenerate it with \
         `UPDATE_CONTRACTS=1 cargo test -p config-service --test contracts` and commit it"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_serves_its_document() {
    let app = common::App::start().await;
    let document: serde_json::Value = app
        .client
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["info"]["title"], "config-service");
    for path in [
        "/v1/companies",
        "/v1/directory",
        "/v1/audit",
        "/internal/v1/companies/{company}/bayzat-key",
    ] {
        assert!(
            document["paths"].get(path).is_some(),
            "{path} is documented"
        );
    }
}
