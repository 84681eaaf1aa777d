//! A company's Bayzat calls per local day: calls, records delivered, 429s, errors.

mod common;

use std::time::Duration;

use auth::{Claims, Role};
use bayzat_sim::KeySpec;
use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn usage_counts_each_local_day_as_the_simulator_saw_it() {
    let stack = Stack::start(1).await;
    // The simulator allows one request per 600 ms while the sender paces at 250 ms: some calls
    // are answered 429 and retried.
    stack
        .sim
        .put_key(KeySpec::new(ADVLINE_KEY, ADVLINE_EMPLOYEES).with_interval_ms(600));
    let advline = stack.company_id("advline").await;
    stack.ready(advline, 7, punches(1, 60)).await;
    stack
        .wait_for(advline, 60, &["delivered"], Duration::from_secs(30))
        .await;

    let (status, usage) = stack
        .get("/v1/companies/advline/usage?days=3", Role::Viewer)
        .await;
    assert_eq!(status, 200, "{usage}");
    assert_eq!(usage["company_id"], advline);
    assert_eq!(usage["timezone"], "Asia/Dubai");
    let days = usage["days"].as_array().unwrap();
    assert_eq!(days.len(), 1, "{usage}");
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Dubai)
        .date_naive()
        .to_string();
    let day = &days[0];
    assert_eq!(day["date"], today.as_str());
    let stats = stack.key_stats(ADVLINE_KEY);
    assert!(stats.rate_limited > 0, "{stats:?}");
    assert_eq!(day["delivered"], 60);
    assert_eq!(day["rate_limited"].as_u64(), Some(stats.rate_limited));
    assert_eq!(
        day["calls"].as_u64(),
        Some(stats.requests + stats.rate_limited)
    );
    assert_eq!(day["errors"], 0);
    assert!(day["latency_p50_ms"].as_f64().is_some());

    // A company without calls has no days; another company's token sees nothing of advline.
    let (_, quiet) = stack
        .get("/v1/companies/clarastars/usage", Role::Viewer)
        .await;
    assert_eq!(quiet["days"], serde_json::json!([]));
    let limited = stack.keys.mint(
        &Claims::new("clara-viewer", Role::Viewer, chrono::Duration::minutes(5))
            .with_companies(["clarastars"]),
    );
    let response = stack
        .client
        .get(format!("{}/v1/companies/advline/usage", stack.base()))
        .bearer_auth(limited)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
}
