//! Statements marked [`Prepared`] against a real Postgres: kept prepared by the connection, so
//! planned once, and answering as they would unprepared.

use db::Prepared;
use diesel::sql_types::{Array, BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use test_support::TestDb;

diesel::table! {
    counters (id) {
        id -> Int8,
        name -> Text,
        n -> Int8,
    }
}

#[derive(diesel::QueryableByName, Debug, PartialEq)]
struct Counter {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The statements this session keeps prepared whose text starts with `start`.
async fn kept(conn: &mut AsyncPgConnection, start: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Kept {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let kept: Kept = diesel::sql_query(
        "SELECT count(*) AS n FROM pg_prepared_statements WHERE statement LIKE $1 || '%'",
    )
    .bind::<Text, _>(start)
    .get_result(conn)
    .await
    .expect("read the session's prepared statements");
    kept.n
}

async fn raw_add(conn: &mut AsyncPgConnection, ids: &[i64], prepared: bool) -> Vec<Counter> {
    let query = diesel::sql_query(
        "UPDATE counters c SET n = c.n + 1 FROM UNNEST($1::bigint[]) AS u(id) \
         WHERE c.id = u.id RETURNING c.id, c.n",
    )
    .bind::<Array<BigInt>, _>(ids.to_vec());
    let mut rows: Vec<Counter> = if prepared {
        query.prepared().load(conn).await
    } else {
        query.load(conn).await
    }
    .expect("the update runs");
    rows.sort_by_key(|c| c.id);
    rows
}

#[tokio::test]
async fn a_statement_marked_prepared_is_kept_by_the_connection_and_answers_the_same() {
    let db = TestDb::create().await;
    let mut conn = AsyncPgConnection::establish(db.url())
        .await
        .expect("connect");
    conn.batch_execute(
        "CREATE TABLE counters (id BIGINT PRIMARY KEY, name TEXT NOT NULL, n BIGINT NOT NULL); \
         INSERT INTO counters VALUES (1, 'a', 0), (2, 'b', 0), (3, 'c', 0)",
    )
    .await
    .expect("a table");

    // Raw SQL: planned at every call unless marked.
    assert_eq!(raw_add(&mut conn, &[1, 2], false).await.len(), 2);
    assert_eq!(kept(&mut conn, "UPDATE counters c").await, 0);
    for _ in 0..3 {
        raw_add(&mut conn, &[1, 3], true).await;
    }
    assert_eq!(
        kept(&mut conn, "UPDATE counters c").await,
        1,
        "one statement, kept"
    );
    assert_eq!(
        raw_add(&mut conn, &[1, 2, 3], true).await,
        [
            Counter { id: 1, n: 5 },
            Counter { id: 2, n: 2 },
            Counter { id: 3, n: 4 }
        ]
    );

    // diesel's own UPDATE: never kept by diesel, kept once marked.
    use diesel::{ExpressionMethods, QueryDsl};
    let rename = |id: i64, name: &'static str| {
        diesel::update(counters::table)
            .filter(counters::id.eq(id))
            .set(counters::name.eq(name))
    };
    rename(1, "x").execute(&mut conn).await.expect("update");
    assert_eq!(kept(&mut conn, "UPDATE \"counters\"").await, 0);
    for (id, name) in [(1, "y"), (2, "z")] {
        let changed = rename(id, name)
            .prepared()
            .execute(&mut conn)
            .await
            .expect("update");
        assert_eq!(changed, 1);
    }
    assert_eq!(kept(&mut conn, "UPDATE \"counters\"").await, 1);
    let names: Vec<String> = counters::table
        .order(counters::id)
        .select(counters::name)
        .load(&mut conn)
        .await
        .expect("names");
    assert_eq!(names, ["y", "z", "c"]);
}
