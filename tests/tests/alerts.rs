//! deploy/prometheus/alerts.yml stays in step with the code: it is valid YAML of Prometheus rule
//! groups, and every `bridge_*` metric an alert reads is one a service registers.

use std::path::{Path, PathBuf};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn rust_sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn every_metric_an_alert_reads_is_registered_by_a_service() {
    let text = std::fs::read_to_string(format!("{ROOT}/deploy/prometheus/alerts.yml")).unwrap();
    let rules: serde_yaml::Value = serde_yaml::from_str(&text).expect("alerts.yml is YAML");
    let groups = rules["groups"].as_sequence().expect("rule groups");
    let mut expressions = Vec::new();
    for group in groups {
        for rule in group["rules"].as_sequence().expect("rules") {
            assert!(
                rule["alert"].is_string(),
                "every rule names its alert: {rule:?}"
            );
            expressions.push(
                rule["expr"]
                    .as_str()
                    .expect("every rule has an expr")
                    .to_owned(),
            );
        }
    }
    assert!(!expressions.is_empty());

    // Registered names, as the code spells them (the `bridge_` prefix is added by telemetry).
    let mut sources = Vec::new();
    for dir in ["services", "crates"] {
        rust_sources(&Path::new(ROOT).join(dir), &mut sources);
    }
    let code: String = sources
        .iter()
        .filter(|p| p.components().any(|c| c.as_os_str() == "src"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let mut checked = 0;
    for expression in &expressions {
        for word in expression.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            let Some(name) = word.strip_prefix("bridge_") else {
                continue;
            };
            assert!(
                code.contains(&format!("\"{name}\"")),
                "alert metric bridge_{name} is not registered by any service"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= expressions.len(),
        "each alert reads a bridge_ metric"
    );
}

#[test]
fn dead_letters_waiting_for_a_replay_raise_an_alert() {
    let text = std::fs::read_to_string(format!("{ROOT}/deploy/prometheus/alerts.yml")).unwrap();
    let rules: serde_yaml::Value = serde_yaml::from_str(&text).expect("alerts.yml is YAML");
    let alert = rules["groups"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|group| group["rules"].as_sequence().into_iter().flatten())
        .find(|rule| rule["alert"] == "DeadLetters")
        .expect("a DeadLetters alert");
    let expr = alert["expr"].as_str().unwrap();
    assert!(
        expr.contains("bridge_dead_letters") && expr.contains("> 0"),
        "{expr}"
    );
}
