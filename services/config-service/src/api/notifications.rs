//! A company's notification contacts: who is mailed about its events (services/config-service
//! README, Mail), in which language, about which event types; and a test mail to them. Reading
//! needs `ReadCompanies`, changing and testing `ManageCompanies`, both with the company in the
//! token's scope. Every change is audited.

use actix_web::{web, HttpResponse};
use auth::{Caller, Permission};
use chrono::{DateTime, Utc};
use db::is_unique_violation;
use diesel_async::AsyncConnection;
use domain::BridgeEvent;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::authorized_company;
use crate::changes::Change;
use crate::errors::NotificationError;
use crate::mail::{self, Language, TestMailOutcome};
use crate::store::notifications::{self as store, Contact, ContactChanges, NewContact};
use crate::AppState;

/// The longest mail address (RFC 5321's path limit less the brackets).
const MAX_EMAIL_LENGTH: usize = 254;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ContactView {
    pub id: i64,
    pub company_id: i64,
    pub email: String,
    /// `en` or `ar`: the language of its mails.
    pub language: String,
    /// The event types it is mailed about.
    pub event_types: Vec<String>,
    /// When it was last mailed; the next mail waits until `NOTIFY_DIGEST_MINUTES` after it.
    pub last_mailed_at: Option<DateTime<Utc>>,
    /// Why the last mail to it did not go out, until one does.
    pub last_error: Option<String>,
    /// Events waiting for its next mail (in the list of contacts only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Contact> for ContactView {
    fn from(contact: Contact) -> Self {
        Self {
            id: contact.id,
            company_id: contact.company_id,
            email: contact.email,
            language: contact.language,
            event_types: contact.event_types,
            last_mailed_at: contact.last_mailed_at,
            last_error: contact.last_error,
            waiting: None,
            created_at: contact.created_at,
            updated_at: contact.updated_at,
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContactRequest {
    pub email: String,
    /// `en` (the default) or `ar`.
    pub language: Option<String>,
    /// Event types to mail, e.g. `company.sync_paused`; left out: every type.
    pub event_types: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactUpdate {
    pub email: Option<String>,
    pub language: Option<String>,
    pub event_types: Option<Vec<String>>,
}

/// What a test mail did, per contact.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TestMailReport {
    /// The contacts the test mail went to.
    pub sent: Vec<TestMailOutcome>,
    /// The contacts it did not reach, each with the SMTP server's reason.
    pub failed: Vec<TestMailOutcome>,
}

fn valid_email(email: &str) -> Result<String, NotificationError> {
    let email = email.trim();
    if email.len() > MAX_EMAIL_LENGTH || email.parse::<lettre::Address>().is_err() {
        return Err(NotificationError::InvalidEmail(email.to_owned()));
    }
    Ok(email.to_owned())
}

fn valid_language(language: &str) -> Result<String, NotificationError> {
    Language::parse(language.trim())
        .map(|l| l.code().to_owned())
        .ok_or_else(|| NotificationError::UnknownLanguage(language.to_owned()))
}

/// The types, each once, in the order given; every type when none are named.
fn valid_event_types(types: Option<Vec<String>>) -> Result<Vec<String>, NotificationError> {
    let Some(types) = types else {
        return Ok(BridgeEvent::TYPES.iter().map(|t| (*t).to_owned()).collect());
    };
    let mut valid: Vec<String> = Vec::with_capacity(types.len());
    for t in types {
        let t = t.trim().to_owned();
        if !BridgeEvent::TYPES.contains(&t.as_str()) {
            return Err(NotificationError::UnknownEventType(t));
        }
        if !valid.contains(&t) {
            valid.push(t);
        }
    }
    if valid.is_empty() {
        return Err(NotificationError::NoEventTypes);
    }
    Ok(valid)
}

#[utoipa::path(get, path = "/v1/companies/{company}/notification-contacts", tag = "notifications",
    params(("company" = String, Path, description = "id or slug", example = "advline")),
    responses((status = 200, body = [ContactView]), (status = 404)), security(("bearer" = [])))]
pub async fn list_contacts(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, NotificationError> {
    let mut conn = db::connection(&state.pool).await?;
    let company = authorized_company(&mut conn, &caller, Permission::ReadCompanies, &path).await?;
    let contacts = store::list(&mut conn, company.id).await?;
    let waiting = store::waiting(&mut conn, company.id).await?;
    let views: Vec<ContactView> = contacts
        .into_iter()
        .map(|contact| {
            let count = waiting.get(&contact.id).copied().unwrap_or(0);
            ContactView {
                waiting: Some(count),
                ..ContactView::from(contact)
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

#[utoipa::path(post, path = "/v1/companies/{company}/notification-contacts", tag = "notifications",
    request_body = NewContactRequest,
    params(("company" = String, Path, description = "id or slug", example = "advline")),
    responses((status = 201, body = ContactView),
              (status = 422, description = "invalid_email, invalid_language, invalid_event_types: the field named is not usable"),
              (status = 404), (status = 409, description = "contact_exists: the company has a contact with this address")),
    security(("bearer" = [])))]
pub async fn add_contact(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<NewContactRequest>,
) -> Result<HttpResponse, NotificationError> {
    let request = body.into_inner();
    let mut conn = db::connection(&state.pool).await?;
    let view = conn
        .transaction::<_, NotificationError, _>(async |conn| {
            let company =
                authorized_company(conn, &caller, Permission::ManageCompanies, &path).await?;
            let email = valid_email(&request.email)?;
            let language = valid_language(request.language.as_deref().unwrap_or("en"))?;
            let event_types = valid_event_types(request.event_types.clone())?;
            let new = NewContact {
                company_id: company.id,
                email: &email,
                language: &language,
                event_types: &event_types,
            };
            let contact = match store::insert(conn, &new).await {
                Err(error) if is_unique_violation(&error) => {
                    return Err(NotificationError::ContactExists(email));
                }
                other => other?,
            };
            let view = ContactView::from(contact);
            Change {
                actor: caller.sub(),
                action: "notification_contact.added",
                company_id: Some(company.id),
                target: Some(view.email.clone()),
                details: json!({ "after": &view }),
                events: Vec::new(),
            }
            .record(conn)
            .await?;
            Ok(view)
        })
        .await?;
    Ok(HttpResponse::Created().json(view))
}

#[utoipa::path(patch, path = "/v1/companies/{company}/notification-contacts/{id}", tag = "notifications",
    request_body = ContactUpdate,
    params(("company" = String, Path, description = "id or slug", example = "advline"), ("id" = i64, Path)),
    responses((status = 200, body = ContactView),
              (status = 422, description = "invalid_email, invalid_language, invalid_event_types: the field named is not usable"),
              (status = 404), (status = 409, description = "contact_exists: the company has a contact with this address")),
    security(("bearer" = [])))]
pub async fn update_contact(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, i64)>,
    body: web::Json<ContactUpdate>,
) -> Result<HttpResponse, NotificationError> {
    let (company_key, id) = path.into_inner();
    let request = body.into_inner();
    let mut conn = db::connection(&state.pool).await?;
    let view = conn
        .transaction::<_, NotificationError, _>(async |conn| {
            let company =
                authorized_company(conn, &caller, Permission::ManageCompanies, &company_key)
                    .await?;
            let changes = ContactChanges {
                email: request.email.as_deref().map(valid_email).transpose()?,
                language: request
                    .language
                    .as_deref()
                    .map(valid_language)
                    .transpose()?,
                event_types: request
                    .event_types
                    .clone()
                    .map(|types| valid_event_types(Some(types)))
                    .transpose()?,
            };
            let before = store::find_for_update(conn, company.id, id)
                .await?
                .map(ContactView::from)
                .ok_or(NotificationError::NoSuchContact)?;
            if changes.is_empty() {
                return Ok(before);
            }
            let after = match store::update(conn, company.id, id, &changes).await {
                Err(error) if is_unique_violation(&error) => {
                    return Err(NotificationError::ContactExists(
                        changes.email.clone().unwrap_or_default(),
                    ));
                }
                other => other?,
            }
            .map(ContactView::from)
            .ok_or(NotificationError::NoSuchContact)?;
            Change {
                actor: caller.sub(),
                action: "notification_contact.updated",
                company_id: Some(company.id),
                target: Some(after.email.clone()),
                details: json!({ "before": &before, "after": &after }),
                events: Vec::new(),
            }
            .record(conn)
            .await?;
            Ok(after)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[utoipa::path(delete, path = "/v1/companies/{company}/notification-contacts/{id}", tag = "notifications",
    params(("company" = String, Path, description = "id or slug", example = "advline"), ("id" = i64, Path)),
    responses((status = 204, description = "removed, with the mail queued for it"), (status = 404)),
    security(("bearer" = [])))]
pub async fn remove_contact(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, NotificationError> {
    let (company_key, id) = path.into_inner();
    let mut conn = db::connection(&state.pool).await?;
    conn.transaction::<_, NotificationError, _>(async |conn| {
        let company =
            authorized_company(conn, &caller, Permission::ManageCompanies, &company_key).await?;
        let removed = store::delete(conn, company.id, id)
            .await?
            .map(ContactView::from)
            .ok_or(NotificationError::NoSuchContact)?;
        Change {
            actor: caller.sub(),
            action: "notification_contact.removed",
            company_id: Some(company.id),
            target: Some(removed.email.clone()),
            details: json!({ "before": &removed }),
            events: Vec::new(),
        }
        .record(conn)
        .await?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/v1/companies/{company}/notification-contacts/test", tag = "notifications",
    description = "Sends each of the company's contacts a test mail now, in their language, naming the events they get.",
    params(("company" = String, Path, description = "id or slug", example = "advline")),
    responses((status = 200, body = TestMailReport), (status = 404),
              (status = 409, description = "mail_not_configured: SMTP_URL is not set"),
              (status = 422, description = "no_contacts: the company has no notification contacts")),
    security(("bearer" = [])))]
pub async fn test_contacts(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, NotificationError> {
    let mut conn = db::connection(&state.pool).await?;
    let company =
        authorized_company(&mut conn, &caller, Permission::ManageCompanies, &path).await?;
    let smtp = state
        .mail
        .smtp
        .as_ref()
        .ok_or(NotificationError::MailNotConfigured)?;
    let contacts = store::list(&mut conn, company.id).await?;
    if contacts.is_empty() {
        return Err(NotificationError::NoContacts);
    }
    // Sent outside any transaction: nothing is held while the SMTP server answers.
    let outcomes = mail::send_test(smtp, &state.mail.console_url, &company, &contacts).await;
    let (failed, sent): (Vec<_>, Vec<_>) = outcomes.into_iter().partition(|o| o.error.is_some());
    Change {
        actor: caller.sub(),
        action: "notification_contacts.tested",
        company_id: Some(company.id),
        target: None,
        details: json!({
            "sent": sent.iter().map(|o| &o.email).collect::<Vec<_>>(),
            "failed": failed.iter().map(|o| &o.email).collect::<Vec<_>>(),
        }),
        events: Vec::new(),
    }
    .record(&mut conn)
    .await?;
    Ok(HttpResponse::Ok().json(TestMailReport { sent, failed }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use service_kit::ApiError;

    #[test]
    fn bad_input_is_named() {
        assert_eq!(valid_email(" a@example.com ").unwrap(), "a@example.com");
        for bad in [
            "",
            "nobody",
            "a@",
            "A <a@example.com>",
            &format!("{}@x.com", "a".repeat(250)),
        ] {
            assert!(
                matches!(valid_email(bad), Err(NotificationError::InvalidEmail(_))),
                "{bad}"
            );
        }
        assert_eq!(valid_language("ar").unwrap(), "ar");
        assert!(matches!(
            valid_language("fr"),
            Err(NotificationError::UnknownLanguage(_))
        ));
        assert_eq!(
            valid_event_types(None).unwrap().len(),
            BridgeEvent::TYPES.len()
        );
        assert_eq!(
            valid_event_types(Some(vec![
                "clock.silent".into(),
                "clock.silent".into(),
                "import.failed".into()
            ]))
            .unwrap(),
            ["clock.silent", "import.failed"]
        );
        assert!(matches!(
            valid_event_types(Some(vec![])),
            Err(NotificationError::NoEventTypes)
        ));
        assert!(matches!(
            valid_event_types(Some(vec!["import.exploded".into()])),
            Err(NotificationError::UnknownEventType(_))
        ));
    }

    #[test]
    fn each_failure_has_its_status_and_code() {
        let table = [
            (
                NotificationError::InvalidEmail("x".into()),
                422,
                "invalid_email",
            ),
            (
                NotificationError::UnknownLanguage("fr".into()),
                422,
                "invalid_language",
            ),
            (
                NotificationError::UnknownEventType("x".into()),
                422,
                "invalid_event_types",
            ),
            (NotificationError::NoEventTypes, 422, "invalid_event_types"),
            (
                NotificationError::ContactExists("a@b.c".into()),
                409,
                "contact_exists",
            ),
            (NotificationError::NoSuchContact, 404, "not_found"),
            (
                NotificationError::MailNotConfigured,
                409,
                "mail_not_configured",
            ),
            (NotificationError::NoContacts, 422, "no_contacts"),
        ];
        for (error, status, code) in table {
            let problem = error.problem();
            assert_eq!((problem.status, problem.code.as_str()), (status, code));
            assert_eq!(error.code(), code);
        }
    }
}
