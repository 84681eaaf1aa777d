//! Webhook endpoints, their signing secrets, the messages queued for them (the webhooks' outbox)
//! and every attempt to send one.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Timestamptz};
use diesel_async::RunQueryDsl;
use domain::BridgeEventV1;
use uuid::Uuid;

use super::{Conn, QueryResult};
use crate::schema::{webhook_attempts, webhook_endpoints, webhook_messages, webhook_secrets};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = webhook_endpoints)]
pub struct Endpoint {
    pub id: i64,
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub company_ids: Option<Vec<i64>>,
    pub owner: String,
    pub owner_email: Option<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = webhook_endpoints)]
pub struct NewEndpoint<'a> {
    pub url: &'a str,
    pub description: &'a str,
    pub event_types: &'a [String],
    pub company_ids: Option<&'a [i64]>,
    pub owner: &'a str,
    pub owner_email: Option<&'a str>,
}

/// The fields a PATCH may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = webhook_endpoints)]
pub struct EndpointChanges {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub company_ids: Option<Option<Vec<i64>>>,
    pub owner_email: Option<Option<String>>,
    pub enabled: Option<bool>,
    pub disabled_reason: Option<Option<String>>,
    pub failing_since: Option<Option<DateTime<Utc>>>,
}

pub async fn insert_endpoint(conn: &mut Conn, new: &NewEndpoint<'_>) -> QueryResult<Endpoint> {
    diesel::insert_into(webhook_endpoints::table)
        .values(new)
        .returning(Endpoint::as_returning())
        .get_result(conn)
        .await
}

/// Every endpoint, oldest first.
pub async fn endpoints(conn: &mut Conn) -> QueryResult<Vec<Endpoint>> {
    webhook_endpoints::table
        .select(Endpoint::as_select())
        .order(webhook_endpoints::id)
        .load(conn)
        .await
}

/// One endpoint, locked for the caller's transaction.
pub async fn find_endpoint_for_update(conn: &mut Conn, id: i64) -> QueryResult<Option<Endpoint>> {
    webhook_endpoints::table
        .find(id)
        .select(Endpoint::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

pub async fn find_endpoint(conn: &mut Conn, id: i64) -> QueryResult<Option<Endpoint>> {
    webhook_endpoints::table
        .find(id)
        .select(Endpoint::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn update_endpoint(
    conn: &mut Conn,
    id: i64,
    changes: &EndpointChanges,
) -> QueryResult<Endpoint> {
    diesel::update(webhook_endpoints::table.find(id))
        .set((changes, webhook_endpoints::updated_at.eq(diesel::dsl::now)))
        .returning(Endpoint::as_returning())
        .get_result(conn)
        .await
}

/// Deletes an endpoint with its secrets, messages and attempts.
pub async fn delete_endpoint(conn: &mut Conn, id: i64) -> QueryResult<()> {
    diesel::delete(webhook_endpoints::table.find(id))
        .execute(conn)
        .await
        .map(drop)
}

/// Stores a secret (already encrypted) of an endpoint.
pub async fn add_secret(conn: &mut Conn, endpoint_id: i64, encrypted: &str) -> QueryResult<()> {
    diesel::insert_into(webhook_secrets::table)
        .values((
            webhook_secrets::endpoint_id.eq(endpoint_id),
            webhook_secrets::secret.eq(encrypted),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Lets every secret of the endpoint not yet expiring expire at `at`: what a rotation does to the
/// secrets it replaces.
pub async fn expire_secrets(
    conn: &mut Conn,
    endpoint_id: i64,
    at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(
        webhook_secrets::table
            .filter(webhook_secrets::endpoint_id.eq(endpoint_id))
            .filter(
                webhook_secrets::expires_at
                    .is_null()
                    .or(webhook_secrets::expires_at.gt(at)),
            ),
    )
    .set(webhook_secrets::expires_at.eq(at))
    .execute(conn)
    .await
    .map(drop)
}

/// Every stored secret: (id, endpoint, ciphertext), for re-encryption under a new master key.
pub async fn all_secrets(conn: &mut Conn) -> QueryResult<Vec<(i64, i64, String)>> {
    webhook_secrets::table
        .select((
            webhook_secrets::id,
            webhook_secrets::endpoint_id,
            webhook_secrets::secret,
        ))
        .order(webhook_secrets::id)
        .load(conn)
        .await
}

/// Writes a secret's new ciphertext if it still holds `old`; returns how many rows changed.
pub async fn replace_secret(conn: &mut Conn, id: i64, old: &str, new: &str) -> QueryResult<usize> {
    diesel::update(
        webhook_secrets::table
            .find(id)
            .filter(webhook_secrets::secret.eq(old)),
    )
    .set(webhook_secrets::secret.eq(new))
    .execute(conn)
    .await
}

/// The encrypted secrets that sign for these endpoints at `now`: (endpoint, secret), newest first.
pub async fn active_secrets(
    conn: &mut Conn,
    endpoint_ids: &[i64],
    now: DateTime<Utc>,
) -> QueryResult<Vec<(i64, String)>> {
    webhook_secrets::table
        .filter(webhook_secrets::endpoint_id.eq_any(endpoint_ids))
        .filter(
            webhook_secrets::expires_at
                .is_null()
                .or(webhook_secrets::expires_at.gt(now)),
        )
        .order(webhook_secrets::id.desc())
        .select((webhook_secrets::endpoint_id, webhook_secrets::secret))
        .load(conn)
        .await
}

/// Queues an event for every enabled endpoint that wants its type and its company, in one
/// statement; an event already queued for an endpoint is not queued twice. Returns how many
/// messages were queued.
pub async fn queue_event(conn: &mut Conn, event: &BridgeEventV1) -> QueryResult<usize> {
    let event_type = event.event.type_name();
    let payload = webhooks::Payload::of(event).to_body();
    let company_id = event.company_id.map(|company| company.0);
    let wanted = webhook_endpoints::table
        .filter(webhook_endpoints::enabled)
        .filter(webhook_endpoints::event_types.contains(vec![event_type.to_owned()]))
        .into_boxed();
    // An endpoint limited to some companies gets only events of those companies.
    let wanted = match company_id {
        Some(company) => wanted.filter(
            webhook_endpoints::company_ids
                .is_null()
                .or(webhook_endpoints::company_ids.contains(vec![company])),
        ),
        None => wanted.filter(webhook_endpoints::company_ids.is_null()),
    };
    let rows = wanted.select((
        webhook_endpoints::id,
        event.event_id.into_sql::<diesel::sql_types::Uuid>(),
        event_type.into_sql::<diesel::sql_types::Text>(),
        company_id.into_sql::<diesel::sql_types::Nullable<BigInt>>(),
        payload.into_sql::<diesel::sql_types::Text>(),
    ));
    diesel::insert_into(webhook_messages::table)
        .values(rows)
        .into_columns((
            webhook_messages::endpoint_id,
            webhook_messages::event_id,
            webhook_messages::event_type,
            webhook_messages::company_id,
            webhook_messages::payload,
        ))
        .on_conflict((webhook_messages::endpoint_id, webhook_messages::event_id))
        .do_nothing()
        .execute(conn)
        .await
}

/// A message claimed for one attempt.
#[derive(Debug, Clone, QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub endpoint_id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub url: String,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub event_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub payload: String,
    /// Attempts made before this one since it was queued or replayed.
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    /// Whether this attempt was asked for by a replay.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub replay_pending: bool,
}

/// Claims up to `limit` messages due at `now` that are first in line for their endpoint and
/// company (an earlier message not yet delivered or given up holds the later ones back, so each
/// endpoint hears of a company's events in order), of enabled endpoints. A claim moves
/// `next_attempt_at` on by `lease`: should this process stop during the attempt, the message is
/// due again once the lease is over, and no other replica takes it before.
pub async fn claim_due(
    conn: &mut Conn,
    now: DateTime<Utc>,
    lease: std::time::Duration,
    limit: i64,
) -> QueryResult<Vec<Claimed>> {
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    diesel::sql_query(
        "WITH due AS ( \
           SELECT m.id FROM config.webhook_messages m \
             JOIN config.webhook_endpoints e ON e.id = m.endpoint_id AND e.enabled \
            WHERE m.state = 'pending' AND m.next_attempt_at <= $1 \
              AND NOT EXISTS ( \
                SELECT 1 FROM config.webhook_messages earlier \
                 WHERE earlier.endpoint_id = m.endpoint_id \
                   AND earlier.company_id IS NOT DISTINCT FROM m.company_id \
                   AND earlier.state = 'pending' AND earlier.id < m.id) \
            ORDER BY m.next_attempt_at, m.id \
            LIMIT $3 \
            FOR UPDATE OF m SKIP LOCKED) \
         UPDATE config.webhook_messages m \
            SET next_attempt_at = $1 + make_interval(secs => $2 / 1000.0) \
           FROM due, config.webhook_endpoints e \
          WHERE m.id = due.id AND e.id = m.endpoint_id \
      RETURNING m.id, m.endpoint_id, e.url, m.event_id, m.payload, m.attempts, m.replay_pending",
    )
    .bind::<Timestamptz, _>(now)
    .bind::<BigInt, _>(lease_ms)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub message_id: i64,
    pub attempted_at: DateTime<Utc>,
    /// The receiver's status, when it answered.
    pub status: Option<i32>,
    pub latency_ms: i32,
    /// Why it failed; None when the receiver answered 2xx.
    pub error: Option<String>,
}

impl Attempt {
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }
}

/// The state a message is left in after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAttempt {
    Delivered,
    /// Tried again at this time.
    RetryAt(DateTime<Utc>),
    /// Its retries ran out.
    GivenUp,
}

/// Logs an attempt (`replay`: asked for by a replay) and moves its message on.
pub async fn record_attempt(
    conn: &mut Conn,
    attempt: &Attempt,
    after: AfterAttempt,
    replay: bool,
) -> QueryResult<()> {
    diesel::insert_into(webhook_attempts::table)
        .values((
            webhook_attempts::message_id.eq(attempt.message_id),
            webhook_attempts::attempted_at.eq(attempt.attempted_at),
            webhook_attempts::status.eq(attempt.status),
            webhook_attempts::latency_ms.eq(attempt.latency_ms),
            webhook_attempts::error.eq(&attempt.error),
            webhook_attempts::replay.eq(replay),
        ))
        .execute(conn)
        .await?;
    let message = webhook_messages::table.find(attempt.message_id);
    let common = (
        webhook_messages::attempts.eq(webhook_messages::attempts + 1),
        webhook_messages::last_status.eq(attempt.status),
        webhook_messages::last_error.eq(&attempt.error),
        webhook_messages::replay_pending.eq(false),
    );
    match after {
        AfterAttempt::Delivered => {
            diesel::update(message)
                .set((
                    common,
                    webhook_messages::state.eq("delivered"),
                    webhook_messages::delivered_at.eq(attempt.attempted_at),
                ))
                .execute(conn)
                .await?
        }
        AfterAttempt::RetryAt(at) => {
            diesel::update(message)
                .set((common, webhook_messages::next_attempt_at.eq(at)))
                .execute(conn)
                .await?
        }
        AfterAttempt::GivenUp => {
            diesel::update(message)
                .set((common, webhook_messages::state.eq("failed")))
                .execute(conn)
                .await?
        }
    };
    Ok(())
}

/// Marks an endpoint as answering (clears `failing_since`) or failing since `at` (kept when it
/// was already failing); returns since when it has been failing, if it is.
pub async fn note_endpoint_health(
    conn: &mut Conn,
    endpoint_id: i64,
    failed_at: Option<DateTime<Utc>>,
) -> QueryResult<Option<DateTime<Utc>>> {
    let endpoint = webhook_endpoints::table.find(endpoint_id);
    match failed_at {
        None => diesel::update(endpoint.filter(webhook_endpoints::failing_since.is_not_null()))
            .set(webhook_endpoints::failing_since.eq(None::<DateTime<Utc>>))
            .execute(conn)
            .await
            .map(|_| None),
        Some(at) => diesel::update(endpoint)
            .set(
                webhook_endpoints::failing_since.eq(diesel::dsl::sql::<
                    diesel::sql_types::Nullable<Timestamptz>,
                >("coalesce(failing_since, ")
                .bind::<Timestamptz, _>(at)
                .sql(")")),
            )
            .returning(webhook_endpoints::failing_since)
            .get_result(conn)
            .await
            .optional()
            .map(Option::flatten),
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = webhook_messages)]
pub struct Message {
    pub id: i64,
    pub endpoint_id: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub company_id: Option<i64>,
    pub payload: String,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub replay_pending: bool,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = webhook_attempts)]
pub struct AttemptRow {
    pub id: i64,
    pub message_id: i64,
    pub attempted_at: DateTime<Utc>,
    pub status: Option<i32>,
    pub latency_ms: i32,
    pub error: Option<String>,
    pub replay: bool,
}

/// A page of an endpoint's messages, newest first, those of `companies` only when given, with
/// id below `before` when given; and their attempts, oldest first.
pub async fn message_log(
    conn: &mut Conn,
    endpoint_id: i64,
    companies: Option<&[i64]>,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<(Message, Vec<AttemptRow>)>> {
    let mut query = webhook_messages::table
        .filter(webhook_messages::endpoint_id.eq(endpoint_id))
        .into_boxed();
    if let Some(companies) = companies {
        query = query.filter(webhook_messages::company_id.eq_any(companies.to_vec()));
    }
    if let Some(before) = before {
        query = query.filter(webhook_messages::id.lt(before));
    }
    let messages: Vec<Message> = query
        .order(webhook_messages::id.desc())
        .limit(limit)
        .select(Message::as_select())
        .load(conn)
        .await?;
    let ids: Vec<i64> = messages.iter().map(|message| message.id).collect();
    let attempts: Vec<AttemptRow> = webhook_attempts::table
        .filter(webhook_attempts::message_id.eq_any(&ids))
        .order(webhook_attempts::id)
        .select(AttemptRow::as_select())
        .load(conn)
        .await?;
    Ok(messages
        .into_iter()
        .map(|message| {
            let of_message = attempts
                .iter()
                .filter(|attempt| attempt.message_id == message.id)
                .cloned()
                .collect();
            (message, of_message)
        })
        .collect())
}

pub async fn find_message(
    conn: &mut Conn,
    endpoint_id: i64,
    message_id: i64,
) -> QueryResult<Option<Message>> {
    webhook_messages::table
        .find(message_id)
        .filter(webhook_messages::endpoint_id.eq(endpoint_id))
        .select(Message::as_select())
        .first(conn)
        .await
        .optional()
}

/// Sends a message again as soon as the sender gets to it, with a fresh retry schedule; its
/// earlier attempts stay in the log. The next attempt is logged as a replay.
pub async fn replay(conn: &mut Conn, message_id: i64, now: DateTime<Utc>) -> QueryResult<Message> {
    diesel::update(webhook_messages::table.find(message_id))
        .set((
            webhook_messages::state.eq("pending"),
            webhook_messages::attempts.eq(0),
            webhook_messages::next_attempt_at.eq(now),
            webhook_messages::replay_pending.eq(true),
        ))
        .returning(Message::as_returning())
        .get_result(conn)
        .await
}
