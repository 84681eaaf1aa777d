//! Dead letters of every queue, kept and replayed here (the one place for all services: see
//! docs/decisions.md).
//!
//! The dead-letter consumer stores each message of `attendance.dead-letter` in
//! `sync.dead_letters` and only then acknowledges it. `GET /v1/dead-letters` lists them;
//! `POST /v1/dead-letters/{id}/replay` publishes one back into the queue it died in and marks it
//! replayed in the same transaction, so a second replay of the same id is a 409 and delivers
//! nothing. `/metrics` shows `bridge_dead_letters{queue}`: the dead letters not replayed yet.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpResponse};
use auth::{Caller, Permission};
use bus::DeadLetter;
use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, BigInt, Binary, Nullable, Text, Timestamptz};
use diesel::{OptionalExtension, QueryResult, QueryableByName};
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::json;
use service_kit::{PageQuery, Problem};
use telemetry::prometheus::{opts, IntGaugeVec, Registry};
use tokio::task::JoinHandle;
use utoipa::{IntoParams, ToSchema};

use crate::api::{audit, company_filter, visible};
use crate::runtime::SyncContext;
use crate::store::{status, Conn};

/// How often every replica recounts the dead letters for its gauge (another replica may have
/// stored or replayed some).
const RECOUNT_EVERY: Duration = Duration::from_secs(30);

/// The `bridge_dead_letters{queue}` gauge.
#[derive(Clone)]
pub struct DeadLetterGauge(IntGaugeVec);

impl DeadLetterGauge {
    fn register(registry: &Registry) -> Self {
        let gauge = IntGaugeVec::new(
            opts!(
                "dead_letters",
                "Dead-lettered messages not replayed yet, by the queue they died in"
            ),
            &["queue"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(gauge.clone()))
            .expect("registered once per registry");
        Self(gauge)
    }

    /// Sets the gauge from the table; with Postgres away it keeps its last values.
    async fn recount(&self, pool: &db::Pool) {
        let Ok(mut conn) = db::connection(pool).await else {
            return;
        };
        if let Ok(counts) = counts(&mut conn).await {
            self.0.reset();
            for count in counts {
                self.0
                    .with_label_values(&[count.queue.as_str()])
                    .set(count.count);
            }
        }
    }
}

/// Starts storing dead letters and recounting them; the gauge is for the handlers.
pub fn start(
    shared: &Arc<SyncContext>,
    registry: &Registry,
) -> (
    web::Data<DeadLetterGauge>,
    bus::ConsumerHandle,
    JoinHandle<()>,
) {
    let gauge = DeadLetterGauge::register(registry);
    let consumer = {
        let shared = shared.clone();
        let gauge = gauge.clone();
        bus::spawn_dead_letter_consumer(&shared.broker.clone(), move |dead_letter| {
            let shared = shared.clone();
            let gauge = gauge.clone();
            async move {
                let mut conn = db::connection(&shared.pool)
                    .await
                    .map_err(|e| e.to_string())?;
                let stored = store(&mut conn, &dead_letter, shared.clock.now())
                    .await
                    .map_err(|e| e.to_string())?;
                if stored {
                    tracing::error!(
                        queue = %dead_letter.queue,
                        routing_key = %dead_letter.routing_key,
                        reason = %dead_letter.reason,
                        "dead letter kept for replay"
                    );
                }
                drop(conn);
                gauge.recount(&shared.pool).await;
                Ok(())
            }
        })
    };
    let recount = {
        let pool = shared.pool.clone();
        let gauge = gauge.clone();
        tokio::spawn(async move {
            loop {
                gauge.recount(&pool).await;
                tokio::time::sleep(RECOUNT_EVERY).await;
            }
        })
    };
    (web::Data::new(gauge), consumer, recount)
}

const COLUMNS: &str = "id, queue, routing_key, reason, company_id, message_id, message_type, \
                       traceparent, payload, dead_lettered_at, replayed_at, replayed_by";

#[derive(Debug, Clone, QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    queue: String,
    #[diesel(sql_type = Text)]
    routing_key: String,
    #[diesel(sql_type = Text)]
    reason: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    company_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    message_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    message_type: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    traceparent: Option<String>,
    #[diesel(sql_type = Binary)]
    payload: Vec<u8>,
    #[diesel(sql_type = Timestamptz)]
    dead_lettered_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    replayed_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    replayed_by: Option<String>,
}

impl Row {
    fn dead_letter(&self) -> DeadLetter {
        DeadLetter {
            queue: self.queue.clone(),
            routing_key: self.routing_key.clone(),
            reason: self.reason.clone(),
            message_id: self.message_id.clone(),
            message_type: self.message_type.clone(),
            traceparent: self.traceparent.clone(),
            payload: self.payload.clone(),
        }
    }

    fn view(self) -> DeadLetterView {
        DeadLetterView {
            id: self.id,
            queue: self.queue,
            routing_key: self.routing_key,
            reason: self.reason,
            company_id: self.company_id,
            message_id: self.message_id,
            message_type: self.message_type,
            payload: String::from_utf8_lossy(&self.payload).into_owned(),
            dead_lettered_at: self.dead_lettered_at,
            replayed_at: self.replayed_at,
            replayed_by: self.replayed_by,
        }
    }
}

/// Stores a dead letter; false when it was stored before (a redelivery of the same message).
async fn store(conn: &mut Conn, dead_letter: &DeadLetter, now: DateTime<Utc>) -> QueryResult<bool> {
    let inserted = diesel::sql_query(
        "INSERT INTO sync.dead_letters (queue, routing_key, reason, company_id, message_id, \
           message_type, traceparent, payload, dead_lettered_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
    )
    .bind::<Text, _>(&dead_letter.queue)
    .bind::<Text, _>(&dead_letter.routing_key)
    .bind::<Text, _>(&dead_letter.reason)
    .bind::<Nullable<BigInt>, _>(dead_letter.company_id())
    .bind::<Nullable<Text>, _>(dead_letter.message_id.as_deref())
    .bind::<Nullable<Text>, _>(dead_letter.message_type.as_deref())
    .bind::<Nullable<Text>, _>(dead_letter.traceparent.as_deref())
    .bind::<Binary, _>(&dead_letter.payload)
    .bind::<Timestamptz, _>(now)
    .execute(conn)
    .await?;
    Ok(inserted == 1)
}

#[derive(QueryableByName)]
struct QueueCount {
    #[diesel(sql_type = Text)]
    queue: String,
    #[diesel(sql_type = BigInt)]
    count: i64,
}

async fn counts(conn: &mut Conn) -> QueryResult<Vec<QueueCount>> {
    diesel::sql_query(
        "SELECT queue, count(*) AS count FROM sync.dead_letters WHERE replayed_at IS NULL \
         GROUP BY queue",
    )
    .load(conn)
    .await
}

#[derive(QueryableByName)]
struct Total {
    #[diesel(sql_type = BigInt)]
    total: i64,
}

/// `$1` companies (NULL: all), `$2` queue (NULL: all), `$3` waiting | replayed | all.
const FILTER: &str = "($1::bigint[] IS NULL OR company_id = ANY($1)) \
     AND ($2::text IS NULL OR queue = $2) \
     AND ($3 = 'all' OR ($3 = 'waiting') = (replayed_at IS NULL))";

async fn list(
    conn: &mut Conn,
    company_ids: Option<&[i64]>,
    queue: Option<&str>,
    state: &str,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<Row>, i64)> {
    let rows: Vec<Row> = diesel::sql_query(format!(
        "SELECT {COLUMNS} FROM sync.dead_letters WHERE {FILTER} ORDER BY id LIMIT $4 OFFSET $5"
    ))
    .bind::<Nullable<Array<BigInt>>, _>(company_ids)
    .bind::<Nullable<Text>, _>(queue)
    .bind::<Text, _>(state)
    .bind::<BigInt, _>(limit)
    .bind::<BigInt, _>(offset)
    .load(conn)
    .await?;
    let total: Total = diesel::sql_query(format!(
        "SELECT count(*) AS total FROM sync.dead_letters WHERE {FILTER}"
    ))
    .bind::<Nullable<Array<BigInt>>, _>(company_ids)
    .bind::<Nullable<Text>, _>(queue)
    .bind::<Text, _>(state)
    .get_result(conn)
    .await?;
    Ok((rows, total.total))
}

/// A message that could not be handled, kept until replayed.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterView {
    pub id: i64,
    /// The queue it died in, e.g. `sync.company.7`.
    pub queue: String,
    /// The routing key it was published with.
    pub routing_key: String,
    /// Why: the handler's reason, or RabbitMQ's (`delivery_limit`, `rejected`).
    pub reason: String,
    /// The company it is about, when it is about one.
    pub company_id: Option<i64>,
    pub message_id: Option<String>,
    /// e.g. `punches.ready.v1`.
    pub message_type: Option<String>,
    /// The message body as text.
    pub payload: String,
    pub dead_lettered_at: DateTime<Utc>,
    pub replayed_at: Option<DateTime<Utc>>,
    pub replayed_by: Option<String>,
}

/// A page of dead letters.
#[derive(Serialize, ToSchema)]
pub struct DeadLetterPage {
    pub items: Vec<DeadLetterView>,
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterQuery {
    /// Company id or slug.
    pub company: Option<String>,
    /// The queue they died in, e.g. `sync.company.7`.
    pub queue: Option<String>,
    /// waiting (default: not replayed yet), replayed or all.
    #[param(value_type = Option<crate::openapi::DeadLetterState>)]
    pub state: Option<String>,
}

#[utoipa::path(get, path = "/v1/dead-letters", tag = "dead-letters",
    params(DeadLetterQuery, PageQuery),
    responses((status = 200, body = DeadLetterPage), (status = 401), (status = 403),
        (status = 422, description = "invalid_state: `state` is not waiting, replayed or all")),
    security(("bearer" = [])))]
pub async fn list_dead_letters(
    shared: web::Data<SyncContext>,
    caller: Caller,
    query: web::Query<DeadLetterQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, Problem> {
    caller.require(Permission::RetryBatches)?;
    let state = query.state.as_deref().unwrap_or("waiting");
    if !["waiting", "replayed", "all"].contains(&state) {
        return Err(Problem::unprocessable(
            "invalid_state",
            "state is waiting, replayed or all",
        ));
    }
    let companies = company_filter(&shared, &caller, query.company.as_deref()).await?;
    let mut conn = db::connection(&shared.pool).await?;
    let (rows, total) = list(
        &mut conn,
        companies.as_deref(),
        query.queue.as_deref(),
        state,
        page.offset(),
        page.limit(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(DeadLetterPage {
        items: rows.into_iter().map(Row::view).collect(),
        page: page.page(),
        per_page: page.per_page(),
        total,
    }))
}

#[derive(Debug, thiserror::Error)]
enum ReplayError {
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error("no such dead letter")]
    NotFound,
    #[error("replayed at {0}")]
    AlreadyReplayed(DateTime<Utc>),
    #[error("{0}")]
    Broker(String),
}

impl From<ReplayError> for Problem {
    fn from(error: ReplayError) -> Self {
        match error {
            ReplayError::Query(error) => error.into(),
            ReplayError::NotFound => Problem::not_found("dead letter"),
            ReplayError::AlreadyReplayed(at) => Problem::conflict(
                "already_replayed",
                format!("this dead letter was replayed at {at}"),
            ),
            ReplayError::Broker(error) => Problem::new(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                "broker_unavailable",
                "RabbitMQ did not take the message; nothing was replayed",
            )
            .with_detail({
                tracing::warn!(%error, "a dead letter could not be republished");
                "try again once the broker is back"
            }),
        }
    }
}

#[utoipa::path(post, path = "/v1/dead-letters/{id}/replay", tag = "dead-letters",
    params(("id" = i64, Path, description = "dead letter id")),
    responses((status = 202, body = DeadLetterView), (status = 401), (status = 403),
        (status = 404), (status = 409, description = "replayed before"),
        (status = 503, description = "RabbitMQ did not take it")),
    security(("bearer" = [])))]
pub async fn replay_dead_letter(
    shared: web::Data<SyncContext>,
    gauge: web::Data<DeadLetterGauge>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    caller.require(Permission::RetryBatches)?;
    let id: i64 = path
        .parse()
        .map_err(|_| Problem::not_found("dead letter"))?;
    let visible = visible(&shared, &caller).await?;
    let now = shared.clock.now();
    let mut conn = db::connection(&shared.pool).await?;
    // The row stays locked until the broker confirmed the message, so two replays of one id
    // cannot both publish; a failed publish rolls the mark back.
    let replayed = conn
        .transaction::<_, ReplayError, _>(async |conn| {
            let row: Option<Row> = diesel::sql_query(format!(
                "SELECT {COLUMNS} FROM sync.dead_letters WHERE id = $1 FOR UPDATE"
            ))
            .bind::<BigInt, _>(id)
            .get_result(conn)
            .await
            .optional()?;
            let mut row = row
                .filter(|row| match &visible {
                    None => true,
                    Some(ids) => row.company_id.is_some_and(|c| ids.contains(&c)),
                })
                .ok_or(ReplayError::NotFound)?;
            if let Some(at) = row.replayed_at {
                return Err(ReplayError::AlreadyReplayed(at));
            }
            diesel::sql_query(
                "UPDATE sync.dead_letters SET replayed_at = $2, replayed_by = $3 WHERE id = $1",
            )
            .bind::<BigInt, _>(id)
            .bind::<Timestamptz, _>(now)
            .bind::<Text, _>(caller.sub())
            .execute(conn)
            .await?;
            let event = audit(
                &caller,
                "dead_letter.replayed",
                row.company_id,
                id.to_string(),
                json!({
                    "queue": row.queue,
                    "routing_key": row.routing_key,
                    "message_id": row.message_id,
                    "message_type": row.message_type,
                }),
                now,
            );
            status::enqueue(conn, &event).await?;
            bus::replay(&shared.broker, &row.dead_letter())
                .await
                .map_err(|e| ReplayError::Broker(e.to_string()))?;
            row.replayed_at = Some(now);
            row.replayed_by = Some(caller.sub().to_owned());
            Ok(row)
        })
        .await?;
    drop(conn);
    shared.relay.wake();
    gauge.recount(&shared.pool).await;
    Ok(HttpResponse::Accepted().json(replayed.view()))
}
