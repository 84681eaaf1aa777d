use std::str::FromStr;

use actix_web::{web, HttpResponse};
use auth::{Caller, Permission};
use bayzat_client::ConnectionTest;
use chrono::{DateTime, NaiveTime, Utc};
use diesel_async::AsyncConnection;
use domain::{CompanyChange, SyncFrequency};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::authorized_company;
use crate::changes::Change;
use crate::errors::{BayzatConfigError, KeyError};
use crate::store::bayzat_configs::{self as store, ConfigValues, StoredConfig};
use crate::AppState;

/// A company's Bayzat configuration as people see it: the key only masked.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConfigView {
    pub company_id: i64,
    /// `••••` and the key's last four characters; null when no key is stored.
    pub api_key: Option<String>,
    pub key_updated_at: Option<DateTime<Utc>>,
    pub api_url: String,
    pub is_enabled: bool,
    #[schema(value_type = crate::openapi::SyncFrequencyName, example = "manual")]
    pub sync_frequency: SyncFrequency,
    /// HH:MM:SS in the company's time zone, for daily syncs.
    #[schema(value_type = Option<String>, pattern = r"^\d{2}:\d{2}:\d{2}$", example = "02:00:00")]
    pub daily_at: Option<NaiveTime>,
    /// The time of the company's latest delivery to Bayzat.
    pub last_sync_at: Option<DateTime<Utc>>,
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
}

/// A change to a configuration; absent fields keep their value.
#[derive(Clone, Default, Deserialize, ToSchema)]
pub struct ConfigUpdate {
    /// A new integration key. Tested against Bayzat before it is saved unless `test_connection` is false.
    pub api_key: Option<String>,
    /// Where the key is sent; must be under `BAYZAT_ALLOWED_API_URLS`. A stored key is never sent
    /// to a new URL: a new `api_url` without `api_key` clears the stored key.
    pub api_url: Option<String>,
    pub is_enabled: Option<bool>,
    #[schema(value_type = Option<crate::openapi::SyncFrequencyName>, example = "hourly")]
    pub sync_frequency: Option<SyncFrequency>,
    /// HH:MM; required for a daily sync.
    pub daily_at: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub settings: Option<serde_json::Value>,
    /// false saves a new key without testing it first.
    pub test_connection: Option<bool>,
}

/// What a connection test says (the `result`, with `cause` when unreachable, `status` and
/// `body_excerpt` when unexpected).
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct ConnectionTestResult {
    pub result: ConnectionTestOutcome,
    /// unreachable: DNS, connection refused, TLS, timeout, or a URL that cannot be used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// unexpected: the HTTP status Bayzat answered with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// unexpected: the start of Bayzat's answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_excerpt: Option<String>,
}

/// ok: the key was accepted; invalid_key: Bayzat refused it; unreachable: no answer;
/// unexpected: any other answer.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ConnectionTestOutcome {
    Ok,
    InvalidKey,
    Unreachable,
    Unexpected,
}

#[derive(Clone, Default, Deserialize, ToSchema)]
pub struct ConnectionTestRequest {
    /// A key to try; the stored key when absent (only with the saved `api_url`).
    pub api_key: Option<String>,
    /// A URL to try, under `BAYZAT_ALLOWED_API_URLS`; the saved (or default) URL when absent. Any
    /// other URL needs `api_key`: the stored key is only ever sent to the saved URL.
    pub api_url: Option<String>,
}

/// One company's key, for sync-service only.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct DecryptedKey {
    pub company_id: i64,
    pub slug: String,
    pub api_key: String,
    pub api_url: String,
    pub is_enabled: bool,
}

/// An optional key as `Debug` shows it: masked.
fn masked(key: &Option<String>) -> Option<String> {
    key.as_deref().map(crypto::mask)
}

impl std::fmt::Debug for ConfigUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigUpdate")
            .field("api_key", &masked(&self.api_key))
            .field("api_url", &self.api_url)
            .field("is_enabled", &self.is_enabled)
            .field("sync_frequency", &self.sync_frequency)
            .field("daily_at", &self.daily_at)
            .field("settings", &self.settings)
            .field("test_connection", &self.test_connection)
            .finish()
    }
}

impl std::fmt::Debug for ConnectionTestRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionTestRequest")
            .field("api_key", &masked(&self.api_key))
            .field("api_url", &self.api_url)
            .finish()
    }
}

impl std::fmt::Debug for DecryptedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptedKey")
            .field("company_id", &self.company_id)
            .field("slug", &self.slug)
            .field("api_key", &crypto::mask(&self.api_key))
            .field("api_url", &self.api_url)
            .field("is_enabled", &self.is_enabled)
            .finish()
    }
}

/// A stored sync frequency. The column's check constraint admits only the names
/// [`SyncFrequency`] reads, so another value means the schema and the code disagree: it is logged
/// and read as the default (manual) rather than failing every read of the company.
pub(crate) fn frequency(company_id: i64, stored: &str) -> SyncFrequency {
    SyncFrequency::from_str(stored).unwrap_or_else(|_| {
        tracing::error!(
            company_id,
            stored,
            "a stored sync frequency is not one this version knows; read as manual"
        );
        SyncFrequency::default()
    })
}

fn view(company_id: i64, stored: Option<&StoredConfig>, default_api_url: &str) -> ConfigView {
    match stored {
        Some(c) => ConfigView {
            company_id,
            api_key: c.api_key_mask.clone(),
            key_updated_at: c.key_updated_at,
            api_url: c.api_url.clone(),
            is_enabled: c.is_enabled,
            sync_frequency: frequency(company_id, &c.sync_frequency),
            daily_at: c.daily_at,
            last_sync_at: c.last_sync_at,
            settings: c.settings.clone(),
        },
        None => ConfigView {
            company_id,
            api_key: None,
            key_updated_at: None,
            api_url: default_api_url.to_owned(),
            is_enabled: true,
            sync_frequency: SyncFrequency::Manual,
            daily_at: None,
            last_sync_at: None,
            settings: json!({}),
        },
    }
}

fn valid_url(url: &str) -> Result<String, BayzatConfigError> {
    let url = url.trim();
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {
            Ok(url.to_owned())
        }
        _ => Err(BayzatConfigError::InvalidApiUrl(url.to_owned())),
    }
}

/// Whether two URLs name the same place (compared as the HTTP client would call them).
fn same_url(a: &str, b: &str) -> bool {
    match (reqwest::Url::parse(a.trim()), reqwest::Url::parse(b.trim())) {
        (Ok(a), Ok(b)) => a == b,
        _ => a.trim() == b.trim(),
    }
}

/// A key may be sent to `api_url` only when it is under `BAYZAT_ALLOWED_API_URLS`.
fn allowed_destination(state: &AppState, api_url: &str) -> Result<(), BayzatConfigError> {
    let url = api_url.to_owned();
    state
        .allowed_api_urls
        .check(api_url)
        .map_err(|refusal| match refusal {
            settings::ApiUrlRefusal::Invalid(why) => BayzatConfigError::UnusableApiUrl { url, why },
            settings::ApiUrlRefusal::NotAllowed { allowed } => {
                BayzatConfigError::ApiUrlNotAllowed { url, allowed }
            }
        })
}

#[utoipa::path(get, path = "/v1/companies/{company}/bayzat-config", tag = "bayzat",
    params(("company" = String, Path, description = "id or slug", example = "advline")),
    responses((status = 200, body = ConfigView)), security(("bearer" = [])))]
pub async fn get_config(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, BayzatConfigError> {
    let mut conn = db::connection(&state.pool).await?;
    let company =
        authorized_company(&mut conn, &caller, Permission::ReadMaskedConfig, &path).await?;
    let stored = store::find(&mut conn, company.id).await?;
    Ok(HttpResponse::Ok().json(view(company.id, stored.as_ref(), &state.default_api_url)))
}

#[utoipa::path(put, path = "/v1/companies/{company}/bayzat-config", tag = "bayzat", request_body = ConfigUpdate,
    params(("company" = String, Path, description = "id or slug", example = "advline")),
    responses((status = 200, body = ConfigView),
              (status = 422, description = "invalid value (`invalid_api_url`, `missing_field`, `invalid_daily_at`), an api_url outside BAYZAT_ALLOWED_API_URLS (`api_url_not_allowed`), or the new key failed its connection test (`connection_test_failed`; `connection_test` says how). A new api_url without api_key clears the stored key.")),
    security(("bearer" = [])))]
pub async fn put_config(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<ConfigUpdate>,
) -> Result<HttpResponse, BayzatConfigError> {
    let update = body.into_inner();
    let mut conn = db::connection(&state.pool).await?;
    let company =
        authorized_company(&mut conn, &caller, Permission::ManageBayzatConfig, &path).await?;
    let before = store::find(&mut conn, company.id).await?;

    let saved_url = before
        .as_ref()
        .map(|c| c.api_url.clone())
        .unwrap_or_else(|| state.default_api_url.clone());
    let api_url = match &update.api_url {
        Some(url) => valid_url(url)?,
        None => saved_url.clone(),
    };
    let url_changed = !same_url(&api_url, &saved_url);
    let new_key = update
        .api_key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty());
    if update.api_key.is_some() && new_key.is_none() {
        return Err(BayzatConfigError::EmptyApiKey);
    }
    if update.api_url.is_some() || new_key.is_some() {
        allowed_destination(&state, &api_url)?;
    }
    // The stored key belongs to the saved URL: a new URL without a new key leaves no key.
    let key_cleared =
        url_changed && new_key.is_none() && before.as_ref().is_some_and(|c| c.api_key.is_some());
    if let (Some(key), true) = (new_key, update.test_connection.unwrap_or(true)) {
        let result = state.bayzat.test_connection(&api_url, key).await;
        if !result.is_ok() {
            return Err(BayzatConfigError::KeyNotAccepted(result));
        }
    }
    let sync_frequency = update.sync_frequency.unwrap_or_else(|| {
        before
            .as_ref()
            .map(|c| frequency(company.id, &c.sync_frequency))
            .unwrap_or_default()
    });
    let daily_at = match &update.daily_at {
        Some(text) => Some(
            NaiveTime::parse_from_str(text.trim(), "%H:%M")
                .map_err(|_| BayzatConfigError::InvalidDailyAt(text.clone()))?,
        ),
        None => before.as_ref().and_then(|c| c.daily_at),
    };
    if sync_frequency == SyncFrequency::Daily && daily_at.is_none() {
        return Err(BayzatConfigError::DailyAtMissing);
    }
    let values = ConfigValues {
        company_id: company.id,
        api_key: match new_key {
            Some(key) => Some(state.master_keys.encrypt(company.id, key)),
            None if key_cleared => None,
            None => before.as_ref().and_then(|c| c.api_key.clone()),
        },
        api_key_mask: match new_key {
            Some(key) => Some(crypto::mask(key)),
            None if key_cleared => None,
            None => before.as_ref().and_then(|c| c.api_key_mask.clone()),
        },
        key_updated_at: match new_key {
            Some(_) => Some(Utc::now()),
            None if key_cleared => Some(Utc::now()),
            None => before.as_ref().and_then(|c| c.key_updated_at),
        },
        api_url,
        is_enabled: update
            .is_enabled
            .unwrap_or_else(|| before.as_ref().is_none_or(|c| c.is_enabled)),
        sync_frequency: sync_frequency.as_str().to_owned(),
        daily_at,
        settings: update.settings.clone().unwrap_or_else(|| {
            before
                .as_ref()
                .map(|c| c.settings.clone())
                .unwrap_or_else(|| json!({}))
        }),
    };
    let before_view = view(company.id, before.as_ref(), &state.default_api_url);
    let mut events = Vec::new();
    // A new URL always comes with a new key or without any, so it travels as a key change: every
    // sync-service replica forgets the company's cached key and URL at once.
    if new_key.is_some() || url_changed {
        events.push(CompanyChange::KeyRotated);
    }
    if before_view.is_enabled != values.is_enabled || before.is_none() {
        events.push(CompanyChange::Enablement);
    }
    if before_view.sync_frequency != sync_frequency || before_view.daily_at != daily_at {
        events.push(CompanyChange::Frequency);
    }
    let after = conn
        .transaction::<_, BayzatConfigError, _>(async |conn| {
            let after = store::save(conn, &values).await?;
            let after_view = view(company.id, Some(&after), &state.default_api_url);
            Change {
                actor: caller.sub(),
                action: "bayzat_config.updated",
                company_id: Some(company.id),
                target: Some(company.slug.clone()),
                details: json!({ "before": before_view, "after": &after_view, "key_changed": new_key.is_some(), "key_cleared": key_cleared }),
                events,
            }
            .record(conn)
            .await?;
            Ok(after_view)
        })
        .await?;
    state.relay.wake();
    Ok(HttpResponse::Ok().json(after))
}

#[utoipa::path(post, path = "/v1/companies/{company}/bayzat-config/test", tag = "bayzat",
    request_body(content = Option<ConnectionTestRequest>, description = "optional: without a body, the stored key is tried at the saved URL"),
    params(("company" = String, Path, description = "id or slug", example = "advline")),
    responses((status = 200, body = ConnectionTestResult, description = "the test's result: ok, invalid_key, unreachable (with cause) or unexpected (with status and body excerpt)"),
              (status = 422, description = "no key given and none stored (`no_api_key`), an api_url other than the saved one without api_key (`api_key_required`: the stored key is only ever sent to the saved URL), an api_url outside BAYZAT_ALLOWED_API_URLS (`api_url_not_allowed`) or not a URL (`invalid_api_url`)")),
    security(("bearer" = [])))]
pub async fn test_connection(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: Option<web::Json<ConnectionTestRequest>>,
) -> Result<HttpResponse, BayzatConfigError> {
    let request = body.map(web::Json::into_inner).unwrap_or_default();
    let mut conn = db::connection(&state.pool).await?;
    let company = authorized_company(&mut conn, &caller, Permission::TestConnection, &path).await?;
    let stored = store::find(&mut conn, company.id).await?;
    let saved_url = stored
        .as_ref()
        .map(|c| c.api_url.clone())
        .unwrap_or_else(|| state.default_api_url.clone());
    let api_url = match &request.api_url {
        Some(url) => valid_url(url)?,
        None => saved_url.clone(),
    };
    allowed_destination(&state, &api_url)?;
    let api_key = match request
        .api_key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        Some(key) => key.to_owned(),
        None => {
            if !same_url(&api_url, &saved_url) {
                return Err(BayzatConfigError::ApiKeyRequired);
            }
            let ciphertext = stored
                .as_ref()
                .and_then(|c| c.api_key.clone())
                .ok_or(BayzatConfigError::NoApiKey)?;
            state
                .master_keys
                .decrypt(company.id, &ciphertext)
                .map_err(KeyError::Unreadable)?
                .expose()
                .to_owned()
        }
    };
    let result: ConnectionTest = state.bayzat.test_connection(&api_url, &api_key).await;
    conn.transaction::<_, BayzatConfigError, _>(async |conn| {
        Change {
            actor: caller.sub(),
            action: "bayzat_config.tested",
            company_id: Some(company.id),
            target: Some(company.slug.clone()),
            details: json!({ "api_url": api_url, "stored_key": request.api_key.is_none(), "result": &result }),
            events: Vec::new(),
        }
        .record(conn)
        .await
        .map_err(BayzatConfigError::from)
    })
    .await?;
    Ok(HttpResponse::Ok().json(result))
}
