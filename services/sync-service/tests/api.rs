//! The REST API: roles, company scoping, lists and filters, sync health, the served OpenAPI
//! document, audit events and metrics.

mod common;

use std::time::Duration;

use auth::{Claims, Role};
use common::*;
use domain::PunchType;

#[tokio::test(flavor = "multi_thread")]
async fn lists_health_roles_audit_and_metrics() {
    let stack = Stack::start(1).await;
    let advline = stack.company_id("advline").await;
    let mut batch = punches(1, 22);
    batch.push(punch(
        900,
        "1004",
        PunchType::CheckIn,
        "2026-05-01 06:03:30",
    ));
    let batch_id = stack.ready(advline, 5, batch).await;
    stack
        .wait_for(
            advline,
            23,
            &["delivered", "rejected"],
            Duration::from_secs(20),
        )
        .await;

    let (status, _) = stack.get("/v1/batches", Role::Service).await;
    assert_eq!(status, 403);
    let response = stack
        .client
        .get(format!("{}/v1/batches", stack.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);

    let (status, page) = stack
        .get("/v1/batches?company=advline&import_id=5", Role::Viewer)
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 1);
    let listed = &page["items"][0];
    assert_eq!(listed["id"], batch_id.as_str());
    assert_eq!(listed["status"], "failed", "{listed}");
    assert_eq!(
        (
            listed["total_count"].as_i64(),
            listed["delivered_count"].as_i64(),
            listed["rejected_count"].as_i64()
        ),
        (Some(23), Some(22), Some(1))
    );
    let (_, page) = stack
        .get("/v1/batches?status=completed", Role::Viewer)
        .await;
    assert_eq!(page["total"], 0);

    let (status, page) = stack
        .get(
            "/v1/deliveries?company=advline&state=rejected&per_page=5",
            Role::Viewer,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["emp_id"], "1004");
    let (_, page) = stack
        .get(
            "/v1/deliveries?employee=1001&from=2026-05-01T06:00:00&to=2026-05-01T06:10:00",
            Role::Viewer,
        )
        .await;
    assert_eq!(page["total"], 2, "{page}");
    let (status, _) = stack.get("/v1/deliveries?state=lost", Role::Viewer).await;
    assert_eq!(status, 422);

    // A token limited to another company sees nothing of advline.
    let clara_only = stack.keys.mint(
        &Claims::new("clara-viewer", Role::Viewer, chrono::Duration::minutes(5))
            .with_companies(["clarastars"]),
    );
    let scoped = |path: &str| {
        stack
            .client
            .get(format!("{}{path}", stack.base()))
            .bearer_auth(&clara_only)
            .send()
    };
    let page: serde_json::Value = scoped("/v1/batches").await.unwrap().json().await.unwrap();
    assert_eq!(page["total"], 0, "{page}");
    assert_eq!(
        scoped("/v1/companies/advline/sync-health")
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    assert_eq!(
        scoped(&format!("/v1/batches/{batch_id}"))
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );

    let (status, health) = stack
        .get(
            &format!("/v1/companies/{advline}/sync-health"),
            Role::Viewer,
        )
        .await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["state"], "active");
    assert_eq!(health["counts"]["delivered"], 22);
    assert_eq!(health["counts"]["rejected"], 1);
    assert!(health["last_success_at"].is_string());
    assert_eq!(health["last_error"]["outcome"], "refused");
    assert!(health["calls_24h"].as_i64().unwrap() >= 2);
    assert!(health["latency_p95_ms"].is_number());
    let (status, _) = stack
        .get("/v1/companies/nosuch/sync-health", Role::Viewer)
        .await;
    assert_eq!(status, 404);

    let (status, queued) = stack
        .post(&format!("/v1/batches/{batch_id}/retry"), Role::Operator)
        .await;
    assert_eq!((status, queued["queued"].as_u64()), (202, Some(1)));
    stack
        .wait_for(
            advline,
            23,
            &["delivered", "rejected"],
            Duration::from_secs(10),
        )
        .await;
    // config-service keeps the one audit log; the retry's entry reaches it as an event.
    assert!(
        test_support::eventually(Duration::from_secs(10), || async {
            let page: serde_json::Value = stack
                .client
                .get(format!(
                    "{}/v1/audit?action=batch.retried",
                    stack.config_base
                ))
                .bearer_auth(stack.token(Role::Admin))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap_or_default();
            page["items"].as_array().is_some_and(|items| {
                items.iter().any(|entry| {
                    entry["actor"] == "operator-user"
                        && entry["service"] == "sync-service"
                        && entry["target"] == batch_id.as_str()
                })
            })
        })
        .await
    );

    let document: serde_json::Value = stack
        .client
        .get(format!("{}/openapi.json", stack.base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["info"]["title"], "sync-service");
    assert!(document["paths"]["/v1/batches/{id}/retry"].is_object());

    // The delivery gauges are counted when /metrics is scraped: a later scrape shows the count.
    let base = stack.base();
    test_support::wait_for(
        Duration::from_secs(30),
        "the deliveries are counted on /metrics",
        || async {
            let metrics = test_support::metrics(&stack.client, &base).await;
            metrics
                .contains("bridge_deliveries{")
                .then_some(())
                .ok_or_else(|| "no bridge_deliveries yet".to_owned())
        },
    )
    .await;
    let metrics = test_support::metrics(&stack.client, &stack.base()).await;
    for series in [
        "bridge_bayzat_calls_total",
        "bridge_bayzat_request_seconds",
        "bridge_deliveries",
    ] {
        assert!(metrics.contains(series), "{series} missing");
    }
    assert!(metrics.contains("status=\"400\""), "{metrics}");
}
