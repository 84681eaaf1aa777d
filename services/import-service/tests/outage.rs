//! A database outage while an import's own transaction runs (a reprocess, a release, an upload)
//! is answered 503 `database_unavailable` with `Retry-After`: not a conflict, not a 500, and
//! never in the driver's words. The same request succeeds once the database is back.

mod common;

use auth::Role;
use common::{fixture, Stack};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use reqwest::StatusCode;
use test_support::{assert_database_unavailable, the_one_backend_waiting_on_a_lock};

/// Takes the lock every import transaction (upload, reprocess, release) takes first, so the
/// next one waits on it.
async fn hold_the_import_lock(database_url: &str) -> AsyncPgConnection {
    let mut holder = AsyncPgConnection::establish(database_url).await.unwrap();
    holder
        .batch_execute("BEGIN; SELECT pg_advisory_xact_lock(hashtext('import.punches'))")
        .await
        .unwrap();
    holder
}

/// Sends `request`, terminates the import transaction it starts while that waits on the lock,
/// and returns the answer.
async fn answer_when_terminated(
    stack: &Stack,
    request: reqwest::RequestBuilder,
) -> reqwest::Response {
    let url = stack.env.db.url();
    let mut holder = hold_the_import_lock(url).await;
    let answer = tokio::spawn(async move { request.send().await.expect("import-service answers") });
    let pid = the_one_backend_waiting_on_a_lock(url).await;
    diesel::sql_query(format!("SELECT pg_terminate_backend({pid})"))
        .execute(&mut holder)
        .await
        .unwrap();
    let response = answer.await.unwrap();
    holder.batch_execute("ROLLBACK").await.unwrap();
    response
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_outage_during_reprocess_or_release_is_a_503_not_a_conflict() {
    let stack = Stack::start().await;
    let (status, import) = stack.upload("basic.csv", "hold=true").await;
    assert_eq!(status, StatusCode::CREATED, "{import}");
    // Reprocessed, a held import stays held: release comes after.
    for action in ["reprocess", "release"] {
        let path = format!("/v1/imports/{}/{action}", import["id"]);
        let request = stack
            .client
            .post(format!("{}{path}", stack.import_base))
            .bearer_auth(stack.token(Role::Operator));
        let response = answer_when_terminated(&stack, request).await;
        assert_database_unavailable(response, action).await;

        let (status, answer) = stack.post(&path).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{action} once the database is back: {answer}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_outage_while_an_upload_is_stored_is_a_503_and_the_import_failed() {
    let stack = Stack::start().await;
    let bytes = std::fs::read(fixture("basic.csv")).unwrap();
    let request = stack
        .client
        .post(format!("{}/v1/imports", stack.import_base))
        .bearer_auth(stack.token(Role::Operator))
        .header("content-type", "text/csv")
        .body(bytes.clone());
    let response = answer_when_terminated(&stack, request).await;
    assert_database_unavailable(response, "upload").await;

    let (_, listed) = stack.get("/v1/imports").await;
    let failed = &listed["items"][0];
    assert_eq!(failed["status"], "failed", "{listed}");
    assert_eq!(
        failed["error"], "the database did not store the import; the service log says why",
        "{listed}"
    );

    let (status, stored) = stack.upload_bytes(bytes, "").await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the same upload once the database is back: {stored}"
    );
}
