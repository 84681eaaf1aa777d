//! A Bayzat key never appears in a log line, a response or an audit entry. Its own test binary:
//! it captures every log line of the process at trace level.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use auth::Role;
use bayzat_sim::{KeySpec, SimConfig};
use common::App;
use serde_json::json;

const KEY: &str = "bz_secret_key_4d9e1f";

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_key_is_in_no_log_line_response_or_audit_entry() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .init();

    let app = App::start().await;
    let sim = bayzat_sim::spawn(
        "127.0.0.1:0",
        SimConfig {
            keys: vec![KeySpec::new(KEY, ["1001"]).with_interval_ms(0)],
        },
    )
    .await
    .unwrap();
    let admin = app.admin();
    app.company("advline", &[]).await;
    let mut bodies = Vec::new();
    bodies.push(
        app.put(
            "/v1/companies/advline/bayzat-config",
            &admin,
            json!({ "api_key": KEY, "api_url": sim.attendance_url() }),
        )
        .await
        .1,
    );
    bodies.push(
        app.put(
            "/v1/companies/advline/bayzat-config",
            &admin,
            json!({ "api_key": format!("{KEY}x"), "api_url": sim.attendance_url() }),
        )
        .await
        .1,
    );
    bodies.push(
        app.post(
            "/v1/companies/advline/bayzat-config/test",
            &admin,
            json!({}),
        )
        .await
        .1,
    );
    bodies.push(
        app.post(
            "/v1/companies/advline/bayzat-config/test",
            &admin,
            json!({ "api_key": KEY }),
        )
        .await
        .1,
    );
    bodies.push(
        app.get("/v1/companies/advline/bayzat-config", &admin)
            .await
            .1,
    );
    bodies.push(app.get("/v1/audit", &admin).await.1);
    bodies.push(app.get("/v1/directory", &app.token(Role::Service)).await.1);
    // Reading the key as sync-service does is the one answer that carries it.
    let (_, internal) = app
        .get(
            "/internal/v1/companies/advline/bayzat-key",
            &app.token(Role::Service),
        )
        .await;
    assert_eq!(internal["api_key"], KEY);

    for body in &bodies {
        assert!(
            !body.to_string().contains(KEY),
            "a response carries the key: {body}"
        );
    }
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.lines().count() > 10,
        "the capture saw the service's logs"
    );
    let leaks: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains(KEY))
        // The simulator is a stand-in for Bayzat, not part of the system: it may log what it receives.
        .filter(|line| !line.contains("bayzat_sim"))
        .collect();
    assert!(
        leaks.is_empty(),
        "log lines with the key:\n{}",
        leaks.join("\n")
    );
}
