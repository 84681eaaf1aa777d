//! The operator commands: mint-token and load-directory.

mod common;

use std::time::Duration;

use auth::Role;
use common::App;
use settings::Env;

const DIRECTORY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/directory.json"
);

fn env() -> Env {
    Env::from_pairs([test_support::test_keys().portal_env()])
}

#[test]
fn minted_tokens_carry_what_was_asked_and_are_accepted() {
    let token = config_service::cli::mint_token(
        &env(),
        "it-portal",
        Role::Operator,
        Some(vec!["advline".into()]),
        Duration::from_secs(60),
    )
    .unwrap();
    let claims = test_support::test_keys().verifier().verify(&token).unwrap();
    assert_eq!(
        (claims.sub.as_str(), claims.role),
        ("it-portal", Role::Operator)
    );
    assert_eq!(claims.companies, Some(vec!["advline".to_owned()]));
    assert!(config_service::cli::mint_token(
        &Env::from_pairs([(auth::PORTAL_SIGNING_KEY_VARIABLE, "portal-1:short")]),
        "x",
        Role::Admin,
        None,
        Duration::from_secs(1)
    )
    .is_err());
}

#[test]
fn console_sign_in_tokens_carry_the_audience_and_only_the_console_accepts_them() {
    let token = config_service::cli::mint_token_for(
        &env(),
        "jane",
        Role::Admin,
        Some(vec!["advline".into()]),
        Duration::from_secs(60),
        Some("console"),
    )
    .unwrap();
    let keys = test_support::test_keys().verifier();
    let claims = keys
        .clone()
        .with_audience("console")
        .verify(&token)
        .unwrap();
    assert_eq!(claims.aud.as_deref(), Some("console"));
    assert_eq!(claims.role, Role::Admin);
    assert_eq!(claims.companies, Some(vec!["advline".to_owned()]));
    assert!(claims.exp <= chrono::Utc::now().timestamp() + 61);
    // The services' verifier refuses it, so a leaked sign-in token opens no API.
    assert!(keys.verify(&token).is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fixture_directory_loads_through_the_api_and_loads_again_unchanged() {
    let app = App::start().await;
    let token = config_service::cli::mint_token(
        &env(),
        "loader",
        Role::Admin,
        None,
        Duration::from_secs(60),
    )
    .unwrap();
    let api_url = "http://127.0.0.1:8090/attendance";
    config_service::cli::load_directory(&app.base, &token, DIRECTORY, Some(api_url))
        .await
        .unwrap();

    let (_, snapshot) = app.get("/v1/directory", &app.token(Role::Service)).await;
    let companies = snapshot["companies"].as_array().unwrap();
    assert_eq!(companies.len(), 4);
    let employees: usize = companies
        .iter()
        .map(|c| c["employees"].as_array().unwrap().len())
        .sum();
    assert_eq!(employees, 15);
    let gulflog = companies.iter().find(|c| c["slug"] == "gulflog").unwrap();
    assert_eq!(
        gulflog["fingerprint_report_names"],
        serde_json::json!(["GulfLog", "Gulf Logistics - Warehouse"])
    );
    assert_eq!(gulflog["sync_frequency"], "hourly");
    let dormant = companies.iter().find(|c| c["slug"] == "dormant").unwrap();
    assert_eq!(dormant["is_enabled"], false);
    assert!(companies.iter().all(|c| c["api_key_configured"] == true));
    let (_, key) = app
        .get(
            "/internal/v1/companies/advline/bayzat-key",
            &app.token(Role::Service),
        )
        .await;
    assert_eq!(
        (key["api_key"].as_str(), key["api_url"].as_str()),
        (Some("bz_test_advline_7f3a9c"), Some(api_url))
    );
    let advline = companies.iter().find(|c| c["slug"] == "advline").unwrap();
    let omar = advline["employees"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["bayzat_emp_id"].is_string())
        .unwrap();
    assert_eq!(omar["bayzat_emp_id"], "ADV-1007");

    let version = snapshot["version"].as_i64().unwrap();
    config_service::cli::load_directory(&app.base, &token, DIRECTORY, Some(api_url))
        .await
        .unwrap();
    let (_, again) = app.get("/v1/directory", &app.token(Role::Service)).await;
    assert_eq!(
        again["companies"], snapshot["companies"],
        "loading twice changes nothing"
    );
    assert!(again["version"].as_i64().unwrap() >= version);
}
