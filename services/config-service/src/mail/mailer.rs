//! The mailer task: every tick, one mail per contact whose digest window is over with everything
//! queued for it, then the one-off mails that are due; every hour, the retention of mail rows.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crypto::MasterKeys;
use diesel_async::AsyncConnection;
use domain::BridgeEventV1;
use tokio::task::JoinHandle;

use super::render::{self, Language, Rendered};
use super::smtp::{SendError, Smtp};
use super::{company_facts, Mail, WEBHOOK_DISABLED};
use crate::store::companies::{self as company_store, CompanyKey};
use crate::store::notifications::{self as store, Contact};
use crate::store::{bayzat_configs, Conn};

/// Queued events a mail lists one by one; more are counted in one line.
const MAX_LISTED: usize = 50;
/// Queued events one mail takes at most (the rest go in the next one).
const MAX_PER_MAIL: i64 = 1000;
/// A one-off mail is given up after this many failed attempts.
const MAX_DIRECT_ATTEMPTS: i32 = 10;
/// Mail rows done (sent or given up) are deleted after this many days.
pub const DONE_KEPT_DAYS: i64 = 30;
/// Mail rows never sent (no SMTP server, or none that took them) are deleted after this many days.
pub const QUEUED_KEPT_DAYS: i64 = 7;
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassOutcome {
    /// Mails that went out (to contacts and one-off).
    pub sent: usize,
    /// Mails that did not (tried again later, or given up when refused for good).
    pub failed: usize,
}

/// Runs the mailer until aborted: a pass every `tick` when an SMTP server is configured, and the
/// retention of mail rows every hour either way.
pub fn spawn(
    pool: db::Pool,
    mail: Mail,
    digest_window: Duration,
    tick: Duration,
    master_keys: Arc<MasterKeys>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        match &mail.smtp {
            Some(smtp) => tracing::info!(
                server = smtp.server(),
                digest_window_seconds = digest_window.as_secs_f64(),
                "mail to notification contacts is sent"
            ),
            None => tracing::info!(
                kept_days = QUEUED_KEPT_DAYS,
                "SMTP_URL is not set: no mail is sent; queued mail is kept for a while, then deleted"
            ),
        }
        let mut next_retention = Instant::now();
        loop {
            if Instant::now() >= next_retention {
                next_retention = Instant::now() + RETENTION_EVERY;
                match prune(&pool).await {
                    Ok(pruned) if pruned != store::Pruned::default() => tracing::info!(
                        mails = pruned.mails,
                        direct_mails = pruned.direct,
                        "mail retention pass"
                    ),
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "mail retention pass failed"),
                }
            }
            match &mail.smtp {
                Some(smtp) => {
                    if let Err(error) =
                        run_once(&pool, smtp, &mail.console_url, digest_window, &master_keys).await
                    {
                        tracing::warn!(%error, "mail pass failed; trying again shortly");
                    }
                    tokio::time::sleep(tick).await;
                }
                None => tokio::time::sleep(RETENTION_EVERY).await,
            }
        }
    })
}

async fn prune(pool: &db::Pool) -> Result<store::Pruned, db::DbError> {
    let mut conn = db::connection(pool).await?;
    let now = Utc::now();
    Ok(store::prune(
        &mut conn,
        now - chrono::Duration::days(DONE_KEPT_DAYS),
        now - chrono::Duration::days(QUEUED_KEPT_DAYS),
    )
    .await?)
}

/// How long to leave an address alone after `failures` failures in a row that may pass:
/// 30 s, doubling, at most 30 min.
fn backoff(failures: i32) -> chrono::Duration {
    let doublings = failures.clamp(0, 6) as u32;
    chrono::Duration::seconds((30_i64 << doublings).min(1800))
}

/// One pass: mails every contact that is due, then every due one-off mail.
pub async fn run_once(
    pool: &db::Pool,
    smtp: &Smtp,
    console_url: &str,
    digest_window: Duration,
    master_keys: &MasterKeys,
) -> Result<PassOutcome, db::DbError> {
    let mut conn = db::connection(pool).await?;
    let window =
        chrono::Duration::from_std(digest_window).unwrap_or_else(|_| chrono::Duration::days(1));
    let mut outcome = PassOutcome::default();
    let mut tried = Vec::new();
    loop {
        let mailed = conn
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                let now = Utc::now();
                let Some(contact) =
                    store::claim_due_contact(conn, now - window, now, &tried).await?
                else {
                    return Ok(None);
                };
                let sent =
                    mail_contact(conn, smtp, console_url, master_keys, &contact, now).await?;
                Ok(Some((contact.id, sent)))
            })
            .await?;
        match mailed {
            None => break,
            Some((contact, sent)) => {
                tried.push(contact);
                if sent {
                    outcome.sent += 1;
                } else {
                    outcome.failed += 1;
                }
            }
        }
    }
    let mut tried = Vec::new();
    loop {
        let mailed = conn
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                let now = Utc::now();
                let Some(mail) = store::claim_due_direct(conn, now, &tried).await? else {
                    return Ok(None);
                };
                let sent = send_direct(conn, smtp, &mail, now).await?;
                Ok(Some((mail.id, sent)))
            })
            .await?;
        match mailed {
            None => break,
            Some((id, sent)) => {
                tried.push(id);
                if sent {
                    outcome.sent += 1;
                } else {
                    outcome.failed += 1;
                }
            }
        }
    }
    Ok(outcome)
}

/// Sends `contact` (claimed) one mail with its queued events and records the outcome; whether
/// it went out.
async fn mail_contact(
    conn: &mut Conn,
    smtp: &Smtp,
    console_url: &str,
    master_keys: &MasterKeys,
    contact: &Contact,
    now: DateTime<Utc>,
) -> diesel::QueryResult<bool> {
    let queued = store::undone_mails(conn, contact.id, MAX_PER_MAIL).await?;
    let ids: Vec<i64> = queued.iter().map(|m| m.id).collect();
    let mut events = Vec::with_capacity(queued.len());
    for row in queued {
        match serde_json::from_value::<BridgeEventV1>(row.event) {
            Ok(event) => events.push(event),
            Err(error) => {
                // Stored by this service from a decoded message: cannot happen short of a
                // hand-edited row. Dropped from the mail, and said so.
                tracing::error!(mail = row.id, %error, "a queued event cannot be read");
                store::mark_done(conn, &[row.id], Some("the queued event cannot be read")).await?;
            }
        }
    }
    if events.is_empty() {
        return Ok(false);
    }
    let Some(company) = company_store::find(conn, &CompanyKey::Id(contact.company_id)).await?
    else {
        return Ok(false);
    };
    let language = Language::parse(&contact.language).unwrap_or(Language::En);
    let listed = events.len().min(MAX_LISTED);
    let mail = render::events_mail(
        language,
        &company_facts(&company),
        console_url,
        &events[..listed],
        events.len() - listed,
    );
    // Events carry no key; should a text from Bayzat ever echo the company's key, it is masked.
    let mail = mask_company_key(conn, master_keys, contact.company_id, mail).await?;
    match smtp.send(&contact.email, &mail).await {
        Ok(()) => {
            store::mark_done(conn, &ids, None).await?;
            store::record_mailed(conn, contact.id, now).await?;
            tracing::info!(
                contact = contact.id,
                company = contact.company_id,
                events = events.len(),
                "notification mailed"
            );
            Ok(true)
        }
        Err(SendError::Permanent(error)) => {
            tracing::warn!(contact = contact.id, %error, "notification refused for good; its events are dropped");
            store::mark_done(conn, &ids, Some(&error)).await?;
            store::record_failure(conn, contact.id, &error, None).await?;
            Ok(false)
        }
        Err(SendError::Transient(error)) => {
            let retry_at = now + backoff(contact.failures);
            tracing::warn!(contact = contact.id, %error, %retry_at, "notification not mailed; tried again later");
            store::record_failure(conn, contact.id, &error, Some(retry_at)).await?;
            Ok(false)
        }
    }
}

async fn mask_company_key(
    conn: &mut Conn,
    master_keys: &MasterKeys,
    company_id: i64,
    mail: Rendered,
) -> diesel::QueryResult<Rendered> {
    let stored = bayzat_configs::find(conn, company_id)
        .await?
        .and_then(|config| config.api_key);
    Ok(match stored {
        Some(ciphertext) => match master_keys.decrypt(company_id, &ciphertext) {
            Ok(key) => mail.masking(key.expose()),
            Err(_) => mail,
        },
        None => mail,
    })
}

/// Sends a one-off mail (claimed) and records the outcome; whether it went out.
async fn send_direct(
    conn: &mut Conn,
    smtp: &Smtp,
    mail: &store::DirectMail,
    now: DateTime<Utc>,
) -> diesel::QueryResult<bool> {
    let rendered = match mail.kind.as_str() {
        WEBHOOK_DISABLED => render::webhook_disabled_mail(
            mail.details["endpoint_url"].as_str().unwrap_or_default(),
            mail.details["reason"].as_str().unwrap_or_default(),
        ),
        other => {
            tracing::error!(
                mail = mail.id,
                kind = other,
                "a one-off mail of an unknown kind"
            );
            store::finish_direct(conn, mail.id, Some("unknown kind")).await?;
            return Ok(false);
        }
    };
    match smtp.send(&mail.email, &rendered).await {
        Ok(()) => {
            store::finish_direct(conn, mail.id, None).await?;
            tracing::info!(mail = mail.id, kind = %mail.kind, "one-off mail sent");
            Ok(true)
        }
        Err(SendError::Transient(error)) if mail.attempts + 1 < MAX_DIRECT_ATTEMPTS => {
            tracing::warn!(mail = mail.id, %error, "one-off mail not sent; tried again later");
            store::retry_direct(conn, mail.id, &error, now + backoff(mail.attempts)).await?;
            Ok(false)
        }
        Err(error) => {
            tracing::warn!(mail = mail.id, %error, "one-off mail given up");
            store::finish_direct(conn, mail.id, Some(&error.to_string())).await?;
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_wait_longer_each_time_up_to_half_an_hour() {
        let waits: Vec<i64> = (0..9).map(|f| backoff(f).num_seconds()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1800, 1800, 1800]);
        assert_eq!(backoff(-1).num_seconds(), 30);
    }
}
