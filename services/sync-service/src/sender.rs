//! One sender per company: drains the company's due deliveries to Bayzat at the key's pace,
//! while this replica holds the company's lease (docs/architecture.md#delivery-rules). The rules of what to send and
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

use crate::bridge_events;
use crate::keys::KeyError;
use crate::runtime::SyncContext;
use crate::store::companies::SyncState;
use crate::store::deliveries::{self, Update};
use crate::store::leases::Fence;
use crate::store::requests::{self, NewRequest};
use crate::store::{companies, leases, status, Conn};

/// The sender's database connection: checked out for each step and given back to the pool before
/// every wait (the key's pace, a pause holding the lease, the Bayzat call). A sender thus holds a
/// connection only while it reads or writes, and a replica sends for many more companies at once
/// than its pool has connections.
struct Db {
    pool: db::Pool,
    conn: Option<db::PooledConnection>,
}

impl Db {
    fn new(pool: db::Pool) -> Self {
        Self { pool, conn: None }
    }

    async fn get(&mut self) -> Result<&mut Conn, db::DbError> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => db::connection(&self.pool).await?,
        };
        Ok(&mut **self.conn.insert(conn))
    }

    /// Gives the connection back to the pool (the next step checks one out again).
    fn release(&mut self) {
        self.conn = None;
    }
}

/// Due deliveries read per request: a request takes at most 20 of them, and reading a few
/// requests' worth leaves room for the ones a request cannot take (a repeated empId and time, an
/// empId refused as unknown). Reading a whole large import each time was the sender's largest
/// cost, as the rest is read again for the next request anyway.
const DUE_WINDOW: i64 = 100;
/// How late a send may leave after the start recorded for it ahead: a replica taking the lease
/// over paces its first request from that record, and the key's rate limit margin (25 ms by
/// default) covers this much. A later send records its start again.
const RECORDED_START_SLACK: Duration = Duration::from_millis(10);
/// How long after its turn a request's start is recorded. A busy machine wakes a sender at its
/// turn 10-50 ms late now and then (3-13 requests in a hundred under `make bench-sync-scale`);
/// recorded at the turn itself, such a request had to record its start again, queueing for a
/// connection of the busy pool first, and left later still. A start recorded later than the
/// request left only makes the lease's next holder (a replica taking it over, or this sender's
/// next drain) wait that much longer.
const RECORDED_START_AHEAD: Duration = Duration::from_millis(40);
/// Pause after a drain failed (database away) before the sender may be woken again.
const FAILURE_PAUSE: Duration = Duration::from_secs(1);

/// Runs until aborted, or until the service stops: then it ends after the drain in progress
/// (which starts no new call).
pub fn spawn(shared: Arc<SyncContext>, company_id: i64, wake: Arc<Notify>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut sender = Sender::new(shared.clone(), company_id);
        loop {
            tokio::select! {
                () = wake.notified() => {}
                () = shared.stopped() => return,
            }
            if shared.is_stopping() {
                return;
            }
            if let Err(error) = sender.drain().await {
                tracing::warn!(company_id, %error, "sending interrupted; due work is announced again");
                tokio::select! {
                    () = tokio::time::sleep(FAILURE_PAUSE) => {}
                    () = shared.stopped() => return,
                }
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
    shared: Arc<SyncContext>,
    company_id: i64,
    limiter: DefaultDirectRateLimiter,
    /// When this sender's next request may leave: its last one's start plus the key's pace.
    turn: Option<tokio::time::Instant>,
    pace: delivery::Pace,
    /// Whether that request was full: the company has a backlog, so the next one is prepared
    /// before its turn.
    backlog: bool,
    /// The start the last `mark` recorded with the lease: a send that keeps to it records
    /// nothing more.
    start_recorded: Option<tokio::time::Instant>,
    unknown: UnknownEmployees,
    config_version: Option<i64>,
}

impl Sender {
    fn new(shared: Arc<SyncContext>, company_id: i64) -> Self {
        // Never two starts closer than the key's delay, whatever the turns say.
        let delay = shared.bayzat_settings.rate_limit_delay;
        let quota = Quota::with_period(delay.max(Duration::from_millis(1)))
            .expect("a non-zero period")
            .allow_burst(NonZeroU32::MIN);
        Self {
            shared,
            company_id,
            limiter: RateLimiter::direct(quota),
            turn: None,
            pace: delivery::Pace::new(),
            backlog: false,
            start_recorded: None,
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
        let mut conn = Db::new(shared.pool.clone());
        let Some(sync_state) = companies::find(conn.get().await?, company_id).await? else {
            return Ok(());
        };
        self.follow_config(&sync_state).await;
        if sync_state.state() != CompanySyncState::Active {
            return Ok(());
        }
        let now = self.now();
        let Some(lease) = leases::acquire(
            conn.get().await?,
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
        let fence = Fence {
            company_id,
            holder: shared.replica_id.clone(),
            epoch: lease.epoch,
        };
        // Whatever is left in `sending` was in flight when its sender stopped (a crash, a lost
        // lease): resend it. A punch Bayzat did take comes back refused as a duplicate, which
        // counts as delivered. Only the lease's holder marks deliveries `sending`: when none is
        // left now, none appears, and the usual start of a drain writes nothing here.
        if deliveries::any_sending(conn.get().await?, company_id).await?
            && !self.unsend(&mut conn, &fence).await?
        {
            return Ok(());
        }
        // The key is read (and cached) before the first request is marked, so that its start,
        // recorded with the marking, is kept (see `send_once`). A key that cannot be read is
        // dealt with there.
        if let Err(error) = shared.keys.get(company_id).await {
            tracing::debug!(company_id, %error, "key not read ahead");
        }
        // The previous holder's last request counts for the key's rate limit too, and so does a
        // wait Bayzat asked for.
        let bayzat = &shared.bayzat_settings;
        let earliest = delivery::earliest_start(
            lease.last_request_started_at,
            bayzat.rate_limit_delay,
            bayzat.rate_limit_margin,
            now,
        );
        let earliest = match sync_state.rate_limited_until {
            Some(until) if until > earliest => until,
            _ => earliest,
        };
        let flow = if self.wait_holding_lease(&mut conn, &fence, earliest).await? {
            self.send_due(&mut conn, &fence).await
        } else {
            Ok(Flow::Stop)
        };
        leases::release(
            conn.get().await?,
            company_id,
            &shared.replica_id,
            lease.epoch,
            self.now(),
        )
        .await?;
        shared.relay.wake();
        flow.map(drop)
    }

    /// Moves the company's deliveries left `sending` back to `pending`, while this sender holds
    /// the lease. False when it lost the lease (nothing written).
    async fn unsend(&self, conn: &mut Db, fence: &Fence) -> Result<bool, DrainError> {
        let company_id = self.company_id;
        let now = self.now();
        let held = conn
            .get()
            .await?
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                if !leases::hold(conn, fence).await? {
                    return Ok(false);
                }
                let changed = deliveries::move_fenced(
                    conn,
                    fence,
                    &[DeliveryState::Sending],
                    DeliveryState::Pending,
                    now,
                )
                .await?;
                status::record(conn, company_id, &changed, now).await?;
                Ok(true)
            })
            .await?;
        if held {
            self.shared.relay.wake();
        } else {
            lease_lost(company_id);
        }
        Ok(held)
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

    async fn send_due(&mut self, conn: &mut Db, fence: &Fence) -> Result<Flow, DrainError> {
        loop {
            if self.shared.is_stopping() {
                return Ok(Flow::Stop);
            }
            if !self.shared.broker.is_connected() {
                tracing::warn!(
                    company_id = self.company_id,
                    "broker connection lost; sending stops"
                );
                return Ok(Flow::Stop);
            }
            // Without a backlog, the next request's turn comes before its deliveries are read,
            // so it carries what arrived while it waited: read first, a request left with what
            // was due a whole interval before it went, and what came meanwhile waited for the
            // one after. With one, the request is read and marked before its turn (below).
            let turn = self.next_turn();
            if let Some(turn) = turn.filter(|_| !self.backlog) {
                conn.release();
                tokio::select! {
                    () = tokio::time::sleep_until(turn) => {}
                    () = self.shared.stopped() => return Ok(Flow::Stop),
                }
                continue;
            }
            let now = self.now();
            self.unknown.forget_expired(now);
            let due =
                deliveries::load_due(conn.get().await?, self.company_id, now, DUE_WINDOW).await?;
            // Read after the due deliveries: a batch retry that made them due has bumped the
            // version by then, so its punches are never rejected again from stale memory.
            let Some(sync_state) = companies::find(conn.get().await?, self.company_id).await?
            else {
                return Ok(Flow::Continue);
            };
            self.follow_config(&sync_state).await;
            if sync_state.state() != CompanySyncState::Active {
                return Ok(Flow::Continue);
            }
            let max_records = self.shared.bayzat_settings.max_records;
            let plan = delivery::next_request(&due, max_records, &self.unknown, now);
            if !self.reject(conn, fence, &plan.rejected).await? {
                return Ok(Flow::Stop);
            }
            if plan.request.is_empty() {
                if plan.rejected.is_empty() {
                    return Ok(Flow::Continue);
                }
                // The window held only rejected deliveries: the next one may hold sendable ones.
                continue;
            }
            if turn.is_some() && plan.request.len() < max_records.get() {
                // Short of full after all: read again at the turn, so what arrives meanwhile
                // joins it.
                self.backlog = false;
                continue;
            }
            // A full request read before its turn is marked `sending` now, and its start
            // recorded with the lease in the same transaction: at the turn it only goes. Done at
            // the turn, these reads and two commits delayed every request of a busy database by
            // 50-150 ms past the key's pace.
            if let Flow::Stop = self.send_request(conn, fence, plan.request, turn).await? {
                return Ok(Flow::Stop);
            }
        }
    }

    /// When the next request may leave, if that is still to come.
    fn next_turn(&self) -> Option<tokio::time::Instant> {
        self.turn.filter(|turn| *turn > tokio::time::Instant::now())
    }

    /// Deliveries of empIds Bayzat refused as unknown: rejected without being sent. False when
    /// the lease was lost.
    async fn reject(
        &self,
        conn: &mut Db,
        fence: &Fence,
        rejected: &[Rejection],
    ) -> Result<bool, DrainError> {
        if rejected.is_empty() {
            return Ok(true);
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
        self.apply(conn, fence, &updates, None, Effects::default())
            .await
    }

    /// Writes transitions, the request's log and their status events in one transaction, only
    /// while this sender holds the lease (false otherwise: nothing written); on a 401 also pauses
    /// the company and its other deliveries that would go now, announcing the pause when the
    /// company was not paused already; on a 429 records the wait.
    async fn apply(
        &self,
        conn: &mut Db,
        fence: &Fence,
        updates: &[Update],
        request: Option<NewRequest>,
        effects: Effects,
    ) -> Result<bool, DrainError> {
        let company_id = self.company_id;
        let now = self.now();
        let written = conn
            .get()
            .await?
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                if !leases::hold(conn, fence).await? {
                    return Ok(false);
                }
                let request_id = match &request {
                    Some(request) => Some(requests::insert(conn, request).await?),
                    None => None,
                };
                let mut changed = deliveries::apply(conn, fence, updates, request_id, now).await?;
                if let Some(reason) = &effects.pause {
                    if let Some(since) = companies::pause(conn, company_id, reason, now).await? {
                        let event = bridge_events::sync_paused(company_id, reason, since);
                        status::enqueue(conn, &event).await?;
                    }
                    changed.extend(
                        deliveries::move_fenced(
                            conn,
                            fence,
                            &[DeliveryState::Pending, DeliveryState::Sending],
                            DeliveryState::Paused,
                            now,
                        )
                        .await?,
                    );
                }
                if let Some((until, reason)) = &effects.rate_limited {
                    companies::set_rate_limited(conn, company_id, *until, reason).await?;
                }
                status::record(conn, company_id, &changed, now).await?;
                Ok(true)
            })
            .await?;
        if written {
            self.shared.relay.wake();
        } else {
            lease_lost(company_id);
        }
        Ok(written)
    }

    /// Marks the deliveries `sending` and returns those that still go (an operator may have
    /// cancelled some meanwhile); None when the lease was lost. Also records with the lease that
    /// the request starts at its `turn`, or now when that has come (see [`Self::send_once`]).
    async fn mark(
        &mut self,
        conn: &mut Db,
        fence: &Fence,
        request: Vec<Delivery>,
        turn: Option<tokio::time::Instant>,
    ) -> Result<Option<Vec<Delivery>>, DrainError> {
        let company_id = self.company_id;
        let now = self.now();
        let lease_ttl = self.shared.lease_ttl;
        let clock = self.shared.clock.clone();
        let ids: Vec<i64> = request.iter().map(|d| d.punch_id.0).collect();
        let marked = conn
            .get()
            .await?
            .transaction::<_, diesel::result::Error, _>(async |conn| {
                if !leases::hold(conn, fence).await? {
                    return Ok(None);
                }
                let changed = deliveries::mark_sending(conn, fence, &ids, now).await?;
                status::record(conn, company_id, &changed, now).await?;
                // The start is taken last, right before the commit, `RECORDED_START_AHEAD` after
                // the turn: a request that goes then or at once keeps to it, and `send_once` need
                // not record it again (taken before this transaction's writes, it was missed on a
                // busy database, and the second record waited for a connection of the pool).
                let at = tokio::time::Instant::now();
                let recorded = turn.unwrap_or(at) + RECORDED_START_AHEAD;
                let start = plus(clock.now(), recorded.saturating_duration_since(at));
                let (holder, epoch) = (&fence.holder, fence.epoch);
                if !leases::record_start(conn, company_id, holder, epoch, start, lease_ttl).await? {
                    return Ok(None);
                }
                Ok(Some((changed, recorded)))
            })
            .await?;
        let Some((marked, recorded)) = marked else {
            lease_lost(company_id);
            return Ok(None);
        };
        self.start_recorded = Some(recorded);
        self.shared.relay.wake();
        let marked: std::collections::HashSet<i64> = marked.iter().map(|c| c.punch_id).collect();
        Ok(Some(
            request
                .into_iter()
                .filter(|d| marked.contains(&d.punch_id.0))
                .collect(),
        ))
    }

    /// Sends one request and, when Bayzat refuses it whole, its halves until every bad record
    /// stands alone; a 429 resends the same request after the wait it asks for.
    async fn send_request(
        &mut self,
        conn: &mut Db,
        fence: &Fence,
        first: Vec<Delivery>,
        turn: Option<tokio::time::Instant>,
    ) -> Result<Flow, DrainError> {
        let Some(first) = self.mark(conn, fence, first, turn).await? else {
            return Ok(Flow::Stop);
        };
        let mut queue: VecDeque<Vec<Delivery>> = VecDeque::from([first]);
        let mut screen = false;
        while let Some(request) = queue.pop_front() {
            let mut request = if screen {
                let plan = delivery::screen_half(&request, &self.unknown, self.now());
                if !self.reject(conn, fence, &plan.rejected).await? {
                    return Ok(Flow::Stop);
                }
                plan.request
            } else {
                request
            };
            screen = true;
            if request.is_empty() {
                continue;
            }
            loop {
                match self.send_once(conn, fence, &request).await? {
                    Sent::Next(Next::Continue) => break,
                    Sent::Next(Next::SplitInHalves(first, second)) => {
                        queue.push_front(second);
                        queue.push_front(first);
                        break;
                    }
                    Sent::Next(Next::ResendAfter(wait)) => {
                        let until = plus(self.now(), wait);
                        if !self.wait_holding_lease(conn, fence, until).await? {
                            return Ok(Flow::Stop);
                        }
                        // The request waited in `retry_wait`: `sending` again for the resend.
                        match self.mark(conn, fence, request, None).await? {
                            None => return Ok(Flow::Stop),
                            Some(marked) if marked.is_empty() => break,
                            Some(marked) => request = marked,
                        }
                    }
                    Sent::Next(Next::PauseCompany) | Sent::Stop => return Ok(Flow::Stop),
                }
            }
        }
        Ok(Flow::Continue)
    }

    /// Waits until `until` (a 429's Retry-After can be longer than the lease lasts), renewing
    /// the lease every third of its lifetime. False when the lease was lost meanwhile, or the
    /// service stops.
    async fn wait_holding_lease(
        &self,
        conn: &mut Db,
        fence: &Fence,
        until: DateTime<Utc>,
    ) -> Result<bool, DrainError> {
        let shared = &self.shared;
        let step = (shared.lease_ttl / 3).max(Duration::from_millis(10));
        loop {
            if shared.is_stopping() {
                return Ok(false);
            }
            let left = shared.clock.until(until);
            if left.is_zero() {
                return Ok(true);
            }
            conn.release();
            tokio::select! {
                () = tokio::time::sleep(left.min(step)) => {}
                () = shared.stopped() => return Ok(false),
            }
            let renewed = leases::renew(
                conn.get().await?,
                self.company_id,
                &fence.holder,
                fence.epoch,
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
        conn: &mut Db,
        fence: &Fence,
        request: &[Delivery],
    ) -> Result<Sent, DrainError> {
        let shared = self.shared.clone();
        let company_id = self.company_id;
        // The connection goes back to the pool only before a wait: a request that goes at once
        // keeps the one it was marked with, rather than queueing for another on a busy pool to
        // record its start.
        if self.limiter.check().is_err() {
            conn.release();
            self.limiter.until_ready().await;
        }
        if !self.may_send(conn, fence).await? {
            return Ok(Sent::Stop);
        }
        let key = match shared.keys.cached(company_id).await {
            Some(key) => Ok(key),
            None => {
                conn.release();
                shared.keys.get(company_id).await
            }
        };
        let key = match key {
            Ok(key) => key,
            Err(KeyError::Missing) => {
                tracing::error!(
                    company_id,
                    alert = "bayzat_key_missing",
                    "no Bayzat key stored; company paused"
                );
                let updates = paused(request);
                let effects = Effects {
                    pause: Some(KeyError::Missing.to_string()),
                    ..Effects::default()
                };
                self.apply(conn, fence, &updates, None, effects).await?;
                return Ok(Sent::Stop);
            }
            Err(error) => {
                tracing::warn!(company_id, %error, "key unavailable; the request waits");
                self.unsend(conn, fence).await?;
                return Ok(Sent::Stop);
            }
        };
        let records: Vec<BayzatRecord> = request.iter().map(|d| d.record.clone()).collect();
        // The key lookup between the limiter and the send takes varying time: the turn is
        // awaited last.
        if let Some(turn) = self.next_turn() {
            conn.release();
            tokio::time::sleep_until(turn).await;
        }
        if !self.may_send(conn, fence).await? {
            return Ok(Sent::Stop);
        }
        // The start is recorded, and the lease renewed, right before the call (or with the
        // marking, for this turn, when the send keeps to it): the call (at most
        // BAYZAT_HTTP_TIMEOUT, shorter than the lease by the settings' check) and the commit of
        // its answer end while the lease still holds.
        let started_at = self.now();
        let kept_to_record = self.start_recorded.take().is_some_and(|recorded| {
            tokio::time::Instant::now().saturating_duration_since(recorded) <= RECORDED_START_SLACK
        });
        if !kept_to_record
            && !leases::record_start(
                conn.get().await?,
                company_id,
                &fence.holder,
                fence.epoch,
                started_at,
                shared.lease_ttl,
            )
            .await?
        {
            lease_lost(company_id);
            return Ok(Sent::Stop);
        }
        let sent = tokio::time::Instant::now();
        self.backlog = records.len() >= shared.bayzat_settings.max_records.get();
        conn.release();
        // Not cut short when the service stops: the answer is awaited and written.
        let exchange = shared
            .bayzat
            .exchange(&key.api_url, &key.api_key, &records)
            .instrument(tracing::info_span!("deliver", company_id))
            .await;
        let outcome = &exchange.outcome;
        // Measured here, the answer's time is never shorter than it was: the sooner of the two
        // rules stays late enough (see `delivery::Pace`).
        let latency = sent.elapsed();
        let bayzat = &shared.bayzat_settings;
        let (delay, margin) = (bayzat.rate_limit_delay, bayzat.rate_limit_margin);
        self.turn = Some(sent + self.pace.answered(latency, delay, margin));
        let answered = self.now();
        let verdict = delivery::on_reply(
            request,
            &outcome.reply,
            answered,
            &bayzat.retry_schedule,
            bayzat.interval(),
            bayzat.max_retry_after,
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
        // Bayzat's own words for the refusal; the client took the key out of the body.
        let pause_reason = pause.then(|| {
            let body = exchange.answer.as_ref().map(|answer| answer.body.as_str());
            bridge_events::key_refused(outcome.status, body)
        });
        let rate_limited = verdict.changes.iter().find_map(|c| match &c.transition {
            Transition::RateLimited { until, reason } => Some((*until, reason.clone())),
            _ => None,
        });
        let effects = Effects {
            pause: pause_reason,
            rate_limited,
        };
        if !self
            .apply(conn, fence, &updates, Some(log), effects)
            .await?
        {
            return Ok(Sent::Stop);
        }
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

    /// Whether the next call may start: not while the service stops or the broker is away. When
    /// not, the deliveries marked for it go back to `pending`, so none stays `sending`.
    async fn may_send(&self, conn: &mut Db, fence: &Fence) -> Result<bool, DrainError> {
        let company_id = self.company_id;
        let why = if self.shared.is_stopping() {
            "the service stops"
        } else if !self.shared.broker.is_connected() {
            "broker connection lost"
        } else {
            return Ok(true);
        };
        tracing::warn!(company_id, "{why}; sending stops");
        self.unsend(conn, fence).await?;
        Ok(false)
    }
}

/// What an answer does besides moving its deliveries.
#[derive(Debug, Default)]
struct Effects {
    /// A 401 (or no key to send): pause the company, for this reason.
    pause: Option<String>,
    /// A 429 obeyed: the company's key waits until then, for this reason.
    rate_limited: Option<(DateTime<Utc>, String)>,
}

fn lease_lost(company_id: i64) {
    tracing::warn!(
        company_id,
        "the company's lease was taken over; this sender writes nothing more and stops"
    );
}

fn plus(at: DateTime<Utc>, wait: Duration) -> DateTime<Utc> {
    chrono::TimeDelta::from_std(wait)
        .ok()
        .and_then(|wait| at.checked_add_signed(wait))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
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
