//! One sender per company: drains the company's due deliveries to Bayzat at the key's pace,
//! while this replica holds the company's lease (DESIGN.md §4). The rules of what to send and
//! what an answer means are `delivery`'s; this is the I/O around them.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use delivery::{Delivery, Next, Rejection, Transition, UnknownEmployees};
use diesel_async::AsyncConnection;
use domain::{BayzatRecord, CompanySyncState, DeliveryState};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::keys::KeyError;
use crate::runtime::Shared;
use crate::store::companies::SyncState;
use crate::store::deliveries::{self, Selection, Update};
use crate::store::requests::{self, NewRequest};
use crate::store::{companies, leases, status, Conn};

/// Due deliveries read per round; a request takes at most 20 of them.
const DUE_WINDOW: i64 = 1000;
/// Pause after a drain failed (database away) before the sender may be woken again.
const FAILURE_PAUSE: Duration = Duration::from_secs(1);

pub fn spawn(shared: Arc<Shared>, company_id: i64, wake: Arc<Notify>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut sender = Sender::new(shared, company_id);
        loop {
            wake.notified().await;
            if let Err(error) = sender.drain().await {
                tracing::warn!(company_id, %error, "sending interrupted; due work is announced again");
                tokio::time::sleep(FAILURE_PAUSE).await;
            }
        }
    })
}

#[derive(Debug, thiserror::Error)]
enum DrainError {
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error("database: {0}")]
    Query(#[from] diesel::result::Error),
}

/// Whether the drain goes on after a request.
enum Flow {
    Continue,
    /// Lease or consumer lost, company paused, or the key unavailable: send nothing more now.
    Stop,
}

struct Sender {
    shared: Arc<Shared>,
    company_id: i64,
    limiter: DefaultDirectRateLimiter,
    /// When this sender's last request actually left.
    last_sent: Option<tokio::time::Instant>,
    unknown: UnknownEmployees,
    config_version: Option<i64>,
}

impl Sender {
    fn new(shared: Arc<Shared>, company_id: i64) -> Self {
        let interval = shared.bayzat_settings.interval();
        let quota = Quota::with_period(interval.max(Duration::from_millis(1)))
            .expect("a non-zero period")
            .allow_burst(NonZeroU32::MIN);
        Self {
            shared,
            company_id,
            limiter: RateLimiter::direct(quota),
            last_sent: None,
            unknown: UnknownEmployees::new(),
            config_version: None,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.shared.clock.now()
    }

    async fn drain(&mut self) -> Result<(), DrainError> {
        let shared = self.shared.clone();
        let company_id = self.company_id;
        let mut conn = db::connection(&shared.pool).await?;
        let Some(sync_state) = companies::find(&mut conn, company_id).await? else {
            return Ok(());
        };
        self.follow_config(&sync_state).await;
        if sync_state.state() != CompanySyncState::Active {
            return Ok(());
        }
        let now = self.now();
        let Some(lease) = leases::acquire(
            &mut conn,
            company_id,
            &shared.replica_id,
            now,
            shared.lease_ttl,
        )
        .await?
        else {
            tracing::debug!(company_id, "another replica holds the company's lease");
            return Ok(());
        };
        // Whatever is left in `sending` was in flight when its sender stopped (a crash, a lost
        // lease): resend it. A punch Bayzat did take comes back refused as a duplicate, which
        // counts as delivered.
        let resend = Selection {
            company_id: Some(company_id),
            from: vec![DeliveryState::Sending],
            ..Selection::default()
        };
        conn.transaction::<_, diesel::result::Error, _>(async |conn| {
            let changed =
                deliveries::transition(conn, &resend, DeliveryState::Pending, None, false, now)
                    .await?;
            status::record(conn, company_id, &changed, now).await
        })
        .await?;
        // The previous holder's last request counts for the key's rate limit too.
        let bayzat = &shared.bayzat_settings;
        let earliest = delivery::earliest_start(
            lease.last_request_started_at,
            bayzat.rate_limit_delay,
            bayzat.rate_limit_margin,
            now,
        );
        tokio::time::sleep(shared.clock.until(earliest)).await;
        let flow = self.send_due(&mut conn, lease.epoch).await;
        leases::release(
            &mut conn,
            company_id,
            &shared.replica_id,
            lease.epoch,
            self.now(),
        )
        .await?;
        shared.relay.wake();
        flow.map(drop)
    }

    /// Forgets the cached key and the empIds remembered as unknown once the company's
    /// configuration changed, or an operator asked for a resend, since this sender last looked.
    async fn follow_config(&mut self, sync_state: &SyncState) {
        if self.config_version != Some(sync_state.config_version) {
            self.unknown.forget_all();
            self.shared.keys.forget(self.company_id).await;
            self.config_version = Some(sync_state.config_version);
        }
    }

    async fn send_due(&mut self, conn: &mut Conn, epoch: i64) -> Result<Flow, DrainError> {
        loop {
            if !self.shared.broker.is_connected() {
                tracing::warn!(
                    company_id = self.company_id,
                    "broker connection lost; sending stops"
                );
                return Ok(Flow::Stop);
            }
            let now = self.now();
            self.unknown.forget_expired(now);
            let due = deliveries::load_due(conn, self.company_id, now, DUE_WINDOW).await?;
            // Read after the due deliveries: a batch retry that made them due has bumped the
            // version by then, so its punches are never rejected again from stale memory.
            let Some(sync_state) = companies::find(conn, self.company_id).await? else {
                return Ok(Flow::Continue);
            };
            self.follow_config(&sync_state).await;
            if sync_state.state() != CompanySyncState::Active {
                return Ok(Flow::Continue);
            }
            let plan = delivery::next_request(
                &due,
                self.shared.bayzat_settings.max_records,
                &self.unknown,
                now,
            );
            self.reject(conn, &plan.rejected).await?;
            if plan.request.is_empty() {
                return Ok(Flow::Continue);
            }
            if let Flow::Stop = self.send_request(conn, epoch, plan.request).await? {
                return Ok(Flow::Stop);
            }
        }
    }

    /// Deliveries of empIds Bayzat refused as unknown: rejected without being sent.
    async fn reject(&self, conn: &mut Conn, rejected: &[Rejection]) -> Result<(), DrainError> {
        if rejected.is_empty() {
            return Ok(());
        }
        let updates: Vec<Update> = rejected
            .iter()
            .map(|r| Update {
                punch_id: r.punch_id.0,
                state: DeliveryState::Rejected,
                attempts: None,
                next_attempt_at: None,
                error: Some(r.reason.clone()),
            })
            .collect();
        self.apply(conn, &updates, None, false).await
    }

    /// Writes transitions and their status events in one transaction; on a 401 also pauses the
    /// company and its other deliveries that would go now.
    async fn apply(
        &self,
        conn: &mut Conn,
        updates: &[Update],
        request: Option<NewRequest>,
        pause: bool,
    ) -> Result<(), DrainError> {
        let company_id = self.company_id;
        let now = self.now();
        conn.transaction::<_, diesel::result::Error, _>(async |conn| {
            let request_id = match &request {
                Some(request) => Some(requests::insert(conn, request).await?),
                None => None,
            };
            let mut changed = deliveries::apply(conn, updates, request_id, now).await?;
            if pause {
                companies::set_state(
                    conn,
                    company_id,
                    CompanySyncState::PausedAuth,
                    Some("Bayzat refused the company's key (401)"),
                    now,
                )
                .await?;
                let due = Selection {
                    company_id: Some(company_id),
                    from: vec![DeliveryState::Pending, DeliveryState::Sending],
                    ..Selection::default()
                };
                changed.extend(
                    deliveries::transition(conn, &due, DeliveryState::Paused, None, false, now)
                        .await?,
                );
            }
            status::record(conn, company_id, &changed, now).await
        })
        .await?;
        self.shared.relay.wake();
        Ok(())
    }

    /// Sends one request and, when Bayzat refuses it whole, its halves until every bad record
    /// stands alone; a 429 resends the same request after the wait it asks for.
    async fn send_request(
        &mut self,
        conn: &mut Conn,
        epoch: i64,
        first: Vec<Delivery>,
    ) -> Result<Flow, DrainError> {
        let company_id = self.company_id;
        let now = self.now();
        let ids: Vec<i64> = first.iter().map(|d| d.punch_id.0).collect();
        let marked = conn
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                let changed = deliveries::mark_sending(conn, &ids, now).await?;
                status::record(conn, company_id, &changed, now).await?;
                Ok(changed)
            })
            .await?;
        self.shared.relay.wake();
        let marked: std::collections::HashSet<i64> = marked.iter().map(|c| c.punch_id).collect();
        let first: Vec<Delivery> = first
            .into_iter()
            .filter(|d| marked.contains(&d.punch_id.0))
            .collect();
        let mut queue: VecDeque<Vec<Delivery>> = VecDeque::from([first]);
        let mut screen = false;
        while let Some(request) = queue.pop_front() {
            let request = if screen {
                let plan = delivery::screen_half(&request, &self.unknown, self.now());
                self.reject(conn, &plan.rejected).await?;
                plan.request
            } else {
                request
            };
            screen = true;
            if request.is_empty() {
                continue;
            }
            loop {
                match self.send_once(conn, epoch, &request).await? {
                    Sent::Next(Next::Continue) => break,
                    Sent::Next(Next::SplitInHalves(first, second)) => {
                        queue.push_front(second);
                        queue.push_front(first);
                        break;
                    }
                    Sent::Next(Next::ResendAfter(wait)) => {
                        if !self.wait_holding_lease(conn, epoch, wait).await? {
                            return Ok(Flow::Stop);
                        }
                    }
                    Sent::Next(Next::PauseCompany) | Sent::Stop => return Ok(Flow::Stop),
                }
            }
        }
        Ok(Flow::Continue)
    }

    /// Waits as Bayzat asked (a 429's Retry-After can be longer than the lease lasts), renewing
    /// the lease every third of its lifetime. False when the lease was lost meanwhile.
    async fn wait_holding_lease(
        &self,
        conn: &mut Conn,
        epoch: i64,
        wait: Duration,
    ) -> Result<bool, DrainError> {
        let shared = &self.shared;
        let step = (shared.lease_ttl / 3).max(Duration::from_millis(10));
        let until = chrono::TimeDelta::from_std(wait)
            .ok()
            .and_then(|wait| self.now().checked_add_signed(wait))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        loop {
            let left = shared.clock.until(until);
            if left.is_zero() {
                return Ok(true);
            }
            tokio::time::sleep(left.min(step)).await;
            let renewed = leases::renew(
                conn,
                self.company_id,
                &shared.replica_id,
                epoch,
                self.now(),
                shared.lease_ttl,
            )
            .await?;
            if !renewed {
                tracing::warn!(
                    company_id = self.company_id,
                    "lease lost while waiting; sending stops"
                );
                return Ok(false);
            }
        }
    }

    async fn send_once(
        &mut self,
        conn: &mut Conn,
        epoch: i64,
        request: &[Delivery],
    ) -> Result<Sent, DrainError> {
        let shared = self.shared.clone();
        let company_id = self.company_id;
        self.limiter.until_ready().await;
        if !shared.broker.is_connected() {
            tracing::warn!(company_id, "broker connection lost; sending stops");
            return Ok(Sent::Stop);
        }
        let started_at = self.now();
        if !leases::record_start(
            conn,
            company_id,
            &shared.replica_id,
            epoch,
            started_at,
            shared.lease_ttl,
        )
        .await?
        {
            tracing::warn!(company_id, "lease lost; sending stops");
            return Ok(Sent::Stop);
        }
        let key = match shared.keys.get(company_id).await {
            Ok(key) => key,
            Err(KeyError::Missing) => {
                tracing::error!(
                    company_id,
                    alert = "bayzat_key_missing",
                    "no Bayzat key stored; company paused"
                );
                let updates = paused(request);
                self.apply(conn, &updates, None, true).await?;
                return Ok(Sent::Stop);
            }
            Err(error) => {
                tracing::warn!(company_id, %error, "key unavailable; the request waits");
                let back = Selection {
                    company_id: Some(company_id),
                    from: vec![DeliveryState::Sending],
                    ..Selection::default()
                };
                let now = self.now();
                conn.transaction::<_, diesel::result::Error, _>(async |conn| {
                    let changed = deliveries::transition(
                        conn,
                        &back,
                        DeliveryState::Pending,
                        None,
                        false,
                        now,
                    )
                    .await?;
                    status::record(conn, company_id, &changed, now).await
                })
                .await?;
                return Ok(Sent::Stop);
            }
        };
        let records: Vec<BayzatRecord> = request.iter().map(|d| d.record.clone()).collect();
        // The limiter paces the turns; the lease write and the key lookup between a turn and the
        // send take varying time, which must not bring two sends closer than the interval.
        if let Some(last) = self.last_sent {
            tokio::time::sleep_until(last + shared.bayzat_settings.interval()).await;
        }
        self.last_sent = Some(tokio::time::Instant::now());
        let outcome = shared
            .bayzat
            .send(&key.api_url, &key.api_key, &records)
            .instrument(tracing::info_span!("deliver", company_id))
            .await;
        let answered = self.now();
        let bayzat = &shared.bayzat_settings;
        let verdict = delivery::on_reply(
            request,
            &outcome.reply,
            answered,
            &bayzat.retry_schedule,
            bayzat.interval(),
        );
        let company = company_id.to_string();
        let status_label = outcome
            .status
            .map_or_else(|| "none".to_owned(), |s| s.to_string());
        let metrics = &shared.metrics;
        metrics
            .calls
            .with_label_values(&[company.as_str(), status_label.as_str()])
            .inc();
        metrics
            .latency
            .with_label_values(&[company.as_str()])
            .observe(outcome.latency.as_secs_f64());
        if outcome.status == Some(429) {
            metrics
                .rate_limited
                .with_label_values(&[company.as_str()])
                .inc();
        }
        let exhausted = verdict
            .changes
            .iter()
            .filter(|c| matches!(c.transition, Transition::Failed { .. }))
            .count();
        if exhausted > 0 {
            metrics
                .retries_exhausted
                .with_label_values(&[company.as_str()])
                .inc_by(exhausted as u64);
        }
        let updates: Vec<Update> = verdict
            .changes
            .iter()
            .filter(|c| c.transition != Transition::StaysSending)
            .map(|c| Update {
                punch_id: c.punch_id.0,
                state: c.transition.state(),
                attempts: c
                    .transition
                    .attempts()
                    .map(|a| i32::try_from(a).unwrap_or(i32::MAX)),
                next_attempt_at: c.transition.next_attempt_at(),
                error: c.transition.error().map(str::to_owned),
            })
            .collect();
        let log = NewRequest {
            company_id,
            holder: shared.replica_id.clone(),
            punch_ids: request.iter().map(|d| d.punch_id.0).collect(),
            status_code: outcome.status.map(i32::from),
            outcome: outcome.reply.kind().to_owned(),
            latency_ms: i32::try_from(outcome.latency.as_millis()).unwrap_or(i32::MAX),
            error: reply_error(&outcome.reply),
            started_at,
        };
        let pause = verdict.next == Next::PauseCompany;
        self.apply(conn, &updates, Some(log), pause).await?;
        if let Some(unknown) = &verdict.unknown_employee {
            self.unknown.remember_refusal(unknown, answered);
        }
        if pause {
            shared.keys.forget(company_id).await;
            tracing::error!(
                company_id,
                alert = "bayzat_auth_failed",
                "Bayzat refused the company's key; the company is paused until its key is replaced or it is re-enabled"
            );
        }
        Ok(Sent::Next(verdict.next))
    }
}

enum Sent {
    Next(Next),
    Stop,
}

fn paused(request: &[Delivery]) -> Vec<Update> {
    request
        .iter()
        .map(|d| Update {
            punch_id: d.punch_id.0,
            state: DeliveryState::Paused,
            attempts: None,
            next_attempt_at: None,
            error: None,
        })
        .collect()
}

fn reply_error(reply: &bayzat_client::Reply) -> Option<String> {
    use bayzat_client::Reply;
    match reply {
        Reply::Accepted => None,
        Reply::Transient { detail, .. } => Some(detail.clone()),
        Reply::Refused { message, .. } => Some(message.clone()),
        Reply::Unauthorized => Some("unauthorized".to_owned()),
        Reply::RateLimited { retry_after } => {
            Some(format!("rate limited; retry after {retry_after:?}"))
        }
        Reply::Unexpected {
            status,
            body_excerpt,
        } => Some(format!("unexpected answer {status}: {body_excerpt}")),
    }
}
