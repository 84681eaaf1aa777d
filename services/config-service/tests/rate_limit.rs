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

/// The most requests one allowance of ten and one a second can accept over `elapsed`: the burst,
/// and one for each second begun. Counting the seconds the requests took keeps the bounds right
/// on a machine slow enough to spread them out.
fn most_accepted_in(elapsed: std::time::Duration) -> usize {
    10 + elapsed.as_secs() as usize + 1
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
    let started = std::time::Instant::now();
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
    // Ten in the burst, and at most one more for each second the loop took.
    let most = most_accepted_in(started.elapsed());
    assert!(ok <= most, "{ok} accepted, at most {most}: {statuses:?}");
    assert!(limited >= 1, "{statuses:?}");

    // Fresh tokens for the same user share the allowance, which the loop above used up: an
    // allowance of their own would accept a burst of ten.
    let started = std::time::Instant::now();
    let mut fresh_accepted = 0;
    for minutes in 20..32 {
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
        match response.status() {
            StatusCode::OK => fresh_accepted += 1,
            status => assert_eq!(status, StatusCode::TOO_MANY_REQUESTS),
        }
    }
    let refilled = started.elapsed().as_secs() as usize + 1;
    assert!(
        fresh_accepted <= refilled.min(9),
        "{fresh_accepted} of 12 accepted with fresh tokens in {:?}",
        started.elapsed()
    );

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
    let started = std::time::Instant::now();
    for i in 0..30 {
        let response = client
            .get(format!("{base}/v1/companies"))
            .bearer_auth(format!("not-a-token-{i}"))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    let most = most_accepted_in(started.elapsed());
    assert!(
        statuses.iter().filter(|s| **s == 401).count() <= most,
        "at most {most} answered: {statuses:?}"
    );
    assert!(
        statuses.iter().filter(|s| **s == 429).count() >= 30 - most,
        "{statuses:?}"
    );
    service.stop().await;
}
