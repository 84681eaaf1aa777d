//! A company's key goes only to its saved api_url, and only when that URL is allowed: a new URL
//! reaches the running senders at once, and a URL outside BAYZAT_ALLOWED_API_URLS gets nothing even
//! when it was written into config-service's database directly.

mod common;

use std::time::Duration;

use bayzat_sim::{KeySpec, SimConfig};
use common::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use test_support::RecordingListener;

async fn database(stack: &Stack) -> AsyncPgConnection {
    AsyncPgConnection::establish(stack.env.db.url())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_api_url_reaches_the_running_sender_and_the_old_one_gets_nothing_more() {
    let stack = Stack::start(1).await;
    let advline = stack.company_id("advline").await;
    stack.ready(advline, 1, punches(1, 5)).await;
    stack
        .wait_for(advline, 5, &["delivered"], Duration::from_secs(30))
        .await;
    let second = bayzat_sim::spawn(
        "127.0.0.1:0",
        SimConfig {
            keys: vec![KeySpec::new(ADVLINE_KEY, ADVLINE_EMPLOYEES).with_interval_ms(INTERVAL_MS)],
        },
    )
    .await
    .unwrap();

    // A new URL alone: the stored key is not sent there, and no longer to the old URL either.
    stack
        .put_config("advline", json!({ "api_url": second.attendance_url() }))
        .await;
    stack.config_taken_in().await;
    stack.ready(advline, 2, punches(1001, 5)).await;
    stack
        .wait_for(
            advline,
            10,
            &["delivered", "paused"],
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(
        stack.ledger(ADVLINE_KEY).len(),
        5,
        "punches went on to the old api_url after it was changed"
    );
    assert!(second.ledger(ADVLINE_KEY).unwrap_or_default().is_empty());

    // The URL with its key: the waiting punches go to the new URL, without a restart.
    stack
        .put_config(
            "advline",
            json!({ "api_url": second.attendance_url(), "api_key": ADVLINE_KEY }),
        )
        .await;
    stack
        .wait_for(advline, 10, &["delivered"], Duration::from_secs(30))
        .await;
    assert_exactly_once(&second.ledger(ADVLINE_KEY).unwrap_or_default(), 5);
    assert_eq!(stack.ledger(ADVLINE_KEY).len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_url_outside_the_allowed_list_gets_no_key_even_when_written_into_the_database() {
    let mut stack = Stack::start(0).await;
    let sim_base = stack.sim.attendance_url().replace("/attendance", "");
    stack
        .add_replica_with(|settings| settings.allowed_api_urls = sim_base.parse().unwrap())
        .await;
    let listener = RecordingListener::start().await;
    let advline = stack.company_id("advline").await;
    // What an attacker with write access to config-service's database (or a bug) could do.
    diesel::sql_query("UPDATE config.bayzat_configs SET api_url = $1 WHERE company_id = $2")
        .bind::<diesel::sql_types::Text, _>(&listener.url)
        .bind::<diesel::sql_types::BigInt, _>(advline)
        .execute(&mut database(&stack).await)
        .await
        .unwrap();

    stack.ready(advline, 1, punches(1, 5)).await;
    // Refused before anything was sent: the company waits for a configuration change.
    stack
        .wait_for(advline, 5, &["paused"], Duration::from_secs(20))
        .await;
    let received = listener.received();
    assert!(
        !received.contains(ADVLINE_KEY),
        "the key reached {received}"
    );
    assert_eq!(received, "", "nothing reached the listener");

    // Back at an allowed URL (through the API, with the key), the punches go.
    stack
        .put_config(
            "advline",
            json!({ "api_url": stack.sim.attendance_url(), "api_key": ADVLINE_KEY }),
        )
        .await;
    stack
        .wait_for(advline, 5, &["delivered"], Duration::from_secs(30))
        .await;
    assert_exactly_once(&stack.ledger(ADVLINE_KEY), 5);
    assert_eq!(listener.received(), "");
}
