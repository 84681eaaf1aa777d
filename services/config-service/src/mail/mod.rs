//! Mail to the people of a company (notification contacts) about its events, and one-off mails to
//! an address (the owner of a disabled webhook endpoint).
//!
//! - [`queue`] records a `bridge.event.v1` for every contact of its company who gets its type, in
//!   the transaction that consumes the message: one row per contact and event, so a repeated
//!   event is one line of one mail.
//! - The mailer ([`spawn`]) sends each contact one mail with everything queued for it, at most
//!   once per `NOTIFY_DIGEST_MINUTES`: the first event goes out at once, the ones after it within
//!   the window are folded into the next mail. Replicas share the work with `FOR NO KEY UPDATE
//!   SKIP LOCKED` on the contact, held while its mail is sent, so no two send the same mail.
//! - [`render`] says it, in English or Arabic, in the company's time zone, with a link per event to
//!   the console page that deals with it.
//!
//! Without `SMTP_URL` nothing is mailed; queued mail is kept for [`QUEUED_KEPT_DAYS`] days.

mod mailer;
pub mod render;
mod smtp;

use diesel::QueryResult;
use diesel_async::AsyncPgConnection;
use serde_json::json;

pub use mailer::{run_once, spawn, PassOutcome, DONE_KEPT_DAYS, QUEUED_KEPT_DAYS};
pub use render::{CompanyFacts, Language, Rendered};
pub use smtp::{
    MailSettings, SendError, Smtp, SmtpSettings, SmtpUrl, DEFAULT_CONSOLE_URL, DEFAULT_DIGEST,
};

use crate::store::companies::Company;
use crate::store::notifications::{self as store, Contact};

/// What the API needs to mail: the SMTP server (None when `SMTP_URL` is unset) and where mails
/// link to.
#[derive(Debug, Clone)]
pub struct Mail {
    pub smtp: Option<Smtp>,
    pub console_url: String,
}

impl Mail {
    pub fn new(settings: &MailSettings) -> Self {
        let smtp = settings
            .smtp
            .as_ref()
            .and_then(|smtp| match Smtp::new(smtp) {
                Ok(smtp) => Some(smtp),
                Err(error) => {
                    tracing::error!(%error, "no mail is sent");
                    None
                }
            });
        Self {
            smtp,
            console_url: settings.console_url.clone(),
        }
    }
}

/// Queues `event` for every contact of its company who gets its type (one statement). An event
/// of no company is mailed to nobody.
pub async fn queue(conn: &mut AsyncPgConnection, event: &domain::BridgeEventV1) -> QueryResult<()> {
    let Some(company) = event.company_id else {
        return Ok(());
    };
    let stored = serde_json::to_value(event)
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    store::queue_event(
        conn,
        company.0,
        event.event_id,
        event.event.type_name(),
        event.occurred_at,
        &stored,
    )
    .await
    .map(drop)
}

/// The kind of one-off mail [`tell_webhook_owner`] queues.
pub const WEBHOOK_DISABLED: &str = "webhook_disabled";

/// Queues the one-off English mail telling `email` that its webhook endpoint was disabled, and
/// why; the mailer sends it. The URL is kept without credentials, query or fragment.
pub async fn tell_webhook_owner(
    conn: &mut AsyncPgConnection,
    email: &str,
    endpoint_url: &str,
    reason: &str,
) -> QueryResult<()> {
    let details = json!({
        "endpoint_url": render::shown_url(endpoint_url),
        "reason": reason,
    });
    store::insert_direct(conn, email, WEBHOOK_DISABLED, &details).await
}

/// What the company's facts are to a mail; an unknown time zone reads as Asia/Dubai (the
/// default; the API accepts IANA zones only).
pub fn company_facts(company: &Company) -> CompanyFacts {
    CompanyFacts {
        slug: company.slug.clone(),
        name_en: company.name_en.clone(),
        name_ar: company.name_ar.clone(),
        timezone: company.timezone.parse().unwrap_or(chrono_tz::Asia::Dubai),
    }
}

/// The outcome of a test mail to one contact.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TestMailOutcome {
    pub contact_id: i64,
    pub email: String,
    pub language: String,
    /// Why it did not go out; absent when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Sends each of `contacts` the test mail now, in their language.
pub async fn send_test(
    smtp: &Smtp,
    console_url: &str,
    company: &Company,
    contacts: &[Contact],
) -> Vec<TestMailOutcome> {
    let facts = company_facts(company);
    let mut outcomes = Vec::with_capacity(contacts.len());
    for contact in contacts {
        let language = Language::parse(&contact.language).unwrap_or(Language::En);
        let mail = render::test_mail(language, &facts, console_url, &contact.event_types);
        let error = smtp
            .send(&contact.email, &mail)
            .await
            .err()
            .map(|e| e.to_string());
        outcomes.push(TestMailOutcome {
            contact_id: contact.id,
            email: contact.email.clone(),
            language: contact.language.clone(),
            error,
        });
    }
    outcomes
}
