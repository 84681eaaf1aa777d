//! Keys from the project's shared `directory.json` fixture.

use std::fmt;
use std::path::Path;

use crate::model::KeySpec;

/// Why a directory document could not be turned into keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryError(pub String);

impl fmt::Display for DirectoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "directory.json: {}", self.0)
    }
}

impl std::error::Error for DirectoryError {}

/// Reads the `bayzat_simulator` section, `{"<api key>": ["<empId>", ...]}`, into keys with the
/// documented default limits (1000 ms, 20 records), sorted by key.
pub fn keys_from_directory_json(json: &serde_json::Value) -> Result<Vec<KeySpec>, DirectoryError> {
    let section = json
        .get("bayzat_simulator")
        .ok_or_else(|| DirectoryError("no `bayzat_simulator` section".into()))?
        .as_object()
        .ok_or_else(|| DirectoryError("`bayzat_simulator` is not an object".into()))?;
    let mut keys = Vec::with_capacity(section.len());
    for (key, employees) in section {
        let list = employees
            .as_array()
            .ok_or_else(|| DirectoryError(format!("the employees of key {key} are not a list")))?;
        let employees = list
            .iter()
            .map(|e| {
                e.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| DirectoryError(format!("key {key} has a non-string empId {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        keys.push(KeySpec::new(key.clone(), employees));
    }
    keys.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(keys)
}

/// [`keys_from_directory_json`] on a file.
pub fn keys_from_directory_file(path: impl AsRef<Path>) -> Result<Vec<KeySpec>, DirectoryError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path)
        .map_err(|e| DirectoryError(format!("cannot read {}: {e}", path.display())))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| DirectoryError(format!("{} is not JSON: {e}", path.display())))?;
    keys_from_directory_json(&json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_keys_with_defaults() {
        let keys = keys_from_directory_json(&json!({
            "bayzat_simulator": {"b": ["2", "007"], "a": []}
        }))
        .unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0], KeySpec::new("a", Vec::<String>::new()));
        assert_eq!(keys[1].employees, ["2", "007"]);
        assert_eq!(keys[1].interval_ms, 1000);
        assert_eq!(keys[1].max_records, 20);
    }

    #[test]
    fn refuses_bad_shapes() {
        assert!(keys_from_directory_json(&json!({})).is_err());
        assert!(keys_from_directory_json(&json!({"bayzat_simulator": []})).is_err());
        assert!(keys_from_directory_json(&json!({"bayzat_simulator": {"k": "1"}})).is_err());
        let e = keys_from_directory_json(&json!({"bayzat_simulator": {"k": [1]}})).unwrap_err();
        assert!(e.to_string().contains("non-string"));
    }
}
