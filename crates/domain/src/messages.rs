//! The messages on the `attendance` topic exchange. Each type is one contract with other teams:
//! its JSON Schema is exported to `proto/schemas/<TYPE>.json`.
//!
//! Compatibility within a version: consumers ignore fields they do not know, and optional fields
//! are left out when empty, so adding an optional field is not a new version. Renaming or removing
//! a field, or changing its meaning, is a new type (`...v2`).

use chrono::{DateTime, Utc};
use schemars::{JsonSchema, Schema};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::bayzat::{BayzatRecord, TimeOrdered};
use crate::delivery::{text_enum, DeliveryState};
use crate::ids::{BatchId, BayzatEmpId, CompanyId, ImportId, PunchId};
use crate::punch::{LocalPunchTime, PunchType};

/// A message on the `attendance` exchange.
pub trait Message: Serialize + DeserializeOwned + JsonSchema {
    /// The AMQP `type` property, e.g. `punches.ready.v1`.
    const TYPE: &'static str;
    const SCHEMA_VERSION: u32;
    /// The topic pattern that matches every routing key of this type (`*` is one word), for
    /// queue bindings.
    const ROUTING_PATTERN: &'static str;

    fn routing_key(&self) -> String;
}

/// At most this many punches in one `punches.ready.v1`, so that a large import becomes many
/// small messages rather than one that strains the broker and the consumer's transaction.
pub const MAX_PUNCHES_PER_READY_MESSAGE: usize = 1000;

/// Punches of one company, ready to be delivered (import-service → sync-service).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PunchesReadyV1 {
    pub batch_id: BatchId,
    pub import_id: ImportId,
    pub company_id: CompanyId,
    /// At most 1,000.
    pub punches: Vec<ReadyPunch>,
    /// How many punches the batch has over all its messages, when the sender knew it then:
    /// the batch is not settled before its messages brought that many, however soon the first
    /// ones are delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_punches: Option<u32>,
}

/// One punch to deliver, with everything Bayzat needs: sync-service never looks it up.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct ReadyPunch {
    pub punch_id: PunchId,
    /// The id sent to Bayzat.
    pub emp_id: BayzatEmpId,
    #[serde(rename = "type")]
    pub punch_type: PunchType,
    pub time: LocalPunchTime,
}

impl ReadyPunch {
    pub fn bayzat_record(&self) -> BayzatRecord {
        BayzatRecord {
            emp_id: self.emp_id.clone(),
            punch_type: self.punch_type,
            time: self.time,
        }
    }
}

impl TimeOrdered for ReadyPunch {
    fn punch_time(&self) -> LocalPunchTime {
        self.time
    }

    fn bayzat_emp_id(&self) -> &BayzatEmpId {
        &self.emp_id
    }
}

impl Message for PunchesReadyV1 {
    const TYPE: &'static str = "punches.ready.v1";
    const SCHEMA_VERSION: u32 = 1;
    const ROUTING_PATTERN: &'static str = "company.*.ready";

    fn routing_key(&self) -> String {
        format!("company.{}.ready", self.company_id)
    }
}

/// The messages that carry a batch's punches, in the given order, each with at most
/// [`MAX_PUNCHES_PER_READY_MESSAGE`]. No punches, no messages.
pub fn split_ready_punches(
    batch_id: BatchId,
    import_id: ImportId,
    company_id: CompanyId,
    punches: Vec<ReadyPunch>,
) -> Vec<PunchesReadyV1> {
    let mut messages = Vec::with_capacity(punches.len().div_ceil(MAX_PUNCHES_PER_READY_MESSAGE));
    let batch_punches = u32::try_from(punches.len()).ok();
    let mut rest = punches.into_iter().peekable();
    while rest.peek().is_some() {
        messages.push(PunchesReadyV1 {
            batch_id,
            import_id,
            company_id,
            punches: rest.by_ref().take(MAX_PUNCHES_PER_READY_MESSAGE).collect(),
            batch_punches,
        });
    }
    messages
}

/// A company has deliveries due (sync-service → its own company queue), so the replica that
/// consumes the company's queue wakes its sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SyncDueV1 {
    pub company_id: CompanyId,
    pub reason: DueReason,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum DueReason {
    /// A retry's wait is over.
    Retry,
    /// The company's hourly or daily run is due.
    Schedule,
    /// An operator asked to send now (for the company, an import, or a batch retry).
    SyncNow,
    /// The company was re-enabled or its key replaced.
    Resume,
}

text_enum!(DueReason, "due reason", {
    Retry => "retry",
    Schedule => "schedule",
    SyncNow => "sync-now",
    Resume => "resume",
});

impl Message for SyncDueV1 {
    const TYPE: &'static str = "sync.due.v1";
    const SCHEMA_VERSION: u32 = 1;
    const ROUTING_PATTERN: &'static str = "company.*.due";

    fn routing_key(&self) -> String {
        format!("company.{}.due", self.company_id)
    }
}

/// An operator cancelled an import (import-service → sync-service, on the company's own queue so
/// it arrives after that company's ready messages): its deliveries not yet sent are cancelled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ImportCancelledV1 {
    pub company_id: CompanyId,
    pub import_id: ImportId,
}

impl Message for ImportCancelledV1 {
    const TYPE: &'static str = "import.cancelled.v1";
    const SCHEMA_VERSION: u32 = 1;
    const ROUTING_PATTERN: &'static str = "company.*.cancel";

    fn routing_key(&self) -> String {
        format!("company.{}.cancel", self.company_id)
    }
}

/// Punches of one company whose delivery state changed (sync-service → import-service,
/// config-service).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PunchesStatusV1 {
    pub company_id: CompanyId,
    pub changes: Vec<PunchStatusChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PunchStatusChange {
    pub punch_id: PunchId,
    pub state: DeliveryState,
    /// Why it failed, was rejected or is waiting for a retry: Bayzat's message or the transport
    /// error. Left out when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the state changed. Left out by senders that do not know it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
}

impl PunchesStatusV1 {
    /// The latest time a punch in this message was delivered: what config-service keeps as the
    /// company's `last_sync_at`.
    pub fn last_delivered_at(&self) -> Option<DateTime<Utc>> {
        self.changes
            .iter()
            .filter(|change| change.state == DeliveryState::Delivered)
            .filter_map(|change| change.at)
            .max()
    }
}

impl Message for PunchesStatusV1 {
    const TYPE: &'static str = "punches.status.v1";
    const SCHEMA_VERSION: u32 = 1;
    const ROUTING_PATTERN: &'static str = "status.company.*";

    fn routing_key(&self) -> String {
        format!("status.company.{}", self.company_id)
    }
}

/// Something about a company changed (config-service → import-service, sync-service). It names
/// what changed, not the new values: consumers read those from config-service, so a message that
/// arrives late can never apply stale data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConfigCompanyChangedV1 {
    pub company_id: CompanyId,
    pub changes: Vec<CompanyChange>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CompanyChange {
    /// Its fingerprint report names.
    Mapping,
    /// Its employee directory.
    Employees,
    /// Its Bayzat sync was enabled or disabled.
    Enablement,
    /// Its Bayzat key was replaced.
    KeyRotated,
    /// Its sync frequency or daily time.
    Frequency,
    /// Its names or time zone.
    Profile,
    Created,
    Deleted,
}

text_enum!(CompanyChange, "company change", {
    Mapping => "mapping",
    Employees => "employees",
    Enablement => "enablement",
    KeyRotated => "key_rotated",
    Frequency => "frequency",
    Profile => "profile",
    Created => "created",
    Deleted => "deleted",
});

impl Message for ConfigCompanyChangedV1 {
    const TYPE: &'static str = "config.company.changed.v1";
    const SCHEMA_VERSION: u32 = 1;
    const ROUTING_PATTERN: &'static str = "config.company.*";

    fn routing_key(&self) -> String {
        format!("config.company.{}", self.company_id)
    }
}

/// An entry for the audit trail (any service → config-service, which stores it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditRecordedV1 {
    /// Who: the token's `sub`, or the service itself for automatic actions.
    pub actor: String,
    /// What, e.g. `import.uploaded`, `batch.retried`.
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_id: Option<CompanyId>,
    /// What it was done to, e.g. an import id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Before/after and other facts, secrets already masked.
    pub details: serde_json::Value,
    /// The publishing service, e.g. `import-service`; one word of the routing key, so no dots.
    pub service: String,
    pub at: DateTime<Utc>,
}

impl Message for AuditRecordedV1 {
    const TYPE: &'static str = "audit.recorded.v1";
    const SCHEMA_VERSION: u32 = 1;
    const ROUTING_PATTERN: &'static str = "audit.*";

    fn routing_key(&self) -> String {
        format!("audit.{}", self.service)
    }
}

/// A clock's health as import-service last read it (import-service → sync-service, which shows
/// it in the sync health of each of the clock's companies). Sent when any of it changed since
/// the last one, so a repeat is harmless and only the newest (`observed_at`) counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClockHealthV1 {
    pub clock_id: i64,
    pub serial_number: String,
    /// approved or disabled (a pending clock has no company yet).
    pub state: String,
    /// The companies whose directories its PINs are looked up in.
    pub company_ids: Vec<CompanyId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_punch_at: Option<DateTime<Utc>>,
    /// Punches it put into the ledger on its local day.
    pub punches_today: i64,
    /// Since when it has not called: its last call, or, never seen, its last change. An
    /// approved clock quiet for longer than `silent_after_seconds` is silent, judged by the
    /// reader at its own time, so a clock whose import-service is away too shows as silent.
    pub quiet_since: DateTime<Utc>,
    /// `CLOCK_SILENT_AFTER` of the import-service that sent this.
    pub silent_after_seconds: u64,
    pub observed_at: DateTime<Utc>,
}

impl ClockHealthV1 {
    /// Whether the clock is approved and has been quiet for longer than its silence threshold
    /// at `now`.
    pub fn is_silent_at(&self, now: DateTime<Utc>) -> bool {
        self.state == "approved"
            && (now - self.quiet_since)
                .to_std()
                .is_ok_and(|quiet| quiet.as_secs() > self.silent_after_seconds)
    }
}

impl Message for ClockHealthV1 {
    const TYPE: &'static str = "clock.health.v1";
    const SCHEMA_VERSION: u32 = 1;
    const ROUTING_PATTERN: &'static str = "clock.*.health";

    fn routing_key(&self) -> String {
        format!("clock.{}.health", self.clock_id)
    }
}

/// Something that happened which people must hear about (import-service, sync-service →
/// config-service, which sends it to the webhook endpoints and the notification contacts that
/// asked for its type). `event_id` is the same on every publication of one event, so a repeated
/// message is one event; it is the webhook's `webhook-id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BridgeEventV1 {
    pub event_id: uuid::Uuid,
    /// The company it is about; left out when there is none (a clock not yet approved, an
    /// import row of no known company).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_id: Option<CompanyId>,
    pub occurred_at: DateTime<Utc>,
    #[serde(flatten)]
    pub event: BridgeEvent,
}

/// What happened: `type` names it, `data` holds its facts. This pair is, with `timestamp`, the
/// body of the webhook (`proto/schemas/webhook.payload.v1.json`). Never a key or a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum BridgeEvent {
    /// An import was read and stored; its punches are on their way.
    #[serde(rename = "import.completed")]
    ImportCompleted(ImportFacts),
    /// An import could not be read.
    #[serde(rename = "import.failed")]
    ImportFailed(ImportFailure),
    /// An import left rows someone must look at: departments no company claims, employees the
    /// directory does not know, or the whole import held.
    #[serde(rename = "import.needs_attention")]
    ImportNeedsAttention(ImportAttention),
    /// Bayzat refused the company's key: its sync is paused until the key is replaced.
    #[serde(rename = "company.sync_paused")]
    CompanySyncPaused(SyncPaused),
    /// Punches whose retries ran out.
    #[serde(rename = "deliveries.failed")]
    DeliveriesFailed(FailedDeliveries),
    /// Every punch of a batch reached a final state.
    #[serde(rename = "batch.completed")]
    BatchCompleted(BatchOutcome),
    /// An approved clock stopped calling.
    #[serde(rename = "clock.silent")]
    ClockSilent(ClockFacts),
    /// A clock nobody registered called and waits for an admin's approval.
    #[serde(rename = "clock.pending_approval")]
    ClockPendingApproval(ClockFacts),
}

impl BridgeEventV1 {
    /// The event `what` names (e.g. `batch.completed:<batch id>`): its id is derived from that
    /// name, so publishing the same event twice, from a retried transaction or another replica,
    /// gives the same `event_id` and config-service keeps one.
    pub fn new(
        what: &str,
        company_id: Option<CompanyId>,
        occurred_at: DateTime<Utc>,
        event: BridgeEvent,
    ) -> Self {
        Self {
            event_id: uuid::Uuid::new_v5(&EVENT_ID_NAMESPACE, what.as_bytes()),
            company_id,
            occurred_at,
            event,
        }
    }
}

/// The namespace of `BridgeEventV1::event_id`s (a random UUID, fixed forever).
const EVENT_ID_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x3f0c_52a1_9d4e_4b8a_a6f1_27c9_58e0_d41b);

impl BridgeEvent {
    /// The event types, as webhook endpoints and contacts name them.
    pub const TYPES: [&'static str; 8] = [
        "import.completed",
        "import.failed",
        "import.needs_attention",
        "company.sync_paused",
        "deliveries.failed",
        "batch.completed",
        "clock.silent",
        "clock.pending_approval",
    ];

    /// This event's type, one of `TYPES`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::ImportCompleted(_) => Self::TYPES[0],
            Self::ImportFailed(_) => Self::TYPES[1],
            Self::ImportNeedsAttention(_) => Self::TYPES[2],
            Self::CompanySyncPaused(_) => Self::TYPES[3],
            Self::DeliveriesFailed(_) => Self::TYPES[4],
            Self::BatchCompleted(_) => Self::TYPES[5],
            Self::ClockSilent(_) => Self::TYPES[6],
            Self::ClockPendingApproval(_) => Self::TYPES[7],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ImportFacts {
    pub import_id: ImportId,
    pub filename: String,
    pub total_rows: i64,
    pub valid_rows: i64,
    pub invalid_rows: i64,
    pub skipped_rows: i64,
    /// Punches no earlier import had: the ones sent to Bayzat.
    pub new_punches: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ImportFailure {
    pub import_id: ImportId,
    pub filename: String,
    /// Why, as the import's page says it.
    pub error: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ImportAttention {
    pub import_id: ImportId,
    pub filename: String,
    /// Department names no company claims (at most 50 named).
    pub unmapped_departments: Vec<String>,
    /// How many distinct employee ids the directory does not know.
    pub unknown_employees: i64,
    /// `hold` or `strict` when the whole import waits for a release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SyncPaused {
    /// Bayzat's answer, without the key.
    pub reason: String,
    pub since: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FailedDeliveries {
    /// How many punches failed for good in this round.
    pub count: i64,
    /// Their batches (an operator's retry works per batch).
    pub batch_ids: Vec<BatchId>,
    /// The last error Bayzat or the network gave.
    pub last_error: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BatchOutcome {
    pub batch_id: BatchId,
    pub import_id: ImportId,
    /// `completed` (everything delivered) or `failed` (some failed or were rejected).
    pub status: String,
    pub total: i64,
    pub delivered: i64,
    pub failed: i64,
    pub rejected: i64,
    pub cancelled: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClockFacts {
    pub clock_id: i64,
    pub serial_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<DateTime<Utc>>,
    /// The address it called from, for a clock waiting for approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl Message for BridgeEventV1 {
    const TYPE: &'static str = "bridge.event.v1";
    const SCHEMA_VERSION: u32 = 1;
    const ROUTING_PATTERN: &'static str = "event.*";

    fn routing_key(&self) -> String {
        match self.company_id {
            Some(company) => format!("event.{company}"),
            None => "event.none".to_owned(),
        }
    }
}

/// One message type's contract, as exported to `proto/schemas/`.
#[derive(Debug, Clone)]
pub struct MessageContract {
    pub message_type: &'static str,
    pub schema_version: u32,
    pub routing_pattern: &'static str,
    pub schema: Schema,
}

impl MessageContract {
    pub fn of<M: Message>() -> Self {
        let mut schema = schemars::schema_for!(M);
        // Readers of the file alone should see which AMQP type and routing keys it belongs to.
        schema.insert("x-message-type".into(), M::TYPE.into());
        schema.insert("x-schema-version".into(), M::SCHEMA_VERSION.into());
        schema.insert("x-routing-pattern".into(), M::ROUTING_PATTERN.into());
        Self {
            message_type: M::TYPE,
            schema_version: M::SCHEMA_VERSION,
            routing_pattern: M::ROUTING_PATTERN,
            schema,
        }
    }

    /// The file name under `proto/schemas/`.
    pub fn file_name(&self) -> String {
        format!("{}.json", self.message_type)
    }

    /// The checked-in file's exact text: pretty JSON, keys sorted, a final newline. Keys are
    /// sorted here rather than left to serde_json, whose order depends on a feature another crate
    /// in the same build may switch on.
    pub fn to_file_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(&sorted_keys(self.schema.as_value().clone()))
            .expect("a schema is JSON");
        text.push('\n');
        text
    }
}

fn sorted_keys(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(key, value)| (key, sorted_keys(value)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted_keys).collect()),
        other => other,
    }
}

/// Every message type on the exchange. A new message type is added here, or it has no contract.
pub fn message_contracts() -> Vec<MessageContract> {
    vec![
        MessageContract::of::<PunchesReadyV1>(),
        MessageContract::of::<SyncDueV1>(),
        MessageContract::of::<ImportCancelledV1>(),
        MessageContract::of::<PunchesStatusV1>(),
        MessageContract::of::<ConfigCompanyChangedV1>(),
        MessageContract::of::<AuditRecordedV1>(),
        MessageContract::of::<ClockHealthV1>(),
        MessageContract::of::<BridgeEventV1>(),
    ]
}

#[cfg(test)]
mod tests {
    use std::fmt::Debug;

    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn assert_json<M: Message + Debug + PartialEq>(message: &M, json: &str) {
        assert_eq!(serde_json::to_string(message).unwrap(), json, "{}", M::TYPE);
        assert_eq!(
            &serde_json::from_str::<M>(json).unwrap(),
            message,
            "{}",
            M::TYPE
        );
    }

    /// AMQP topic matching with `*` only, which is all the patterns use.
    fn topic_matches(pattern: &str, key: &str) -> bool {
        let pattern: Vec<&str> = pattern.split('.').collect();
        let key: Vec<&str> = key.split('.').collect();
        pattern.len() == key.len() && pattern.iter().zip(&key).all(|(p, k)| *p == "*" || p == k)
    }

    fn assert_routing<M: Message>(message: &M, key: &str) {
        assert_eq!(message.routing_key(), key, "{}", M::TYPE);
        assert!(
            topic_matches(M::ROUTING_PATTERN, key),
            "{} does not match {key}",
            M::ROUTING_PATTERN
        );
    }

    fn punch(id: i64, emp_id: &str, punch_type: PunchType, time: &str) -> ReadyPunch {
        ReadyPunch {
            punch_id: PunchId(id),
            emp_id: BayzatEmpId::new(emp_id).unwrap(),
            punch_type,
            time: time.parse().unwrap(),
        }
    }

    fn batch() -> BatchId {
        "0190f5b2-4c4e-7a3b-9d2e-1f2a3b4c5d6e".parse().unwrap()
    }

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2023, 4, 30, h, m, s).unwrap()
    }

    #[test]
    fn punches_ready() {
        let message = PunchesReadyV1 {
            batch_id: batch(),
            import_id: ImportId(12),
            company_id: CompanyId(7),
            punches: vec![
                punch(100, "0042", PunchType::CheckIn, "2023-04-30 09:00:00"),
                punch(101, "0042", PunchType::CheckOut, "2023-04-30 17:00:00"),
            ],
            batch_punches: None,
        };
        assert_json(
            &message,
            r#"{"batch_id":"0190f5b2-4c4e-7a3b-9d2e-1f2a3b4c5d6e","import_id":12,"company_id":7,"punches":[{"punch_id":100,"emp_id":"0042","type":"checkIn","time":"2023-04-30 09:00:00"},{"punch_id":101,"emp_id":"0042","type":"checkOut","time":"2023-04-30 17:00:00"}]}"#,
        );
        let announced = PunchesReadyV1 {
            batch_punches: Some(1500),
            ..message.clone()
        };
        let json = serde_json::to_value(&announced).unwrap();
        assert_eq!(json["batch_punches"], 1500);
        assert_eq!(
            serde_json::from_value::<PunchesReadyV1>(json).unwrap(),
            announced
        );
        assert_routing(&message, "company.7.ready");
        assert_eq!(
            serde_json::to_string(&message.punches[1].bayzat_record()).unwrap(),
            r#"{"empId":"0042","type":"checkOut","time":"2023-04-30 17:00:00"}"#
        );
    }

    #[test]
    fn unknown_fields_are_ignored_for_compatibility() {
        let json = r#"{"company_id":7,"reason":"retry","priority":"high"}"#;
        assert_eq!(
            serde_json::from_str::<SyncDueV1>(json).unwrap(),
            SyncDueV1 {
                company_id: CompanyId(7),
                reason: DueReason::Retry
            }
        );
    }

    #[test]
    fn ready_punches_split_into_messages_of_at_most_1000() {
        let cases: &[(usize, &[usize])] = &[
            (0, &[]),
            (1, &[1]),
            (999, &[999]),
            (1000, &[1000]),
            (1001, &[1000, 1]),
            (2500, &[1000, 1000, 500]),
        ];
        for &(count, expected) in cases {
            let punches: Vec<ReadyPunch> = (0..count)
                .map(|i| punch(i as i64, "1", PunchType::CheckIn, "2023-04-30 09:00:00"))
                .collect();
            let messages = split_ready_punches(batch(), ImportId(1), CompanyId(2), punches);
            let sizes: Vec<usize> = messages.iter().map(|m| m.punches.len()).collect();
            assert_eq!(sizes, expected, "{count}");
            let ids: Vec<i64> = messages
                .iter()
                .flat_map(|m| &m.punches)
                .map(|p| p.punch_id.get())
                .collect();
            assert_eq!(ids, (0..count as i64).collect::<Vec<_>>(), "order kept");
            assert!(messages.iter().all(|m| m.batch_id == batch()
                && m.import_id == ImportId(1)
                && m.company_id == CompanyId(2)
                && m.batch_punches == Some(count as u32)));
        }
    }

    #[test]
    fn sync_due() {
        let cases = [
            (DueReason::Retry, "retry"),
            (DueReason::Schedule, "schedule"),
            (DueReason::SyncNow, "sync-now"),
            (DueReason::Resume, "resume"),
        ];
        assert_eq!(cases.len(), DueReason::ALL.len());
        for (reason, text) in cases {
            let message = SyncDueV1 {
                company_id: CompanyId(7),
                reason,
            };
            assert_json(
                &message,
                &format!(r#"{{"company_id":7,"reason":"{text}"}}"#),
            );
            assert_routing(&message, "company.7.due");
            assert_eq!(reason.to_string(), text);
            assert_eq!(text.parse::<DueReason>().unwrap(), reason);
        }
        assert!(
            serde_json::from_str::<SyncDueV1>(r#"{"company_id":7,"reason":"sync_now"}"#).is_err()
        );
    }

    #[test]
    fn punches_status() {
        let message = PunchesStatusV1 {
            company_id: CompanyId(7),
            changes: vec![
                PunchStatusChange {
                    punch_id: PunchId(100),
                    state: DeliveryState::Delivered,
                    error: None,
                    at: Some(at(5, 0, 1)),
                },
                PunchStatusChange {
                    punch_id: PunchId(101),
                    state: DeliveryState::RetryWait,
                    error: Some("HTTP 503".into()),
                    at: Some(at(5, 0, 2)),
                },
                PunchStatusChange {
                    punch_id: PunchId(102),
                    state: DeliveryState::Sending,
                    error: None,
                    at: None,
                },
            ],
        };
        assert_json(
            &message,
            r#"{"company_id":7,"changes":[{"punch_id":100,"state":"delivered","at":"2023-04-30T05:00:01Z"},{"punch_id":101,"state":"retry_wait","error":"HTTP 503","at":"2023-04-30T05:00:02Z"},{"punch_id":102,"state":"sending"}]}"#,
        );
        assert_routing(&message, "status.company.7");
        // Explicit nulls read the same as absent fields.
        let with_nulls = r#"{"company_id":7,"changes":[{"punch_id":102,"state":"sending","error":null,"at":null}]}"#;
        assert_eq!(
            serde_json::from_str::<PunchesStatusV1>(with_nulls)
                .unwrap()
                .changes,
            vec![message.changes[2].clone()]
        );
        // Offsets other than Z are read as the same instant.
        let offset = r#"{"company_id":7,"changes":[{"punch_id":1,"state":"delivered","at":"2023-04-30T09:00:01+04:00"}]}"#;
        assert_eq!(
            serde_json::from_str::<PunchesStatusV1>(offset)
                .unwrap()
                .changes[0]
                .at,
            Some(at(5, 0, 1))
        );
    }

    #[test]
    fn last_delivered_at_counts_only_deliveries() {
        let change = |state, at| PunchStatusChange {
            punch_id: PunchId(1),
            state,
            error: None,
            at,
        };
        let cases = [
            (vec![], None),
            (
                vec![change(DeliveryState::Sending, Some(at(6, 0, 0)))],
                None,
            ),
            (vec![change(DeliveryState::Delivered, None)], None),
            (
                vec![
                    change(DeliveryState::Delivered, Some(at(5, 0, 0))),
                    change(DeliveryState::Failed, Some(at(7, 0, 0))),
                    change(DeliveryState::Delivered, Some(at(6, 0, 0))),
                    change(DeliveryState::Delivered, Some(at(5, 30, 0))),
                ],
                Some(at(6, 0, 0)),
            ),
        ];
        for (changes, expected) in cases {
            let message = PunchesStatusV1 {
                company_id: CompanyId(1),
                changes,
            };
            assert_eq!(message.last_delivered_at(), expected);
        }
    }

    #[test]
    fn config_company_changed() {
        let cases = [
            (CompanyChange::Mapping, "mapping"),
            (CompanyChange::Employees, "employees"),
            (CompanyChange::Enablement, "enablement"),
            (CompanyChange::KeyRotated, "key_rotated"),
            (CompanyChange::Frequency, "frequency"),
            (CompanyChange::Profile, "profile"),
            (CompanyChange::Created, "created"),
            (CompanyChange::Deleted, "deleted"),
        ];
        assert_eq!(cases.len(), CompanyChange::ALL.len());
        for (change, text) in cases {
            let message = ConfigCompanyChangedV1 {
                company_id: CompanyId(3),
                changes: vec![change],
            };
            assert_json(
                &message,
                &format!(r#"{{"company_id":3,"changes":["{text}"]}}"#),
            );
            assert_routing(&message, "config.company.3");
            assert_eq!(text.parse::<CompanyChange>().unwrap(), change);
        }
        let several = ConfigCompanyChangedV1 {
            company_id: CompanyId(3),
            changes: vec![CompanyChange::KeyRotated, CompanyChange::Enablement],
        };
        assert_json(
            &several,
            r#"{"company_id":3,"changes":["key_rotated","enablement"]}"#,
        );
    }

    #[test]
    fn audit_recorded() {
        let full = AuditRecordedV1 {
            actor: "alice@example.com".into(),
            action: "import.uploaded".into(),
            company_id: Some(CompanyId(7)),
            target: Some("import:12".into()),
            details: json!({"filename": "april.csv", "rows": 310}),
            service: "import-service".into(),
            at: at(8, 15, 0),
        };
        assert_json(
            &full,
            r#"{"actor":"alice@example.com","action":"import.uploaded","company_id":7,"target":"import:12","details":{"filename":"april.csv","rows":310},"service":"import-service","at":"2023-04-30T08:15:00Z"}"#,
        );
        assert_routing(&full, "audit.import-service");

        let bare = AuditRecordedV1 {
            actor: "sync-service".into(),
            action: "company.paused_auth".into(),
            company_id: None,
            target: None,
            details: serde_json::Value::Null,
            service: "sync-service".into(),
            at: at(8, 15, 0),
        };
        assert_json(
            &bare,
            r#"{"actor":"sync-service","action":"company.paused_auth","details":null,"service":"sync-service","at":"2023-04-30T08:15:00Z"}"#,
        );
        assert_routing(&bare, "audit.sync-service");
    }

    #[test]
    fn clock_health_and_its_silence() {
        let seen = ClockHealthV1 {
            clock_id: 4,
            serial_number: "CKJ4201".into(),
            state: "approved".into(),
            company_ids: vec![CompanyId(1), CompanyId(2)],
            last_seen_at: Some(at(8, 0, 0)),
            last_punch_at: None,
            punches_today: 0,
            quiet_since: at(8, 0, 0),
            silent_after_seconds: 1800,
            observed_at: at(8, 0, 5),
        };
        assert_json(
            &seen,
            r#"{"clock_id":4,"serial_number":"CKJ4201","state":"approved","company_ids":[1,2],"last_seen_at":"2023-04-30T08:00:00Z","punches_today":0,"quiet_since":"2023-04-30T08:00:00Z","silent_after_seconds":1800,"observed_at":"2023-04-30T08:00:05Z"}"#,
        );
        assert_routing(&seen, "clock.4.health");
        assert!(
            !seen.is_silent_at(at(8, 30, 0)),
            "exactly the threshold is not yet silent"
        );
        assert!(seen.is_silent_at(at(8, 30, 1)));
        let disabled = ClockHealthV1 {
            state: "disabled".into(),
            ..seen
        };
        assert!(
            !disabled.is_silent_at(at(12, 0, 0)),
            "a disabled clock is never silent"
        );
    }

    #[test]
    fn routing_keys_use_the_company_id() {
        for id in [1_i64, 7, 1234567] {
            let company_id = CompanyId(id);
            assert_routing(
                &SyncDueV1 {
                    company_id,
                    reason: DueReason::Resume,
                },
                &format!("company.{id}.due"),
            );
            assert_routing(
                &PunchesStatusV1 {
                    company_id,
                    changes: vec![],
                },
                &format!("status.company.{id}"),
            );
            assert_routing(
                &ImportCancelledV1 {
                    company_id,
                    import_id: ImportId(9),
                },
                &format!("company.{id}.cancel"),
            );
        }
    }

    #[test]
    fn an_event_is_its_type_and_data_and_keeps_its_id_when_published_again() {
        let at = Utc.with_ymd_and_hms(2026, 12, 5, 8, 0, 0).unwrap();
        let event = |what: &str, company: Option<i64>| {
            BridgeEventV1::new(
                what,
                company.map(CompanyId),
                at,
                BridgeEvent::ClockPendingApproval(ClockFacts {
                    clock_id: 3,
                    serial_number: "CQZ7".into(),
                    last_seen_at: None,
                    address: Some("10.0.0.7".into()),
                }),
            )
        };
        let first = event("clock.pending_approval:3", None);
        assert_eq!(first, event("clock.pending_approval:3", None));
        assert_ne!(
            first.event_id,
            event("clock.pending_approval:4", None).event_id
        );
        assert_eq!(first.routing_key(), "event.none");
        assert_eq!(event("x", Some(12)).routing_key(), "event.12");
        let json = serde_json::to_value(&first).unwrap();
        assert_eq!(json["type"], "clock.pending_approval");
        assert_eq!(json["data"]["serial_number"], "CQZ7");
        assert!(json.get("company_id").is_none(), "{json}");
        assert_eq!(
            serde_json::from_value::<BridgeEventV1>(json).unwrap(),
            first
        );
        assert_eq!(first.event.type_name(), "clock.pending_approval");
    }

    #[test]
    fn contracts_cover_every_message_once() {
        let contracts = message_contracts();
        let types: Vec<&str> = contracts.iter().map(|c| c.message_type).collect();
        assert_eq!(
            types,
            [
                "punches.ready.v1",
                "sync.due.v1",
                "import.cancelled.v1",
                "punches.status.v1",
                "config.company.changed.v1",
                "audit.recorded.v1",
                "clock.health.v1",
                "bridge.event.v1",
            ]
        );
        for contract in &contracts {
            assert_eq!(contract.schema_version, 1);
            assert_eq!(
                contract.schema.get("x-message-type"),
                Some(&json!(contract.message_type))
            );
            assert_eq!(
                contract.file_name(),
                format!("{}.json", contract.message_type)
            );
        }
    }
}
