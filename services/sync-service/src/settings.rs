//! sync-service's configuration (docs/architecture.md#configuration), read once at start.

use std::num::NonZeroUsize;
use std::time::Duration;

use auth::JwtKeys;
use domain::RetrySchedule;
use regex::Regex;
use settings::{CommonSettings, Env, Millis, Seconds, SettingsError};

use crate::clock::Clock;
use crate::{BIND_VARIABLE, DEFAULT_BIND};

/// How the company's requests to Bayzat are paced and retried.
#[derive(Debug, Clone)]
pub struct BayzatSettings {
    /// `BAYZAT_RATE_LIMIT_DELAY`: one request per key per this long, start to start.
    pub rate_limit_delay: Duration,
    /// `BAYZAT_RATE_LIMIT_MARGIN_MS`: added to the delay, against network jitter.
    pub rate_limit_margin: Duration,
    /// `BAYZAT_MAX_RECORDS_PER_REQUEST`.
    pub max_records: NonZeroUsize,
    /// `BAYZAT_RETRY_SCHEDULE` fitted to `BAYZAT_MAX_RETRY_ATTEMPTS`.
    pub retry_schedule: RetrySchedule,
    /// `BAYZAT_HTTP_TIMEOUT`: a whole request, connecting included.
    pub http_timeout: Duration,
    /// `BAYZAT_DUPLICATE_PATTERN`: a refusal whose message matches is a duplicate.
    pub duplicate_pattern: Regex,
    /// `BAYZAT_MAX_RETRY_AFTER`: the longest wait a 429 is obeyed for; a longer Retry-After is a
    /// transient failure on the retry schedule.
    pub max_retry_after: Duration,
}

impl BayzatSettings {
    /// One request per this long, start to start.
    pub fn interval(&self) -> Duration {
        self.rate_limit_delay + self.rate_limit_margin
    }
}

impl BayzatSettings {
    /// The `BAYZAT_*` variables sync-service reads, with their defaults.
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        let defaults = BayzatSettings::default();
        let max_attempts: u32 = env.or("BAYZAT_MAX_RETRY_ATTEMPTS", 5)?;
        let schedule: RetrySchedule = env.or("BAYZAT_RETRY_SCHEDULE", RetrySchedule::default())?;
        let max_records: usize = env.or("BAYZAT_MAX_RECORDS_PER_REQUEST", 20)?;
        let max_records = NonZeroUsize::new(max_records).ok_or_else(|| SettingsError {
            variable: "BAYZAT_MAX_RECORDS_PER_REQUEST".into(),
            problem: "must be at least 1".into(),
        })?;
        Ok(BayzatSettings {
            rate_limit_delay: env
                .or(
                    "BAYZAT_RATE_LIMIT_DELAY",
                    Seconds(defaults.rate_limit_delay),
                )?
                .0,
            rate_limit_margin: env
                .or(
                    "BAYZAT_RATE_LIMIT_MARGIN_MS",
                    Millis(defaults.rate_limit_margin),
                )?
                .0,
            max_records,
            retry_schedule: schedule.with_max_attempts(max_attempts),
            http_timeout: env
                .or("BAYZAT_HTTP_TIMEOUT", Seconds(defaults.http_timeout))?
                .0,
            duplicate_pattern: env
                .or(
                    "BAYZAT_DUPLICATE_PATTERN",
                    Pattern(defaults.duplicate_pattern),
                )?
                .0,
            max_retry_after: env
                .or("BAYZAT_MAX_RETRY_AFTER", Wait(defaults.max_retry_after))?
                .0,
        })
    }
}

impl Default for BayzatSettings {
    fn default() -> Self {
        Self {
            rate_limit_delay: Duration::from_secs(1),
            rate_limit_margin: Duration::from_millis(25),
            max_records: domain::MAX_RECORDS_PER_REQUEST,
            retry_schedule: RetrySchedule::default(),
            http_timeout: Duration::from_secs(10),
            duplicate_pattern: bayzat_client::default_duplicate_pattern(),
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
        }
    }
}

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
}

/// The sender lease's default lifetime (docs/architecture.md#delivery-rules: about 15 s).
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(15);

/// `BAYZAT_MAX_RETRY_AFTER`'s default.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);

/// A wait in seconds (`900`, fractions allowed) or with a unit like `BAYZAT_RETRY_SCHEDULE`'s
/// items (`15m`, `500ms`, `1h`).
struct Wait(Duration);

impl std::str::FromStr for Wait {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(Seconds(wait)) = s.parse::<Seconds>() {
            return Ok(Wait(wait));
        }
        match RetrySchedule::parse(s).map(|one| one.delays().to_vec()) {
            Ok(delays) if delays.len() == 1 => Ok(Wait(delays[0])),
            _ => Err("expected seconds or one duration with a unit (ms, s, m, h, d)".to_owned()),
        }
    }
}

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
            .finish_non_exhaustive()
    }
}

/// A regex setting.
struct Pattern(Regex);

impl std::str::FromStr for Pattern {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // regex's own message spans several lines; the setting's error must stay on one.
        Regex::new(s)
            .map(Pattern)
            .map_err(|_| "not a valid regular expression")
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

    #[test]
    fn defaults() {
        let settings = Settings::from_env(&env(&[])).unwrap();
        let bayzat = &settings.bayzat;
        assert_eq!(bayzat.rate_limit_delay, Duration::from_secs(1));
        assert_eq!(bayzat.rate_limit_margin, Duration::from_millis(25));
        assert_eq!(bayzat.interval(), Duration::from_millis(1025));
        assert_eq!(bayzat.max_records.get(), 20);
        assert_eq!(bayzat.retry_schedule, RetrySchedule::default());
        assert_eq!(bayzat.http_timeout, Duration::from_secs(10));
        assert!(bayzat.duplicate_pattern.is_match("Record ALREADY EXISTS"));
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
        ]))
        .unwrap();
        assert_eq!(settings.bayzat.interval(), Duration::from_millis(210));
        assert_eq!(settings.bayzat.max_records.get(), 5);
        assert_eq!(settings.bayzat.retry_schedule.to_string(), "1s,2s,2s");
        let cases = [
            ("BAYZAT_RATE_LIMIT_DELAY", "fast"),
            ("BAYZAT_RATE_LIMIT_MARGIN_MS", "1.5"),
            ("BAYZAT_MAX_RECORDS_PER_REQUEST", "0"),
            ("BAYZAT_MAX_RETRY_ATTEMPTS", "-1"),
            ("BAYZAT_RETRY_SCHEDULE", "5x"),
            ("BAYZAT_HTTP_TIMEOUT", "soon"),
            ("BAYZAT_DUPLICATE_PATTERN", "(unclosed"),
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
    fn the_longest_retry_after_obeyed() {
        let wait = |value: &str| {
            Settings::from_env(&env(&[("BAYZAT_MAX_RETRY_AFTER", value)]))
                .map(|s| s.bayzat.max_retry_after)
        };
        assert_eq!(
            Settings::from_env(&env(&[]))
                .unwrap()
                .bayzat
                .max_retry_after,
            Duration::from_secs(900)
        );
        assert_eq!(wait("60").unwrap(), Duration::from_secs(60));
        assert_eq!(wait("0.5").unwrap(), Duration::from_millis(500));
        assert_eq!(wait("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(wait("1500ms").unwrap(), Duration::from_millis(1500));
        for bad in ["soon", "1m,2m", "-3"] {
            let error = wait(bad).unwrap_err();
            assert_eq!(error.variable, "BAYZAT_MAX_RETRY_AFTER", "{bad}");
            assert!(!error.to_string().contains('\n'), "{error}");
        }
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
