//! Logs and metrics for the services.
//!
//! Logs are JSON lines on stdout, filtered by `RUST_LOG` (default `info`). Metrics are Prometheus
//! text; every running service has its own [`prometheus::Registry`], so several services started
//! in one test process never mix their figures.

use tracing_subscriber::EnvFilter;

pub use prometheus;

/// Installs the JSON log subscriber for a service binary. Safe to call more than once (later calls
/// are ignored), so tests that start services in-process may call it too.
pub fn init_logging(service: &'static str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let installed = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_env_filter(filter)
        .try_init();
    if installed.is_ok() {
        tracing::info!(service, "logging started");
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
