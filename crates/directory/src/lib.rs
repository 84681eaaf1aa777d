//! The employee directory as the other services see it: the snapshot config-service serves at
//! `GET /v1/directory` (companies, their fingerprint report names, delivery settings and
//! employees; never keys), and a client that fetches it with `If-None-Match` so it is never stale
//! and never downloaded twice when unchanged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveTime;
use domain::SyncFrequency;
use serde::{Deserialize, Serialize};
use telemetry::PropagateTrace;
use tokio::sync::Mutex;
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DirectorySnapshot {
    /// Moves on with every change the snapshot shows; its ETag.
    pub version: i64,
    pub companies: Vec<DirectoryCompany>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DirectoryCompany {
    pub id: i64,
    pub slug: String,
    pub name_en: String,
    pub name_ar: Option<String>,
    /// IANA time zone; punch times are local to it.
    pub timezone: String,
    pub fingerprint_report_names: Vec<String>,
    pub is_enabled: bool,
    #[schema(value_type = String)]
    pub sync_frequency: SyncFrequency,
    /// HH:MM:SS in the company's time zone, for daily syncs.
    #[schema(value_type = Option<String>)]
    pub daily_at: Option<NaiveTime>,
    /// Whether a Bayzat key is stored (the key itself never is in the snapshot).
    pub api_key_configured: bool,
    pub employees: Vec<DirectoryEmployee>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DirectoryEmployee {
    /// The id on the fingerprint clock.
    pub employee_id: String,
    pub name: String,
    /// The id Bayzat knows; employee_id is sent when absent.
    pub bayzat_emp_id: Option<String>,
    pub active: bool,
}

impl DirectorySnapshot {
    pub fn company(&self, id: i64) -> Option<&DirectoryCompany> {
        self.companies.iter().find(|c| c.id == id)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("config-service is not reachable: {0}")]
    Unreachable(String),
    #[error("config-service answered {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("the directory snapshot cannot be read: {0}")]
    Unreadable(String),
}

/// Fetches the snapshot, revalidating a cached copy with its ETag for every call.
///
/// Calls at once share revalidations: one at a time goes to config-service, and a call that
/// waited for it is answered by the next one that began after the call did (it shows every
/// change made before the call), instead of each call waiting for a request of its own. Under
/// many uploads at once (clocks pushing every second), that keeps a call's wait to about two
/// requests rather than one per call queued before it.
pub struct DirectoryClient {
    http: reqwest::Client,
    url: String,
    token: Box<dyn Fn() -> String + Send + Sync>,
    cached: Mutex<Option<Cached>>,
}

struct Cached {
    etag: String,
    snapshot: Arc<DirectorySnapshot>,
    /// When the request that last confirmed it was sent.
    confirmed_by_request_at: Instant,
}

impl DirectoryClient {
    /// `config_service_url` is config-service's base URL; `token` mints a bearer token of role
    /// `service` for each call (tokens are short-lived).
    pub fn new(
        config_service_url: &str,
        token: impl Fn() -> String + Send + Sync + 'static,
    ) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("a client with a timeout builds"),
            url: format!("{}/v1/directory", config_service_url.trim_end_matches('/')),
            token: Box::new(token),
            cached: Mutex::new(None),
        }
    }

    /// The current snapshot: as a conditional GET sent after this call began returned it (a
    /// 304 returns the cached copy). A 429 of config-service is waited out as its `Retry-After`
    /// says, for [`MOST_WAIT_ON_429`] in all.
    pub async fn current(&self) -> Result<Arc<DirectorySnapshot>, DirectoryError> {
        let asked_at = Instant::now();
        let mut cached = self.cached.lock().await;
        if let Some(fresh) = cached
            .as_ref()
            .filter(|c| c.confirmed_by_request_at >= asked_at)
        {
            return Ok(fresh.snapshot.clone());
        }
        let mut waited = Duration::ZERO;
        loop {
            let mut request = self
                .http
                .get(&self.url)
                .bearer_auth((self.token)())
                .propagate_trace();
            if let Some(c) = cached.as_ref() {
                request = request.header(reqwest::header::IF_NONE_MATCH, &c.etag);
            }
            let sent_at = Instant::now();
            let response = request
                .send()
                .await
                .map_err(|e| DirectoryError::Unreachable(e.without_url().to_string()))?;
            match response.status().as_u16() {
                304 => {
                    let c = cached.as_mut().ok_or_else(|| {
                        DirectoryError::Unreadable("304 without a cached copy".into())
                    })?;
                    c.confirmed_by_request_at = sent_at;
                    return Ok(c.snapshot.clone());
                }
                200 => {
                    let etag = response
                        .headers()
                        .get(reqwest::header::ETAG)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let snapshot: DirectorySnapshot = response
                        .json()
                        .await
                        .map_err(|e| DirectoryError::Unreadable(e.without_url().to_string()))?;
                    let snapshot = Arc::new(snapshot);
                    *cached = etag.map(|etag| Cached {
                        etag,
                        snapshot: snapshot.clone(),
                        confirmed_by_request_at: sent_at,
                    });
                    return Ok(snapshot);
                }
                429 if waited < MOST_WAIT_ON_429 => {
                    // The calls waiting meanwhile are answered by the request after the wait.
                    let wait = retry_after(&response)
                        .unwrap_or(Duration::from_secs(1))
                        .min(MOST_WAIT_ON_429 - waited);
                    tokio::time::sleep(wait).await;
                    waited += wait;
                }
                status => {
                    let body = response.text().await.unwrap_or_default();
                    return Err(DirectoryError::Refused {
                        status,
                        body: body.chars().take(300).collect(),
                    });
                }
            }
        }
    }
}

/// The most a call waits, in all, on config-service's 429s before it fails with the last.
pub const MOST_WAIT_ON_429: Duration = Duration::from_secs(10);

/// The wait a 429's `Retry-After` (in seconds) asks for.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
        .map(Duration::from_secs)
}
