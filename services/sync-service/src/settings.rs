//! sync-service's configuration (docs/architecture.md#configuration), read once at start.

use std::time::Duration;

use auth::JwtKeys;
use settings::{CommonSettings, Env, Seconds, SettingsError};

use crate::clock::Clock;
use crate::{BIND_VARIABLE, DEFAULT_BIND};

// The `BAYZAT_*` settings are read where the contract probe can read them too.
pub use bayzat_settings::{BayzatSettings, DEFAULT_MAX_RETRY_AFTER};

#[derive(Clone)]
pub struct Settings {
    pub common: CommonSettings,
    /// `BRIDGE_TRUSTED_KEYS` verifies callers; `BRIDGE_SIGNING_KEY`, this service's own
    /// credential (signer `sync-service`), signs its calls to config-service.
    pub jwt: JwtKeys,
    /// `CONFIG_SERVICE_URL`: the directory snapshot.
    pub config_service_url: String,
    /// `CONFIG_SERVICE_INTERNAL_URL`: config-service's internal listener, where the companies'
    /// keys are read (`CONFIG_SERVICE_INTERNAL_BIND` there).
    pub config_service_internal_url: String,
    pub bayzat: BayzatSettings,
    /// This replica's name in sender leases and request logs: host name and a random suffix, so
    /// a restarted process never mistakes its predecessor's lease for its own.
    pub replica_id: String,
    /// Every schedule, retry and lease decision reads this clock.
    pub clock: Clock,
    /// `SYNC_LEASE_TTL`: how long a company's sender lease lasts unless renewed (each request and
    /// every third of it while waiting renew it): how long another replica waits after this one
    /// vanished mid-drain.
    pub lease_ttl: Duration,
    /// `BAYZAT_ALLOWED_API_URLS`: a company's key is only ever sent under these URL prefixes.
    pub allowed_api_urls: settings::AllowedApiUrls,
    /// `SYNC_REQUEST_RETENTION_DAYS`, `SYNC_DELIVERY_RETENTION_DAYS`: what the retention pass
    /// deletes.
    pub retention: RetentionSettings,
}

/// How long request logs and settled deliveries are kept (crate::retention).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionSettings {
    /// `SYNC_REQUEST_RETENTION_DAYS`: Bayzat request logs that started longer ago are deleted.
    pub request_days: u32,
    /// `SYNC_DELIVERY_RETENTION_DAYS`: a settled batch's deliveries (delivered, failed, rejected,
    /// cancelled) are deleted once the batch and each of them have not moved for this long; the
    /// batch's row goes with its last delivery.
    pub delivery_days: u32,
}

pub const DEFAULT_REQUEST_RETENTION_DAYS: u32 = 90;
pub const DEFAULT_DELIVERY_RETENTION_DAYS: u32 = 90;
/// `GET /v1/companies/{company}/usage` reads up to 31 days of request logs.
pub const MIN_REQUEST_RETENTION_DAYS: u32 = 31;
/// An operator has at least a week to retry a failed or rejected batch.
pub const MIN_DELIVERY_RETENTION_DAYS: u32 = 7;

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            request_days: DEFAULT_REQUEST_RETENTION_DAYS,
            delivery_days: DEFAULT_DELIVERY_RETENTION_DAYS,
        }
    }
}

impl RetentionSettings {
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        Ok(Self {
            request_days: days(
                env,
                "SYNC_REQUEST_RETENTION_DAYS",
                DEFAULT_REQUEST_RETENTION_DAYS,
                MIN_REQUEST_RETENTION_DAYS,
                "the usage report reads 31 days of request logs",
            )?,
            delivery_days: days(
                env,
                "SYNC_DELIVERY_RETENTION_DAYS",
                DEFAULT_DELIVERY_RETENTION_DAYS,
                MIN_DELIVERY_RETENTION_DAYS,
                "an operator must have a week to retry a failed batch",
            )?,
        })
    }
}

/// A whole number of days of at least `min` (`why` says why), `default` when unset.
fn days(
    env: &Env,
    variable: &str,
    default: u32,
    min: u32,
    why: &str,
) -> Result<u32, SettingsError> {
    let days: u32 = env.or(variable, default)?;
    if days < min {
        return Err(SettingsError {
            variable: variable.into(),
            problem: format!("{days} days is too short: at least {min} ({why})"),
        });
    }
    Ok(days)
}

/// The sender lease's default lifetime (docs/architecture.md#delivery-rules: about 15 s).
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(15);

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("common", &self.common)
            .field("config_service_url", &self.config_service_url)
            .field(
                "config_service_internal_url",
                &self.config_service_internal_url,
            )
            .field("bayzat", &self.bayzat)
            .field("replica_id", &self.replica_id)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Settings with the documented defaults for everything but the connections (the keys are
    /// read from `config_service_url` too until `config_service_internal_url` is set).
    pub fn new(common: CommonSettings, jwt: JwtKeys, config_service_url: String) -> Self {
        Self {
            common,
            jwt,
            config_service_internal_url: config_service_url.clone(),
            config_service_url,
            bayzat: BayzatSettings::default(),
            replica_id: replica_id(),
            clock: Clock::system(),
            lease_ttl: DEFAULT_LEASE_TTL,
            allowed_api_urls: settings::AllowedApiUrls::production(),
            retention: RetentionSettings::default(),
        }
    }

    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        let settings = Self {
            common: CommonSettings::from_env(env, BIND_VARIABLE, DEFAULT_BIND)?,
            jwt: JwtKeys::from_env_signing_as(env, auth::Signer::SyncService)?,
            config_service_url: env.required("CONFIG_SERVICE_URL")?,
            config_service_internal_url: env.required("CONFIG_SERVICE_INTERNAL_URL")?,
            bayzat: BayzatSettings::from_env(env)?,
            replica_id: replica_id(),
            clock: Clock::system(),
            lease_ttl: env.or("SYNC_LEASE_TTL", Seconds(DEFAULT_LEASE_TTL))?.0,
            allowed_api_urls: settings::AllowedApiUrls::from_env(env)?,
            retention: RetentionSettings::from_env(env)?,
        };
        settings.check()?;
        Ok(settings)
    }

    /// Refuses settings under which a call to Bayzat could outlive the sender's lease: the
    /// lease is renewed as each call starts, and the call, with its answer committed, must end
    /// while it still holds, or another replica could take the company over and send the same
    /// punches meanwhile. A fifth of the lease is kept for what follows the call.
    pub fn check(&self) -> Result<(), SettingsError> {
        let longest_call = self.lease_ttl.mul_f64(0.8);
        if self.bayzat.http_timeout >= longest_call {
            return Err(SettingsError {
                variable: "BAYZAT_HTTP_TIMEOUT".into(),
                problem: format!(
                    "{} s lets a call to Bayzat outlive the sender lease: it must be shorter than \
                     four fifths of SYNC_LEASE_TTL ({} s), i.e. under {} s; lower \
                     BAYZAT_HTTP_TIMEOUT or raise SYNC_LEASE_TTL",
                    self.bayzat.http_timeout.as_secs_f64(),
                    self.lease_ttl.as_secs_f64(),
                    longest_call.as_secs_f64()
                ),
            });
        }
        Ok(())
    }
}

/// The host name (when the environment says it) and eight random hex digits.
pub fn replica_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| "sync".to_owned());
    format!("{host}-{:08x}", rand::random::<u32>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(extra: &[(&str, &str)]) -> Env {
        let mut pairs = vec![
            ("DATABASE_URL", "postgres://x"),
            ("AMQP_URL", "amqp://y"),
            ("BRIDGE_JWT_DEV_MODE", "on"),
            (
                "BRIDGE_JWT_DEV_SECRET",
                "a-secret-of-at-least-thirty-two-bytes!",
            ),
            ("CONFIG_SERVICE_URL", "http://config:8081"),
            ("CONFIG_SERVICE_INTERNAL_URL", "http://config:8091"),
        ];
        pairs.extend_from_slice(extra);
        Env::from_pairs(pairs)
    }

    // What each `BAYZAT_*` variable means, its default and its errors are tested with
    // `BayzatSettings` (crates/bayzat-settings); here, that sync-service reads them.
    #[test]
    fn defaults() {
        let settings = Settings::from_env(&env(&[])).unwrap();
        let bayzat = &settings.bayzat;
        assert_eq!(bayzat.interval(), Duration::from_millis(1025));
        assert_eq!(bayzat.max_records.get(), 20);
        assert_eq!(bayzat.http_timeout, Duration::from_secs(10));
        assert!(bayzat.duplicate_pattern.is_match("Record ALREADY EXISTS"));
        assert_eq!(bayzat.max_retry_after, DEFAULT_MAX_RETRY_AFTER);
        assert_eq!(settings.lease_ttl, DEFAULT_LEASE_TTL);
        assert_eq!(
            settings.retention,
            RetentionSettings {
                request_days: 90,
                delivery_days: 90
            }
        );
        assert_ne!(settings.replica_id, replica_id());
    }

    #[test]
    fn values_and_one_line_errors() {
        let settings = Settings::from_env(&env(&[
            ("BAYZAT_RATE_LIMIT_DELAY", "0.2"),
            ("BAYZAT_RATE_LIMIT_MARGIN_MS", "10"),
            ("BAYZAT_MAX_RECORDS_PER_REQUEST", "5"),
            ("BAYZAT_RETRY_SCHEDULE", "1s,2s"),
            ("BAYZAT_MAX_RETRY_ATTEMPTS", "3"),
            ("BAYZAT_DUPLICATE_PATTERN", "dup"),
            ("BAYZAT_MAX_RETRY_AFTER", "2h"),
            ("SYNC_LEASE_TTL", "20"),
            ("SYNC_REQUEST_RETENTION_DAYS", "31"),
            ("SYNC_DELIVERY_RETENTION_DAYS", "400"),
        ]))
        .unwrap();
        assert_eq!(settings.bayzat.interval(), Duration::from_millis(210));
        assert_eq!(settings.bayzat.max_records.get(), 5);
        assert_eq!(settings.bayzat.retry_schedule.to_string(), "1s,2s,2s");
        assert_eq!(settings.bayzat.max_retry_after, Duration::from_secs(7200));
        assert_eq!(settings.lease_ttl, Duration::from_secs(20));
        assert_eq!(settings.retention.request_days, 31);
        assert_eq!(settings.retention.delivery_days, 400);
        let cases = [
            ("BAYZAT_RATE_LIMIT_DELAY", "fast"),
            ("BAYZAT_MAX_RECORDS_PER_REQUEST", "0"),
            ("BAYZAT_DUPLICATE_PATTERN", "(unclosed"),
            ("BAYZAT_MAX_RETRY_AFTER", "soon"),
            ("SYNC_LEASE_TTL", "soon"),
            ("SYNC_REQUEST_RETENTION_DAYS", "30"),
            ("SYNC_REQUEST_RETENTION_DAYS", "ninety"),
            ("SYNC_DELIVERY_RETENTION_DAYS", "6"),
            ("SYNC_DELIVERY_RETENTION_DAYS", "-1"),
        ];
        for (variable, value) in cases {
            let error = Settings::from_env(&env(&[(variable, value)])).unwrap_err();
            assert_eq!(error.variable, variable);
            assert!(!error.to_string().contains('\n'), "{error}");
        }
        let error = Settings::from_env(&Env::from_pairs([("DATABASE_URL", "x")])).unwrap_err();
        assert_eq!(error.variable, "AMQP_URL");
    }

    #[test]
    fn a_call_that_could_outlive_the_lease_is_refused() {
        for (timeout, ttl) in [("10", "3"), ("12", "15"), ("3", "3"), ("20", "15")] {
            let error = Settings::from_env(&env(&[
                ("BAYZAT_HTTP_TIMEOUT", timeout),
                ("SYNC_LEASE_TTL", ttl),
            ]))
            .unwrap_err();
            let line = error.to_string();
            assert!(!line.contains('\n'), "{line}");
            assert!(
                line.contains("BAYZAT_HTTP_TIMEOUT") && line.contains("SYNC_LEASE_TTL"),
                "{line}"
            );
        }
        for (timeout, ttl) in [("10", "15"), ("2", "3"), ("11.9", "15")] {
            Settings::from_env(&env(&[
                ("BAYZAT_HTTP_TIMEOUT", timeout),
                ("SYNC_LEASE_TTL", ttl),
            ]))
            .unwrap();
        }
    }
}
