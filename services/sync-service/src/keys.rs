//! Companies' Bayzat keys, fetched from config-service's internal endpoint (its internal
//! listener, `CONFIG_SERVICE_INTERNAL_URL`) with this service's own credential, and cached per
//! company. A key never reaches a log line: its `Debug` is masked. A key whose `api_url` is not
//! under `BAYZAT_ALLOWED_API_URLS` is never handed out, whatever config-service says.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use auth::{Claims, JwtKeys, Role};
use serde::Deserialize;
use telemetry::PropagateTrace;
use tokio::sync::Mutex;

use crate::SERVICE;

/// What sync-service needs to call Bayzat for one company.
#[derive(Clone, Deserialize)]
pub struct CompanyKey {
    pub api_key: String,
    pub api_url: String,
    pub is_enabled: bool,
}

impl std::fmt::Debug for CompanyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompanyKey")
            .field("api_key", &"••••")
            .field("api_url", &self.api_url)
            .field("is_enabled", &self.is_enabled)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// There is no key that may be used: config-service has none for the company, or the
    /// company's api_url is not under `BAYZAT_ALLOWED_API_URLS` (logged with
    /// `alert="bayzat_url_not_allowed"`). Either way the company waits for a configuration change.
    #[error("no usable Bayzat key is stored for the company")]
    Missing,
    #[error("config-service did not give the key: {0}")]
    Unavailable(String),
}

pub struct KeyCache {
    http: reqwest::Client,
    base_url: String,
    jwt: JwtKeys,
    allowed: settings::AllowedApiUrls,
    cached: Mutex<HashMap<i64, Arc<CompanyKey>>>,
}

/// A short-lived `service` token naming this service, signed with its own credential
/// (`BRIDGE_SIGNING_KEY`): config-service gives keys to this credential only.
pub fn service_token(jwt: &JwtKeys) -> String {
    jwt.mint(&Claims::new(
        SERVICE,
        Role::Service,
        chrono::Duration::minutes(5),
    ))
}

impl KeyCache {
    pub fn new(config_service_url: &str, jwt: JwtKeys, allowed: settings::AllowedApiUrls) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("a client with a timeout builds"),
            base_url: config_service_url.trim_end_matches('/').to_owned(),
            jwt,
            allowed,
            cached: Mutex::new(HashMap::new()),
        }
    }

    /// The company's key when it is cached (no call to config-service).
    pub async fn cached(&self, company_id: i64) -> Option<Arc<CompanyKey>> {
        self.cached.lock().await.get(&company_id).cloned()
    }

    /// The company's key, from the cache or config-service; only ever with an allowed api_url.
    pub async fn get(&self, company_id: i64) -> Result<Arc<CompanyKey>, KeyError> {
        if let Some(key) = self.cached(company_id).await {
            return Ok(key);
        }
        let response = self
            .http
            .get(format!(
                "{}/internal/v1/companies/{company_id}/bayzat-key",
                self.base_url
            ))
            .bearer_auth(service_token(&self.jwt))
            .propagate_trace()
            .send()
            .await
            .map_err(|e| KeyError::Unavailable(e.without_url().to_string()))?;
        match response.status().as_u16() {
            200 => {
                let key: CompanyKey = response
                    .json()
                    .await
                    .map_err(|e| KeyError::Unavailable(e.without_url().to_string()))?;
                if let Err(refusal) = self.allowed.check(&key.api_url) {
                    tracing::error!(
                        company_id,
                        alert = "bayzat_url_not_allowed",
                        api_url = %key.api_url,
                        %refusal,
                        "the company's api_url is not under BAYZAT_ALLOWED_API_URLS; its key is not sent"
                    );
                    return Err(KeyError::Missing);
                }
                let key = Arc::new(key);
                self.cached.lock().await.insert(company_id, key.clone());
                Ok(key)
            }
            404 => Err(KeyError::Missing),
            status => Err(KeyError::Unavailable(format!(
                "config-service answered {status}"
            ))),
        }
    }

    /// The key may have changed (rotated, company re-enabled): fetch it again next time.
    pub async fn forget(&self, company_id: i64) {
        self.cached.lock().await.remove(&company_id);
    }
}
