//! config-service: companies, fingerprint report names, the employee directory, Bayzat
//! credentials (encrypted at rest), access control and the system's audit log (schema `config`).

pub mod api;
pub mod changes;
pub mod cli;
pub mod employee_csv;
pub mod errors;
pub mod events;
pub mod mail;
pub mod openapi;
pub mod retention;
pub mod schema;
pub mod store;
pub mod webhooks;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use auth::JwtKeys;
use bayzat_client::BayzatClient;
use crypto::MasterKeys;
use diesel_migrations::{embed_migrations, EmbeddedMigrations};
use outbox::RelayWaker;
use service_kit::{ApiRateLimit, Foundation, HttpApi, RunningService, StartError};
use settings::{AllowedApiUrls, CommonSettings, Env, Seconds, SettingsError};

pub const SERVICE: &str = "config-service";
/// The Postgres schema this service owns.
pub const SCHEMA: &str = "config";
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/config");

/// The variable naming this service's listen address, and its default.
pub const BIND_VARIABLE: &str = "CONFIG_SERVICE_BIND";
pub const DEFAULT_BIND: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8081);
pub const DEFAULT_API_URL: &str = settings::BAYZAT_PRODUCTION_API_URL;
/// The variable naming the address of the internal endpoints (`/internal/...`, for other
/// services only), and its default. Only `/internal/...` is served there, and never on the
/// public bind.
pub const INTERNAL_BIND_VARIABLE: &str = "CONFIG_SERVICE_INTERNAL_BIND";
pub const DEFAULT_INTERNAL_BIND: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8091);

/// `WEBHOOK_RETRY_SCHEDULE`'s default: eight retries over about 23 hours, then the message has
/// failed.
pub const DEFAULT_WEBHOOK_RETRY_SCHEDULE: &str = "5s,1m,5m,30m,2h,5h,8h,8h";

/// Largest JSON or CSV body: a 10,000-employee upsert fits with room to spare.
const BODY_LIMIT: usize = 8 * 1024 * 1024;

#[derive(Clone)]
pub struct Settings {
    pub common: CommonSettings,
    /// `BRIDGE_TRUSTED_KEYS`: verifies every caller's token (config-service signs nothing).
    pub jwt: JwtKeys,
    /// `CONFIG_SERVICE_INTERNAL_BIND`: where `/internal/...` is served.
    pub internal_bind: SocketAddr,
    /// `BRIDGE_MASTER_KEYS`: encrypt and decrypt stored Bayzat keys.
    pub master_keys: Arc<MasterKeys>,
    /// `BAYZAT_DEFAULT_API_URL`: the api_url of a company that sets none.
    pub default_api_url: String,
    /// `BAYZAT_HTTP_TIMEOUT` (seconds): how long a connection test waits for Bayzat.
    pub bayzat_timeout: Duration,
    /// `BAYZAT_ALLOWED_API_URLS`: the only URLs a key is saved for or tested against.
    pub allowed_api_urls: AllowedApiUrls,
    /// `WEBHOOK_*`: where webhooks may go and how they are sent.
    pub webhooks: webhooks::SendSettings,
    /// `SMTP_URL`, `NOTIFY_MAIL_FROM`, `CONSOLE_PUBLIC_URL`, `NOTIFY_DIGEST_MINUTES`: mail to
    /// the companies' notification contacts.
    pub mail: mail::MailSettings,
}

impl Settings {
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        Ok(Self {
            common: CommonSettings::from_env(env, BIND_VARIABLE, DEFAULT_BIND)?,
            jwt: JwtKeys::from_env(env)?,
            internal_bind: env.or(INTERNAL_BIND_VARIABLE, DEFAULT_INTERNAL_BIND)?,
            master_keys: Arc::new(MasterKeys::from_env(env)?),
            default_api_url: env.or("BAYZAT_DEFAULT_API_URL", DEFAULT_API_URL.to_owned())?,
            bayzat_timeout: env
                .or("BAYZAT_HTTP_TIMEOUT", Seconds(Duration::from_secs(10)))?
                .0,
            allowed_api_urls: AllowedApiUrls::from_env(env)?,
            webhooks: webhooks::SendSettings {
                allowed_urls: env.optional("WEBHOOK_ALLOWED_URLS")?,
                retry_schedule: env.or(
                    "WEBHOOK_RETRY_SCHEDULE",
                    DEFAULT_WEBHOOK_RETRY_SCHEDULE
                        .parse()
                        .expect("the default schedule parses"),
                )?,
                timeout: env
                    .or("WEBHOOK_TIMEOUT", Seconds(Duration::from_secs(10)))?
                    .0,
                disable_after: env
                    .or(
                        "WEBHOOK_DISABLE_AFTER",
                        Seconds(Duration::from_secs(24 * 3600)),
                    )?
                    .0,
            },
            mail: mail::MailSettings::from_env(env)?,
        })
    }
}

/// What the handlers share.
pub struct AppState {
    pub pool: db::Pool,
    pub master_keys: Arc<MasterKeys>,
    pub bayzat: BayzatClient,
    pub default_api_url: String,
    /// Where keys may be sent (saved and tested URLs).
    pub allowed_api_urls: AllowedApiUrls,
    /// Wakes the outbox relay after a commit that enqueued events.
    pub relay: RelayWaker,
    /// Where webhook endpoints may point (`WEBHOOK_ALLOWED_URLS`); None: nowhere.
    pub webhook_urls: Option<AllowedApiUrls>,
    /// Wakes the webhook sender after a replay.
    pub webhooks: webhooks::Waker,
    /// The SMTP server (if any) and where mails link to.
    pub mail: mail::Mail,
}

/// A started config-service and where its internal endpoints listen.
pub struct Started {
    pub service: RunningService,
    pub internal_addr: SocketAddr,
}

/// Migrates the schema, connects to the broker, starts the outbox relay, the retention pass and
/// the consumers, and serves the REST API.
pub async fn start(settings: Settings) -> Result<RunningService, StartError> {
    Ok(start_with_internal(settings).await?.service)
}

/// [`start`], also telling where `/internal/...` is served (its bind may be port 0).
pub async fn start_with_internal(settings: Settings) -> Result<Started, StartError> {
    settings.jwt.warn_if_development(SERVICE);
    let internal_listener = std::net::TcpListener::bind(settings.internal_bind)?;
    let internal_addr = internal_listener.local_addr()?;
    let foundation = Foundation::prepare(SERVICE, &settings.common, SCHEMA, MIGRATIONS).await?;
    let relay = RelayWaker::default();
    let publisher = Arc::new(bus::Publisher::new(foundation.broker.clone()));
    let webhook_waker = webhooks::Waker::default();
    let mail = mail::Mail::new(&settings.mail);
    let tasks = vec![
        outbox::spawn_relay(foundation.pool.clone(), publisher, SCHEMA, relay.clone()),
        retention::spawn(foundation.pool.clone(), Duration::from_secs(3600)),
        webhooks::spawn(
            foundation.pool.clone(),
            settings.master_keys.clone(),
            settings.webhooks.clone(),
            webhook_waker.clone(),
        ),
        mail::spawn(
            foundation.pool.clone(),
            mail.clone(),
            settings.mail.digest_window,
            settings.mail.tick,
            settings.master_keys.clone(),
        ),
    ];
    let consumers = events::spawn_consumers(&foundation.broker, &foundation.pool, &webhook_waker);
    // Keys stored by earlier versions are bound to their companies before anything reads them.
    match db::connection(&foundation.pool).await {
        Ok(mut conn) => {
            if let Err(error) = cli::upgrade_legacy_keys(&mut conn, &settings.master_keys).await {
                tracing::error!(%error, "stored Bayzat keys of the old format were not moved");
            }
        }
        Err(error) => {
            tracing::error!(%error, "stored Bayzat keys of the old format were not moved")
        }
    }
    let state = web::Data::new(AppState {
        pool: foundation.pool.clone(),
        master_keys: settings.master_keys.clone(),
        bayzat: BayzatClient::new(
            settings.bayzat_timeout,
            bayzat_client::default_duplicate_pattern(),
        ),
        default_api_url: settings.default_api_url.clone(),
        allowed_api_urls: settings.allowed_api_urls.clone(),
        relay,
        webhook_urls: settings.webhooks.allowed_urls.clone(),
        webhooks: webhook_waker,
        mail,
    });
    let jwt = web::Data::new(settings.jwt.clone());
    let http = HttpApi::new(
        settings.common.bind,
        foundation.ops.clone(),
        ApiRateLimit::per_second(settings.common.api_rate_limit_per_second)
            .identified_by(settings.jwt.caller_identity())
            .with_services(
                settings.common.service_rate_limit_per_second,
                JwtKeys::is_service_caller,
            ),
        BODY_LIMIT,
    )
    .with_internal_listener(internal_listener, "/internal/")?;
    let running = service_kit::serve(http, foundation.parts(tasks, consumers), move |config| {
        config
            .app_data(state.clone())
            .app_data(jwt.clone())
            .app_data(web::PayloadConfig::new(BODY_LIMIT));
        api::configure(config);
    })?;
    Ok(Started {
        service: running,
        internal_addr,
    })
}
