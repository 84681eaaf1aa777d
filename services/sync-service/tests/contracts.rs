//! The checked-in OpenAPI document is the one the code generates.

const CHECKED_IN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../proto/openapi/sync-service.json"
);

#[test]
fn the_checked_in_openapi_document_matches_the_code() {
    let generated = sync_service::openapi::document().to_pretty_json().unwrap() + "\n";
    if std::env::var_os("UPDATE_CONTRACTS").is_some() {
        std::fs::create_dir_all(std::path::Path::new(CHECKED_IN).parent().unwrap()).unwrap();
        std::fs::write(CHECKED_IN, &generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(CHECKED_IN).unwrap_or_default();
    assert!(
        checked_in == generated,
        "proto/openapi/sync-service.json differs from the code; regenerate it with \
         `UPDATE_CONTRACTS=1 cargo test -p sync-service --test contracts` and commit it"
    );
}
