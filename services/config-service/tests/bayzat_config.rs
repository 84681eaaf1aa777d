//! Bayzat configuration: keys encrypted at rest and never shown, tested without side effects,
//! decrypted for sync-service only, rotated to a new master key.

mod common;

use auth::Role;
use bayzat_sim::{Faults, KeySpec, SimConfig};
use common::App;
use diesel::sql_types::Text;
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reqwest::StatusCode;
use serde_json::json;

const KEY: &str = "bz_test_advline_7f3a9c";

#[derive(QueryableByName)]
struct Stored {
    #[diesel(sql_type = Text)]
    api_key: String,
}

async fn stored_ciphertext(app: &App) -> String {
    let mut conn = AsyncPgConnection::establish(app.env.db.url())
        .await
        .unwrap();
    let row: Stored = diesel::sql_query("SELECT api_key FROM config.bayzat_configs")
        .get_result(&mut conn)
        .await
        .unwrap();
    row.api_key
}

async fn simulator() -> bayzat_sim::RunningSim {
    let config = SimConfig {
        keys: vec![KeySpec::new(KEY, ["1001"]).with_interval_ms(0)],
    };
    bayzat_sim::spawn("127.0.0.1:0", config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_are_encrypted_at_rest_and_only_ever_shown_masked() {
    let app = App::start().await;
    let sim = simulator().await;
    let admin = app.admin();
    app.company("advline", &[]).await;

    let body =
        json!({ "api_key": KEY, "api_url": sim.attendance_url(), "sync_frequency": "hourly" });
    let (status, saved) = app
        .put("/v1/companies/advline/bayzat-config", &admin, body.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["api_key"], format!("••••{}", &KEY[KEY.len() - 4..]));
    assert_eq!(saved["sync_frequency"], "hourly");
    assert!(!saved.to_string().contains(KEY));

    let first = stored_ciphertext(&app).await;
    assert!(!first.contains(KEY), "the column never holds the plaintext");
    assert!(
        first.starts_with("v1:k1:"),
        "prefixed with the master key id: {first}"
    );

    // Saving the same key again encrypts it with a new nonce.
    app.put("/v1/companies/advline/bayzat-config", &admin, body)
        .await;
    assert_ne!(stored_ciphertext(&app).await, first);

    let viewer = app.token(Role::Viewer);
    let (status, read) = app
        .get("/v1/companies/advline/bayzat-config", &viewer)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!read.to_string().contains(KEY));

    // Only the service role gets the key itself.
    let (status, _) = app
        .get("/internal/v1/companies/advline/bayzat-key", &admin)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, key) = app
        .get(
            "/internal/v1/companies/advline/bayzat-key",
            &app.token(Role::Service),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(key["api_key"], KEY);
    assert_eq!(key["api_url"], sim.attendance_url());

    let (_, audit) = app
        .get("/v1/audit?action=bayzat_config.updated", &admin)
        .await;
    assert_eq!(audit["total"], 2);
    assert!(!audit.to_string().contains(KEY), "the audit log masks keys");
    assert!(
        sim.ledger(KEY).unwrap().is_empty(),
        "saving a key sent no punch"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_tests_answer_ok_invalid_unreachable_or_unexpected_and_never_create_a_punch() {
    let app = App::start().await;
    let sim = simulator().await;
    let admin = app.admin();
    app.company("advline", &[]).await;
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/attendance", listener.local_addr().unwrap())
    };
    let test = |api_key: &str, api_url: &str| {
        app.post(
            "/v1/companies/advline/bayzat-config/test",
            &admin,
            json!({ "api_key": api_key, "api_url": api_url }),
        )
    };

    let (status, result) = test(KEY, &sim.attendance_url()).await;
    assert_eq!(
        (status, result["result"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (_, result) = test("bz_wrong", &sim.attendance_url()).await;
    assert_eq!(result["result"], "invalid_key");
    let (_, result) = test(KEY, &closed_port).await;
    assert_eq!(result["result"], "unreachable");
    assert!(result["cause"].as_str().is_some_and(|c| !c.is_empty()));

    sim.set_faults(
        KEY,
        Faults {
            p_500: 1.0,
            ..Faults::default()
        },
    )
    .unwrap();
    let (_, result) = test(KEY, &sim.attendance_url()).await;
    assert_eq!(
        (result["result"].as_str(), result["status"].as_u64()),
        (Some("unexpected"), Some(500))
    );
    assert!(result["body_excerpt"].is_string());

    assert!(
        sim.ledger(KEY).unwrap().is_empty(),
        "no punch was created by any test"
    );
    let stats = sim.stats();
    assert_eq!(
        stats.keys[KEY].largest_request, 0,
        "only empty requests were sent"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_that_fails_its_test_is_not_saved_unless_asked() {
    let app = App::start().await;
    let sim = simulator().await;
    let admin = app.admin();
    app.company("advline", &[]).await;
    let (status, problem) = app
        .put(
            "/v1/companies/advline/bayzat-config",
            &admin,
            json!({ "api_key": "bz_wrong", "api_url": sim.attendance_url() }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["code"], "connection_test_failed");
    assert_eq!(problem["connection_test"]["result"], "invalid_key");
    let (_, config) = app.get("/v1/companies/advline/bayzat-config", &admin).await;
    assert_eq!(config["api_key"], serde_json::Value::Null, "nothing saved");

    let (status, saved) = app
        .put(
            "/v1/companies/advline/bayzat-config",
            &admin,
            json!({ "api_key": "bz_wrong", "api_url": sim.attendance_url(), "test_connection": false }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(saved["api_key"], "••••rong");

    // The stored key is what a test without a key uses.
    let (_, result) = app
        .post(
            "/v1/companies/advline/bayzat-config/test",
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(result["result"], "invalid_key");
}

#[tokio::test(flavor = "multi_thread")]
async fn configuration_values_are_validated() {
    let app = App::start().await;
    let admin = app.admin();
    app.company("advline", &[]).await;
    let table = [
        (json!({ "api_url": "ftp://bayzat" }), "invalid_api_url"),
        (json!({ "sync_frequency": "daily" }), "missing_field"),
        (
            json!({ "sync_frequency": "daily", "daily_at": "25:00" }),
            "invalid_daily_at",
        ),
        (json!({ "api_key": "  " }), "missing_field"),
    ];
    for (body, code) in table {
        let (status, problem) = app
            .put("/v1/companies/advline/bayzat-config", &admin, body.clone())
            .await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(code)),
            "{body}"
        );
    }
    let (status, saved) = app
        .put(
            "/v1/companies/advline/bayzat-config",
            &admin,
            json!({ "sync_frequency": "daily", "daily_at": "06:30", "is_enabled": false }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (saved["daily_at"].as_str(), saved["is_enabled"].as_bool()),
        (Some("06:30:00"), Some(false))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_moves_keys_to_the_newest_master_key_and_old_ciphertexts_work_until_then() {
    let old = common::master_key("old");
    let mut app = App::start_with_master_keys(&old).await;
    let admin = app.admin();
    app.company("advline", &[]).await;
    app.put(
        "/v1/companies/advline/bayzat-config",
        &admin,
        json!({ "api_key": KEY, "test_connection": false }),
    )
    .await;
    assert!(stored_ciphertext(&app).await.starts_with("v1:old:"));
    app.stop().await;

    // A new master key first, the old one still there: old ciphertexts still decrypt.
    let both = format!("{},{old}", common::master_key("new"));
    let rotated = config_service::start(common::settings(app.env.common_settings(), &both))
        .await
        .unwrap();
    let service = app.token(Role::Service);
    let get_key = |base: String| {
        let client = app.client.clone();
        let service = service.clone();
        async move {
            let response = client
                .get(format!("{base}/internal/v1/companies/advline/bayzat-key"))
                .bearer_auth(service)
                .send()
                .await
                .unwrap();
            (
                response.status(),
                response
                    .json::<serde_json::Value>()
                    .await
                    .unwrap_or_default(),
            )
        }
    };
    let (status, key) = get_key(rotated.base_url()).await;
    assert_eq!(
        (status, key["api_key"].as_str()),
        (StatusCode::OK, Some(KEY))
    );

    let keys = crypto::MasterKeys::parse(&both).unwrap();
    let done = config_service::cli::reencrypt(app.env.db.url(), &keys)
        .await
        .unwrap();
    assert_eq!((done.total, done.moved), (1, 1));
    assert!(stored_ciphertext(&app).await.starts_with("v1:new:"));
    let again = config_service::cli::reencrypt(app.env.db.url(), &keys)
        .await
        .unwrap();
    assert_eq!(again.moved, 0, "running it again changes nothing");
    let (status, _) = get_key(rotated.base_url()).await;
    assert_eq!(status, StatusCode::OK);
    rotated.stop().await;

    // A wrong master key: a clear error, not a panic.
    let wrong = common::master_key("new");
    let broken = config_service::start(common::settings(app.env.common_settings(), &wrong))
        .await
        .unwrap();
    let (status, problem) = get_key(broken.base_url()).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, Some("key_unreadable"))
    );
    assert!(!problem.to_string().contains(KEY));
    broken.stop().await;
}
