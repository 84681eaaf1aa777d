//! The console's own figures: pages served by route and status, how long they took (most of
//! it waiting for the services), and sign-ins by result.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use telemetry::prometheus::{histogram_opts, opts, HistogramVec, IntCounterVec, Registry};

#[derive(Clone)]
pub struct Metrics {
    pub requests: IntCounterVec,
    pub seconds: HistogramVec,
    pub sign_ins: IntCounterVec,
}

impl Metrics {
    pub fn register(registry: &Registry) -> Self {
        let requests = IntCounterVec::new(
            opts!("console_requests_total", "Requests by route and status"),
            &["route", "status"],
        )
        .expect("valid metric");
        let seconds = HistogramVec::new(
            histogram_opts!(
                "console_request_seconds",
                "Time to answer a request, by route",
                vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]
            ),
            &["route"],
        )
        .expect("valid metric");
        let sign_ins = IntCounterVec::new(
            opts!("console_sign_ins_total", "Sign-ins by result"),
            &["result"],
        )
        .expect("valid metric");
        for metric in [
            Box::new(requests.clone()) as Box<dyn telemetry::prometheus::core::Collector>,
            Box::new(seconds.clone()),
            Box::new(sign_ins.clone()),
        ] {
            registry
                .register(metric)
                .expect("each metric is registered once");
        }
        Self {
            requests,
            seconds,
            sign_ins,
        }
    }
}

/// Counts and times every request by its route pattern (never the concrete path, which would
/// make a series per import).
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let started = Instant::now();
    let response = next.call(req).await?;
    if let Some(metrics) = metrics {
        let status = response.status().as_u16().to_string();
        metrics
            .requests
            .with_label_values(&[route.as_str(), status.as_str()])
            .inc();
        metrics
            .seconds
            .with_label_values(&[route.as_str()])
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(response)
}
