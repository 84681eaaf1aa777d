//! The retention pass against a real `sync` schema: what it deletes, what it keeps, and that it
//! deletes more than one chunk. Rows are written with their ages directly.

use diesel::sql_types::{BigInt, Nullable, Text, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use sync_service::retention::{run_once, Limits, Removed};
use sync_service::settings::RetentionSettings;
use sync_service::store::batches;
use sync_service::Clock;
use test_support::TestDb;
use uuid::Uuid;

const COMPANY: i64 = 7;

async fn migrated() -> (TestDb, db::Pool) {
    let test_db = TestDb::create().await;
    db::run_migrations(
        test_db.url(),
        sync_service::SCHEMA,
        sync_service::MIGRATIONS,
    )
    .await
    .unwrap();
    let pool = db::pool(test_db.url(), 2).unwrap();
    (test_db, pool)
}

/// A batch with `status`, completed `completed` ago (never when `None`) and last moved then (or
/// when created, `age` ago).
async fn batch(
    conn: &mut AsyncPgConnection,
    status: &str,
    age: &str,
    completed: Option<&str>,
) -> Uuid {
    let id = Uuid::now_v7();
    diesel::sql_query(
        "INSERT INTO sync.sync_batches (id, company_id, import_id, status, created_at, \
           completed_at, updated_at) \
         VALUES ($1, $2, 1, $3, now() - $4::interval, now() - $5::interval, \
           now() - COALESCE($5, $4)::interval)",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<BigInt, _>(COMPANY)
    .bind::<Text, _>(status)
    .bind::<Text, _>(age)
    .bind::<Nullable<Text>, _>(completed)
    .execute(conn)
    .await
    .unwrap();
    id
}

/// `count` deliveries of `batch_id` from punch id `first` on, in `state`, last changed `age` ago.
async fn deliveries(
    conn: &mut AsyncPgConnection,
    batch_id: Uuid,
    first: i64,
    count: i64,
    state: &str,
    age: &str,
) {
    diesel::sql_query(
        "INSERT INTO sync.deliveries (punch_id, batch_id, company_id, import_id, emp_id, \
           punch_type, local_time, state, created_at, updated_at) \
         SELECT $1 + g, $2, $3, 1, '1001', 'checkIn', \
           '2026-01-01 08:00:00'::timestamp + g * interval '1 minute', $5, \
           now() - $6::interval, now() - $6::interval \
         FROM generate_series(0, $4 - 1) AS g",
    )
    .bind::<BigInt, _>(first)
    .bind::<SqlUuid, _>(batch_id)
    .bind::<BigInt, _>(COMPANY)
    .bind::<BigInt, _>(count)
    .bind::<Text, _>(state)
    .bind::<Text, _>(age)
    .execute(conn)
    .await
    .unwrap();
}

/// `count` Bayzat request logs that started `age` ago, with `outcome`.
async fn requests(conn: &mut AsyncPgConnection, count: i64, outcome: &str, age: &str) {
    diesel::sql_query(
        "INSERT INTO sync.bayzat_requests (company_id, holder, records, punch_ids, status_code, \
           outcome, latency_ms, started_at) \
         SELECT $1, 'replica', 1, ARRAY[g], 200, $3, 40, now() - $4::interval \
         FROM generate_series(1, $2) AS g",
    )
    .bind::<BigInt, _>(COMPANY)
    .bind::<BigInt, _>(count)
    .bind::<Text, _>(outcome)
    .bind::<Text, _>(age)
    .execute(conn)
    .await
    .unwrap();
}

/// An outbox row created `age` ago, sent then unless `sent` is false; and a handled message id.
async fn outbox_row(conn: &mut AsyncPgConnection, label: &str, age: &str, sent: bool) {
    let sent_at = if sent { "now() - $2::interval" } else { "NULL" };
    diesel::sql_query(format!(
        "INSERT INTO sync.outbox (message_id, message_type, routing_key, payload, created_at, \
           sent_at) VALUES (gen_random_uuid(), $1, 'r', '{{}}', now() - $2::interval, {sent_at})"
    ))
    .bind::<Text, _>(label)
    .bind::<Text, _>(age)
    .execute(conn)
    .await
    .unwrap();
}

async fn processed(conn: &mut AsyncPgConnection, label: &str, age: &str) {
    diesel::sql_query(
        "INSERT INTO sync.processed_messages (message_id, message_type, processed_at) \
         VALUES (gen_random_uuid(), $1, now() - $2::interval)",
    )
    .bind::<Text, _>(label)
    .bind::<Text, _>(age)
    .execute(conn)
    .await
    .unwrap();
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    label: String,
}

/// The rows of a query's single text column, sorted.
async fn labels(conn: &mut AsyncPgConnection, query: &str) -> Vec<String> {
    let rows: Vec<Row> = diesel::sql_query(query).load(conn).await.unwrap();
    let mut labels: Vec<String> = rows.into_iter().map(|r| r.label).collect();
    labels.sort();
    labels
}

/// Each batch's deliveries by state, as `batch:state:count`, and the batches left.
async fn deliveries_left(conn: &mut AsyncPgConnection, names: &[(Uuid, &str)]) -> Vec<String> {
    let mut left = labels(
        conn,
        "SELECT batch_id::text || ':' || state || ':' || count(*) AS label \
         FROM sync.deliveries GROUP BY batch_id, state",
    )
    .await;
    for label in &mut left {
        for (id, name) in names {
            *label = label.replace(&id.to_string(), name);
        }
    }
    left.sort();
    left
}

async fn batches_left(conn: &mut AsyncPgConnection, names: &[(Uuid, &str)]) -> Vec<String> {
    let ids = labels(conn, "SELECT id::text AS label FROM sync.sync_batches").await;
    let mut left: Vec<String> = ids
        .iter()
        .map(|id| {
            names
                .iter()
                .find(|(known, _)| known.to_string() == *id)
                .map_or_else(|| id.clone(), |(_, name)| (*name).to_owned())
        })
        .collect();
    left.sort();
    left
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pass_removes_old_settled_deliveries_and_old_request_logs_and_keeps_the_rest() {
    let (_db, pool) = migrated().await;
    let mut conn = db::connection(&pool).await.unwrap();
    let conn: &mut AsyncPgConnection = &mut conn;

    // Settled long ago, every delivery final and untouched since: they go, and the batch.
    let old_done = batch(conn, "completed", "100 days", Some("95 days")).await;
    deliveries(conn, old_done, 100, 3, "delivered", "95 days").await;
    deliveries(conn, old_done, 110, 1, "cancelled", "96 days").await;
    // Settled long ago with failed and rejected punches nobody retried: they go too.
    let old_failed = batch(conn, "failed", "100 days", Some("92 days")).await;
    deliveries(conn, old_failed, 200, 2, "delivered", "92 days").await;
    deliveries(conn, old_failed, 210, 1, "failed", "92 days").await;
    deliveries(conn, old_failed, 220, 1, "rejected", "92 days").await;
    // Settled recently: kept whole.
    let recent = batch(conn, "completed", "20 days", Some("10 days")).await;
    deliveries(conn, recent, 300, 2, "delivered", "10 days").await;
    // Old, but a punch of it is still held (the company's sync is disabled): nothing of it
    // goes, its old delivered punches included, or its counts would shrink when the held one
    // is sent.
    let unsettled = batch(conn, "processing", "100 days", None).await;
    deliveries(conn, unsettled, 400, 2, "delivered", "100 days").await;
    deliveries(conn, unsettled, 410, 1, "held", "100 days").await;
    // Settled long ago, but a punch of it was retried and rejected again lately: kept whole.
    let touched = batch(conn, "failed", "100 days", Some("95 days")).await;
    deliveries(conn, touched, 500, 2, "delivered", "95 days").await;
    deliveries(conn, touched, 510, 1, "rejected", "5 days").await;
    // Batches without deliveries (every punch of their message was known already).
    let old_empty = batch(conn, "pending", "100 days", None).await;
    let recent_empty = batch(conn, "pending", "3 days", None).await;

    requests(conn, 3, "accepted", "91 days").await;
    requests(conn, 1, "transient", "120 days").await;
    requests(conn, 2, "accepted", "89 days").await;
    requests(conn, 1, "refused", "1 day").await;

    outbox_row(conn, "sent-old", "8 days", true).await;
    outbox_row(conn, "sent-recent", "1 day", true).await;
    outbox_row(conn, "unsent-old", "200 days", false).await;
    processed(conn, "handled-old", "31 days").await;
    processed(conn, "handled-recent", "2 days").await;

    let removed = run_once(
        &pool,
        &Clock::system(),
        &Limits::new(RetentionSettings::default()),
    )
    .await
    .unwrap();

    assert_eq!(
        removed,
        Removed {
            requests: 4,
            deliveries: 8,
            batches: 3,
            outbox: outbox::Pruned {
                sent: 1,
                processed: 1
            },
        }
    );
    let names = [
        (old_done, "old_done"),
        (old_failed, "old_failed"),
        (recent, "recent"),
        (unsettled, "unsettled"),
        (touched, "touched"),
        (old_empty, "old_empty"),
        (recent_empty, "recent_empty"),
    ];
    assert_eq!(
        deliveries_left(conn, &names).await,
        [
            "recent:delivered:2",
            "touched:delivered:2",
            "touched:rejected:1",
            "unsettled:delivered:2",
            "unsettled:held:1",
        ]
    );
    assert_eq!(
        batches_left(conn, &names).await,
        ["recent", "recent_empty", "touched", "unsettled"]
    );
    assert_eq!(
        labels(
            conn,
            "SELECT outcome || ':' || count(*) AS label FROM sync.bayzat_requests GROUP BY outcome"
        )
        .await,
        ["accepted:2", "refused:1"]
    );
    assert_eq!(
        labels(conn, "SELECT message_type AS label FROM sync.outbox").await,
        ["sent-recent", "unsent-old"]
    );
    assert_eq!(
        labels(
            conn,
            "SELECT message_type AS label FROM sync.processed_messages"
        )
        .await,
        ["handled-recent"]
    );
    // A batch kept is shown with the counts of its deliveries.
    let kept = batches::find(conn, recent).await.unwrap().unwrap();
    assert_eq!((kept.total_count, kept.delivered_count), (2, 2));

    // A second pass finds nothing more.
    let again = run_once(
        &pool,
        &Clock::system(),
        &Limits::new(RetentionSettings::default()),
    )
    .await
    .unwrap();
    assert_eq!(again, Removed::default());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pass_deletes_far_more_rows_than_one_statement_does() {
    let (_db, pool) = migrated().await;
    let mut conn = db::connection(&pool).await.unwrap();
    let conn: &mut AsyncPgConnection = &mut conn;
    let chunk = outbox::DELETE_CHUNK;

    // One batch larger than two chunks, and a few small ones.
    let large = batch(conn, "completed", "100 days", Some("95 days")).await;
    deliveries(
        conn,
        large,
        1_000_000,
        2 * chunk + 300,
        "delivered",
        "95 days",
    )
    .await;
    for n in 0..3 {
        let small = batch(conn, "failed", "100 days", Some("95 days")).await;
        deliveries(conn, small, 100 * n, 7, "failed", "95 days").await;
    }
    let kept = batch(conn, "completed", "100 days", Some("95 days")).await;
    deliveries(conn, kept, 5_000, 4, "delivered", "2 days").await;
    requests(conn, chunk + 50, "accepted", "100 days").await;
    requests(conn, 2, "accepted", "1 day").await;

    let removed = run_once(
        &pool,
        &Clock::system(),
        &Limits::new(RetentionSettings::default()),
    )
    .await
    .unwrap();
    assert_eq!(
        removed.deliveries,
        usize::try_from(2 * chunk + 300 + 21).unwrap()
    );
    assert_eq!(removed.batches, 4);
    assert_eq!(removed.requests, usize::try_from(chunk + 50).unwrap());

    // The same with chunks of ten rows: many statements, every row.
    let small_chunks = Limits {
        outbox: outbox::Retention {
            chunk: 10,
            ..outbox::Retention::default()
        },
        ..Limits::new(RetentionSettings::default())
    };
    for n in 0..4 {
        let old = batch(conn, "completed", "100 days", Some("95 days")).await;
        deliveries(conn, old, 10_000 + 100 * n, 23, "delivered", "95 days").await;
    }
    requests(conn, 35, "accepted", "100 days").await;
    let removed = run_once(&pool, &Clock::system(), &small_chunks)
        .await
        .unwrap();
    assert_eq!(
        (removed.deliveries, removed.batches, removed.requests),
        (92, 4, 35)
    );
    assert_eq!(
        labels(conn, "SELECT punch_id::text AS label FROM sync.deliveries").await,
        ["5000", "5001", "5002", "5003"]
    );
}
