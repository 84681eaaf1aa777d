//! bayzat-sim, config-service (with the fixture directory, keys pointing at the simulator) and
//! sync-service replicas in-process against this test's database and broker namespace, and
//! helpers to queue punches and wait for their outcome.
#![allow(dead_code)]

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use auth::{JwtKeys, Role};
use bayzat_sim::{KeySpec, RunningSim, SimConfig};
use bus::{Broker, Outgoing, Publisher};
use domain::{
    BatchId, BayzatEmpId, CompanyId, ConfigCompanyChangedV1, ImportCancelledV1, ImportId,
    LocalPunchTime, Message, PunchId, PunchType, PunchesReadyV1, ReadyPunch,
};
use serde_json::{json, Value};
use service_kit::RunningService;
use sync_service::{BayzatSettings, Clock, Settings};
use test_support::{metric_value, wait_for, ConfigService, TestEnv};

pub const JWT_SECRET: &str = "sync-test-secret-of-at-least-32-bytes!";
/// The simulator's interval per key: fast, so tests take seconds.
pub const INTERVAL_MS: u64 = 200;
pub const ADVLINE_KEY: &str = "bz_test_advline_7f3a9c";
/// Employees the advline key knows.
pub const ADVLINE_EMPLOYEES: [&str; 6] = ["1001", "1002", "1003", "1005", "42", "ADV-1007"];
/// Punch ids (and the import id) of the punches that show scheduler rounds: far above any a
/// test queues.
const WITNESS_PUNCHES: i64 = 9_000_000;

/// Fields drop in order: the services stop before the simulator, database and namespace go.
pub struct Stack {
    pub replicas: Vec<Option<RunningService>>,
    pub config: ConfigService,
    pub sim: RunningSim,
    pub publisher: Publisher,
    pub broker: Broker,
    pub keys: JwtKeys,
    pub client: reqwest::Client,
    pub config_base: String,
    /// config-service's internal listener, where sync-service reads keys.
    pub config_internal_base: String,
    pub clock: Clock,
    pub bayzat: BayzatSettings,
    /// Punches queued so far to show scheduler rounds ([`Stack::scheduler_round_passes`]).
    witnesses: AtomicI64,
    pub env: TestEnv,
}

pub fn fast_bayzat() -> BayzatSettings {
    BayzatSettings {
        rate_limit_delay: Duration::from_millis(INTERVAL_MS),
        rate_limit_margin: Duration::from_millis(50),
        retry_schedule: "1s,1s,1s,1s,1s".parse().unwrap(),
        http_timeout: Duration::from_secs(2),
        ..BayzatSettings::default()
    }
}

impl Stack {
    pub async fn start(replicas: usize) -> Self {
        Self::start_with(replicas, fast_bayzat()).await
    }

    pub async fn start_with(replicas: usize, bayzat: BayzatSettings) -> Self {
        let env = TestEnv::new().await;
        let keys = test_support::test_keys().keyring();
        let specs: Vec<KeySpec> =
            bayzat_sim::keys_from_directory_file(test_support::fixture("directory.json"))
                .unwrap()
                .into_iter()
                .map(|spec| spec.with_interval_ms(INTERVAL_MS))
                .collect();
        let sim = bayzat_sim::spawn("127.0.0.1:0", SimConfig { keys: specs })
            .await
            .unwrap();
        let config = ConfigService::start(&env, &sim.attendance_url()).await;
        let broker = Broker::start(env.broker.url(), env.broker.topology(), "sync-test");
        broker.connected().await;
        let mut stack = Self {
            replicas: Vec::new(),
            config_base: config.base.clone(),
            config_internal_base: config.internal_base.clone(),
            config,
            sim,
            publisher: Publisher::new(broker.clone()),
            broker,
            keys,
            client: test_support::client(),
            clock: Clock::system(),
            bayzat,
            witnesses: AtomicI64::new(0),
            env,
        };
        for _ in 0..replicas {
            stack.add_replica().await;
        }
        stack
    }

    pub fn settings(&self) -> Settings {
        let mut settings = Settings::new(
            self.env.common_settings(),
            test_support::test_keys().for_signer(auth::Signer::SyncService),
            self.config_base.clone(),
        );
        settings.config_service_internal_url = self.config_internal_base.clone();
        settings.bayzat = self.bayzat.clone();
        settings.clock = self.clock.clone();
        settings.allowed_api_urls = "http://127.0.0.1:*".parse().unwrap();
        settings
    }

    /// Starts replica `replica-{n}`; its lease expires 3 s after its last request.
    pub async fn add_replica(&mut self) -> usize {
        self.add_replica_with(|_| {}).await
    }

    /// Starts a replica whose settings `adjust` changes first (e.g. its broker through a proxy).
    pub async fn add_replica_with(&mut self, adjust: impl FnOnce(&mut Settings)) -> usize {
        let mut settings = self.settings();
        settings.replica_id = format!("replica-{}", self.replicas.len());
        settings.lease_ttl = Duration::from_secs(3);
        adjust(&mut settings);
        let running = sync_service::start(settings).await.unwrap();
        self.replicas.push(Some(running));
        self.replicas.len() - 1
    }

    /// The company's lease: its epoch (it moves on at every takeover) and whether it is unexpired.
    pub async fn lease(&self, company_id: i64) -> Option<(i64, bool)> {
        use diesel_async::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            epoch: i64,
            #[diesel(sql_type = diesel::sql_types::Bool)]
            live: bool,
        }
        let rows: Vec<Row> = diesel::sql_query(
            "SELECT epoch, expires_at > now() AS live FROM sync.sender_leases WHERE company_id = $1",
        )
        .bind::<diesel::sql_types::BigInt, _>(company_id)
        .load(&mut self.db().await)
        .await
        .unwrap_or_default();
        rows.into_iter().next().map(|r| (r.epoch, r.live))
    }

    /// When the company's sender lease expires, unless renewed.
    pub async fn lease_expires_at(&self, company_id: i64) -> Option<chrono::DateTime<chrono::Utc>> {
        use diesel_async::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Timestamptz)]
            expires_at: chrono::DateTime<chrono::Utc>,
        }
        let rows: Vec<Row> =
            diesel::sql_query("SELECT expires_at FROM sync.sender_leases WHERE company_id = $1")
                .bind::<diesel::sql_types::BigInt, _>(company_id)
                .load(&mut self.db().await)
                .await
                .unwrap_or_default();
        rows.into_iter().next().map(|r| r.expires_at)
    }

    /// Every Bayzat call for the company, in the order they started.
    pub async fn requests(&self, company_id: i64) -> Vec<Request> {
        use diesel_async::RunQueryDsl;
        diesel::sql_query(
            "SELECT holder, started_at, latency_ms, status_code, records FROM sync.bayzat_requests \
             WHERE company_id = $1 ORDER BY started_at",
        )
        .bind::<diesel::sql_types::BigInt, _>(company_id)
        .load(&mut self.db().await)
        .await
        .unwrap_or_default()
    }

    async fn db(&self) -> diesel_async::AsyncPgConnection {
        use diesel_async::AsyncConnection;
        diesel_async::AsyncPgConnection::establish(self.env.db.url())
            .await
            .unwrap()
    }

    /// Which replica holds the company's sender lease, by its index.
    pub async fn lease_holder(&self, company_id: i64) -> Option<usize> {
        use diesel_async::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            holder: String,
        }
        let mut conn = self.db().await;
        let rows: Vec<Row> =
            diesel::sql_query("SELECT holder FROM sync.sender_leases WHERE company_id = $1")
                .bind::<diesel::sql_types::BigInt, _>(company_id)
                .load(&mut conn)
                .await
                .unwrap_or_default();
        rows.into_iter()
            .next()
            .and_then(|r| r.holder.strip_prefix("replica-").map(str::to_owned))
            .and_then(|n| n.parse().ok())
    }

    pub fn base(&self) -> String {
        self.replicas
            .iter()
            .flatten()
            .next()
            .expect("a replica runs")
            .base_url()
    }

    /// A token of `role`; a `service` token is sync-service's own credential.
    pub fn token(&self, role: Role) -> String {
        test_support::role_token(role, "sync-service")
    }

    /// Company id by slug, from config-service.
    pub async fn company_id(&self, slug: &str) -> i64 {
        self.config.company_id(slug).await
    }

    /// Waits until sync-service has handled every configuration change config-service has
    /// published so far (the directory's load, a `put_config`): each is recorded as processed in
    /// the transaction that applies it.
    pub async fn config_taken_in(&self) {
        use diesel_async::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Left {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        wait_for(
            Duration::from_secs(60),
            "sync-service takes in every configuration change",
            || async {
                let left: Left = diesel::sql_query(
                    "SELECT count(*) AS n FROM config.outbox o WHERE o.message_type = $1 \
                     AND NOT EXISTS (SELECT 1 FROM sync.processed_messages p \
                                     WHERE p.message_id = o.message_id)",
                )
                .bind::<diesel::sql_types::Text, _>(ConfigCompanyChangedV1::TYPE)
                .get_result(&mut self.db().await)
                .await
                .map_err(|e| e.to_string())?;
                match left.n {
                    0 => Ok(()),
                    n => Err(format!("{n} not handled yet")),
                }
            },
        )
        .await;
    }

    /// Waits for the first replica's scheduler to go round once more: whatever it would have
    /// announced by now (a retry or a scheduled run come due, a stalled company), it has. A round
    /// announces due work and then, every fifth round, counts the deliveries on `/metrics`; a
    /// punch queued now
    /// for the disabled company (held there, never sent) travels through the broker and is
    /// stored before the first count that shows it, so that round announced after this call.
    pub async fn scheduler_round_passes(&self) {
        let dormant = self.company_id("dormant").await;
        let held = self
            .states(dormant)
            .await
            .iter()
            .filter(|(_, state, _, _)| state == "held")
            .count();
        let n = self.witnesses.fetch_add(1, Ordering::SeqCst);
        let at = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            + chrono::TimeDelta::minutes(n);
        let time = at.format("%Y-%m-%d %H:%M:%S").to_string();
        self.ready(
            dormant,
            WITNESS_PUNCHES,
            vec![punch(
                WITNESS_PUNCHES + n,
                "4001",
                PunchType::CheckIn,
                &time,
            )],
        )
        .await;
        let expected = (held + 1) as f64;
        let company = dormant.to_string();
        wait_for(
            Duration::from_secs(30),
            "a scheduler round counts the punch held for dormant",
            || async {
                let metrics = test_support::metrics(&self.client, &self.base()).await;
                let counted = metric_value(
                    &metrics,
                    "bridge_deliveries",
                    &[("company", &company), ("state", "held")],
                );
                (counted == Some(expected))
                    .then_some(())
                    .ok_or(format!("counted {counted:?} of {expected}"))
            },
        )
        .await;
    }

    /// Changes a company's Bayzat configuration in config-service (which tells sync-service).
    pub async fn put_config(&self, slug: &str, body: Value) {
        let response = self
            .client
            .put(format!(
                "{}/v1/companies/{slug}/bayzat-config",
                self.config_base
            ))
            .bearer_auth(self.token(Role::Admin))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{}",
            response.text().await.unwrap()
        );
    }

    pub async fn publish<M: Message>(&self, message: &M) {
        let outgoing = Outgoing::message(uuid::Uuid::now_v7(), message, None).unwrap();
        wait_for(
            Duration::from_secs(5),
            "the broker takes the message",
            || async {
                self.publisher
                    .publish(&outgoing)
                    .await
                    .map_err(|e| e.to_string())
            },
        )
        .await;
    }

    /// Queues `punches` for the company as import `import_id`; returns the batch id.
    pub async fn ready(&self, company_id: i64, import_id: i64, punches: Vec<ReadyPunch>) -> String {
        let batch_id = BatchId(uuid::Uuid::now_v7());
        self.publish(&PunchesReadyV1 {
            batch_id,
            import_id: ImportId(import_id),
            company_id: CompanyId(company_id),
            punches,
            batch_punches: None,
        })
        .await;
        batch_id.to_string()
    }

    pub async fn cancel(&self, company_id: i64, import_id: i64) {
        self.publish(&ImportCancelledV1 {
            company_id: CompanyId(company_id),
            import_id: ImportId(import_id),
        })
        .await;
    }

    pub async fn get(&self, path: &str, role: Role) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.base()))
            .bearer_auth(self.token(role))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, role: Role) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base()))
            .bearer_auth(self.token(role))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Delivery states of the company's punches, straight from the database.
    pub async fn states(&self, company_id: i64) -> Vec<(i64, String, i32, Option<String>)> {
        use diesel_async::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            punch_id: i64,
            #[diesel(sql_type = diesel::sql_types::Text)]
            state: String,
            #[diesel(sql_type = diesel::sql_types::Integer)]
            attempts: i32,
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
            last_error: Option<String>,
        }
        let mut conn = self.db().await;
        let rows: Vec<Row> = diesel::sql_query(
            "SELECT punch_id, state, attempts, last_error FROM sync.deliveries \
             WHERE company_id = $1 ORDER BY punch_id",
        )
        .bind::<diesel::sql_types::BigInt, _>(company_id)
        .load(&mut conn)
        .await
        .unwrap_or_default();
        rows.into_iter()
            .map(|r| (r.punch_id, r.state, r.attempts, r.last_error))
            .collect()
    }

    /// Waits until `count` deliveries of the company exist and every one is in a state of
    /// `states`; panics with what it saw after `timeout`.
    pub async fn wait_for(
        &self,
        company_id: i64,
        count: usize,
        states: &[&str],
        timeout: Duration,
    ) {
        wait_for(
            timeout,
            &format!("{count} deliveries in {states:?}"),
            || async {
                let seen = self.states(company_id).await;
                if seen.len() == count
                    && seen.iter().all(|(_, s, _, _)| states.contains(&s.as_str()))
                {
                    return Ok(());
                }
                let mut tally = std::collections::BTreeMap::new();
                for (_, state, _, _) in &seen {
                    *tally.entry(state.clone()).or_insert(0) += 1;
                }
                Err(format!("saw {tally:?}"))
            },
        )
        .await;
    }

    /// Whether every delivery of the company is in `state` (true when it has none).
    pub async fn all_in(&self, company_id: i64, state: &str) -> bool {
        self.states(company_id)
            .await
            .iter()
            .all(|(_, s, _, _)| s == state)
    }

    /// Whether every delivery of the company has spent `attempts` attempts.
    pub async fn all_attempts(&self, company_id: i64, attempts: i32) -> bool {
        self.states(company_id)
            .await
            .iter()
            .all(|(_, _, a, _)| *a == attempts)
    }

    /// The simulator answers advline's key with `faults` from now on.
    pub fn advline_faults(&self, faults: bayzat_sim::Faults) {
        self.sim
            .set_faults(ADVLINE_KEY, faults)
            .expect("the simulator knows advline's key");
    }

    pub fn ledger(&self, key: &str) -> Vec<bayzat_sim::LedgerEntry> {
        self.sim.ledger(key).unwrap_or_default()
    }

    pub fn key_stats(&self, key: &str) -> bayzat_sim::KeyStats {
        self.sim.stats().keys.get(key).cloned().unwrap_or_default()
    }
}

/// One row of `sync.bayzat_requests`.
#[derive(Debug, diesel::QueryableByName)]
pub struct Request {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub holder: String,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub started_at: chrono::DateTime<chrono::Utc>,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub latency_ms: i32,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Integer>)]
    pub status_code: Option<i32>,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub records: i32,
}

/// `count` punches of the advline employees the key knows, one a minute from 06:00, with punch
/// ids from `first_id`; each thousand of ids is its own day of May 2026, so batches with ids
/// apart never share an empId and time.
pub fn punches(first_id: i64, count: usize) -> Vec<ReadyPunch> {
    (0..count)
        .map(|i| {
            let emp = ADVLINE_EMPLOYEES[i % ADVLINE_EMPLOYEES.len()];
            let minute = i as i64;
            punch(
                first_id + minute,
                emp,
                if i % 2 == 0 {
                    PunchType::CheckIn
                } else {
                    PunchType::CheckOut
                },
                &format!(
                    "2026-05-{:02} {:02}:{:02}:00",
                    1 + first_id / 1000,
                    6 + minute / 60,
                    minute % 60
                ),
            )
        })
        .collect()
}

pub fn punch(id: i64, emp_id: &str, punch_type: PunchType, time: &str) -> ReadyPunch {
    ReadyPunch {
        punch_id: PunchId(id),
        emp_id: BayzatEmpId::new(emp_id).unwrap(),
        punch_type,
        time: time.parse::<LocalPunchTime>().unwrap(),
    }
}

/// Each ledger entry's (empId, time), checking none repeats.
pub fn assert_exactly_once(ledger: &[bayzat_sim::LedgerEntry], expected: usize) {
    let mut seen = std::collections::HashSet::new();
    for entry in ledger {
        assert!(
            seen.insert((entry.emp_id.clone(), entry.time.clone())),
            "{} {} accepted twice",
            entry.emp_id,
            entry.time
        );
    }
    assert_eq!(ledger.len(), expected, "punches in the ledger");
}

/// sync-service as a child process against the stack, paced and leased like the in-process
/// replicas (lease 3 s, calls at most 2 s); killed if the test ends early.
pub struct Process(pub std::process::Child);

impl Process {
    pub fn start(stack: &Stack) -> Self {
        Self::start_with(stack, &[])
    }

    /// With variables added or replaced.
    pub fn start_with(stack: &Stack, vars: &[(&str, &str)]) -> Self {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_sync-service"));
        command
            .env_clear()
            .env("DATABASE_URL", stack.env.db.url())
            .env("AMQP_URL", stack.env.broker.url())
            .env("AMQP_NAMESPACE", stack.env.broker.namespace())
            .env(sync_service::BIND_VARIABLE, "127.0.0.1:0")
            .env("CONFIG_SERVICE_URL", &stack.config_base)
            .env("CONFIG_SERVICE_INTERNAL_URL", &stack.config_internal_base)
            .envs(test_support::test_keys().env(Some(auth::Signer::SyncService)))
            .env(
                "BAYZAT_RATE_LIMIT_DELAY",
                format!("{}", INTERVAL_MS as f64 / 1000.0),
            )
            .env("BAYZAT_RATE_LIMIT_MARGIN_MS", "50")
            .env("BAYZAT_RETRY_SCHEDULE", "1s,1s,1s,1s,1s")
            .env("SYNC_LEASE_TTL", "3")
            .env("BAYZAT_HTTP_TIMEOUT", "2")
            .env("BAYZAT_ALLOWED_API_URLS", "http://127.0.0.1:*")
            .env("RUST_LOG", "warn")
            .stdout(if std::env::var_os("SYNC_TEST_PROCESS_LOGS").is_some() {
                std::process::Stdio::inherit()
            } else {
                std::process::Stdio::null()
            });
        for (name, value) in vars {
            command.env(name, value);
        }
        Self(command.spawn().unwrap())
    }

    /// SIGKILL: nothing of the process runs after it, no commit and no lease release.
    pub fn kill_9(&mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }

    /// SIGTERM, as a container runtime or systemd stops a service.
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit, at most `timeout`; its exit status, or None if it still
    /// runs.
    pub async fn exited_within(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let mut status = None;
        let child = &mut self.0;
        test_support::eventually(timeout, || {
            status = child.try_wait().unwrap();
            let exited = status.is_some();
            async move { exited }
        })
        .await;
        status
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
