//! Sending webhooks: the messages the event consumer queued (`store::webhooks`) go to their
//! endpoints signed as Standard Webhooks asks, in order per endpoint and company, retried on
//! `WEBHOOK_RETRY_SCHEDULE` (about a day by default), each attempt logged. An endpoint that has
//! failed for `WEBHOOK_DISABLE_AFTER` is disabled and its owner told.
//!
//! Every attempt runs in a task of its own under a lease, so a receiver that hangs holds up
//! nothing but its own messages; the Bayzat deliveries are another service's altogether.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crypto::MasterKeys;
use diesel_async::AsyncConnection;
use domain::RetrySchedule;
use serde_json::json;
use settings::AllowedApiUrls;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;

use crate::changes::Change;
use crate::store::webhooks::{self as store, AfterAttempt, Attempt, Claimed};
use crate::store::Conn;

/// At most this many attempts under way at once.
const MOST_AT_ONCE: usize = 64;
/// How often the queue is read when nothing wakes the sender.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// What a receiver's error answer keeps in the log, at most.
const MOST_ERROR_CHARS: usize = 200;

/// Wakes the sender after events were queued, so a webhook goes out at once rather than at the
/// next poll.
#[derive(Clone, Default)]
pub struct Waker(Arc<Notify>);

impl Waker {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// How webhooks are sent (`WEBHOOK_*` settings).
#[derive(Clone)]
pub struct SendSettings {
    /// `WEBHOOK_ALLOWED_URLS`: where endpoints may point; unset, none may be registered.
    pub allowed_urls: Option<AllowedApiUrls>,
    /// `WEBHOOK_RETRY_SCHEDULE`: the waits before each retry of a message.
    pub retry_schedule: RetrySchedule,
    /// `WEBHOOK_TIMEOUT`: how long one attempt waits for the receiver.
    pub timeout: Duration,
    /// `WEBHOOK_DISABLE_AFTER`: how long an endpoint fails before it is disabled.
    pub disable_after: Duration,
}

struct Sender {
    pool: db::Pool,
    http: reqwest::Client,
    master_keys: Arc<MasterKeys>,
    settings: SendSettings,
    permits: Arc<Semaphore>,
}

pub fn spawn(
    pool: db::Pool,
    master_keys: Arc<MasterKeys>,
    settings: SendSettings,
    waker: Waker,
) -> JoinHandle<()> {
    let http = reqwest::Client::builder()
        .timeout(settings.timeout)
        // A redirect could lead anywhere; the endpoint's URL is the only destination allowed.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!(
            "attendance-bridge-webhooks/",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
        .expect("the webhook HTTP client builds");
    let sender = Arc::new(Sender {
        pool,
        http,
        master_keys,
        settings,
        permits: Arc::new(Semaphore::new(MOST_AT_ONCE)),
    });
    tokio::spawn(async move {
        loop {
            let claimed = match sender.claim().await {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(%error, "webhooks due could not be read; trying again");
                    Vec::new()
                }
            };
            let idle = claimed.is_empty();
            for message in claimed {
                let sender = sender.clone();
                let permit = sender
                    .permits
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                tokio::spawn(async move {
                    sender.attempt(message).await;
                    drop(permit);
                });
            }
            if idle {
                tokio::select! {
                    () = waker.0.notified() => {}
                    () = tokio::time::sleep(POLL_EVERY) => {}
                }
            } else {
                // Let the attempts just started take their permits before claiming more.
                tokio::task::yield_now().await;
            }
        }
    })
}

impl Sender {
    /// The messages due now, as many as there are free permits for.
    async fn claim(&self) -> Result<Vec<Claimed>, db::DbError> {
        let free = self.permits.available_permits();
        if free == 0 {
            return Ok(Vec::new());
        }
        let mut conn = db::connection(&self.pool).await?;
        // Past the lease, a message whose attempt was cut short by a stop is due again.
        let lease = self.settings.timeout + Duration::from_secs(30);
        Ok(store::claim_due(&mut conn, Utc::now(), lease, free as i64).await?)
    }

    async fn attempt(&self, message: Claimed) {
        let attempt = self.send(&message).await;
        let after = next_step(&self.settings.retry_schedule, message.attempts, &attempt);
        if let Err(error) = self.record(&message, &attempt, after).await {
            // The lease runs out and the message is sent again: at least once.
            tracing::warn!(%error, message = message.id, "a webhook attempt was not recorded");
        }
    }

    /// One POST of the message, signed with the endpoint's active secrets.
    async fn send(&self, message: &Claimed) -> Attempt {
        let attempted_at = Utc::now();
        let started = Instant::now();
        let outcome = self.post(message, attempted_at).await;
        let latency_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        let (status, error) = match outcome {
            Ok(status) if (200..300).contains(&status) => (Some(i32::from(status)), None),
            Ok(status) => (
                Some(i32::from(status)),
                Some(format!("the receiver answered {status}")),
            ),
            Err(error) => (None, Some(error)),
        };
        Attempt {
            message_id: message.id,
            attempted_at,
            status,
            latency_ms,
            error,
        }
    }

    async fn post(&self, message: &Claimed, at: DateTime<Utc>) -> Result<u16, String> {
        // The list may have shrunk since the endpoint was registered.
        let allowed = self
            .settings
            .allowed_urls
            .as_ref()
            .ok_or("WEBHOOK_ALLOWED_URLS is not set")?;
        allowed
            .check(&message.url)
            .map_err(|_| "the URL is no longer under WEBHOOK_ALLOWED_URLS".to_owned())?;
        let secrets = self.secrets(message.endpoint_id).await?;
        let id = message.event_id.to_string();
        let signature = webhooks::signature(&secrets, &id, at, &message.payload);
        let response = self
            .http
            .post(&message.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", at.timestamp().to_string())
            .header("webhook-signature", signature)
            .body(message.payload.clone())
            .send()
            .await
            .map_err(describe)?;
        Ok(response.status().as_u16())
    }

    async fn secrets(&self, endpoint_id: i64) -> Result<Vec<webhooks::Secret>, String> {
        let stored = async {
            let mut conn = db::connection(&self.pool)
                .await
                .map_err(|e| e.to_string())?;
            store::active_secrets(&mut conn, &[endpoint_id], Utc::now())
                .await
                .map_err(|e| e.to_string())
        }
        .await
        .map_err(|error| {
            tracing::warn!(%error, endpoint = endpoint_id, "webhook secrets could not be read");
            "the signing secrets could not be read".to_owned()
        })?;
        let secrets: Vec<webhooks::Secret> = stored
            .iter()
            .filter_map(|(_, encrypted)| {
                self.master_keys
                    .decrypt_webhook_secret(endpoint_id, encrypted)
                    .ok()
                    .and_then(|secret| webhooks::Secret::parse(secret.expose()).ok())
            })
            .collect();
        if secrets.is_empty() {
            // Never send a webhook the receiver cannot tell from a forgery.
            return Err("the endpoint has no usable signing secret".to_owned());
        }
        Ok(secrets)
    }

    /// Logs the attempt, moves the message on and, after a day of failures, disables the
    /// endpoint, in one transaction.
    async fn record(
        &self,
        message: &Claimed,
        attempt: &Attempt,
        after: AfterAttempt,
    ) -> Result<(), db::DbError> {
        let mut conn = db::connection(&self.pool).await?;
        let disable_after = self.settings.disable_after;
        conn.transaction::<_, diesel::result::Error, _>(async |conn| {
            store::record_attempt(conn, attempt, after, message.replay_pending).await?;
            let failing_since = store::note_endpoint_health(
                conn,
                message.endpoint_id,
                (!attempt.succeeded()).then_some(attempt.attempted_at),
            )
            .await?;
            if let Some(since) = failing_since {
                let failing_for = (attempt.attempted_at - since).to_std().unwrap_or_default();
                if failing_for >= disable_after {
                    disable(conn, message.endpoint_id, since).await?;
                }
            }
            Ok(())
        })
        .await?;
        Ok(())
    }
}

/// Disables an endpoint that has failed since `since`, records it in the audit log and tells
/// its owner.
async fn disable(
    conn: &mut Conn,
    endpoint_id: i64,
    since: DateTime<Utc>,
) -> diesel::QueryResult<()> {
    let Some(endpoint) = store::find_endpoint_for_update(conn, endpoint_id).await? else {
        return Ok(());
    };
    if !endpoint.enabled {
        return Ok(());
    }
    let reason = format!(
        "every attempt failed since {}",
        since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    store::update_endpoint(
        conn,
        endpoint_id,
        &store::EndpointChanges {
            enabled: Some(false),
            disabled_reason: Some(Some(reason.clone())),
            ..Default::default()
        },
    )
    .await?;
    Change {
        actor: crate::SERVICE,
        action: "webhook.disabled",
        company_id: None,
        target: Some(endpoint_id.to_string()),
        details: json!({ "url": endpoint.url, "reason": reason, "owner": endpoint.owner }),
        events: vec![],
    }
    .record(conn)
    .await?;
    tracing::warn!(endpoint = endpoint_id, url = %endpoint.url, %reason, "webhook endpoint disabled");
    if let Some(email) = &endpoint.owner_email {
        crate::mail::tell_webhook_owner(conn, email, &endpoint.url, &reason).await?;
    }
    Ok(())
}

/// What becomes of a message after an attempt, `attempts_before` attempts having failed
/// before it: delivered, retried after the schedule's next wait, or given up when the
/// schedule has no wait left.
pub fn next_step(
    schedule: &RetrySchedule,
    attempts_before: i32,
    attempt: &Attempt,
) -> AfterAttempt {
    if attempt.succeeded() {
        return AfterAttempt::Delivered;
    }
    let retry = u32::try_from(attempts_before).unwrap_or(0) + 1;
    match schedule
        .delay_before_retry(retry)
        .and_then(|delay| chrono::Duration::from_std(delay).ok())
    {
        Some(delay) => AfterAttempt::RetryAt(attempt.attempted_at + delay),
        None => AfterAttempt::GivenUp,
    }
}

/// An error of the HTTP client as the delivery log shows it: what happened, without the
/// client's internals.
fn describe(error: reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "the receiver did not answer in time"
    } else if error.is_connect() {
        "the receiver could not be reached"
    } else if error.is_redirect() {
        "the receiver redirected"
    } else {
        "the request failed"
    };
    let mut text = what.to_owned();
    if let Some(source) = std::error::Error::source(&error) {
        let detail: String = source.to_string().chars().take(MOST_ERROR_CHARS).collect();
        text.push_str(": ");
        text.push_str(&detail);
    }
    text
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn attempt(error: Option<&str>) -> Attempt {
        Attempt {
            message_id: 1,
            attempted_at: Utc.with_ymd_and_hms(2026, 12, 5, 10, 0, 0).unwrap(),
            status: Some(if error.is_some() { 500 } else { 204 }),
            latency_ms: 12,
            error: error.map(str::to_owned),
        }
    }

    #[test]
    fn a_failure_waits_as_the_schedule_says_then_gives_up() {
        let schedule = RetrySchedule::parse("5s,1m").unwrap();
        let failed = attempt(Some("the receiver answered 500"));
        let at = failed.attempted_at;
        assert_eq!(
            next_step(&schedule, 0, &failed),
            AfterAttempt::RetryAt(at + chrono::Duration::seconds(5))
        );
        assert_eq!(
            next_step(&schedule, 1, &failed),
            AfterAttempt::RetryAt(at + chrono::Duration::seconds(60))
        );
        assert_eq!(next_step(&schedule, 2, &failed), AfterAttempt::GivenUp);
        assert_eq!(
            next_step(&schedule, 2, &attempt(None)),
            AfterAttempt::Delivered
        );
    }

    #[test]
    fn the_default_schedule_retries_for_about_a_day() {
        let schedule: RetrySchedule = crate::DEFAULT_WEBHOOK_RETRY_SCHEDULE.parse().unwrap();
        let total: Duration = schedule.delays().iter().sum();
        assert!(total > Duration::from_secs(22 * 3600), "{total:?}");
        assert!(total <= Duration::from_secs(24 * 3600), "{total:?}");
    }
}
