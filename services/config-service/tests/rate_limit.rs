//! The API's rate limit follows the caller the token proves, not the bytes of the header: writing
//! "Bearer" another way, adding spaces or minting a fresh token for the same user buys no extra
//! allowance. Bad tokens are limited per address.

mod common;

use std::num::NonZeroU32;

use auth::{Claims, JwtKeys, Role};
use reqwest::StatusCode;
use test_support::TestEnv;

/// config-service allowing one request a second, in bursts of ten.
async fn slow_service() -> (service_kit::RunningService, String, TestEnv) {
    let env = TestEnv::new().await;
    let mut common_settings = env.common_settings();
    common_settings.api_rate_limit_per_second = NonZeroU32::new(1).unwrap();
    let service =
        config_service::start(common::settings(common_settings, &common::master_key("k1")))
            .await
            .expect("config-service starts");
    let base = service.base_url();
    (service, base, env)
}

/// "bearer" in every mix of cases, and with spaces around and inside.
fn header_variants(token: &str) -> Vec<String> {
    let mut variants = Vec::new();
    for mask in 0u32..64 {
        let scheme: String = "bearer"
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if mask & (1 << i) != 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
        variants.push(format!("{scheme} {token}"));
        variants.push(format!("{scheme}   {token}  "));
    }
    variants
}

#[tokio::test(flavor = "multi_thread")]
async fn one_user_is_limited_however_the_authorization_header_is_written() {
    let (service, base, _env) = slow_service().await;
    let client = reqwest::Client::new();
    let keys: JwtKeys = common::keys();
    let token = keys.mint(&Claims::new(
        "flooder",
        Role::Viewer,
        chrono::Duration::minutes(10),
    ));
    let mut statuses = Vec::new();
    for header in header_variants(&token).into_iter().take(40) {
        let response = client
            .get(format!("{base}/v1/companies"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        statuses.push(response.status());
    }
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(ok + limited, statuses.len(), "{statuses:?}");
    // Ten in the burst, and at most a few more for the seconds the loop took.
    assert!(ok <= 15, "{ok} accepted: {statuses:?}");
    assert!(limited >= 25, "{statuses:?}");

    // Fresh tokens for the same user share the allowance.
    for minutes in 20..25 {
        let fresh = keys.mint(&Claims::new(
            "flooder",
            Role::Viewer,
            chrono::Duration::minutes(minutes),
        ));
        let response = client
            .get(format!("{base}/v1/companies"))
            .bearer_auth(fresh)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    }

    // Another user is not affected.
    let other = keys.mint(&Claims::new(
        "someone-else",
        Role::Viewer,
        chrono::Duration::minutes(10),
    ));
    let response = client
        .get(format!("{base}/v1/companies"))
        .bearer_auth(other)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_tokens_are_limited_per_address() {
    let (service, base, _env) = slow_service().await;
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for i in 0..30 {
        let response = client
            .get(format!("{base}/v1/companies"))
            .bearer_auth(format!("not-a-token-{i}"))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert!(
        statuses.iter().filter(|s| **s == 401).count() <= 15,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().filter(|s| **s == 429).count() >= 15,
        "{statuses:?}"
    );
    service.stop().await;
}
