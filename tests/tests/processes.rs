//! The real binaries as processes: they start against this test's database and broker namespace,
//! become ready, stop cleanly on SIGTERM, and refuse to start with one line naming a bad variable.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use test_support::{eventually, status_of, TestEnv};

fn binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")));
    let path = target.join("debug").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` (make test does)",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process that is killed if the test ends early.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Process {
    fn terminate(&mut self) -> Option<i32> {
        let status = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn services_start_become_ready_and_stop_on_sigterm() {
    let env = TestEnv::new().await;
    let client = reqwest::Client::new();
    let storage = std::env::temp_dir().join(test_support::unique_name("imports"));
    let mut running = Vec::new();
    for (name, bind_variable) in [
        ("config-service", config_service::BIND_VARIABLE),
        ("import-service", import_service::BIND_VARIABLE),
        ("sync-service", sync_service::BIND_VARIABLE),
    ] {
        let port = free_port();
        let child = Command::new(binary(name))
            .env_clear()
            .env("DATABASE_URL", env.db.url())
            .env("AMQP_URL", env.broker.url())
            .env("AMQP_NAMESPACE", env.broker.namespace())
            .env(bind_variable, format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .env(
                "BRIDGE_JWT_SECRET",
                "process-test-secret-of-at-least-32-bytes",
            )
            .env(
                "BRIDGE_MASTER_KEYS",
                "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            )
            .env("CONFIG_SERVICE_URL", "http://127.0.0.1:9")
            .env("IMPORT_STORAGE_DIR", &storage)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        running.push((name, port, Process(child)));
    }
    for (name, port, _) in &running {
        let base = format!("http://127.0.0.1:{port}");
        assert!(
            eventually(Duration::from_secs(60), || async {
                status_of(&client, &base, "/readyz").await == 200
            })
            .await,
            "{name} becomes ready"
        );
        let metrics = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains(&format!("bridge_database_up{{service=\"{name}\"}} 1")),
            "{name} metrics: {metrics}"
        );
    }
    for (name, _, process) in &mut running {
        assert_eq!(
            process.terminate(),
            Some(0),
            "{name} exits cleanly on SIGTERM"
        );
    }
}

#[test]
fn a_missing_variable_stops_the_service_with_one_line_naming_it() {
    for name in ["config-service", "import-service", "sync-service"] {
        let output = Command::new(binary(name))
            .env_clear()
            .env("AMQP_URL", "amqp://127.0.0.1:5672/%2f")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{name} exit code");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
        assert!(stderr.contains("DATABASE_URL"), "{name}: {stderr}");
    }
}

#[test]
fn a_malformed_variable_is_named_too() {
    let output = Command::new(binary("sync-service"))
        .env_clear()
        .env("DATABASE_URL", "postgres://127.0.0.1/x")
        .env("AMQP_URL", "amqp://127.0.0.1:5672/%2f")
        .env("SYNC_SERVICE_BIND", "not-an-address")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("SYNC_SERVICE_BIND") && stderr.contains("malformed"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("not-an-address"),
        "values are not echoed: {stderr}"
    );
}
