//! The message schemas in `proto/schemas/` are the contract other teams read. This test fails when
//! they no longer match the Rust types, and rewrites them when run with `UPDATE_CONTRACTS=1`.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

const REGENERATE: &str = "UPDATE_CONTRACTS=1 cargo test -p domain --test contracts";

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto/schemas")
}

#[test]
fn message_schemas_match_the_checked_in_contracts() {
    let dir = schema_dir();
    let update = std::env::var("UPDATE_CONTRACTS").is_ok_and(|v| v == "1");
    let contracts = domain::message_contracts();
    let expected_files: BTreeSet<String> = contracts.iter().map(|c| c.file_name()).collect();
    let mut problems = Vec::new();

    if update {
        fs::create_dir_all(&dir).expect("create proto/schemas");
    }
    for contract in &contracts {
        let path = dir.join(contract.file_name());
        let want = contract.to_file_text();
        if update {
            fs::write(&path, &want).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
            continue;
        }
        match fs::read_to_string(&path) {
            Ok(have) if have == want => {}
            Ok(_) => problems.push(format!(
                "proto/schemas/{} differs from the {} type",
                contract.file_name(),
                contract.message_type
            )),
            Err(e) => problems.push(format!(
                "proto/schemas/{} cannot be read: {e}",
                contract.file_name()
            )),
        }
    }

    // A schema whose message type is gone would mislead its readers.
    if let Ok(entries) = fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".json") && !expected_files.contains(&name) {
                if update {
                    fs::remove_file(entry.path()).expect("remove a stale schema");
                } else {
                    problems.push(format!("proto/schemas/{name} belongs to no message type"));
                }
            }
        }
    }

    assert!(
        problems.is_empty(),
        "message contracts drifted from the Rust types:\n  {}\n\
         If the change is intended (and compatible, or a new message version), regenerate them \
         with\n  {REGENERATE}\nand commit proto/schemas/ with the change.",
        problems.join("\n  ")
    );
}

#[test]
fn every_contract_is_a_json_schema_of_an_object() {
    for contract in domain::message_contracts() {
        let schema = contract.schema.as_object().expect("an object schema");
        assert_eq!(
            schema.get("$schema").and_then(|v| v.as_str()),
            Some("https://json-schema.org/draft/2020-12/schema"),
            "{}",
            contract.message_type
        );
        assert_eq!(
            schema.get("type").and_then(|v| v.as_str()),
            Some("object"),
            "{}",
            contract.message_type
        );
    }
}
