//! The OTLP trace pipeline: spans batched and sent over HTTP with protobuf bodies.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::Subscriber;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The OTLP/HTTP path of traces under the collector's base URL.
const TRACES_PATH: &str = "/v1/traces";

#[derive(Debug, thiserror::Error)]
#[error("OTEL_EXPORTER_OTLP_ENDPOINT {endpoint:?} is not usable: {reason}")]
pub struct ExportError {
    endpoint: String,
    reason: String,
}

/// A provider exporting `service`'s spans to the collector at `endpoint`.
///
/// The batch processor sends from a thread of its own, whatever the caller's runtime, so the
/// exporter's HTTP client is a blocking one. The batch's delay and size follow the standard
/// `OTEL_BSP_*` variables (a batch every 5 s by default).
pub fn provider(service: &'static str, endpoint: &str) -> Result<SdkTracerProvider, ExportError> {
    // The variable names the collector, as the OpenTelemetry specification has it; given in code,
    // the exporter would take it as the full traces URL.
    let url = format!("{}{TRACES_PATH}", endpoint.trim_end_matches('/'));
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(&url)
        .build()
        .map_err(|error| ExportError {
            endpoint: endpoint.to_owned(),
            reason: error.to_string(),
        })?;
    let resource = Resource::builder().with_service_name(service).build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// The layer turning `tracing` spans into the provider's spans.
pub fn layer<S>(provider: &SdkTracerProvider) -> impl Layer<S>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    tracing_opentelemetry::layer().with_tracer(provider.tracer("attendance-bridge"))
}

/// Makes the provider and the W3C trace context the process's defaults, for any library that
/// looks them up.
pub fn make_global(provider: &SdkTracerProvider) {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider.clone());
}
