//! The checked-in OpenAPI document is the one the code generates, and the service serves it.

mod common;

#[test]
fn the_checked_in_openapi_document_matches_the_code() {
    let generated = config_service::openapi::document()
        .to_pretty_json()
        .unwrap()
        + "\n";
    test_support::assert_contract_checked_in("proto/openapi/config-service.json", &generated);
}

#[test]
fn the_webhook_payload_schema_is_checked_in() {
    test_support::assert_contract_checked_in(
        "proto/webhooks/webhook.payload.v1.json",
        &webhooks::payload_schema(),
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

/// Every answer is documented: each 2xx with its schema, each refusal as a problem+json
/// `Problem`, the token refusals (401, 403, 429) of every operation, and no dangling `$ref`.
#[test]
fn every_answer_is_documented_with_its_schema() {
    let gaps = service_kit::undocumented(&config_service::openapi::document());
    assert!(gaps.is_empty(), "undocumented: {gaps:#?}");
}
