//! The outbox against the machine's Postgres and RabbitMQ.

use std::sync::Arc;
use std::time::Duration;

use bus::lapin::options::BasicGetOptions;
use bus::{Broker, Outgoing, Publisher};
use diesel::OptionalExtension;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations};
use domain::{CompanyChange, CompanyId, ConfigCompanyChangedV1, Message};
use outbox::{
    backlog, enqueue, enqueue_with_client, first_delivery, spawn_relay, spawn_relay_expanding,
    Expander, RelayWaker,
};
use test_support::{eventually, upstream_of, wait_for, TcpProxy, TestBroker, TestDb};
use uuid::Uuid;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/config");
const SCHEMA: &str = "config";
const WAIT: Duration = Duration::from_secs(20);

fn changed(company: i64) -> Outgoing {
    let message = ConfigCompanyChangedV1 {
        company_id: CompanyId(company),
        changes: vec![CompanyChange::Mapping],
    };
    Outgoing::message(Uuid::new_v4(), &message, None).unwrap()
}

async fn migrated() -> (TestDb, db::Pool) {
    let test_db = TestDb::create().await;
    db::run_migrations(test_db.url(), SCHEMA, MIGRATIONS)
        .await
        .unwrap();
    let pool = db::pool(test_db.url(), 4).unwrap();
    (test_db, pool)
}

async fn enqueue_committed(pool: &db::Pool, messages: &[Outgoing]) {
    let mut conn = db::connection(pool).await.unwrap();
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        enqueue(conn, SCHEMA, messages).await
    })
    .await
    .unwrap();
}

async fn unsent(pool: &db::Pool) -> i64 {
    backlog(&mut db::connection(pool).await.unwrap(), SCHEMA)
        .await
        .unwrap()
}

/// The relay's failed attempts at the oldest unsent message, and the error it recorded last.
#[derive(Debug, diesel::QueryableByName)]
struct Refusals {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    attempts: i32,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    last_error: Option<String>,
}

/// Waits until the relay has tried the oldest unsent message and failed at least twice: it has
/// looked at the outbox and decided, and tried again, so what is still unsent then stays unsent
/// because of the failure, not because the relay has not got to it yet.
async fn refused_twice(pool: &db::Pool) -> Refusals {
    wait_for(
        WAIT,
        "the relay failed twice at the oldest message",
        || async {
            let mut conn = db::connection(pool).await.map_err(|e| e.to_string())?;
            let oldest: Option<Refusals> = diesel_async::RunQueryDsl::get_result(
                diesel::sql_query(format!(
                    "SELECT attempts, last_error FROM {SCHEMA}.outbox WHERE sent_at IS NULL \
                 ORDER BY id LIMIT 1"
                )),
                &mut conn,
            )
            .await
            .optional()
            .map_err(|e| e.to_string())?;
            match oldest {
                Some(refusals) if refusals.attempts >= 2 => Ok(refusals),
                other => Err(format!("oldest unsent: {other:?}")),
            }
        },
    )
    .await
}

/// Takes every message waiting in `queue`, in order.
async fn drain(broker: &Broker, queue: &str) -> Vec<Uuid> {
    let channel = broker.connected().await.create_channel().await.unwrap();
    let mut ids = Vec::new();
    while let Ok(Some(message)) = channel
        .basic_get(queue.into(), BasicGetOptions { no_ack: true })
        .await
    {
        let id = message.delivery.properties.message_id().clone().unwrap();
        ids.push(id.as_str().parse().unwrap());
    }
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn committed_messages_are_published_in_order_and_marked_sent() {
    let (_db, pool) = migrated().await;
    let test_broker = TestBroker::new();
    let broker = Broker::start(test_broker.url(), test_broker.topology(), "outbox-test");
    broker.connected().await;
    let waker = RelayWaker::default();
    let _relay = spawn_relay(
        pool.clone(),
        Arc::new(Publisher::new(broker.clone())),
        SCHEMA,
        waker.clone(),
    );

    let messages: Vec<Outgoing> = (1..=5).map(changed).collect();
    enqueue_committed(&pool, &messages).await;
    waker.wake();

    assert!(eventually(WAIT, || async { unsent(&pool).await == 0 }).await);
    let queue = test_broker.topology().sync_config_queue().name;
    let received = drain(&broker, &queue).await;
    let expected: Vec<Uuid> = messages.iter().map(|m| m.message_id).collect();
    assert_eq!(received, expected, "every message once, in order");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rolled_back_transaction_sends_nothing() {
    let (_db, pool) = migrated().await;
    let mut conn = db::connection(&pool).await.unwrap();
    let result = conn
        .transaction::<(), diesel::result::Error, _>(async |conn| {
            enqueue(conn, SCHEMA, &[changed(1)]).await?;
            Err(diesel::result::Error::RollbackTransaction)
        })
        .await;
    assert!(result.is_err());
    assert_eq!(unsent(&pool).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_wait_out_a_broker_outage() {
    let (_db, pool) = migrated().await;
    let test_broker = TestBroker::new();
    let proxy = TcpProxy::start(&upstream_of(test_broker.url())).await;
    let broker = Broker::start(
        &proxy.url_for(test_broker.url()),
        test_broker.topology(),
        "outbox-test",
    );
    broker.connected().await;
    let waker = RelayWaker::default();
    let _relay = spawn_relay(
        pool.clone(),
        Arc::new(Publisher::new(broker.clone())),
        SCHEMA,
        waker.clone(),
    );

    proxy.cut();
    assert!(eventually(WAIT, || async { !broker.is_connected() }).await);
    let messages: Vec<Outgoing> = (1..=3).map(changed).collect();
    enqueue_committed(&pool, &messages).await;
    waker.wake();
    let refusals = refused_twice(&pool).await;
    assert!(refusals.last_error.is_some(), "{refusals:?}");
    assert_eq!(
        unsent(&pool).await,
        3,
        "nothing is marked sent while the broker is away"
    );

    proxy.restore();
    assert!(eventually(WAIT, || async { unsent(&pool).await == 0 }).await);
    let received = drain(&broker, &test_broker.topology().import_config_queue().name).await;
    assert_eq!(
        received,
        messages.iter().map(|m| m.message_id).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unroutable_message_stays_unsent_with_its_error_and_holds_back_later_ones() {
    let (_db, pool) = migrated().await;
    let test_broker = TestBroker::new();
    let broker = Broker::start(test_broker.url(), test_broker.topology(), "outbox-test");
    broker.connected().await;
    let waker = RelayWaker::default();
    let _relay = spawn_relay(
        pool.clone(),
        Arc::new(Publisher::new(broker.clone())),
        SCHEMA,
        waker.clone(),
    );

    // Nothing is bound to this routing key yet.
    let unroutable = Outgoing {
        message_id: Uuid::new_v4(),
        message_type: "test.v1".into(),
        routing_key: "nobody.listens".into(),
        payload: b"{}".to_vec(),
        traceparent: None,
    };
    enqueue_committed(&pool, &[unroutable, changed(1)]).await;
    waker.wake();
    let refusals = refused_twice(&pool).await;
    assert!(refusals.last_error.is_some(), "{refusals:?}");
    assert_eq!(unsent(&pool).await, 2, "the later message waits behind it");

    // Once a queue takes it, the relay delivers both, still in order.
    let channel = broker.connected().await.create_channel().await.unwrap();
    let topology = test_broker.topology();
    let queue = bus::QueueSpec {
        name: format!("{}nobody", topology.namespace()),
        bindings: vec!["nobody.listens".into()],
        single_active_consumer: false,
    };
    topology.declare_queue(&channel, &queue).await.unwrap();
    assert!(eventually(WAIT, || async { unsent(&pool).await == 0 }).await);
    channel
        .queue_delete(queue.name.as_str().into(), Default::default())
        .await
        .unwrap();
}

/// Builds a `config.company.changed.v1` from a stored `{"reference": company}`, reading the
/// company id back through the relay's connection.
struct FromReference;

impl Expander for FromReference {
    fn expand<'a>(
        &'a self,
        conn: &'a mut AsyncPgConnection,
        message_type: &'a str,
        stored: &'a serde_json::Value,
    ) -> futures_util::future::BoxFuture<'a, diesel::QueryResult<Option<Vec<u8>>>> {
        Box::pin(async move {
            #[derive(diesel::QueryableByName)]
            struct Company {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                id: i64,
            }
            let Some(reference) = stored["reference"].as_i64() else {
                return Ok(None);
            };
            assert_eq!(message_type, ConfigCompanyChangedV1::TYPE);
            let company: Company = diesel_async::RunQueryDsl::get_result(
                diesel::sql_query("SELECT $1::bigint AS id")
                    .bind::<diesel::sql_types::BigInt, _>(reference),
                conn,
            )
            .await?;
            let message = ConfigCompanyChangedV1 {
                company_id: CompanyId(company.id),
                changes: vec![CompanyChange::Mapping],
            };
            Ok(Some(serde_json::to_vec(&message).unwrap()))
        })
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_enqueued_on_a_plain_client_go_out_built_by_the_expander_when_committed() {
    let (test_db, pool) = migrated().await;
    let test_broker = TestBroker::new();
    let broker = Broker::start(test_broker.url(), test_broker.topology(), "outbox-test");
    broker.connected().await;
    let waker = RelayWaker::default();
    let _relay = spawn_relay_expanding(
        pool.clone(),
        Arc::new(Publisher::new(broker.clone())),
        SCHEMA,
        waker.clone(),
        Arc::new(FromReference),
    );
    let (mut client, connection) = tokio_postgres::connect(test_db.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);

    let whole = changed(1);
    let reference = Outgoing {
        payload: br#"{"reference": 2}"#.to_vec(),
        ..changed(2)
    };
    let rolled_back = changed(3);
    let tx = client.transaction().await.unwrap();
    enqueue_with_client(&tx, SCHEMA, &[rolled_back])
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let tx = client.transaction().await.unwrap();
    enqueue_with_client(&tx, SCHEMA, &[whole.clone(), reference.clone()])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    waker.wake();

    assert!(eventually(WAIT, || async { unsent(&pool).await == 0 }).await);
    let channel = broker.connected().await.create_channel().await.unwrap();
    let queue = test_broker.topology().sync_config_queue().name;
    let mut received = Vec::new();
    while let Ok(Some(message)) = channel
        .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
        .await
    {
        let id: Uuid = message
            .delivery
            .properties
            .message_id()
            .clone()
            .unwrap()
            .as_str()
            .parse()
            .unwrap();
        let body: ConfigCompanyChangedV1 = serde_json::from_slice(&message.delivery.data).unwrap();
        received.push((id, body.company_id));
    }
    assert_eq!(
        received,
        [
            (whole.message_id, CompanyId(1)),
            (reference.message_id, CompanyId(2))
        ],
        "the stored message as it is, the reference as built; nothing of the rolled-back one"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_is_handled_once_however_often_it_arrives() {
    let (_db, pool) = migrated().await;
    let mut conn: db::PooledConnection = db::connection(&pool).await.unwrap();
    let conn: &mut AsyncPgConnection = &mut conn;
    let id = Uuid::new_v4();
    assert!(first_delivery(conn, SCHEMA, id, "punches.status.v1")
        .await
        .unwrap());
    assert!(!first_delivery(conn, SCHEMA, id, "punches.status.v1")
        .await
        .unwrap());
    assert!(
        first_delivery(conn, SCHEMA, Uuid::new_v4(), "punches.status.v1")
            .await
            .unwrap()
    );
}

/// The number a query (`SELECT … AS n`) answers.
async fn number(conn: &mut AsyncPgConnection, query: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Number {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let number: Number = diesel_async::RunQueryDsl::get_result(diesel::sql_query(query), conn)
        .await
        .unwrap();
    number.n
}

/// Heap blocks of the outbox table read so far, as Postgres' statistics tell once the backends
/// that read them have ended.
async fn outbox_heap_blocks(conn: &mut AsyncPgConnection) -> i64 {
    let query = format!(
        "SELECT (coalesce(heap_blks_hit, 0) + coalesce(heap_blks_read, 0))::bigint AS n \
         FROM pg_statio_user_tables WHERE schemaname = '{SCHEMA}' AND relname = 'outbox'"
    );
    number(conn, &query).await
}

/// How many of `messages` are not sent yet, read through their message ids. Not [`unsent`]: a
/// count of every unsent row is a bitmap scan, which visits every sent row whose index entry is
/// not yet marked dead (and marks none), and the statistics would count each such wait as the
/// relay's reads.
async fn unsent_of(pool: &db::Pool, messages: &[Outgoing]) -> i64 {
    let ids: Vec<String> = messages.iter().map(|m| m.message_id.to_string()).collect();
    let query = format!(
        "SELECT count(*) AS n FROM {SCHEMA}.outbox \
         WHERE message_id = ANY('{{{}}}'::uuid[]) AND sent_at IS NULL",
        ids.join(",")
    );
    number(&mut db::connection(pool).await.unwrap(), &query).await
}

/// Runs a relay on its own connections until `messages` are sent one after another, then ends
/// those connections, so their statistics are counted.
async fn relay_each_alone(url: &str, broker: &Broker, messages: Vec<Vec<Outgoing>>) {
    let pool = db::pool(url, 2).unwrap();
    let waker = RelayWaker::default();
    let relay = spawn_relay(
        pool.clone(),
        Arc::new(Publisher::new(broker.clone())),
        SCHEMA,
        waker.clone(),
    );
    for batch in &messages {
        enqueue_committed(&pool, batch).await;
        waker.wake();
        assert!(eventually(WAIT, || async { unsent_of(&pool, batch).await == 0 }).await);
    }
    relay.abort();
    let _ = relay.await;
    drop(pool);
}

/// Waits until no other backend than `conn`'s is connected to the test database: the relay's
/// have ended and written their statistics.
async fn others_gone(conn: &mut AsyncPgConnection) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let others = "SELECT count(*) AS n FROM pg_stat_activity \
                  WHERE datname = current_database() AND pid <> pg_backend_pid()";
    while number(conn, others).await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the relay's connections did not end"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_round_reads_the_unsent_rows_not_every_row_sent_since_the_last_vacuum() {
    // The sent rows stay in the table (until retention), and their index entries in
    // `outbox_unsent` until a vacuum or an index scan finds them dead. A round that reads the
    // unsent rows in id order through that index marks them dead as it passes them; a bitmap or
    // sequential scan visits every one of them again on every round. Postgres chose the bitmap
    // scan for a table not analyzed since it filled, as here (autovacuum off), and for one
    // analyzed while some rows were unsent.
    let test_db = TestDb::create().await;
    db::run_migrations(test_db.url(), SCHEMA, MIGRATIONS)
        .await
        .unwrap();
    let mut conn = AsyncPgConnection::establish(test_db.url()).await.unwrap();
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query(format!(
            "ALTER TABLE {SCHEMA}.outbox SET (autovacuum_enabled = false)"
        )),
        &mut conn,
    )
    .await
    .unwrap();
    let test_broker = TestBroker::new();
    let broker = Broker::start(test_broker.url(), test_broker.topology(), "outbox-test");
    broker.connected().await;

    let sent_before: Vec<Outgoing> = (1..=3000).map(changed).collect();
    relay_each_alone(test_db.url(), &broker, vec![sent_before]).await;
    others_gone(&mut conn).await;
    let pages = number(
        &mut conn,
        &format!("SELECT (pg_relation_size('{SCHEMA}.outbox') / 8192)::bigint AS n"),
    )
    .await;
    let before = outbox_heap_blocks(&mut conn).await;

    let one_at_a_time: Vec<Vec<Outgoing>> = (1..=10).map(|c| vec![changed(c)]).collect();
    relay_each_alone(test_db.url(), &broker, one_at_a_time).await;
    others_gone(&mut conn).await;
    let read = outbox_heap_blocks(&mut conn).await - before;

    // Passing the sent rows is a table's worth, and each round then reads a few blocks. A round
    // that passes them before they can be marked dead passes them again in the next (under a
    // full `make test` once 342 blocks of a 142-block table). Scanning them all every round read
    // some 3,000 blocks here. (Waiting on a count of every unsent row instead of `unsent_of`
    // read a table's worth at each wait while the sent rows were not yet marked dead in the
    // index, counted as the relay's: 781 blocks of a 144-block table once.)
    assert!(
        read < 4 * pages,
        "ten rounds read {read} heap blocks of a {pages}-block outbox"
    );
}
