//! The storage functions against a real `sync` schema: what the statements mean, and what a row
//! the domain cannot read does.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, SubsecRound, TimeDelta, Utc};
use diesel_async::{AsyncConnection, RunQueryDsl};
use domain::{CompanySyncState, DeliveryState};
use test_support::TestDb;
use uuid::Uuid;

use super::deliveries::{self, DeliveryFilter, NewDelivery, Update};
use super::leases::{self, Fence};
use super::{batches, companies, Conn, QueryResult};

const COMPANY: i64 = 7;

async fn migrated() -> (TestDb, Conn) {
    let db = TestDb::create().await;
    db::run_migrations(db.url(), crate::SCHEMA, crate::MIGRATIONS)
        .await
        .expect("migrate");
    let conn = Conn::establish(db.url()).await.expect("connect");
    (db, conn)
}

fn at(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").expect("a time")
}

fn punch(punch_id: i64, emp_id: &str, state: DeliveryState) -> NewDelivery {
    NewDelivery {
        punch_id,
        emp_id: emp_id.to_owned(),
        punch_type: "checkIn".to_owned(),
        local_time: at("2026-05-01 08:00:00") + TimeDelta::minutes(punch_id),
        state,
        next_attempt_at: None,
    }
}

/// A ready message for `batch`.
fn arrival(batch: Uuid) -> batches::Arrival {
    batches::Arrival {
        message_id: None,
        id: batch,
        company_id: COMPANY,
        import_id: 1,
        is_enabled: true,
    }
}

/// The arrival of one ready message.
async fn receive(
    conn: &mut Conn,
    arrival: batches::Arrival,
    now: DateTime<Utc>,
) -> QueryResult<Option<CompanySyncState>> {
    let mut arrived = batches::arrive(conn, &[arrival], now).await?;
    Ok(arrived.pop().flatten())
}

/// Inserts one ready message's deliveries to `batch`, with the batch's punches in all when it
/// says.
async fn insert(
    conn: &mut Conn,
    batch: Uuid,
    rows: &[NewDelivery],
    announced: Option<i32>,
    now: DateTime<Utc>,
) -> QueryResult<Vec<deliveries::Changed>> {
    let message = deliveries::Arriving {
        batch_id: batch,
        company_id: COMPANY,
        import_id: 1,
        rows,
        announced,
    };
    deliveries::insert(conn, &[message], now).await
}

/// Pending deliveries of `punch_ids`, each of its own employee.
fn pending(punch_ids: impl IntoIterator<Item = i64>) -> Vec<NewDelivery> {
    punch_ids
        .into_iter()
        .map(|id| punch(id, &format!("E{id}"), DeliveryState::Pending))
        .collect()
}

async fn store(conn: &mut Conn, rows: &[NewDelivery], now: DateTime<Utc>) -> Uuid {
    let batch_id = Uuid::now_v7();
    receive(conn, arrival(batch_id), now).await.expect("batch");
    let inserted = insert(conn, batch_id, rows, None, now)
        .await
        .expect("insert");
    assert_eq!(inserted.len(), rows.len());
    batch_id
}

/// Everything the subscriber writes, for assertions on the log.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn due_rows_that_make_no_bayzat_record_are_logged_with_their_punch_id_and_why() {
    let (_db, mut conn) = migrated().await;
    let now = Utc::now();
    store(
        &mut conn,
        &[
            punch(1, "E1", DeliveryState::Pending),
            punch(2, "   ", DeliveryState::Pending),
            punch(3, "E3", DeliveryState::Pending),
        ],
        now,
    )
    .await;
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let due = {
        let _guard = tracing::subscriber::set_default(subscriber);
        deliveries::load_due(&mut conn, COMPANY, now, 100)
            .await
            .expect("load")
    };
    let ids: Vec<i64> = due.iter().map(|d| d.punch_id.0).collect();
    assert_eq!(ids, [1, 3]);
    let log = log.text();
    assert!(log.contains("ERROR"), "{log}");
    assert!(log.contains("punch_id=2"), "{log}");
    assert!(log.contains("reason=its empId"), "{log}");
}

#[tokio::test]
async fn a_delivery_state_outside_the_set_is_an_error_not_a_guess() {
    let (_db, mut conn) = migrated().await;
    let now = Utc::now();
    store(&mut conn, &[punch(1, "E1", DeliveryState::Pending)], now).await;
    // Only a schema whose check was dropped can hold such a row.
    diesel::sql_query("ALTER TABLE sync.deliveries DROP CONSTRAINT deliveries_state_check")
        .execute(&mut conn)
        .await
        .expect("drop the check");
    diesel::sql_query("UPDATE sync.deliveries SET state = 'lost'")
        .execute(&mut conn)
        .await
        .expect("corrupt the row");
    let listed = deliveries::list(&mut conn, &DeliveryFilter::default(), 0, 10).await;
    assert!(
        matches!(listed, Err(diesel::result::Error::DeserializationError(_))),
        "{listed:?}"
    );
    let counted = deliveries::counts(&mut conn, None).await;
    assert!(
        matches!(counted, Err(diesel::result::Error::DeserializationError(_))),
        "{counted:?}"
    );
}

#[tokio::test]
async fn the_delivery_list_filters_by_state() {
    let (_db, mut conn) = migrated().await;
    let now = Utc::now();
    store(
        &mut conn,
        &[
            punch(1, "E1", DeliveryState::Pending),
            punch(2, "E2", DeliveryState::Held),
            punch(3, "E3", DeliveryState::Held),
        ],
        now,
    )
    .await;
    let held = DeliveryFilter {
        state: Some(DeliveryState::Held),
        company_ids: Some(vec![COMPANY]),
        ..DeliveryFilter::default()
    };
    let (rows, total) = deliveries::list(&mut conn, &held, 1, 10)
        .await
        .expect("list");
    assert_eq!(total, 2);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].punch_id, 3);
    assert_eq!(rows[0].state, DeliveryState::Held);
}

#[tokio::test]
async fn a_company_state_keeps_its_since_until_the_state_changes() {
    let (_db, mut conn) = migrated().await;
    let t0 = Utc::now();
    companies::ensure(&mut conn, COMPANY, false, t0)
        .await
        .expect("ensure");
    let state = companies::find(&mut conn, COMPANY)
        .await
        .expect("find")
        .expect("a row");
    assert_eq!(state.state(), CompanySyncState::Disabled);
    assert_eq!(state.reason.as_deref(), Some("sync disabled"));
    let t1 = t0 + TimeDelta::seconds(10);
    companies::set_state(
        &mut conn,
        COMPANY,
        CompanySyncState::Disabled,
        Some("again"),
        t1,
    )
    .await
    .expect("same state");
    let state = companies::find(&mut conn, COMPANY).await.unwrap().unwrap();
    assert_eq!(state.since.timestamp_micros(), t0.timestamp_micros());
    assert_eq!(state.reason.as_deref(), Some("again"));
    let t2 = t0 + TimeDelta::seconds(20);
    companies::set_state(&mut conn, COMPANY, CompanySyncState::Active, None, t2)
        .await
        .expect("new state");
    let state = companies::find(&mut conn, COMPANY).await.unwrap().unwrap();
    assert_eq!(state.state(), CompanySyncState::Active);
    assert_eq!(state.since.timestamp_micros(), t2.timestamp_micros());
    assert_eq!(state.reason, None);
    companies::bump_config_version(&mut conn, COMPANY)
        .await
        .expect("bump");
    let state = companies::find(&mut conn, COMPANY).await.unwrap().unwrap();
    assert_eq!(state.config_version, 1);
}

#[tokio::test]
async fn a_lease_is_renewed_by_its_holder_and_taken_over_only_once_expired() {
    let (_db, mut conn) = migrated().await;
    let ttl = Duration::from_secs(10);
    let t0 = Utc::now();
    let a = leases::acquire(&mut conn, COMPANY, "a", t0, ttl)
        .await
        .expect("acquire")
        .expect("free");
    assert_eq!(a.epoch, 1);
    let renewed = leases::acquire(&mut conn, COMPANY, "a", t0 + TimeDelta::seconds(1), ttl)
        .await
        .unwrap()
        .expect("its own");
    assert_eq!(renewed.epoch, 1);
    let refused = leases::acquire(&mut conn, COMPANY, "b", t0 + TimeDelta::seconds(2), ttl)
        .await
        .unwrap();
    assert_eq!(refused, None);
    let started = t0 + TimeDelta::seconds(3);
    assert!(
        leases::record_start(&mut conn, COMPANY, "a", 1, started, ttl)
            .await
            .unwrap()
    );
    // Expired (started + ttl): b takes over and the epoch moves on, fencing a.
    let later = started + TimeDelta::seconds(11);
    let b = leases::acquire(&mut conn, COMPANY, "b", later, ttl)
        .await
        .unwrap()
        .expect("expired");
    assert_eq!(b.epoch, 2);
    assert_eq!(
        b.last_request_started_at.map(|t| t.timestamp_micros()),
        Some(started.timestamp_micros())
    );
    let fenced_out = Fence {
        company_id: COMPANY,
        holder: "a".to_owned(),
        epoch: 1,
    };
    assert!(!leases::hold(&mut conn, &fenced_out).await.unwrap());
    assert!(!leases::renew(&mut conn, COMPANY, "a", 1, later, ttl)
        .await
        .unwrap());
    let holder = Fence {
        holder: "b".to_owned(),
        epoch: 2,
        ..fenced_out.clone()
    };
    assert!(leases::hold(&mut conn, &holder).await.unwrap());
}

#[tokio::test]
async fn sender_writes_apply_only_under_the_lease() {
    let (_db, mut conn) = migrated().await;
    let now = Utc::now();
    store(
        &mut conn,
        &[
            punch(1, "E1", DeliveryState::Pending),
            punch(2, "E2", DeliveryState::Pending),
            punch(3, "E3", DeliveryState::Cancelled),
        ],
        now,
    )
    .await;
    let lease = leases::acquire(&mut conn, COMPANY, "a", now, Duration::from_secs(10))
        .await
        .unwrap()
        .unwrap();
    let stale = Fence {
        company_id: COMPANY,
        holder: "a".to_owned(),
        epoch: lease.epoch + 1,
    };
    assert!(deliveries::mark_sending(&mut conn, &stale, &[1, 2, 3], now)
        .await
        .unwrap()
        .is_empty());
    let fence = Fence {
        epoch: lease.epoch,
        ..stale
    };
    let mut sending = deliveries::mark_sending(&mut conn, &fence, &[1, 2, 3], now)
        .await
        .unwrap();
    sending.sort_by_key(|c| c.punch_id);
    assert_eq!(
        sending
            .iter()
            .map(|c| (c.punch_id, c.state))
            .collect::<Vec<_>>(),
        [(1, DeliveryState::Sending), (2, DeliveryState::Sending)]
    );
    let retry_at = now + TimeDelta::seconds(30);
    let applied = deliveries::apply(
        &mut conn,
        &fence,
        &[
            Update {
                punch_id: 1,
                state: DeliveryState::Delivered,
                attempts: None,
                next_attempt_at: None,
                error: None,
            },
            Update {
                punch_id: 2,
                state: DeliveryState::RetryWait,
                attempts: Some(1),
                next_attempt_at: Some(retry_at),
                error: Some("503".to_owned()),
            },
        ],
        None,
        now,
    )
    .await
    .unwrap();
    assert_eq!(applied.len(), 2);
    let waiting = deliveries::waiting(&mut conn, COMPANY)
        .await
        .unwrap()
        .expect("one waits");
    assert_eq!(waiting.deliveries, 1);
    assert_eq!(waiting.reason.as_deref(), Some("503"));
    assert_eq!(
        waiting.next_attempt_at.map(|t| t.timestamp_micros()),
        Some(retry_at.timestamp_micros())
    );
    // Not due yet, then due.
    assert!(deliveries::load_due(&mut conn, COMPANY, now, 10)
        .await
        .unwrap()
        .is_empty());
    let due = deliveries::load_due(&mut conn, COMPANY, retry_at, 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].attempts, 1);
    assert_eq!(
        deliveries::oldest_waiting(&mut conn, COMPANY)
            .await
            .unwrap()
            .map(|t| t.timestamp_micros()),
        Some(now.timestamp_micros())
    );
    let retried = deliveries::transition(
        &mut conn,
        &deliveries::Selection {
            company_id: Some(COMPANY),
            from: vec![DeliveryState::RetryWait],
            ..deliveries::Selection::default()
        },
        DeliveryState::Pending,
        None,
        true,
        now,
    )
    .await
    .unwrap();
    assert_eq!(
        retried
            .iter()
            .map(|c| (c.punch_id, c.state, c.last_error.clone()))
            .collect::<Vec<_>>(),
        [(2, DeliveryState::Pending, None)]
    );
    let due = deliveries::load_due(&mut conn, COMPANY, now, 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].attempts, 0);
    let mut counts: Vec<(String, i64)> = deliveries::counts(&mut conn, Some(COMPANY))
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.state, c.count))
        .collect();
    counts.sort();
    assert_eq!(
        counts,
        [
            ("cancelled".to_owned(), 1),
            ("delivered".to_owned(), 1),
            ("pending".to_owned(), 1),
        ]
    );
}

#[tokio::test]
async fn a_refused_key_pauses_a_company_once_until_it_is_active_again() {
    let (_db, mut conn) = migrated().await;
    let t0 = Utc::now();
    companies::ensure(&mut conn, COMPANY, true, t0)
        .await
        .expect("ensure");
    let t1 = t0 + TimeDelta::seconds(1);
    let paused = companies::pause(&mut conn, COMPANY, "refused (401)", t1)
        .await
        .expect("pause");
    assert_eq!(
        paused.map(|s| s.timestamp_micros()),
        Some(t1.timestamp_micros())
    );
    // Another refusal while paused is no new pause, and keeps the first one's time.
    let t2 = t0 + TimeDelta::seconds(2);
    let again = companies::pause(&mut conn, COMPANY, "refused again (401)", t2)
        .await
        .expect("pause again");
    assert_eq!(again, None);
    let state = companies::find(&mut conn, COMPANY).await.unwrap().unwrap();
    assert_eq!(state.state(), CompanySyncState::PausedAuth);
    assert_eq!(state.since.timestamp_micros(), t1.timestamp_micros());
    assert_eq!(state.reason.as_deref(), Some("refused (401)"));
    // A new key made it active: the next refusal is a new pause.
    companies::set_state(&mut conn, COMPANY, CompanySyncState::Active, None, t2)
        .await
        .expect("active");
    let t3 = t0 + TimeDelta::seconds(3);
    let later = companies::pause(&mut conn, COMPANY, "refused (403)", t3)
        .await
        .expect("pause later");
    assert_eq!(
        later.map(|s| s.timestamp_micros()),
        Some(t3.timestamp_micros())
    );
    // A company first seen through a refusal is paused too.
    let unseen = companies::pause(&mut conn, COMPANY + 1, "refused (401)", t3)
        .await
        .expect("pause unseen");
    assert_eq!(
        unseen.map(|s| s.timestamp_micros()),
        Some(t3.timestamp_micros())
    );
}

/// Puts the deliveries straight into `state`, as the sender's and operators' moves would.
async fn set_states(conn: &mut Conn, punch_ids: &[i64], state: DeliveryState) {
    diesel::sql_query("UPDATE sync.deliveries SET state = $2 WHERE punch_id = ANY($1)")
        .bind::<diesel::sql_types::Array<diesel::sql_types::BigInt>, _>(punch_ids.to_vec())
        .bind::<diesel::sql_types::Text, _>(state.as_str())
        .execute(conn)
        .await
        .expect("move the deliveries");
}

/// Opens a transaction on `conn` that marks `punch_ids` `sending`, as a sender does, and leaves
/// it open: the batch's row stays locked by the count trigger until the caller commits.
async fn begin_sending(conn: &mut Conn, punch_ids: std::ops::RangeInclusive<i64>) {
    use diesel_async::SimpleAsyncConnection;
    conn.batch_execute("BEGIN").await.unwrap();
    set_states(conn, &punch_ids.collect::<Vec<_>>(), DeliveryState::Sending).await;
}

#[tokio::test]
async fn a_recount_reports_a_batch_once_each_time_it_settles() {
    let (_db, mut conn) = migrated().await;
    let now = Utc::now();
    let rows = pending([1, 2, 3]);
    let batch = store(&mut conn, &rows, now).await;
    set_states(&mut conn, &[1], DeliveryState::Delivered).await;
    set_states(&mut conn, &[2], DeliveryState::Failed).await;
    let settled = batches::refresh(&mut conn, &[batch], now).await.unwrap();
    assert_eq!(settled, [], "punch 3 is still on its way");
    set_states(&mut conn, &[3], DeliveryState::Cancelled).await;
    let settled = batches::refresh(&mut conn, &[batch, batch], now)
        .await
        .unwrap();
    assert_eq!(
        settled,
        [batches::Settled {
            id: batch,
            company_id: COMPANY,
            import_id: Some(1),
            status: "failed".to_owned(),
            total_count: 3,
            delivered_count: 1,
            failed_count: 1,
            rejected_count: 0,
            cancelled_count: 1,
            completed_at: Some(now.trunc_subsecs(6)),
        }]
    );
    let settled = batches::refresh(&mut conn, &[batch], now).await.unwrap();
    assert_eq!(settled, [], "settled already");
    // An operator's retry sends the failed punch again, and this time it is delivered.
    set_states(&mut conn, &[2], DeliveryState::Pending).await;
    let settled = batches::refresh(&mut conn, &[batch], now).await.unwrap();
    assert_eq!(settled, [], "on its way again");
    set_states(&mut conn, &[2], DeliveryState::Delivered).await;
    let later = now + TimeDelta::seconds(5);
    let settled = batches::refresh(&mut conn, &[batch], later).await.unwrap();
    let outcome: Vec<_> = settled
        .iter()
        .map(|b| {
            (
                b.status.as_str(),
                b.delivered_count,
                b.failed_count,
                b.completed_at,
            )
        })
        .collect();
    assert_eq!(outcome, [("completed", 2, 0, Some(later.trunc_subsecs(6)))]);
}

#[tokio::test]
async fn a_batch_is_not_reported_settled_before_its_messages_brought_every_punch_they_announced() {
    let (_db, mut conn) = migrated().await;
    let now = Utc::now();
    let batch = Uuid::now_v7();
    // The batch's first message: 2 of its 5 punches, both delivered before the rest is stored.
    receive(&mut conn, arrival(batch), now).await.unwrap();
    let first = pending([1, 2]);
    insert(&mut conn, batch, &first, Some(5), now)
        .await
        .unwrap();
    set_states(&mut conn, &[1, 2], DeliveryState::Delivered).await;
    let settled = batches::refresh(&mut conn, &[batch], now).await.unwrap();
    assert_eq!(settled, [], "3 punches have not come yet");
    let kept = batches::find(&mut conn, batch).await.unwrap().unwrap();
    assert_eq!(
        (kept.status.as_str(), kept.completed_at),
        ("processing", None)
    );
    // The rest: a message that does not say (as from an older sender) and one that does.
    receive(&mut conn, arrival(batch), now).await.unwrap();
    insert(&mut conn, batch, &pending([3]), None, now)
        .await
        .unwrap();
    receive(&mut conn, arrival(batch), now).await.unwrap();
    insert(&mut conn, batch, &pending([4, 5]), Some(5), now)
        .await
        .unwrap();
    set_states(&mut conn, &[3, 4, 5], DeliveryState::Delivered).await;
    let settled = batches::refresh(&mut conn, &[batch], now).await.unwrap();
    let outcome: Vec<_> = settled
        .iter()
        .map(|b| (b.status.as_str(), b.total_count, b.delivered_count))
        .collect();
    assert_eq!(outcome, [("completed", 5, 5)], "reported once, whole");
}

#[derive(diesel::QueryableByName)]
struct Mismatch {
    #[diesel(sql_type = diesel::sql_types::Text)]
    batch: String,
}

/// Batches whose kept counts differ from a count of their deliveries, with both.
async fn miscounted(conn: &mut Conn) -> Vec<String> {
    let rows: Vec<Mismatch> = diesel::sql_query(
        "SELECT format('%s kept %s counted %s', b.id, \
             row(b.total_count, b.delivered_count, b.failed_count, b.rejected_count, \
                 b.cancelled_count, b.started_count, b.error_message), \
             row(c.total, c.delivered, c.failed, c.rejected, c.cancelled, c.started, c.error)) \
             AS batch \
         FROM sync.sync_batches b JOIN (SELECT batch_id, count(*)::int AS total, \
             count(*) FILTER (WHERE state = 'delivered')::int AS delivered, \
             count(*) FILTER (WHERE state = 'failed')::int AS failed, \
             count(*) FILTER (WHERE state = 'rejected')::int AS rejected, \
             count(*) FILTER (WHERE state = 'cancelled')::int AS cancelled, \
             count(*) FILTER (WHERE state NOT IN ('pending', 'scheduled', 'held', 'paused') \
                 OR attempts > 0)::int AS started, \
             max(last_error) FILTER (WHERE state IN ('failed', 'rejected')) AS error \
           FROM sync.deliveries GROUP BY batch_id) c ON c.batch_id = b.id \
         WHERE row(b.total_count, b.delivered_count, b.failed_count, b.rejected_count, \
                 b.cancelled_count, b.started_count, b.error_message) \
           IS DISTINCT FROM row(c.total, c.delivered, c.failed, c.rejected, c.cancelled, \
                 c.started, c.error)",
    )
    .load(conn)
    .await
    .expect("compare the counts");
    rows.into_iter().map(|r| r.batch).collect()
}

#[tokio::test]
async fn a_batch_keeps_the_counts_its_deliveries_give_through_every_move() {
    let (_db, mut conn) = migrated().await;
    let now = Utc::now();
    let rows = pending(1..=40);
    let first = store(&mut conn, &rows[..25], now).await;
    store(&mut conn, &rows[25..], now).await;
    assert_eq!(miscounted(&mut conn).await, Vec::<String>::new());
    let all = [
        DeliveryState::Pending,
        DeliveryState::Scheduled,
        DeliveryState::Held,
        DeliveryState::Paused,
        DeliveryState::Sending,
        DeliveryState::Delivered,
        DeliveryState::RetryWait,
        DeliveryState::Failed,
        DeliveryState::Rejected,
        DeliveryState::Cancelled,
    ];
    // Moves of any delivery to any state, some across both batches in one statement, errors
    // that rise and fall, attempts spent: a pseudo-random walk the counts must follow.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |bound: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % bound
    };
    for step in 0..120 {
        let state = all[next(all.len() as u64) as usize];
        let from = 1 + next(40) as i64;
        let ids: Vec<i64> = (from..=(from + next(12) as i64).min(40)).collect();
        diesel::sql_query(
            "UPDATE sync.deliveries SET state = $2, attempts = attempts + $3, \
             last_error = CASE WHEN $2 IN ('failed', 'rejected', 'retry_wait') THEN $4 \
               ELSE last_error END WHERE punch_id = ANY($1)",
        )
        .bind::<diesel::sql_types::Array<diesel::sql_types::BigInt>, _>(ids)
        .bind::<diesel::sql_types::Text, _>(state.as_str())
        .bind::<diesel::sql_types::Integer, _>(i32::from(next(4) == 0))
        .bind::<diesel::sql_types::Text, _>(format!("HTTP 5{:02}", next(100)))
        .execute(&mut conn)
        .await
        .expect("move deliveries");
        assert_eq!(
            miscounted(&mut conn).await,
            Vec::<String>::new(),
            "after step {step}"
        );
    }
    // Retention deletes a settled batch's deliveries: its counts tell what it did.
    let kept = batches::find(&mut conn, first).await.unwrap().unwrap();
    diesel::sql_query("DELETE FROM sync.deliveries WHERE batch_id = $1")
        .bind::<diesel::sql_types::Uuid, _>(first)
        .execute(&mut conn)
        .await
        .expect("delete the batch's deliveries");
    let after = batches::find(&mut conn, first).await.unwrap().unwrap();
    assert_eq!(
        (after.total_count, after.delivered_count, after.failed_count),
        (kept.total_count, kept.delivered_count, kept.failed_count)
    );
    assert_eq!(kept.total_count, 25);
}

#[tokio::test]
async fn a_batch_without_deliveries_is_not_reported_settled() {
    let (_db, mut conn) = migrated().await;
    let now = Utc::now();
    let batch = Uuid::now_v7();
    receive(&mut conn, arrival(batch), now).await.unwrap();
    let settled = batches::refresh(&mut conn, &[batch], now).await.unwrap();
    assert_eq!(settled, []);
    let status = batches::find(&mut conn, batch)
        .await
        .unwrap()
        .unwrap()
        .status;
    assert_eq!(status, "pending");
}

#[tokio::test]
async fn a_sender_does_not_wait_for_a_store_of_its_batch_before_the_store_has_its_punches_in() {
    use diesel_async::SimpleAsyncConnection;
    let (db, mut sender) = migrated().await;
    let now = Utc::now();
    let batch = store(&mut sender, &pending(1..=20), now).await;
    // A store of the batch's next message has begun: the message's arrival is written, its
    // punches (thousands, with other companies' messages) are still to be inserted.
    let mut storer = Conn::establish(db.url()).await.expect("connect");
    storer.batch_execute("BEGIN").await.unwrap();
    receive(&mut storer, arrival(batch), now).await.unwrap();
    // Meanwhile the sender marks the first punches `sending`, which moves the batch's counts:
    // it must not wait until the store commits (a lock wait fails the statement here).
    sender
        .batch_execute("SET lock_timeout = '3s'")
        .await
        .unwrap();
    set_states(
        &mut sender,
        &(1..=20).collect::<Vec<_>>(),
        DeliveryState::Sending,
    )
    .await;
    insert(&mut storer, batch, &pending(21..=40), Some(40), now)
        .await
        .unwrap();
    storer.batch_execute("COMMIT").await.unwrap();
    let kept = batches::find(&mut sender, batch).await.unwrap().unwrap();
    assert_eq!(kept.total_count, 40);
    assert!(miscounted(&mut sender).await.is_empty());
}

#[tokio::test]
async fn a_store_does_not_wait_for_a_sender_writing_to_its_batch_and_company() {
    use diesel_async::SimpleAsyncConnection;
    let (db, mut sender) = migrated().await;
    let now = Utc::now();
    let batch = store(&mut sender, &pending(1..=20), now).await;
    // The sender's transaction moves the batch's counts (marking its first punches `sending`)
    // and writes the company's row (a 429's wait), and has not committed yet.
    begin_sending(&mut sender, 1..=20).await;
    companies::set_rate_limited(&mut sender, COMPANY, now, "rate limited")
        .await
        .unwrap();
    // The batch's next message arrives: its batch and company are there already, and the store
    // must not wait for the sender to find that out (a lock wait fails the statement here).
    let mut storer = Conn::establish(db.url()).await.expect("connect");
    storer
        .batch_execute("SET lock_timeout = '3s'; BEGIN")
        .await
        .unwrap();
    let arrived = receive(&mut storer, arrival(batch), now)
        .await
        .expect("the arrival waits for no sender");
    assert_eq!(arrived, Some(CompanySyncState::Active));
    storer.batch_execute("COMMIT").await.unwrap();
    sender.batch_execute("COMMIT").await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn storing_more_of_a_batch_while_its_first_punches_are_sent_does_not_deadlock() {
    use diesel_async::SimpleAsyncConnection;
    let (db, mut sender) = migrated().await;
    let now = Utc::now();
    let first = pending(1..=20);
    let batch = store(&mut sender, &first, now).await;
    // The sender marks the first punches `sending` (the trigger locks their batch)...
    begin_sending(&mut sender, 1..=20).await;
    // ...while the batch's next ready message is stored, which waits for the sender.
    let mut storer = Conn::establish(db.url()).await.expect("connect");
    let storing = tokio::spawn(async move {
        storer.batch_execute("BEGIN").await?;
        let more = pending(21..=40);
        insert(&mut storer, batch, &more, None, now).await?;
        batches::refresh(&mut storer, &[batch], now).await?;
        storer.batch_execute("COMMIT").await
    });
    test_support::wait_for_a_lock_wait(
        &mut sender,
        Duration::from_secs(10),
        "the store never waited",
    )
    .await;
    // The sender's refresh must not wait for the store in turn.
    batches::refresh(&mut sender, &[batch], now)
        .await
        .expect("the sender's refresh");
    sender.batch_execute("COMMIT").await.unwrap();
    storing
        .await
        .unwrap()
        .expect("the store commits after the sender");
    let kept = batches::find(&mut sender, batch).await.unwrap().unwrap();
    assert_eq!((kept.total_count, kept.status.as_str()), (40, "processing"));
}

#[tokio::test]
async fn ready_messages_arrive_once_and_a_company_first_seen_disabled_starts_disabled() {
    #[derive(diesel::QueryableByName)]
    struct Received {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        received_count: i32,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Integer>)]
        announced_count: Option<i32>,
    }
    async fn received(conn: &mut Conn, batch: Uuid) -> (i32, Option<i32>) {
        let row: Received = diesel::sql_query(
            "SELECT received_count, announced_count FROM sync.sync_batches WHERE id = $1",
        )
        .bind::<diesel::sql_types::Uuid, _>(batch)
        .get_result(conn)
        .await
        .unwrap();
        (row.received_count, row.announced_count)
    }
    let (_db, mut conn) = migrated().await;
    let now = Utc::now();
    let (batch, other_batch) = (Uuid::now_v7(), Uuid::now_v7());
    let message = |id: Uuid, batch: Uuid| batches::Arrival {
        message_id: Some(id),
        ..arrival(batch)
    };
    let first = batches::Arrival {
        is_enabled: false,
        ..message(Uuid::now_v7(), batch)
    };
    let arrived = batches::arrive(&mut conn, &[first], now).await.unwrap();
    assert_eq!(arrived, [Some(CompanySyncState::Disabled)]);
    assert_eq!(received(&mut conn, batch).await, (0, None));
    insert(&mut conn, batch, &pending([1, 2]), Some(5), now)
        .await
        .unwrap();
    assert_eq!(received(&mut conn, batch).await, (2, Some(5)));

    // Together: a copy of the first (nothing written), two more of its batch, and another
    // company's first. A company's row, once there, keeps its state.
    let others = [
        first,
        message(Uuid::now_v7(), batch),
        message(Uuid::now_v7(), batch),
        batches::Arrival {
            company_id: COMPANY + 1,
            ..message(Uuid::now_v7(), other_batch)
        },
    ];
    let arrived = batches::arrive(&mut conn, &others, now).await.unwrap();
    let disabled = Some(CompanySyncState::Disabled);
    let active = Some(CompanySyncState::Active);
    assert_eq!(arrived, [None, disabled, disabled, active]);
    let (second, third, other) = (pending([3, 4, 5]), pending([6]), pending([7, 8, 9, 10]));
    let messages = [
        deliveries::Arriving {
            batch_id: batch,
            company_id: COMPANY,
            import_id: 1,
            rows: &second,
            announced: None,
        },
        deliveries::Arriving {
            batch_id: batch,
            company_id: COMPANY,
            import_id: 1,
            rows: &third,
            announced: Some(6),
        },
        deliveries::Arriving {
            batch_id: other_batch,
            company_id: COMPANY + 1,
            import_id: 1,
            rows: &other,
            announced: None,
        },
    ];
    deliveries::insert(&mut conn, &messages, now).await.unwrap();
    assert_eq!(received(&mut conn, batch).await, (6, Some(6)));
    assert_eq!(received(&mut conn, other_batch).await, (4, None));
    let company = companies::find(&mut conn, COMPANY).await.unwrap().unwrap();
    assert_eq!(company.reason.as_deref(), Some("sync disabled"));
}
