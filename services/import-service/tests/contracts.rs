//! The checked-in OpenAPI document is the one the code generates.

const CHECKED_IN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../proto/openapi/import-service.json"
);

#[test]
fn the_checked_in_openapi_document_matches_the_code() {
    let generated = import_service::openapi::document()
        .to_pretty_json()
        .unwrap()
        + "\n";
    if std::env::var_os("UPDATE_CONTRACTS").is_some() {
        std::fs::write(CHECKED_IN, &generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(CHECKED_IN).unwrap_or_default();
    assert!(
        checked_in == generated,
        "proto/openapi/import-service.json differs from the code; regenerate it with \
         `UPDATE_CONTRACTS=1 cargo test -p import-service --test contracts` and commit it"
    );
}
