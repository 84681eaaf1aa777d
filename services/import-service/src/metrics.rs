//! The import metrics (docs/architecture.md#operating-it), in the service's own registry.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use telemetry::prometheus::core::{Collector, Desc};
use telemetry::prometheus::proto::MetricFamily;
use telemetry::prometheus::{opts, IntCounterVec, IntGaugeVec, Registry};

use crate::store::clocks::Clock;
use crate::store::imports::Import;

#[derive(Clone)]
pub struct Metrics {
    /// Uploads stored, by the import's final status (completed or failed).
    imports: IntCounterVec,
    /// Rows of stored imports, by outcome (valid, invalid, skipped).
    rows: IntCounterVec,
    /// BioTime pull health, per server.
    pub biotime: crate::clocks::biotime::PullMetrics,
}

impl Metrics {
    pub fn register(registry: &Registry) -> Self {
        let imports = IntCounterVec::new(
            opts!("imports_total", "Imports by final status"),
            &["status"],
        )
        .expect("valid metric");
        let rows = IntCounterVec::new(
            opts!("import_rows_total", "Rows of stored imports by outcome"),
            &["outcome"],
        )
        .expect("valid metric");
        for metric in [imports.clone(), rows.clone()] {
            registry
                .register(Box::new(metric))
                .expect("each metric is registered once per registry");
        }
        // Every series from zero, so an alert on the first failed import sees it.
        for status in ["completed", "failed"] {
            imports.with_label_values(&[status]);
        }
        for outcome in ["valid", "invalid", "skipped"] {
            rows.with_label_values(&[outcome]);
        }
        Self {
            imports,
            rows,
            biotime: crate::clocks::biotime::PullMetrics::register(registry),
        }
    }

    pub fn stored(&self, import: &Import) {
        self.imports
            .with_label_values(&[import.status.as_str()])
            .inc();
        for (outcome, count) in [
            ("valid", import.successful_records),
            ("invalid", import.failed_records),
            ("skipped", import.skipped_records),
        ] {
            self.rows
                .with_label_values(&[outcome])
                .inc_by(u64::try_from(count).unwrap_or(0));
        }
    }

    /// An upload whose import could not be stored.
    pub fn failed(&self) {
        self.imports.with_label_values(&["failed"]).inc();
    }
}

/// The health of every approved clock (`clock` = its serial number): when it last called
/// (`clock_last_seen_timestamp_seconds`, absent until it first does), the punches it put into the
/// ledger on its local day (`clock_punches_today`), and whether it has been silent for longer
/// than `CLOCK_SILENT_AFTER` (`clock_silent`, 1 or 0; the `ClockSilent` alert). The clocks are
/// read from the database by [`crate::clocks::health`]; silence is judged at each scrape,
/// so it shows as soon as it starts, whenever the clocks were last read.
#[derive(Clone)]
pub struct ClockHealth {
    clocks: Arc<Mutex<Vec<(Clock, i64)>>>,
    silent_after: Duration,
    descs: Vec<Desc>,
}

const CLOCK_LAST_SEEN: (&str, &str) = (
    "clock_last_seen_timestamp_seconds",
    "When the clock last called import-service (Unix time)",
);
const CLOCK_PUNCHES_TODAY: (&str, &str) = (
    "clock_punches_today",
    "Punches the clock put into the ledger on its local day",
);
const CLOCK_SILENT: (&str, &str) = (
    "clock_silent",
    "1 when the approved clock has not called for longer than CLOCK_SILENT_AFTER",
);

impl ClockHealth {
    pub fn register(registry: &Registry, silent_after: Duration) -> Self {
        let descs = [CLOCK_LAST_SEEN, CLOCK_PUNCHES_TODAY, CLOCK_SILENT]
            .into_iter()
            .flat_map(|(name, help)| {
                Self::gauges(name, help)
                    .desc()
                    .into_iter()
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .collect();
        let health = Self {
            clocks: Arc::default(),
            silent_after,
            descs,
        };
        registry
            .register(Box::new(health.clone()))
            .expect("the clock gauges are registered once per registry");
        health
    }

    fn gauges(name: &str, help: &str) -> IntGaugeVec {
        IntGaugeVec::new(opts!(name, help), &["clock"]).expect("valid metric")
    }

    /// Shows `read`, the approved clocks with their punches of the day, from now on.
    pub fn show(&self, read: Vec<(Clock, i64)>) {
        *self.clocks.lock().unwrap_or_else(PoisonError::into_inner) = read;
    }
}

impl Collector for ClockHealth {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let now = Utc::now();
        let last_seen = Self::gauges(CLOCK_LAST_SEEN.0, CLOCK_LAST_SEEN.1);
        let punches = Self::gauges(CLOCK_PUNCHES_TODAY.0, CLOCK_PUNCHES_TODAY.1);
        let silent = Self::gauges(CLOCK_SILENT.0, CLOCK_SILENT.1);
        for (clock, today) in self
            .clocks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let label = [clock.serial_number.as_str()];
            if let Some(at) = clock.last_seen_at {
                last_seen.with_label_values(&label).set(at.timestamp());
            }
            punches.with_label_values(&label).set(*today);
            silent
                .with_label_values(&label)
                .set(i64::from(clock.is_silent(now, self.silent_after)));
        }
        [last_seen, punches, silent]
            .iter()
            .flat_map(Collector::collect)
            .collect()
    }
}
