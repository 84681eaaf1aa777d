//! import-service: fingerprint reports in, validated and de-duplicated punches out (schema `import`).

use std::net::{Ipv4Addr, SocketAddr};

use actix_web::{App, HttpServer};
use diesel_migrations::{embed_migrations, EmbeddedMigrations};
use service_kit::{configure_ops, Foundation, RunningService, StartError};
use settings::{CommonSettings, Env, SettingsError};

pub const SERVICE: &str = "import-service";
/// The Postgres schema this service owns.
pub const SCHEMA: &str = "import";
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/import");

/// The variable naming this service's listen address, and its default.
pub const BIND_VARIABLE: &str = "IMPORT_SERVICE_BIND";
pub const DEFAULT_BIND: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8082);

#[derive(Debug, Clone)]
pub struct Settings {
    pub common: CommonSettings,
}

impl Settings {
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        Ok(Self {
            common: CommonSettings::from_env(env, BIND_VARIABLE, DEFAULT_BIND)?,
        })
    }
}

/// Migrates the schema, connects to the broker and serves the REST API.
pub async fn start(settings: Settings) -> Result<RunningService, StartError> {
    let foundation = Foundation::prepare(SERVICE, &settings.common, SCHEMA, MIGRATIONS).await?;
    let ops = foundation.ops.clone();
    let running = RunningService::start(
        settings.common.bind,
        foundation.parts(Vec::new(), Vec::new()),
        move |listener| {
            Ok(HttpServer::new(move || {
                let ops = ops.clone();
                App::new().configure(move |config| configure_ops(config, ops))
            })
            .listen(listener)?
            .run())
        },
    )?;
    Ok(running)
}
