//! A span for every API request, a child of the caller's span when the caller sent a
//! `traceparent`: one trace then follows a report from the console or the IT portal through the
//! services. The span records the method, the route pattern and the status, never other headers
//! or bodies (tokens and keys must never reach a trace).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use tracing::field::Empty;
use tracing::Instrument;

/// The middleware: `App::new().wrap(from_fn(trace_requests))`, wrapped last so that it sees every
/// answer, refusals by the other middleware included. The probes are not traced: they would bury
/// the traces that matter.
pub async fn trace_requests<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    if crate::ops::OPS_PATHS.contains(&req.path()) {
        return next.call(req).await;
    }
    let span = request_span(&req);
    let result = next.call(req).instrument(span.clone()).await;
    let status = match &result {
        Ok(response) => response.status(),
        Err(error) => error.as_response_error().status_code(),
    };
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    result
}

fn request_span(req: &ServiceRequest) -> tracing::Span {
    let method = req.method().as_str();
    let route = req.match_pattern();
    let name = match &route {
        Some(route) => format!("{method} {route}"),
        None => method.to_owned(),
    };
    let span = tracing::info_span!(
        "request",
        otel.name = name,
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method,
        http.route = route,
        http.response.status_code = Empty,
    );
    let traceparent = req
        .headers()
        .get(telemetry::TRACEPARENT)
        .and_then(|value| value.to_str().ok());
    telemetry::set_parent(&span, traceparent);
    span
}
