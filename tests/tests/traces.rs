//! One trace spans the services: a report uploaded with a `traceparent` is traced in
//! import-service, and the consumption of its punches in sync-service joins the same trace; no
//! exported span holds a Bayzat key or a token; a service stopping sends its last spans.

use std::time::Duration;

use bridge_tests::collector::{Collector, ReceivedSpan};
use bridge_tests::{fixtures, wait_for, Role, Service, System};

const SETTLE: Duration = Duration::from_secs(60);
const REPORT: &str = "basic.csv";
const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const CALLER_SPAN: &str = "b7ad6b7169203331";

fn in_trace(spans: &[ReceivedSpan], service: &str) -> Vec<ReceivedSpan> {
    spans
        .iter()
        .filter(|span| span.service == service && span.trace_id == TRACE_ID)
        .cloned()
        .collect()
}

#[tokio::test]
async fn an_upload_and_the_delivery_of_its_punches_are_one_trace() {
    let collector = Collector::start();
    let system = System::builder()
        .traces_to(collector.endpoint())
        .start()
        .await;
    let outcomes = fixtures::report_outcomes(system.directory(), REPORT);

    let token = system.token(Role::Operator);
    let upload = system
        .client
        .post(format!(
            "{}/v1/imports?filename={REPORT}",
            system.url(Service::Import)
        ))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .header("content-type", "text/csv")
        .body(std::fs::read(fixtures::path(REPORT)).expect("the fixture"))
        .send()
        .await
        .expect("upload");
    assert_eq!(upload.status(), 201, "{}", upload.text().await.unwrap());
    for (slug, outcome) in &outcomes {
        system.assert_outcome(slug, outcome, SETTLE).await;
    }

    wait_for(SETTLE, "spans of the upload's trace", || async {
        let spans = collector.spans();
        let import = in_trace(&spans, "import-service");
        let sync = in_trace(&spans, "sync-service");
        let config = in_trace(&spans, "config-service");
        let request = import
            .iter()
            .find(|span| span.parent_span_id == CALLER_SPAN);
        let child_of =
            |parent: &ReceivedSpan, span: &ReceivedSpan| span.parent_span_id == parent.span_id;
        // The upload asked config-service for the directory, and queued the punches that
        // sync-service consumed: both in the upload's trace, under its request span.
        let directory = request.and_then(|request| {
            config.iter().find(|span| {
                child_of(request, span) && span.attribute("http.route") == Some("/v1/directory")
            })
        });
        let consumed = request.and_then(|request| {
            sync.iter().find(|span| {
                child_of(request, span)
                    && span.attribute("messaging.message.type") == Some("punches.ready.v1")
            })
        });
        match (request, directory, consumed) {
            (Some(request), Some(_), Some(_)) => {
                assert_eq!(request.attribute("http.request.method"), Some("POST"));
                assert_eq!(request.attribute("http.route"), Some("/v1/imports"));
                assert_eq!(request.attribute("http.response.status_code"), Some("201"));
                Ok(())
            }
            _ => Err(format!(
                "import-service: {import:?}\nconfig-service: {config:?}\n\
                 sync-service: {sync:?}\nall: {} spans",
                spans.len()
            )),
        }
    })
    .await;

    assert!(
        !collector.any_export_contains(&token),
        "a token was exported"
    );
    for company in &system.directory().companies {
        assert!(
            !collector.any_export_contains(&company.api_key),
            "{}'s Bayzat key was exported",
            company.slug
        );
    }
}

#[tokio::test]
async fn a_service_stopping_sends_the_spans_it_still_holds() {
    let collector = Collector::start();
    let mut system = System::builder()
        .traces_to(collector.endpoint())
        // No batch would leave before the stop.
        .env(Service::Import, "OTEL_BSP_SCHEDULE_DELAY", "600000")
        .start()
        .await;
    let listed = system
        .client
        .get(format!("{}/v1/imports", system.url(Service::Import)))
        .bearer_auth(system.token(Role::Viewer))
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .send()
        .await
        .expect("list imports");
    assert_eq!(listed.status(), 200);
    assert!(in_trace(&collector.spans(), "import-service").is_empty());

    assert_eq!(
        system.terminate(Service::Import),
        Some(0),
        "stopped cleanly"
    );
    let spans = collector.spans();
    let sent = in_trace(&spans, "import-service");
    assert!(
        sent.iter().any(|span| span.parent_span_id == CALLER_SPAN
            && span.attribute("http.route") == Some("/v1/imports")),
        "{sent:?}"
    );
}
