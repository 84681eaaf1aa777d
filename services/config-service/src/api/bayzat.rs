use std::str::FromStr;

use actix_web::{web, HttpResponse};
use auth::{Caller, Permission};
use bayzat_client::ConnectionTest;
use chrono::{DateTime, NaiveTime, Utc};
use diesel_async::AsyncConnection;
use domain::{CompanyChange, SyncFrequency};
use serde::{Deserialize, Serialize};
use serde_json::json;
use service_kit::Problem;
use utoipa::ToSchema;

use super::authorized_company;
use crate::changes::Change;
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
    #[schema(value_type = String, example = "manual")]
    pub sync_frequency: SyncFrequency,
    /// HH:MM in the company's time zone, for daily syncs.
    #[schema(value_type = Option<String>, example = "02:00")]
    pub daily_at: Option<NaiveTime>,
    /// The time of the company's latest delivery to Bayzat.
    pub last_sync_at: Option<DateTime<Utc>>,
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
}

/// A change to a configuration; absent fields keep their value.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ConfigUpdate {
    /// A new integration key. Tested against Bayzat before it is saved unless `test_connection` is false.
    pub api_key: Option<String>,
    pub api_url: Option<String>,
    pub is_enabled: Option<bool>,
    #[schema(value_type = Option<String>, example = "hourly")]
    pub sync_frequency: Option<SyncFrequency>,
    /// HH:MM; required for a daily sync.
    pub daily_at: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub settings: Option<serde_json::Value>,
    /// false saves a new key without testing it first.
    pub test_connection: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ConnectionTestRequest {
    /// A key to try; the stored key when absent.
    pub api_key: Option<String>,
    /// A URL to try; the stored (or default) URL when absent.
    pub api_url: Option<String>,
}

/// One company's key, for sync-service only.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DecryptedKey {
    pub company_id: i64,
    pub slug: String,
    pub api_key: String,
    pub api_url: String,
    pub is_enabled: bool,
}

fn frequency(stored: &str) -> SyncFrequency {
    SyncFrequency::from_str(stored).unwrap_or_default()
}

fn view(company_id: i64, stored: Option<&StoredConfig>, default_api_url: &str) -> ConfigView {
    match stored {
        Some(c) => ConfigView {
            company_id,
            api_key: c.api_key_mask.clone(),
            key_updated_at: c.key_updated_at,
            api_url: c.api_url.clone(),
            is_enabled: c.is_enabled,
            sync_frequency: frequency(&c.sync_frequency),
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

fn valid_url(url: &str) -> Result<String, Problem> {
    let url = url.trim();
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {
            Ok(url.to_owned())
        }
        _ => Err(Problem::unprocessable(
            "invalid_api_url",
            format!("{url:?} is not an http(s) URL"),
        )),
    }
}

#[utoipa::path(get, path = "/v1/companies/{company}/bayzat-config", tag = "bayzat",
    params(("company" = String, Path, description = "id or slug")),
    responses((status = 200, body = ConfigView)), security(("bearer" = [])))]
pub async fn get_config(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let mut conn = db::connection(&state.pool).await?;
    let company =
        authorized_company(&mut conn, &caller, Permission::ReadMaskedConfig, &path).await?;
    let stored = store::find(&mut conn, company.id).await?;
    Ok(HttpResponse::Ok().json(view(company.id, stored.as_ref(), &state.default_api_url)))
}

#[utoipa::path(put, path = "/v1/companies/{company}/bayzat-config", tag = "bayzat", request_body = ConfigUpdate,
    params(("company" = String, Path, description = "id or slug")),
    responses((status = 200, body = ConfigView),
              (status = 422, description = "invalid value, or the new key failed its connection test (`connection_test` says how)")),
    security(("bearer" = [])))]
pub async fn put_config(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<ConfigUpdate>,
) -> Result<HttpResponse, Problem> {
    let update = body.into_inner();
    let mut conn = db::connection(&state.pool).await?;
    let company =
        authorized_company(&mut conn, &caller, Permission::ManageBayzatConfig, &path).await?;
    let before = store::find(&mut conn, company.id).await?;

    let api_url = match &update.api_url {
        Some(url) => valid_url(url)?,
        None => before
            .as_ref()
            .map(|c| c.api_url.clone())
            .unwrap_or_else(|| state.default_api_url.clone()),
    };
    let new_key = update
        .api_key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty());
    if update.api_key.is_some() && new_key.is_none() {
        return Err(Problem::unprocessable("missing_field", "api_key is empty"));
    }
    if let (Some(key), true) = (new_key, update.test_connection.unwrap_or(true)) {
        let result = state.bayzat.test_connection(&api_url, key).await;
        if !result.is_ok() {
            return Err(Problem::unprocessable(
                "connection_test_failed",
                format!("Bayzat did not accept the key: {}", result.kind()),
            )
            .with_extension("connection_test", &result));
        }
    }
    let sync_frequency = update.sync_frequency.unwrap_or_else(|| {
        before
            .as_ref()
            .map(|c| frequency(&c.sync_frequency))
            .unwrap_or_default()
    });
    let daily_at = match &update.daily_at {
        Some(text) => Some(
            NaiveTime::parse_from_str(text.trim(), "%H:%M").map_err(|_| {
                Problem::unprocessable("invalid_daily_at", format!("{text:?} is not HH:MM"))
            })?,
        ),
        None => before.as_ref().and_then(|c| c.daily_at),
    };
    if sync_frequency == SyncFrequency::Daily && daily_at.is_none() {
        return Err(Problem::unprocessable(
            "missing_field",
            "daily_at is required for a daily sync",
        ));
    }
    let values = ConfigValues {
        company_id: company.id,
        api_key: match new_key {
            Some(key) => Some(state.master_keys.encrypt(key)),
            None => before.as_ref().and_then(|c| c.api_key.clone()),
        },
        api_key_mask: match new_key {
            Some(key) => Some(crypto::mask(key)),
            None => before.as_ref().and_then(|c| c.api_key_mask.clone()),
        },
        key_updated_at: match new_key {
            Some(_) => Some(Utc::now()),
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
    if new_key.is_some() {
        events.push(CompanyChange::KeyRotated);
    }
    if before_view.is_enabled != values.is_enabled || before.is_none() {
        events.push(CompanyChange::Enablement);
    }
    if before_view.sync_frequency != sync_frequency || before_view.daily_at != daily_at {
        events.push(CompanyChange::Frequency);
    }
    let after = conn
        .transaction::<_, Problem, _>(async |conn| {
            let after = store::save(conn, &values).await?;
            let after_view = view(company.id, Some(&after), &state.default_api_url);
            Change {
                actor: caller.sub(),
                action: "bayzat_config.updated",
                company_id: Some(company.id),
                target: Some(company.slug.clone()),
                details: json!({ "before": before_view, "after": &after_view, "key_changed": new_key.is_some() }),
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

#[utoipa::path(post, path = "/v1/companies/{company}/bayzat-config/test", tag = "bayzat", request_body = ConnectionTestRequest,
    params(("company" = String, Path, description = "id or slug")),
    responses((status = 200, description = "the test's result: ok, invalid_key, unreachable (with cause) or unexpected (with status and body excerpt)"),
              (status = 422, description = "no key given and none stored")),
    security(("bearer" = [])))]
pub async fn test_connection(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: Option<web::Json<ConnectionTestRequest>>,
) -> Result<HttpResponse, Problem> {
    let request = body.map(web::Json::into_inner).unwrap_or_default();
    let mut conn = db::connection(&state.pool).await?;
    let company = authorized_company(&mut conn, &caller, Permission::TestConnection, &path).await?;
    let stored = store::find(&mut conn, company.id).await?;
    let api_url = match &request.api_url {
        Some(url) => valid_url(url)?,
        None => stored
            .as_ref()
            .map(|c| c.api_url.clone())
            .unwrap_or_else(|| state.default_api_url.clone()),
    };
    let api_key = match request
        .api_key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        Some(key) => key.to_owned(),
        None => {
            let ciphertext = stored
                .as_ref()
                .and_then(|c| c.api_key.clone())
                .ok_or_else(|| {
                    Problem::unprocessable("no_api_key", "no key given and none stored")
                })?;
            state
                .master_keys
                .decrypt(&ciphertext)
                .map_err(key_unreadable)?
                .expose()
                .to_owned()
        }
    };
    let result: ConnectionTest = state.bayzat.test_connection(&api_url, &api_key).await;
    conn.transaction::<_, Problem, _>(async |conn| {
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
        .map_err(Problem::from)
    })
    .await?;
    Ok(HttpResponse::Ok().json(result))
}

/// A stored key that the master keys cannot open: the configuration is broken, not the request.
pub(crate) fn key_unreadable(error: crypto::CryptoError) -> Problem {
    tracing::error!(%error, "a stored Bayzat key cannot be decrypted");
    Problem::new(
        actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
        "key_unreadable",
        "The stored Bayzat key cannot be decrypted with the configured master keys",
    )
    .with_detail(error.to_string())
}
