//! Stopping import-service mid-import: SIGTERM lets the import in progress finish; a stop that
//! cuts it off (SIGINT) leaves it failed at once, with its stored report kept for a re-run,
//! instead of `processing` until the next start; a second SIGTERM ends the process at once.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use auth::Role;
use common::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_async::{AsyncConnection, RunQueryDsl};

/// import-service as a child process against the stack's database, broker and config-service.
struct Process {
    child: Child,
    base: String,
    storage: std::path::PathBuf,
}

impl Process {
    async fn start(stack: &Stack) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let storage = std::env::temp_dir().join(test_support::unique_name("imports"));
        let child = Command::new(env!("CARGO_BIN_EXE_import-service"))
            .env_clear()
            .env("DATABASE_URL", stack.env.db.url())
            .env("AMQP_URL", stack.env.broker.url())
            .env("AMQP_NAMESPACE", stack.env.broker.namespace())
            .env("IMPORT_SERVICE_BIND", format!("127.0.0.1:{port}"))
            .env("CONFIG_SERVICE_URL", &stack.config_base)
            .envs(stack.key_env())
            .env("IMPORT_STORAGE_DIR", &storage)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        assert!(
            test_support::eventually(Duration::from_secs(30), || async {
                test_support::status_of(&stack.client, &base, "/readyz").await == 200
            })
            .await,
            "import-service is ready"
        );
        Self {
            child,
            base,
            storage,
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// How the process exited, once it has within `timeout`; panics naming `what` otherwise.
    async fn exited_within(&mut self, timeout: Duration, what: &str) -> std::process::ExitStatus {
        let child = &mut self.child;
        test_support::wait_for(timeout, what, || {
            let exited = match child.try_wait() {
                Ok(Some(status)) => Ok(status),
                Ok(None) => Err("still running".to_owned()),
                Err(error) => Err(error.to_string()),
            };
            std::future::ready(exited)
        })
        .await
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.storage);
    }
}

/// A report of `days` days of the six AdvLine employees: large enough to take a while to read in.
fn large_report(days: u32) -> Vec<u8> {
    let mut text = String::from(
        "Total Time Card,,,,,,,,,,,\n\
         Employee ID,First Name,Department,Date,Weekday,Check In,Check Out,Clock In,Clock Out,\
         Work Duration,Break Duration,Overtime Duration\n",
    );
    let start = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
    for day in 0..days {
        let date = start + chrono::Days::new(u64::from(day));
        for employee in ["1001", "1002", "1003", "1005", "42", "ADV-1007"] {
            text.push_str(&format!(
                "{employee},Name,AdvLine,{date},Day,08:58,17:02,08:58:12,17:02:40,8:00,0:00,0:00\n"
            ));
        }
    }
    text.into_bytes()
}

#[derive(diesel::QueryableByName, Debug)]
struct ImportRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<Text>)]
    file_path: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    error: Option<String>,
}

async fn latest_import(stack: &Stack) -> Option<ImportRow> {
    let mut conn = diesel_async::AsyncPgConnection::establish(stack.env.db.url())
        .await
        .unwrap();
    diesel::sql_query(
        "SELECT id, status, file_path, error FROM import.imports ORDER BY id DESC LIMIT 1",
    )
    .load::<ImportRow>(&mut conn)
    .await
    .unwrap()
    .pop()
}

/// Starts uploading a large report to the process and returns once its import is being read in.
async fn importing(stack: &Stack, process: &Process) -> tokio::task::JoinHandle<Option<u16>> {
    let upload = stack
        .client
        .post(format!("{}/v1/imports", process.base))
        .bearer_auth(stack.token(Role::Operator))
        .header("content-type", "text/csv")
        .body(large_report(40_000))
        .send();
    let answer = tokio::spawn(async move { upload.await.ok().map(|r| r.status().as_u16()) });
    assert!(
        test_support::eventually(Duration::from_secs(60), || async {
            latest_import(stack)
                .await
                .is_some_and(|i| i.status == "processing")
        })
        .await,
        "the import is being read in"
    );
    answer
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_import_finishes_the_import_then_exits() {
    let stack = Stack::start().await;
    let mut process = Process::start(&stack).await;
    let answer = importing(&stack, &process).await;
    process.signal("-TERM");
    let status = process
        .exited_within(Duration::from_secs(60), "exits")
        .await;
    assert!(status.success(), "{status:?}");
    assert_eq!(answer.await.unwrap(), Some(201), "the upload was answered");
    let import = latest_import(&stack).await.unwrap();
    assert_eq!(import.status, "completed", "{import:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_cut_off_by_a_stop_is_failed_with_its_report_kept() {
    let stack = Stack::start().await;
    let mut process = Process::start(&stack).await;
    let _answer = importing(&stack, &process).await;
    // SIGINT: the server stops at once, without waiting for requests in progress.
    process.signal("-INT");
    process
        .exited_within(Duration::from_secs(30), "exits")
        .await;
    let import = latest_import(&stack).await.unwrap();
    assert_eq!(import.status, "failed", "{import:?}");
    assert!(
        import
            .error
            .as_deref()
            .is_some_and(|e| e.contains("interrupted")),
        "{import:?}"
    );
    let kept = import.file_path.as_deref().expect("the report is recorded");
    assert!(std::path::Path::new(kept).is_file(), "{kept} is kept");
    assert!(kept.contains(&format!("{}-", import.id)), "{kept}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_sigterm_stops_at_once() {
    let stack = Stack::start().await;
    let mut process = Process::start(&stack).await;
    let _answer = importing(&stack, &process).await;
    process.signal("-TERM");
    // The first SIGTERM is taken in once the listener is closed; the import goes on.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    assert!(
        test_support::eventually(Duration::from_secs(10), || async {
            test_support::status_of(&fresh, &process.base, "/healthz").await == 0
        })
        .await,
        "the listener closes at the first SIGTERM"
    );
    assert!(
        process.child.try_wait().unwrap().is_none(),
        "still finishing the import"
    );
    let second = Instant::now();
    process.signal("-TERM");
    process
        .exited_within(Duration::from_secs(3), "the second SIGTERM ends it at once")
        .await;
    assert!(second.elapsed() < Duration::from_secs(3));
    // Cut off: nothing of the import was stored; the next start marks it failed.
    let import = latest_import(&stack).await.unwrap();
    assert_ne!(import.status, "completed", "{import:?}");
}
