//! Migrations against a real Postgres: replicas of a service that start together on an empty
//! database must all come up.

use db::{embed_migrations, run_migrations, EmbeddedMigrations};
use test_support::TestDb;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("tests/migrations");

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_starting_together_on_an_empty_database_all_migrate() {
    let db = TestDb::create().await;
    let runs = (0..4).map(|_| {
        let url = db.url().to_owned();
        tokio::spawn(async move { run_migrations(&url, "svc", MIGRATIONS).await })
    });
    for run in futures_util::future::join_all(runs).await {
        run.expect("the migration task ran")
            .expect("every replica migrates");
    }
}
