//! Delivery states reported by sync-service, through the broker as it sends them: thousands of
//! status messages for one import all show on its rows, whatever their order within and across
//! the batches they are handled in, and a poison message among them is dead-lettered alone.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use bus::lapin::options::BasicGetOptions;
use bus::lapin::types::AMQPValue;
use bus::{Outgoing, Publisher};
use chrono::{DateTime, Utc};
use common::Stack;
use diesel_async::{AsyncConnection, RunQueryDsl};
use domain::{CompanyId, DeliveryState, Message, PunchId, PunchStatusChange, PunchesStatusV1};
use import_service::store::punches::{self, StateChange};
use reqwest::StatusCode;
use serde_json::{json, Value};
use test_support::wait_for;
use uuid::Uuid;

/// A report of `rows` rows of AdvLine's four employees, each row a day of its own for its
/// employee: two punches a row.
fn advline_report(rows: u32) -> Vec<u8> {
    let mut report = String::from("Employee ID,First Name,Department,Date,Check In,Check Out\n");
    let first_day = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    for i in 0..rows {
        let id = 1001 + i % 4;
        let date = first_day + chrono::Days::new(u64::from(i / 4));
        report.push_str(&format!(
            "{id},Person {id},AdvLine,{date},08:{:02},17:00\n",
            i % 60
        ));
    }
    report.into_bytes()
}

/// Uploads a report of `rows` rows; returns the import's id, AdvLine's company id and the
/// import's punch ids.
async fn import(stack: &Stack, rows: u32) -> (i64, i64, Vec<i64>) {
    let (status, import) = stack.upload_bytes(advline_report(rows), "").await;
    assert_eq!(status, StatusCode::CREATED, "{import}");
    let import_id = import["id"].as_i64().unwrap();
    #[derive(diesel::QueryableByName)]
    struct Punch {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    let mut conn = diesel_async::AsyncPgConnection::establish(stack.env.db.url())
        .await
        .unwrap();
    let punches: Vec<Punch> =
        diesel::sql_query("SELECT id FROM import.punches WHERE import_id = $1 ORDER BY id")
            .bind::<diesel::sql_types::BigInt, _>(import_id)
            .load(&mut conn)
            .await
            .unwrap();
    assert_eq!(punches.len(), 2 * rows as usize);
    let company = stack.company_id("advline").await;
    (
        import_id,
        company,
        punches.into_iter().map(|p| p.id).collect(),
    )
}

/// A status message as sync-service writes it: `punches` changed to `state` at `at`.
fn status(
    company: i64,
    punches: &[i64],
    state: DeliveryState,
    error: Option<&str>,
    at: DateTime<Utc>,
) -> Outgoing {
    let message = PunchesStatusV1 {
        company_id: CompanyId(company),
        changes: punches
            .iter()
            .map(|id| PunchStatusChange {
                punch_id: PunchId(*id),
                state,
                error: error.map(str::to_owned),
                at: Some(at),
            })
            .collect(),
    };
    Outgoing::message(Uuid::now_v7(), &message, None).unwrap()
}

async fn publish(stack: &Stack, messages: &[Outgoing]) {
    let publisher = Publisher::new(stack.broker.clone());
    let (sent, failure) = publisher.publish_all(messages).await;
    assert_eq!(sent, messages.len(), "{failure:?}");
}

/// Waits until the import's progress is `expected` (per company slug, per state).
async fn wait_for_progress(stack: &Stack, import_id: i64, expected: Value) {
    wait_for(
        Duration::from_secs(120),
        &format!("the import's progress is {expected}"),
        || async {
            let (status, import) = stack.get(&format!("/v1/imports/{import_id}")).await;
            if status != StatusCode::OK {
                return Err(format!("{status}: {import}"));
            }
            (import["progress"] == expected)
                .then_some(())
                .ok_or_else(|| import["progress"].to_string())
        },
    )
    .await;
}

/// Each punch's state and error, by punch id.
async fn states(stack: &Stack, import_id: i64) -> BTreeMap<i64, (String, Option<String>)> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
        #[diesel(sql_type = diesel::sql_types::Text)]
        state: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        error: Option<String>,
    }
    let mut conn = diesel_async::AsyncPgConnection::establish(stack.env.db.url())
        .await
        .unwrap();
    let rows: Vec<Row> =
        diesel::sql_query("SELECT id, state, error FROM import.punches WHERE import_id = $1")
            .bind::<diesel::sql_types::BigInt, _>(import_id)
            .load(&mut conn)
            .await
            .unwrap();
    rows.into_iter()
        .map(|r| (r.id, (r.state, r.error)))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn thousands_of_status_messages_for_one_import_all_show_on_its_rows() {
    let stack = Stack::start().await;
    let (import_id, company, punches) = import(&stack, 1_500).await;
    let start = Utc::now() + chrono::Duration::seconds(1);

    // As two requests to Bayzat would report them: a request's punches sending, then their
    // outcome a little later. Every other request's outcome is published before its sending
    // (a late message), and the last message published is an outcome, so once every punch
    // shows its outcome every message before it was handled.
    let mut messages = Vec::new();
    for (index, request) in punches.chunks(2).enumerate() {
        let sent_at = start + chrono::Duration::milliseconds(index as i64);
        let sending = status(company, request, DeliveryState::Sending, None, sent_at);
        let delivered = status(
            company,
            request,
            DeliveryState::Delivered,
            None,
            sent_at + chrono::Duration::seconds(1),
        );
        if index % 2 == 1 {
            messages.extend([delivered, sending]);
        } else {
            messages.extend([sending, delivered]);
        }
    }
    // The first outcome again, under the same id and with a later change: a message handled
    // once is never applied again, whatever it says.
    let mut again = status(
        company,
        &punches[..2],
        DeliveryState::Failed,
        Some("never applied"),
        start + chrono::Duration::hours(1),
    );
    again.message_id = messages[1].message_id;
    let last = messages.pop().unwrap();
    messages.extend([again, last]);
    assert!(messages.len() > 3_000);
    publish(&stack, &messages).await;

    wait_for_progress(
        &stack,
        import_id,
        json!({ "advline": { "delivered": punches.len() } }),
    )
    .await;
    let states = states(&stack, import_id).await;
    assert!(
        states
            .values()
            .all(|(state, error)| state == "delivered" && error.is_none()),
        "{states:?}"
    );
}

/// A batch of status messages reads the punches it changes through their key, not the whole
/// ledger: as a join the planner may choose instead, every batch read every punch ever imported.
#[tokio::test(flavor = "multi_thread")]
async fn applying_states_reads_only_the_punches_they_change() {
    let stack = Stack::start().await;
    let (_, _, punches) = import(&stack, 4_000).await;
    let mut conn = diesel_async::AsyncPgConnection::establish(stack.env.db.url())
        .await
        .unwrap();
    diesel::sql_query("ANALYZE import.punches")
        .execute(&mut conn)
        .await
        .unwrap();
    let at = Utc::now();
    let changes: Vec<StateChange> = punches[..200]
        .iter()
        .map(|&punch_id| StateChange {
            punch_id,
            state: "delivered".to_owned(),
            error: None,
            at,
        })
        .collect();
    #[derive(Debug, diesel::QueryableByName)]
    struct Reads {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        seq_tup_read: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        idx_tup_fetch: i64,
    }
    let (applied, reads) = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            let applied = punches::apply_states(conn, &changes).await?;
            // This transaction's own reads of the table so far.
            let reads: Reads = diesel::sql_query(
                "SELECT seq_tup_read, idx_tup_fetch FROM pg_stat_xact_user_tables \
                 WHERE schemaname = 'import' AND relname = 'punches'",
            )
            .get_result(conn)
            .await?;
            Ok((applied, reads))
        })
        .await
        .unwrap();
    assert_eq!(applied, 200);
    assert_eq!(
        (reads.seq_tup_read, reads.idx_tup_fetch),
        (0, 200),
        "{} punches in the ledger",
        punches.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_poison_status_message_is_dead_lettered_and_the_others_among_it_applied() {
    let stack = Stack::start().await;
    let (import_id, company, punches) = import(&stack, 60).await;
    let at = Utc::now() + chrono::Duration::seconds(1);

    let mut messages: Vec<Outgoing> = punches
        .chunks(3)
        .map(|request| status(company, request, DeliveryState::Rejected, Some("no"), at))
        .collect();
    let undecodable = Outgoing {
        message_id: Uuid::now_v7(),
        message_type: PunchesStatusV1::TYPE.to_owned(),
        routing_key: format!("status.company.{company}"),
        payload: b"{\"company_id\": \"not a number\"}".to_vec(),
        traceparent: None,
    };
    let unexpected = Outgoing {
        message_id: Uuid::now_v7(),
        message_type: "punches.status.v0".to_owned(),
        ..status(company, &punches[..1], DeliveryState::Failed, None, at)
    };
    let poison = [undecodable.message_id, unexpected.message_id];
    messages.insert(7, undecodable);
    messages.insert(8, unexpected);
    publish(&stack, &messages).await;

    wait_for_progress(
        &stack,
        import_id,
        json!({ "advline": { "rejected": punches.len() } }),
    )
    .await;
    let states = states(&stack, import_id).await;
    assert!(
        states
            .values()
            .all(|(state, error)| state == "rejected" && error.as_deref() == Some("no")),
        "{states:?}"
    );

    // Both poison messages reach the dead-letter queue, each with why.
    let connection = stack.broker.connected().await;
    let channel = connection.create_channel().await.unwrap();
    let queue = stack.env.broker.topology().dead_letter_queue();
    let status_queue = stack.env.broker.topology().import_status_queue().name;
    let dead = std::sync::Mutex::new(Vec::new());
    wait_for(
        Duration::from_secs(30),
        "both poison messages are dead-lettered",
        || async {
            let taken = channel
                .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
                .await
                .map_err(|e| e.to_string())?;
            let mut dead = dead.lock().unwrap();
            if let Some(message) = taken {
                let properties = &message.delivery.properties;
                let id = properties.message_id().as_ref().unwrap().to_string();
                let header = |name: &str| match properties
                    .headers()
                    .as_ref()
                    .and_then(|h| h.inner().get(name).cloned())
                {
                    Some(AMQPValue::LongString(value)) => value.to_string(),
                    other => format!("{other:?}"),
                };
                // Other services consume the same status messages from queues of their own and
                // dead-letter what they cannot read too: only import-service's count here.
                if header("x-bridge-dead-letter-queue") == status_queue {
                    dead.push((id, header("x-bridge-dead-letter-reason")));
                }
            }
            (dead.len() >= poison.len())
                .then_some(())
                .ok_or(format!("{dead:?}"))
        },
    )
    .await;
    let dead = dead.into_inner().unwrap();
    let reasons: BTreeMap<String, String> = dead.into_iter().collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    let undecodable_reason = &reasons[&poison[0].to_string()];
    assert!(
        undecodable_reason.starts_with("undecodable punches.status.v1"),
        "{undecodable_reason}"
    );
    assert_eq!(
        reasons[&poison[1].to_string()],
        "expected punches.status.v1, got punches.status.v0"
    );
}
