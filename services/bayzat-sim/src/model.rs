//! Serde types shared by the simulator, its admin API and the tests of other crates.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The documented Bayzat limit: one request per second per key.
pub const DEFAULT_INTERVAL_MS: u64 = 1000;
/// The documented Bayzat limit: 20 records per request.
pub const DEFAULT_MAX_RECORDS: usize = 20;
/// Longer than any sane client timeout, so a held request looks like a hung server.
pub const DEFAULT_HOLD_MS: u64 = 30_000;

fn default_interval_ms() -> u64 {
    DEFAULT_INTERVAL_MS
}

fn default_max_records() -> usize {
    DEFAULT_MAX_RECORDS
}

fn default_hold_ms() -> u64 {
    DEFAULT_HOLD_MS
}

fn default_retry_after_s() -> u64 {
    1
}

/// One simulated Bayzat company key, with its own limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySpec {
    pub key: String,
    pub employees: Vec<String>,
    #[serde(default = "default_interval_ms")]
    pub interval_ms: u64,
    #[serde(default = "default_max_records")]
    pub max_records: usize,
}

impl KeySpec {
    /// A key with the documented default limits (1000 ms, 20 records).
    pub fn new<K, I, E>(key: K, employees: I) -> Self
    where
        K: Into<String>,
        I: IntoIterator<Item = E>,
        E: Into<String>,
    {
        KeySpec {
            key: key.into(),
            employees: employees.into_iter().map(Into::into).collect(),
            interval_ms: DEFAULT_INTERVAL_MS,
            max_records: DEFAULT_MAX_RECORDS,
        }
    }

    pub fn with_interval_ms(mut self, interval_ms: u64) -> Self {
        self.interval_ms = interval_ms;
        self
    }

    pub fn with_max_records(mut self, max_records: usize) -> Self {
        self.max_records = max_records;
        self
    }

    /// The body of `PUT /__admin/keys/{key}` for this key.
    pub fn body(&self) -> KeyBody {
        KeyBody {
            employees: self.employees.clone(),
            interval_ms: self.interval_ms,
            max_records: self.max_records,
        }
    }
}

/// Body of `PUT /__admin/keys/{key}`. Unknown fields are refused so a typo such as
/// `interval` cannot silently fall back to the default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyBody {
    pub employees: Vec<String>,
    #[serde(default = "default_interval_ms")]
    pub interval_ms: u64,
    #[serde(default = "default_max_records")]
    pub max_records: usize,
}

impl KeyBody {
    pub fn into_spec(self, key: impl Into<String>) -> KeySpec {
        KeySpec {
            key: key.into(),
            employees: self.employees,
            interval_ms: self.interval_ms,
            max_records: self.max_records,
        }
    }
}

/// Body of `PUT /__admin/keys/{key}/faults`; every field is optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    pub p_500: f64,
    pub p_success_false: f64,
    pub p_timeout: f64,
    #[serde(default = "default_hold_ms")]
    pub hold_ms: u64,
    pub p_accept_then_500: f64,
    pub latency_ms: u64,
    pub seed: u64,
    /// Answer 429 with `Retry-After: retry_after_s` although the key kept to its interval, as a
    /// service throttling for its own reasons does. Nothing is stored.
    pub p_429: f64,
    #[serde(default = "default_retry_after_s")]
    pub retry_after_s: u64,
    /// Store the records, then answer 200 only after `hold_ms`: an acceptance slower than the
    /// client's timeout, so the client cannot know the records landed.
    pub p_slow_accept: f64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            p_500: 0.0,
            p_success_false: 0.0,
            p_timeout: 0.0,
            hold_ms: DEFAULT_HOLD_MS,
            p_accept_then_500: 0.0,
            latency_ms: 0,
            seed: 0,
            p_429: 0.0,
            retry_after_s: 1,
            p_slow_accept: 0.0,
        }
    }
}

impl Faults {
    /// Every probability must lie in `[0, 1]`.
    pub fn validate(&self) -> Result<(), String> {
        let probabilities = [
            ("p_500", self.p_500),
            ("p_success_false", self.p_success_false),
            ("p_timeout", self.p_timeout),
            ("p_accept_then_500", self.p_accept_then_500),
            ("p_429", self.p_429),
            ("p_slow_accept", self.p_slow_accept),
        ];
        for (name, p) in probabilities {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} must be between 0 and 1, got {p}"));
            }
        }
        Ok(())
    }
}

/// What a key's 200 answer to an empty `records` array is replaced by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmptyRecords {
    /// 200 `{"success": true, "message": "no records"}`.
    #[default]
    Accept,
    /// 400 with reason `malformed`.
    Refuse,
    /// 500, plain text.
    ServerError,
}

/// Which headers a key's 429 carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryAfterHeaders {
    /// `Retry-After` (whole seconds) and `Retry-After-Ms`.
    #[default]
    Both,
    /// `Retry-After` only.
    Seconds,
    /// Neither.
    None,
}

/// Body of `PUT /__admin/keys/{key}/contract`: how the key answers where the real service's
/// behaviour is unknown (`docs/bayzat-api.md`), so a client or the contract probe can be tried
/// against each possible answer. Every field is optional; the defaults are the documented
/// behaviour.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Contract {
    pub empty_records: EmptyRecords,
    pub retry_after: RetryAfterHeaders,
    /// Leave `reason` out of 400 bodies, so only the message tells why.
    pub no_reason: bool,
    /// The message of a duplicate refusal; `{empId}` and `{time}` are replaced by the first
    /// duplicate's.
    pub duplicate_message: Option<String>,
    /// Store a punch whose `empId` + `time` is already held (or repeated in the request) instead
    /// of refusing it.
    pub accept_duplicates: bool,
    /// Judge the rate limit on one window shared by every key that sets this, as a limit per
    /// account or per client address would be.
    pub shared_rate_limit: bool,
}

/// One accepted punch, as `GET /__admin/keys/{key}/ledger` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    #[serde(rename = "empId")]
    pub emp_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub time: String,
    /// RFC 3339, UTC, millisecond precision.
    pub received_at: String,
}

/// Why a request was refused with 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    TooManyRecords,
    Malformed,
    BadType,
    BadTime,
    UnknownEmployee,
    Duplicate,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::TooManyRecords => "too_many_records",
            Reason::Malformed => "malformed",
            Reason::BadType => "bad_type",
            Reason::BadTime => "bad_time",
            Reason::UnknownEmployee => "unknown_employee",
            Reason::Duplicate => "duplicate",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON body of every `/attendance` answer except the simulated 500s, which are plain text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttendanceReply {
    pub success: bool,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
}

/// Counters of one key since it was registered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyStats {
    /// Requests that passed authentication and the rate limit (faults and 400s included).
    pub requests: u64,
    pub accepted_records: u64,
    pub bad_requests_by_reason: BTreeMap<String, u64>,
    /// 429 answers.
    pub rate_limited: u64,
    /// 500 answers of every kind: `p_500`, held requests, `p_accept_then_500`.
    pub server_errors: u64,
    /// 200 `{"success": false}` answers.
    pub success_false: u64,
    /// Requests held for `hold_ms` (also counted in `server_errors`).
    pub timeouts: u64,
    /// Most records seen in one request that passed authentication, whatever its fate.
    pub largest_request: usize,
    /// Shortest gap between the starts of two counted requests; `None` before the second.
    pub min_gap_ms: Option<u64>,
    /// 429 answers drawn by `p_429` (not in `rate_limited`, which counts the key's own limit).
    #[serde(default)]
    pub injected_429: u64,
    /// Requests stored and answered after `hold_ms` (`p_slow_accept`).
    #[serde(default)]
    pub slow_accepts: u64,
    /// Records refused because the ledger already held their `empId` + `time`: resends.
    #[serde(default)]
    pub duplicate_records: u64,
    /// Of those, records whose earlier acceptance was answered with a plain 200 at once: the
    /// client had been told they landed and sent them again anyway.
    #[serde(default)]
    pub acknowledged_duplicates: u64,
}

/// A record refused because the ledger already held it, as
/// `GET /__admin/keys/{key}/duplicates` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuplicateEntry {
    #[serde(rename = "empId")]
    pub emp_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub time: String,
    /// When the resend arrived: RFC 3339, UTC, millisecond precision.
    pub received_at: String,
    /// Whether the ledger entry it repeats was answered with a plain, immediate 200.
    pub acknowledged: bool,
}

/// Body of `POST /__admin/keys/{key}/rotate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// The key's new name; the old one answers 401 from then on.
    pub to: String,
}

/// Body of `GET /__admin/stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// 401 answers; they cannot be attributed to a key, so they are counted once, globally.
    pub unauthorized: u64,
    pub keys: BTreeMap<String, KeyStats>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_body_defaults_and_strictness() {
        let body: KeyBody = serde_json::from_str(r#"{"employees":["1"]}"#).unwrap();
        assert_eq!(body.interval_ms, 1000);
        assert_eq!(body.max_records, 20);
        assert!(serde_json::from_str::<KeyBody>(r#"{"employees":[],"interval":5}"#).is_err());
    }

    #[test]
    fn faults_defaults_and_validation() {
        let f: Faults = serde_json::from_str("{}").unwrap();
        assert_eq!(f, Faults::default());
        assert_eq!(f.hold_ms, 30_000);
        let f: Faults = serde_json::from_str(r#"{"p_500":0.5,"seed":9}"#).unwrap();
        assert_eq!(f.seed, 9);
        assert_eq!(f.hold_ms, 30_000);
        assert!(f.validate().is_ok());
        let bad = Faults {
            p_timeout: 1.5,
            ..Faults::default()
        };
        assert!(bad.validate().unwrap_err().contains("p_timeout"));
        let nan = Faults {
            p_500: f64::NAN,
            ..Faults::default()
        };
        assert!(nan.validate().is_err());
    }

    #[test]
    fn ledger_entry_uses_api_field_names() {
        let e = LedgerEntry {
            emp_id: "1".into(),
            kind: "checkIn".into(),
            time: "2023-04-30 09:00:00".into(),
            received_at: "2023-04-30T05:00:00.000Z".into(),
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["empId"], "1");
        assert_eq!(v["type"], "checkIn");
    }

    #[test]
    fn reason_serializes_as_snake_case() {
        assert_eq!(
            serde_json::to_value(Reason::TooManyRecords).unwrap(),
            "too_many_records"
        );
        assert_eq!(Reason::UnknownEmployee.to_string(), "unknown_employee");
    }
}
