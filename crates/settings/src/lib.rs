//! Typed configuration from the environment (12-factor).
//!
//! Every service reads its settings once, at start, through [`Env`]. A missing or malformed
//! variable is a [`SettingsError`] whose `Display` is one line naming the variable, so an operator
//! sees exactly what to fix; values are never echoed because some of them are secrets.

mod api_urls;

pub use api_urls::{
    redact_url, AllowedApiUrls, ApiUrlRefusal, ALLOWED_API_URLS_VARIABLE, BAYZAT_PRODUCTION_API_URL,
};

use std::collections::HashMap;
use std::fmt::Display;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Looks a variable up by name.
type Lookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where variables come from: the process environment, or a map (tests, docker-compose checks).
#[derive(Clone)]
pub struct Env {
    lookup: Lookup,
}

/// A variable that is missing or cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration: {variable}: {problem}")]
pub struct SettingsError {
    pub variable: String,
    pub problem: String,
}

impl Env {
    /// The process environment.
    pub fn process() -> Self {
        Self {
            lookup: Arc::new(|name| std::env::var(name).ok()),
        }
    }

    /// A fixed set of variables; anything else is absent.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let map: HashMap<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Self {
            lookup: Arc::new(move |name| map.get(name).cloned()),
        }
    }

    /// The raw value, with an empty string treated as absent (compose files often set `X=`).
    pub fn raw(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|value| !value.trim().is_empty())
    }

    /// A variable that must be present and parse as `T`.
    pub fn required<T>(&self, name: &str) -> Result<T, SettingsError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.raw(name) {
            Some(value) => parse(name, &value),
            None => Err(error(name, "missing (required)")),
        }
    }

    /// A variable that may be absent.
    pub fn optional<T>(&self, name: &str) -> Result<Option<T>, SettingsError>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.raw(name).map(|value| parse(name, &value)).transpose()
    }

    /// A variable with a default for when it is absent.
    pub fn or<T>(&self, name: &str, default: T) -> Result<T, SettingsError>
    where
        T: FromStr,
        T::Err: Display,
    {
        Ok(self.optional(name)?.unwrap_or(default))
    }
}

fn parse<T>(name: &str, value: &str) -> Result<T, SettingsError>
where
    T: FromStr,
    T::Err: Display,
{
    value
        .trim()
        .parse()
        .map_err(|e: T::Err| error(name, &format!("malformed ({e})")))
}

fn error(name: &str, problem: &str) -> SettingsError {
    SettingsError {
        variable: name.to_owned(),
        problem: problem.to_owned(),
    }
}

/// A duration written in seconds, possibly fractional (`1`, `0.25`), as BAYZAT_RATE_LIMIT_DELAY is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub Duration);

impl FromStr for Seconds {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let seconds: f64 = s
            .parse()
            .map_err(|_| "expected a number of seconds".to_owned())?;
        Duration::try_from_secs_f64(seconds)
            .map(Seconds)
            .map_err(|_| "expected a non-negative number of seconds".to_owned())
    }
}

/// A duration written in whole milliseconds, as BAYZAT_RATE_LIMIT_MARGIN_MS is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Millis(pub Duration);

impl FromStr for Millis {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<u64>()
            .map(|ms| Millis(Duration::from_millis(ms)))
            .map_err(|_| "expected a whole number of milliseconds".to_owned())
    }
}

/// A value that must not be shown: its `Debug` is masked.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(••••)")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

/// What every service needs: its database, its broker and where it listens. `Debug` shows the
/// database and broker URLs with their passwords masked.
#[derive(Clone)]
pub struct CommonSettings {
    /// `DATABASE_URL`: the one Postgres database; each service keeps to its own schema.
    pub database_url: String,
    /// `AMQP_URL`: the RabbitMQ broker.
    pub amqp_url: String,
    /// `AMQP_NAMESPACE`: a prefix for every exchange and queue name. Empty in production; tests
    /// set a unique one so parallel runs never share broker objects.
    pub amqp_namespace: String,
    /// `<SERVICE>_BIND`: the listen address of the service's REST API.
    pub bind: SocketAddr,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: the OpenTelemetry collector traces are sent to (OTLP over
    /// HTTP), e.g. `http://otel-collector:4318`; no traces when unset.
    pub otlp_endpoint: Option<String>,
    /// `API_RATE_LIMIT_PER_SECOND`: requests a second one caller (the role and sub its verified
    /// token proves) may make, in bursts of ten times that.
    pub api_rate_limit_per_second: std::num::NonZeroU32,
    /// `SERVICE_RATE_LIMIT_PER_SECOND`: the same for each of the bridge's own services calling
    /// another (role `service`): import-service reads the directory for every clock upload.
    pub service_rate_limit_per_second: std::num::NonZeroU32,
    /// `HTTP_BODY_READ_TIMEOUT`: seconds a request body read may wait for the next bytes before
    /// the request is answered 408 and its connection closed.
    pub body_read_timeout: Duration,
}

impl std::fmt::Debug for CommonSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommonSettings")
            .field("database_url", &redact_url(&self.database_url))
            .field("amqp_url", &redact_url(&self.amqp_url))
            .field("amqp_namespace", &self.amqp_namespace)
            .field("bind", &self.bind)
            .field(
                "otlp_endpoint",
                &self.otlp_endpoint.as_deref().map(redact_url),
            )
            .field("api_rate_limit_per_second", &self.api_rate_limit_per_second)
            .field(
                "service_rate_limit_per_second",
                &self.service_rate_limit_per_second,
            )
            .finish()
    }
}

/// `OTEL_EXPORTER_OTLP_ENDPOINT`, read the same way by every service (the console too, which has
/// no [`CommonSettings`]).
pub fn otlp_endpoint(env: &Env) -> Result<Option<String>, SettingsError> {
    env.optional("OTEL_EXPORTER_OTLP_ENDPOINT")
}

impl CommonSettings {
    /// Reads the shared variables; `bind_variable` names this service's listen address variable.
    pub fn from_env(
        env: &Env,
        bind_variable: &str,
        default_bind: SocketAddr,
    ) -> Result<Self, SettingsError> {
        Ok(Self {
            database_url: env.required("DATABASE_URL")?,
            amqp_url: env.required("AMQP_URL")?,
            amqp_namespace: env.or("AMQP_NAMESPACE", String::new())?,
            bind: env.or(bind_variable, default_bind)?,
            otlp_endpoint: otlp_endpoint(env)?,
            api_rate_limit_per_second: env.or(
                "API_RATE_LIMIT_PER_SECOND",
                std::num::NonZeroU32::new(50).expect("fifty is not zero"),
            )?,
            service_rate_limit_per_second: env.or(
                "SERVICE_RATE_LIMIT_PER_SECOND",
                std::num::NonZeroU32::new(1000).expect("a thousand is not zero"),
            )?,
            body_read_timeout: match env
                .or("HTTP_BODY_READ_TIMEOUT", Seconds(Duration::from_secs(30)))?
                .0
            {
                timeout if timeout.is_zero() => {
                    return Err(error("HTTP_BODY_READ_TIMEOUT", "must be more than 0"))
                }
                timeout => timeout,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn missing_required_variable_is_named_in_one_line() {
        let err = env(&[]).required::<String>("DATABASE_URL").unwrap_err();
        let line = err.to_string();
        assert_eq!(line, "configuration: DATABASE_URL: missing (required)");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn empty_value_counts_as_missing() {
        let err = env(&[("AMQP_URL", "  ")])
            .required::<String>("AMQP_URL")
            .unwrap_err();
        assert_eq!(err.variable, "AMQP_URL");
    }

    #[test]
    fn malformed_value_is_named_without_echoing_it() {
        let err = env(&[("BAYZAT_RATE_LIMIT_DELAY", "soon-ish")])
            .required::<Seconds>("BAYZAT_RATE_LIMIT_DELAY")
            .unwrap_err();
        assert_eq!(err.variable, "BAYZAT_RATE_LIMIT_DELAY");
        assert!(err.to_string().contains("malformed"));
        assert!(!err.to_string().contains("soon-ish"));
    }

    #[test]
    fn the_body_read_timeout_defaults_to_30_s_and_is_never_zero() {
        let common = |extra: &[(&str, &str)]| {
            let mut pairs = vec![("DATABASE_URL", "postgres://db"), ("AMQP_URL", "amqp://mq")];
            pairs.extend_from_slice(extra);
            CommonSettings::from_env(&env(&pairs), "X_BIND", "127.0.0.1:1".parse().unwrap())
        };
        assert_eq!(
            common(&[]).unwrap().body_read_timeout,
            Duration::from_secs(30)
        );
        assert_eq!(
            common(&[("HTTP_BODY_READ_TIMEOUT", "2.5")])
                .unwrap()
                .body_read_timeout,
            Duration::from_millis(2500)
        );
        for bad in ["0", "soon"] {
            let error = common(&[("HTTP_BODY_READ_TIMEOUT", bad)]).unwrap_err();
            assert_eq!(error.variable, "HTTP_BODY_READ_TIMEOUT", "{bad}");
        }
    }

    #[test]
    fn defaults_apply_only_when_absent() {
        let e = env(&[("N", "7")]);
        assert_eq!(e.or("N", 1u32).unwrap(), 7);
        assert_eq!(e.or("M", 1u32).unwrap(), 1);
        assert!(env(&[("N", "x")]).or("N", 1u32).is_err());
    }

    #[test]
    fn seconds_accept_fractions_and_refuse_negatives() {
        let table = [
            ("1", Some(Duration::from_secs(1))),
            ("0.25", Some(Duration::from_millis(250))),
            ("0", Some(Duration::ZERO)),
            ("-1", None),
            ("1s", None),
            ("", None),
        ];
        for (input, expected) in table {
            assert_eq!(
                input.parse::<Seconds>().ok().map(|s| s.0),
                expected,
                "{input}"
            );
        }
    }

    #[test]
    fn millis_are_whole_numbers() {
        assert_eq!("25".parse::<Millis>().unwrap().0, Duration::from_millis(25));
        assert!("2.5".parse::<Millis>().is_err());
    }

    #[test]
    fn secrets_are_masked_in_debug() {
        let secret: Secret = "hunter2".parse().unwrap();
        assert_eq!(secret.expose(), "hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
    }

    #[test]
    fn common_settings_debug_masks_passwords() {
        let default: SocketAddr = "127.0.0.1:8081".parse().unwrap();
        let e = env(&[
            ("DATABASE_URL", "postgres://bridge:db-pa55word@db:5432/x"),
            ("AMQP_URL", "amqp://bridge:mq-pa55word@mq:5672/%2f"),
        ]);
        let common = CommonSettings::from_env(&e, "CONFIG_SERVICE_BIND", default).unwrap();
        for debug in [format!("{common:?}"), format!("{common:#?}")] {
            assert!(!debug.contains("pa55word"), "{debug}");
            assert!(
                debug.contains("db:5432") && debug.contains("mq:5672"),
                "{debug}"
            );
        }
    }

    #[test]
    fn common_settings_read_bind_variable_with_default() {
        let default: SocketAddr = "127.0.0.1:8081".parse().unwrap();
        let e = env(&[
            ("DATABASE_URL", "postgres://x"),
            ("AMQP_URL", "amqp://y"),
            ("CONFIG_SERVICE_BIND", "0.0.0.0:9000"),
        ]);
        let common = CommonSettings::from_env(&e, "CONFIG_SERVICE_BIND", default).unwrap();
        assert_eq!(common.bind, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(common.amqp_namespace, "");
        let without_db = env(&[("AMQP_URL", "amqp://y")]);
        let err =
            CommonSettings::from_env(&without_db, "CONFIG_SERVICE_BIND", default).unwrap_err();
        assert_eq!(err.variable, "DATABASE_URL");
    }
}
