//! The W3C trace context carried between the services: the `traceparent` header of HTTP requests
//! and the message header of the same name (stored with each outbox message until it is sent).

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The header's name, in HTTP and in AMQP.
pub const TRACEPARENT: &str = "traceparent";

/// The `traceparent` value of the current span, to hand on with a request or a message. None
/// outside any span, and whenever traces are not exported (no endpoint configured).
pub fn current_traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    // The header is W3C's by contract between the services, whatever the global propagator.
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// Makes `span` a child of the span that sent `traceparent` (a request's header, a message's).
/// Call it before the span is first entered. A missing or malformed value leaves the span where
/// it was: a trace of its own, or under the current span.
pub fn set_parent(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent else {
        return;
    };
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    let parent = TraceContextPropagator::new().extract(&carrier);
    if parent.span().span_context().is_valid() {
        // Refused only when traces are not exported or the span is filtered out: then there is
        // no trace to join.
        let _ = span.set_parent(parent);
    }
}

/// Hands the current trace on with a request to another of our services. Never for third
/// parties (Bayzat): the trace ids are ours.
pub trait PropagateTrace {
    fn propagate_trace(self) -> Self;
}

impl PropagateTrace for reqwest::RequestBuilder {
    fn propagate_trace(self) -> Self {
        match current_traceparent() {
            Some(traceparent) => self.header(TRACEPARENT, traceparent),
            None => self,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt;

    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SENDER: &str = "00f067aa0ba902b7";

    /// Runs `f` with spans turned into OpenTelemetry spans (kept in memory, never exported).
    fn traced<T>(f: impl FnOnce() -> T) -> T {
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, f)
    }

    fn parts(traceparent: &str) -> Vec<String> {
        traceparent.split('-').map(str::to_owned).collect()
    }

    #[test]
    fn a_child_of_a_received_traceparent_hands_on_the_same_trace_as_itself() {
        let received = format!("00-{TRACE_ID}-{SENDER}-01");
        let handed_on = traced(|| {
            let span = tracing::info_span!("handling");
            set_parent(&span, Some(&received));
            span.in_scope(current_traceparent)
        })
        .expect("a traceparent inside a traced span");
        let [version, trace, span, flags] = parts(&handed_on).try_into().unwrap();
        assert_eq!((version.as_str(), trace.as_str()), ("00", TRACE_ID));
        assert_eq!(flags, "01", "sampled, as the sender's");
        assert_eq!(span.len(), 16);
        assert_ne!(span, SENDER, "the child's own span id, not its parent's");
    }

    #[test]
    fn without_a_usable_parent_a_span_starts_its_own_trace() {
        for received in [
            None,
            Some("garbage"),
            Some("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
        ] {
            let handed_on = traced(|| {
                let span = tracing::info_span!("handling");
                set_parent(&span, received);
                span.in_scope(current_traceparent)
            })
            .expect("a root span has a trace of its own");
            assert_ne!(parts(&handed_on)[1], TRACE_ID);
            assert_ne!(parts(&handed_on)[1], "0".repeat(32));
        }
    }

    #[test]
    fn nothing_is_handed_on_outside_a_span_or_without_traces() {
        assert_eq!(traced(current_traceparent), None, "outside any span");
        let span = tracing::info_span!("handling");
        assert_eq!(span.in_scope(current_traceparent), None, "no trace layer");
    }
}
