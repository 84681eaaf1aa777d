//! deploy/prometheus/alerts.yml stays in step with its tests: it is valid YAML of Prometheus rule
//! groups, and alerts.test.yml (run by `promtool test rules` in `make ops`) has, for every alert,
//! a case where it fires and one where it stays quiet. tests/tests/metrics.rs checks that every
//! metric the rules read is one a running service exports.

use std::collections::BTreeMap;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn yaml(name: &str) -> serde_yaml::Value {
    let text = std::fs::read_to_string(format!("{ROOT}/deploy/prometheus/{name}")).unwrap();
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{name} is YAML: {e}"))
}

#[test]
fn every_alert_has_a_unit_test_where_it_fires_and_one_where_it_stays_quiet() {
    let rules = yaml("alerts.yml");
    let mut alerts = Vec::new();
    for group in rules["groups"].as_sequence().expect("rule groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            let name = rule["alert"]
                .as_str()
                .unwrap_or_else(|| panic!("every rule names its alert: {rule:?}"));
            assert!(rule["expr"].is_string(), "{name} has an expr");
            alerts.push(name.to_owned());
        }
    }
    assert!(!alerts.is_empty());

    let tests = yaml("alerts.test.yml");
    assert_eq!(
        tests["rule_files"],
        serde_yaml::from_str::<serde_yaml::Value>("[alerts.yml]").unwrap(),
        "the tests load the rules beside them"
    );
    // Per alert: (evaluations where it fires, evaluations where it stays quiet).
    let mut cases: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for test in tests["tests"].as_sequence().expect("tests") {
        for case in test["alert_rule_test"].as_sequence().into_iter().flatten() {
            let name = case["alertname"].as_str().expect("alertname").to_owned();
            let expected = case["exp_alerts"].as_sequence().map_or(0, Vec::len);
            let counts = cases.entry(name).or_default();
            if expected > 0 {
                counts.0 += 1;
            } else {
                counts.1 += 1;
            }
        }
    }
    for alert in &alerts {
        let (fires, quiet) = cases.get(alert).copied().unwrap_or_default();
        assert!(
            fires > 0 && quiet > 0,
            "alerts.test.yml tests {alert} firing {fires} time(s) and quiet {quiet} time(s)"
        );
    }
    for tested in cases.keys() {
        assert!(
            alerts.contains(tested),
            "alerts.test.yml tests {tested}, which alerts.yml does not define"
        );
    }
}

#[test]
fn dead_letters_waiting_for_a_replay_raise_an_alert() {
    let rules = yaml("alerts.yml");
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
