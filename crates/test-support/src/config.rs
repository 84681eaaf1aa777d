//! config-service in-process with the fixture directory loaded, as the service tests of
//! import-service, sync-service and the console start it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use service_kit::RunningService;

use crate::{admin_token, company_id, fixture, test_keys, TestEnv};

/// config-service in-process against a test's database and broker namespace, trusting the test
/// keys, with `tests/fixtures/directory.json` loaded through its REST API as an admin and every
/// company's Bayzat api_url set to the one given. Dropping it stops the service.
pub struct ConfigService {
    pub service: Option<RunningService>,
    /// The public listener.
    pub base: String,
    /// The internal listener, where `/internal/...` (sync-service's key reads) is served.
    pub internal_base: String,
    client: reqwest::Client,
}

impl ConfigService {
    /// Keys may go to any loopback URL; a connection test waits two seconds at most.
    pub async fn start(env: &TestEnv, bayzat_api_url: &str) -> Self {
        Self::start_with(env, bayzat_api_url, |_| ()).await
    }

    /// As [`ConfigService::start`], with `adjust` changing the settings first (an SMTP server
    /// to mail through, say).
    pub async fn start_with(
        env: &TestEnv,
        bayzat_api_url: &str,
        adjust: impl FnOnce(&mut config_service::Settings),
    ) -> Self {
        let master_keys = format!("k1:{}", crypto::generate_master_key());
        let mut settings = config_service::Settings {
            common: env.common_settings(),
            jwt: test_keys().verifier(),
            internal_bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            master_keys: Arc::new(
                crypto::MasterKeys::parse(&master_keys).expect("a generated master key"),
            ),
            default_api_url: bayzat_api_url.to_owned(),
            bayzat_timeout: Duration::from_secs(2),
            allowed_api_urls: "http://127.0.0.1:*".parse().expect("a valid URL pattern"),
            // No SMTP server: nothing is mailed.
            mail: Default::default(),
            webhooks: config_service::webhooks::SendSettings {
                allowed_urls: Some("http://127.0.0.1:*".parse().expect("a valid URL pattern")),
                retry_schedule: "1s,2s,4s".parse().expect("a valid schedule"),
                timeout: std::time::Duration::from_secs(2),
                disable_after: std::time::Duration::from_secs(24 * 3600),
            },
        };
        adjust(&mut settings);
        let started = config_service::start_with_internal(settings)
            .await
            .expect("config-service starts");
        let base = started.service.base_url();
        config_service::cli::load_directory(
            &base,
            &admin_token(),
            &fixture("directory.json").to_string_lossy(),
            Some(bayzat_api_url),
        )
        .await
        .expect("the fixture directory loads");
        Self {
            internal_base: format!("http://{}", started.internal_addr),
            base,
            service: Some(started.service),
            client: crate::client(),
        }
    }

    /// The company's id, by its slug.
    pub async fn company_id(&self, slug: &str) -> i64 {
        company_id(&self.client, &self.base, &admin_token(), slug).await
    }
}
