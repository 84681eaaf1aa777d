//! The time every schedule, retry and lease decision is made with. Production reads the system
//! clock; tests move it forward to walk a retry schedule or an hourly run without waiting. Sleeps
//! that pace requests stay real: Bayzat measures real time.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// The system clock, shifted by an offset that only tests change. Cheap to clone; clones share
/// the offset, so two replicas in one test see the same time.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + TimeDelta::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }

    /// Moves this clock (and every clone) forward.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// How long from now until `at` on this clock; zero when it has passed.
    pub fn until(&self, at: DateTime<Utc>) -> Duration {
        (at - self.now()).to_std().unwrap_or(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_is_shared_by_clones() {
        let clock = Clock::system();
        let other = clock.clone();
        let before = other.now();
        clock.advance(Duration::from_secs(3600));
        let after = other.now();
        assert!(after - before >= TimeDelta::seconds(3600));
        assert_eq!(clock.until(before), Duration::ZERO);
        assert!(clock.until(after + TimeDelta::seconds(10)) > Duration::from_secs(5));
    }
}
