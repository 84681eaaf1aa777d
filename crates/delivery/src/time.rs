//! Adding waits to instants without panicking on absurd configuration.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// `at + wait`, clamped to the latest representable instant: a wait too long to represent
/// means "not in any foreseeable future", never a crash or a time in the past.
pub(crate) fn plus(at: DateTime<Utc>, wait: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(wait)
        .ok()
        .and_then(|delta| at.checked_add_signed(delta))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturates() {
        let at: DateTime<Utc> = "2026-05-01T12:00:00Z".parse().unwrap();
        assert_eq!(
            plus(at, Duration::from_millis(1025)),
            "2026-05-01T12:00:01.025Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(plus(at, Duration::MAX), DateTime::<Utc>::MAX_UTC);
        assert_eq!(
            plus(at, Duration::from_secs(1_000_000_000_000_000)),
            DateTime::<Utc>::MAX_UTC
        );
    }
}
