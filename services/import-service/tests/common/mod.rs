//! config-service and import-service in-process against this test's database and broker
//! namespace, with the fixture directory loaded; helpers to upload reports and to read what was
//! queued for sync-service.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth::{JwtKeys, Role};
use bus::{spawn_consumer, Broker, ConsumerHandle, HandlerDecision};
use domain::{ImportCancelledV1, Message, PunchesReadyV1};
use reqwest::StatusCode;
use serde_json::Value;
use service_kit::RunningService;
pub use test_support::fixture;

pub mod clocks;
use test_support::{wait_for, ConfigService, TcpProxy, TestEnv};

pub const JWT_SECRET: &str = "import-test-secret-of-at-least-32-bytes";

pub fn expected(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Fields drop in order: the services stop before their database and namespace go.
pub struct Stack {
    pub import: Option<RunningService>,
    pub config: ConfigService,
    pub broker: Broker,
    pub env: TestEnv,
    pub storage: PathBuf,
    pub client: reqwest::Client,
    pub keys: JwtKeys,
    pub import_base: String,
    pub config_base: String,
    /// Set when the stack was started with its broker connection through a proxy.
    pub amqp_proxy: Option<TcpProxy>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.storage);
    }
}

impl Stack {
    pub async fn start() -> Self {
        Self::start_with(false).await
    }

    /// `proxied_broker`: import-service reaches RabbitMQ through a proxy the test can cut.
    pub async fn start_with(proxied_broker: bool) -> Self {
        let env = TestEnv::new().await;
        let test_keys = test_support::test_keys();
        let keys = test_keys.keyring();
        // Nothing listens there: these tests stop at the company queues.
        let config = ConfigService::start(&env, "http://127.0.0.1:9/attendance").await;
        let config_base = config.base.clone();
        let storage = std::env::temp_dir().join(test_support::unique_name("imports"));
        let mut common = env.common_settings();
        let amqp_proxy = if proxied_broker {
            let proxy = TcpProxy::start(&test_support::upstream_of(env.broker.url())).await;
            common.amqp_url = proxy.url_for(&common.amqp_url);
            Some(proxy)
        } else {
            None
        };
        let import = import_service::start(import_service::Settings {
            common,
            jwt: test_keys.for_signer(auth::Signer::ImportService),
            config_service_url: config_base.clone(),
            storage_dir: storage.clone(),
            max_upload_bytes: 5 * 1024 * 1024,
            file_retention_days: 90,
            row_retention_days: 400,
            biotime: Default::default(),
            clock_silent_after: std::time::Duration::from_secs(1800),
            clock_rate_limit_per_second: std::num::NonZeroU32::new(500).unwrap(),
        })
        .await
        .unwrap();
        let broker = Broker::start(env.broker.url(), env.broker.topology(), "import-test");
        broker.connected().await;
        Self {
            import_base: import.base_url(),
            import: Some(import),
            config,
            broker,
            env,
            storage,
            client: test_support::client(),
            keys,
            config_base,
            amqp_proxy,
        }
    }

    /// A token of `role`; a `service` token is import-service's own credential.
    pub fn token(&self, role: Role) -> String {
        test_support::role_token(role, "import-service")
    }

    /// What an import-service binary needs to verify tokens and sign its own calls.
    pub fn key_env(&self) -> Vec<(String, String)> {
        test_support::test_keys().env(Some(auth::Signer::ImportService))
    }

    /// Uploads a file as the raw body with query `options` (e.g. "strict=true").
    pub async fn upload_bytes(&self, bytes: Vec<u8>, options: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}/v1/imports?{options}", self.import_base))
            .bearer_auth(self.token(Role::Operator))
            .header("content-type", "text/csv")
            .body(bytes)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn upload(&self, name: &str, options: &str) -> (StatusCode, Value) {
        self.upload_bytes(std::fs::read(fixture(name)).unwrap(), options)
            .await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.import_base))
            .bearer_auth(self.token(Role::Viewer))
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.import_base))
            .bearer_auth(self.token(Role::Operator))
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Adds (or renames) an employee of `company` in config-service's directory, as an admin.
    pub async fn add_employee(&self, company: &str, employee_id: &str, name: &str) {
        let response = self
            .client
            .put(format!(
                "{}/v1/companies/{company}/employees",
                self.config_base
            ))
            .bearer_auth(self.token(Role::Admin))
            .json(
                &serde_json::json!({ "employees": [{ "employee_id": employee_id, "name": name }] }),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "adding {employee_id} to {company}"
        );
    }

    /// Company id by slug, from config-service.
    pub async fn company_id(&self, slug: &str) -> i64 {
        self.config.company_id(slug).await
    }

    /// Waits until the outbox relay has tried to publish a queued message and the broker
    /// refused it (it stays unsent, its attempt counted).
    pub async fn publish_refused(&self) {
        wait_for(
            Duration::from_secs(20),
            "the relay tries to publish and is refused",
            || async {
                match test_support::refused_outbox_rows(self.env.db.url(), "import").await? {
                    0 => Err("no refused attempt yet".to_owned()),
                    _ => Ok(()),
                }
            },
        )
        .await;
    }

    /// Starts collecting what is queued for every company of the directory.
    pub async fn collector(&self) -> Collector {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut consumers = Vec::new();
        let mut slugs = BTreeMap::new();
        for slug in ["advline", "clarastars", "gulflog", "dormant"] {
            let id = self.company_id(slug).await;
            slugs.insert(id, slug.to_owned());
            let sink = seen.clone();
            consumers.push(spawn_consumer(
                &self.broker,
                self.broker.topology().company_queue(id),
                100,
                move |incoming| {
                    sink.lock().unwrap().push(incoming);
                    std::future::ready(HandlerDecision::Done)
                },
            ));
        }
        Collector {
            seen,
            _consumers: consumers,
            slugs,
            database_url: self.env.db.url().to_owned(),
        }
    }
}

/// What the company queues received.
pub struct Collector {
    seen: Arc<Mutex<Vec<bus::Incoming>>>,
    _consumers: Vec<ConsumerHandle>,
    slugs: BTreeMap<i64, String>,
    /// Where import-service's outbox says what it queued.
    database_url: String,
}

/// The ids of the messages import-service has queued for the company queues so far (its
/// outbox's `punches.ready.v1` and `import.cancelled.v1`).
async fn queued_ids(database_url: &str) -> Result<Vec<uuid::Uuid>, String> {
    use diesel_async::{AsyncConnection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        message_id: uuid::Uuid,
    }
    let mut conn = diesel_async::AsyncPgConnection::establish(database_url)
        .await
        .map_err(|e| e.to_string())?;
    let rows: Vec<Row> =
        diesel::sql_query("SELECT message_id FROM import.outbox WHERE message_type IN ($1, $2)")
            .bind::<diesel::sql_types::Text, _>(PunchesReadyV1::TYPE)
            .bind::<diesel::sql_types::Text, _>(ImportCancelledV1::TYPE)
            .load(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
    Ok(rows.into_iter().map(|r| r.message_id).collect())
}

impl Collector {
    /// The `punches.ready.v1` messages received so far, as sent.
    pub fn ready_messages(&self) -> Vec<PunchesReadyV1> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.message_type.as_deref() == Some(PunchesReadyV1::TYPE))
            .map(|m| m.json().unwrap())
            .collect()
    }

    /// Waits until every message import-service has queued for the companies so far has
    /// arrived, then returns what [`Collector::received`] does.
    pub async fn settle(&self) -> (BTreeMap<String, Vec<Value>>, Vec<ImportCancelledV1>) {
        wait_for(
            Duration::from_secs(30),
            "every message queued for the companies arrives",
            || async {
                let queued = queued_ids(&self.database_url).await?;
                let arrived: HashSet<uuid::Uuid> = self
                    .seen
                    .lock()
                    .unwrap()
                    .iter()
                    .filter_map(bus::Incoming::message_uuid)
                    .collect();
                let missing = queued.iter().filter(|id| !arrived.contains(id)).count();
                (missing == 0)
                    .then_some(())
                    .ok_or(format!("{missing} of {} not arrived", queued.len()))
            },
        )
        .await;
        self.received()
    }

    /// The Bayzat records received so far per company slug, sorted by time then empId, and the
    /// cancellations.
    pub fn received(&self) -> (BTreeMap<String, Vec<Value>>, Vec<ImportCancelledV1>) {
        let mut punches: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        let mut cancelled = Vec::new();
        for incoming in self.seen.lock().unwrap().iter() {
            match incoming.message_type.as_deref() {
                Some(PunchesReadyV1::TYPE) => {
                    let ready: PunchesReadyV1 = incoming.json().unwrap();
                    let slug = self.slugs[&ready.company_id.0].clone();
                    for punch in ready.punches {
                        punches
                            .entry(slug.clone())
                            .or_default()
                            .push(serde_json::to_value(punch.bayzat_record()).unwrap());
                    }
                }
                Some(ImportCancelledV1::TYPE) => cancelled.push(incoming.json().unwrap()),
                _ => {}
            }
        }
        for records in punches.values_mut() {
            records.sort_by(|a, b| {
                (a["time"].as_str(), a["empId"].as_str())
                    .cmp(&(b["time"].as_str(), b["empId"].as_str()))
            });
        }
        (punches, cancelled)
    }
}
