//! The stack of the clock tests: import-service with its terminal endpoints on a listener of
//! their own, simulated terminals, and the registry's REST calls as an admin.

use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

use auth::Role;
use clock_push::SerialNumber;
use clock_sim::{Terminal, TerminalConfig};
use import_service::clocks::biotime::PullSettings;
use reqwest::StatusCode;
use serde_json::Value;
use service_kit::RunningService;
use test_support::{wait_for, ConfigService, TestEnv};

use super::Stack;

pub const WAIT: Duration = Duration::from_secs(30);

/// What the clock tests set of import-service.
pub struct ClockOptions {
    pub clock_silent_after: Duration,
    pub biotime: PullSettings,
    /// Listen to terminals (their base URL is then returned by [`stack_with`]).
    pub terminals: bool,
    /// `API_RATE_LIMIT_PER_SECOND` (the test environment's when none).
    pub api_rate_limit_per_second: Option<NonZeroU32>,
    /// `IMPORT_CLOCK_RATE_LIMIT_PER_SECOND`.
    pub clock_rate_limit_per_second: NonZeroU32,
}

impl Default for ClockOptions {
    fn default() -> Self {
        Self {
            clock_silent_after: Duration::from_secs(1800),
            biotime: PullSettings::default(),
            terminals: true,
            api_rate_limit_per_second: None,
            clock_rate_limit_per_second: NonZeroU32::new(500).unwrap(),
        }
    }
}

/// The usual stack (see `common`) with `options`; the terminals' base URL (empty without them).
pub async fn stack_with(options: &ClockOptions) -> (Stack, String) {
    let env = TestEnv::new().await;
    let config = ConfigService::start(&env, "http://127.0.0.1:9/attendance").await;
    let config_base = config.base.clone();
    let storage = std::env::temp_dir().join(test_support::unique_name("imports"));
    let listener = options
        .terminals
        .then(|| std::net::TcpListener::bind("127.0.0.1:0").unwrap());
    let clock_base = listener
        .as_ref()
        .map(|l| format!("http://{}", l.local_addr().unwrap()))
        .unwrap_or_default();
    let import = start_import(&env, &config_base, &storage, listener, options).await;
    let broker = bus::Broker::start(env.broker.url(), env.broker.topology(), "import-test");
    broker.connected().await;
    let stack = Stack {
        import_base: import.base_url(),
        import: Some(import),
        config,
        broker,
        env,
        storage,
        client: test_support::client(),
        keys: test_support::test_keys().keyring(),
        config_base,
        amqp_proxy: None,
    };
    (stack, clock_base)
}

/// import-service over the stack's database and storage, as `options` say; with
/// `clock_listener` the terminal endpoints there.
pub async fn start_import(
    env: &TestEnv,
    config_base: &str,
    storage: &Path,
    clock_listener: Option<std::net::TcpListener>,
    options: &ClockOptions,
) -> RunningService {
    let mut common = env.common_settings();
    if let Some(limit) = options.api_rate_limit_per_second {
        common.api_rate_limit_per_second = limit;
    }
    import_service::start_with_clocks(
        import_service::Settings {
            common,
            jwt: test_support::test_keys().for_signer(auth::Signer::ImportService),
            config_service_url: config_base.to_owned(),
            storage_dir: storage.to_owned(),
            max_upload_bytes: 5 * 1024 * 1024,
            file_retention_days: 90,
            row_retention_days: 400,
            clock_silent_after: options.clock_silent_after,
            clock_rate_limit_per_second: options.clock_rate_limit_per_second,
            biotime: options.biotime.clone(),
        },
        clock_listener,
    )
    .await
    .unwrap()
}

/// Restarts the stack's import-service (stopped before, if running) with the terminal endpoints
/// at `clock_base` again.
pub async fn restart_import(stack: &mut Stack, clock_base: &str, options: &ClockOptions) {
    if let Some(running) = stack.import.take() {
        running.stop().await;
    }
    let listener = (!clock_base.is_empty())
        .then(|| std::net::TcpListener::bind(clock_base.trim_start_matches("http://")).unwrap());
    let import = start_import(
        &stack.env,
        &stack.config_base,
        &stack.storage,
        listener,
        options,
    )
    .await;
    stack.import_base = import.base_url();
    stack.import = Some(import);
}

/// A simulated terminal calling `base`, quick to retry, with heartbeats `heartbeat` apart.
pub fn terminal(base: &str, serial: &str, heartbeat: Duration) -> Terminal {
    let mut config = TerminalConfig::new(SerialNumber::parse(serial).unwrap(), base);
    config.backoff_initial = Duration::from_millis(20);
    config.backoff_max = Duration::from_millis(200);
    config.heartbeat_interval = heartbeat;
    config.batch_size = 5;
    Terminal::spawn(config)
}

pub async fn handshaken(clock: &Terminal) {
    wait_for(WAIT, "the terminal handshakes", || async {
        clock
            .is_handshaken()
            .then_some(())
            .ok_or_else(|| "not yet".to_owned())
    })
    .await;
}

/// A REST call to import-service with `token`: the status and the answer's text.
pub async fn request(
    stack: &Stack,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, String) {
    let mut request = stack
        .client
        .request(method, format!("{}{path}", stack.import_base))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// A REST call to import-service as `role`: the status and the JSON answer (null if none).
pub async fn call(
    stack: &Stack,
    role: Role,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (status, text) = request(stack, &stack.token(role), method, path, body).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// [`call`] as an admin.
pub async fn admin(
    stack: &Stack,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    call(stack, Role::Admin, method, path, body).await
}

/// The value of the series `name{label="value"}` in import-service's `/metrics`, if it has one.
pub async fn gauge(stack: &Stack, name: &str, label: &str, value: &str) -> Option<f64> {
    let text = stack
        .client
        .get(format!("{}/metrics", stack.import_base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let label = format!("{label}=\"{value}\"");
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .find(|line| line.contains(&label))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

/// One number (`AS n`) from the test's database.
pub async fn count(stack: &Stack, sql: &str) -> i64 {
    use diesel_async::{AsyncConnection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = diesel_async::AsyncPgConnection::establish(stack.env.db.url())
        .await
        .unwrap();
    let row: Count = diesel::sql_query(sql).get_result(&mut conn).await.unwrap();
    row.n
}
