//! Starts config-service in-process against this test's database and broker namespace, and talks
//! HTTP to it with tokens of any role.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use auth::{Claims, JwtKeys, Role};
use config_service::Settings;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use service_kit::RunningService;
use settings::CommonSettings;
use test_support::TestEnv;

/// A development-mode secret; the services under test do not accept it (they trust only the
/// per-process test keys of `test_support::test_keys`).
pub const JWT_SECRET: &str = "test-secret-that-is-at-least-32-bytes-long";

/// The keyring tests sign with: every test key, each token signed by the key that may sign it.
pub fn keys() -> JwtKeys {
    test_support::test_keys().keyring()
}

pub fn settings(common: CommonSettings, master_keys: &str) -> Settings {
    Settings {
        common,
        jwt: test_support::test_keys().verifier(),
        internal_bind: "127.0.0.1:0".parse().unwrap(),
        master_keys: Arc::new(crypto::MasterKeys::parse(master_keys).expect("test master keys")),
        // Nothing listens there: a test that wants Bayzat starts a simulator and sets api_url.
        default_api_url: "http://127.0.0.1:9/attendance".into(),
        bayzat_timeout: Duration::from_secs(2),
        allowed_api_urls: "http://127.0.0.1:*".parse().unwrap(),
        // Receivers the tests start; retries a second or two apart, so an outage is over soon.
        webhooks: config_service::webhooks::SendSettings {
            allowed_urls: Some("http://127.0.0.1:*".parse().unwrap()),
            retry_schedule: "1s,1s,2s,2s,2s".parse().unwrap(),
            timeout: Duration::from_secs(2),
            disable_after: Duration::from_secs(24 * 3600),
        },
        // No SMTP server: nothing is mailed (tests/mail.rs starts one).
        mail: Default::default(),
    }
}

pub fn master_key(id: &str) -> String {
    format!("{id}:{}", crypto::generate_master_key())
}

/// Starts config-service with `settings`.
pub async fn start(settings: Settings) -> config_service::Started {
    config_service::start_with_internal(settings)
        .await
        .expect("config-service starts")
}

pub fn internal_base(started: &config_service::Started) -> String {
    format!("http://{}", started.internal_addr)
}

/// Fields drop in order: the service stops before its database and namespace are removed.
pub struct App {
    pub service: Option<RunningService>,
    pub env: TestEnv,
    pub base: String,
    /// The internal listener's base URL: requests for `/internal/...` go there.
    pub internal_base: String,
    pub client: reqwest::Client,
    pub keys: JwtKeys,
    pub master_keys: String,
}

impl App {
    pub async fn start() -> Self {
        Self::start_with_master_keys(&master_key("k1")).await
    }

    pub async fn start_with_master_keys(master_keys: &str) -> Self {
        let env = TestEnv::new().await;
        let started = start(settings(env.common_settings(), master_keys)).await;
        Self {
            base: started.service.base_url(),
            internal_base: internal_base(&started),
            service: Some(started.service),
            env,
            client: test_support::client(),
            keys: keys(),
            master_keys: master_keys.to_owned(),
        }
    }

    /// Serves this app's database again with `settings` (after `stop`).
    pub async fn serve(&mut self, settings: Settings) {
        let started = start(settings).await;
        self.base = started.service.base_url();
        self.internal_base = internal_base(&started);
        self.service = Some(started.service);
    }

    /// A token of `role`; a `service` token is sync-service's own (the one that reads keys).
    pub fn token(&self, role: Role) -> String {
        test_support::role_token(role, "sync-service")
    }

    pub fn token_for(&self, role: Role, companies: &[&str]) -> String {
        let sub = match role {
            Role::Service => "sync-service".to_owned(),
            _ => format!("{}-scoped", role.as_str()),
        };
        let claims = Claims::new(sub, role, chrono::Duration::minutes(10))
            .with_companies(companies.iter().copied());
        self.keys.mint(&claims)
    }

    pub fn admin(&self) -> String {
        self.token(Role::Admin)
    }

    /// Sends a request; returns the status and the JSON body (Null when there is none).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let base = if path.starts_with("/internal/") {
            &self.internal_base
        } else {
            &self.base
        };
        let mut request = self.client.request(method, format!("{base}{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("config-service answers");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    /// Creates a company as an admin; returns its id.
    pub async fn company(&self, slug: &str, report_names: &[&str]) -> i64 {
        let (status, body) = self
            .post(
                "/v1/companies",
                &self.admin(),
                serde_json::json!({ "slug": slug, "name_en": format!("{slug} LLC"), "fingerprint_report_names": report_names }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_i64().unwrap()
    }

    pub async fn stop(&mut self) {
        if let Some(service) = self.service.take() {
            service.stop().await;
        }
    }
}
