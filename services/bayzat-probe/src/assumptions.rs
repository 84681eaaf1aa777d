//! What the system is configured to assume about Bayzat, and the variables that say it.

pub use bayzat_settings::variables::{
    DUPLICATE_PATTERN, HTTP_TIMEOUT, RATE_LIMIT_DELAY, RATE_LIMIT_MARGIN_MS,
};

/// sync-service's Bayzat settings, read by the reader sync-service uses
/// (`Assumptions::from_env`), so the probe judges exactly the configuration that will run.
pub type Assumptions = bayzat_settings::BayzatSettings;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use settings::Env;

    use super::*;

    #[test]
    fn defaults_are_sync_services() {
        let a = Assumptions::from_env(&Env::from_pairs::<&str, &str>([])).unwrap();
        assert_eq!(a.rate_limit_delay, Duration::from_secs(1));
        assert_eq!(a.interval(), Duration::from_millis(1025));
        assert_eq!(a.duplicate_pattern.as_str(), "(?i)duplicate|already exists");
        assert_eq!(a.http_timeout, Duration::from_secs(10));
    }

    #[test]
    fn variables_are_read_as_sync_service_reads_them() {
        let a = Assumptions::from_env(&Env::from_pairs([
            (RATE_LIMIT_DELAY, "0.25"),
            (RATE_LIMIT_MARGIN_MS, "40"),
            (DUPLICATE_PATTERN, "(?i)exists"),
            (HTTP_TIMEOUT, "3"),
        ]))
        .unwrap();
        assert_eq!(a.interval(), Duration::from_millis(290));
        assert!(a.duplicate_pattern.is_match("Record EXISTS"));
        assert_eq!(a.http_timeout, Duration::from_secs(3));

        for (name, value) in [
            (RATE_LIMIT_DELAY, "soon"),
            (RATE_LIMIT_MARGIN_MS, "0.5"),
            (DUPLICATE_PATTERN, "(unclosed"),
        ] {
            let err = Assumptions::from_env(&Env::from_pairs([(name, value)])).unwrap_err();
            assert_eq!(err.variable, name);
        }
    }
}
