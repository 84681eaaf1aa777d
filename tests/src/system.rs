//! The whole system as processes against one test's database and broker namespace.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use auth::{Claims, JwtKeys, Role, Signer};
use reqwest::Method;
use serde_json::{json, Value};
use test_support::TestEnv;

use crate::fixtures::{self, CompanyOutcome, Directory, Punch};
use crate::process::{binary, ManagedProcess};

/// A development-mode HS256 secret. The services of a [`System`] do not accept it: they trust the
/// per-process test keys (`test_support::test_keys`), and each signs its own calls with its own.
pub const JWT_SECRET: &str = "system-test-secret-of-at-least-32-bytes";
/// How long a process may take to answer `/readyz` after it starts (it migrates its schema and
/// connects to Postgres and RabbitMQ first; a loaded machine makes that slow).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    BayzatSim,
    Config,
    Import,
    Sync,
}

impl Service {
    pub const ALL: [Service; 4] = [
        Service::BayzatSim,
        Service::Config,
        Service::Import,
        Service::Sync,
    ];

    pub fn binary(self) -> &'static str {
        match self {
            Service::BayzatSim => "bayzat-sim",
            Service::Config => "config-service",
            Service::Import => "import-service",
            Service::Sync => "sync-service",
        }
    }

    fn bind_variable(self) -> Option<&'static str> {
        match self {
            Service::BayzatSim => None,
            Service::Config => Some("CONFIG_SERVICE_BIND"),
            Service::Import => Some("IMPORT_SERVICE_BIND"),
            Service::Sync => Some("SYNC_SERVICE_BIND"),
        }
    }

    /// The path that answers 200 once the process is ready.
    fn ready_path(self) -> &'static str {
        match self {
            Service::BayzatSim => "/__admin/keys",
            _ => "/readyz",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.binary())
    }
}

/// How a [`System`] is started. The defaults keep every test fast: the simulator's keys allow a
/// request every 100 ms, sync-service waits 100 ms + 50 ms between requests and retries after a
/// second.
#[derive(Debug, Clone)]
pub struct SystemBuilder {
    sim_interval_ms: u64,
    rate_limit_delay: String,
    rate_limit_margin_ms: u64,
    retry_schedule: String,
    load_directory: bool,
    env: Vec<(Service, String, String)>,
}

impl Default for SystemBuilder {
    fn default() -> Self {
        Self {
            sim_interval_ms: 100,
            rate_limit_delay: "0.1".to_owned(),
            rate_limit_margin_ms: 50,
            retry_schedule: "1s,1s,1s,1s,1s".to_owned(),
            load_directory: true,
            env: Vec::new(),
        }
    }
}

impl SystemBuilder {
    /// Whether `directory.json` is loaded through `config-service load-directory` (default yes).
    pub fn load_directory(mut self, load: bool) -> Self {
        self.load_directory = load;
        self
    }

    /// `BAYZAT_RETRY_SCHEDULE` of sync-service.
    pub fn retry_schedule(mut self, schedule: &str) -> Self {
        self.retry_schedule = schedule.to_owned();
        self
    }

    /// Config-service, import-service and sync-service export their traces to `endpoint` (an
    /// OTLP/HTTP collector), a batch every 200 ms rather than every 5 s.
    pub fn traces_to(mut self, endpoint: &str) -> Self {
        for service in [Service::Config, Service::Import, Service::Sync] {
            self = self
                .env(service, "OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
                .env(service, "OTEL_BSP_SCHEDULE_DELAY", "200");
        }
        self
    }

    /// One more environment variable for one service.
    pub fn env(mut self, service: Service, name: &str, value: &str) -> Self {
        self.env.push((service, name.to_owned(), value.to_owned()));
        self
    }

    pub async fn start(self) -> System {
        System::start_with(self).await
    }
}

struct Running {
    process: ManagedProcess,
    port: u16,
}

/// bayzat-sim, config-service, import-service and sync-service as child processes (the binaries
/// in `target/debug`), on free loopback ports, against this test's own database and broker
/// namespace. Dropping it kills every process, then removes the database and the namespace.
pub struct System {
    processes: BTreeMap<Service, Running>,
    pub client: reqwest::Client,
    jwt: JwtKeys,
    /// config-service's internal listener (`CONFIG_SERVICE_INTERNAL_BIND`).
    config_internal_port: u16,
    dir: PathBuf,
    directory: Directory,
    /// Dropped last: the processes are gone before their database and namespace are.
    env: TestEnv,
}

/// An HTTP answer: status and body (JSON when it parses, else `Value::Null`, with the text
/// kept, and the bytes for a body that is not text, such as a workbook).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub bytes: Vec<u8>,
}

impl Reply {
    async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map(|b| b.to_vec())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
            bytes,
        }
    }
}

/// What a request sends.
#[derive(Debug, Clone)]
pub enum Body {
    None,
    Json(Value),
    /// A CSV file, as uploads and employee lists are sent.
    Csv(Vec<u8>),
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.text)
    }
}

/// A delivery of sync-service's API as the Bayzat record it is.
pub fn delivery_punch(delivery: &Value) -> Punch {
    let time = delivery["local_time"]
        .as_str()
        .unwrap_or_default()
        .replace('T', " ");
    Punch::new(
        delivery["emp_id"].as_str().unwrap_or_default(),
        delivery["type"].as_str().unwrap_or_default(),
        &time,
    )
}

/// The `sub` of a test token: a `service` token names sync-service, whose credential signs it.
fn subject(role: Role) -> String {
    match role {
        Role::Service => "sync-service".to_owned(),
        _ => format!("{}-user", role.as_str()),
    }
}

/// A port nothing listens on now, for a listener a service opens (e.g. `IMPORT_CLOCK_BIND`).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl System {
    /// Everything started with the defaults and `directory.json` loaded.
    pub async fn start() -> Self {
        SystemBuilder::default().start().await
    }

    pub fn builder() -> SystemBuilder {
        SystemBuilder::default()
    }

    pub async fn start_with(options: SystemBuilder) -> Self {
        let env = TestEnv::new().await;
        let dir = std::env::temp_dir().join(test_support::unique_name("system"));
        std::fs::create_dir_all(dir.join("imports")).expect("create the system's folder");
        let mut system = Self {
            processes: BTreeMap::new(),
            client: test_support::client_builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("HTTP client"),
            jwt: test_support::test_keys().keyring(),
            config_internal_port: 0,
            dir,
            directory: Directory::load(),
            env,
        };
        let master_key = format!("k1:{}", crypto::generate_master_key());
        for service in Service::ALL {
            // A port found free may be taken (by any process's outgoing connection) before the
            // service binds it: then the service exits, and starts again on another port.
            let mut attempt = 1;
            while let Err(failure) = system
                .start_on_a_free_port(service, &options, &master_key)
                .await
            {
                assert!(attempt < 3, "{failure}");
                attempt += 1;
            }
        }
        if options.load_directory {
            system.load_directory(&fixtures::path("directory.json"));
        }
        system
    }

    async fn start_on_a_free_port(
        &mut self,
        service: Service,
        options: &SystemBuilder,
        master_key: &str,
    ) -> Result<(), String> {
        let port = free_port();
        let mut vars: Vec<(String, String)> = Vec::new();
        let mut set = |name: &str, value: &str| vars.push((name.to_owned(), value.to_owned()));
        set("RUST_LOG", "info");
        let args = match service {
            Service::BayzatSim => vec![
                "--bind".to_owned(),
                format!("127.0.0.1:{port}"),
                "--load".to_owned(),
                fixtures::path("directory.json").display().to_string(),
                "--interval-ms".to_owned(),
                options.sim_interval_ms.to_string(),
                "--workers".to_owned(),
                "1".to_owned(),
            ],
            _ => Vec::new(),
        };
        if let Some(bind) = service.bind_variable() {
            set("DATABASE_URL", self.env.db.url());
            set("AMQP_URL", self.env.broker.url());
            set("AMQP_NAMESPACE", self.env.broker.namespace());
            set(bind, &format!("127.0.0.1:{port}"));
            let signer = match service {
                Service::Import => Some(Signer::ImportService),
                Service::Sync => Some(Signer::SyncService),
                _ => None,
            };
            for (name, value) in test_support::test_keys().env(signer) {
                set(&name, &value);
            }
            set("API_RATE_LIMIT_PER_SECOND", "1000");
            set("BAYZAT_HTTP_TIMEOUT", "2");
        }
        match service {
            Service::BayzatSim => {}
            Service::Config => {
                self.config_internal_port = free_port();
                set(
                    "CONFIG_SERVICE_INTERNAL_BIND",
                    &format!("127.0.0.1:{}", self.config_internal_port),
                );
                set("BRIDGE_MASTER_KEYS", master_key);
                set("BAYZAT_DEFAULT_API_URL", &self.bayzat_api_url());
                set("BAYZAT_ALLOWED_API_URLS", &self.bayzat_api_url());
            }
            Service::Import => {
                set("CONFIG_SERVICE_URL", &self.url(Service::Config));
                // Its own keys for BioTime passwords: never config-service's.
                set(
                    "IMPORT_MASTER_KEYS",
                    &format!("import1:{}", crypto::generate_master_key()),
                );
                set(
                    "IMPORT_STORAGE_DIR",
                    &self.dir.join("imports").display().to_string(),
                );
            }
            Service::Sync => {
                set("CONFIG_SERVICE_URL", &self.url(Service::Config));
                set("CONFIG_SERVICE_INTERNAL_URL", &self.internal_url());
                set("BAYZAT_ALLOWED_API_URLS", &self.bayzat_api_url());
                set("BAYZAT_RATE_LIMIT_DELAY", &options.rate_limit_delay);
                set(
                    "BAYZAT_RATE_LIMIT_MARGIN_MS",
                    &options.rate_limit_margin_ms.to_string(),
                );
                set("BAYZAT_RETRY_SCHEDULE", &options.retry_schedule);
                // A killed sender's lease is taken over after 3 s rather than the default 15 s.
                set("SYNC_LEASE_TTL", "3");
            }
        }
        for (target, name, value) in &options.env {
            if *target == service {
                set(name, value);
            }
        }
        let log = self.dir.join(format!("{service}.log"));
        let process = ManagedProcess::new(binary(service.binary()), args, vars, log);
        self.processes.insert(service, Running { process, port });
        self.try_start(service).await
    }

    /// Starts (again) a service that is not running, on its port, and waits until it is ready.
    pub async fn start_service(&mut self, service: Service) {
        if let Err(failure) = self.try_start(service).await {
            panic!("{failure}");
        }
    }

    async fn try_start(&mut self, service: Service) -> Result<(), String> {
        let url = self.url(service);
        let running = self.processes.get_mut(&service).expect("a known service");
        running.process.spawn();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let status = test_support::status_of(&self.client, &url, service.ready_path()).await;
            if status == 200 {
                return Ok(());
            }
            let running = self.processes.get_mut(&service).expect("a known service");
            if let Some(exit) = running.process.exited() {
                return Err(format!(
                    "{service} exited ({exit}) before becoming ready:\n{}",
                    running.process.log_tail(30)
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{service} not ready after {READY_TIMEOUT:?} (last status {status}):\n{}",
                    running.process.log_tail(30)
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL: the process gets no chance to finish anything.
    pub fn kill(&mut self, service: Service) {
        self.processes
            .get_mut(&service)
            .expect("a known service")
            .process
            .kill();
    }

    /// SIGKILL, then the same binary and configuration started again on the same port.
    pub async fn kill_and_restart(&mut self, service: Service) {
        self.kill(service);
        self.start_service(service).await;
    }

    /// SIGTERM; the exit code when the process ends within 15 s.
    pub fn terminate(&mut self, service: Service) -> Option<i32> {
        self.processes
            .get_mut(&service)
            .expect("a known service")
            .process
            .terminate(Duration::from_secs(15))
    }

    pub fn is_running(&self, service: Service) -> bool {
        self.processes[&service].process.is_running()
    }

    pub fn url(&self, service: Service) -> String {
        format!("http://127.0.0.1:{}", self.processes[&service].port)
    }

    /// config-service's internal listener, where `/internal/...` is served (and only there).
    pub fn internal_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.config_internal_port)
    }

    /// The URL of `path` on `service`: config-service's `/internal/...` on its internal listener.
    pub fn url_for(&self, service: Service, path: &str) -> String {
        if service == Service::Config && path.starts_with("/internal/") {
            format!("{}{path}", self.internal_url())
        } else {
            format!("{}{path}", self.url(service))
        }
    }

    /// The simulator's attendance endpoint: every company's Bayzat api_url.
    pub fn bayzat_api_url(&self) -> String {
        format!("{}/attendance", self.url(Service::BayzatSim))
    }

    pub fn env(&self) -> &TestEnv {
        &self.env
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// Where the logs of the processes are.
    pub fn log_path(&self, service: Service) -> &Path {
        self.processes[&service].process.log()
    }

    /// A folder for the test's own files, removed with the system.
    pub fn scratch_dir(&self) -> &Path {
        &self.dir
    }

    /// A token for every company: a person's signed by the portal's key, a `service` token with
    /// sync-service's own credential.
    pub fn token(&self, role: Role) -> String {
        self.jwt.mint(&Claims::new(
            subject(role),
            role,
            chrono::Duration::minutes(30),
        ))
    }

    /// A token limited to `companies`.
    pub fn token_for(&self, role: Role, companies: &[&str]) -> String {
        self.jwt.mint(
            &Claims::new(subject(role), role, chrono::Duration::minutes(30))
                .with_companies(companies.iter().copied()),
        )
    }

    /// Environment variables for another process of the system (the console, a second replica)
    /// signing as `signer`, or only verifying.
    pub fn key_env(&self, signer: Option<Signer>) -> Vec<(String, String)> {
        test_support::test_keys().env(signer)
    }

    /// A token from `config-service mint-token`, as an operator makes one.
    pub fn mint_token_command(&self, role: Role, companies: Option<&str>) -> String {
        let mut command = Command::new(binary(Service::Config.binary()));
        command
            .env_clear()
            .envs([test_support::test_keys().portal_env()])
            .args([
                "mint-token",
                "--sub",
                "operator-cli",
                "--role",
                role.as_str(),
            ]);
        if let Some(companies) = companies {
            command.args(["--companies", companies]);
        }
        let output = command.output().expect("run config-service mint-token");
        assert!(
            output.status.success(),
            "mint-token: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .expect("a token is text")
            .trim()
            .to_owned()
    }

    /// `config-service load-directory`, as `make load-directory` runs it, with every company's
    /// Bayzat api_url pointed at the simulator.
    pub fn load_directory(&self, file: &Path) {
        let output = Command::new(binary(Service::Config.binary()))
            .env_clear()
            .envs([test_support::test_keys().portal_env()])
            .arg("load-directory")
            .arg(file)
            .args(["--url", &self.url(Service::Config)])
            .args(["--api-url", &self.bayzat_api_url()])
            .output()
            .expect("run config-service load-directory");
        assert!(
            output.status.success(),
            "load-directory failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// A REST call with a token of `role` for every company.
    pub async fn call(
        &self,
        method: Method,
        service: Service,
        path: &str,
        role: Role,
        body: Option<Value>,
    ) -> Reply {
        self.call_with_token(method, service, path, &self.token(role), body)
            .await
    }

    pub async fn call_with_token(
        &self,
        method: Method,
        service: Service,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Reply {
        let body = body.map_or(Body::None, Body::Json);
        self.send(method, service, path, token, body).await
    }

    /// A REST call with `token`, sending `body`.
    pub async fn send(
        &self,
        method: Method,
        service: Service,
        path: &str,
        token: &str,
        body: Body,
    ) -> Reply {
        let request = self
            .client
            .request(method.clone(), self.url_for(service, path))
            .bearer_auth(token);
        let request = match body {
            Body::None => request,
            Body::Json(value) => request.json(&value),
            Body::Csv(bytes) => request.header("content-type", "text/csv").body(bytes),
        };
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {service}{path}: {e}"));
        Reply::read(response).await
    }

    /// GET as an admin.
    pub async fn get(&self, service: Service, path: &str) -> Reply {
        self.call(Method::GET, service, path, Role::Admin, None)
            .await
    }

    /// Uploads report bytes to import-service as an operator; `query` is the upload's options
    /// (e.g. `hold=true`), the file name is given as `filename`.
    pub async fn upload_bytes(&self, filename: &str, bytes: Vec<u8>, query: &str) -> Reply {
        let separator = if query.is_empty() { "" } else { "&" };
        self.send(
            Method::POST,
            Service::Import,
            &format!("/v1/imports?filename={filename}{separator}{query}"),
            &self.token(Role::Operator),
            Body::Csv(bytes),
        )
        .await
    }

    /// Uploads a file of the fixtures folder (e.g. `basic.csv`, `bad/empty.csv`).
    pub async fn upload_fixture(&self, name: &str, query: &str) -> Reply {
        let bytes = std::fs::read(fixtures::path(name)).expect("read the fixture");
        let filename = name.rsplit('/').next().unwrap_or(name);
        self.upload_bytes(filename, bytes, query).await
    }

    /// The company's id in config-service.
    pub async fn company_id(&self, slug: &str) -> i64 {
        test_support::company_id(
            &self.client,
            &self.url(Service::Config),
            &self.token(Role::Admin),
            slug,
        )
        .await
    }

    /// The company's deliveries by state, from sync-service's sync health.
    pub async fn delivery_counts(&self, slug: &str) -> BTreeMap<String, i64> {
        let reply = self
            .get(Service::Sync, &format!("/v1/companies/{slug}/sync-health"))
            .await;
        assert_eq!(reply.status, 200, "sync health of {slug}: {reply}");
        serde_json::from_value(reply.body["counts"].clone()).unwrap_or_default()
    }

    /// The company's deliveries in `state` (every page), as Bayzat records.
    pub async fn deliveries_in(&self, slug: &str, state: &str) -> Vec<Value> {
        let mut all = Vec::new();
        for page in 1.. {
            let reply = self
                .get(
                    Service::Sync,
                    &format!(
                        "/v1/deliveries?company={slug}&state={state}&per_page=100&page={page}"
                    ),
                )
                .await;
            assert_eq!(reply.status, 200, "deliveries: {reply}");
            let items = reply.body["items"].as_array().cloned().unwrap_or_default();
            let done = items.len() < 100;
            all.extend(items);
            if done {
                break;
            }
        }
        all
    }

    /// What the simulator holds for a key, in arrival order.
    pub async fn ledger(&self, key: &str) -> Vec<bayzat_sim::LedgerEntry> {
        let response = self
            .client
            .get(format!(
                "{}/__admin/keys/{key}/ledger",
                self.url(Service::BayzatSim)
            ))
            .send()
            .await
            .expect("simulator ledger");
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Vec::new();
        }
        response.json().await.expect("a ledger")
    }

    /// The company's ledger (by its key in `directory.json`) as punches.
    pub async fn ledger_of(&self, slug: &str) -> Vec<Punch> {
        let key = self.directory.company(slug).api_key.clone();
        self.ledger(&key).await.iter().map(Punch::from).collect()
    }

    pub async fn sim_stats(&self) -> bayzat_sim::Stats {
        self.client
            .get(format!("{}/__admin/stats", self.url(Service::BayzatSim)))
            .send()
            .await
            .expect("simulator stats")
            .json()
            .await
            .expect("stats")
    }

    /// Registers (or replaces, forgetting its ledger) a key at the simulator.
    pub async fn sim_put_key(&self, key: &str, employees: &[&str]) {
        let response = self
            .client
            .put(format!(
                "{}/__admin/keys/{key}",
                self.url(Service::BayzatSim)
            ))
            .json(&json!({ "employees": employees, "interval_ms": 100 }))
            .send()
            .await
            .expect("simulator admin");
        assert!(response.status().is_success(), "register key {key}");
    }

    /// Makes the simulator forget a key: every request with it is then a 401.
    pub async fn sim_delete_key(&self, key: &str) {
        let response = self
            .client
            .delete(format!(
                "{}/__admin/keys/{key}",
                self.url(Service::BayzatSim)
            ))
            .send()
            .await
            .expect("simulator admin");
        assert!(response.status().is_success(), "forget key {key}");
    }

    /// Waits until the company's ledger holds exactly `expected` (each once), and panics with
    /// the difference after `timeout`.
    pub async fn wait_for_ledger(&self, slug: &str, expected: &BTreeSet<Punch>, timeout: Duration) {
        test_support::wait_for(
            timeout,
            &format!("{slug}: Bayzat holds the {} punches", expected.len()),
            || async {
                let ledger = self.ledger_of(slug).await;
                let held: BTreeSet<Punch> = ledger.iter().cloned().collect();
                assert_eq!(held.len(), ledger.len(), "{slug}: a punch accepted twice");
                let extra: Vec<_> = held.difference(expected).collect();
                assert!(
                    extra.is_empty(),
                    "{slug}: unexpected punches in Bayzat: {extra:?}"
                );
                if held == *expected {
                    return Ok(());
                }
                let missing: Vec<_> = expected.difference(&held).collect();
                Err(format!(
                    "{} missing, e.g. {:?}; deliveries {:?}",
                    missing.len(),
                    missing.first(),
                    self.delivery_counts(slug).await
                ))
            },
        )
        .await;
    }

    /// Waits until the company has exactly `expected` deliveries by state (states not named
    /// must have none), and panics with what it saw after `timeout`.
    pub async fn wait_for_states(&self, slug: &str, expected: &[(&str, usize)], timeout: Duration) {
        let expected: BTreeMap<String, i64> = expected
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| ((*s).to_owned(), *n as i64))
            .collect();
        test_support::wait_for(
            timeout,
            &format!("{slug}: deliveries by state {expected:?}"),
            || async {
                let mut seen = self.delivery_counts(slug).await;
                seen.retain(|_, n| *n > 0);
                (seen == expected).then_some(()).ok_or(format!("{seen:?}"))
            },
        )
        .await;
    }

    /// Waits until the company's punches of the fixture report wait in sync-service for their
    /// schedule: an hourly or daily company's "sync now" sends only what sync-service holds, so
    /// a test asks for it once they are there.
    pub async fn wait_until_scheduled(&self, slug: &str, fixture: &str, timeout: Duration) {
        let outcomes = fixtures::report_outcomes(self.directory(), fixture);
        self.wait_for_states(
            slug,
            &[("scheduled", outcomes[slug].scheduled.len())],
            timeout,
        )
        .await;
    }

    /// The import's punches per company slug and delivery state, as import-service shows them.
    pub async fn import_progress(&self, import_id: i64) -> BTreeMap<String, BTreeMap<String, i64>> {
        let reply = self
            .get(Service::Import, &format!("/v1/imports/{import_id}"))
            .await;
        assert_eq!(reply.status, 200, "import {import_id}: {reply}");
        serde_json::from_value(reply.body["progress"].clone()).expect("progress")
    }

    /// Waits until the company's deliveries are in the states `outcome` gives them, then checks
    /// that Bayzat holds exactly the delivered punches, each once, and that sync-service shows
    /// the rejected ones as rejected, with Bayzat's reason.
    pub async fn assert_outcome(&self, slug: &str, outcome: &CompanyOutcome, timeout: Duration) {
        self.wait_for_states(
            slug,
            &[
                ("delivered", outcome.delivered.len()),
                ("rejected", outcome.rejected.len()),
                ("held", outcome.held.len()),
                ("scheduled", outcome.scheduled.len()),
            ],
            timeout,
        )
        .await;
        self.wait_for_ledger(slug, &outcome.delivered, Duration::from_secs(5))
            .await;
        let rejected = self.deliveries_in(slug, "rejected").await;
        let shown: BTreeSet<Punch> = rejected.iter().map(delivery_punch).collect();
        assert_eq!(shown, outcome.rejected, "{slug}: punches shown as rejected");
        for delivery in &rejected {
            assert!(
                delivery["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("unknown employee")),
                "{slug}: a rejection says why: {delivery}"
            );
        }
    }

    fn print_logs(&self) {
        for (service, running) in &self.processes {
            eprintln!(
                "----- {service} ({}), last lines:\n{}",
                running.process.log().display(),
                running.process.log_tail(40)
            );
        }
    }
}

impl Drop for System {
    fn drop(&mut self) {
        let failed = std::thread::panicking();
        if failed {
            self.print_logs();
        }
        // The services first, so nothing writes while the database and namespace are removed.
        for service in [
            Service::Sync,
            Service::Import,
            Service::Config,
            Service::BayzatSim,
        ] {
            if let Some(running) = self.processes.get_mut(&service) {
                running.process.kill();
            }
        }
        if !failed {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
