//! The import metrics (docs/architecture.md#operating-it), in the service's own registry.

use telemetry::prometheus::{opts, IntCounterVec, Registry};

use crate::store::imports::Import;

#[derive(Clone)]
pub struct Metrics {
    /// Uploads stored, by the import's final status (completed or failed).
    imports: IntCounterVec,
    /// Rows of stored imports, by outcome (valid, invalid, skipped).
    rows: IntCounterVec,
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
        Self { imports, rows }
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
