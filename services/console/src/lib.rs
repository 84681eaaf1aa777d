//! The operator console: server-rendered pages over the REST APIs of config-service,
//! import-service and sync-service, on behalf of the signed-in user (schema `console` for its
//! sessions).
//!
//! The IT portal signs a user in by posting a one-minute login token (audience `console`, five
//! minutes of life at most, used once); the console keeps a server-side session and, for every
//! call to a service, mints a short token with exactly the user's sub, role and companies.

pub mod backend;
pub mod chart;
pub mod errors;
pub mod i18n;
pub mod metrics;
pub mod pages;
pub mod schema;
pub mod session;
pub mod time;
pub mod views;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use actix_web::{web, App};
use auth::JwtKeys;
use diesel_migrations::{embed_migrations, EmbeddedMigrations};
use service_kit::{Ops, RunningService, ServiceParts, StartError};
use settings::{Env, SettingsError};

pub use crate::backend::Backend;
pub use crate::session::SessionSettings;

pub const SERVICE: &str = "console";
/// The Postgres schema this service owns.
pub const SCHEMA: &str = "console";
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/console");

/// The variable naming the console's listen address, and its default.
pub const BIND_VARIABLE: &str = "CONSOLE_BIND";
pub const DEFAULT_BIND: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
/// The audience of the IT portal's login tokens.
pub const LOGIN_AUDIENCE: &str = "console";

/// Largest upload the console passes on (import-service applies its own limit too).
const DEFAULT_MAX_UPLOAD_BYTES: u64 = 200 * 1024 * 1024;

/// `Debug` shows the database URL with its password masked.
#[derive(Clone)]
pub struct Settings {
    /// `DATABASE_URL`: sessions and preferences live in schema `console`.
    pub database_url: String,
    /// `CONSOLE_BIND`.
    pub bind: SocketAddr,
    /// `CONFIG_SERVICE_URL`, `IMPORT_SERVICE_URL`, `SYNC_SERVICE_URL`.
    pub config_service_url: String,
    pub import_service_url: String,
    pub sync_service_url: String,
    /// `BRIDGE_TRUSTED_KEYS` verifies the portal's login tokens; `BRIDGE_SIGNING_KEY`, the
    /// console's own credential (signer `console`: person roles only), signs the per-call tokens.
    pub jwt: JwtKeys,
    pub session: SessionSettings,
    /// `CONSOLE_TIMEZONE`: the zone of times that belong to no one company (imports); default
    /// Asia/Dubai.
    pub timezone: chrono_tz::Tz,
    /// `CONSOLE_MAX_UPLOAD_BYTES`.
    pub max_upload_bytes: u64,
    /// `BAYZAT_HTTP_TIMEOUT`-like bound on one call to a service, in seconds
    /// (`CONSOLE_BACKEND_TIMEOUT`, default 120: an upload is processed within its request).
    pub backend_timeout: Duration,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &settings::redact_url(&self.database_url))
            .field("bind", &self.bind)
            .field("config_service_url", &self.config_service_url)
            .field("import_service_url", &self.import_service_url)
            .field("sync_service_url", &self.sync_service_url)
            .field("jwt", &self.jwt)
            .field("session", &self.session)
            .field("timezone", &self.timezone)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("backend_timeout", &self.backend_timeout)
            .finish()
    }
}

impl Settings {
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        let timezone: String = env.or("CONSOLE_TIMEZONE", "Asia/Dubai".to_owned())?;
        let timezone = timezone.parse().map_err(|_| SettingsError {
            variable: "CONSOLE_TIMEZONE".to_owned(),
            problem: "malformed (expected an IANA time zone)".to_owned(),
        })?;
        Ok(Self {
            database_url: env.required("DATABASE_URL")?,
            bind: env.or(BIND_VARIABLE, DEFAULT_BIND)?,
            config_service_url: env.required("CONFIG_SERVICE_URL")?,
            import_service_url: env.required("IMPORT_SERVICE_URL")?,
            sync_service_url: env.required("SYNC_SERVICE_URL")?,
            jwt: JwtKeys::from_env_signing_as(env, auth::Signer::Console)?,
            session: SessionSettings::from_env(env)?,
            timezone,
            max_upload_bytes: env.or("CONSOLE_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES)?,
            backend_timeout: Duration::from_secs(env.or("CONSOLE_BACKEND_TIMEOUT", 120)?),
        })
    }
}

/// What the handlers share.
pub struct AppState {
    pub pool: db::Pool,
    pub backend: Backend,
    pub login_keys: JwtKeys,
    pub session: SessionSettings,
    /// Requests a second each session may make.
    pub session_limit: service_kit::KeyedLimit,
    pub timezone: chrono_tz::Tz,
    pub max_upload_bytes: u64,
}

/// An HTML page that signs `sub` in at the console at `url` when opened, the way the IT portal
/// does: a form that posts a one-minute login token signed with the portal's key
/// (`BRIDGE_PORTAL_SIGNING_KEY`). For trying the console without the portal.
pub fn sign_in_page(
    env: &Env,
    sub: &str,
    role: auth::Role,
    companies: Option<Vec<String>>,
    url: &str,
) -> Result<String, SettingsError> {
    let keys = JwtKeys::portal_from_env(env)?;
    let mut claims =
        auth::Claims::new(sub, role, chrono::TimeDelta::minutes(1)).with_audience(LOGIN_AUDIENCE);
    claims.companies = companies;
    let token = keys.mint(&claims);
    let action = format!("{}/login", url.trim_end_matches('/'));
    Ok(maud::html! {
        (maud::DOCTYPE)
        html {
            body {
                form method="post" action=(action) {
                    input type="hidden" name="token" value=(token);
                    button type="submit" { "Sign in to the console as " (sub) }
                }
                script { "document.forms[0].submit()" }
            }
        }
    }
    .into_string())
}

/// Migrates schema `console` and serves the console.
pub async fn start(settings: Settings) -> Result<RunningService, StartError> {
    settings.jwt.warn_if_development(SERVICE);
    db::wait_until_reachable(&settings.database_url).await;
    db::run_migrations(&settings.database_url, SCHEMA, MIGRATIONS).await?;
    let pool = db::pool(&settings.database_url, 10)?;
    let ops = Ops::without_broker(pool.clone(), telemetry::registry(SERVICE));
    let metrics = web::Data::new(metrics::Metrics::register(ops.registry()));
    let state = web::Data::new(AppState {
        pool: pool.clone(),
        backend: Backend::new(
            settings.jwt.clone(),
            &settings.config_service_url,
            &settings.import_service_url,
            &settings.sync_service_url,
            settings.backend_timeout,
        ),
        login_keys: settings.jwt.clone().with_audience(LOGIN_AUDIENCE),
        session_limit: settings.session.request_limit(),
        session: settings.session.clone(),
        timezone: settings.timezone,
        max_upload_bytes: settings.max_upload_bytes,
    });
    // Not `service_kit::serve`: the console answers browsers with pages, not a REST API. It has
    // no per-token rate limit (each signed-in session is limited as its cookie is read), none of
    // the APIs' problem+json defaults for JSON, queries and paths, and two layers of its own
    // between the input checks and the request span: its request metrics and the pages'
    // security headers.
    let running = service_kit::serve_app(
        settings.bind,
        Vec::new(),
        ServiceParts::without_broker(Vec::new()),
        move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(service_kit::checked_input))
                .wrap(actix_web::middleware::from_fn(metrics::observe))
                .wrap(actix_web::middleware::from_fn(pages::security_headers))
                .wrap(actix_web::middleware::from_fn(service_kit::trace_requests))
                .app_data(metrics.clone())
                .configure(|config| service_kit::configure_ops(config, ops.clone()))
                .app_data(state.clone())
                .app_data(web::FormConfig::default().limit(64 * 1024))
                .configure(pages::configure)
        },
    )?;
    Ok(running)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(extra: &[(&str, &str)]) -> Env {
        let mut pairs = vec![
            ("DATABASE_URL", "postgres://db/bridge"),
            ("CONFIG_SERVICE_URL", "http://config:8081"),
            ("IMPORT_SERVICE_URL", "http://import:8082"),
            ("SYNC_SERVICE_URL", "http://sync:8083"),
            ("BRIDGE_JWT_DEV_MODE", "on"),
            ("BRIDGE_JWT_DEV_SECRET", "0123456789abcdef0123456789abcdef"),
        ];
        pairs.extend_from_slice(extra);
        Env::from_pairs(pairs)
    }

    #[test]
    fn settings_debug_masks_the_database_password_and_the_jwt_secret() {
        let settings = Settings::from_env(&env(&[(
            "DATABASE_URL",
            "postgres://bridge:db-pa55word@db/bridge",
        )]))
        .unwrap();
        let debug = format!("{settings:?}");
        assert!(!debug.contains("pa55word"), "{debug}");
        assert!(!debug.contains("0123456789abcdef"), "{debug}");
        assert!(debug.contains("db/bridge"), "{debug}");
    }

    #[test]
    fn settings_have_defaults_and_name_what_is_missing_or_malformed() {
        let settings = Settings::from_env(&env(&[])).unwrap();
        assert_eq!(settings.bind, DEFAULT_BIND);
        assert_eq!(settings.session.idle, chrono::TimeDelta::minutes(30));
        assert_eq!(settings.session.absolute, chrono::TimeDelta::hours(12));
        assert!(!settings.session.always_secure);
        assert!(settings.session.portal_origins.is_empty());
        assert_eq!(settings.session.requests_per_second.get(), 10);
        assert_eq!(settings.timezone, chrono_tz::Asia::Dubai);

        let settings = Settings::from_env(&env(&[
            ("CONSOLE_BIND", "0.0.0.0:9090"),
            ("CONSOLE_SESSION_IDLE_MINUTES", "5"),
            ("CONSOLE_SESSION_MAX_HOURS", "2"),
            ("CONSOLE_COOKIE_SECURE", "true"),
            ("CONSOLE_TIMEZONE", "Asia/Riyadh"),
            ("CONSOLE_PORTAL_ORIGIN", "https://portal.example.com"),
            ("CONSOLE_SESSION_REQUESTS_PER_SECOND", "3"),
        ]))
        .unwrap();
        assert_eq!(
            settings.session.portal_origins,
            ["https://portal.example.com"]
        );
        assert_eq!(settings.session.requests_per_second.get(), 3);
        assert_eq!(settings.bind.port(), 9090);
        assert_eq!(settings.session.idle, chrono::TimeDelta::minutes(5));
        assert_eq!(settings.session.absolute, chrono::TimeDelta::hours(2));
        assert!(settings.session.always_secure);
        assert_eq!(settings.timezone, chrono_tz::Asia::Riyadh);

        for (variable, value) in [
            ("CONSOLE_TIMEZONE", "Mars/Olympus"),
            ("CONSOLE_SESSION_IDLE_MINUTES", "soon"),
            ("CONSOLE_BIND", "nowhere"),
            ("CONSOLE_PORTAL_ORIGIN", "portal.example.com"),
            ("CONSOLE_SESSION_REQUESTS_PER_SECOND", "0"),
        ] {
            let error = Settings::from_env(&env(&[(variable, value)])).unwrap_err();
            assert_eq!(error.variable, variable);
        }
        let without = Env::from_pairs([("DATABASE_URL", "postgres://db/bridge")]);
        assert_eq!(
            Settings::from_env(&without).unwrap_err().variable,
            "CONFIG_SERVICE_URL"
        );
    }
}
