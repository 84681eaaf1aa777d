//! sync-service: delivers every punch to Bayzat once, at Bayzat's pace (schema `sync`).

pub mod api;
pub mod bridge_events;
pub mod clock;
pub mod dead_letters;
pub mod errors;
pub mod events;
pub mod keys;
pub mod metrics;
pub mod openapi;
pub mod retention;
pub mod runtime;
pub mod scheduler;
pub mod schema;
pub mod sender;
pub mod settings;
pub mod store;
pub mod storing;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use actix_web::web;
use bayzat_client::BayzatClient;
use diesel_migrations::{embed_migrations, EmbeddedMigrations};
use directory::DirectoryClient;
use outbox::RelayWaker;
use service_kit::{ApiRateLimit, Foundation, HttpApi, RunningService, StartError};

pub use crate::clock::Clock;
pub use crate::settings::{BayzatSettings, Settings};

use crate::runtime::{CompanyWorkers, SyncContext};

pub const SERVICE: &str = "sync-service";
/// The Postgres schema this service owns.
pub const SCHEMA: &str = "sync";
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sync");

/// The variable naming this service's listen address, and its default.
pub const BIND_VARIABLE: &str = "SYNC_SERVICE_BIND";
pub const DEFAULT_BIND: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8083);

/// Migrates the schema, connects to the broker, starts the outbox relay, the consumers (one per
/// company of the directory, and the configuration consumer), the companies' senders, the
/// scheduler and the retention pass, and serves the REST API.
pub async fn start(settings: Settings) -> Result<RunningService, StartError> {
    settings.check()?;
    settings.jwt.warn_if_development(SERVICE);
    let foundation = Foundation::prepare(SERVICE, &settings.common, SCHEMA, MIGRATIONS).await?;
    let relay = RelayWaker::default();
    let publisher = Arc::new(bus::Publisher::new(foundation.broker.clone()));
    let bayzat = BayzatClient::try_new(
        settings.bayzat.http_timeout,
        settings.bayzat.duplicate_pattern.clone(),
    )
    .map_err(|e| StartError::Listen(std::io::Error::other(e)))?;
    let jwt = settings.jwt.clone();
    let shared = Arc::new(SyncContext {
        pool: foundation.pool.clone(),
        broker: foundation.broker.clone(),
        relay: relay.clone(),
        clock: settings.clock.clone(),
        replica_id: settings.replica_id.clone(),
        lease_ttl: settings.lease_ttl,
        bayzat_settings: settings.bayzat.clone(),
        bayzat,
        keys: keys::KeyCache::new(
            &settings.config_service_internal_url,
            settings.jwt.clone(),
            settings.allowed_api_urls.clone(),
        ),
        directory: DirectoryClient::new(&settings.config_service_url, move || {
            keys::service_token(&jwt)
        }),
        metrics: metrics::Metrics::register(foundation.ops.registry()),
        stopping: tokio::sync::watch::Sender::new(false),
        storer: storing::Storer::start(foundation.pool.clone(), settings.clock.clone()),
    });
    let workers = CompanyWorkers::new(shared.clone());
    // The replicas already running are known before the first subscription, so this one
    // subscribes at once only to the companies it is preferred for.
    match scheduler::heartbeat(&shared).await {
        Ok(alive) => workers.share(alive),
        Err(error) => tracing::warn!(%error, "heartbeat not written; subscribing to every company"),
    }
    workers.ensure_directory().await;
    let (dead_letter_gauge, dead_letter_consumer, dead_letter_recount) =
        dead_letters::start(&shared, foundation.ops.registry());
    let consumers = vec![
        events::spawn_config_consumer(&shared, workers.weak()),
        events::spawn_clock_consumer(&shared),
        dead_letter_consumer,
    ];
    let finishing = workers.weak();
    let leaving = shared.clone();
    let tasks = vec![
        outbox::spawn_relay(foundation.pool.clone(), publisher, SCHEMA, relay),
        scheduler::spawn(shared.clone(), workers),
        dead_letter_recount,
        retention::spawn(
            foundation.pool.clone(),
            settings.clock.clone(),
            retention::Limits::new(settings.retention),
            RETENTION_EVERY,
        ),
    ];
    // On stop, a call in flight ends within BAYZAT_HTTP_TIMEOUT; then its answer is written.
    let finish_within = settings.bayzat.http_timeout + STOP_MARGIN;
    let state = web::Data::from(shared);
    let jwt = web::Data::new(settings.jwt.clone());
    let counted = state.clone().into_inner();
    let ops = foundation.ops.clone().count_when_scraped(Arc::new(move || {
        let shared = counted.clone();
        Box::pin(async move {
            if let Err(error) = metrics::count_deliveries(&shared).await {
                tracing::debug!(%error, "delivery gauges not counted");
            }
        })
    }));
    let http = HttpApi::new(
        settings.common.bind,
        ops,
        ApiRateLimit::per_second(settings.common.api_rate_limit_per_second)
            .identified_by(settings.jwt.caller_identity())
            .with_services(
                settings.common.service_rate_limit_per_second,
                auth::JwtKeys::is_service_caller,
            ),
        64 * 1024,
    );
    let running = service_kit::serve(http, foundation.parts(tasks, consumers), move |config| {
        config
            .app_data(state.clone())
            .app_data(jwt.clone())
            .app_data(dead_letter_gauge.clone());
        api::configure(config);
    })?;
    Ok(running.with_drain(async move {
        if let Some(workers) = finishing.upgrade() {
            workers.finish(finish_within).await;
        }
        if let Err(error) = scheduler::leave(&leaving).await {
            tracing::warn!(%error, "could not tell the other replicas this one stops");
        }
    }))
}

/// How often the retention pass runs (the first at start).
const RETENTION_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// How long a stopping sender may take to write an answer, past the call's own timeout.
const STOP_MARGIN: std::time::Duration = std::time::Duration::from_secs(2);
