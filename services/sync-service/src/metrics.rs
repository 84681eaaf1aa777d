//! The delivery metrics (docs/architecture.md#operating-it), in the service's own registry.

use telemetry::prometheus::{
    histogram_opts, opts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Registry,
};

use crate::runtime::SyncContext;
use crate::store::deliveries;

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

/// Sets the delivery gauges (deliveries by company and state, and the oldest still waiting to go)
/// from the database. Both read every delivery, so `/metrics` has them counted when it is scraped
/// (`service_kit::Ops::count_when_scraped`) instead of a timer counting them: on a timer every
/// replica read the whole table every 5 s, 5.5 s of statement time in a run of 200 companies
/// (docs/operations.md), and more the more deliveries are kept.
pub async fn count_deliveries(shared: &SyncContext) -> Result<(), db::DbError> {
    let mut conn = db::connection(&shared.pool).await?;
    let counts = deliveries::counts(&mut conn, None).await?;
    let gauge = &shared.metrics.deliveries;
    gauge.reset();
    for count in counts {
        gauge
            .with_label_values(&[count.company_id.to_string().as_str(), count.state.as_str()])
            .set(count.count);
    }
    let lag = deliveries::oldest_waiting_by_company(&mut conn).await?;
    let now = shared.clock.now();
    shared.metrics.oldest_pending.reset();
    for (company_id, at) in lag {
        shared
            .metrics
            .oldest_pending
            .with_label_values(&[company_id.to_string().as_str()])
            .set((now - at).num_seconds().max(0));
    }
    Ok(())
}
