//! The checked-in OpenAPI document is the one the code generates.

#[test]
fn the_checked_in_openapi_document_matches_the_code() {
    let generated = import_service::openapi::document()
        .to_pretty_json()
        .unwrap()
        + "\n";
    test_support::assert_contract_checked_in("proto/openapi/import-service.json", &generated);
}

/// Every answer is documented: each 2xx with its schema, each refusal as a problem+json
/// `Problem`, the token refusals (401, 403, 429) of every operation, and no dangling `$ref`.
#[test]
fn every_answer_is_documented_with_its_schema() {
    let gaps = service_kit::undocumented(&import_service::openapi::document());
    assert!(gaps.is_empty(), "undocumented: {gaps:#?}");
}
