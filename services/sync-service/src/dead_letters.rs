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
use diesel::dsl::count_star;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::json;
use service_kit::PageQuery;
use telemetry::prometheus::{opts, IntGaugeVec, Registry};
use tokio::task::JoinHandle;
use utoipa::{IntoParams, ToSchema};

use crate::api::{audit, company_filter, visible};
use crate::errors::DeadLetterError;
use crate::openapi::DeadLetterState;
use crate::runtime::SyncContext;
use crate::schema::dead_letters;
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
        match counts(&mut conn).await {
            Ok(counts) => {
                self.0.reset();
                for (queue, count) in counts {
                    self.0.with_label_values(&[queue.as_str()]).set(count);
                }
            }
            Err(error) => tracing::warn!(%error, "dead letters not recounted"),
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
                let stored = async {
                    let mut conn = db::connection(&shared.pool).await?;
                    let stored = store(&mut conn, &dead_letter, shared.clock.now()).await?;
                    Ok::<_, db::DbError>(stored)
                }
                .await
                // The consumer logs why and leaves the message in the queue.
                .map_err(|e| e.to_string())?;
                if stored {
                    tracing::error!(
                        queue = %dead_letter.queue,
                        routing_key = %dead_letter.routing_key,
                        reason = %dead_letter.reason,
                        "dead letter kept for replay"
                    );
                }
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

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = dead_letters)]
struct Row {
    id: i64,
    queue: String,
    routing_key: String,
    reason: String,
    company_id: Option<i64>,
    message_id: Option<String>,
    message_type: Option<String>,
    traceparent: Option<String>,
    payload: Vec<u8>,
    dead_lettered_at: DateTime<Utc>,
    replayed_at: Option<DateTime<Utc>>,
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
    // No conflict target: the one that applies, `dead_letters_waiting_once`, is a partial index
    // over an expression, which `ON CONFLICT (columns)` cannot name.
    let inserted = diesel::insert_into(dead_letters::table)
        .values((
            dead_letters::queue.eq(&dead_letter.queue),
            dead_letters::routing_key.eq(&dead_letter.routing_key),
            dead_letters::reason.eq(&dead_letter.reason),
            dead_letters::company_id.eq(dead_letter.company_id()),
            dead_letters::message_id.eq(dead_letter.message_id.as_deref()),
            dead_letters::message_type.eq(dead_letter.message_type.as_deref()),
            dead_letters::traceparent.eq(dead_letter.traceparent.as_deref()),
            dead_letters::payload.eq(&dead_letter.payload),
            dead_letters::dead_lettered_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

/// The dead letters not replayed yet, by the queue they died in.
async fn counts(conn: &mut Conn) -> QueryResult<Vec<(String, i64)>> {
    dead_letters::table
        .filter(dead_letters::replayed_at.is_null())
        .group_by(dead_letters::queue)
        .select((dead_letters::queue, count_star()))
        .load(conn)
        .await
}

/// The dead letters of these companies (`None`: all), of this queue (`None`: all) and in this
/// state, for a page and for the total.
fn filtered<'a>(
    company_ids: Option<&'a [i64]>,
    queue: Option<&'a str>,
    state: DeadLetterState,
) -> dead_letters::BoxedQuery<'a, Pg> {
    let mut query = dead_letters::table.into_boxed();
    if let Some(company_ids) = company_ids {
        // A dead letter of no company is of none of them: `NULL = ANY(…)` is not true.
        query = query.filter(
            dead_letters::company_id
                .assume_not_null()
                .eq_any(company_ids),
        );
    }
    if let Some(queue) = queue {
        query = query.filter(dead_letters::queue.eq(queue));
    }
    match state {
        DeadLetterState::Waiting => query.filter(dead_letters::replayed_at.is_null()),
        DeadLetterState::Replayed => query.filter(dead_letters::replayed_at.is_not_null()),
        DeadLetterState::All => query,
    }
}

async fn list(
    conn: &mut Conn,
    company_ids: Option<&[i64]>,
    queue: Option<&str>,
    state: DeadLetterState,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<Row>, i64)> {
    let rows = filtered(company_ids, queue, state)
        .order(dead_letters::id)
        .limit(limit)
        .offset(offset)
        .select(Row::as_select())
        .load(conn)
        .await?;
    let total = filtered(company_ids, queue, state)
        .count()
        .get_result(conn)
        .await?;
    Ok((rows, total))
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
) -> Result<HttpResponse, DeadLetterError> {
    caller.require(Permission::RetryBatches)?;
    let state = match query.state.as_deref() {
        None => DeadLetterState::Waiting,
        Some(state) => state.parse().map_err(|_| DeadLetterError::InvalidState)?,
    };
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
) -> Result<HttpResponse, DeadLetterError> {
    caller.require(Permission::RetryBatches)?;
    let id: i64 = path
        .parse()
        .map_err(|_| DeadLetterError::NoSuchDeadLetter)?;
    let visible = visible(&shared, &caller).await?;
    let now = shared.clock.now();
    let mut conn = db::connection(&shared.pool).await?;
    // The row stays locked until the broker confirmed the message, so two replays of one id
    // cannot both publish; a failed publish rolls the mark back.
    let replayed = conn
        .transaction::<_, DeadLetterError, _>(async |conn| {
            let row: Option<Row> = dead_letters::table
                .find(id)
                .select(Row::as_select())
                .for_update()
                .get_result(conn)
                .await
                .optional()?;
            let mut row = row
                .filter(|row| match &visible {
                    None => true,
                    Some(ids) => row.company_id.is_some_and(|c| ids.contains(&c)),
                })
                .ok_or(DeadLetterError::NoSuchDeadLetter)?;
            if let Some(at) = row.replayed_at {
                return Err(DeadLetterError::AlreadyReplayed(at));
            }
            diesel::update(dead_letters::table.find(id))
                .set((
                    dead_letters::replayed_at.eq(now),
                    dead_letters::replayed_by.eq(caller.sub()),
                ))
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
                .map_err(DeadLetterError::BrokerUnavailable)?;
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

#[cfg(test)]
mod tests {
    use diesel_async::AsyncConnection;
    use test_support::TestDb;

    use super::*;

    async fn migrated() -> (TestDb, Conn) {
        let db = TestDb::create().await;
        db::run_migrations(db.url(), crate::SCHEMA, crate::MIGRATIONS)
            .await
            .expect("migrate");
        let conn = Conn::establish(db.url()).await.expect("connect");
        (db, conn)
    }

    fn dead_letter(queue: &str, message_id: &str) -> DeadLetter {
        DeadLetter {
            queue: queue.to_owned(),
            routing_key: "company.7.ready".to_owned(),
            reason: "delivery_limit".to_owned(),
            message_id: Some(message_id.to_owned()),
            message_type: Some("punches.ready.v1".to_owned()),
            traceparent: None,
            payload: br#"{"batch_id":"b"}"#.to_vec(),
        }
    }

    /// Ids of a listed page, and the total.
    async fn listed(
        conn: &mut Conn,
        company_ids: Option<&[i64]>,
        queue: Option<&str>,
        state: DeadLetterState,
    ) -> (Vec<i64>, i64) {
        let (rows, total) = list(conn, company_ids, queue, state, 0, 10)
            .await
            .expect("list");
        (rows.into_iter().map(|row| row.id).collect(), total)
    }

    #[tokio::test]
    async fn dead_letters_are_kept_once_counted_while_waiting_and_listed_by_company_queue_and_state(
    ) {
        let (_db, mut conn) = migrated().await;
        let now = Utc::now();
        // Company 7 from its queue; the import queue's letter is of no company.
        assert!(store(&mut conn, &dead_letter("sync.company.7", "m1"), now)
            .await
            .expect("store"));
        assert!(
            !store(&mut conn, &dead_letter("sync.company.7", "m1"), now)
                .await
                .expect("store again"),
            "a redelivered dead letter is kept once"
        );
        let mut unowned = dead_letter("import.work", "m2");
        unowned.routing_key = "import.requested".to_owned();
        assert!(store(&mut conn, &unowned, now).await.expect("store"));
        assert!(store(&mut conn, &dead_letter("sync.company.7", "m3"), now)
            .await
            .expect("store"));

        let (all, total) = listed(&mut conn, None, None, DeadLetterState::Waiting).await;
        assert_eq!((all.len(), total), (3, 3));
        let (first, second, third) = (all[0], all[1], all[2]);
        let (rows, _) = list(&mut conn, None, None, DeadLetterState::All, 0, 1)
            .await
            .expect("list");
        let row = rows.into_iter().next().expect("a row");
        assert_eq!(row.company_id, Some(7));
        assert_eq!(row.dead_letter().payload, br#"{"batch_id":"b"}"#);
        assert_eq!(
            listed(&mut conn, Some(&[7]), None, DeadLetterState::Waiting).await,
            (vec![first, third], 2),
            "a dead letter of no company is of none of the token's"
        );
        assert_eq!(
            listed(&mut conn, Some(&[8]), None, DeadLetterState::Waiting).await,
            (vec![], 0)
        );
        assert_eq!(
            listed(&mut conn, None, Some("import.work"), DeadLetterState::All).await,
            (vec![second], 1)
        );
        let mut counted = counts(&mut conn).await.expect("counts");
        counted.sort();
        assert_eq!(
            counted,
            [
                ("import.work".to_owned(), 1),
                ("sync.company.7".to_owned(), 2)
            ]
        );

        // Replayed: out of the waiting ones and of the counts, in the replayed ones.
        diesel::update(dead_letters::table.find(first))
            .set((
                dead_letters::replayed_at.eq(now),
                dead_letters::replayed_by.eq("ops"),
            ))
            .execute(&mut conn)
            .await
            .expect("mark replayed");
        assert_eq!(
            listed(&mut conn, None, None, DeadLetterState::Waiting).await,
            (vec![second, third], 2)
        );
        assert_eq!(
            listed(&mut conn, None, None, DeadLetterState::Replayed).await,
            (vec![first], 1)
        );
        assert_eq!(
            listed(&mut conn, None, None, DeadLetterState::All).await.1,
            3
        );
        let mut counted = counts(&mut conn).await.expect("counts");
        counted.sort();
        assert_eq!(
            counted,
            [
                ("import.work".to_owned(), 1),
                ("sync.company.7".to_owned(), 1)
            ]
        );
        // Once the first is replayed, the same message dying again is kept anew.
        assert!(store(&mut conn, &dead_letter("sync.company.7", "m1"), now)
            .await
            .expect("store after replay"));
    }

    #[test]
    fn the_state_filter_takes_its_three_words_only() {
        for (word, state) in [
            ("waiting", DeadLetterState::Waiting),
            ("replayed", DeadLetterState::Replayed),
            ("all", DeadLetterState::All),
        ] {
            assert_eq!(word.parse::<DeadLetterState>(), Ok(state));
        }
        for word in ["", "Waiting", "replay", "none"] {
            assert!(word.parse::<DeadLetterState>().is_err(), "{word}");
        }
    }
}
