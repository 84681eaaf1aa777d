//! A simulated push terminal.
//!
//! Like a real one it handshakes first (`GET /iclock/cdata?…&options=all`), keeps every punch in
//! a buffer, uploads the buffer in ATTLOG batches (`POST /iclock/cdata?…&table=ATTLOG`) and drops
//! a batch's lines only once the server has answered `OK: <n>` for it. Any other answer, or no
//! answer, keeps the lines and the batch goes again after a backoff, so a buffer outlives a server
//! that is down. It polls for commands (`GET /iclock/getrequest`) at its heartbeat interval and
//! answers each command it is given on `POST /iclock/devicecmd` with success, without running it.
//!
//! On top of that, for tests: a clock skew added to every punch time, a ratio of acknowledged
//! batches sent a second time, to exercise a server's duplicate handling, and a switch that takes
//! the terminal off the network (its requests fail without leaving it, as with a cable pulled)
//! and back.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::NaiveDateTime;
use clock_push::{
    command_result_path, format_attlog_line, format_command_result, handshake_path,
    parse_handshake_reply, parse_poll_reply, parse_upload_ack, poll_path, upload_path,
    AttLogRecord, CommandResult, Pin, PunchState, SerialNumber, Table,
};
use domain::LocalPunchTime;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How a simulated terminal behaves.
#[derive(Debug, Clone)]
pub struct TerminalConfig {
    pub serial: SerialNumber,
    /// The server's base URL (`http://host:port`), without the `/iclock` part.
    pub base_url: String,
    /// Most ATTLOG lines in one upload.
    pub batch_size: usize,
    /// Seconds the terminal's clock is ahead of (positive) or behind (negative) the machine's.
    pub skew_secs: i64,
    /// Share of acknowledged batches sent once more, from 0 (never) to 1 (always).
    pub retransmit_ratio: f64,
    /// Time between polls for commands.
    pub heartbeat_interval: Duration,
    /// First wait after a failed request; doubles on each further failure up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub request_timeout: Duration,
    /// Sent as `pushver=` in the handshake.
    pub push_version: String,
    /// Seed of the retransmission draws.
    pub seed: u64,
}

impl TerminalConfig {
    /// Batches of 20, no skew, no duplicates, a 10-second heartbeat, backoff from 100 ms to 5 s.
    pub fn new(serial: SerialNumber, base_url: impl Into<String>) -> Self {
        Self {
            serial,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            batch_size: 20,
            skew_secs: 0,
            retransmit_ratio: 0.0,
            heartbeat_interval: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            push_version: "2.4.1".to_owned(),
            seed: 0,
        }
    }
}

/// Counters of what a terminal did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TerminalStats {
    pub handshakes: u64,
    pub failed_handshakes: u64,
    pub punches: u64,
    /// Punches whose batch was acknowledged.
    pub acknowledged: u64,
    /// Upload requests, retransmissions of acknowledged batches not included.
    pub posts: u64,
    /// Uploads that got no `OK: <n>` (error status, other text, or no connection).
    pub failed_posts: u64,
    /// Acknowledged uploads whose `n` differed from the number of lines sent.
    pub short_acks: u64,
    /// Acknowledged batches sent once more on purpose.
    pub retransmissions: u64,
    pub heartbeats: u64,
    pub failed_heartbeats: u64,
    pub commands_answered: u64,
}

/// One punch and what became of it. Times are Unix epoch milliseconds of the machine's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PunchLog {
    pub serial: SerialNumber,
    pub record: AttLogRecord,
    pub punched_at_ms: u64,
    /// When the upload that first carried it started.
    pub first_post_ms: Option<u64>,
    /// When the upload that was acknowledged for it started (later than `first_post_ms` when
    /// earlier uploads failed).
    pub acked_post_ms: Option<u64>,
    /// When the answer acknowledging it arrived.
    pub acked_at_ms: Option<u64>,
}

/// Unix epoch milliseconds now.
pub fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

struct Pending {
    log_index: usize,
    line: String,
}

#[derive(Default)]
struct State {
    buffer: VecDeque<Pending>,
    log: Vec<PunchLog>,
    stats: TerminalStats,
    handshaken: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Notify,
    stopping: AtomicBool,
    /// Off the network: every request fails at once without reaching the server.
    offline: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running simulated terminal. Dropping it stops it; [`Terminal::stop`] also hands back what it
/// did.
pub struct Terminal {
    serial: SerialNumber,
    skew_secs: i64,
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
}

impl Terminal {
    /// Starts a terminal in the current tokio runtime with its own HTTP client.
    pub fn spawn(config: TerminalConfig) -> Self {
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .build()
            .expect("an HTTP client without TLS settings always builds");
        Self::spawn_with_client(config, client)
    }

    /// Starts a terminal sharing `client` (and its connection pool) with others. The client's
    /// own timeout applies; `request_timeout` is set per request on top of it.
    pub fn spawn_with_client(config: TerminalConfig, client: reqwest::Client) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            stopping: AtomicBool::new(false),
            offline: AtomicBool::new(false),
        });
        let serial = config.serial.clone();
        let skew_secs = config.skew_secs;
        let worker = Worker {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            backoff: config.backoff_initial,
            config,
            client,
            shared: shared.clone(),
        };
        let task = tokio::spawn(worker.run());
        Self {
            serial,
            skew_secs,
            shared,
            task: Some(task),
        }
    }

    pub fn serial(&self) -> &SerialNumber {
        &self.serial
    }

    /// The terminal's clock reading for the machine's local wall time `wall`: skew added, whole
    /// seconds.
    pub fn clock_time(&self, wall: NaiveDateTime) -> LocalPunchTime {
        LocalPunchTime::new(wall + chrono::Duration::seconds(self.skew_secs))
    }

    /// A punch now, by the terminal's (skewed) clock.
    pub fn punch(&self, pin: Pin, state: PunchState) -> AttLogRecord {
        self.punch_at(pin, chrono::Local::now().naive_local(), state)
    }

    /// A punch at machine wall time `wall`; the terminal records `wall` plus its skew.
    pub fn punch_at(&self, pin: Pin, wall: NaiveDateTime, state: PunchState) -> AttLogRecord {
        let record = AttLogRecord::new(pin, self.clock_time(wall), state);
        self.append(vec![record.clone()]);
        record
    }

    /// Several punches at once (machine wall times, skew added), all in the buffer before the
    /// terminal looks at it again.
    pub fn punch_many(
        &self,
        punches: impl IntoIterator<Item = (Pin, NaiveDateTime, PunchState)>,
    ) -> Vec<AttLogRecord> {
        let records: Vec<_> = punches
            .into_iter()
            .map(|(pin, wall, state)| AttLogRecord::new(pin, self.clock_time(wall), state))
            .collect();
        self.append(records.clone());
        records
    }

    /// Puts records in the buffer exactly as given (no skew), in one step.
    pub fn append(&self, records: Vec<AttLogRecord>) {
        let now = epoch_ms();
        {
            let mut state = self.shared.lock();
            for record in records {
                let log_index = state.log.len();
                let line = format_attlog_line(&record);
                state.log.push(PunchLog {
                    serial: self.serial.clone(),
                    record,
                    punched_at_ms: now,
                    first_post_ms: None,
                    acked_post_ms: None,
                    acked_at_ms: None,
                });
                state.buffer.push_back(Pending { log_index, line });
                state.stats.punches += 1;
            }
        }
        self.shared.wake.notify_one();
    }

    /// Takes the terminal off the network (`true`) or puts it back (`false`). Off it, every
    /// request fails as a refused connection would, so punches stay in the buffer and the
    /// terminal backs off as usual; back on it, the buffer goes out at its next attempt.
    pub fn set_offline(&self, offline: bool) {
        self.shared.offline.store(offline, Ordering::SeqCst);
        self.shared.wake.notify_one();
    }

    pub fn is_offline(&self) -> bool {
        self.shared.offline.load(Ordering::SeqCst)
    }

    /// Lines not yet acknowledged.
    pub fn pending(&self) -> usize {
        self.shared.lock().buffer.len()
    }

    pub fn is_handshaken(&self) -> bool {
        self.shared.lock().handshaken
    }

    pub fn stats(&self) -> TerminalStats {
        self.shared.lock().stats.clone()
    }

    /// Every punch so far, in punch order.
    pub fn log(&self) -> Vec<PunchLog> {
        self.shared.lock().log.clone()
    }

    /// Waits until the buffer is empty, up to `timeout`; whether it emptied.
    pub async fn wait_drained(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.pending() == 0 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops the terminal (an upload in flight is finished first) and returns its counters and
    /// punch log.
    pub async fn stop(mut self) -> (TerminalStats, Vec<PunchLog>) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        (self.stats(), self.log())
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

struct Worker {
    config: TerminalConfig,
    client: reqwest::Client,
    shared: Arc<Shared>,
    rng: ChaCha8Rng,
    backoff: Duration,
}

enum Outcome {
    Done,
    Failed,
}

impl Worker {
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.config.base_url, path)
    }

    fn stopping(&self) -> bool {
        self.shared.stopping.load(Ordering::SeqCst)
    }

    /// Waits for a punch, a stop, or `until`, whichever comes first.
    async fn idle_until(&self, until: Instant) {
        tokio::select! {
            _ = self.shared.wake.notified() => {}
            _ = tokio::time::sleep_until(until) => {}
        }
    }

    fn fail_backoff(&mut self) -> Instant {
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(self.config.backoff_max);
        Instant::now() + wait
    }

    async fn run(mut self) {
        let mut retry_at = Instant::now();
        let mut next_heartbeat = Instant::now() + self.config.heartbeat_interval;
        let mut first_poll = true;
        while !self.stopping() {
            let now = Instant::now();
            if now < retry_at {
                self.idle_until(retry_at.min(next_heartbeat)).await;
                if Instant::now() >= next_heartbeat && self.shared.lock().handshaken {
                    next_heartbeat = Instant::now() + self.config.heartbeat_interval;
                    self.heartbeat(&mut first_poll).await;
                }
                continue;
            }
            if !self.shared.lock().handshaken {
                match self.handshake().await {
                    Outcome::Done => self.backoff = self.config.backoff_initial,
                    Outcome::Failed => retry_at = self.fail_backoff(),
                }
                continue;
            }
            if now >= next_heartbeat {
                next_heartbeat = now + self.config.heartbeat_interval;
                self.heartbeat(&mut first_poll).await;
                continue;
            }
            if self.shared.lock().buffer.is_empty() {
                self.idle_until(next_heartbeat).await;
                continue;
            }
            match self.upload().await {
                Outcome::Done => self.backoff = self.config.backoff_initial,
                Outcome::Failed => retry_at = self.fail_backoff(),
            }
        }
    }

    async fn handshake(&mut self) -> Outcome {
        let url = self.url(&handshake_path(
            &self.config.serial,
            &self.config.push_version,
        ));
        let answer = self.get_text(&url).await;
        let ok = answer
            .as_deref()
            .is_some_and(|text| parse_handshake_reply(text).is_ok());
        let mut state = self.shared.lock();
        if ok {
            state.handshaken = true;
            state.stats.handshakes += 1;
            Outcome::Done
        } else {
            state.stats.failed_handshakes += 1;
            Outcome::Failed
        }
    }

    fn offline(&self) -> bool {
        self.shared.offline.load(Ordering::SeqCst)
    }

    async fn get_text(&self, url: &str) -> Option<String> {
        if self.offline() {
            return None;
        }
        let response = self
            .client
            .get(url)
            .timeout(self.config.request_timeout)
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.text().await.ok()
    }

    async fn post_text(&self, url: &str, body: String) -> Option<String> {
        if self.offline() {
            return None;
        }
        let response = self
            .client
            .post(url)
            .timeout(self.config.request_timeout)
            .header("content-type", "text/plain")
            .body(body)
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.text().await.ok()
    }

    async fn upload(&mut self) -> Outcome {
        let started = epoch_ms();
        let (body, count, stamp) = {
            let mut state = self.shared.lock();
            let count = state.buffer.len().min(self.config.batch_size.max(1));
            let mut body = String::new();
            let mut indexes = Vec::with_capacity(count);
            for pending in state.buffer.iter().take(count) {
                body.push_str(&pending.line);
                body.push('\n');
                indexes.push(pending.log_index);
            }
            for i in indexes {
                state.log[i].first_post_ms.get_or_insert(started);
            }
            state.stats.posts += 1;
            (body, count, state.stats.acknowledged)
        };
        let url = self.url(&upload_path(
            &self.config.serial,
            &Table::AttLog,
            &stamp.to_string(),
        ));
        let answer = self.post_text(&url, body.clone()).await;
        let Some(acked) = answer.as_deref().and_then(parse_upload_ack) else {
            self.shared.lock().stats.failed_posts += 1;
            return Outcome::Failed;
        };
        {
            let now = epoch_ms();
            let mut state = self.shared.lock();
            // Only this worker removes lines and punches are appended at the back, so the batch
            // is still the front of the buffer.
            for _ in 0..count {
                if let Some(done) = state.buffer.pop_front() {
                    let log = &mut state.log[done.log_index];
                    log.acked_post_ms = Some(started);
                    log.acked_at_ms = Some(now);
                }
            }
            state.stats.acknowledged += count as u64;
            if acked != count {
                state.stats.short_acks += 1;
            }
        }
        if self.config.retransmit_ratio > 0.0
            && self
                .rng
                .random_bool(self.config.retransmit_ratio.clamp(0.0, 1.0))
        {
            self.shared.lock().stats.retransmissions += 1;
            // The answer does not matter: these lines are already acknowledged.
            let _ = self.post_text(&url, body).await;
        }
        Outcome::Done
    }

    async fn heartbeat(&mut self, first_poll: &mut bool) {
        let info = first_poll.then(|| {
            let count = self.shared.lock().log.len();
            format!(
                "clock-sim {},0,0,{count},127.0.0.1",
                env!("CARGO_PKG_VERSION")
            )
        });
        let url = self.url(&poll_path(&self.config.serial, info.as_deref()));
        let commands = self
            .get_text(&url)
            .await
            .and_then(|text| parse_poll_reply(&text).ok());
        let Some(commands) = commands else {
            self.shared.lock().stats.failed_heartbeats += 1;
            return;
        };
        *first_poll = false;
        self.shared.lock().stats.heartbeats += 1;
        if commands.is_empty() {
            return;
        }
        let body: String = commands
            .iter()
            .map(|c| {
                let mut line = format_command_result(&CommandResult {
                    id: c.id,
                    return_code: 0,
                    command: c.verb().to_owned(),
                    details: Vec::new(),
                });
                line.push('\n');
                line
            })
            .collect();
        let url = self.url(&command_result_path(&self.config.serial));
        if self.post_text(&url, body).await.is_some() {
            self.shared.lock().stats.commands_answered += commands.len() as u64;
        }
    }
}
