//! A stand-in for an OpenTelemetry collector: accepts OTLP/HTTP trace exports (protobuf bodies on
//! `POST /v1/traces`) on a free loopback port and keeps every span with the `service.name` of the
//! resource that sent it, and every body as it came.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse, HttpServer};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message;

/// One received span.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    /// The `service.name` of the exporting resource.
    pub service: String,
    pub name: String,
    /// Lower-case hex, as in a `traceparent`.
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    /// The span's attributes, values as text.
    pub attributes: Vec<(String, String)>,
}

impl ReceivedSpan {
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Received {
    spans: Vec<ReceivedSpan>,
    bodies: Vec<Vec<u8>>,
}

/// The collector; stops when dropped.
pub struct Collector {
    url: String,
    received: Arc<Mutex<Received>>,
    server: ServerHandle,
}

impl Collector {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        let received = Arc::new(Mutex::new(Received::default()));
        let state = web::Data::new(received.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                .route("/v1/traces", web::post().to(export))
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            url,
            received,
            server: handle,
        }
    }

    /// What `OTEL_EXPORTER_OTLP_ENDPOINT` is set to.
    pub fn endpoint(&self) -> &str {
        &self.url
    }

    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.received.lock().expect("not poisoned").spans.clone()
    }

    /// Whether any export, in any of its parts (names, attributes, events, resource), holds
    /// `text`.
    pub fn any_export_contains(&self, text: &str) -> bool {
        let needle = text.as_bytes();
        self.received
            .lock()
            .expect("not poisoned")
            .bodies
            .iter()
            .any(|body| body.windows(needle.len()).any(|window| window == needle))
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

async fn export(received: web::Data<Arc<Mutex<Received>>>, body: web::Bytes) -> HttpResponse {
    let Ok(request) = ExportTraceServiceRequest::decode(body.as_ref()) else {
        return HttpResponse::BadRequest().finish();
    };
    let spans = spans_of(request);
    let mut received = received.lock().expect("not poisoned");
    received.spans.extend(spans);
    received.bodies.push(body.to_vec());
    HttpResponse::Ok()
        .content_type("application/x-protobuf")
        .body(ExportTraceServiceResponse::default().encode_to_vec())
}

fn spans_of(request: ExportTraceServiceRequest) -> Vec<ReceivedSpan> {
    let mut spans = Vec::new();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|resource| attributes(&resource.attributes))
            .find(|(key, _)| key == "service.name")
            .map(|(_, name)| name)
            .unwrap_or_default();
        for span in resource_spans
            .scope_spans
            .into_iter()
            .flat_map(|scope| scope.spans)
        {
            spans.push(ReceivedSpan {
                service: service.clone(),
                name: span.name,
                trace_id: hex(&span.trace_id),
                span_id: hex(&span.span_id),
                parent_span_id: hex(&span.parent_span_id),
                attributes: attributes(&span.attributes),
            });
        }
    }
    spans
}

fn attributes(pairs: &[KeyValue]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|pair| {
            let value = match pair.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(text)) => text.clone(),
                Some(Value::IntValue(number)) => number.to_string(),
                Some(Value::BoolValue(flag)) => flag.to_string(),
                Some(Value::DoubleValue(number)) => number.to_string(),
                Some(other) => format!("{other:?}"),
                None => String::new(),
            };
            (pair.key.clone(), value)
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
