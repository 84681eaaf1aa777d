//! Webhook endpoints: where the bridge sends its events, registered by admins; their delivery
//! log and replays. An endpoint limited to some companies is seen and changed only by tokens
//! that see all of them; an endpoint of every company only by tokens limited to none.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use auth::{Caller, Permission};
use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection;
use domain::BridgeEvent;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::changes::Change;
use crate::errors::{AccessError, WebhookError};
use crate::store::companies::{self as company_store, CompanyKey};
use crate::store::webhooks::{self as store, AttemptRow, Endpoint, EndpointChanges, Message};
use crate::store::Conn;
use crate::AppState;

/// How long the secrets a rotation replaces keep signing, so receivers can move over.
const ROTATION_OVERLAP: chrono::Duration = chrono::Duration::hours(24);
/// Messages in one page of the delivery log, at most.
const MOST_PER_PAGE: i64 = 100;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where to POST; must be under `WEBHOOK_ALLOWED_URLS`.
    pub url: String,
    #[serde(default)]
    pub description: String,
    /// The event types to send, e.g. `import.completed`; at least one.
    pub event_types: Vec<String>,
    /// Company ids or slugs whose events to send; left out: every company's, and the events of
    /// no company (a token limited to some companies must name them).
    pub companies: Option<Vec<String>>,
    /// Told by mail when the endpoint is disabled after a day of failures.
    pub owner_email: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookUpdate {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    /// Company ids or slugs; `null`: every company.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>)]
    pub companies: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub owner_email: Option<Option<String>>,
    /// `true` sends again to an endpoint that was disabled (its waiting messages first).
    pub enabled: Option<bool>,
}

/// A field given (maybe as `null`), as opposed to left out.
fn present<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: i64,
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    /// The slugs of its companies; `null`: every company.
    pub companies: Option<Vec<String>>,
    pub owner: String,
    pub owner_email: Option<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// Since when every attempt has failed.
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An endpoint as registered, with its signing secret: shown this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub endpoint: WebhookView,
    /// `whsec_…`: verifies the `webhook-signature` header. Not shown again.
    pub secret: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RotatedSecret {
    pub secret: String,
    /// Until when the secrets it replaces still sign.
    pub previous_secrets_expire_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookList {
    pub endpoints: Vec<WebhookView>,
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Messages older than this delivery id (the previous page's `next_before`).
    pub before: Option<i64>,
    /// At most 100; 20 when left out.
    pub limit: Option<i64>,
}

/// One event sent (or to be sent) to an endpoint.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    /// The `webhook-id` header: the same on every attempt and replay.
    pub event_id: uuid::Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub company_id: Option<i64>,
    /// `pending`, `delivered` or `failed` (its retries ran out).
    pub state: String,
    /// Attempts since it was queued or last replayed (`log` holds every attempt ever made).
    pub attempts: i32,
    /// When the next attempt is due, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The body as sent.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// Every attempt, oldest first.
    pub log: Vec<AttemptView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttemptView {
    pub attempted_at: DateTime<Utc>,
    /// The receiver's status; `null` when it did not answer.
    pub status: Option<i32>,
    pub latency_ms: i32,
    pub error: Option<String>,
    /// Asked for by a replay.
    pub replay: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryPage {
    pub deliveries: Vec<DeliveryView>,
    /// Pass as `before` for the next page; `null` on the last.
    pub next_before: Option<i64>,
}

#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks",
    responses((status = 200, body = WebhookList)), security(("bearer" = [])))]
pub async fn list_webhooks(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, WebhookError> {
    require(&caller)?;
    let mut conn = db::connection(&state.pool).await?;
    let slugs = company_slugs(&mut conn).await?;
    let endpoints = store::endpoints(&mut conn).await?;
    let visible = endpoints
        .into_iter()
        .filter(|endpoint| may_see(&caller, endpoint, &slugs))
        .map(|endpoint| view(endpoint, &slugs))
        .collect();
    Ok(HttpResponse::Ok().json(WebhookList { endpoints: visible }))
}

#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", request_body = NewWebhook,
    responses((status = 201, body = CreatedWebhook),
              (status = 422, description = "url_not_allowed, invalid_url, invalid_event_types, invalid_companies, unknown_company, invalid_email: the field named cannot be used")),
    security(("bearer" = [])))]
pub async fn create_webhook(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<NewWebhook>,
) -> Result<HttpResponse, WebhookError> {
    require(&caller)?;
    let new = body.into_inner();
    let url = allowed_url(&state, &new.url)?;
    let event_types = event_types(new.event_types)?;
    let owner_email = new.owner_email.map(email).transpose()?;
    let secret = webhooks::Secret::generate();
    let mut conn = db::connection(&state.pool).await?;
    let created = conn
        .transaction::<_, WebhookError, _>(async |conn| {
            let company_ids = match &new.companies {
                Some(keys) => Some(company_ids(conn, &caller, keys).await?),
                None if caller.is_limited() => return Err(WebhookError::CompaniesRequired),
                None => None,
            };
            let endpoint = store::insert_endpoint(
                conn,
                &store::NewEndpoint {
                    url: &url,
                    description: new.description.trim(),
                    event_types: &event_types,
                    company_ids: company_ids.as_deref(),
                    owner: caller.sub(),
                    owner_email: owner_email.as_deref(),
                },
            )
            .await?;
            let encrypted = state
                .master_keys
                .encrypt_webhook_secret(endpoint.id, &secret.expose());
            store::add_secret(conn, endpoint.id, &encrypted).await?;
            let slugs = company_slugs(conn).await?;
            let view = view(endpoint, &slugs);
            audit(
                conn,
                &caller,
                "webhook.created",
                &view,
                json!({ "after": &view }),
            )
            .await?;
            Ok(view)
        })
        .await?;
    Ok(HttpResponse::Created().json(CreatedWebhook {
        endpoint: created,
        secret: secret.expose(),
    }))
}

#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = i64, Path)), responses((status = 200, body = WebhookView), (status = 404, description = "not_found: no such endpoint, or one of companies this token does not see all of")),
    security(("bearer" = [])))]
pub async fn get_webhook(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<i64>,
) -> Result<HttpResponse, WebhookError> {
    require(&caller)?;
    let mut conn = db::connection(&state.pool).await?;
    let slugs = company_slugs(&mut conn).await?;
    let endpoint = visible_endpoint(&mut conn, &caller, *path, &slugs).await?;
    Ok(HttpResponse::Ok().json(view(endpoint, &slugs)))
}

#[utoipa::path(patch, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = i64, Path)), request_body = WebhookUpdate,
    responses((status = 200, body = WebhookView), (status = 404, description = "not_found: no such endpoint, or one of companies this token does not see all of"),
              (status = 422, description = "url_not_allowed, invalid_url, invalid_event_types, invalid_companies, unknown_company, invalid_email: the field named cannot be used")),
    security(("bearer" = [])))]
pub async fn update_webhook(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<i64>,
    body: web::Json<WebhookUpdate>,
) -> Result<HttpResponse, WebhookError> {
    require(&caller)?;
    let update = body.into_inner();
    let mut changes = EndpointChanges {
        url: update
            .url
            .as_deref()
            .map(|url| allowed_url(&state, url))
            .transpose()?,
        description: update.description.map(|text| text.trim().to_owned()),
        event_types: update.event_types.map(event_types).transpose()?,
        owner_email: update
            .owner_email
            .map(|email_or_none| email_or_none.map(email).transpose())
            .transpose()?,
        enabled: update.enabled,
        ..Default::default()
    };
    if update.enabled == Some(true) {
        // Enabled again: its failures so far no longer count toward disabling it.
        changes.disabled_reason = Some(None);
        changes.failing_since = Some(None);
    }
    let mut conn = db::connection(&state.pool).await?;
    let after = conn
        .transaction::<_, WebhookError, _>(async |conn| {
            let slugs = company_slugs(conn).await?;
            let before = visible_endpoint(conn, &caller, *path, &slugs).await?;
            if let Some(companies) = &update.companies {
                changes.company_ids = Some(match companies {
                    Some(keys) => Some(company_ids(conn, &caller, keys).await?),
                    None if caller.is_limited() => return Err(WebhookError::CompaniesRequired),
                    None => None,
                });
            }
            let before = view(before, &slugs);
            let after = view(
                store::update_endpoint(conn, before.id, &changes).await?,
                &slugs,
            );
            audit(
                conn,
                &caller,
                "webhook.updated",
                &after,
                json!({ "before": &before, "after": &after }),
            )
            .await?;
            Ok(after)
        })
        .await?;
    if after.enabled {
        state.webhooks.wake();
    }
    Ok(HttpResponse::Ok().json(after))
}

#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = i64, Path)), responses((status = 204), (status = 404, description = "not_found: no such endpoint, or one of companies this token does not see all of")), security(("bearer" = [])))]
pub async fn delete_webhook(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<i64>,
) -> Result<HttpResponse, WebhookError> {
    require(&caller)?;
    let mut conn = db::connection(&state.pool).await?;
    conn.transaction::<_, WebhookError, _>(async |conn| {
        let endpoint = visible_view(conn, &caller, *path).await?;
        store::delete_endpoint(conn, endpoint.id).await?;
        audit(
            conn,
            &caller,
            "webhook.deleted",
            &endpoint,
            json!({ "before": &endpoint }),
        )
        .await?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/v1/webhooks/{id}/secret/rotate", tag = "webhooks",
    params(("id" = i64, Path)), responses((status = 200, body = RotatedSecret), (status = 404, description = "not_found: no such endpoint, or one of companies this token does not see all of")),
    security(("bearer" = [])))]
pub async fn rotate_secret(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<i64>,
) -> Result<HttpResponse, WebhookError> {
    require(&caller)?;
    let secret = webhooks::Secret::generate();
    let expire_at = Utc::now() + ROTATION_OVERLAP;
    let mut conn = db::connection(&state.pool).await?;
    conn.transaction::<_, WebhookError, _>(async |conn| {
        let endpoint = visible_view(conn, &caller, *path).await?;
        store::expire_secrets(conn, endpoint.id, expire_at).await?;
        let encrypted = state
            .master_keys
            .encrypt_webhook_secret(endpoint.id, &secret.expose());
        store::add_secret(conn, endpoint.id, &encrypted).await?;
        audit(
            conn,
            &caller,
            "webhook.secret_rotated",
            &endpoint,
            json!({ "previous_secrets_expire_at": expire_at }),
        )
        .await?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Ok().json(RotatedSecret {
        secret: secret.expose(),
        previous_secrets_expire_at: expire_at,
    }))
}

#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = i64, Path), DeliveryQuery), responses((status = 200, body = DeliveryPage), (status = 404, description = "not_found: no such endpoint, or one of companies this token does not see all of"),
              (status = 400, description = "invalid_limit: limit is not between 1 and 100")),
    security(("bearer" = [])))]
pub async fn list_deliveries(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<i64>,
    query: web::Query<DeliveryQuery>,
) -> Result<HttpResponse, WebhookError> {
    require(&caller)?;
    let limit = query.limit.unwrap_or(20);
    if !(1..=MOST_PER_PAGE).contains(&limit) {
        return Err(WebhookError::BadLimit(limit));
    }
    let mut conn = db::connection(&state.pool).await?;
    let slugs = company_slugs(&mut conn).await?;
    let endpoint = visible_endpoint(&mut conn, &caller, *path, &slugs).await?;
    let log = store::message_log(&mut conn, endpoint.id, None, query.before, limit).await?;
    let next_before = (log.len() as i64 == limit)
        .then(|| log.last().map(|(message, _)| message.id))
        .flatten();
    let deliveries = log
        .into_iter()
        .map(|(message, attempts)| delivery_view(message, attempts))
        .collect();
    Ok(HttpResponse::Ok().json(DeliveryPage {
        deliveries,
        next_before,
    }))
}

#[utoipa::path(post, path = "/v1/webhooks/{id}/deliveries/{delivery}/replay", tag = "webhooks",
    params(("id" = i64, Path), ("delivery" = i64, Path)),
    responses((status = 202, body = DeliveryView),
              (status = 404, description = "not_found: no such endpoint or delivery, or an endpoint this token does not see")),
    security(("bearer" = [])))]
pub async fn replay_delivery(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, WebhookError> {
    require(&caller)?;
    let (endpoint_id, delivery_id) = path.into_inner();
    let mut conn = db::connection(&state.pool).await?;
    let replayed = conn
        .transaction::<_, WebhookError, _>(async |conn| {
            let endpoint = visible_view(conn, &caller, endpoint_id).await?;
            store::find_message(conn, endpoint.id, delivery_id)
                .await?
                .ok_or(WebhookError::NoSuchDelivery)?;
            let message = store::replay(conn, delivery_id, Utc::now()).await?;
            audit(
                conn,
                &caller,
                "webhook.replayed",
                &endpoint,
                json!({ "delivery": delivery_id, "event_id": message.event_id, "type": message.event_type }),
            )
            .await?;
            Ok(message)
        })
        .await?;
    state.webhooks.wake();
    Ok(HttpResponse::Accepted().json(delivery_view(replayed, Vec::new())))
}

fn require(caller: &Caller) -> Result<(), WebhookError> {
    caller
        .require(Permission::ManageWebhooks)
        .map_err(|problem| WebhookError::Access(AccessError::Refused(problem)))
}

/// Every company's slug by id.
async fn company_slugs(conn: &mut Conn) -> Result<BTreeMap<i64, String>, WebhookError> {
    Ok(company_store::list(conn, None)
        .await?
        .into_iter()
        .map(|company| (company.id, company.slug))
        .collect())
}

/// Whether the caller sees every company the endpoint sends events of.
fn may_see(caller: &Caller, endpoint: &Endpoint, slugs: &BTreeMap<i64, String>) -> bool {
    match &endpoint.company_ids {
        None => !caller.is_limited(),
        Some(ids) => ids.iter().all(|id| {
            slugs
                .get(id)
                .is_some_and(|slug| caller.can_access_company(slug))
        }),
    }
}

/// The endpoint with that id when the caller may see it; 404 alike when it does not exist.
async fn visible_endpoint(
    conn: &mut Conn,
    caller: &Caller,
    id: i64,
    slugs: &BTreeMap<i64, String>,
) -> Result<Endpoint, WebhookError> {
    store::find_endpoint(conn, id)
        .await?
        .filter(|endpoint| may_see(caller, endpoint, slugs))
        .ok_or(WebhookError::NoSuchEndpoint)
}

/// [`visible_endpoint`] as the API shows it.
async fn visible_view(
    conn: &mut Conn,
    caller: &Caller,
    id: i64,
) -> Result<WebhookView, WebhookError> {
    let slugs = company_slugs(conn).await?;
    let endpoint = visible_endpoint(conn, caller, id, &slugs).await?;
    Ok(view(endpoint, &slugs))
}

/// The ids of the companies named, each one the caller may see.
async fn company_ids(
    conn: &mut Conn,
    caller: &Caller,
    keys: &[String],
) -> Result<Vec<i64>, WebhookError> {
    if keys.is_empty() {
        return Err(WebhookError::NoCompanies);
    }
    let mut ids = Vec::with_capacity(keys.len());
    for key in keys {
        let company = company_store::find(conn, &CompanyKey::parse(key))
            .await?
            .filter(|company| caller.can_access_company(&company.slug))
            .ok_or_else(|| WebhookError::NoSuchCompany(key.clone()))?;
        ids.push(company.id);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

fn allowed_url(state: &AppState, url: &str) -> Result<String, WebhookError> {
    let url = url.trim();
    let allowed = state
        .webhook_urls
        .as_ref()
        .ok_or(WebhookError::NoUrlsAllowed)?;
    allowed.check(url).map_err(|refusal| match refusal {
        settings::ApiUrlRefusal::Invalid(why) => WebhookError::UnusableUrl {
            url: url.to_owned(),
            why,
        },
        settings::ApiUrlRefusal::NotAllowed { .. } => WebhookError::UrlNotAllowed {
            url: url.to_owned(),
            allowed: allowed.to_string(),
        },
    })?;
    Ok(url.to_owned())
}

fn event_types(types: Vec<String>) -> Result<Vec<String>, WebhookError> {
    if types.is_empty() {
        return Err(WebhookError::NoEventTypes);
    }
    let mut types: Vec<String> = types.into_iter().map(|t| t.trim().to_owned()).collect();
    if let Some(unknown) = types
        .iter()
        .find(|t| !BridgeEvent::TYPES.contains(&t.as_str()))
    {
        return Err(WebhookError::UnknownEventType(unknown.clone()));
    }
    types.sort();
    types.dedup();
    Ok(types)
}

/// A plausible mail address: something, an `@`, a domain with a dot, no spaces.
fn email(text: String) -> Result<String, WebhookError> {
    let text = text.trim().to_owned();
    let plausible = text.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
    }) && !text.chars().any(char::is_whitespace);
    if plausible {
        Ok(text)
    } else {
        Err(WebhookError::InvalidEmail(text))
    }
}

fn view(endpoint: Endpoint, slugs: &BTreeMap<i64, String>) -> WebhookView {
    WebhookView {
        id: endpoint.id,
        url: endpoint.url,
        description: endpoint.description,
        event_types: endpoint.event_types,
        companies: endpoint.company_ids.map(|ids| {
            ids.iter()
                .map(|id| slugs.get(id).cloned().unwrap_or_else(|| id.to_string()))
                .collect()
        }),
        owner: endpoint.owner,
        owner_email: endpoint.owner_email,
        enabled: endpoint.enabled,
        disabled_reason: endpoint.disabled_reason,
        failing_since: endpoint.failing_since,
        created_at: endpoint.created_at,
        updated_at: endpoint.updated_at,
    }
}

fn delivery_view(message: Message, attempts: Vec<AttemptRow>) -> DeliveryView {
    let pending = message.state == "pending";
    DeliveryView {
        id: message.id,
        event_id: message.event_id,
        event_type: message.event_type,
        company_id: message.company_id,
        state: message.state,
        attempts: message.attempts,
        next_attempt_at: pending.then_some(message.next_attempt_at),
        delivered_at: message.delivered_at,
        created_at: message.created_at,
        payload: serde_json::from_str(&message.payload).unwrap_or(serde_json::Value::Null),
        log: attempts
            .into_iter()
            .map(|attempt| AttemptView {
                attempted_at: attempt.attempted_at,
                status: attempt.status,
                latency_ms: attempt.latency_ms,
                error: attempt.error,
                replay: attempt.replay,
            })
            .collect(),
    }
}

/// The audit entry of a change to an endpoint (of no one company: an endpoint may serve several).
async fn audit(
    conn: &mut Conn,
    caller: &Caller,
    action: &str,
    endpoint: &WebhookView,
    details: serde_json::Value,
) -> diesel::QueryResult<()> {
    Change {
        actor: caller.sub(),
        action,
        company_id: None,
        target: Some(format!("webhook:{}", endpoint.id)),
        details,
        events: vec![],
    }
    .record(conn)
    .await
}
