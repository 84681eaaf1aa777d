//! The three services' REST APIs, called on behalf of the signed-in user: each call carries a
//! token minted for it with the user's own sub, role and companies (never more), valid for a
//! minute.

use std::time::Duration;

use auth::JwtKeys;
use chrono::TimeDelta;
use reqwest::{Method, RequestBuilder};
use serde_json::Value;
use telemetry::PropagateTrace;

use crate::session::Session;

/// Lifetime of a per-call token: long enough for the slowest call to start, short enough that a
/// token seen in a service's logs is useless soon after.
const CALL_TOKEN_TTL: TimeDelta = TimeDelta::seconds(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Config,
    Import,
    Sync,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Config => "config-service",
            Service::Import => "import-service",
            Service::Sync => "sync-service",
        }
    }
}

/// A service's refusal (its problem+json), or no answer at all. Either is shown to the user: a
/// refusal in the service's own words, the lack of an answer in the console's (why there was
/// none, in the HTTP client's words, goes to the log).
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    #[error("{title}{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Refused {
        status: u16,
        code: String,
        title: String,
        detail: Option<String>,
        body: Value,
    },
    #[error("{} is not reachable right now; try again shortly", .service.name())]
    Unreachable { service: Service },
}

impl BackendError {
    pub fn status(&self) -> u16 {
        match self {
            BackendError::Refused { status, .. } => *status,
            BackendError::Unreachable { .. } => 502,
        }
    }

    pub fn code(&self) -> &str {
        match self {
            BackendError::Refused { code, .. } => code,
            BackendError::Unreachable { .. } => "unreachable",
        }
    }

    pub fn body(&self) -> Option<&Value> {
        match self {
            BackendError::Refused { body, .. } => Some(body),
            BackendError::Unreachable { .. } => None,
        }
    }
}

pub type BackendResult<T> = Result<T, BackendError>;

#[derive(Clone)]
pub struct Backend {
    http: reqwest::Client,
    keys: JwtKeys,
    config: String,
    import: String,
    sync: String,
}

impl Backend {
    pub fn new(keys: JwtKeys, config: &str, import: &str, sync: &str, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        let base = |url: &str| url.trim_end_matches('/').to_owned();
        Self {
            http,
            keys,
            config: base(config),
            import: base(import),
            sync: base(sync),
        }
    }

    fn url(&self, service: Service, path: &str) -> String {
        let base = match service {
            Service::Config => &self.config,
            Service::Import => &self.import,
            Service::Sync => &self.sync,
        };
        format!("{base}{path}")
    }

    /// A request to `service` as `user`.
    pub fn request(
        &self,
        user: &Session,
        method: Method,
        service: Service,
        path: &str,
    ) -> RequestBuilder {
        let token = self.keys.mint(&user.claims(CALL_TOKEN_TTL));
        self.http
            .request(method, self.url(service, path))
            .bearer_auth(token)
            .propagate_trace()
    }

    /// Sends a request and reads a JSON answer; a 4xx/5xx becomes [`BackendError::Refused`].
    pub async fn send(&self, service: Service, request: RequestBuilder) -> BackendResult<Value> {
        let response = request.send().await.map_err(|e| unreachable(service, &e))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        Err(BackendError::Refused {
            status: status.as_u16(),
            code: body["code"].as_str().unwrap_or("error").to_owned(),
            title: body["title"]
                .as_str()
                .unwrap_or(status.canonical_reason().unwrap_or("error"))
                .to_owned(),
            detail: body["detail"].as_str().map(str::to_owned),
            body,
        })
    }

    pub async fn get(
        &self,
        user: &Session,
        service: Service,
        path: impl AsRef<str>,
    ) -> BackendResult<Value> {
        self.send(
            service,
            self.request(user, Method::GET, service, path.as_ref()),
        )
        .await
    }

    pub async fn post(
        &self,
        user: &Session,
        service: Service,
        path: impl AsRef<str>,
        body: &Value,
    ) -> BackendResult<Value> {
        self.send(
            service,
            self.request(user, Method::POST, service, path.as_ref())
                .json(body),
        )
        .await
    }

    pub async fn put(
        &self,
        user: &Session,
        service: Service,
        path: impl AsRef<str>,
        body: &Value,
    ) -> BackendResult<Value> {
        self.send(
            service,
            self.request(user, Method::PUT, service, path.as_ref())
                .json(body),
        )
        .await
    }

    pub async fn patch(
        &self,
        user: &Session,
        service: Service,
        path: impl AsRef<str>,
        body: &Value,
    ) -> BackendResult<Value> {
        self.send(
            service,
            self.request(user, Method::PATCH, service, path.as_ref())
                .json(body),
        )
        .await
    }

    pub async fn delete(
        &self,
        user: &Session,
        service: Service,
        path: impl AsRef<str>,
    ) -> BackendResult<Value> {
        self.send(
            service,
            self.request(user, Method::DELETE, service, path.as_ref()),
        )
        .await
    }

    /// A GET whose answer is passed on as it comes (CSV exports).
    pub async fn get_raw(
        &self,
        user: &Session,
        service: Service,
        path: &str,
    ) -> BackendResult<reqwest::Response> {
        let response = self
            .request(user, Method::GET, service, path)
            .send()
            .await
            .map_err(|e| unreachable(service, &e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        Err(BackendError::Refused {
            status,
            code: body["code"].as_str().unwrap_or("error").to_owned(),
            title: body["title"].as_str().unwrap_or("error").to_owned(),
            detail: body["detail"].as_str().map(str::to_owned),
            body,
        })
    }
}

/// No answer from `service`: logged with why, answered without.
fn unreachable(service: Service, error: &reqwest::Error) -> BackendError {
    tracing::warn!(service = service.name(), error = %without_url(error), "no answer from a service");
    BackendError::Unreachable { service }
}

/// A reqwest error's text without the URL (which carries query parameters).
pub(crate) fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "");
    }
    text
}

/// A query string from pairs, leaving out empty values.
pub fn query<'a>(pairs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        if let Some(value) = value.filter(|v| !v.trim().is_empty()) {
            serializer.append_pair(name, value.trim());
        }
    }
    serializer.finish()
}

/// A path segment, percent-encoded.
pub fn segment(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
