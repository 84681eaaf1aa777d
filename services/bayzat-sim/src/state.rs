//! In-memory per-key state and the rules of `POST /attendance`, free of HTTP so they can be
//! unit-tested directly.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, NaiveTime, SecondsFormat, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use crate::model::{
    Contract, DuplicateEntry, EmptyRecords, Faults, KeySpec, KeyStats, LedgerEntry, Reason,
    RetryAfterHeaders, Stats,
};

/// A poisoned lock only means a handler panicked mid-update; the counters are still the best
/// record there is, so keep serving rather than failing every later request.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Everything the simulator knows; shared by the HTTP workers and [`crate::RunningSim`].
#[derive(Default)]
pub(crate) struct SimState {
    keys: Mutex<HashMap<String, Arc<Mutex<KeyState>>>>,
    unauthorized: AtomicU64,
    /// The last counted request of any key whose contract shares the rate limit.
    shared_window: Mutex<Option<Instant>>,
}

impl SimState {
    pub(crate) fn new(keys: impl IntoIterator<Item = KeySpec>) -> Self {
        let state = SimState::default();
        for spec in keys {
            state.put_key(spec);
        }
        state
    }

    /// Registers or replaces a key; a replaced key starts over with an empty ledger, fresh
    /// counters and no faults.
    pub(crate) fn put_key(&self, spec: KeySpec) {
        let key = spec.key.clone();
        lock(&self.keys).insert(key, Arc::new(Mutex::new(KeyState::new(spec))));
    }

    pub(crate) fn remove_key(&self, key: &str) -> bool {
        lock(&self.keys).remove(key).is_some()
    }

    /// Moves a key's whole state (ledger, counters, faults, contract) to a new name, as a company
    /// whose key is replaced keeps its records: the old name answers 401 from then on.
    pub(crate) fn rotate_key(&self, from: &str, to: &str) -> Result<(), RotateError> {
        if to.is_empty() {
            return Err(RotateError::BadName);
        }
        let mut keys = lock(&self.keys);
        if keys.contains_key(to) {
            return Err(RotateError::Taken);
        }
        let state = keys.remove(from).ok_or(RotateError::Unknown)?;
        lock(&state).spec.key = to.to_owned();
        keys.insert(to.to_owned(), state);
        Ok(())
    }

    pub(crate) fn duplicates(&self, key: &str) -> Option<Vec<DuplicateEntry>> {
        self.key(key).map(|k| lock(&k).duplicates.clone())
    }

    pub(crate) fn key(&self, key: &str) -> Option<Arc<Mutex<KeyState>>> {
        lock(&self.keys).get(key).cloned()
    }

    pub(crate) fn specs(&self) -> Vec<KeySpec> {
        let keys: Vec<_> = lock(&self.keys).values().cloned().collect();
        let mut specs: Vec<KeySpec> = keys.iter().map(|k| lock(k).spec.clone()).collect();
        specs.sort_by(|a, b| a.key.cmp(&b.key));
        specs
    }

    pub(crate) fn set_faults(&self, key: &str, faults: Faults) -> bool {
        match self.key(key) {
            Some(k) => {
                lock(&k).set_faults(faults);
                true
            }
            None => false,
        }
    }

    pub(crate) fn faults(&self, key: &str) -> Option<Faults> {
        self.key(key).map(|k| lock(&k).faults.clone())
    }

    pub(crate) fn set_contract(&self, key: &str, contract: Contract) -> bool {
        match self.key(key) {
            Some(k) => {
                lock(&k).contract = contract;
                true
            }
            None => false,
        }
    }

    pub(crate) fn contract(&self, key: &str) -> Option<Contract> {
        self.key(key).map(|k| lock(&k).contract.clone())
    }

    /// The window that keys with a shared rate limit are judged on.
    pub(crate) fn shared_window(&self) -> &Mutex<Option<Instant>> {
        &self.shared_window
    }

    pub(crate) fn ledger(&self, key: &str) -> Option<Vec<LedgerEntry>> {
        self.key(key).map(|k| lock(&k).ledger.clone())
    }

    pub(crate) fn note_unauthorized(&self) {
        self.unauthorized.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> Stats {
        let keys: Vec<(String, Arc<Mutex<KeyState>>)> = lock(&self.keys)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Stats {
            unauthorized: self.unauthorized.load(Ordering::Relaxed),
            keys: keys
                .into_iter()
                .map(|(k, v)| (k, lock(&v).stats.clone()))
                .collect(),
        }
    }

    pub(crate) fn reset(&self) {
        lock(&self.keys).clear();
        self.unauthorized.store(0, Ordering::Relaxed);
        *lock(&self.shared_window) = None;
    }
}

/// Why a key could not be renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RotateError {
    Unknown,
    Taken,
    BadName,
}

pub(crate) struct KeyState {
    spec: KeySpec,
    employees: HashSet<String>,
    interval: Duration,
    faults: Faults,
    pub(crate) contract: Contract,
    rng: ChaCha8Rng,
    last_start: Option<Instant>,
    ledger: Vec<LedgerEntry>,
    /// `(empId, time)` of every ledger entry: Bayzat refuses a repeat whatever its type.
    held: HashSet<(String, String)>,
    /// The held punches whose acceptance was answered with a plain, immediate 200.
    acknowledged: HashSet<(String, String)>,
    /// Every record refused because `held` had it, in arrival order.
    duplicates: Vec<DuplicateEntry>,
    stats: KeyStats,
}

/// What step 2 decided for a request.
#[derive(Debug)]
pub(crate) enum Admission {
    RateLimited {
        remaining: Duration,
        latency: Duration,
        headers: RetryAfterHeaders,
    },
    Counted(Draws),
}

/// The random outcomes of one counted request, drawn when it is counted.
///
/// Exactly four numbers in `[0, 1)` are drawn per counted request, always in this order and
/// whether or not they end up mattering: timeout, 500, `success: false`, accept-then-500; and two
/// more, 429 and slow accept, when the key sets either of those. A fault fires when its number is
/// below its probability; timeout, 500, `success: false` and 429 are exclusive, in that order of
/// precedence, and accept-then-500 wins over slow accept. Drawing a fixed count keeps the
/// generator's stream aligned with the request sequence, so the same seed and the same requests
/// give the same answers (and keys that set neither of the later two see the same stream as
/// before they existed).
#[derive(Debug, Clone)]
pub(crate) struct Draws {
    pub(crate) fault: Option<Fault>,
    pub(crate) accept_then_500: bool,
    pub(crate) slow_accept: bool,
    pub(crate) hold: Duration,
    pub(crate) latency: Duration,
    pub(crate) retry_after: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    Timeout,
    ServerError,
    SuccessFalse,
    TooManyRequests,
}

/// How the simulator answers a counted request (faults drawn, then the records judged).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SimulatedAnswer {
    Hold,
    ServerError,
    SuccessFalse,
    TooManyRequests,
    Rejected(Rejection),
    NoRecords,
    Accepted(usize),
    AcceptedThen500(usize),
    AcceptedSlowly(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejection {
    pub(crate) reason: Reason,
    pub(crate) message: String,
}

impl Rejection {
    fn new(reason: Reason, message: String) -> Self {
        Rejection { reason, message }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    records: Vec<Record>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    #[serde(rename = "empId")]
    emp_id: String,
    #[serde(rename = "type")]
    kind: String,
    time: String,
}

impl KeyState {
    fn new(spec: KeySpec) -> Self {
        let faults = Faults::default();
        KeyState {
            employees: spec.employees.iter().cloned().collect(),
            interval: Duration::from_millis(spec.interval_ms),
            rng: ChaCha8Rng::seed_from_u64(faults.seed),
            faults,
            contract: Contract::default(),
            spec,
            last_start: None,
            ledger: Vec::new(),
            held: HashSet::new(),
            acknowledged: HashSet::new(),
            duplicates: Vec::new(),
            stats: KeyStats::default(),
        }
    }

    fn set_faults(&mut self, faults: Faults) {
        self.rng = ChaCha8Rng::seed_from_u64(faults.seed);
        self.faults = faults;
    }

    /// Step 2, and the fault draws of step 3. Judging and recording under one lock is what
    /// makes concurrent requests of one key see a consistent "previous request". A key whose
    /// contract shares the rate limit is judged on `shared`, held from judging to recording so
    /// that two such keys cannot both pass; it is always taken after a key's lock.
    pub(crate) fn admit(&mut self, now: Instant, shared: &Mutex<Option<Instant>>) -> Admission {
        let latency = Duration::from_millis(self.faults.latency_ms);
        let mut shared = self.contract.shared_rate_limit.then(|| lock(shared));
        let window = match &shared {
            Some(guard) => **guard,
            None => self.last_start,
        };
        if let Some(last) = window {
            let elapsed = now.saturating_duration_since(last);
            if elapsed < self.interval {
                self.stats.rate_limited += 1;
                return Admission::RateLimited {
                    remaining: self.interval - elapsed,
                    latency,
                    headers: self.contract.retry_after,
                };
            }
        }
        // The gap statistic stays the key's own, whichever window judged it.
        if let Some(last) = self.last_start {
            let elapsed = now.saturating_duration_since(last);
            let gap = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
            self.stats.min_gap_ms = Some(self.stats.min_gap_ms.map_or(gap, |m| m.min(gap)));
        }
        self.last_start = Some(now);
        if let Some(guard) = shared.as_mut() {
            **guard = Some(now);
        }
        drop(shared);
        self.stats.requests += 1;

        let r_timeout: f64 = self.rng.random();
        let r_500: f64 = self.rng.random();
        let r_success_false: f64 = self.rng.random();
        let r_accept_then_500: f64 = self.rng.random();
        let (r_429, r_slow_accept): (f64, f64) =
            if self.faults.p_429 > 0.0 || self.faults.p_slow_accept > 0.0 {
                (self.rng.random(), self.rng.random())
            } else {
                (1.0, 1.0)
            };
        let f = &self.faults;
        let fault = if r_timeout < f.p_timeout {
            Some(Fault::Timeout)
        } else if r_500 < f.p_500 {
            Some(Fault::ServerError)
        } else if r_success_false < f.p_success_false {
            Some(Fault::SuccessFalse)
        } else if r_429 < f.p_429 {
            Some(Fault::TooManyRequests)
        } else {
            None
        };
        Admission::Counted(Draws {
            fault,
            accept_then_500: r_accept_then_500 < f.p_accept_then_500,
            slow_accept: r_slow_accept < f.p_slow_accept,
            hold: Duration::from_millis(f.hold_ms),
            latency,
            retry_after: Duration::from_secs(f.retry_after_s),
        })
    }

    pub(crate) fn note_request_size(&mut self, records: Option<usize>) {
        if let Some(n) = records {
            self.stats.largest_request = self.stats.largest_request.max(n);
        }
    }

    /// Steps 3 to 5 for a counted request. `body` is `Err` with a description when it could not
    /// be read at all. Validation and storing happen under the caller's lock, so two requests
    /// carrying the same punch cannot both get in.
    pub(crate) fn settle(&mut self, draws: &Draws, body: Result<&[u8], &str>) -> SimulatedAnswer {
        match draws.fault {
            Some(Fault::Timeout) => {
                self.stats.timeouts += 1;
                self.stats.server_errors += 1;
                return SimulatedAnswer::Hold;
            }
            Some(Fault::ServerError) => {
                self.stats.server_errors += 1;
                return SimulatedAnswer::ServerError;
            }
            Some(Fault::SuccessFalse) => {
                self.stats.success_false += 1;
                return SimulatedAnswer::SuccessFalse;
            }
            Some(Fault::TooManyRequests) => {
                self.stats.injected_429 += 1;
                return SimulatedAnswer::TooManyRequests;
            }
            None => {}
        }
        let parsed = match body {
            Ok(b) => serde_json::from_slice::<Body>(b).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_owned()),
        };
        let records = match parsed {
            Ok(b) => b.records,
            Err(e) => {
                return self.reject(Rejection::new(
                    Reason::Malformed,
                    format!(
                        "malformed: the body must be {{\"records\": [{{\"empId\", \"type\", \"time\"}}]}}: {e}"
                    ),
                ))
            }
        };
        if let Err(rejection) = self.validate(&records) {
            if rejection.reason == Reason::Duplicate {
                self.note_resends(&records);
            }
            return self.reject(rejection);
        }
        if records.is_empty() {
            return match self.contract.empty_records {
                EmptyRecords::Accept => SimulatedAnswer::NoRecords,
                EmptyRecords::Refuse => self.reject(Rejection::new(
                    Reason::Malformed,
                    "malformed: records must not be empty".to_owned(),
                )),
                EmptyRecords::ServerError => {
                    self.stats.server_errors += 1;
                    SimulatedAnswer::ServerError
                }
            };
        }
        let received_at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        let n = records.len();
        let acknowledged = !draws.accept_then_500 && !draws.slow_accept;
        for r in records {
            if acknowledged {
                self.acknowledged.insert((r.emp_id.clone(), r.time.clone()));
            }
            self.held.insert((r.emp_id.clone(), r.time.clone()));
            self.ledger.push(LedgerEntry {
                emp_id: r.emp_id,
                kind: r.kind,
                time: r.time,
                received_at: received_at.clone(),
            });
        }
        self.stats.accepted_records += n as u64;
        if draws.accept_then_500 {
            self.stats.server_errors += 1;
            SimulatedAnswer::AcceptedThen500(n)
        } else if draws.slow_accept {
            self.stats.slow_accepts += 1;
            SimulatedAnswer::AcceptedSlowly(n)
        } else {
            SimulatedAnswer::Accepted(n)
        }
    }

    /// Records of a request refused as a duplicate that the ledger already holds: resends.
    fn note_resends(&mut self, records: &[Record]) {
        let received_at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        for r in records {
            let punch = (r.emp_id.clone(), r.time.clone());
            if !self.held.contains(&punch) {
                continue;
            }
            let acknowledged = self.acknowledged.contains(&punch);
            self.stats.duplicate_records += 1;
            if acknowledged {
                self.stats.acknowledged_duplicates += 1;
            }
            self.duplicates.push(DuplicateEntry {
                emp_id: r.emp_id.clone(),
                kind: r.kind.clone(),
                time: r.time.clone(),
                received_at: received_at.clone(),
                acknowledged,
            });
        }
    }

    fn reject(&mut self, rejection: Rejection) -> SimulatedAnswer {
        *self
            .stats
            .bad_requests_by_reason
            .entry(rejection.reason.as_str().to_owned())
            .or_default() += 1;
        SimulatedAnswer::Rejected(rejection)
    }

    /// Checks reason by reason, in the order the API description lists them, and names the
    /// first offending record of the first failing reason.
    fn validate(&self, records: &[Record]) -> Result<(), Rejection> {
        let max = self.spec.max_records;
        if records.len() > max {
            let r = &records[max];
            return Err(Rejection::new(
                Reason::TooManyRecords,
                format!(
                    "too many records: {} in one request, the limit is {max}; the first over the limit is empId {} at {}",
                    records.len(),
                    r.emp_id,
                    r.time
                ),
            ));
        }
        if let Some(r) = records
            .iter()
            .find(|r| r.kind != "checkIn" && r.kind != "checkOut")
        {
            return Err(Rejection::new(
                Reason::BadType,
                format!(
                    "bad type {:?} for empId {} at {}: must be checkIn or checkOut",
                    r.kind, r.emp_id, r.time
                ),
            ));
        }
        if let Some(r) = records.iter().find(|r| !valid_time(&r.time)) {
            return Err(Rejection::new(
                Reason::BadTime,
                format!(
                    "bad time {:?} for empId {}: must be a valid YYYY-MM-DD HH:MM:SS",
                    r.time, r.emp_id
                ),
            ));
        }
        if let Some(r) = records.iter().find(|r| !self.employees.contains(&r.emp_id)) {
            return Err(Rejection::new(
                Reason::UnknownEmployee,
                format!(
                    "unknown employee: empId {} (at {}) is not known to this company",
                    r.emp_id, r.time
                ),
            ));
        }
        if self.contract.accept_duplicates {
            return Ok(());
        }
        let mut in_request = HashSet::new();
        for r in records {
            let punch = (r.emp_id.clone(), r.time.clone());
            if self.held.contains(&punch) {
                return Err(self.duplicate(
                    r,
                    format!(
                        "duplicate punch: empId {} at {} is already recorded",
                        r.emp_id, r.time
                    ),
                ));
            }
            if !in_request.insert(punch) {
                return Err(self.duplicate(
                    r,
                    format!(
                        "duplicate punch: empId {} at {} appears twice in this request",
                        r.emp_id, r.time
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A duplicate refusal, worded as the contract says when it says.
    fn duplicate(&self, r: &Record, default: String) -> Rejection {
        let message = match &self.contract.duplicate_message {
            Some(template) => template
                .replace("{empId}", &r.emp_id)
                .replace("{time}", &r.time),
            None => default,
        };
        Rejection::new(Reason::Duplicate, message)
    }
}

/// Counts the records of a body without judging it, for `largest_request`.
pub(crate) fn count_records(body: &[u8]) -> Option<usize> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value.get("records")?.as_array().map(Vec::len)
}

/// Exactly `YYYY-MM-DD HH:MM:SS` and a real calendar date-time; chrono's own parser accepts
/// single-digit fields and leap seconds, which Bayzat's format does not.
pub(crate) fn valid_time(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 19 {
        return false;
    }
    for (i, c) in b.iter().enumerate() {
        let ok = match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        };
        if !ok {
            return false;
        }
    }
    let num = |from: usize, to: usize| s[from..to].parse::<u32>().ok();
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(sec)) = (
        num(0, 4),
        num(5, 7),
        num(8, 10),
        num(11, 13),
        num(14, 16),
        num(17, 19),
    ) else {
        return false;
    };
    let Ok(y) = i32::try_from(y) else {
        return false;
    };
    NaiveDate::from_ymd_opt(y, mo, d).is_some() && NaiveTime::from_hms_opt(h, mi, sec).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    impl KeyState {
        /// Admission for a key whose contract keeps the documented per-key limit.
        fn admit_alone(&mut self, now: Instant) -> Admission {
            self.admit(now, &Mutex::new(None))
        }
    }

    fn key(interval_ms: u64) -> KeyState {
        KeyState::new(KeySpec::new("k", ["1", "2"]).with_interval_ms(interval_ms))
    }

    fn counted(a: Admission) -> Draws {
        match a {
            Admission::Counted(d) => d,
            other => panic!("expected a counted request, got {other:?}"),
        }
    }

    #[test]
    fn time_format_is_strict() {
        assert!(valid_time("2023-04-30 09:00:00"));
        assert!(valid_time("2024-02-29 23:59:59"));
        for bad in [
            "2023-04-30T09:00:00",
            "2023-04-30 9:00:00",
            "2023-4-30 09:00:00",
            "2023-04-30 09:00",
            "2023-04-30 09:00:00Z",
            "2023-02-29 09:00:00",
            "2023-04-31 09:00:00",
            "2023-13-01 09:00:00",
            "2023-04-30 24:00:00",
            "2023-04-30 23:60:00",
            "2023-04-30 23:59:60",
            "2023-04-30 +9:00:00",
            "２０２３-04-30 09:00:00",
            "",
        ] {
            assert!(!valid_time(bad), "{bad:?} must be refused");
        }
    }

    #[test]
    fn count_records_is_lenient() {
        assert_eq!(count_records(br#"{"records":[1,2,3]}"#), Some(3));
        assert_eq!(count_records(br#"{"records":"x"}"#), None);
        assert_eq!(count_records(b"nope"), None);
    }

    #[test]
    fn rate_limit_window_and_gap() {
        let mut k = key(100);
        let t0 = Instant::now();
        counted(k.admit_alone(t0));
        match k.admit_alone(t0 + Duration::from_millis(40)) {
            Admission::RateLimited { remaining, .. } => {
                assert_eq!(remaining, Duration::from_millis(60))
            }
            other => panic!("{other:?}"),
        }
        // The refused request must not move the window.
        counted(k.admit_alone(t0 + Duration::from_millis(100)));
        counted(k.admit_alone(t0 + Duration::from_millis(250)));
        assert_eq!(k.stats.requests, 3);
        assert_eq!(k.stats.rate_limited, 1);
        assert_eq!(k.stats.min_gap_ms, Some(100));
    }

    #[test]
    fn a_shared_window_limits_across_keys() {
        let shared = Mutex::new(None);
        let mut a = key(100);
        let mut b = key(100);
        let mut own = key(100);
        for k in [&mut a, &mut b] {
            k.contract.shared_rate_limit = true;
        }
        let t0 = Instant::now();
        counted(a.admit(t0, &shared));
        // A key with its own window is not affected by the shared one.
        counted(own.admit(t0 + Duration::from_millis(10), &shared));
        match b.admit(t0 + Duration::from_millis(30), &shared) {
            Admission::RateLimited { remaining, .. } => {
                assert_eq!(remaining, Duration::from_millis(70))
            }
            other => panic!("{other:?}"),
        }
        counted(b.admit(t0 + Duration::from_millis(100), &shared));
        assert!(matches!(
            a.admit(t0 + Duration::from_millis(150), &shared),
            Admission::RateLimited { .. }
        ));
        assert_eq!((a.stats.rate_limited, b.stats.rate_limited), (1, 1));
        assert_eq!((a.stats.requests, b.stats.requests), (1, 1));
    }

    #[test]
    fn zero_interval_never_limits() {
        let mut k = key(0);
        let t0 = Instant::now();
        counted(k.admit_alone(t0));
        counted(k.admit_alone(t0));
        assert_eq!(k.stats.min_gap_ms, Some(0));
    }

    #[test]
    fn draws_follow_the_seed() {
        let faults = Faults {
            p_500: 0.3,
            p_success_false: 0.3,
            p_timeout: 0.1,
            p_accept_then_500: 0.3,
            seed: 11,
            ..Faults::default()
        };
        let run = || {
            let mut k = key(0);
            k.set_faults(faults.clone());
            let t0 = Instant::now();
            (0..50)
                .map(|_| {
                    let d = counted(k.admit_alone(t0));
                    (d.fault, d.accept_then_500)
                })
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        assert!(a.iter().any(|(f, _)| *f == Some(Fault::ServerError)));
        assert!(a.iter().any(|(f, _)| *f == Some(Fault::SuccessFalse)));
        assert!(a.iter().any(|(f, _)| *f == Some(Fault::Timeout)));
        assert!(a.iter().any(|(f, _)| f.is_none()));
        assert!(a.iter().any(|(_, a500)| *a500));
    }

    #[test]
    fn certain_and_impossible_faults() {
        let mut k = key(0);
        let t0 = Instant::now();
        for _ in 0..20 {
            let d = counted(k.admit_alone(t0));
            assert_eq!(d.fault, None);
            assert!(!d.accept_then_500);
        }
        k.set_faults(Faults {
            p_500: 1.0,
            ..Faults::default()
        });
        for _ in 0..20 {
            assert_eq!(counted(k.admit_alone(t0)).fault, Some(Fault::ServerError));
        }
    }

    #[test]
    fn validation_order_names_first_offender() {
        let mut k = key(0);
        let d = counted(k.admit_alone(Instant::now()));
        let body = br#"{"records":[
            {"empId":"1","type":"checkIn","time":"2023-04-30 09:00:00"},
            {"empId":"9","type":"checkIn","time":"2023-04-30 10:00:00"},
            {"empId":"2","type":"in","time":"bad"}]}"#;
        match k.settle(&d, Ok(body)) {
            SimulatedAnswer::Rejected(r) => {
                assert_eq!(r.reason, Reason::BadType);
                assert!(r.message.contains("empId 2"), "{}", r.message);
            }
            other => panic!("{other:?}"),
        }
        assert!(k.ledger.is_empty());
        assert_eq!(k.stats.bad_requests_by_reason["bad_type"], 1);
    }

    #[test]
    fn duplicate_ignores_type() {
        let mut k = key(0);
        let d = counted(k.admit_alone(Instant::now()));
        let first = br#"{"records":[{"empId":"1","type":"checkIn","time":"2023-04-30 09:00:00"}]}"#;
        assert_eq!(k.settle(&d, Ok(first)), SimulatedAnswer::Accepted(1));
        let again =
            br#"{"records":[{"empId":"1","type":"checkOut","time":"2023-04-30 09:00:00"}]}"#;
        match k.settle(&d, Ok(again)) {
            SimulatedAnswer::Rejected(r) => assert_eq!(r.reason, Reason::Duplicate),
            other => panic!("{other:?}"),
        }
        assert_eq!(k.ledger.len(), 1);
    }
}
