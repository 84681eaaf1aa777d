//! import-service: fingerprint reports in, validated and de-duplicated punches out (schema
//! `import`).

pub mod access;
pub mod api;
pub mod batch;
pub mod bridge_events;
pub mod clocks;
pub mod errors;
pub mod events;
pub mod metrics;
pub mod openapi;
pub mod pipeline;
pub mod queueing;
pub mod reading;
pub mod release;
pub mod reprocess;
pub mod retention;
pub mod schema;
pub mod store;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use auth::{Claims, JwtKeys, Role};
use diesel_migrations::{embed_migrations, EmbeddedMigrations};
use directory::DirectoryClient;
use outbox::RelayWaker;
use service_kit::{ApiRateLimit, Foundation, HttpApi, RunningService, StartError};
use settings::{CommonSettings, Env, SettingsError};

pub const SERVICE: &str = "import-service";
/// The Postgres schema this service owns.
pub const SCHEMA: &str = "import";
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/import");

/// The variable naming this service's listen address, and its default.
pub const BIND_VARIABLE: &str = "IMPORT_SERVICE_BIND";
pub const DEFAULT_BIND: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8082);

#[derive(Clone)]
pub struct Settings {
    pub common: CommonSettings,
    /// `BRIDGE_TRUSTED_KEYS` verifies callers; `BRIDGE_SIGNING_KEY`, this service's own
    /// credential (signer `import-service`), signs its calls to config-service.
    pub jwt: JwtKeys,
    /// `CONFIG_SERVICE_URL`: where the directory snapshot comes from.
    pub config_service_url: String,
    /// `IMPORT_STORAGE_DIR`: where uploaded reports are kept.
    pub storage_dir: PathBuf,
    /// `IMPORT_MAX_UPLOAD_BYTES`: larger uploads are refused with 413 (default 200 MB).
    pub max_upload_bytes: u64,
    /// `IMPORT_FILE_RETENTION_DAYS`: stored reports older than this are deleted (default 90).
    pub file_retention_days: u32,
    /// `IMPORT_ROW_RETENTION_DAYS`: raw row values (names) older than this are removed (default 400).
    pub row_retention_days: u32,
    /// `CLOCK_SILENT_AFTER` (seconds): an approved clock that has not called for longer is
    /// silent (the `ClockSilent` alert; default 30 minutes).
    pub clock_silent_after: Duration,
    /// `IMPORT_CLOCK_RATE_LIMIT_PER_SECOND`: requests a second the terminals calling from one
    /// address may make on the clock listener, in bursts of ten times that (default 500: a
    /// site's clocks usually share one address; the REST API's allowance is another).
    pub clock_rate_limit_per_second: std::num::NonZeroU32,
    /// `IMPORT_MASTER_KEYS` and the `IMPORT_BIOTIME_*` variables: pulling BioTime servers.
    pub biotime: clocks::biotime::PullSettings,
}

impl Settings {
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        Ok(Self {
            common: CommonSettings::from_env(env, BIND_VARIABLE, DEFAULT_BIND)?,
            jwt: JwtKeys::from_env_signing_as(env, auth::Signer::ImportService)?,
            config_service_url: env.required("CONFIG_SERVICE_URL")?,
            storage_dir: env.or("IMPORT_STORAGE_DIR", PathBuf::from("./data/imports"))?,
            max_upload_bytes: env.or("IMPORT_MAX_UPLOAD_BYTES", 200 * 1024 * 1024)?,
            file_retention_days: env.or("IMPORT_FILE_RETENTION_DAYS", 90)?,
            row_retention_days: env.or("IMPORT_ROW_RETENTION_DAYS", 400)?,
            clock_silent_after: env
                .or(
                    "CLOCK_SILENT_AFTER",
                    settings::Seconds(Duration::from_secs(1800)),
                )?
                .0,
            clock_rate_limit_per_second: env.or(
                "IMPORT_CLOCK_RATE_LIMIT_PER_SECOND",
                std::num::NonZeroU32::new(500).expect("five hundred is not zero"),
            )?,
            biotime: clocks::biotime::PullSettings::from_env(env)?,
        })
    }
}

/// What the handlers share.
pub struct AppState {
    pub pool: db::Pool,
    /// Where an import's own write transaction connects (it needs COPY, which the pool's
    /// connections do not offer).
    pub database_url: String,
    pub directory: DirectoryClient,
    pub storage_dir: PathBuf,
    pub max_upload_bytes: u64,
    pub relay: RelayWaker,
    /// Declares a company's queue before its first message, so nothing is returned unroutable.
    pub broker: bus::Broker,
    pub metrics: metrics::Metrics,
    /// `CLOCK_SILENT_AFTER`: how long an approved clock may go without calling.
    pub clock_silent_after: Duration,
    /// Sealing BioTime passwords and pulling the servers.
    pub biotime: clocks::biotime::PullSettings,
}

/// The token import-service presents to config-service, signed with its own credential: it
/// reads the directory snapshot and nothing else.
fn service_token(keys: &JwtKeys) -> String {
    keys.mint(&Claims::new(
        SERVICE,
        Role::Service,
        chrono::Duration::minutes(5),
    ))
}

/// Marks failed the imports a stopped service left being read, and tells of each
/// (`import.failed`) in the same transaction.
async fn fail_interrupted(conn: &mut store::Conn) -> diesel::QueryResult<()> {
    use diesel_async::AsyncConnection;
    conn.transaction(async |conn| {
        let now = chrono::Utc::now();
        let failed: Vec<_> = store::imports::fail_interrupted(conn)
            .await?
            .iter()
            .map(|(id, filename)| {
                bridge_events::import_failed(*id, filename, store::imports::INTERRUPTED, now)
            })
            .collect();
        bridge_events::enqueue(conn, &failed).await
    })
    .await
}

/// Migrates the schema, connects to the broker, starts the outbox relay, the status consumer and
/// the retention job, and serves the REST API.
pub async fn start(settings: Settings) -> Result<RunningService, StartError> {
    start_with_clocks(settings, None).await
}

/// [`start`], and with `clock_listener` the terminal endpoints (`/iclock/…`) there and only there.
pub async fn start_with_clocks(
    settings: Settings,
    clock_listener: Option<std::net::TcpListener>,
) -> Result<RunningService, StartError> {
    std::fs::create_dir_all(&settings.storage_dir)?;
    settings.jwt.warn_if_development(SERVICE);
    let foundation = Foundation::prepare(SERVICE, &settings.common, SCHEMA, MIGRATIONS).await?;
    let mut conn = db::connection(&foundation.pool).await?;
    fail_interrupted(&mut conn)
        .await
        .map_err(db::DbError::from)?;
    drop(conn);
    let relay = RelayWaker::default();
    let publisher = Arc::new(bus::Publisher::new(foundation.broker.clone()));
    let tasks = vec![
        outbox::spawn_relay_expanding(
            foundation.pool.clone(),
            publisher.clone(),
            SCHEMA,
            relay.clone(),
            Arc::new(queueing::ReadyExpander),
        ),
        retention::spawn(
            foundation.pool.clone(),
            settings.storage_dir.clone(),
            settings.file_retention_days,
            settings.row_retention_days,
            Duration::from_secs(3600),
        ),
    ];
    let clock_health =
        metrics::ClockHealth::register(foundation.ops.registry(), settings.clock_silent_after);
    let mut tasks = tasks;
    tasks.push(clocks::health::spawn(
        foundation.pool.clone(),
        clock_health,
        publisher,
        relay.clone(),
        settings.clock_silent_after,
    ));
    let consumers = vec![events::spawn_status_consumer(
        &foundation.broker,
        &foundation.pool,
    )];
    let keys = settings.jwt.clone();
    let state = web::Data::new(AppState {
        pool: foundation.pool.clone(),
        database_url: settings.common.database_url.clone(),
        directory: DirectoryClient::new(&settings.config_service_url, move || service_token(&keys)),
        storage_dir: settings.storage_dir.clone(),
        max_upload_bytes: settings.max_upload_bytes,
        relay,
        broker: foundation.broker.clone(),
        metrics: metrics::Metrics::register(foundation.ops.registry()),
        clock_silent_after: settings.clock_silent_after,
        biotime: settings.biotime.clone(),
    });
    tasks.push(clocks::biotime::spawn(
        state.clone(),
        settings.biotime.clone(),
    ));
    let jwt = web::Data::new(settings.jwt.clone());
    let mut http = HttpApi::new(
        settings.common.bind,
        foundation.ops.clone(),
        ApiRateLimit::per_second(settings.common.api_rate_limit_per_second)
            .identified_by(settings.jwt.caller_identity())
            .with_services(
                settings.common.service_rate_limit_per_second,
                JwtKeys::is_service_caller,
            ),
        1024 * 1024,
    );
    let terminals = clock_listener.is_some();
    if let Some(listener) = clock_listener {
        // Terminals carry no token: they are limited per address, by an allowance of their own.
        http = http
            .with_internal_listener(listener, clocks::push::PREFIX)?
            .with_internal_rate_limit(ApiRateLimit::per_second(
                settings.clock_rate_limit_per_second,
            ));
    }
    let running = service_kit::serve(http, foundation.parts(tasks, consumers), move |config| {
        config.app_data(state.clone()).app_data(jwt.clone());
        api::configure(config);
        clocks::admin::configure(config);
        clocks::biotime_admin::configure(config);
        if terminals {
            clocks::push::configure(config);
        }
    })?;
    // An upload in progress at a stop is finished within the server's grace; one cut off is
    // failed then, its report kept.
    let pool = foundation.pool.clone();
    Ok(running.with_drain(async move { pipeline::fail_cut_off(&pool).await }))
}
