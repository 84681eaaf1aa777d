//! The delivery metrics (docs/architecture.md#operating-it), in the service's own registry.

use telemetry::prometheus::{
    histogram_opts, opts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Registry,
};

#[derive(Clone)]
pub struct Metrics {
    /// Bayzat calls by HTTP status (`none` when no answer came) per company.
    pub calls: IntCounterVec,
    pub latency: HistogramVec,
    pub rate_limited: IntCounterVec,
    pub retries_exhausted: IntCounterVec,
    pub deliveries: IntGaugeVec,
    /// Seconds since the oldest delivery still waiting to go was queued, per company.
    pub oldest_pending: IntGaugeVec,
    /// The replicas this one shares the companies with, itself included, at its last heartbeat.
    pub replicas: IntGauge,
}

impl Metrics {
    pub fn register(registry: &Registry) -> Self {
        let calls = IntCounterVec::new(
            opts!("bayzat_calls_total", "Requests to Bayzat by HTTP status"),
            &["company", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            histogram_opts!(
                "bayzat_request_seconds",
                "Latency of requests to Bayzat",
                vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]
            ),
            &["company"],
        )
        .expect("valid metric");
        let rate_limited = IntCounterVec::new(
            opts!("bayzat_rate_limited_total", "429 answers from Bayzat"),
            &["company"],
        )
        .expect("valid metric");
        let retries_exhausted = IntCounterVec::new(
            opts!(
                "delivery_retries_exhausted_total",
                "Deliveries failed after their last retry"
            ),
            &["company"],
        )
        .expect("valid metric");
        let deliveries = IntGaugeVec::new(
            opts!("deliveries", "Deliveries by state"),
            &["company", "state"],
        )
        .expect("valid metric");
        let oldest_pending = IntGaugeVec::new(
            opts!(
                "oldest_pending_seconds",
                "Age of the oldest delivery waiting to go (queue lag)"
            ),
            &["company"],
        )
        .expect("valid metric");
        let replicas = IntGauge::with_opts(opts!(
            "sync_replicas",
            "sync-service replicas sharing the companies, as this replica last saw them"
        ))
        .expect("valid metric");
        for metric in [
            Box::new(calls.clone()) as Box<dyn telemetry::prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(rate_limited.clone()),
            Box::new(retries_exhausted.clone()),
            Box::new(deliveries.clone()),
            Box::new(oldest_pending.clone()),
            Box::new(replicas.clone()),
        ] {
            registry
                .register(metric)
                .expect("each metric is registered once per registry");
        }
        Self {
            calls,
            latency,
            rate_limited,
            retries_exhausted,
            deliveries,
            oldest_pending,
            replicas,
        }
    }

    /// Starts a company's counters at zero, so an alert on their increase sees the first one.
    pub fn track_company(&self, company_id: i64) {
        let company = company_id.to_string();
        self.rate_limited.with_label_values(&[company.as_str()]);
        self.retries_exhausted
            .with_label_values(&[company.as_str()]);
    }
}
