//! The command as an operator runs it: arguments and variables in, a report and an exit status
//! out, against a simulator.

mod common;

use std::process::Output;

use bayzat_sim::Contract;
use common::*;
use serde_json::Value;
use tokio::process::Command;

/// The probe with sync-service's variables scaled to the simulator's window; the key travels in
/// the environment, as the docs advise.
fn probe(url: &str, extra_env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bayzat-probe"));
    cmd.env_clear()
        .env("BAYZAT_PROBE_KEY", KEY)
        .env(
            "BAYZAT_RATE_LIMIT_DELAY",
            (WINDOW_MS as f64 / 1000.0).to_string(),
        )
        .env("BAYZAT_RATE_LIMIT_MARGIN_MS", MARGIN_MS.to_string())
        .args(["--api-url", url])
        .args(args);
    for (name, value) in extra_env {
        cmd.env(name, value);
    }
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn output(mut cmd: Command) -> Output {
    cmd.output().await.expect("the probe runs")
}

#[tokio::test]
async fn it_prints_what_to_set_and_passes_once_it_is_set() {
    let sim = sim_answering(Contract {
        no_reason: true,
        duplicate_message: Some("Record exists: {empId} {time}".into()),
        ..Contract::default()
    })
    .await;
    let url = sim.attendance_url();

    let out = output(probe(&url, &[], &["--employee", EMP, "--time", TIME])).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("[configure  ] duplicate:"), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("BAYZAT_DUPLICATE_PATTERN="))
        .unwrap_or_else(|| panic!("no setting printed:\n{stdout}"));
    assert_eq!(
        line.trim(),
        "BAYZAT_DUPLICATE_PATTERN='(?i)duplicate|already exists|(?i:Record exists)'"
    );
    assert!(stdout.contains("Punches created: 1 (empId 1001 checkIn at 2026-03-01 08:00:00)"));
    assert!(stdout.contains("(exit 1)"));
    assert!(!stdout.contains(KEY) && !text(&out.stderr).contains(KEY));

    // Set as printed, the same contract passes.
    let out = output(probe(
        &url,
        &[(
            "BAYZAT_DUPLICATE_PATTERN",
            "(?i)duplicate|already exists|(?i:Record exists)",
        )],
        &["--employee", EMP, "--time", "2026-03-01 08:05:00", "--json"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert_eq!(report["verdict"], "matches");
    assert_eq!(report["configure"], Value::Array(vec![]));
    let duplicate = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "duplicate")
        .unwrap();
    assert_eq!(duplicate["status"], "ok");
    assert_eq!(report["punches_created"][0]["time"], "2026-03-01 08:05:00");
    assert!(report["requests"].as_u64().unwrap() > 0);
    assert_eq!(sim.ledger(KEY).unwrap().len(), 2);
    sim.stop().await;
}

#[tokio::test]
async fn bad_settings_or_arguments_stop_it_before_any_request() {
    let sim = sim(vec![key(KEY)]).await;
    let url = sim.attendance_url();

    let out = output(probe(
        &url,
        &[("BAYZAT_DUPLICATE_PATTERN", "(unclosed")],
        &[],
    ))
    .await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("BAYZAT_DUPLICATE_PATTERN"), "{stderr}");

    let out = output(probe(&url, &[], &["--time", "2026-03-01T08:00:00"])).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--time"));

    let mut no_key = probe(&url, &[], &[]);
    no_key.env_remove("BAYZAT_PROBE_KEY");
    let out = output(no_key).await;
    assert_eq!(out.status.code(), Some(2));

    let stats = sim.stats();
    assert_eq!(stats.keys[KEY].requests + stats.keys[KEY].rate_limited, 0);
    assert_eq!(stats.unauthorized, 0);
    sim.stop().await;
}

#[tokio::test]
async fn an_unreachable_service_exits_4() {
    let sim = sim(vec![key(KEY)]).await;
    let url = sim.attendance_url();
    sim.stop().await;
    let out = output(probe(&url, &[], &[])).await;
    assert_eq!(out.status.code(), Some(4));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Stopped:"), "{stdout}");
    assert!(stdout.contains("Punches created: 0."), "{stdout}");
}
