//! Notification contacts, the mail queue (one row per contact per event) and one-off mails.

use chrono::{DateTime, Utc};
use diesel::dsl::{exists, not};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Jsonb, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use super::{Conn, QueryResult};
use crate::schema::{direct_mails, notification_contacts, notification_mails};

/// A contact: who is mailed about which events of a company, in which language.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = notification_contacts)]
pub struct Contact {
    pub id: i64,
    pub company_id: i64,
    pub email: String,
    pub language: String,
    pub event_types: Vec<String>,
    pub last_mailed_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Failures in a row that may pass, and when the mailer tries again.
    pub failures: i32,
    pub retry_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = notification_contacts)]
pub struct NewContact<'a> {
    pub company_id: i64,
    pub email: &'a str,
    pub language: &'a str,
    pub event_types: &'a [String],
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = notification_contacts)]
pub struct ContactChanges {
    pub email: Option<String>,
    pub language: Option<String>,
    pub event_types: Option<Vec<String>>,
}

impl ContactChanges {
    pub fn is_empty(&self) -> bool {
        self.email.is_none() && self.language.is_none() && self.event_types.is_none()
    }
}

/// The company's contacts, oldest first.
pub async fn list(conn: &mut Conn, company_id: i64) -> QueryResult<Vec<Contact>> {
    notification_contacts::table
        .filter(notification_contacts::company_id.eq(company_id))
        .select(Contact::as_select())
        .order(notification_contacts::id.asc())
        .load(conn)
        .await
}

/// Adds a contact; a unique violation when the company has the address already (any case).
/// How many events wait for each contact's next mail, of the company's contacts that have any.
pub async fn waiting(
    conn: &mut Conn,
    company_id: i64,
) -> QueryResult<std::collections::HashMap<i64, i64>> {
    let counts: Vec<(i64, i64)> = notification_mails::table
        .inner_join(notification_contacts::table)
        .filter(notification_contacts::company_id.eq(company_id))
        .filter(notification_mails::done_at.is_null())
        .group_by(notification_mails::contact_id)
        .select((notification_mails::contact_id, diesel::dsl::count_star()))
        .load(conn)
        .await?;
    Ok(counts.into_iter().collect())
}

pub async fn insert(conn: &mut Conn, new: &NewContact<'_>) -> QueryResult<Contact> {
    diesel::insert_into(notification_contacts::table)
        .values(new)
        .returning(Contact::as_returning())
        .get_result(conn)
        .await
}

/// The company's contact `id`, locked for a change.
pub async fn find_for_update(
    conn: &mut Conn,
    company_id: i64,
    id: i64,
) -> QueryResult<Option<Contact>> {
    notification_contacts::table
        .filter(notification_contacts::company_id.eq(company_id))
        .filter(notification_contacts::id.eq(id))
        .select(Contact::as_select())
        .for_no_key_update()
        .first(conn)
        .await
        .optional()
}

/// Applies `changes` to the company's contact `id`; None when it has no such contact.
pub async fn update(
    conn: &mut Conn,
    company_id: i64,
    id: i64,
    changes: &ContactChanges,
) -> QueryResult<Option<Contact>> {
    diesel::update(
        notification_contacts::table
            .filter(notification_contacts::company_id.eq(company_id))
            .filter(notification_contacts::id.eq(id)),
    )
    .set((
        changes,
        notification_contacts::updated_at.eq(diesel::dsl::now),
    ))
    .returning(Contact::as_returning())
    .get_result(conn)
    .await
    .optional()
}

/// Removes the company's contact `id` (and its queued mail); None when it has no such contact.
pub async fn delete(conn: &mut Conn, company_id: i64, id: i64) -> QueryResult<Option<Contact>> {
    diesel::delete(
        notification_contacts::table
            .filter(notification_contacts::company_id.eq(company_id))
            .filter(notification_contacts::id.eq(id)),
    )
    .returning(Contact::as_returning())
    .get_result(conn)
    .await
    .optional()
}

/// Queues an event for every contact of `company_id` who gets its type: one statement. A contact
/// that has the event already (a message delivered or published again) keeps its one row.
pub async fn queue_event(
    conn: &mut Conn,
    company_id: i64,
    event_id: Uuid,
    event_type: &str,
    occurred_at: DateTime<Utc>,
    event: &serde_json::Value,
) -> QueryResult<usize> {
    diesel::sql_query(
        "INSERT INTO config.notification_mails (contact_id, event_id, event_type, occurred_at, event) \
         SELECT id, $2, $3, $4, $5 FROM config.notification_contacts \
          WHERE company_id = $1 AND $3 = ANY (event_types) \
         ON CONFLICT (contact_id, event_id) DO NOTHING",
    )
    .bind::<BigInt, _>(company_id)
    .bind::<SqlUuid, _>(event_id)
    .bind::<Text, _>(event_type)
    .bind::<Timestamptz, _>(occurred_at)
    .bind::<Jsonb, _>(event)
    .execute(conn)
    .await
}

/// A contact with queued mail whose digest window is over, locked (`FOR NO KEY UPDATE SKIP
/// LOCKED`) until the transaction ends, so another replica takes another contact and events
/// keep being queued for it meanwhile. `skip`: contacts this pass already tried.
pub async fn claim_due_contact(
    conn: &mut Conn,
    window_started: DateTime<Utc>,
    now: DateTime<Utc>,
    skip: &[i64],
) -> QueryResult<Option<Contact>> {
    use notification_contacts as c;
    use notification_mails as m;
    c::table
        .filter(
            c::last_mailed_at
                .is_null()
                .or(c::last_mailed_at.le(window_started)),
        )
        .filter(c::retry_at.is_null().or(c::retry_at.le(now)))
        .filter(not(c::id.eq_any(skip)))
        .filter(exists(
            m::table
                .filter(m::contact_id.eq(c::id))
                .filter(m::done_at.is_null()),
        ))
        .order((c::last_mailed_at.asc().nulls_first(), c::id.asc()))
        .select(Contact::as_select())
        .for_no_key_update()
        .skip_locked()
        .first(conn)
        .await
        .optional()
}

/// A queued event of a contact.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = notification_mails)]
pub struct QueuedMail {
    pub id: i64,
    pub event_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub event: serde_json::Value,
}

/// The contact's queued events, oldest first, at most `limit`.
pub async fn undone_mails(
    conn: &mut Conn,
    contact_id: i64,
    limit: i64,
) -> QueryResult<Vec<QueuedMail>> {
    notification_mails::table
        .filter(notification_mails::contact_id.eq(contact_id))
        .filter(notification_mails::done_at.is_null())
        .order((
            notification_mails::occurred_at.asc(),
            notification_mails::id.asc(),
        ))
        .limit(limit)
        .select(QueuedMail::as_select())
        .load(conn)
        .await
}

/// Marks queued events done: mailed, or given up with `error`.
pub async fn mark_done(conn: &mut Conn, ids: &[i64], error: Option<&str>) -> QueryResult<usize> {
    diesel::update(notification_mails::table.filter(notification_mails::id.eq_any(ids)))
        .set((
            notification_mails::done_at.eq(diesel::dsl::now),
            notification_mails::error.eq(error),
        ))
        .execute(conn)
        .await
}

/// The contact was mailed `at`: its digest window starts, and any failure is forgotten.
pub async fn record_mailed(conn: &mut Conn, contact_id: i64, at: DateTime<Utc>) -> QueryResult<()> {
    diesel::update(notification_contacts::table.find(contact_id))
        .set((
            notification_contacts::last_mailed_at.eq(at),
            notification_contacts::last_error.eq(None::<String>),
            notification_contacts::failures.eq(0),
            notification_contacts::retry_at.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Mailing the contact failed: why, and when to try again (None: not before new events, as
/// for a refusal that would repeat).
pub async fn record_failure(
    conn: &mut Conn,
    contact_id: i64,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> QueryResult<()> {
    diesel::update(notification_contacts::table.find(contact_id))
        .set((
            notification_contacts::last_error.eq(error),
            notification_contacts::failures.eq(notification_contacts::failures + 1),
            notification_contacts::retry_at.eq(retry_at),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// A one-off mail to an address.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = direct_mails)]
pub struct DirectMail {
    pub id: i64,
    pub email: String,
    pub kind: String,
    pub details: serde_json::Value,
    pub attempts: i32,
}

/// Queues a one-off mail.
pub async fn insert_direct(
    conn: &mut Conn,
    email: &str,
    kind: &str,
    details: &serde_json::Value,
) -> QueryResult<()> {
    diesel::insert_into(direct_mails::table)
        .values((
            direct_mails::email.eq(email),
            direct_mails::kind.eq(kind),
            direct_mails::details.eq(details),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// A due one-off mail, locked until the transaction ends (`FOR UPDATE SKIP LOCKED`).
pub async fn claim_due_direct(
    conn: &mut Conn,
    now: DateTime<Utc>,
    skip: &[i64],
) -> QueryResult<Option<DirectMail>> {
    direct_mails::table
        .filter(direct_mails::done_at.is_null())
        .filter(direct_mails::next_attempt_at.le(now))
        .filter(not(direct_mails::id.eq_any(skip)))
        .order(direct_mails::id.asc())
        .select(DirectMail::as_select())
        .for_update()
        .skip_locked()
        .first(conn)
        .await
        .optional()
}

/// The one-off mail went out, or was given up (`error`).
pub async fn finish_direct(conn: &mut Conn, id: i64, error: Option<&str>) -> QueryResult<()> {
    diesel::update(direct_mails::table.find(id))
        .set((
            direct_mails::done_at.eq(diesel::dsl::now),
            direct_mails::attempts.eq(direct_mails::attempts + 1),
            direct_mails::last_error.eq(error),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// The one-off mail failed for now; it is tried again at `next_attempt_at`.
pub async fn retry_direct(
    conn: &mut Conn,
    id: i64,
    error: &str,
    next_attempt_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(direct_mails::table.find(id))
        .set((
            direct_mails::attempts.eq(direct_mails::attempts + 1),
            direct_mails::last_error.eq(error),
            direct_mails::next_attempt_at.eq(next_attempt_at),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// What a retention pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub mails: usize,
    pub direct: usize,
}

/// Deletes queued mail done before `done_before`, and mail never done that was queued before
/// `queued_before` (no SMTP server, or none that took it for that long).
pub async fn prune(
    conn: &mut Conn,
    done_before: DateTime<Utc>,
    queued_before: DateTime<Utc>,
) -> QueryResult<Pruned> {
    let mails = diesel::delete(
        notification_mails::table.filter(
            notification_mails::done_at
                .lt(done_before)
                .or(notification_mails::done_at
                    .is_null()
                    .and(notification_mails::created_at.lt(queued_before))),
        ),
    )
    .execute(conn)
    .await?;
    let direct = diesel::delete(
        direct_mails::table.filter(
            direct_mails::done_at
                .lt(done_before)
                .or(direct_mails::done_at
                    .is_null()
                    .and(direct_mails::created_at.lt(queued_before))),
        ),
    )
    .execute(conn)
    .await?;
    Ok(Pruned { mails, direct })
}
