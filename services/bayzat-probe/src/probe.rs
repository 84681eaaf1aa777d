//! The runner: a short sequence of requests, paced as sync-service paces them except where a
//! check needs two requests back to back. Each check (`crate::checks`) sends its requests through
//! it and hands back a conclusion; the runner keeps the findings, the settings proposed and the
//! punches sent, and sums them up in the report.

use std::time::Duration;

use bayzat_client::{BayzatClient, Exchange, Reply};
use chrono::{Days, Utc};
use domain::{BayzatEmpId, BayzatRecord, LocalPunchTime};
use tokio::time::{sleep_until, Instant};

use crate::assumptions::{
    Assumptions, DUPLICATE_PATTERN, HTTP_TIMEOUT, RATE_LIMIT_DELAY, RATE_LIMIT_MARGIN_MS,
};
use crate::checks::{told_wait, Answer, Conclusion};
use crate::report::{Finding, Report, SentPunch, Setting};

/// How often a paced request that meets a 429 is resent before the probe gives up on it.
const RESENDS_AFTER_429: usize = 3;
/// The empId of the unknown-employee check: not one a sandbox would hold.
pub const DEFAULT_UNKNOWN_EMPLOYEE: &str = "bayzat-probe-no-such-employee";

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
pub(crate) struct Sent {
    pub(crate) started: Instant,
    pub(crate) answered: Instant,
    exchange: Exchange,
}

impl Sent {
    pub(crate) fn status(&self) -> Option<u16> {
        self.exchange.outcome.status
    }

    pub(crate) fn reply(&self) -> &Reply {
        &self.exchange.outcome.reply
    }

    pub(crate) fn is_429(&self) -> bool {
        self.status() == Some(429)
    }

    /// A header of the answer as text, trimmed; `None` when absent or no answer came.
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        let value = self.exchange.answer.as_ref()?.headers.get(name)?;
        Some(String::from_utf8_lossy(value.as_bytes()).trim().to_owned())
    }

    /// The wait sync-service takes after this answer when it is a 429 (`None`: its interval).
    pub(crate) fn told_wait(&self) -> Option<Duration> {
        told_wait(self.reply())
    }

    /// The answer as the checks' conclusions read it.
    pub(crate) fn answer(&self) -> Answer {
        let answered = self
            .exchange
            .answer
            .as_ref()
            .map(|a| (a.status, a.body.as_str()));
        Answer::new(answered, self.reply().clone())
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

/// The probe's state across the checks.
pub(crate) struct Prober<'a> {
    pub(crate) o: &'a ProbeOptions,
    client: BayzatClient,
    /// The pace between ordinary requests: sync-service's, or Bayzat's window once the pace
    /// check found that longer, so later checks do not trip over it.
    pub(crate) interval: Duration,
    /// When the last request Bayzat is taken to have counted against the key started.
    pub(crate) last_counted: Option<Instant>,
    requests: u32,
    created: Vec<SentPunch>,
    uncertain: Vec<SentPunch>,
    findings: Vec<Finding>,
    settings: Vec<Setting>,
    /// Messages of refusals that are not duplicates: a proposed pattern must not match them.
    pub(crate) other_refusals: Vec<String>,
    /// The message of Bayzat's refusal of the repeated punch.
    pub(crate) duplicate_message: Option<String>,
    pub(crate) duplicate_unrecognised: bool,
    pub(crate) stopped: Option<String>,
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

    /// The checks in the order they need: the rate limit's checks before the pace, which
    /// may lengthen the interval every later check keeps to.
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

    /// Keeps a check's conclusion: its finding, the setting it proposes, the refusal it saw.
    pub(crate) fn record(&mut self, conclusion: Conclusion) {
        let Conclusion {
            check,
            status,
            detail,
            setting,
            other_refusal,
        } = conclusion;
        self.findings.push(Finding {
            check,
            status,
            detail,
        });
        if let Some(setting) = setting {
            self.propose(setting);
        }
        if let Some(message) = other_refusal {
            self.other_refusals.push(message);
        }
    }

    /// Adds a setting, replacing an earlier one of the same name (a later check knows more).
    pub(crate) fn propose(&mut self, setting: Setting) {
        self.settings.retain(|s| s.name != setting.name);
        self.settings.push(setting);
    }

    pub(crate) async fn send(&mut self, key: &str, records: &[BayzatRecord]) -> Sent {
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

    pub(crate) async fn wait_turn(&self) {
        if let Some(last) = self.last_counted {
            sleep_until(last + self.interval).await;
        }
    }

    /// A request at the pace, resent after a 429 as sync-service would resend it.
    pub(crate) async fn paced(&mut self, key: &str, records: &[BayzatRecord]) -> Sent {
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

    #[test]
    fn answers_that_may_have_stored_the_records() {
        let transient = |status| Reply::Transient {
            status,
            detail: String::new(),
        };
        let unexpected = |status| Reply::Unexpected {
            status,
            body_excerpt: String::new(),
        };
        let cases = [
            (transient(None), true),
            (transient(Some(500)), true),
            (transient(Some(200)), false),
            (unexpected(201), true),
            (unexpected(502), true),
            (unexpected(404), false),
            (Reply::Accepted, false),
            (Reply::Unauthorized, false),
        ];
        for (reply, maybe) in cases {
            assert_eq!(maybe_stored(&reply), maybe, "{reply:?}");
        }
    }
}
