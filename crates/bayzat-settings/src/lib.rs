//! How a company's requests to Bayzat are paced and retried: the `BAYZAT_*` variables
//! (docs/architecture.md#configuration), their defaults and how they are read.
//!
//! sync-service delivers with these settings; the contract probe (`services/bayzat-probe`) reads
//! them the same way to judge Bayzat against exactly the configuration that will run.

use std::num::NonZeroUsize;
use std::time::Duration;

use domain::RetrySchedule;
use regex::Regex;
use settings::{Env, Millis, Seconds, SettingsError};

/// The names of the variables read by [`BayzatSettings::from_env`].
pub mod variables {
    pub const RATE_LIMIT_DELAY: &str = "BAYZAT_RATE_LIMIT_DELAY";
    pub const RATE_LIMIT_MARGIN_MS: &str = "BAYZAT_RATE_LIMIT_MARGIN_MS";
    pub const MAX_RECORDS_PER_REQUEST: &str = "BAYZAT_MAX_RECORDS_PER_REQUEST";
    pub const RETRY_SCHEDULE: &str = "BAYZAT_RETRY_SCHEDULE";
    pub const MAX_RETRY_ATTEMPTS: &str = "BAYZAT_MAX_RETRY_ATTEMPTS";
    pub const HTTP_TIMEOUT: &str = "BAYZAT_HTTP_TIMEOUT";
    pub const DUPLICATE_PATTERN: &str = "BAYZAT_DUPLICATE_PATTERN";
    pub const MAX_RETRY_AFTER: &str = "BAYZAT_MAX_RETRY_AFTER";
}

use variables::*;

/// `BAYZAT_MAX_RETRY_AFTER`'s default.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);

/// How the company's requests to Bayzat are paced and retried.
#[derive(Debug, Clone)]
pub struct BayzatSettings {
    /// `BAYZAT_RATE_LIMIT_DELAY`: one request per key per this long.
    pub rate_limit_delay: Duration,
    /// `BAYZAT_RATE_LIMIT_MARGIN_MS`: added to the delay when it is measured from a request's
    /// start, against that request having arrived late.
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

    /// The `BAYZAT_*` variables, with their defaults. A missing variable takes its default; a
    /// malformed one is a one-line error naming it.
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        let defaults = BayzatSettings::default();
        let max_attempts: u32 = env.or(MAX_RETRY_ATTEMPTS, 5)?;
        let schedule: RetrySchedule = env.or(RETRY_SCHEDULE, RetrySchedule::default())?;
        let max_records: usize = env.or(MAX_RECORDS_PER_REQUEST, 20)?;
        let max_records = NonZeroUsize::new(max_records).ok_or_else(|| SettingsError {
            variable: MAX_RECORDS_PER_REQUEST.into(),
            problem: "must be at least 1".into(),
        })?;
        Ok(BayzatSettings {
            rate_limit_delay: env
                .or(RATE_LIMIT_DELAY, Seconds(defaults.rate_limit_delay))?
                .0,
            rate_limit_margin: env
                .or(RATE_LIMIT_MARGIN_MS, Millis(defaults.rate_limit_margin))?
                .0,
            max_records,
            retry_schedule: schedule.with_max_attempts(max_attempts),
            http_timeout: env.or(HTTP_TIMEOUT, Seconds(defaults.http_timeout))?.0,
            duplicate_pattern: env
                .or(DUPLICATE_PATTERN, Pattern(defaults.duplicate_pattern))?
                .0,
            max_retry_after: env.or(MAX_RETRY_AFTER, Wait(defaults.max_retry_after))?.0,
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
            duplicate_pattern: bayzat_reply::default_duplicate_pattern(),
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<BayzatSettings, SettingsError> {
        BayzatSettings::from_env(&Env::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn defaults() {
        let bayzat = read(&[]).unwrap();
        assert_eq!(bayzat.rate_limit_delay, Duration::from_secs(1));
        assert_eq!(bayzat.rate_limit_margin, Duration::from_millis(25));
        assert_eq!(bayzat.interval(), Duration::from_millis(1025));
        assert_eq!(bayzat.max_records.get(), 20);
        assert_eq!(bayzat.retry_schedule, RetrySchedule::default());
        assert_eq!(bayzat.http_timeout, Duration::from_secs(10));
        assert_eq!(
            bayzat.duplicate_pattern.as_str(),
            bayzat_reply::DEFAULT_DUPLICATE_PATTERN
        );
        assert!(bayzat.duplicate_pattern.is_match("Record ALREADY EXISTS"));
        assert_eq!(bayzat.max_retry_after, DEFAULT_MAX_RETRY_AFTER);
    }

    #[test]
    fn values_and_one_line_errors() {
        let bayzat = read(&[
            (RATE_LIMIT_DELAY, "0.2"),
            (RATE_LIMIT_MARGIN_MS, "10"),
            (MAX_RECORDS_PER_REQUEST, "5"),
            (RETRY_SCHEDULE, "1s,2s"),
            (MAX_RETRY_ATTEMPTS, "3"),
            (HTTP_TIMEOUT, "3"),
            (DUPLICATE_PATTERN, "dup"),
        ])
        .unwrap();
        assert_eq!(bayzat.interval(), Duration::from_millis(210));
        assert_eq!(bayzat.max_records.get(), 5);
        assert_eq!(bayzat.retry_schedule.to_string(), "1s,2s,2s");
        assert_eq!(bayzat.http_timeout, Duration::from_secs(3));
        assert!(bayzat.duplicate_pattern.is_match("a dup"));
        let cases = [
            (RATE_LIMIT_DELAY, "fast"),
            (RATE_LIMIT_MARGIN_MS, "1.5"),
            (MAX_RECORDS_PER_REQUEST, "0"),
            (MAX_RETRY_ATTEMPTS, "-1"),
            (RETRY_SCHEDULE, "5x"),
            (HTTP_TIMEOUT, "soon"),
            (DUPLICATE_PATTERN, "(unclosed"),
            (MAX_RETRY_AFTER, "later"),
        ];
        for (variable, value) in cases {
            let error = read(&[(variable, value)]).unwrap_err();
            assert_eq!(error.variable, variable);
            assert!(!error.to_string().contains('\n'), "{error}");
        }
    }

    #[test]
    fn the_longest_retry_after_obeyed() {
        let wait = |value: &str| read(&[(MAX_RETRY_AFTER, value)]).map(|s| s.max_retry_after);
        assert_eq!(read(&[]).unwrap().max_retry_after, Duration::from_secs(900));
        assert_eq!(wait("60").unwrap(), Duration::from_secs(60));
        assert_eq!(wait("0.5").unwrap(), Duration::from_millis(500));
        assert_eq!(wait("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(wait("1500ms").unwrap(), Duration::from_millis(1500));
        for bad in ["soon", "1m,2m", "-3"] {
            let error = wait(bad).unwrap_err();
            assert_eq!(error.variable, MAX_RETRY_AFTER, "{bad}");
            assert!(!error.to_string().contains('\n'), "{error}");
        }
    }
}
