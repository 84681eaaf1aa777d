//! Stores the punches of ready messages, many messages in one transaction. An import hands every
//! company its first punches at once, each through the company's own queue and consumer; stored
//! one message a transaction (two at a time a replica), the last of 200 companies had its first
//! punches 2.5–2.8 s after the upload began, its sender idle until then, while each store's
//! statements ran 2–3 ms of the 36 ms it took: the rest was eight round trips, each waiting for a
//! core. Here a few workers take every message waiting (up to [`PUNCHES_AT_ONCE`]) and store them
//! together in five round trips; the consumers wait for their message's outcome, and acknowledge
//! it, as before.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection;
use directory::DirectoryCompany;
use domain::{DeliveryState, PunchesReadyV1};
use tokio::sync::{mpsc, oneshot, Mutex};
use uuid::Uuid;

use crate::events::arrival;
use crate::store::deliveries::{self, Arriving, Changed, NewDelivery};
use crate::store::{batches, status};
use crate::Clock;

/// Stores working at once in a replica. Every company's consumer may hand its message over at
/// the same moment; unbounded, their stores took every connection of the pool and the senders'
/// short writes waited behind them.
pub const STORING_AT_ONCE: usize = 2;

/// Punches a store takes at most (more only when one message alone has more): short enough that
/// a sender whose batch a store is writing to waits a few tens of milliseconds at most.
pub const PUNCHES_AT_ONCE: usize = 4_000;

/// Messages waiting for a worker; past this, a consumer waits to hand its message over.
const WAITING: usize = 1_024;

/// A message handed over to be stored, and where its outcome goes.
struct Job {
    message_id: Option<Uuid>,
    ready: PunchesReadyV1,
    company: Option<DirectoryCompany>,
    done: oneshot::Sender<Result<usize, String>>,
}

/// Hands ready messages to this replica's store workers.
pub struct Storer {
    jobs: mpsc::Sender<Job>,
}

impl Storer {
    /// Starts [`STORING_AT_ONCE`] workers; they end once the storer is dropped.
    pub fn start(pool: db::Pool, clock: Clock) -> Self {
        let (jobs, waiting) = mpsc::channel(WAITING);
        let waiting = Arc::new(Mutex::new(waiting));
        for _ in 0..STORING_AT_ONCE {
            tokio::spawn(work(waiting.clone(), pool.clone(), clock.clone()));
        }
        Self { jobs }
    }

    /// Stores the message's punches, with the company's delivery settings as config-service last
    /// described them (None: a company config-service does not know yet). Returns how many were
    /// new; zero for a message stored before.
    pub async fn store(
        &self,
        message_id: Option<Uuid>,
        ready: PunchesReadyV1,
        company: Option<DirectoryCompany>,
    ) -> Result<usize, String> {
        let (done, outcome) = oneshot::channel();
        let job = Job {
            message_id,
            ready,
            company,
            done,
        };
        if self.jobs.send(job).await.is_err() {
            return Err("the service stops".to_owned());
        }
        outcome
            .await
            .unwrap_or_else(|_| Err("the service stops".to_owned()))
    }
}

async fn work(waiting: Arc<Mutex<mpsc::Receiver<Job>>>, pool: db::Pool, clock: Clock) {
    loop {
        let jobs = {
            let mut waiting = waiting.lock().await;
            let Some(first) = waiting.recv().await else {
                return;
            };
            let mut punches = first.ready.punches.len();
            let mut jobs = vec![first];
            while punches < PUNCHES_AT_ONCE {
                match waiting.try_recv() {
                    Ok(job) => {
                        punches += job.ready.punches.len();
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            jobs
        };
        let now = clock.now();
        match store(&pool, &jobs, now).await {
            Ok(counts) => {
                for (job, count) in jobs.into_iter().zip(counts) {
                    let _ = job.done.send(Ok(count));
                }
            }
            // One message's failure must not hold up the others: each is stored alone.
            Err(error) if jobs.len() > 1 => {
                tracing::warn!(%error, messages = jobs.len(), "storing together failed; storing each alone");
                for job in jobs {
                    let outcome = store(&pool, std::slice::from_ref(&job), now)
                        .await
                        .map(|counts| counts.into_iter().sum())
                        .map_err(|e| e.to_string());
                    let _ = job.done.send(outcome);
                }
            }
            Err(error) => {
                for job in jobs {
                    let _ = job.done.send(Err(error.to_string()));
                }
            }
        }
    }
}

/// Stores the jobs' messages in one transaction; returns how many punches of each were new.
async fn store(
    pool: &db::Pool,
    jobs: &[Job],
    now: DateTime<Utc>,
) -> Result<Vec<usize>, db::DbError> {
    // A copy of a message waiting beside it (a redelivery) is stored once, as the first.
    let mut seen = HashSet::new();
    let stored_here: Vec<bool> = jobs
        .iter()
        .map(|job| job.message_id.is_none_or(|id| seen.insert(id)))
        .collect();
    let mut conn = db::connection(pool).await?;
    let changed = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            let considered: Vec<&Job> = jobs
                .iter()
                .zip(&stored_here)
                .filter_map(|(job, here)| here.then_some(job))
                .collect();
            let arrivals: Vec<batches::Arrival> = considered
                .iter()
                .map(|job| batches::Arrival {
                    message_id: job.message_id,
                    id: job.ready.batch_id.0,
                    company_id: job.ready.company_id.0,
                    import_id: job.ready.import_id.0,
                    is_enabled: job.company.as_ref().is_none_or(|c| c.is_enabled),
                })
                .collect();
            let states = batches::arrive(conn, &arrivals, now).await?;
            let rows: Vec<(&Job, Vec<NewDelivery>)> = considered
                .into_iter()
                .zip(states)
                .filter_map(|(job, sync_state)| {
                    let (state, next_attempt_at) = arrival(job.company.as_ref(), sync_state?, now);
                    let rows = job
                        .ready
                        .punches
                        .iter()
                        .map(|p| NewDelivery {
                            punch_id: p.punch_id.0,
                            emp_id: p.emp_id.to_string(),
                            punch_type: p.punch_type.as_str().to_owned(),
                            local_time: p.time.as_naive(),
                            state,
                            next_attempt_at,
                        })
                        .collect();
                    Some((job, rows))
                })
                .collect();
            let messages: Vec<Arriving<'_>> = rows
                .iter()
                .map(|(job, rows)| Arriving {
                    batch_id: job.ready.batch_id.0,
                    company_id: job.ready.company_id.0,
                    import_id: job.ready.import_id.0,
                    rows,
                    announced: job.ready.batch_punches.and_then(|n| i32::try_from(n).ok()),
                })
                .collect();
            let changed = deliveries::insert(conn, &messages, now).await?;
            report(conn, &messages, &changed, now).await?;
            Ok(changed)
        })
        .await?;
    let new: HashSet<i64> = changed.iter().map(|c| c.punch_id).collect();
    Ok(jobs
        .iter()
        .zip(&stored_here)
        .map(|(job, here)| {
            let mine = job.ready.punches.iter();
            if *here {
                mine.filter(|p| new.contains(&p.punch_id.0)).count()
            } else {
                0
            }
        })
        .collect())
}

/// A punch that is to be sent at once stays `queued` in import-service, which says the same to
/// its users (on its way): reporting it `pending` there updated every punch of an import once
/// more while its punches were handed over. The states that say more (scheduled, held, paused)
/// are reported; batches whose punches all go at once still get their status.
async fn report(
    conn: &mut crate::store::Conn,
    messages: &[Arriving<'_>],
    changed: &[Changed],
    now: DateTime<Utc>,
) -> diesel::QueryResult<()> {
    let company_of: HashMap<Uuid, i64> = messages
        .iter()
        .map(|m| (m.batch_id, m.company_id))
        .collect();
    let mut reported: HashMap<i64, Vec<Changed>> = HashMap::new();
    for change in changed.iter().filter(|c| c.state != DeliveryState::Pending) {
        if let Some(company_id) = company_of.get(&change.batch_id) {
            reported
                .entry(*company_id)
                .or_default()
                .push(change.clone());
        }
    }
    let reported_batches: HashSet<Uuid> = reported.values().flatten().map(|c| c.batch_id).collect();
    for (company_id, changes) in &reported {
        status::record(conn, *company_id, changes, now).await?;
    }
    let mut quiet: Vec<Uuid> = messages
        .iter()
        .map(|m| m.batch_id)
        .filter(|id| !reported_batches.contains(id))
        .collect();
    quiet.sort_unstable();
    quiet.dedup();
    if quiet.is_empty() {
        return Ok(());
    }
    status::refresh_batches(conn, &quiet, now).await
}

#[cfg(test)]
mod tests {
    use domain::ReadyPunch;
    use domain::{BatchId, BayzatEmpId, CompanyId, ImportId, LocalPunchTime, PunchId, PunchType};
    use test_support::TestDb;

    use super::*;

    fn ready(company_id: i64, punch_id: i64, emp_id: &str) -> PunchesReadyV1 {
        PunchesReadyV1 {
            batch_id: BatchId(Uuid::now_v7()),
            import_id: ImportId(1),
            company_id: CompanyId(company_id),
            punches: vec![ReadyPunch {
                punch_id: PunchId(punch_id),
                emp_id: BayzatEmpId::new(emp_id).unwrap(),
                punch_type: PunchType::CheckIn,
                time: LocalPunchTime::parse("2026-12-01 09:00:00").unwrap(),
            }],
            batch_punches: None,
        }
    }

    #[tokio::test]
    async fn a_message_that_cannot_be_stored_holds_up_none_waiting_beside_it() {
        let db = TestDb::create().await;
        db::run_migrations(db.url(), crate::SCHEMA, crate::MIGRATIONS)
            .await
            .expect("migrate");
        let pool = db::pool(db.url(), 2).expect("pool");
        // Both wait before a worker starts, so the worker takes them into one transaction; Postgres
        // refuses the second's text (a NUL character), which fails that transaction.
        let (jobs, waiting) = mpsc::channel(WAITING);
        let mut outcomes = Vec::new();
        for message in [ready(1, 1, "1001"), ready(2, 2, "10\u{0}02")] {
            let (done, outcome) = oneshot::channel();
            let job = Job {
                message_id: Some(Uuid::now_v7()),
                ready: message,
                company: None,
                done,
            };
            jobs.send(job).await.unwrap();
            outcomes.push(outcome);
        }
        let worker = tokio::spawn(work(Arc::new(Mutex::new(waiting)), pool, Clock::system()));
        let first = outcomes.remove(0).await.unwrap();
        let second = outcomes.remove(0).await.unwrap();
        assert_eq!(first, Ok(1), "the storable message is stored");
        assert!(second.is_err(), "{second:?}");
        drop(jobs);
        worker.await.unwrap();
    }
}
