use std::future::Future;
use std::process::ExitCode;

use settings::{CommonSettings, Env, SettingsError};

use crate::{Ops, RunningService, ServiceParts};

/// What every service has once it has started: a migrated schema, a pool, a broker connection
/// being supervised, its metrics registry and the operational endpoints.
pub struct Foundation {
    pub pool: db::Pool,
    pub broker: bus::Broker,
    pub ops: Ops,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Database(#[from] db::DbError),
    #[error("listening: {0}")]
    Listen(#[from] std::io::Error),
}

/// Connection pool size per service: a handful of connections serve the REST API, consumers and
/// background tasks of one replica.
const POOL_SIZE: usize = 10;

impl Foundation {
    /// Waits for Postgres, migrates `schema`, opens the pool and starts the broker supervisor
    /// (which declares the exchanges whenever it connects).
    pub async fn prepare(
        service: &'static str,
        common: &CommonSettings,
        schema: &str,
        migrations: db::EmbeddedMigrations,
    ) -> Result<Self, StartError> {
        db::wait_until_reachable(&common.database_url).await;
        db::run_migrations(&common.database_url, schema, migrations).await?;
        let pool = db::pool(&common.database_url, POOL_SIZE)?;
        let topology = bus::Topology::new(common.amqp_namespace.clone());
        let broker = bus::Broker::start(&common.amqp_url, topology, service);
        let ops = Ops::new(pool.clone(), broker.clone(), telemetry::registry(service))
            .watch_outbox(schema)
            .with_body_read_timeout(common.body_read_timeout);
        Ok(Self { pool, broker, ops })
    }

    /// The parts stopped together with the service.
    pub fn parts(
        &self,
        tasks: Vec<tokio::task::JoinHandle<()>>,
        consumers: Vec<bus::ConsumerHandle>,
    ) -> ServiceParts {
        ServiceParts {
            broker: Some(self.broker.clone()),
            tasks,
            consumers,
        }
    }
}

/// The `main` of a service binary: JSON logs and, with `OTEL_EXPORTER_OTLP_ENDPOINT`, traces;
/// settings from the environment (a bad variable stops the process with one line naming it, exit
/// code 2), start, then serve until SIGTERM/SIGINT, and send the spans still buffered.
pub async fn run_binary<S, F>(
    service: &'static str,
    read_settings: impl FnOnce(&Env) -> Result<S, SettingsError>,
    start: impl FnOnce(S) -> F,
) -> ExitCode
where
    F: Future<Output = Result<RunningService, StartError>>,
{
    let env = Env::process();
    let read = read_settings(&env).and_then(|read| Ok((read, settings::otlp_endpoint(&env)?)));
    let (settings, otlp_endpoint) = match read {
        Ok(read) => read,
        Err(error) => {
            eprintln!("{service}: {error}");
            return ExitCode::from(2);
        }
    };
    if let Err(error) = telemetry::init(service, otlp_endpoint.as_deref()) {
        eprintln!("{service}: {error}");
        return ExitCode::from(2);
    }
    let exit = serve(service, start(settings)).await;
    // The exporter blocks while it sends the last batch: off the runtime's workers.
    let _ = tokio::task::spawn_blocking(telemetry::shutdown).await;
    exit
}

async fn serve(
    service: &str,
    started: impl Future<Output = Result<RunningService, StartError>>,
) -> ExitCode {
    let running = match started.await {
        Ok(running) => running,
        Err(error) => {
            tracing::error!(%error, "could not start");
            eprintln!("{service}: {error}");
            return ExitCode::FAILURE;
        }
    };
    match running.wait().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "server failed");
            ExitCode::FAILURE
        }
    }
}
