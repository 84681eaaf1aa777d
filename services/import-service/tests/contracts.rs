//! The checked-in OpenAPI document is the one the code generates.

#[test]
fn the_checked_in_openapi_document_matches_the_code() {
    let generated = import_service::openapi::document()
        .to_pretty_json()
        .unwrap()
        + "\n";
    test_support::assert_contract_checked_in("proto/openapi/import-service.json", &generated);
}
