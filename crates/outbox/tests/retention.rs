//! What `prune` forgets and what it keeps, against the machine's Postgres. Rows are written with
//! their ages directly.

use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations};
use outbox::{prune, prune_sent_chunk, Pruned, Retention, DELETE_CHUNK, SENT_RETENTION};
use test_support::TestDb;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/config");
const SCHEMA: &str = "config";

async fn migrated() -> (TestDb, db::Pool) {
    let test_db = TestDb::create().await;
    db::run_migrations(test_db.url(), SCHEMA, MIGRATIONS)
        .await
        .unwrap();
    let pool = db::pool(test_db.url(), 2).unwrap();
    (test_db, pool)
}

/// `count` outbox rows of type `label` created `age` ago, sent then too unless `sent` is false.
async fn outbox_rows(conn: &mut AsyncPgConnection, label: &str, count: i64, age: &str, sent: bool) {
    let sent_at = if sent { "now() - $3::interval" } else { "NULL" };
    diesel::sql_query(format!(
        "INSERT INTO {SCHEMA}.outbox (message_id, message_type, routing_key, payload, created_at, \
           sent_at) \
         SELECT gen_random_uuid(), $1, 'r', '{{}}', now() - $3::interval, {sent_at} \
         FROM generate_series(1, $2)"
    ))
    .bind::<Text, _>(label)
    .bind::<BigInt, _>(count)
    .bind::<Text, _>(age)
    .execute(conn)
    .await
    .unwrap();
}

/// `count` handled message ids of type `label`, handled `age` ago.
async fn processed_rows(conn: &mut AsyncPgConnection, label: &str, count: i64, age: &str) {
    diesel::sql_query(format!(
        "INSERT INTO {SCHEMA}.processed_messages (message_id, message_type, processed_at) \
         SELECT gen_random_uuid(), $1, now() - $3::interval FROM generate_series(1, $2)"
    ))
    .bind::<Text, _>(label)
    .bind::<BigInt, _>(count)
    .bind::<Text, _>(age)
    .execute(conn)
    .await
    .unwrap();
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Left {
    #[diesel(sql_type = Text)]
    label: String,
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// What is left in `table`, by label.
async fn left(conn: &mut AsyncPgConnection, table: &str) -> Vec<(String, i64)> {
    let rows: Vec<Left> = diesel::sql_query(format!(
        "SELECT message_type AS label, count(*) AS count FROM {SCHEMA}.{table} \
         GROUP BY 1 ORDER BY 1"
    ))
    .load(conn)
    .await
    .unwrap();
    rows.into_iter().map(|l| (l.label, l.count)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn old_sent_rows_and_old_ids_go_unsent_rows_stay_whatever_their_age() {
    let (_db, pool) = migrated().await;
    let mut conn = db::connection(&pool).await.unwrap();
    let conn: &mut AsyncPgConnection = &mut conn;
    outbox_rows(conn, "sent-old", 3, "8 days", true).await;
    outbox_rows(conn, "sent-recent", 2, "6 days", true).await;
    outbox_rows(conn, "unsent-old", 2, "400 days", false).await;
    outbox_rows(conn, "unsent-recent", 1, "1 minute", false).await;
    processed_rows(conn, "handled-old", 4, "31 days").await;
    processed_rows(conn, "handled-recent", 2, "29 days").await;

    let pruned = prune(conn, SCHEMA, &Retention::default()).await.unwrap();

    assert_eq!(
        pruned,
        Pruned {
            sent: 3,
            processed: 4
        }
    );
    assert_eq!(
        left(conn, "outbox").await,
        [
            ("sent-recent".to_owned(), 2),
            ("unsent-old".to_owned(), 2),
            ("unsent-recent".to_owned(), 1)
        ]
    );
    assert_eq!(
        left(conn, "processed_messages").await,
        [("handled-recent".to_owned(), 2)]
    );
    assert_eq!(outbox::backlog(conn, SCHEMA).await.unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_statement_deletes_one_chunk_and_a_pass_deletes_them_all() {
    let (_db, pool) = migrated().await;
    let mut conn = db::connection(&pool).await.unwrap();
    let conn: &mut AsyncPgConnection = &mut conn;
    outbox_rows(conn, "sent-old", 15, "10 days", true).await;
    let one = prune_sent_chunk(conn, SCHEMA, SENT_RETENTION, 10)
        .await
        .unwrap();
    assert_eq!(one, 10, "one statement deletes one chunk");

    // More than two default chunks: the pass goes on until fewer than a chunk were left.
    let old = 2 * DELETE_CHUNK + 500;
    outbox_rows(conn, "sent-old", old, "10 days", true).await;
    outbox_rows(conn, "unsent-old", 5, "10 days", false).await;
    let pruned = prune(conn, SCHEMA, &Retention::default()).await.unwrap();
    assert_eq!(pruned.sent, usize::try_from(old + 5).unwrap());
    assert_eq!(left(conn, "outbox").await, [("unsent-old".to_owned(), 5)]);

    processed_rows(conn, "handled-old", 25, "40 days").await;
    let small = Retention {
        chunk: 10,
        ..Retention::default()
    };
    let pruned = prune(conn, SCHEMA, &small).await.unwrap();
    assert_eq!(
        pruned,
        Pruned {
            sent: 0,
            processed: 25
        }
    );
    assert!(left(conn, "processed_messages").await.is_empty());
}
