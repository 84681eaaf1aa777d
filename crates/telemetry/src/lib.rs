//! Logs, traces and metrics for the services.
//!
//! Logs are JSON lines on stdout, filtered by `RUST_LOG` (default `info`). With an OTLP endpoint,
//! the spans that filter lets through are also exported as OpenTelemetry traces (OTLP over HTTP,
//! protobuf), and the W3C `traceparent` of the current span travels with every request to our own
//! services and every message, so one trace spans the services ([`current_traceparent`],
//! [`set_parent`], [`PropagateTrace`]). Metrics are Prometheus text; every running service has its
//! own [`prometheus::Registry`], so several services started in one test process never mix their
//! figures.

mod context;
mod export;

use std::sync::OnceLock;

use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

pub use context::{current_traceparent, set_parent, PropagateTrace, TRACEPARENT};
pub use export::ExportError;
pub use prometheus;

/// The trace pipeline of this process, once one was installed (the first [`init`] with an
/// endpoint); kept so that [`shutdown`] can send what is still buffered.
static INSTALLED: OnceLock<Option<SdkTracerProvider>> = OnceLock::new();

/// Installs the JSON log subscriber and, when `otlp_endpoint` is given (the collector's base URL,
/// e.g. `http://otel-collector:4318`), the trace exporter with resource `service.name = service`.
///
/// Only the first call of a process installs anything; later calls are ignored, so tests that
/// start several services in one process may call it for each. Fails only on an endpoint that is
/// not a URL.
pub fn init(service: &'static str, otlp_endpoint: Option<&str>) -> Result<(), ExportError> {
    let mut failed = None;
    INSTALLED.get_or_init(|| match install(service, otlp_endpoint) {
        Ok(provider) => provider,
        Err(error) => {
            failed = Some(error);
            None
        }
    });
    failed.map_or(Ok(()), Err)
}

fn install(
    service: &'static str,
    otlp_endpoint: Option<&str>,
) -> Result<Option<SdkTracerProvider>, ExportError> {
    let provider = otlp_endpoint
        .map(|endpoint| export::provider(service, endpoint))
        .transpose()?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false);
    // One filter for both: a span the trace layer did not see would cut its children off from
    // the trace.
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(provider.as_ref().map(export::layer))
        .try_init();
    if installed.is_err() {
        // Someone else's subscriber is in place: spans would never reach this pipeline.
        if let Some(provider) = provider {
            let _ = provider.shutdown();
        }
        return Ok(None);
    }
    if let Some(provider) = &provider {
        export::make_global(provider);
    }
    tracing::info!(service, traces = provider.is_some(), "logging started");
    Ok(provider)
}

/// Exports the spans still buffered and stops the exporter. Blocks for up to five seconds; call
/// it once, when the process stops.
pub fn shutdown() {
    if let Some(Some(provider)) = INSTALLED.get() {
        if let Err(error) = provider.shutdown() {
            eprintln!("traces not all exported: {error}");
        }
    }
}

/// A registry labelled with the service's name (`service="..."` on every series).
pub fn registry(service: &str) -> prometheus::Registry {
    let labels = [("service".to_owned(), service.to_owned())]
        .into_iter()
        .collect();
    prometheus::Registry::new_custom(Some("bridge".to_owned()), Some(labels))
        .expect("a constant prefix and label are valid")
}

/// Renders a registry in the Prometheus text format.
pub fn render(registry: &prometheus::Registry) -> String {
    use prometheus::Encoder;
    let mut buffer = Vec::new();
    let encoder = prometheus::TextEncoder::new();
    // Encoding our own registry into a Vec cannot fail: the only errors are I/O and invalid
    // metric families, and the registry validates families at registration.
    if encoder.encode(&registry.gather(), &mut buffer).is_err() {
        return String::new();
    }
    String::from_utf8(buffer).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_metrics_carry_prefix_and_service_label() {
        let registry = registry("config-service");
        let up = prometheus::IntGauge::new("up", "1 while the service runs").unwrap();
        registry.register(Box::new(up.clone())).unwrap();
        up.set(1);
        let text = render(&registry);
        assert!(
            text.contains("bridge_up{service=\"config-service\"} 1"),
            "{text}"
        );
    }
}
