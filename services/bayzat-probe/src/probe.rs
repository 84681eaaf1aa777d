//! The probe: a short sequence of requests, paced as sync-service paces them except where a check
//! needs two requests back to back, each answer judged against what the system assumes.

use std::time::Duration;

use bayzat_client::{BayzatClient, ConnectionTest, Exchange, Reply};
use chrono::{Days, Utc};
use domain::{BayzatEmpId, BayzatRecord, LocalPunchTime, PunchType};
use tokio::time::{sleep_until, Instant};

use crate::assumptions::{
    Assumptions, DUPLICATE_PATTERN, HTTP_TIMEOUT, RATE_LIMIT_DELAY, RATE_LIMIT_MARGIN_MS,
};
use crate::report::{Check, Finding, Report, SentPunch, Setting, Status};
use crate::suggest::{self, delay_seconds, ms};

/// Requests sent back to back after the first before concluding that Bayzat allows bursts.
pub const BURST: usize = 4;
/// How often a paced request that meets a 429 is resent before the probe gives up on it.
const RESENDS_AFTER_429: usize = 3;
/// Multiples of sync-service's interval tried when a 429 does not say how long to wait: fine
/// near the interval, where a window that is a little longer is likely, then coarse.
const WINDOW_SEARCH: [f64; 7] = [1.25, 1.5, 1.75, 2.0, 3.0, 4.0, 8.0];
/// The empId of the unknown-employee check: not one a sandbox would hold.
pub const DEFAULT_UNKNOWN_EMPLOYEE: &str = "bayzat-probe-no-such-employee";
const EXCERPT_CHARS: usize = 200;

/// What to probe, with what, and the configuration to judge the answers against. `Debug` shows
/// the keys masked.
#[derive(Clone)]
pub struct ProbeOptions {
    pub api_url: String,
    pub key: String,
    /// A key of another sandbox company, for the rate limit's scope.
    pub second_key: Option<String>,
    /// An employee the sandbox knows: the duplicate check sends one punch of theirs, twice.
    pub employee: Option<BayzatEmpId>,
    /// An empId the sandbox does not know.
    pub unknown_employee: BayzatEmpId,
    /// The time of the probe's punches (company-local wall clock).
    pub time: LocalPunchTime,
    pub assumptions: Assumptions,
}

impl std::fmt::Debug for ProbeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let masked = |key: &str| {
            let count = key.chars().count();
            let tail: String = key.chars().skip(count.saturating_sub(4)).collect();
            if count > 4 {
                format!("••••{tail}")
            } else {
                "••••".to_owned()
            }
        };
        f.debug_struct("ProbeOptions")
            .field("api_url", &self.api_url)
            .field("key", &masked(&self.key))
            .field("second_key", &self.second_key.as_deref().map(masked))
            .field("employee", &self.employee)
            .field("unknown_employee", &self.unknown_employee)
            .field("time", &self.time)
            .field("assumptions", &self.assumptions)
            .finish()
    }
}

impl ProbeOptions {
    pub fn new(api_url: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            api_url: api_url.into(),
            key: key.into(),
            second_key: None,
            employee: None,
            unknown_employee: BayzatEmpId::new(DEFAULT_UNKNOWN_EMPLOYEE)
                .expect("the default unknown empId is not empty"),
            time: default_punch_time(),
            assumptions: Assumptions::default(),
        }
    }
}

/// Yesterday at this UTC time: in the past in every time zone, and new at every run.
pub fn default_punch_time() -> LocalPunchTime {
    let now = Utc::now().naive_utc();
    LocalPunchTime::new(now.checked_sub_days(Days::new(1)).unwrap_or(now))
}

/// Runs every check and reports. Never fails: a service that cannot be reached is a report too.
pub async fn run(options: &ProbeOptions) -> Report {
    Prober::new(options).run().await
}

/// One request and its answer.
struct Sent {
    started: Instant,
    answered: Instant,
    exchange: Exchange,
}

impl Sent {
    fn status(&self) -> Option<u16> {
        self.exchange.outcome.status
    }

    fn reply(&self) -> &Reply {
        &self.exchange.outcome.reply
    }

    fn is_429(&self) -> bool {
        self.status() == Some(429)
    }

    fn header(&self, name: &str) -> Option<String> {
        let value = self.exchange.answer.as_ref()?.headers.get(name)?;
        Some(String::from_utf8_lossy(value.as_bytes()).trim().to_owned())
    }

    fn body(&self) -> &str {
        self.exchange
            .answer
            .as_ref()
            .map(|a| a.body.as_str())
            .unwrap_or_default()
    }

    /// The wait sync-service takes after this answer when it is a 429 (`None`: its interval).
    fn told_wait(&self) -> Option<Duration> {
        match self.reply() {
            Reply::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }

    /// `400 {"success":false,...}`, or why no answer came.
    fn describe(&self) -> String {
        match (&self.exchange.answer, self.reply()) {
            (Some(a), _) => {
                let body = excerpt(&a.body);
                if body.is_empty() {
                    format!("{} (empty body)", a.status)
                } else {
                    format!("{} {body}", a.status)
                }
            }
            (None, Reply::Transient { detail, .. }) => format!("no answer ({detail})"),
            (None, Reply::Unauthorized) => {
                "nothing: the key cannot be sent in an HTTP header".to_owned()
            }
            (None, other) => format!("no answer ({})", other.kind()),
        }
    }
}

fn excerpt(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

fn sent_punch(record: &BayzatRecord) -> SentPunch {
    SentPunch {
        emp_id: record.emp_id.as_str().to_owned(),
        kind: record.punch_type.as_str().to_owned(),
        time: record.time.to_string(),
    }
}

/// Whether an answer leaves it open that the records were stored.
fn maybe_stored(reply: &Reply) -> bool {
    match reply {
        Reply::Transient { status, .. } => status.is_none_or(|s| s >= 500),
        Reply::Unexpected { status, .. } => (200..300).contains(status) || *status >= 500,
        _ => false,
    }
}

struct Prober<'a> {
    o: &'a ProbeOptions,
    client: BayzatClient,
    /// The pace between ordinary requests: sync-service's, or Bayzat's window once the pace
    /// check found that longer, so later checks do not trip over it.
    interval: Duration,
    last_counted: Option<Instant>,
    requests: u32,
    created: Vec<SentPunch>,
    uncertain: Vec<SentPunch>,
    findings: Vec<Finding>,
    settings: Vec<Setting>,
    /// Messages of refusals that are not duplicates: a proposed pattern must not match them.
    other_refusals: Vec<String>,
    /// The message of Bayzat's refusal of the repeated punch.
    duplicate_message: Option<String>,
    duplicate_unrecognised: bool,
    stopped: Option<String>,
}

impl<'a> Prober<'a> {
    fn new(o: &'a ProbeOptions) -> Self {
        let client = BayzatClient::new(
            o.assumptions.http_timeout,
            o.assumptions.duplicate_pattern.clone(),
        );
        Self {
            o,
            client,
            interval: o.assumptions.interval(),
            last_counted: None,
            requests: 0,
            created: Vec::new(),
            uncertain: Vec::new(),
            findings: Vec::new(),
            settings: Vec::new(),
            other_refusals: Vec::new(),
            duplicate_message: None,
            duplicate_unrecognised: false,
            stopped: None,
        }
    }

    async fn run(mut self) -> Report {
        let key = self.o.key.clone();
        if self.empty_records(&key).await {
            let wrong_key_limited = self.rate_limit(&key).await;
            self.pace(&key).await;
            self.key_scope(&key, wrong_key_limited).await;
            self.duplicate(&key).await;
            self.unknown_employee(&key).await;
        }
        self.finish()
    }

    fn note(&mut self, check: Check, status: Status, detail: impl Into<String>) {
        self.findings.push(Finding {
            check,
            status,
            detail: detail.into(),
        });
    }

    /// Adds a setting, replacing an earlier one of the same name (a later check knows more).
    fn set(&mut self, name: &str, value: String, applies_to: &str, why: impl Into<String>) {
        self.settings.retain(|s| s.name != name);
        self.settings.push(Setting {
            name: name.to_owned(),
            value,
            applies_to: applies_to.to_owned(),
            why: why.into(),
        });
    }

    async fn send(&mut self, key: &str, records: &[BayzatRecord]) -> Sent {
        let started = Instant::now();
        let exchange = self.client.exchange(&self.o.api_url, key, records).await;
        let answered = Instant::now();
        self.requests += 1;
        let status = exchange.outcome.status;
        // Whether Bayzat counts a refused or failed request is unknown: pacing from every
        // answered request but a 429 is the cautious reading.
        if status.is_some() && status != Some(429) {
            self.last_counted = Some(started);
        }
        let reply = &exchange.outcome.reply;
        if matches!(reply, Reply::Accepted) {
            self.created.extend(records.iter().map(sent_punch));
        } else if maybe_stored(reply) {
            self.uncertain.extend(records.iter().map(sent_punch));
        }
        Sent {
            started,
            answered,
            exchange,
        }
    }

    async fn wait_turn(&self) {
        if let Some(last) = self.last_counted {
            sleep_until(last + self.interval).await;
        }
    }

    /// A request at the pace, resent after a 429 as sync-service would resend it.
    async fn paced(&mut self, key: &str, records: &[BayzatRecord]) -> Sent {
        self.wait_turn().await;
        let mut sent = self.send(key, records).await;
        for _ in 0..RESENDS_AFTER_429 {
            if !sent.is_429() {
                break;
            }
            let wait = sent.told_wait().unwrap_or(self.interval);
            sleep_until(sent.answered + wait).await;
            sent = self.send(key, records).await;
        }
        sent
    }

    /// `{"records": []}`: what config-service's connection test sends. Also finds out whether
    /// the URL and key work at all; `false` stops the probe.
    async fn empty_records(&mut self, key: &str) -> bool {
        let mut first = self.paced(key, &[]).await;
        if matches!(first.status(), Some(500..=599)) {
            // One server error is not yet the contract's answer.
            first = self.paced(key, &[]).await;
        }
        let described = first.describe();
        let status = match (first.status(), first.reply()) {
            (None, _) => {
                self.stopped = Some(format!("{} gave {described}", self.o.api_url));
                return false;
            }
            (Some(401 | 403), _) => {
                self.stopped = Some(format!(
                    "the key was refused ({described}): check the key, and that the URL is the \
                     attendance endpoint of the environment the key belongs to"
                ));
                return false;
            }
            (Some(404 | 405 | 300..=399), _) => {
                self.stopped = Some(format!(
                    "the URL does not answer like the attendance endpoint ({described})"
                ));
                return false;
            }
            (Some(429), _) => {
                self.stopped = Some(format!(
                    "every request was answered 429, even at the pace ({described}): is \
                     something else using this key?"
                ));
                return false;
            }
            (Some(status), _) => status,
        };
        match ConnectionTest::from_answer(status, first.body().as_bytes()) {
            ConnectionTest::Ok if matches!(first.reply(), Reply::Accepted) => self.note(
                Check::EmptyRecords,
                Status::Ok,
                format!(
                    "answered {described}; config-service's connection test reads it as \
                     \"key accepted\", and nothing is stored"
                ),
            ),
            ConnectionTest::Ok => {
                if let Reply::Refused { message, .. } = first.reply() {
                    self.other_refusals.push(message.clone());
                }
                self.note(
                    Check::EmptyRecords,
                    Status::Differs,
                    format!(
                        "answered {described}, not 200 with success true; config-service's \
                         connection test reads any 200 or 400 as \"key accepted\", so nothing \
                         needs to change"
                    ),
                );
            }
            _ => {
                self.note(
                    Check::EmptyRecords,
                    Status::Configure,
                    format!(
                        "answered {described}: config-service's connection test would report \
                         every key as \"unexpected\" and refuse to save it"
                    ),
                );
                self.set(
                    "test_connection",
                    "false".to_owned(),
                    "config-service: the body of PUT /v1/companies/{company}/bayzat-config",
                    "save keys without the connection test, and check a new key by syncing \
                     one punch instead",
                );
            }
        }
        true
    }

    /// Requests back to back until a 429; what the 429 says; whether waiting as sync-service
    /// waits is enough; and a made-up key right after a counted request. Returns that
    /// made-up key's answer when it was a 429 (the limit then spans keys).
    async fn rate_limit(&mut self, key: &str) -> Option<Sent> {
        let mut limited = None;
        let mut answers = Vec::new();
        let mut before = self.last_counted;
        for _ in 0..BURST {
            before = self.last_counted;
            let sent = self.send(key, &[]).await;
            if sent.is_429() {
                limited = Some(sent);
                break;
            }
            answers.push(
                sent.status()
                    .map_or_else(|| "no answer".to_owned(), |s| s.to_string()),
            );
        }
        let sender_interval = self.o.assumptions.interval();
        let Some(limited) = limited else {
            self.note(
                Check::RateLimit,
                Status::Differs,
                format!(
                    "{BURST} requests sent back to back after the first were answered {}, none \
                     429: Bayzat allows more than one request per {}, so sync-service's pace is \
                     slower than it need be, which is safe",
                    answers.join(", "),
                    ms(sender_interval)
                ),
            );
            for check in [Check::RetryAfter, Check::WaitAfter429] {
                self.note(check, Status::NotChecked, "no 429 could be provoked");
            }
            return self.wrong_key().await;
        };

        let gap = before.map_or(Duration::ZERO, |b| limited.started - b);
        let told = limited.told_wait();
        let window = match told {
            Some(t) => {
                let w = gap + t;
                let versus = if w > sender_interval {
                    "longer than sync-service's pace (see pace)"
                } else {
                    "within sync-service's pace"
                };
                format!(
                    "; by its Retry-After Bayzat's window is about {}, {versus} of {} \
                     ({RATE_LIMIT_DELAY} + {RATE_LIMIT_MARGIN_MS})",
                    ms(w),
                    ms(sender_interval)
                )
            }
            None => String::new(),
        };
        self.note(
            Check::RateLimit,
            Status::Ok,
            format!(
                "a request {} after the previous one was answered {}{window}",
                ms(gap),
                limited.describe()
            ),
        );
        self.retry_after(&limited, sender_interval);

        let wait = told.unwrap_or(sender_interval);
        let how = if told.is_some() {
            "as long as the 429 said"
        } else {
            "sync-service's interval"
        };
        sleep_until(limited.answered + wait).await;
        let resend = self.send(key, &[]).await;
        if resend.is_429() {
            let why = if told.is_some() {
                "Bayzat's Retry-After is shorter than its window; sync-service then waits and \
                 resends again (a 429 costs no attempt, only a request)"
            } else {
                "sync-service's interval is shorter than Bayzat's window (see pace)"
            };
            self.note(
                Check::WaitAfter429,
                Status::Differs,
                format!(
                    "a resend {} after the 429 ({how}) was refused again ({}): {why}",
                    ms(wait),
                    resend.describe()
                ),
            );
            self.paced(key, &[]).await;
        } else {
            self.note(
                Check::WaitAfter429,
                Status::Ok,
                format!(
                    "a resend {} after the 429 ({how}) was answered {}",
                    ms(wait),
                    resend.describe()
                ),
            );
        }
        self.wrong_key().await
    }

    fn retry_after(&mut self, limited: &Sent, sender_interval: Duration) {
        let exact = limited.header("retry-after-ms");
        let seconds = limited.header("retry-after");
        let exact_usable = exact
            .as_deref()
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(|v| v.is_finite() && v >= 0.0);
        let (status, detail) = match (exact_usable, limited.told_wait(), seconds) {
            (true, _, seconds) => (
                Status::Ok,
                format!(
                    "the 429 carries Retry-After-Ms: {} (Retry-After: {}); sync-service waits \
                     exactly that",
                    exact.unwrap_or_default(),
                    seconds.unwrap_or_else(|| "absent".to_owned())
                ),
            ),
            (false, Some(wait), Some(seconds)) => (
                Status::Differs,
                format!(
                    "the 429 carries Retry-After: {seconds} and no usable Retry-After-Ms; \
                     sync-service waits {}, up to a second longer than needed",
                    ms(wait)
                ),
            ),
            (false, _, Some(seconds)) => (
                Status::Differs,
                format!(
                    "the 429's Retry-After {seconds:?} is not a number of seconds (a date?); \
                     sync-service waits its own interval ({}) instead",
                    ms(sender_interval)
                ),
            ),
            (false, _, None) => (
                Status::Differs,
                format!(
                    "the 429 carries neither Retry-After nor Retry-After-Ms; sync-service waits \
                     its own interval ({}) instead",
                    ms(sender_interval)
                ),
            ),
        };
        self.note(Check::RetryAfter, status, detail);
    }

    /// A made-up key right after a counted request: a 401 shows a wrong key is refused, a 429
    /// that the limit is applied before the key is even known (per address, not per key).
    async fn wrong_key(&mut self) -> Option<Sent> {
        let wrong = format!("bayzat-probe-wrong-key-{}", Utc::now().timestamp_millis());
        let sent = self.send(&wrong, &[]).await;
        if sent.is_429() {
            return Some(sent);
        }
        self.judge_wrong_key(&sent);
        None
    }

    fn judge_wrong_key(&mut self, sent: &Sent) {
        let described = sent.describe();
        let (status, detail) = match sent.status() {
            Some(401 | 403) => (
                Status::Ok,
                format!(
                    "a made-up key was answered {described}: sync-service pauses a company whose \
                     key is refused, and the connection test reports \"invalid key\""
                ),
            ),
            None | Some(429) => (Status::NotChecked, format!("a made-up key got {described}")),
            Some(_) => (
                Status::Unsupported,
                format!(
                    "a made-up key was answered {described}: the system knows a refused key only \
                     by 401 or 403, so the connection test would not report a wrong key, and \
                     sync-service would not pause a company whose key was revoked"
                ),
            ),
        };
        self.note(Check::WrongKey, status, detail);
    }

    /// A request `BAYZAT_RATE_LIMIT_DELAY` + margin after the previous one, as sync-service
    /// paces them. When it is refused, finds how long Bayzat's window is.
    async fn pace(&mut self, key: &str) {
        let sender_interval = self.o.assumptions.interval();
        let before = self.last_counted;
        self.wait_turn().await;
        let sent = self.send(key, &[]).await;
        if !sent.is_429() {
            let (status, detail) = match sent.status() {
                None => (
                    Status::NotChecked,
                    format!("the request got {}", sent.describe()),
                ),
                Some(_) => (
                    Status::Ok,
                    format!(
                        "a request {} after the previous one ({RATE_LIMIT_DELAY} {} + \
                         {RATE_LIMIT_MARGIN_MS} {}) was answered {}",
                        ms(sender_interval),
                        ms(self.o.assumptions.rate_limit_delay),
                        ms(self.o.assumptions.rate_limit_margin),
                        sent.describe()
                    ),
                ),
            };
            self.note(Check::Pace, status, detail);
            return;
        }
        let before = before.unwrap_or(sent.started);
        let gap = sent.started - before;
        let mut window = sent.told_wait().map(|t| gap + t);
        if window.is_none() {
            // The 429 does not say: try longer gaps until one is answered.
            for factor in WINDOW_SEARCH {
                sleep_until(before + sender_interval.mul_f64(factor)).await;
                let retry = self.send(key, &[]).await;
                if !retry.is_429() && retry.status().is_some() {
                    window = Some(retry.started - before);
                    break;
                }
            }
        }
        let refused = format!(
            "a request {} after the previous one, at sync-service's pace, was answered {}",
            ms(gap),
            sent.describe()
        );
        let margin = self.o.assumptions.rate_limit_margin;
        match window {
            Some(w) => {
                self.note(
                    Check::Pace,
                    Status::Configure,
                    format!("{refused}: Bayzat's window is about {}", ms(w)),
                );
                self.set(
                    RATE_LIMIT_DELAY,
                    delay_seconds(w),
                    "sync-service",
                    format!(
                        "one request per key per this long, as measured; {RATE_LIMIT_MARGIN_MS} \
                         stays on top against jitter (now {})",
                        ms(margin)
                    ),
                );
                self.interval = w + margin;
            }
            None => {
                let longest = sender_interval.mul_f64(WINDOW_SEARCH[WINDOW_SEARCH.len() - 1]);
                self.note(
                    Check::Pace,
                    Status::Configure,
                    format!(
                        "{refused}, and still refused {} after it: Bayzat's window is longer \
                         than that",
                        ms(longest)
                    ),
                );
                self.set(
                    RATE_LIMIT_DELAY,
                    delay_seconds(longest),
                    "sync-service",
                    "at least this: Bayzat refused every request sooner; ask Bayzat for its \
                     limit",
                );
                self.interval = longest + margin;
            }
        }
        if self.last_counted == Some(before) {
            self.paced(key, &[]).await;
        }
    }

    /// Whether a second key can send right after the first.
    async fn key_scope(&mut self, key: &str, wrong_key_limited: Option<Sent>) {
        if let Some(second) = self.o.second_key.clone() {
            let first = self.paced(key, &[]).await;
            if first.is_429() || first.status().is_none() {
                self.note(
                    Check::KeyScope,
                    Status::NotChecked,
                    format!("the first key's request got {}", first.describe()),
                );
            } else {
                let other = self.send(&second, &[]).await;
                let gap = other.started - first.started;
                match other.status() {
                    Some(429) => self.shared_limit(format!(
                        "a request with the second key {} after one with the first was answered \
                         {}",
                        ms(gap),
                        other.describe()
                    )),
                    Some(401 | 403) => self.note(
                        Check::KeyScope,
                        Status::NotChecked,
                        format!(
                            "the second key was refused ({}): give a valid sandbox key of \
                             another company",
                            other.describe()
                        ),
                    ),
                    None => self.note(
                        Check::KeyScope,
                        Status::NotChecked,
                        format!("the second key's request got {}", other.describe()),
                    ),
                    Some(_) => self.note(
                        Check::KeyScope,
                        Status::Ok,
                        format!(
                            "a request with the second key {} after one with the first was \
                             answered {}: each key has its own limit",
                            ms(gap),
                            other.describe()
                        ),
                    ),
                }
            }
        } else if wrong_key_limited.is_some() {
            self.shared_limit(
                "a made-up key was answered 429 right after a request with the sandbox key, \
                 so the limit is applied per client address, not per key"
                    .to_owned(),
            );
        } else {
            self.note(
                Check::KeyScope,
                Status::NotChecked,
                "needs --second-key, a sandbox key of another company",
            );
        }
        if wrong_key_limited.is_some() {
            // The made-up key's answer was a 429: ask again at the pace for its 401.
            self.wait_turn().await;
            let wrong = format!("bayzat-probe-wrong-key-{}", Utc::now().timestamp_millis());
            let sent = self.send(&wrong, &[]).await;
            self.judge_wrong_key(&sent);
        }
    }

    fn shared_limit(&mut self, evidence: String) {
        let delay = self
            .interval
            .saturating_sub(self.o.assumptions.rate_limit_margin);
        self.note(
            Check::KeyScope,
            Status::Configure,
            format!(
                "{evidence}: the limit spans keys, but sync-service paces each company's key on \
                 its own, so companies syncing at once meet 429s and slow each other down"
            ),
        );
        self.set(
            RATE_LIMIT_DELAY,
            format!("{} × the number of companies", delay_seconds(delay)),
            "sync-service",
            "each company's sender then keeps to its share of the one limit; senders sharing \
             one limiter would need a code change",
        );
    }

    /// One punch of the sandbox employee, sent twice.
    async fn duplicate(&mut self, key: &str) {
        let Some(emp) = self.o.employee.clone() else {
            self.note(
                Check::Duplicate,
                Status::NotChecked,
                "needs --employee, an employee id the sandbox knows (one punch of theirs is sent \
                 twice); nothing was sent",
            );
            return;
        };
        let punch = BayzatRecord {
            emp_id: emp.clone(),
            punch_type: PunchType::CheckIn,
            time: self.o.time,
        };
        let records = [punch];
        let first = self.paced(key, &records).await;
        match first.reply() {
            Reply::Accepted => {}
            Reply::Refused { duplicate, .. } => {
                let hint = if *duplicate {
                    " as a duplicate: was this time used before?"
                } else {
                    ""
                };
                self.note(
                    Check::Duplicate,
                    Status::NotChecked,
                    format!(
                        "the punch was refused on its first send ({}){hint}; use an employee the \
                         sandbox knows and a time not used before (--employee, --time)",
                        first.describe()
                    ),
                );
                return;
            }
            _ => {
                self.note(
                    Check::Duplicate,
                    Status::NotChecked,
                    format!(
                        "the punch got {} on its first send; run again with another --time",
                        first.describe()
                    ),
                );
                return;
            }
        }
        let mut again = self.paced(key, &records).await;
        if matches!(again.reply(), Reply::Transient { .. }) {
            // One failure is not yet the contract's answer.
            again = self.paced(key, &records).await;
        }
        let described = again.describe();
        match again.reply().clone() {
            Reply::Refused {
                message,
                reason,
                duplicate,
            } => {
                let time = self.o.time.to_string();
                let names = match (message.contains(emp.as_str()), message.contains(&time)) {
                    (true, true) => "names the empId and the time",
                    (true, false) => "names the empId, not the time",
                    (false, true) => "names the time, not the empId",
                    (false, false) => "names neither the empId nor the time",
                };
                let by_pattern = self.o.assumptions.duplicate_pattern.is_match(&message);
                let by_reason = reason.as_deref() == Some("duplicate");
                self.duplicate_message = Some(message);
                if duplicate {
                    let by = match (by_pattern, by_reason) {
                        (true, true) => format!("{DUPLICATE_PATTERN} and the reason"),
                        (true, false) => DUPLICATE_PATTERN.to_owned(),
                        _ => format!(
                            "its reason \"duplicate\" ({DUPLICATE_PATTERN} alone would not match)"
                        ),
                    };
                    self.note(
                        Check::Duplicate,
                        Status::Ok,
                        format!(
                            "the same punch sent again was answered {described}: recognised as \
                             a duplicate by {by}; the message {names} (nothing relies on that)"
                        ),
                    );
                } else {
                    self.duplicate_unrecognised = true;
                    self.note(
                        Check::Duplicate,
                        Status::Configure,
                        format!(
                            "the same punch sent again was answered {described}, which \
                             {DUPLICATE_PATTERN} does not match: a punch Bayzat already holds \
                             would be rejected instead of delivered (after a resend, or an \
                             answer that never came)"
                        ),
                    );
                }
            }
            Reply::Accepted => self.note(
                Check::Duplicate,
                Status::Unsupported,
                format!(
                    "the same punch sent again was answered {described}: Bayzat stored it twice. \
                     The system relies on a repeat being refused (a resend after an answer that \
                     never came); no setting changes that"
                ),
            ),
            Reply::Transient { status: None, .. } | Reply::RateLimited { .. } => self.note(
                Check::Duplicate,
                Status::NotChecked,
                format!("the punch sent again got {described}"),
            ),
            _ => self.note(
                Check::Duplicate,
                Status::Unsupported,
                format!(
                    "the same punch sent again was answered {described}: sync-service knows a \
                     duplicate only in a 400 refusal, so it would retry such a punch until its \
                     retries run out"
                ),
            ),
        }
    }

    /// A punch of an employee the sandbox does not know: refused, and not taken for a
    /// duplicate.
    async fn unknown_employee(&mut self, key: &str) {
        let emp = self.o.unknown_employee.clone();
        let records = [BayzatRecord {
            emp_id: emp.clone(),
            punch_type: PunchType::CheckIn,
            time: self.o.time,
        }];
        let sent = self.paced(key, &records).await;
        let described = sent.describe();
        let what = format!("a punch of empId {} was answered {described}", emp.as_str());
        match sent.reply().clone() {
            Reply::Refused {
                message,
                reason,
                duplicate,
            } => {
                self.other_refusals.push(message.clone());
                if duplicate && !self.o.assumptions.duplicate_pattern.is_match(&message) {
                    self.note(
                        Check::UnknownEmployee,
                        Status::Unsupported,
                        format!("{what}: its reason says duplicate"),
                    );
                } else if duplicate {
                    self.note(
                        Check::UnknownEmployee,
                        Status::Configure,
                        format!(
                            "{what}, which {DUPLICATE_PATTERN} matches: sync-service would mark \
                             such punches delivered when Bayzat refused them"
                        ),
                    );
                } else if delivery::is_unknown_employee(reason.as_deref(), &message) {
                    self.note(
                        Check::UnknownEmployee,
                        Status::Ok,
                        format!(
                            "{what}: recognised as an unknown employee, so that employee's other \
                             punches are rejected without more requests"
                        ),
                    );
                } else {
                    self.note(
                        Check::UnknownEmployee,
                        Status::Differs,
                        format!(
                            "{what}: refused, but not recognised as an unknown employee, so \
                             that employee's other punches are found out by splitting requests: \
                             slower, nothing lost"
                        ),
                    );
                }
            }
            Reply::Accepted => self.note(
                Check::UnknownEmployee,
                Status::Unsupported,
                format!(
                    "{what}: Bayzat took a punch of an employee it does not know, so punches of \
                     employees missing in Bayzat would be reported delivered"
                ),
            ),
            Reply::Unauthorized if sent.status().is_some() => self.note(
                Check::UnknownEmployee,
                Status::Unsupported,
                format!("{what}: sync-service would pause the whole company on it"),
            ),
            Reply::Transient { status: None, .. }
            | Reply::RateLimited { .. }
            | Reply::Unauthorized => {
                self.note(Check::UnknownEmployee, Status::NotChecked, what);
            }
            _ => self.note(
                Check::UnknownEmployee,
                Status::Unsupported,
                format!(
                    "{what}: sync-service expects a 400 for a record Bayzat refuses, and would \
                     retry this one until its retries run out"
                ),
            ),
        }
    }

    /// The duplicate pattern to propose, now that every refusal has been seen.
    fn propose_duplicate_pattern(&mut self) {
        let pattern = &self.o.assumptions.duplicate_pattern;
        let too_broad = self.other_refusals.iter().any(|o| pattern.is_match(o));
        if !(self.duplicate_unrecognised || too_broad) {
            return;
        }
        let time = self.o.time.to_string();
        let emp = self
            .o
            .employee
            .as_ref()
            .map(|e| e.as_str().to_owned())
            .unwrap_or_default();
        // A pattern that also matches other refusals cannot be kept, even in part.
        let base = if too_broad { "" } else { pattern.as_str() };
        let proposal = self.duplicate_message.as_deref().and_then(|message| {
            suggest::duplicate_pattern(
                base,
                message,
                &[emp.as_str(), time.as_str()],
                &self.other_refusals,
            )
        });
        match proposal {
            Some(value) => self.set(
                DUPLICATE_PATTERN,
                value,
                "sync-service",
                "matches Bayzat's duplicate refusal and none of its other refusals seen",
            ),
            None => self.note(
                Check::Duplicate,
                Status::Configure,
                format!(
                    "no {DUPLICATE_PATTERN} could be proposed: write one that matches Bayzat's \
                     duplicate refusal ({}) and none of: {}",
                    self.duplicate_message
                        .as_deref()
                        .unwrap_or("not seen: run with --employee"),
                    self.other_refusals.join(" | ")
                ),
            ),
        }
    }

    fn finish(mut self) -> Report {
        if self.stopped.is_none() {
            self.propose_duplicate_pattern();
        }
        let a = &self.o.assumptions;
        let assumptions = vec![
            format!("{RATE_LIMIT_DELAY}={}", a.rate_limit_delay.as_secs_f64()),
            format!("{RATE_LIMIT_MARGIN_MS}={}", a.rate_limit_margin.as_millis()),
            format!("{DUPLICATE_PATTERN}={}", a.duplicate_pattern.as_str()),
            format!("{HTTP_TIMEOUT}={}", a.http_timeout.as_secs_f64()),
        ];
        let verdict = Report::verdict_of(&self.findings, self.stopped.is_some());
        Report {
            api_url: self.o.api_url.clone(),
            assumptions,
            findings: self.findings,
            configure: self.settings,
            requests: self.requests,
            punches_created: self.created,
            punches_uncertain: self.uncertain,
            stopped: self.stopped,
            verdict,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_masks_the_keys() {
        let mut options =
            ProbeOptions::new("https://sandbox.example/attendance", "bz_sandbox_5f3c9e");
        options.second_key = Some("bz_second_77aa01".to_owned());
        let debug = format!("{options:?} {options:#?}");
        assert!(
            !debug.contains("bz_sandbox") && !debug.contains("bz_second"),
            "{debug}"
        );
        assert!(
            debug.contains("••••3c9e") && debug.contains("••••aa01"),
            "{debug}"
        );
    }
}
