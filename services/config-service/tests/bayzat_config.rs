//! Bayzat configuration: keys encrypted at rest (bound to their company) and never shown, tested
//! without side effects, sent only to the saved and allowed URL, decrypted for sync-service only,
//! rotated to a new master key.

mod common;

use std::time::Duration;

use auth::Role;
use bayzat_sim::{Faults, KeySpec, SimConfig};
use common::App;
use diesel::sql_types::Text;
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use reqwest::StatusCode;
use serde_json::json;
use test_support::RecordingListener;

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
    let (status, saved) = save(&app, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["api_key"], format!("••••{}", &KEY[KEY.len() - 4..]));
    assert_eq!(saved["sync_frequency"], "hourly");
    assert!(!saved.to_string().contains(KEY));

    let first = stored_ciphertext(&app).await;
    assert!(!first.contains(KEY), "the column never holds the plaintext");
    assert!(
        first.starts_with("v2:k1:"),
        "prefixed with the master key id: {first}"
    );

    // Saving the same key again encrypts it with a new nonce.
    save(&app, body).await;
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
    let (status, problem) = save(
        &app,
        json!({ "api_key": "bz_wrong", "api_url": sim.attendance_url() }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["code"], "connection_test_failed");
    assert_eq!(problem["connection_test"]["result"], "invalid_key");
    let (_, config) = app.get("/v1/companies/advline/bayzat-config", &admin).await;
    assert_eq!(config["api_key"], serde_json::Value::Null, "nothing saved");

    let (status, saved) = save(
        &app,
        json!({ "api_key": "bz_wrong", "api_url": sim.attendance_url(), "test_connection": false }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(saved["api_key"], "••••rong");

    // The stored key is what a test without a key uses.
    let (_, result) = test_connection(&app, json!({})).await;
    assert_eq!(result["result"], "invalid_key");
}

#[tokio::test(flavor = "multi_thread")]
async fn configuration_values_are_validated() {
    let app = App::start().await;
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
        let (status, problem) = save(&app, body.clone()).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(code)),
            "{body}"
        );
    }
    let (status, saved) = save(
        &app,
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
    app.company("advline", &[]).await;
    save(&app, json!({ "api_key": KEY, "test_connection": false })).await;
    assert!(stored_ciphertext(&app).await.starts_with("v2:old:"));
    app.stop().await;

    // A new master key first, the old one still there: old ciphertexts still decrypt.
    let both = format!("{},{old}", common::master_key("new"));
    let rotated = common::start(common::settings(app.env.common_settings(), &both)).await;
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
    let (status, key) = get_key(common::internal_base(&rotated)).await;
    assert_eq!(
        (status, key["api_key"].as_str()),
        (StatusCode::OK, Some(KEY))
    );

    let keys = crypto::MasterKeys::parse(&both).unwrap();
    let done = config_service::cli::reencrypt(app.env.db.url(), &keys)
        .await
        .unwrap();
    assert_eq!((done.total, done.moved), (1, 1));
    assert!(stored_ciphertext(&app).await.starts_with("v2:new:"));
    let again = config_service::cli::reencrypt(app.env.db.url(), &keys)
        .await
        .unwrap();
    assert_eq!(again.moved, 0, "running it again changes nothing");
    let (status, _) = get_key(common::internal_base(&rotated)).await;
    assert_eq!(status, StatusCode::OK);
    rotated.service.stop().await;

    // A wrong master key: a clear error, not a panic.
    let wrong = common::master_key("new");
    let broken = common::start(common::settings(app.env.common_settings(), &wrong)).await;
    let (status, problem) = get_key(common::internal_base(&broken)).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, Some("key_unreadable"))
    );
    assert!(!problem.to_string().contains(KEY));
    broken.service.stop().await;
}

/// Saves advline's Bayzat configuration as an admin.
async fn save(app: &App, body: serde_json::Value) -> (StatusCode, serde_json::Value) {
    app.put("/v1/companies/advline/bayzat-config", &app.admin(), body)
        .await
}

/// Tests advline's connection to Bayzat as an admin: `body` may name another key or URL.
async fn test_connection(app: &App, body: serde_json::Value) -> (StatusCode, serde_json::Value) {
    app.post(
        "/v1/companies/advline/bayzat-config/test",
        &app.admin(),
        body,
    )
    .await
}

/// config-service whose BAYZAT_ALLOWED_API_URLS is `allowed`.
async fn app_allowing(allowed: &str) -> App {
    let env = test_support::TestEnv::new().await;
    let master_keys = common::master_key("k1");
    let mut settings = common::settings(env.common_settings(), &master_keys);
    settings.allowed_api_urls = allowed.parse().unwrap();
    let started = common::start(settings).await;
    App {
        base: started.service.base_url(),
        internal_base: common::internal_base(&started),
        service: Some(started.service),
        env,
        client: reqwest::Client::new(),
        keys: common::keys(),
        master_keys,
    }
}

async fn database(app: &App) -> AsyncPgConnection {
    AsyncPgConnection::establish(app.env.db.url())
        .await
        .unwrap()
}

/// The key config-service hands sync-service for the company, or the problem code.
async fn key_for_sync(app: &App, company: &str) -> (StatusCode, Option<String>) {
    let (status, body) = app
        .get(
            &format!("/internal/v1/companies/{company}/bayzat-key"),
            &app.token(Role::Service),
        )
        .await;
    let value = if status == StatusCode::OK {
        body["api_key"].as_str().map(str::to_owned)
    } else {
        body["code"].as_str().map(str::to_owned)
    };
    (status, value)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_test_never_sends_the_stored_key_to_another_url() {
    let app = App::start().await;
    let sim = simulator().await;
    let listener = RecordingListener::start().await;
    app.company("advline", &[]).await;
    let (status, _) = save(
        &app,
        json!({ "api_key": KEY, "api_url": sim.attendance_url() }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let (status, problem) = test_connection(&app, json!({ "api_url": listener.url })).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("api_key_required")),
        "{problem}"
    );
    assert_eq!(
        problem["type"].as_str().map(|t| t.is_empty()),
        Some(false),
        "a problem+json answer: {problem}"
    );
    // A key given with the URL is what is tried there.
    let (status, result) = test_connection(
        &app,
        json!({ "api_url": listener.url, "api_key": "bz_offered_for_this_url" }),
    )
    .await;
    assert_eq!(
        (status, result["result"].as_str()),
        (StatusCode::OK, Some("invalid_key"))
    );
    let received = listener.received();
    assert!(received.contains("bz_offered_for_this_url"), "{received}");
    assert!(
        !received.contains(KEY),
        "the stored key reached {}",
        listener.url
    );
    // The saved URL still gets the stored key.
    let (_, result) = test_connection(&app, json!({})).await;
    assert_eq!(result["result"], "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn saving_a_new_url_without_a_key_clears_the_stored_key() {
    let app = App::start().await;
    let sim = simulator().await;
    let listener = RecordingListener::start().await;
    let admin = app.admin();
    app.company("advline", &[]).await;
    save(
        &app,
        json!({ "api_key": KEY, "api_url": sim.attendance_url() }),
    )
    .await;

    // The same URL again keeps the key.
    let (status, saved) = save(
        &app,
        json!({ "api_url": format!(" {} ", sim.attendance_url()), "is_enabled": true }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["api_key"], "••••3a9c");

    let (status, saved) = save(&app, json!({ "api_url": listener.url })).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["api_url"], listener.url);
    assert_eq!(
        saved["api_key"],
        serde_json::Value::Null,
        "the key is cleared"
    );
    assert_eq!(
        key_for_sync(&app, "advline").await,
        (StatusCode::NOT_FOUND, Some("not_found".to_owned()))
    );
    let (status, problem) = test_connection(&app, json!({})).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("no_api_key"))
    );
    assert!(!listener.received().contains(KEY));
    let (_, audit) = app
        .get("/v1/audit?action=bayzat_config.updated", &admin)
        .await;
    assert!(
        audit.to_string().contains("\"key_cleared\":true"),
        "{audit}"
    );

    // A new URL with its key in the same request keeps that key.
    let (status, saved) = save(
        &app,
        json!({ "api_url": sim.attendance_url(), "api_key": KEY }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(
        key_for_sync(&app, "advline").await,
        (StatusCode::OK, Some(KEY.to_owned()))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn urls_outside_the_allowed_list_are_refused_on_save_and_test() {
    let sim = simulator().await;
    let listener = RecordingListener::start().await;
    let sim_base = sim.attendance_url().replace("/attendance", "");
    let app = app_allowing(&format!(
        "https://integration.bayzat.com/attendance,{sim_base}"
    ))
    .await;
    let admin = app.admin();
    app.company("advline", &[]).await;

    for body in [
        json!({ "api_key": KEY, "api_url": listener.url }),
        json!({ "api_key": KEY, "api_url": listener.url, "test_connection": false }),
        json!({ "api_url": listener.url }),
        json!({ "api_key": KEY, "api_url": sim.attendance_url().replace("http://", "https://").replace("127.0.0.1", "localhost") }),
    ] {
        let (status, problem) = save(&app, body.clone()).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("api_url_not_allowed")
            ),
            "{body}: {problem}"
        );
    }
    let (status, problem) =
        test_connection(&app, json!({ "api_key": KEY, "api_url": listener.url })).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("api_url_not_allowed")
        ),
        "{problem}"
    );
    let (_, config) = app.get("/v1/companies/advline/bayzat-config", &admin).await;
    assert_eq!(config["api_key"], serde_json::Value::Null, "nothing saved");
    assert_eq!(listener.received(), "", "nothing reached the listener");

    // Under the list it is accepted.
    let (status, saved) = save(
        &app,
        json!({ "api_key": KEY, "api_url": sim.attendance_url() }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_copied_into_another_companys_row_does_not_decrypt_and_is_not_sent() {
    let app = App::start().await;
    let sim = simulator().await;
    let listener = RecordingListener::start().await;
    let admin = app.admin();
    let advline = app.company("advline", &[]).await;
    let other = app.company("other", &[]).await;
    save(
        &app,
        json!({ "api_key": KEY, "api_url": sim.attendance_url() }),
    )
    .await;
    app.put(
        "/v1/companies/other/bayzat-config",
        &admin,
        json!({ "api_key": "bz_other_company_key", "api_url": listener.url, "test_connection": false }),
    )
    .await;
    let mut conn = database(&app).await;
    diesel::sql_query(
        "UPDATE config.bayzat_configs b SET api_key = a.api_key, api_key_mask = a.api_key_mask \
         FROM config.bayzat_configs a WHERE a.company_id = $1 AND b.company_id = $2",
    )
    .bind::<diesel::sql_types::BigInt, _>(advline)
    .bind::<diesel::sql_types::BigInt, _>(other)
    .execute(&mut conn)
    .await
    .unwrap();

    let (status, problem) = app
        .post("/v1/companies/other/bayzat-config/test", &admin, json!({}))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, Some("key_unreadable")),
        "{problem}"
    );
    assert_eq!(
        key_for_sync(&app, "other").await,
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            Some("key_unreadable".to_owned())
        )
    );
    assert!(
        !listener.received().contains(KEY),
        "advline's key reached other's URL"
    );
    assert_eq!(
        key_for_sync(&app, "advline").await,
        (StatusCode::OK, Some(KEY.to_owned()))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reencrypt_never_undoes_a_key_changed_while_it_runs() {
    const NEW_KEY: &str = "bz_changed_during_reencrypt";
    let old = common::master_key("old");
    let mut app = App::start_with_master_keys(&old).await;
    let admin = app.admin();
    let first = app.company("first", &[]).await;
    app.company("last", &[]).await;
    for slug in ["first", "last"] {
        let (status, _) = app
            .put(
                &format!("/v1/companies/{slug}/bayzat-config"),
                &admin,
                json!({ "api_key": KEY, "test_connection": false }),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    app.stop().await;
    let both = format!("{},{old}", common::master_key("new"));
    app.serve(common::settings(app.env.common_settings(), &both))
        .await;

    // Holding the first company's row makes the run stop there, after it has read every key.
    let mut lock = database(&app).await;
    lock.batch_execute(&format!(
        "BEGIN; SELECT 1 FROM config.bayzat_configs WHERE company_id = {first} FOR UPDATE"
    ))
    .await
    .unwrap();
    let keys = crypto::MasterKeys::parse(&both).unwrap();
    let url = app.env.db.url().to_owned();
    let run = tokio::spawn(async move { config_service::cli::reencrypt(&url, &keys).await });
    let mut watch = database(&app).await;
    test_support::wait_for_a_lock_wait(
        &mut watch,
        Duration::from_secs(20),
        "reencrypt never reached the first company",
    )
    .await;

    let (status, _) = app
        .put(
            "/v1/companies/last/bayzat-config",
            &admin,
            json!({ "api_key": NEW_KEY, "test_connection": false }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    lock.batch_execute("ROLLBACK").await.unwrap();
    run.await.unwrap().unwrap();

    assert_eq!(
        key_for_sync(&app, "last").await,
        (StatusCode::OK, Some(NEW_KEY.to_owned())),
        "the key changed during the run is kept"
    );
    assert_eq!(
        key_for_sync(&app, "first").await,
        (StatusCode::OK, Some(KEY.to_owned()))
    );
    let again = config_service::cli::reencrypt(
        app.env.db.url(),
        &crypto::MasterKeys::parse(&both).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(again.moved, 0, "every key is under the newest master key");
}

#[test]
fn debug_output_masks_keys_and_passwords() {
    let update: config_service::api::ConfigUpdate =
        serde_json::from_value(json!({ "api_key": KEY, "api_url": "https://x/attendance" }))
            .unwrap();
    let test: config_service::api::ConnectionTestRequest =
        serde_json::from_value(json!({ "api_key": KEY })).unwrap();
    let decrypted = config_service::api::DecryptedKey {
        company_id: 1,
        slug: "advline".into(),
        api_key: KEY.into(),
        api_url: "https://x/attendance".into(),
        is_enabled: true,
    };
    let env = settings::Env::from_pairs([
        (
            "DATABASE_URL",
            "postgres://bridge:db-pa55word@db:5432/bridge",
        ),
        ("AMQP_URL", "amqp://bridge:mq-pa55word@mq:5672/%2f"),
    ]);
    let common = settings::CommonSettings::from_env(
        &env,
        config_service::BIND_VARIABLE,
        config_service::DEFAULT_BIND,
    )
    .unwrap();
    let stored = config_service::store::bayzat_configs::StoredConfig {
        company_id: 1,
        api_key: Some("v2:k1:c2VhbGVkLWNpcGhlcnRleHQ=".into()),
        api_key_mask: Some("••••3a9c".into()),
        key_updated_at: None,
        api_url: "https://x/attendance".into(),
        is_enabled: true,
        sync_frequency: "manual".into(),
        daily_at: None,
        last_sync_at: None,
        settings: json!({}),
        created_at: chrono::Utc::now(),
        updated_at: chrono::Utc::now(),
    };
    let debug = format!(
        "{update:?} {update:#?} {test:?} {decrypted:?} {decrypted:#?} {common:?} {stored:?}"
    );
    assert!(!debug.contains("c2VhbGVk"), "{debug}");
    assert!(!debug.contains("advline_7f3a"), "{debug}");
    assert!(!debug.contains("pa55word"), "{debug}");
    assert!(debug.contains("••••3a9c"), "{debug}");
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_stored_by_earlier_versions_are_bound_to_their_company_at_start() {
    // Written by an earlier version (format v1, bound to its master key id only) under this key.
    const MASTER: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const LEGACY: &str = "v1:k1:4zQtX0CxDny5CApEdYPZyA2y6B3da17hNr4bfHqQlR74AErtsK1WEZu9QFjXow==";
    let mut app = App::start_with_master_keys(MASTER).await;
    let advline = app.company("advline", &[]).await;
    save(
        &app,
        json!({ "api_key": "bz_replaced_below", "test_connection": false }),
    )
    .await;
    diesel::sql_query("UPDATE config.bayzat_configs SET api_key = $1 WHERE company_id = $2")
        .bind::<Text, _>(LEGACY)
        .bind::<diesel::sql_types::BigInt, _>(advline)
        .execute(&mut database(&app).await)
        .await
        .unwrap();
    app.stop().await;

    app.serve(common::settings(app.env.common_settings(), MASTER))
        .await;
    let stored = stored_ciphertext(&app).await;
    assert!(stored.starts_with("v2:k1:"), "moved at start: {stored}");
    assert_eq!(
        key_for_sync(&app, "advline").await,
        (StatusCode::OK, Some("bz_legacy_key_0a1b".to_owned()))
    );
}
